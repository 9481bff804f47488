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

-- Monitoring shows a view's rows only to the roles with its owner's
-- privileges (the owner, members of its role, superusers), as
-- pg_stat_activity does; pg_read_all_stats sees the figures but not what
-- may quote the data (last_error, positions, dead letters).
CREATE ROLE pgs_carol IN ROLE pgs_alice;
CREATE ROLE pgs_stats IN ROLE pg_read_all_stats;
GRANT pg_read_server_files TO pgs_alice;
COPY (SELECT 1) TO PROGRAM 'rm -rf /tmp/pgs_regress_roles && mkdir /tmp/pgs_regress_roles && printf ''{"v": "12"}\n{"v": "secret-1"}\n'' > /tmp/pgs_regress_roles/.a && mv /tmp/pgs_regress_roles/.a /tmp/pgs_regress_roles/a.json';
SET ROLE pgs_alice;
CREATE FOREIGN TABLE r_file (v int) SERVER file OPTIONS (path '/tmp/pgs_regress_roles');
CREATE MATERIALIZED VIEW r_file_v WITH (trigger = 'manual') AS SELECT v FROM r_file;
REFRESH MATERIALIZED VIEW r_file_v;
CREATE FOREIGN TABLE r_txt (v text) SERVER stream;
CREATE MATERIALIZED VIEW r_fail AS SELECT v::int AS n FROM r_txt;
INSERT INTO r_txt VALUES ('secret-2');
RESET ROLE;
SELECT wait_for($$(SELECT status = 'failed' FROM stream.queries WHERE name = 'r_fail'::regclass)$$);
-- a leaky function of bob's in a WHERE clause must see nothing either
SET ROLE pgs_bob;
CREATE FUNCTION pgs_leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
	RAISE NOTICE 'leaked: %', $1;
	RETURN true;
END $$;
RESET ROLE;
CREATE VIEW r_seen WITH (security_invoker) AS
SELECT current_user AS who,
	(SELECT count(*) FROM stream.queries WHERE name IN ('r_file_v'::regclass, 'r_fail'::regclass)) AS queries,
	(SELECT string_agg(coalesce(last_error, '-'), ', ' ORDER BY name::text) FROM stream.queries
	 WHERE name IN ('r_file_v'::regclass, 'r_fail'::regclass)) AS last_errors,
	(SELECT count(*) FROM stream.progress WHERE name = 'r_file_v'::regclass) AS batches,
	(SELECT count(*) FROM stream.progress WHERE name = 'r_file_v'::regclass
	 AND end_position IS NOT NULL) AS positions,
	(SELECT string_agg(payload, ', ') FROM stream.errors WHERE view = 'r_file_v'::regclass) AS payloads,
	stream._lag('r_fail') AS lag,
	(SELECT count(*) FROM stream._worker_status() WHERE view = 'r_file_v'::regclass) AS workers;
GRANT SELECT ON r_seen TO PUBLIC;
SELECT * FROM r_seen;
SET ROLE pgs_alice;
SELECT * FROM r_seen;
SET ROLE pgs_carol;
SELECT * FROM r_seen;
SET ROLE pgs_bob;
SELECT * FROM r_seen;
SELECT count(*) FROM stream.queries WHERE pgs_leak(last_error);
SELECT count(*) FROM stream.errors WHERE pgs_leak(payload);
SELECT count(*) FROM stream.progress WHERE pgs_leak(end_position::text);
SET ROLE pgs_stats;
SELECT * FROM r_seen;
RESET ROLE;
DROP VIEW r_seen;
DROP FUNCTION pgs_leak;
SET ROLE pgs_alice;
DROP FOREIGN TABLE r_file, r_txt CASCADE;
RESET ROLE;
COPY (SELECT 1) TO PROGRAM 'rm -rf /tmp/pgs_regress_roles';
DROP ROLE pgs_carol, pgs_stats;
REVOKE pg_read_server_files FROM pgs_alice;

DROP TABLE pgs_secret, pgs_dim;
REVOKE ALL ON SCHEMA public FROM pgs_alice, pgs_bob;
DROP ROLE pgs_alice, pgs_bob;
