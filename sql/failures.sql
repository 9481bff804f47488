-- A batch that fails is rolled back whole and tried again with back-off;
-- after pg_stream.retry_limit tries the query is failed, with its error.
-- Its input stays unconsumed: once the cause is fixed and the query
-- started again, nothing is lost.

CREATE FOREIGN TABLE f_src (x int) SERVER stream;
CREATE TABLE f_cfg (divisor int);
INSERT INTO f_cfg VALUES (1);
CREATE MATERIALIZED VIEW f_view AS
SELECT x, 100 / (SELECT divisor FROM f_cfg) AS y FROM f_src;
CREATE MATERIALIZED VIEW f_count AS SELECT count(*) AS n FROM f_src;

INSERT INTO f_src SELECT generate_series(1, 3);
SELECT wait_for($$(SELECT count(*) = 3 FROM f_view)$$);

-- the cause: every batch now divides by zero
UPDATE f_cfg SET divisor = 0;
INSERT INTO f_src SELECT generate_series(4, 6);
-- while it tries again, stream.queries says how many tries failed
SELECT wait_for($$(SELECT tries >= 2 AND status = 'running' FROM stream.queries WHERE name = 'f_view'::regclass)$$);
SELECT wait_for($$(SELECT status = 'failed' FROM stream.queries WHERE name = 'f_view'::regclass)$$);
SELECT status, last_error, lag FROM stream.queries WHERE name = 'f_view'::regclass;
SELECT count(*) FROM f_view;
-- REFRESH runs the batch and reports its error
REFRESH MATERIALIZED VIEW f_view;
-- the other view of the same stream is not affected
REFRESH MATERIALIZED VIEW f_count;
SELECT n FROM f_count;

-- fixed, started again: the rows of the failed batches arrive
UPDATE f_cfg SET divisor = 4;
SELECT stream.start('f_view');
SELECT wait_for($$(SELECT count(*) = 6 FROM f_view)$$);
SELECT * FROM f_view ORDER BY x;
SELECT status, last_error, lag FROM stream.queries WHERE name = 'f_view'::regclass;

-- a failing REFRESH in a transaction leaves the transaction failed, not the view
UPDATE f_cfg SET divisor = 0;
INSERT INTO f_src VALUES (7);
BEGIN;
REFRESH MATERIALIZED VIEW f_view;
ROLLBACK;
UPDATE f_cfg SET divisor = 1;
REFRESH MATERIALIZED VIEW f_view;
SELECT * FROM f_view WHERE x = 7;
DROP FOREIGN TABLE f_src CASCADE;

-- A continuous query whose function refreshes a continuous view: the
-- nested batch is refused (it would apply the running batch's input twice),
-- the whole batch fails and its input stays unconsumed.
CREATE FOREIGN TABLE n_src (x int) SERVER stream;
CREATE TABLE n_flag (on_ boolean);
INSERT INTO n_flag VALUES (true);
CREATE FUNCTION n_refresh(view_name text, x int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
	IF (SELECT on_ FROM n_flag) THEN
		EXECUTE format('REFRESH MATERIALIZED VIEW %I', view_name);
	END IF;
	RETURN x;
END $$;
CREATE MATERIALIZED VIEW n_append WITH (trigger = 'manual') AS
	SELECT n_refresh('n_append', x) AS x FROM n_src;
CREATE MATERIALIZED VIEW n_agg WITH (trigger = 'manual') AS
	SELECT count(*) AS n, sum(n_refresh('n_agg', x)) AS s FROM n_src;
CREATE MATERIALIZED VIEW n_other WITH (trigger = 'manual') AS
	SELECT n_refresh('n_append', x) AS x FROM n_src;
INSERT INTO n_src SELECT generate_series(1, 30);
REFRESH MATERIALIZED VIEW n_append;
REFRESH MATERIALIZED VIEW n_agg;
REFRESH MATERIALIZED VIEW n_other;
SELECT (SELECT count(*) FROM n_append) AS appended, (SELECT count(*) FROM n_other) AS other;
-- without the nested REFRESH, every row arrives once
UPDATE n_flag SET on_ = false;
REFRESH MATERIALIZED VIEW n_append;
REFRESH MATERIALIZED VIEW n_agg;
SELECT count(*), count(DISTINCT x), sum(x) FROM n_append;
SELECT * FROM n_agg;
DROP FOREIGN TABLE n_src CASCADE;
DROP FUNCTION n_refresh;
DROP TABLE n_flag;
