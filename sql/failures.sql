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
