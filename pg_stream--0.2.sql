/* pg_stream--0.2.sql: objects of the pg_stream extension (schema "stream") */

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
	data    pg_catalog.bytea  NOT NULL,
	seq     pg_catalog.int8   NOT NULL DEFAULT 0	-- a transaction's chunks in order
) WITH (toast_tuple_target = 8160, autovacuum_vacuum_scale_factor = 0.02);
ALTER TABLE stream.buffer ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX buffer_stream_xid ON stream.buffer (stream, xid, seq);

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
	created_at    pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
	seen_tables   pg_catalog.regclass[],	-- DISTINCT: the keys seen, per filter
	output_stream pg_catalog.regclass	-- views reading this one: its new rows
);

-- Where each continuous query is in each of its streams.
CREATE TABLE stream.positions (
	view     pg_catalog.regclass NOT NULL,
	stream   pg_catalog.regclass NOT NULL,
	position pg_catalog.jsonb NOT NULL,
	max_event_time pg_catalog.timestamptz,	-- the latest event time read
	join_state pg_catalog.regclass,		-- a join of two streams: this side's rows
	state_rows pg_catalog.int8 NOT NULL DEFAULT 0,	-- rows in join_state
	-- parallelism > 1: the latest event time each share read (engine/parallel.c)
	share_max_event_times pg_catalog.timestamptz[],
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
	rows_late      pg_catalog.int8,	-- late rows it dropped (NULL: a batch of 0.1)
	-- the batch's phases (engine/batch.c); NULL in the rows of 0.1
	read_ms        pg_catalog.float8,
	run_ms         pg_catalog.float8,
	merge_ms       pg_catalog.float8,
	write_ms       pg_catalog.float8,
	share          pg_catalog.int4,	-- the share it read (parallelism > 1), or NULL
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

-- Deduplication (engine/dedup.c): the filter pg_stream puts in a batch's
-- query in place of DISTINCT. It runs only inside a batch; a continuous
-- view that calls it itself is refused.
CREATE FUNCTION stream._first_seen(VARIADIC "any")
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'stream_first_seen'
LANGUAGE C VOLATILE COST 1000;

CREATE FUNCTION stream.start(pg_catalog.regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'stream_start'
LANGUAGE C STRICT;

CREATE FUNCTION stream.stop(pg_catalog.regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'stream_stop'
LANGUAGE C STRICT;

-- Retention on demand (engine/retention.c): the rows of the windows that
-- ended before "before" deleted from the view and its copy, in the
-- caller's transaction; the view's rows deleted are returned. EXECUTE
-- stays with PUBLIC, as for stream.start(): only the view's owner (and
-- members of its role) may, checked inside, as for ALTER and REFRESH.
CREATE FUNCTION stream.purge(view pg_catalog.regclass, before pg_catalog.timestamptz)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'stream_purge'
LANGUAGE C STRICT;

-- Run-time status of the worker of each query (from shared memory):
-- waiting is true while its source is unreachable; tries, how many times
-- in a row its batch has failed; share, the share of the input it reads
-- (a view with parallelism > 1 has a worker per share), or NULL.
CREATE FUNCTION stream._worker_status(
	OUT view pg_catalog.oid, OUT pid pg_catalog.int4, OUT note pg_catalog.text,
	OUT waiting pg_catalog.bool, OUT tries pg_catalog.int4, OUT share pg_catalog.int4)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stream_worker_status'
LANGUAGE C STRICT;

-- Query slots (pg_stream.max_queries) free in the whole cluster.
CREATE FUNCTION stream._slots_free()
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'stream_slots_free'
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

-- Who may see what (as pg_stat_activity): a row only to the roles with the
-- privileges of the view's owner (its owner, members of the owner's role,
-- superusers), and to pg_read_all_stats, which sees the figures but not
-- what may quote the data (last_error, positions). security_barrier: a
-- user's function in a WHERE clause never sees the rows filtered out.
CREATE FUNCTION stream._may_see(view pg_catalog.oid, OUT owner_member pg_catalog.bool,
								OUT visible pg_catalog.bool)
AS 'MODULE_PATHNAME', 'stream_may_see'
LANGUAGE C STABLE STRICT;

CREATE VIEW stream.queries WITH (security_barrier) AS
SELECT
	c.view AS name,
	CASE
		WHEN c.failed THEN 'failed'
		WHEN NOT c.enabled THEN 'stopped'
		WHEN w.waiting THEN 'waiting'
		WHEN w.pid IS NOT NULL THEN 'running'
		WHEN w.note IS NOT NULL OR v.slots_full THEN 'waiting'
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
	CASE WHEN s.owner_member OR e.msg IS NULL THEN e.msg
		 ELSE '<insufficient privilege>' END AS last_error,
	w.pid AS worker_pid,
	COALESCE(w.tries, 0) AS tries,
	COALESCE(stream._option(c.options, 'parallelism')::pg_catalog.int4, 1) AS parallelism,
	w.shares
FROM stream.cq c
CROSS JOIN LATERAL stream._may_see(c.view) s
-- one row per view: a view with parallelism > 1 has a worker per share
LEFT JOIN LATERAL (
	SELECT ws.view,
		(pg_catalog.array_agg(ws.pid ORDER BY ws.share NULLS FIRST)
			FILTER (WHERE ws.pid IS NOT NULL))[1] AS pid,
		(pg_catalog.array_agg(ws.note ORDER BY ws.share NULLS FIRST)
			FILTER (WHERE ws.note IS NOT NULL))[1] AS note,
		pg_catalog.bool_or(ws.waiting) AS waiting,
		pg_catalog.max(ws.tries) AS tries,
		pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('share', ws.share,
			'pid', ws.pid, 'waiting', ws.waiting, 'tries', ws.tries) ORDER BY ws.share)
			FILTER (WHERE ws.share IS NOT NULL) AS shares
	FROM stream._worker_status() ws
	WHERE ws.view OPERATOR(pg_catalog.=) c.view
	GROUP BY ws.view
) w ON true
CROSS JOIN LATERAL (
	SELECT c.enabled AND NOT c.failed AND w.view IS NULL
		AND (SELECT r.relispopulated FROM pg_catalog.pg_class r
			 WHERE r.oid OPERATOR(pg_catalog.=) c.view)
		AND (SELECT stream._slots_free()) OPERATOR(pg_catalog.=) 0 AS slots_full
) v
CROSS JOIN LATERAL (
	SELECT COALESCE(c.last_error, w.note,
		CASE WHEN NOT (SELECT r.relispopulated FROM pg_catalog.pg_class r
					   WHERE r.oid OPERATOR(pg_catalog.=) c.view)
		THEN 'restored, not populated yet: REFRESH MATERIALIZED VIEW resumes it' END,
		CASE WHEN v.slots_full
		THEN 'waiting for a query slot: all pg_stream.max_queries slots are taken' END) AS msg
) e
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
) p ON true
WHERE s.visible;

-- The last batches of each query (positions name files and offsets: only
-- for the owner's roles).
CREATE VIEW stream.progress WITH (security_barrier) AS
SELECT b.view AS name, b.batch_id, b.started_at, b.duration_ms, b.rows_in, b.rows_out,
	   b.watermark,
	   CASE WHEN s.owner_member THEN b.start_position END AS start_position,
	   CASE WHEN s.owner_member THEN b.end_position END AS end_position,
	   b.state_rows, b.rows_late, b.read_ms, b.run_ms, b.merge_ms, b.write_ms, b.share
FROM stream.batch_log b
CROSS JOIN LATERAL stream._may_see(b.view) s
WHERE s.visible;

-- Dead letters hold the records themselves: a row only for the roles with
-- the privileges of its view's owner (and superusers, who bypass row
-- security).
ALTER TABLE stream.errors ENABLE ROW LEVEL SECURITY;
CREATE POLICY errors_of_visible_views ON stream.errors FOR SELECT
	USING ((stream._may_see(view)).owner_member);

-- Anyone may declare streams (as anyone may create tables); reading and
-- writing them then follows the foreign tables' own privileges.
GRANT USAGE ON SCHEMA stream TO PUBLIC;
GRANT USAGE ON FOREIGN SERVER stream, rate TO PUBLIC;
GRANT SELECT ON stream.queries, stream.progress, stream.errors TO PUBLIC;

-- The plan a batch of a continuous view runs, as EXPLAIN shows it, over
-- no input (engine/batch.c): nothing is read or consumed. Only for the
-- roles with the privileges of the view's owner.
CREATE FUNCTION stream.explain(view pg_catalog.regclass)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'stream_explain'
LANGUAGE C STRICT;

-- The REFRESHes of continuous views running now, from shared memory
-- (engine/progress.c): their batches are not visible before they commit.
CREATE FUNCTION stream._refresh_progress(
	OUT pid pg_catalog.int4, OUT view pg_catalog.oid, OUT started_at pg_catalog.timestamptz,
	OUT batches pg_catalog.int8, OUT rows_read pg_catalog.int8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stream_refresh_progress'
LANGUAGE C STRICT;

CREATE VIEW stream.refresh_progress WITH (security_barrier) AS
SELECT r.pid, r.view::pg_catalog.regclass AS name, r.started_at, r.batches, r.rows_read
FROM stream._refresh_progress() r
CROSS JOIN LATERAL stream._may_see(r.view) s
WHERE s.visible;

GRANT SELECT ON stream.refresh_progress TO PUBLIC;

------------------------------------------------------------------------
-- List aggregates (engine/listagg.c)
------------------------------------------------------------------------

-- PostgreSQL 15 cannot combine the states of string_agg, array_agg,
-- json_agg, jsonb_agg and jsonb_object_agg. A batch of a continuous view
-- runs these instead, with the same arguments and results, whose states
-- pg_stream combines. The support functions check that they run inside
-- an aggregate; only the aggregates may be executed by PUBLIC (a view's
-- owner runs them).

CREATE FUNCTION stream._listagg_combine(pg_catalog.internal, pg_catalog.internal)
RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'stream_listagg_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION stream._listagg_serial(pg_catalog.internal)
RETURNS pg_catalog.bytea
AS 'MODULE_PATHNAME', 'stream_listagg_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION stream._listagg_deserial(pg_catalog.bytea, pg_catalog.internal)
RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'stream_listagg_deserial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION stream._string_agg_transfn(pg_catalog.internal, pg_catalog.text, pg_catalog.text)
RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'stream_string_agg_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION stream._string_agg_transfn(pg_catalog.internal, pg_catalog.bytea, pg_catalog.bytea)
RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'stream_string_agg_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION stream._string_agg_text_final(pg_catalog.internal)
RETURNS pg_catalog.text
AS 'MODULE_PATHNAME', 'stream_string_agg_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION stream._string_agg_bytea_final(pg_catalog.internal)
RETURNS pg_catalog.bytea
AS 'MODULE_PATHNAME', 'stream_string_agg_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE stream._string_agg(pg_catalog.text, pg_catalog.text) (
	SFUNC = stream._string_agg_transfn, STYPE = pg_catalog.internal,
	FINALFUNC = stream._string_agg_text_final,
	COMBINEFUNC = stream._listagg_combine,
	SERIALFUNC = stream._listagg_serial, DESERIALFUNC = stream._listagg_deserial,
	PARALLEL = SAFE);

CREATE AGGREGATE stream._string_agg(pg_catalog.bytea, pg_catalog.bytea) (
	SFUNC = stream._string_agg_transfn, STYPE = pg_catalog.internal,
	FINALFUNC = stream._string_agg_bytea_final,
	COMBINEFUNC = stream._listagg_combine,
	SERIALFUNC = stream._listagg_serial, DESERIALFUNC = stream._listagg_deserial,
	PARALLEL = SAFE);

-- json_agg and to_json are STABLE (output functions), so these are too.
CREATE FUNCTION stream._json_agg_transfn(pg_catalog.internal, pg_catalog.anyelement)
RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'stream_json_agg_transfn'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION stream._json_agg_final(pg_catalog.internal)
RETURNS pg_catalog.json
AS 'MODULE_PATHNAME', 'stream_json_agg_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE stream._json_agg(pg_catalog.anyelement) (
	SFUNC = stream._json_agg_transfn, STYPE = pg_catalog.internal,
	FINALFUNC = stream._json_agg_final,
	COMBINEFUNC = stream._listagg_combine,
	SERIALFUNC = stream._listagg_serial, DESERIALFUNC = stream._listagg_deserial,
	PARALLEL = SAFE);

CREATE FUNCTION stream._jsonb_agg_transfn(pg_catalog.internal, pg_catalog.anyelement)
RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'stream_jsonb_agg_transfn'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION stream._jsonb_agg_final(pg_catalog.internal)
RETURNS pg_catalog.jsonb
AS 'MODULE_PATHNAME', 'stream_jsonb_agg_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE stream._jsonb_agg(pg_catalog.anyelement) (
	SFUNC = stream._jsonb_agg_transfn, STYPE = pg_catalog.internal,
	FINALFUNC = stream._jsonb_agg_final,
	COMBINEFUNC = stream._listagg_combine,
	SERIALFUNC = stream._listagg_serial, DESERIALFUNC = stream._listagg_deserial,
	PARALLEL = SAFE);

CREATE FUNCTION stream._jsonb_object_agg_transfn(pg_catalog.internal, "any", "any")
RETURNS pg_catalog.internal
AS 'MODULE_PATHNAME', 'stream_jsonb_object_agg_transfn'
LANGUAGE C STABLE PARALLEL SAFE;

CREATE FUNCTION stream._jsonb_object_agg_final(pg_catalog.internal)
RETURNS pg_catalog.jsonb
AS 'MODULE_PATHNAME', 'stream_jsonb_object_agg_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- stored with each key once (its last value)
CREATE FUNCTION stream._jsonb_object_agg_serial(pg_catalog.internal)
RETURNS pg_catalog.bytea
AS 'MODULE_PATHNAME', 'stream_jsonb_object_agg_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE AGGREGATE stream._jsonb_object_agg("any", "any") (
	SFUNC = stream._jsonb_object_agg_transfn, STYPE = pg_catalog.internal,
	FINALFUNC = stream._jsonb_object_agg_final,
	COMBINEFUNC = stream._listagg_combine,
	SERIALFUNC = stream._jsonb_object_agg_serial, DESERIALFUNC = stream._listagg_deserial,
	PARALLEL = SAFE);

-- array_agg's state is the array: no serialization, and a restore reads
-- it back as an array of the element type's new OID.
CREATE FUNCTION stream._array_agg_transfn(pg_catalog.anyarray, pg_catalog.anynonarray)
RETURNS pg_catalog.anyarray
AS 'MODULE_PATHNAME', 'stream_array_agg_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION stream._array_agg_array_transfn(pg_catalog.anyarray, pg_catalog.anyarray)
RETURNS pg_catalog.anyarray
AS 'MODULE_PATHNAME', 'stream_array_agg_array_transfn'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION stream._array_agg_combine(pg_catalog.anyarray, pg_catalog.anyarray)
RETURNS pg_catalog.anyarray
AS 'MODULE_PATHNAME', 'stream_array_agg_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE stream._array_agg(pg_catalog.anynonarray) (
	SFUNC = stream._array_agg_transfn, STYPE = pg_catalog.anyarray,
	COMBINEFUNC = stream._array_agg_combine, PARALLEL = SAFE);

CREATE AGGREGATE stream._array_agg(pg_catalog.anyarray) (
	SFUNC = stream._array_agg_array_transfn, STYPE = pg_catalog.anyarray,
	COMBINEFUNC = stream._array_agg_combine, PARALLEL = SAFE);

REVOKE EXECUTE ON FUNCTION
	stream._listagg_combine(pg_catalog.internal, pg_catalog.internal),
	stream._listagg_serial(pg_catalog.internal),
	stream._listagg_deserial(pg_catalog.bytea, pg_catalog.internal),
	stream._string_agg_transfn(pg_catalog.internal, pg_catalog.text, pg_catalog.text),
	stream._string_agg_transfn(pg_catalog.internal, pg_catalog.bytea, pg_catalog.bytea),
	stream._string_agg_text_final(pg_catalog.internal),
	stream._string_agg_bytea_final(pg_catalog.internal),
	stream._json_agg_transfn(pg_catalog.internal, pg_catalog.anyelement),
	stream._json_agg_final(pg_catalog.internal),
	stream._jsonb_agg_transfn(pg_catalog.internal, pg_catalog.anyelement),
	stream._jsonb_agg_final(pg_catalog.internal),
	stream._jsonb_object_agg_transfn(pg_catalog.internal, "any", "any"),
	stream._jsonb_object_agg_final(pg_catalog.internal),
	stream._jsonb_object_agg_serial(pg_catalog.internal),
	stream._array_agg_transfn(pg_catalog.anyarray, pg_catalog.anynonarray),
	stream._array_agg_array_transfn(pg_catalog.anyarray, pg_catalog.anyarray),
	stream._array_agg_combine(pg_catalog.anyarray, pg_catalog.anyarray)
FROM PUBLIC;

------------------------------------------------------------------------
-- Session windows (engine/session.c)
------------------------------------------------------------------------

-- The session window of one row: [ts, ts + gap). In GROUP BY, the rows of
-- the same other keys whose windows overlap (rows less than "gap" apart)
-- form one session, [first event, last event + gap). NULL for an
-- infinite ts.
CREATE FUNCTION stream.session(ts pg_catalog.timestamptz, gap pg_catalog.interval)
RETURNS pg_catalog.tstzrange
AS 'MODULE_PATHNAME', 'stream_session_tstz'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION stream.session(ts pg_catalog.timestamp, gap pg_catalog.interval)
RETURNS pg_catalog.tsrange
AS 'MODULE_PATHNAME', 'stream_session_ts'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

------------------------------------------------------------------------
-- The dashboard (stream.dashboard())
------------------------------------------------------------------------

-- One self-contained HTML page, Spark's Structured Streaming tab: a
-- summary table of stream.queries and, per view, charts of its batches in
-- stream.progress. It reads nothing else, so a role sees exactly the rows
-- those views show it. Every text that reaches the page goes through
-- stream._html, numbers included. The functions set their search_path
-- (pg_catalog first, pg_temp last), so that no function or operator a
-- role creates in public, or in its temporary schema, is the one called.

-- s with the five characters HTML gives a meaning escaped; NULL is ''.
CREATE FUNCTION stream._html(s pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT COALESCE(replace(replace(replace(replace(replace(s,
		'&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '"', '&quot;'), '''', '&#39;'), '')
$$;

-- A figure as a person reads it: whole above 100, at most two decimals
-- below (the exact value is in the page's data-value attributes).
CREATE FUNCTION stream._dashboard_num(v pg_catalog.float8)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE
		WHEN v IS NULL THEN '-'
		WHEN v IN ('NaN', 'Infinity', '-Infinity') THEN v::text
		WHEN abs(v) >= 100 THEN round(v::numeric)::text
		ELSE trim_scale(round(v::numeric, 2))::text
	END
$$;

-- One chart: vals[i] is the figure of batch ids[i] (NULL: none), as a
-- line, or as bars. Each point carries its batch and exact value
-- (data-batch, data-value) and a tooltip (<title>); the title line shows
-- the last figure. Without any figure: the frame and "empty".
CREATE FUNCTION stream._dashboard_chart(view pg_catalog.text, chart pg_catalog.text,
										title pg_catalog.text, unit pg_catalog.text,
										ids pg_catalog.int8[], vals pg_catalog.float8[],
										bars pg_catalog.bool, empty pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- the drawing: 300 x 150, the plot inside [l, r] x [t, b]
	l constant float8 := 52;
	r constant float8 := 290;
	t constant float8 := 30;
	b constant float8 := 126;
	n int := COALESCE(array_length(ids, 1), 0);
	ymax float8;
	lastv float8;
	step float8;
	x float8;
	y float8;
	bw float8;
	pts text := '';
	marks text := '';
	svg text;
BEGIN
	SELECT max(v) INTO ymax FROM unnest(vals) v WHERE v <> 'NaN';
	SELECT v INTO lastv FROM unnest(vals) WITH ORDINALITY u(v, i)
	WHERE v IS NOT NULL ORDER BY i DESC LIMIT 1;
	svg := format('<svg class="chart" data-view="%s" data-chart="%s" width="300" height="150" '
				  'viewBox="0 0 300 150">'
				  '<rect x="0.5" y="0.5" width="299" height="149" class="frame"/>'
				  '<text x="8" y="18" class="ct">%s <tspan class="cv">%s</tspan></text>',
				  stream._html(view), stream._html(chart), stream._html(title),
				  CASE WHEN lastv IS NULL THEN ''
					   ELSE stream._html(stream._dashboard_num(lastv) || ' ' || unit) END);
	IF ymax IS NULL THEN
		RETURN svg || format('<text x="150" y="84" class="empty" text-anchor="middle">%s</text></svg>',
							 stream._html(empty));
	END IF;
	-- a round top for the axis: 1, 2 or 5 times a power of ten
	IF ymax <= 0 THEN
		ymax := 1;
	END IF;
	step := power(10, floor(log(ymax)));
	ymax := CASE WHEN ymax <= step THEN step WHEN ymax <= 2 * step THEN 2 * step
				 WHEN ymax <= 5 * step THEN 5 * step ELSE 10 * step END;
	svg := svg || format('<line x1="%s" y1="%s" x2="%s" y2="%s" class="axis"/>'
						 '<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>'
						 '<line x1="%s" y1="%s" x2="%s" y2="%s" class="grid"/>'
						 '<text x="%s" y="%s" class="tick" text-anchor="end">0</text>'
						 '<text x="%s" y="%s" class="tick" text-anchor="end">%s</text>'
						 '<text x="%s" y="%s" class="tick" text-anchor="end">%s</text>'
						 '<text x="%s" y="144" class="tick">batch %s</text>'
						 '<text x="%s" y="144" class="tick" text-anchor="end">%s</text>',
						 l, b, r, b, l, (t + b) / 2, r, (t + b) / 2, l, t, r, t,
						 l - 4, b + 4, l - 4, (t + b) / 2 + 4, stream._html(stream._dashboard_num(ymax / 2)),
						 l - 4, t + 4, stream._html(stream._dashboard_num(ymax)),
						 l, stream._html(ids[1]::text), r, stream._html(ids[n]::text));
	bw := greatest(1, (r - l) / n * 0.6);
	FOR i IN 1 .. n LOOP
		CONTINUE WHEN vals[i] IS NULL OR vals[i] = 'NaN';
		IF bars THEN
			x := l + (i - 0.5) * (r - l) / n;
		ELSIF n = 1 THEN
			x := (l + r) / 2;
		ELSE
			x := l + (i - 1) * (r - l) / (n - 1);
		END IF;
		y := b - least(greatest(vals[i], 0), ymax) / ymax * (b - t);
		IF bars THEN
			marks := marks || format('<rect x="%s" y="%s" width="%s" height="%s" class="bar" '
									 'data-batch="%s" data-value="%s"><title>batch %s: %s %s</title></rect>',
									 round((x - bw / 2)::numeric, 1), round(y::numeric, 1),
									 round(bw::numeric, 1), round((b - y)::numeric, 1),
									 stream._html(ids[i]::text), stream._html(vals[i]::text),
									 stream._html(ids[i]::text), stream._html(vals[i]::text), stream._html(unit));
		ELSE
			pts := pts || round(x::numeric, 1) || ',' || round(y::numeric, 1) || ' ';
			marks := marks || format('<circle cx="%s" cy="%s" r="2.5" class="pt" '
									 'data-batch="%s" data-value="%s"><title>batch %s: %s %s</title></circle>',
									 round(x::numeric, 1), round(y::numeric, 1),
									 stream._html(ids[i]::text), stream._html(vals[i]::text),
									 stream._html(ids[i]::text), stream._html(vals[i]::text), stream._html(unit));
		END IF;
	END LOOP;
	IF pts <> '' THEN
		svg := svg || format('<polyline points="%s" class="line"/>', rtrim(pts));
	END IF;
	RETURN svg || marks || '</svg>';
END
$$;

-- The page. STABLE: every query in it sees the snapshot of the statement
-- that calls it, so the table and the charts show the same batches.
CREATE FUNCTION stream.dashboard()
RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	qs stream.queries[];
	q stream.queries;
	p record;
	cols constant text[] := ARRAY['name', 'status', 'trigger', 'output_mode', 'parallelism', 'batches',
		'rows_in', 'rows_out', 'rows_late', 'rows_bad', 'input_rows_per_sec',
		'processed_rows_per_sec', 'watermark', 'lag', 'state_rows', 'last_batch_at',
		'last_batch_ms', 'tries', 'last_error'];
	rates constant text[] := ARRAY['input_rows_per_sec', 'processed_rows_per_sec', 'last_batch_ms'];
	c text;
	v text;
	j json;
	view text;
	empty text;
	page text;
	sections text := '';
BEGIN
	SELECT array_agg(s ORDER BY s.name::text) INTO qs FROM stream.queries s;
	page := '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
		'<title>pg_stream dashboard</title><style>'
		'body{font:14px/1.4 sans-serif;margin:16px;color:#222;background:#fff}'
		'h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:20px 0 6px}'
		'.meta{color:#555;margin-bottom:12px}'
		'table{border-collapse:collapse;margin-bottom:8px;font-size:12px}'
		'th,td{border:1px solid #ccc;padding:2px 5px;text-align:right}td{white-space:nowrap}'
		'th{background:#e8eef6;max-width:64px}td.t{text-align:left}'
		'td.err,div.err{color:#a00;white-space:pre-wrap;text-align:left;max-width:360px}'
		'.s-running{color:#070}.s-failed{color:#a00;font-weight:bold}.s-waiting{color:#a60}'
		'.s-stopped,.s-idle{color:#666}'
		'.charts{display:grid;grid-template-columns:repeat(4,300px);gap:8px}'
		'.frame{fill:#fafcff;stroke:#ccd}.axis{stroke:#888}.grid{stroke:#e2e6ee}'
		'.line{fill:none;stroke:#1f77b4;stroke-width:1.5}.pt{fill:#1f77b4}.bar{fill:#6baed6}'
		'svg[data-chart="rows_late"] .bar{fill:#d62728}'
		'.ct{font-size:12px;font-weight:bold;fill:#333}.cv{font-weight:normal;fill:#1f77b4}'
		'.tick{font-size:10px;fill:#666}.empty{font-size:13px;fill:#999}'
		'</style></head><body><h1>pg_stream: continuous views</h1>'
		|| format('<div class="meta">database <b>%s</b>, as role <b>%s</b>, at %s; '
				  'the last %s batches of each view (pg_stream.progress_batches)</div>',
				  stream._html(current_database()), stream._html(current_user),
				  stream._html(now()::text),
				  stream._html(COALESCE(current_setting('pg_stream.progress_batches', true), '?')));

	-- the summary: stream.queries, each cell named by its view and column
	page := page || '<table class="summary"><tr>';
	FOREACH c IN ARRAY cols LOOP
		page := page || '<th>' || stream._html(replace(c, '_', ' ')) || '</th>';
	END LOOP;
	page := page || '</tr>';
	FOREACH q IN ARRAY COALESCE(qs, '{}') LOOP
		view := q.name::text;
		j := row_to_json(q);
		page := page || '<tr>';
		FOREACH c IN ARRAY cols LOOP
			-- the exact text of the column in row_to_json(stream.queries): a
			-- number as PostgreSQL prints it, a time in ISO 8601
			v := j ->> c;
			page := page || format('<td class="%s" data-view="%s" data-col="%s"%s>%s</td>',
				CASE WHEN c = 'last_error' THEN 'err'
					 WHEN c IN ('name', 'status', 'trigger', 'output_mode', 'watermark',
								'last_batch_at') THEN 't' ELSE 'n' END
				|| CASE WHEN c = 'status' THEN ' s-' || stream._html(v) ELSE '' END,
				stream._html(view), stream._html(c),
				CASE WHEN v IS NULL THEN '' ELSE ' data-value="' || stream._html(v) || '"' END,
				CASE WHEN v IS NULL THEN '-'
					 WHEN c = ANY (rates) THEN stream._html(stream._dashboard_num(v::float8))
					 WHEN c IN ('watermark', 'last_batch_at')
					 THEN stream._html(replace(substr(v, 1, 19), 'T', ' '))
					 ELSE stream._html(v) END);
		END LOOP;
		page := page || '</tr>';
	END LOOP;
	page := page || '</table>';
	IF qs IS NULL THEN
		page := page || '<p class="empty">no continuous view to show</p>';
	END IF;

	-- per view: its batches in stream.progress, oldest first
	FOREACH q IN ARRAY COALESCE(qs, '{}') LOOP
		view := q.name::text;
		SELECT array_agg(g.batch_id ORDER BY g.batch_id) AS ids,
			array_agg(g.input_rate ORDER BY g.batch_id) AS input_rate,
			array_agg(g.process_rate ORDER BY g.batch_id) AS process_rate,
			array_agg(g.rows_in::float8 ORDER BY g.batch_id) AS rows_in,
			array_agg(g.duration_ms ORDER BY g.batch_id) AS duration_ms,
			array_agg(g.watermark_gap ORDER BY g.batch_id) AS watermark_gap,
			array_agg(g.rows_late::float8 ORDER BY g.batch_id) AS rows_late,
			array_agg(g.state_rows::float8 ORDER BY g.batch_id) AS state_rows
		INTO p
		FROM (SELECT b.batch_id, b.rows_in, b.duration_ms, b.rows_late, b.state_rows,
				-- rows / the time since the batch before (Spark's inputRowsPerSecond)
				b.rows_in / NULLIF(EXTRACT(epoch FROM b.started_at
					- lag(b.started_at) OVER (ORDER BY b.batch_id))::float8, 0) AS input_rate,
				-- rows / the batch's own time (processedRowsPerSecond)
				b.rows_in / NULLIF(b.duration_ms, 0) * 1000 AS process_rate,
				-- how far the watermark is behind the batch's start
				EXTRACT(epoch FROM b.started_at - b.watermark)::float8 AS watermark_gap
			  FROM stream.progress b
			  WHERE b.name OPERATOR(pg_catalog.=) q.name) g;
		empty := CASE WHEN p.ids IS NULL THEN 'no batches yet' ELSE 'no figure' END;
		sections := sections || format('<section data-view="%s"><h2>%s <span class="s-%s">%s</span></h2>',
			stream._html(view), stream._html(view), stream._html(q.status), stream._html(q.status))
			|| format('<div class="meta">%s batches; output mode %s, trigger %s; '
					  'watermark <b>%s</b>; lag now <b>%s</b> rows; state <b>%s</b> rows; '
					  'last batch %s</div>',
					  stream._html(q.batches::text), stream._html(q.output_mode),
					  stream._html(q.trigger), stream._html(COALESCE(q.watermark::text, 'none')),
					  stream._html(COALESCE(q.lag::text, 'unknown')), stream._html(q.state_rows::text),
					  stream._html(COALESCE(q.last_batch_at::text, 'never')))
			|| CASE WHEN q.last_error IS NULL THEN ''
					ELSE '<div class="err">' || stream._html(q.last_error) || '</div>' END
			|| '<div class="charts">'
			|| stream._dashboard_chart(view, 'input_rate', 'Input rate', 'rows/s',
									   p.ids, p.input_rate, false,
									   CASE WHEN p.ids IS NULL THEN empty
											ELSE 'one batch: no interval yet' END)
			|| stream._dashboard_chart(view, 'process_rate', 'Process rate', 'rows/s',
									   p.ids, p.process_rate, false, empty)
			|| stream._dashboard_chart(view, 'rows_in', 'Input rows', 'rows',
									   p.ids, p.rows_in, true, empty)
			|| stream._dashboard_chart(view, 'duration_ms', 'Batch duration', 'ms',
									   p.ids, p.duration_ms, false, empty)
			|| stream._dashboard_chart(view, 'watermark_gap', 'Watermark gap', 's',
									   p.ids, p.watermark_gap, false,
									   CASE WHEN p.ids IS NULL THEN empty ELSE 'no watermark' END)
			|| stream._dashboard_chart(view, 'rows_late', 'Late rows', 'rows',
									   p.ids, p.rows_late, true, empty)
			|| stream._dashboard_chart(view, 'state_rows', 'State rows', 'rows',
									   p.ids, p.state_rows, false, empty)
			|| '</div></section>';
	END LOOP;
	RETURN page || sections || '</body></html>';
END
$$;

------------------------------------------------------------------------
-- Exactly-once Kafka sinks (sources/kafka/outbox.c)
------------------------------------------------------------------------

-- The messages a batch makes for a kafka sink with delivery
-- 'exactly_once', encoded in the batch's transaction, in chunks of about
-- a megabyte (each message: key length, key, value length, value,
-- partition). The view's worker produces them in a Kafka transaction that
-- also writes the batch's number to the progress topic, then deletes
-- them here. Not dumped: a restored view's transactional id is another.
CREATE TABLE stream.outbox (
	view     pg_catalog.regclass NOT NULL,
	batch_id pg_catalog.int8 NOT NULL,
	seq      pg_catalog.int4 NOT NULL,	-- a batch's chunks in order
	sink     pg_catalog.regclass NOT NULL,	-- the kafka table
	nmsgs    pg_catalog.int4 NOT NULL,
	messages pg_catalog.bytea NOT NULL,
	PRIMARY KEY (view, batch_id, seq)
) WITH (toast_tuple_target = 8160);
ALTER TABLE stream.outbox ALTER COLUMN messages SET STORAGE EXTERNAL;

-- Per view: the last batch Kafka is known to hold, and the offset of its
-- record in the progress topic (where a worker's recovery starts reading).
CREATE TABLE stream.sink_progress (
	view            pg_catalog.regclass PRIMARY KEY,
	delivered_batch pg_catalog.int8 NOT NULL,
	progress_offset pg_catalog.int8 NOT NULL
);
