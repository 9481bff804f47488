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
DROP FOREIGN TABLE m_src, m_rate CASCADE;

-- A source that cannot be reached: the worker waits for it, and says so.
CREATE SERVER m_sock FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '9');
CREATE FOREIGN TABLE m_socket (line text) SERVER m_sock;
CREATE MATERIALIZED VIEW m_sock_view AS SELECT line FROM m_socket;
SELECT wait_for($$(SELECT status = 'waiting' FROM stream.queries WHERE name = 'm_sock_view'::regclass)$$, '30 seconds');
SELECT status, last_error LIKE 'waiting for the source: %' AS says_why, worker_pid IS NOT NULL AS has_worker
FROM stream.queries WHERE name = 'm_sock_view'::regclass;
DROP SERVER m_sock CASCADE;
