-- The life of a continuous view: workers, triggers, REFRESH, stop and
-- start, ALTER, DROP.

CREATE FOREIGN TABLE v_src (k text, x int) SERVER stream;
CREATE MATERIALIZED VIEW v_auto AS SELECT k, sum(x) AS total FROM v_src GROUP BY k;
CREATE MATERIALIZED VIEW v_manual WITH (trigger = 'manual') AS SELECT k, sum(x) AS total FROM v_src GROUP BY k;
\d v_auto

-- a view reads the rows committed after it was created
SELECT * FROM v_auto;
-- its worker follows the stream by itself (bounded poll, no REFRESH)
SELECT wait_for($$(SELECT worker_pid IS NOT NULL FROM stream.queries WHERE name = 'v_auto'::regclass)$$);
INSERT INTO v_src VALUES ('a', 1), ('b', 2), ('a', 3);
SELECT wait_for($$(SELECT total = 4 FROM v_auto WHERE k = 'a')$$);
SELECT * FROM v_auto ORDER BY k;
-- a manual view does not move until REFRESH (the automatic view, woken by
-- the same commit, has processed the rows)
SELECT * FROM v_manual ORDER BY k;
SELECT batches, lag FROM stream.queries WHERE name = 'v_manual'::regclass;
REFRESH MATERIALIZED VIEW v_manual;
SELECT * FROM v_manual ORDER BY k;
SELECT batches, lag FROM stream.queries WHERE name = 'v_manual'::regclass;

-- REFRESH in a transaction: everything committed before it is in the view,
-- and rolling back undoes the batch (the input is read again later)
INSERT INTO v_src VALUES ('c', 10);
BEGIN;
REFRESH MATERIALIZED VIEW v_manual;
SELECT * FROM v_manual WHERE k = 'c';
ROLLBACK;
SELECT * FROM v_manual WHERE k = 'c';
REFRESH MATERIALIZED VIEW v_manual;
SELECT * FROM v_manual WHERE k = 'c';
REFRESH MATERIALIZED VIEW v_manual WITH NO DATA;

-- stop and start
SELECT wait_for($$(SELECT total = 10 FROM v_auto WHERE k = 'c')$$);
SELECT stream.stop('v_auto');
SELECT wait_for($$(SELECT status = 'stopped' AND worker_pid IS NULL FROM stream.queries WHERE name = 'v_auto'::regclass)$$);
INSERT INTO v_src VALUES ('a', 100);
SELECT lag FROM stream.queries WHERE name = 'v_auto'::regclass;
SELECT stream.start('v_auto');
SELECT wait_for($$(SELECT total = 104 FROM v_auto WHERE k = 'a')$$);
SELECT wait_for($$(SELECT status = 'running' FROM stream.queries WHERE name = 'v_auto'::regclass)$$);
SELECT stream.start('pg_class');
SELECT stream.stop('v_src');

-- interval trigger: batches at most once per interval
ALTER MATERIALIZED VIEW v_auto SET (trigger = '1 second');
INSERT INTO v_src VALUES ('i', 1);
SELECT wait_for($$(SELECT total = 1 FROM v_auto WHERE k = 'i')$$);
INSERT INTO v_src VALUES ('i', 1);
SELECT wait_for($$(SELECT total = 2 FROM v_auto WHERE k = 'i')$$);
SELECT max(started_at) - min(started_at) >= interval '0.9 seconds' AS spaced
FROM (SELECT started_at FROM stream.progress WHERE name = 'v_auto'::regclass
	  ORDER BY batch_id DESC LIMIT 2) g;
ALTER MATERIALIZED VIEW v_auto RESET (trigger);

-- WITH NO DATA only defines a continuous view (this is how pg_dump
-- writes one): not populated and not running until its first REFRESH,
-- which starts it from the input available then
CREATE MATERIALIZED VIEW v_later AS SELECT k, count(*) AS n FROM v_src GROUP BY k WITH NO DATA;
SELECT * FROM v_later;
SELECT count(*) FROM stream.queries WHERE name = 'v_later'::regclass;
INSERT INTO v_src VALUES ('z', 1);
REFRESH MATERIALIZED VIEW v_later WITH NO DATA;
REFRESH MATERIALIZED VIEW v_later;
SELECT * FROM v_later;
INSERT INTO v_src VALUES ('z', 2), ('y', 3);
REFRESH MATERIALIZED VIEW v_later;
SELECT * FROM v_later ORDER BY k;
SELECT trigger, output_mode, batches >= 1 AS ran FROM stream.queries WHERE name = 'v_later'::regclass;
CREATE MATERIALIZED VIEW v_later2 WITH (trigger = 'manual') AS SELECT k FROM v_src WITH NO DATA;
DROP MATERIALIZED VIEW v_later;

-- an append view keeps a copy of its rows (pg_dump dumps no view's rows)
CREATE MATERIALIZED VIEW v_copy AS SELECT k, x FROM v_src;
SELECT state_table IS NULL AS no_state, rows_table AS v_copy_rows FROM stream.cq
WHERE view = 'v_copy'::regclass \gset
INSERT INTO v_src VALUES ('w', 7), ('w', 8);
REFRESH MATERIALIZED VIEW v_copy;
SELECT :'no_state', * FROM v_copy ORDER BY x;
SELECT * FROM :v_copy_rows ORDER BY x;
DROP MATERIALIZED VIEW v_copy;
SELECT to_regclass(:'v_copy_rows') IS NULL AS copy_dropped;

-- IF NOT EXISTS
CREATE MATERIALIZED VIEW IF NOT EXISTS v_auto AS SELECT k FROM v_src;

-- DROP removes the worker, the state, the positions and the progress
SELECT state_table AS v_auto_state FROM stream.cq WHERE view = 'v_auto'::regclass \gset
DROP MATERIALIZED VIEW v_auto;
SELECT to_regclass(:'v_auto_state') IS NULL AS state_dropped;
SELECT count(*) FROM stream.cq c WHERE NOT EXISTS (SELECT FROM pg_class WHERE oid = c.view);
SELECT count(*) FROM stream.positions p WHERE NOT EXISTS (SELECT FROM pg_class WHERE oid = p.view);
SELECT count(*) FROM stream.batch_log b WHERE NOT EXISTS (SELECT FROM pg_class WHERE oid = b.view);
SELECT wait_for($$NOT EXISTS (SELECT FROM stream._worker_status() w
	WHERE NOT EXISTS (SELECT FROM stream.cq WHERE view = w.view))$$);
-- the state table belongs to its view
DO $$
BEGIN
	EXECUTE format('DROP TABLE %s', (SELECT state_table FROM stream.cq WHERE view = 'v_manual'::regclass));
EXCEPTION WHEN dependent_objects_still_exist THEN
	RAISE NOTICE 'refused: the state table belongs to its view';
END $$;
-- a derived stream cannot be dropped while a view reads it
CREATE VIEW v_derived AS SELECT k FROM v_src WHERE x > 0;
CREATE MATERIALIZED VIEW v_on_derived AS SELECT k, count(*) FROM v_derived GROUP BY k;
DROP VIEW v_derived;
DROP FOREIGN TABLE v_src CASCADE;
SELECT count(*) FROM stream.cq;
