-- stream.queries and stream.progress, with real figures.

CREATE FOREIGN TABLE m_src (k int, v int) SERVER stream;
CREATE MATERIALIZED VIEW m_view WITH (trigger = 'manual') AS
SELECT k, count(*) AS n FROM m_src GROUP BY k;
-- idle until the manager has started its worker, then running
SELECT wait_for($$(SELECT status = 'running' FROM stream.queries WHERE name = 'm_view'::regclass)$$);
-- its worker says in pg_stat_activity which view it serves
SELECT wait_for($$EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'pg_stream worker'
	AND query = 'pg_stream batch of public.m_view')$$);
SELECT name, status, trigger, output_mode, batches, rows_in, rows_out, rows_late, rows_bad,
	last_batch_at IS NULL AS never, lag, state_rows, last_error
FROM stream.queries WHERE name = 'm_view'::regclass;

INSERT INTO m_src SELECT i % 10, i FROM generate_series(1, 1000) i;
SELECT lag FROM stream.queries WHERE name = 'm_view'::regclass;
REFRESH MATERIALIZED VIEW m_view;
INSERT INTO m_src SELECT i % 20, i FROM generate_series(1, 500) i;
REFRESH MATERIALIZED VIEW m_view;
SELECT name, status, trigger, output_mode, batches, rows_in, rows_out, lag, state_rows,
	last_batch_at IS NOT NULL AS ran, last_batch_ms >= 0 AS timed,
	processed_rows_per_sec > 0 AS rate
FROM stream.queries WHERE name = 'm_view'::regclass;

SELECT name, batch_id, duration_ms >= 0 AS timed, rows_in, rows_out, state_rows,
	jsonb_typeof(start_position -> 'm_src') AS start_pos,
	end_position -> 'm_src' ? 'xmin' AS end_pos
FROM stream.progress WHERE name = 'm_view'::regclass ORDER BY batch_id;

-- every view is listed, with the columns of the contract
SELECT column_name FROM information_schema.columns
WHERE table_schema = 'stream' AND table_name = 'queries' ORDER BY ordinal_position;
SELECT column_name FROM information_schema.columns
WHERE table_schema = 'stream' AND table_name = 'progress' ORDER BY ordinal_position;
-- the rate source tells its lag too
CREATE FOREIGN TABLE m_rate (ts timestamptz, value bigint) SERVER rate OPTIONS (rows_per_second '10');
CREATE MATERIALIZED VIEW m_rate_view WITH (trigger = 'manual') AS SELECT count(*) FROM m_rate;
SELECT wait_for($$(SELECT lag >= 5 FROM stream.queries WHERE name = 'm_rate_view'::regclass)$$);
REFRESH MATERIALIZED VIEW m_rate_view;
SELECT count > 0 AS counted FROM m_rate_view;

-- The phases of each batch: each measured (>= 0, and > 0 where the batch
-- has the phase), apart, and within the batch's duration. An aggregation
-- without a sink reads, runs and merges; it writes nothing of its own.
SELECT batch_id, read_ms > 0 AS read, run_ms > 0 AS ran, merge_ms > 0 AS merged,
	write_ms = 0 AS no_write,
	read_ms + run_ms + merge_ms + write_ms <= duration_ms AS within
FROM stream.progress WHERE name = 'm_view'::regclass ORDER BY batch_id;
-- rows without state, with a sink: written (the view and the sink), no
-- merge; 5,000 rows written, more than the 4,096 timed each (the rest are
-- sampled)
CREATE TABLE m_copy (k int, v int);
CREATE MATERIALIZED VIEW m_rows WITH (trigger = 'manual', sink = 'm_copy') AS
SELECT k, v FROM m_src WHERE v % 2 = 0;
INSERT INTO m_src SELECT i % 10, i FROM generate_series(1, 10000) i;
REFRESH MATERIALIZED VIEW m_rows;
SELECT count(*) AS copied FROM m_copy;
-- (the run's time is the span less the receiver's, which is estimated past
-- 4,096 rows: the estimate may take the whole span, leaving the run 0)
SELECT rows_in, rows_out, read_ms > 0 AS read, run_ms >= 0 AS ran, merge_ms = 0 AS no_merge,
	write_ms > 0 AS written,
	read_ms + run_ms + merge_ms + write_ms <= duration_ms AS within
FROM stream.progress WHERE name = 'm_rows'::regclass;
-- a second batch of the aggregation: its state is no longer empty, so its
-- groups are merged once the plan is done (the other path)
REFRESH MATERIALIZED VIEW m_view;
SELECT batch_id, rows_in, read_ms > 0 AS read, run_ms > 0 AS ran, merge_ms > 0 AS merged,
	write_ms = 0 AS no_write,
	read_ms + run_ms + merge_ms + write_ms <= duration_ms AS within
FROM stream.progress WHERE name = 'm_view'::regclass ORDER BY batch_id DESC LIMIT 1;

-- stream.explain: the plan of a batch (the partial aggregation), read from
-- nothing: the input is still there after it, no batch is counted.
INSERT INTO m_src SELECT i % 10, i FROM generate_series(1, 100) i;
SELECT regexp_replace(stream.explain('m_view'), '\(cost=[^)]*\)', '(...)', 'g') AS plan;
SELECT regexp_replace(stream.explain('m_rows'), '\(cost=[^)]*\)', '(...)', 'g') AS plan;
SELECT lag, batches FROM stream.queries WHERE name = 'm_view'::regclass;
REFRESH MATERIALIZED VIEW m_view;
SELECT lag, batches, rows_in FROM stream.queries WHERE name = 'm_view'::regclass;
-- a join of two streams: its query, before a batch splits it into new
-- rows against the state
CREATE FOREIGN TABLE m_imps (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE m_clks (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE MATERIALIZED VIEW m_join WITH (trigger = 'manual') AS
	SELECT i.ad, i.ts AS its, c.ts AS cts
	FROM m_imps i JOIN m_clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour';
SELECT regexp_replace(stream.explain('m_join'), '\(cost=[^)]*\)', '(...)', 'g') AS plan;
DROP FOREIGN TABLE m_imps, m_clks CASCADE;

-- the positions in stream.progress are per stream, by name; two streams
-- of one name (in two schemas) by their qualified names
CREATE SCHEMA m_a;
CREATE SCHEMA m_b;
CREATE FOREIGN TABLE m_a.ev (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE m_b.ev (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE MATERIALIZED VIEW m_pair WITH (trigger = 'manual') AS
	SELECT a.ad, a.ts AS ats, b.ts AS bts
	FROM m_a.ev a JOIN m_b.ev b ON b.ad = a.ad AND b.ts BETWEEN a.ts AND a.ts + interval '1 hour';
INSERT INTO m_a.ev VALUES (1, '2026-01-01 10:00');
INSERT INTO m_b.ev VALUES (1, '2026-01-01 10:05');
REFRESH MATERIALIZED VIEW m_pair;
SELECT ad FROM m_pair;
SELECT rows_in, (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(start_position) k) AS start_keys,
	(SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(end_position) k) AS end_keys,
	end_position -> 'm_a.ev' <> start_position -> 'm_a.ev' AS a_moved,
	end_position -> 'm_b.ev' <> start_position -> 'm_b.ev' AS b_moved
FROM stream.progress WHERE name = 'm_pair'::regclass;
SET client_min_messages = warning;
DROP SCHEMA m_a, m_b CASCADE;
RESET client_min_messages;
-- not a continuous view; not for roles without the owner's privileges,
-- pg_read_all_stats included (the figures are theirs, the plan is not)
SELECT stream.explain('m_copy');
CREATE ROLE m_stranger;
CREATE ROLE m_stats IN ROLE pg_read_all_stats;
SET ROLE m_stranger;
SELECT stream.explain('m_view');
SET ROLE m_stats;
SELECT stream.explain('m_view');
RESET ROLE;
DROP ROLE m_stranger, m_stats;

-- What \d+ says: the comment pg_stream sets, kept up to date by ALTER
-- while it is pg_stream's own; a user's comment is never overwritten.
SELECT obj_description('m_view'::regclass, 'pg_class');
SELECT obj_description('m_rows'::regclass, 'pg_class');
ALTER MATERIALIZED VIEW m_view SET (trigger = '1 hour', output_mode = 'complete');
SELECT obj_description('m_view'::regclass, 'pg_class');
ALTER MATERIALIZED VIEW m_view SET (fillfactor = 90);
SELECT obj_description('m_view'::regclass, 'pg_class');
COMMENT ON MATERIALIZED VIEW m_view IS 'counts per k, for the dashboard';
ALTER MATERIALIZED VIEW m_view RESET (output_mode);
SELECT obj_description('m_view'::regclass, 'pg_class');
-- a failed ALTER changes nothing
ALTER MATERIALIZED VIEW m_rows SET (output_mode = 'update');
SELECT obj_description('m_rows'::regclass, 'pg_class');
-- given back to pg_stream
COMMENT ON MATERIALIZED VIEW m_view IS NULL;
ALTER MATERIALIZED VIEW m_view SET (trigger = 'manual');
SELECT obj_description('m_view'::regclass, 'pg_class');
DROP FOREIGN TABLE m_src, m_rate CASCADE;
DROP TABLE m_copy;

-- A source that cannot be reached: the worker waits for it, and says so.
CREATE SERVER m_sock FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '9');
CREATE FOREIGN TABLE m_socket (line text) SERVER m_sock;
CREATE MATERIALIZED VIEW m_sock_view AS SELECT line FROM m_socket;
SELECT wait_for($$(SELECT status = 'waiting' FROM stream.queries WHERE name = 'm_sock_view'::regclass)$$, '30 seconds');
SELECT status, last_error LIKE 'waiting for the source: %' AS says_why, worker_pid IS NOT NULL AS has_worker
FROM stream.queries WHERE name = 'm_sock_view'::regclass;
DROP SERVER m_sock CASCADE;
