-- The "stream" source: INSERT and COPY are durable and transactional, and
-- every committed row reaches every view exactly once, whatever the order
-- in which concurrent transactions commit.

CREATE FOREIGN TABLE s (id int, note text) SERVER stream;
CREATE MATERIALIZED VIEW s_all AS SELECT id, note FROM s;
-- max_batch_rows = 1: batches cut after each transaction
CREATE MATERIALIZED VIEW s_small WITH (max_batch_rows = 1) AS SELECT id, note FROM s;

-- every way of inserting
INSERT INTO s VALUES (1, 'one');
INSERT INTO s VALUES (2, 'two'), (3, 'three');
INSERT INTO s SELECT i, 'gen ' || i FROM generate_series(4, 10) i;
INSERT INTO s VALUES (11, 'returning') RETURNING *;
COPY s FROM STDIN;
12	copy
13	\N
\.
COPY s (id) FROM STDIN (FORMAT csv);
14
\.

-- rolled back: never seen
BEGIN;
INSERT INTO s VALUES (100, 'rolled back');
ROLLBACK;
BEGIN;
INSERT INTO s VALUES (15, 'kept');
SAVEPOINT a;
INSERT INTO s VALUES (101, 'rolled back to savepoint');
ROLLBACK TO a;
INSERT INTO s VALUES (16, 'kept after savepoint');
COMMIT;
-- a failing statement leaves nothing behind
INSERT INTO s SELECT i, (1 / (i - 5000))::text FROM generate_series(1000, 6000) i;

REFRESH MATERIALIZED VIEW s_all;
REFRESH MATERIALIZED VIEW s_small;
SELECT * FROM s_all ORDER BY id;
SELECT (SELECT array_agg(id ORDER BY id) FROM s_all) = (SELECT array_agg(id ORDER BY id) FROM s_small) AS same;

-- big transactions are split into chunks but stay one transaction; the
-- batch is larger than work_mem and spills to disk
INSERT INTO s SELECT i, repeat('x', i % 100) FROM generate_series(1001, 21000) i;
SET work_mem = '64kB';
REFRESH MATERIALIZED VIEW s_all;
RESET work_mem;
SELECT count(*), count(DISTINCT id), sum(length(note)) FROM s_all WHERE id > 1000;

-- concurrent transactions that commit in another order than they started
SELECT dblink_connect(c, format('dbname=%s port=%s host=%s', current_database(),
		current_setting('port'), split_part(current_setting('unix_socket_directories'), ',', 1)))
FROM unnest(ARRAY['a', 'b', 'c']) c;
SELECT dblink_exec('a', 'BEGIN');
SELECT dblink_exec('a', 'INSERT INTO s VALUES (30, ''a: first to start, last to commit'')');
SELECT dblink_exec('b', 'BEGIN');
SELECT dblink_exec('b', 'INSERT INTO s VALUES (31, ''b'')');
SELECT dblink_exec('c', 'BEGIN');
SELECT dblink_exec('c', 'INSERT INTO s VALUES (32, ''c'')');
SELECT dblink_exec('c', 'COMMIT');
INSERT INTO s VALUES (33, 'autocommit');
REFRESH MATERIALIZED VIEW s_all;
REFRESH MATERIALIZED VIEW s_small;
SELECT id, note FROM s_all WHERE id BETWEEN 30 AND 39 ORDER BY id;
SELECT dblink_exec('b', 'COMMIT');
REFRESH MATERIALIZED VIEW s_small;
SELECT id FROM s_small WHERE id BETWEEN 30 AND 39 ORDER BY id;
SELECT dblink_exec('b', 'BEGIN');
SELECT dblink_exec('b', 'INSERT INTO s VALUES (34, ''rolled back'')');
SELECT dblink_exec('b', 'ROLLBACK');
SELECT dblink_exec('a', 'COMMIT');
REFRESH MATERIALIZED VIEW s_all;
REFRESH MATERIALIZED VIEW s_small;
SELECT id, note FROM s_all WHERE id BETWEEN 30 AND 39 ORDER BY id;
SELECT id FROM s_small WHERE id BETWEEN 30 AND 39 ORDER BY id;
SELECT dblink_disconnect(c) FROM unnest(ARRAY['a', 'b', 'c']) c;

-- a REFRESH in a transaction that inserted does not read its own,
-- uncommitted rows, and does not skip them either
BEGIN;
INSERT INTO s VALUES (40, 'mine');
REFRESH MATERIALIZED VIEW s_small;
SELECT count(*) FROM s_small WHERE id = 40;
COMMIT;
REFRESH MATERIALIZED VIEW s_small;
SELECT count(*) FROM s_small WHERE id = 40;
-- a view created in a transaction reads that transaction's rows too
BEGIN;
INSERT INTO s VALUES (41, 'before the view');
CREATE MATERIALIZED VIEW s_late AS SELECT id FROM s WHERE id > 40;
INSERT INTO s VALUES (42, 'after the view');
COMMIT;
REFRESH MATERIALIZED VIEW s_late;
SELECT * FROM s_late ORDER BY id;
REFRESH MATERIALIZED VIEW s_all;

-- values stored out of line in another table are copied into the stream
CREATE TABLE staging (id int, payload text);
ALTER TABLE staging ALTER payload SET STORAGE EXTERNAL;
INSERT INTO staging SELECT i, repeat(md5(i::text), 200) FROM generate_series(50, 52) i;
CREATE TABLE staging_sums AS SELECT id, md5(payload) AS sum FROM staging;
INSERT INTO s SELECT id, payload FROM staging;
DELETE FROM staging;
VACUUM staging;
REFRESH MATERIALIZED VIEW s_all;
SELECT a.id, length(a.note), md5(a.note) = r.sum AS intact
FROM s_all a JOIN staging_sums r USING (id) ORDER BY id;
DROP TABLE staging, staging_sums;

-- exactly once in both views, whatever the batch sizes
SELECT count(*) = count(DISTINCT id) AS once, count(*) FROM s_all;
SELECT count(*) = count(DISTINCT id) AS once, count(*) FROM s_small;

-- a plain SELECT on a stream is a bounded read of the rows not yet
-- consumed by every view (here, in the inserting transaction)
CREATE FOREIGN TABLE s_unread (x int) SERVER stream;
BEGIN;
INSERT INTO s_unread SELECT generate_series(1, 5);
SELECT * FROM s_unread;
COMMIT;
-- nobody reads it: the manager drops its rows
SELECT wait_for($$NOT EXISTS (SELECT FROM stream.buffer WHERE stream = 's_unread'::regclass)$$);

-- only INSERT
UPDATE s SET note = 'x';
DELETE FROM s;
TRUNCATE s;

-- columns: added ones read as NULL in old rows; types cannot change, nor
-- can columns be dropped (kept rows hold them)
ALTER FOREIGN TABLE s ALTER COLUMN id TYPE bigint;
ALTER FOREIGN TABLE s DROP COLUMN note;
CREATE FOREIGN TABLE s2 (a int) SERVER stream;
CREATE MATERIALIZED VIEW s2_v AS SELECT a FROM s2;
BEGIN;
INSERT INTO s2 VALUES (1);
ALTER FOREIGN TABLE s2 ADD COLUMN b text;
INSERT INTO s2 VALUES (2, 'two');
SELECT * FROM s2 ORDER BY a;
COMMIT;
REFRESH MATERIALIZED VIEW s2_v;
SELECT * FROM s2_v ORDER BY a;

-- a stream read by a view cannot be dropped without CASCADE
DROP FOREIGN TABLE s;
DROP FOREIGN TABLE s CASCADE;
SELECT count(*) FROM stream.cq WHERE view::text IN ('s_all', 's_small', 's_late');
SELECT count(*) FROM stream.positions p WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = p.stream);
DROP FOREIGN TABLE s2, s_unread CASCADE;

-- Clean-up follows consumption, whoever consumes: a stream read only by
-- REFRESH (a manual view, the "availableNow" pattern run from cron) keeps
-- no consumed rows, and a plain SELECT shows only what some view has not
-- consumed yet.
CREATE FOREIGN TABLE s_c (x int) SERVER stream;
CREATE MATERIALIZED VIEW s_c_manual WITH (trigger = 'manual') AS SELECT x FROM s_c;
CREATE MATERIALIZED VIEW s_c_auto AS SELECT x FROM s_c;
INSERT INTO s_c SELECT generate_series(1, 100);
SELECT wait_for($$(SELECT count(*) = 100 FROM s_c_auto)$$);
SELECT count(*) FROM s_c;			-- s_c_manual has read none of them
REFRESH MATERIALIZED VIEW s_c_manual;
SELECT count(*) FROM s_c;			-- every view has consumed them all
SELECT wait_for($$NOT EXISTS (SELECT FROM stream.buffer WHERE stream = 's_c'::regclass)$$, '20 seconds');
DROP MATERIALIZED VIEW s_c_auto;
-- REFRESH alone, round after round: the buffer never grows
DO $$
BEGIN
	FOR i IN 1..5 LOOP
		INSERT INTO s_c SELECT generate_series(1, 1000);
		COMMIT;
		REFRESH MATERIALIZED VIEW s_c_manual;
		COMMIT;
	END LOOP;
END $$;
SELECT count(*) FROM s_c;
SELECT wait_for($$NOT EXISTS (SELECT FROM stream.buffer WHERE stream = 's_c'::regclass)$$, '20 seconds');
SELECT count(*), sum(x) FROM s_c_manual;
DROP FOREIGN TABLE s_c CASCADE;
