-- Ordinary roles own streams and continuous views; a view's query runs
-- with its owner's privileges, and only the owner manages it.
CREATE ROLE pgs_alice;
CREATE ROLE pgs_bob;
CREATE TABLE pgs_secret (x int);
GRANT USAGE, CREATE ON SCHEMA public TO pgs_alice, pgs_bob;

SET ROLE pgs_alice;
CREATE FOREIGN TABLE r_src (k int) SERVER stream;
CREATE MATERIALIZED VIEW r_view AS SELECT k, count(*) AS n FROM r_src GROUP BY k;
INSERT INTO r_src VALUES (1), (1), (2);
REFRESH MATERIALIZED VIEW r_view;
SELECT * FROM r_view ORDER BY k;
SELECT name, output_mode, rows_in, state_rows FROM stream.queries WHERE name = 'r_view'::regclass;
ALTER MATERIALIZED VIEW r_view SET (trigger = 'manual');
SELECT stream.stop('r_view');
SELECT stream.start('r_view');
-- creating a view needs SELECT on what it reads
CREATE MATERIALIZED VIEW r_bad AS SELECT s.k FROM r_src s JOIN pgs_secret t ON t.x = s.k;
RESET ROLE;

-- the query runs as its owner at every batch, not as the worker's
-- superuser: take the owner's privilege away and the batches fail
CREATE TABLE pgs_dim (x int, label text);
INSERT INTO pgs_dim VALUES (1, 'one'), (2, 'two');
GRANT SELECT ON pgs_dim TO pgs_alice;
SET ROLE pgs_alice;
CREATE MATERIALIZED VIEW r_join AS SELECT s.k, d.label FROM r_src s JOIN pgs_dim d ON d.x = s.k;
INSERT INTO r_src VALUES (1);
REFRESH MATERIALIZED VIEW r_join;
SELECT * FROM r_join;
RESET ROLE;
REVOKE SELECT ON pgs_dim FROM pgs_alice;
INSERT INTO r_src VALUES (2);
SELECT wait_for($$(SELECT status = 'failed' FROM stream.queries WHERE name = 'r_join'::regclass)$$);
SELECT status, last_error FROM stream.queries WHERE name = 'r_join'::regclass;
SET ROLE pgs_alice;
REFRESH MATERIALIZED VIEW r_join;
RESET ROLE;
GRANT SELECT ON pgs_dim TO pgs_alice;
SET ROLE pgs_alice;
SELECT stream.start('r_join');
REFRESH MATERIALIZED VIEW r_join;
SELECT * FROM r_join ORDER BY k;
DROP MATERIALIZED VIEW r_join;
RESET ROLE;

SET ROLE pgs_bob;
INSERT INTO r_src VALUES (3);
CREATE MATERIALIZED VIEW r_other AS SELECT k FROM r_src;
REFRESH MATERIALIZED VIEW r_view;
SELECT stream.stop('r_view');
ALTER MATERIALIZED VIEW r_view SET (trigger = '1 second');
DROP MATERIALIZED VIEW r_view;
RESET ROLE;

SET ROLE pgs_alice;
DROP MATERIALIZED VIEW r_view;
DROP FOREIGN TABLE r_src;
RESET ROLE;
DROP TABLE pgs_secret, pgs_dim;
REVOKE ALL ON SCHEMA public FROM pgs_alice, pgs_bob;
DROP ROLE pgs_alice, pgs_bob;
