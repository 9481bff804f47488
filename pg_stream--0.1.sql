/* pg_stream--0.1.sql: objects of the pg_stream extension (schema "stream") */

\echo Use "CREATE EXTENSION pg_stream" to load this file. \quit

-- Every object is schema-qualified, so that a hostile search_path cannot
-- redirect this script.

------------------------------------------------------------------------
-- Sources: one foreign-data wrapper per kind of stream.
------------------------------------------------------------------------

CREATE FUNCTION stream.stream_fdw_handler()
RETURNS pg_catalog.fdw_handler
AS 'MODULE_PATHNAME', 'stream_fdw_handler'
LANGUAGE C STRICT;

CREATE FUNCTION stream.stream_fdw_validator(pg_catalog.text[], pg_catalog.oid)
RETURNS void
AS 'MODULE_PATHNAME', 'stream_fdw_validator'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER stream
	HANDLER stream.stream_fdw_handler
	VALIDATOR stream.stream_fdw_validator;
CREATE SERVER stream FOREIGN DATA WRAPPER stream;

CREATE FUNCTION stream.rate_fdw_handler()
RETURNS pg_catalog.fdw_handler
AS 'MODULE_PATHNAME', 'rate_fdw_handler'
LANGUAGE C STRICT;

CREATE FUNCTION stream.rate_fdw_validator(pg_catalog.text[], pg_catalog.oid)
RETURNS void
AS 'MODULE_PATHNAME', 'rate_fdw_validator'
LANGUAGE C STRICT;

CREATE FOREIGN DATA WRAPPER rate
	HANDLER stream.rate_fdw_handler
	VALIDATOR stream.rate_fdw_validator;
CREATE SERVER rate FOREIGN DATA WRAPPER rate;

CREATE FUNCTION stream.kafka_fdw_handler()
RETURNS pg_catalog.fdw_handler
AS 'MODULE_PATHNAME', 'kafka_fdw_handler'
LANGUAGE C STRICT;

CREATE FUNCTION stream.kafka_fdw_validator(pg_catalog.text[], pg_catalog.oid)
RETURNS void
AS 'MODULE_PATHNAME', 'kafka_fdw_validator'
LANGUAGE C STRICT;

-- No server: users create one per cluster, with its brokers.
CREATE FOREIGN DATA WRAPPER kafka
	HANDLER stream.kafka_fdw_handler
	VALIDATOR stream.kafka_fdw_validator;

CREATE FUNCTION stream.file_fdw_handler()
RETURNS pg_catalog.fdw_handler
AS 'MODULE_PATHNAME', 'file_fdw_handler'
LANGUAGE C STRICT;

CREATE FUNCTION stream.file_fdw_validator(pg_catalog.text[], pg_catalog.oid)
RETURNS void
AS 'MODULE_PATHNAME', 'file_fdw_validator'
LANGUAGE C STRICT;

-- A file server has no options: the directory is the table's. Reading
-- server files is for pg_read_server_files, as for COPY FROM a file.
CREATE FOREIGN DATA WRAPPER file
	HANDLER stream.file_fdw_handler
	VALIDATOR stream.file_fdw_validator;
CREATE SERVER file FOREIGN DATA WRAPPER file;
GRANT USAGE ON FOREIGN SERVER file TO pg_read_server_files;

CREATE FUNCTION stream.socket_fdw_handler()
RETURNS pg_catalog.fdw_handler
AS 'MODULE_PATHNAME', 'socket_fdw_handler'
LANGUAGE C STRICT;

CREATE FUNCTION stream.socket_fdw_validator(pg_catalog.text[], pg_catalog.oid)
RETURNS void
AS 'MODULE_PATHNAME', 'socket_fdw_validator'
LANGUAGE C STRICT;

-- No server: a superuser creates one per host and port, and may grant
-- USAGE on it.
CREATE FOREIGN DATA WRAPPER socket
	HANDLER stream.socket_fdw_handler
	VALIDATOR stream.socket_fdw_validator;

------------------------------------------------------------------------
-- Internal tables. They are the truth: positions, state and counters
-- change in the same transaction as the view, so a crash can never
-- separate them.
------------------------------------------------------------------------

-- Rows inserted into "stream" foreign tables, packed many to a row (see
-- src/sources/stream.c). xid is the inserting transaction's full id;
-- positions are snapshots over it. (stream is a regclass so that pg_dump
-- writes it by name.)
CREATE TABLE stream.buffer (
	stream  pg_catalog.regclass NOT NULL,
	xid     pg_catalog.int8   NOT NULL,
	nrows   pg_catalog.int4   NOT NULL,
	data    pg_catalog.bytea  NOT NULL
) WITH (toast_tuple_target = 8160, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE stream.buffer ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX buffer_stream_xid ON stream.buffer (stream, xid);

-- One row per continuous query (a materialized view over streams).
CREATE TABLE stream.cq (
	view          pg_catalog.regclass PRIMARY KEY,
	state_table   pg_catalog.regclass,	-- aggregations: the groups' states
	rows_table    pg_catalog.regclass,	-- a copy of the final rows, for pg_dump
	options       pg_catalog.text[],	-- WITH (...) options, as name=value
	enabled       pg_catalog.bool NOT NULL DEFAULT true,
	failed        pg_catalog.bool NOT NULL DEFAULT false,
	last_error    pg_catalog.text,
	batches       pg_catalog.int8 NOT NULL DEFAULT 0,
	rows_in       pg_catalog.int8 NOT NULL DEFAULT 0,
	rows_out      pg_catalog.int8 NOT NULL DEFAULT 0,
	rows_late     pg_catalog.int8 NOT NULL DEFAULT 0,
	rows_bad      pg_catalog.int8 NOT NULL DEFAULT 0,
	last_batch_at pg_catalog.timestamptz,
	last_batch_ms pg_catalog.float8,
	watermark     pg_catalog.timestamptz,	-- event time: latest seen - delay
	created_at    pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Where each continuous query is in each of its streams.
CREATE TABLE stream.positions (
	view     pg_catalog.regclass NOT NULL,
	stream   pg_catalog.regclass NOT NULL,
	position pg_catalog.jsonb NOT NULL,
	max_event_time pg_catalog.timestamptz,	-- the latest event time read
	join_state pg_catalog.regclass,		-- a join of two streams: this side's rows
	state_rows pg_catalog.int8 NOT NULL DEFAULT 0,	-- rows in join_state
	PRIMARY KEY (view, stream)
);

-- The last batches of each query (pruned to pg_stream.progress_batches).
CREATE TABLE stream.batch_log (
	view           pg_catalog.regclass NOT NULL,
	batch_id       pg_catalog.int8 NOT NULL,
	started_at     pg_catalog.timestamptz NOT NULL,
	duration_ms    pg_catalog.float8 NOT NULL,
	rows_in        pg_catalog.int8 NOT NULL,
	rows_out       pg_catalog.int8 NOT NULL,
	watermark      pg_catalog.timestamptz,
	start_position pg_catalog.jsonb,
	end_position   pg_catalog.jsonb,
	state_rows     pg_catalog.int8,
	PRIMARY KEY (view, batch_id)
);

-- Dead letters: records a source could not decode.
CREATE TABLE stream.errors (
	id        pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	stream    pg_catalog.regclass,
	view      pg_catalog.regclass,
	position  pg_catalog.jsonb,
	payload   pg_catalog.text,
	error     pg_catalog.text NOT NULL,
	at        pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- pg_dump dumps the contents of these tables (CREATE EXTENSION makes
-- them empty), and the state and row tables in schema stream as ordinary
-- tables; a dumped continuous view is created WITH NO DATA and its
-- REFRESH adopts them (see "Backup and restore" in the README).
-- (rows of a stream that no view reads are garbage, not dumped)
SELECT pg_catalog.pg_extension_config_dump('stream.buffer',
	'WHERE EXISTS (SELECT FROM stream.positions p WHERE p.stream OPERATOR(pg_catalog.=) buffer.stream)');
SELECT pg_catalog.pg_extension_config_dump('stream.cq', '');
SELECT pg_catalog.pg_extension_config_dump('stream.positions', '');
SELECT pg_catalog.pg_extension_config_dump('stream.batch_log', '');
SELECT pg_catalog.pg_extension_config_dump('stream.errors', '');
SELECT pg_catalog.pg_extension_config_dump('stream.errors_id_seq', '');

------------------------------------------------------------------------
-- Functions
------------------------------------------------------------------------

-- Window start of the tumbling window of "size" that holds "ts".
CREATE FUNCTION stream.tumble(ts pg_catalog.timestamptz, size pg_catalog.interval,
							  origin pg_catalog.timestamptz DEFAULT '2000-01-01 00:00:00+00')
RETURNS pg_catalog.timestamptz
AS 'MODULE_PATHNAME', 'stream_tumble_tstz'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION stream.tumble(ts pg_catalog.timestamp, size pg_catalog.interval,
							  origin pg_catalog.timestamp DEFAULT '2000-01-01 00:00:00')
RETURNS pg_catalog.timestamp
AS 'MODULE_PATHNAME', 'stream_tumble_ts'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Start of every sliding window of "size", one every "slide", that holds "ts".
CREATE FUNCTION stream.hop(ts pg_catalog.timestamptz, size pg_catalog.interval,
						   slide pg_catalog.interval,
						   origin pg_catalog.timestamptz DEFAULT '2000-01-01 00:00:00+00')
RETURNS SETOF pg_catalog.timestamptz
AS 'MODULE_PATHNAME', 'stream_hop'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 2;

CREATE FUNCTION stream.hop(ts pg_catalog.timestamp, size pg_catalog.interval,
						   slide pg_catalog.interval,
						   origin pg_catalog.timestamp DEFAULT '2000-01-01 00:00:00')
RETURNS SETOF pg_catalog.timestamp
AS 'MODULE_PATHNAME', 'stream_hop'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 2;

CREATE FUNCTION stream.start(pg_catalog.regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'stream_start'
LANGUAGE C STRICT;

CREATE FUNCTION stream.stop(pg_catalog.regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'stream_stop'
LANGUAGE C STRICT;

-- Run-time status of the worker of each query (from shared memory).
CREATE FUNCTION stream._worker_status(
	OUT view pg_catalog.oid, OUT pid pg_catalog.int4, OUT note pg_catalog.text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stream_worker_status'
LANGUAGE C STRICT;

-- Called by the sql_drop event trigger: forget dropped queries and streams.
CREATE FUNCTION stream._on_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'stream_on_drop'
LANGUAGE C;

CREATE EVENT TRIGGER stream_on_drop ON sql_drop
	EXECUTE FUNCTION stream._on_drop();

------------------------------------------------------------------------
-- Monitoring views (Spark's StreamingQueryProgress, in SQL)
------------------------------------------------------------------------

-- Input not yet read by a query, where its sources can tell.
CREATE FUNCTION stream._lag(pg_catalog.regclass)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'stream_lag'
LANGUAGE C STRICT;

-- An option of a continuous view, from stream.cq.options.
CREATE FUNCTION stream._option(options pg_catalog.text[], name pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
AS $$
	SELECT pg_catalog.substr(o, pg_catalog.length(name) + 2)
	FROM pg_catalog.unnest(options) AS o
	WHERE pg_catalog.starts_with(o, name OPERATOR(pg_catalog.||) '=')
$$;

CREATE VIEW stream.queries AS
SELECT
	c.view AS name,
	CASE
		WHEN c.failed THEN 'failed'
		WHEN NOT c.enabled THEN 'stopped'
		WHEN w.pid IS NOT NULL THEN 'running'
		ELSE 'idle'
	END AS status,
	COALESCE(stream._option(c.options, 'trigger'), 'default') AS trigger,
	COALESCE(stream._option(c.options, 'output_mode'),
			 CASE WHEN c.state_table IS NULL THEN 'append' ELSE 'update' END)
		AS output_mode,
	c.batches,
	c.rows_in,
	c.rows_out,
	c.rows_late,
	c.rows_bad,
	c.last_batch_at,
	c.last_batch_ms,
	p.input_rows_per_sec,
	p.processed_rows_per_sec,
	c.watermark,
	stream._lag(c.view) AS lag,
	COALESCE(p.state_rows, 0) AS state_rows,
	(SELECT pg_catalog.jsonb_object_agg(j.stream::pg_catalog.text, j.state_rows)
	 FROM stream.positions j
	 WHERE j.view OPERATOR(pg_catalog.=) c.view AND j.join_state IS NOT NULL)
		AS state_rows_by_stream,
	COALESCE(c.last_error, w.note,
			 CASE WHEN NOT (SELECT r.relispopulated FROM pg_catalog.pg_class r
							WHERE r.oid OPERATOR(pg_catalog.=) c.view)
			 THEN 'restored, not populated yet: REFRESH MATERIALIZED VIEW resumes it' END)
		AS last_error,
	w.pid AS worker_pid
FROM stream.cq c
LEFT JOIN stream._worker_status() w ON w.view OPERATOR(pg_catalog.=) c.view
LEFT JOIN LATERAL (
	SELECT
		(pg_catalog.sum(b.rows_in) / NULLIF(EXTRACT(epoch FROM
			pg_catalog.max(b.started_at) OPERATOR(pg_catalog.-) pg_catalog.min(b.started_at)), 0))::pg_catalog.float8
			AS input_rows_per_sec,
		(pg_catalog.sum(b.rows_in) / NULLIF(pg_catalog.sum(b.duration_ms), 0) * 1000)::pg_catalog.float8
			AS processed_rows_per_sec,
		(pg_catalog.array_agg(b.state_rows ORDER BY b.batch_id DESC))[1] AS state_rows
	FROM (SELECT * FROM stream.batch_log b1 WHERE b1.view OPERATOR(pg_catalog.=) c.view
		  ORDER BY b1.batch_id DESC LIMIT 10) b
) p ON true;

-- The last batches of each query.
CREATE VIEW stream.progress AS
SELECT view AS name, batch_id, started_at, duration_ms, rows_in, rows_out,
	   watermark, start_position, end_position, state_rows
FROM stream.batch_log;

-- Anyone may declare streams (as anyone may create tables); reading and
-- writing them then follows the foreign tables' own privileges.
GRANT USAGE ON SCHEMA stream TO PUBLIC;
GRANT USAGE ON FOREIGN SERVER stream, rate TO PUBLIC;
GRANT SELECT ON stream.queries, stream.progress, stream.errors TO PUBLIC;
