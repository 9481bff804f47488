/* pg_stream--0.1--0.2.sql: ALTER EXTENSION pg_stream UPDATE from 0.1 to 0.2 */

\echo Use "ALTER EXTENSION pg_stream UPDATE TO '0.2'" to load this file. \quit

-- Every object is schema-qualified, so that a hostile search_path cannot
-- redirect this script. What the objects are for is said in
-- pg_stream--0.2.sql; test/scripts/upgrade.sh checks that this script and
-- that one make the same objects.

-- A transaction's chunks of an INSERT-fed stream are read in the order
-- they were written (rows of 0.1 get seq 0: their order within one
-- transaction is their physical order, as 0.1 read them).
ALTER TABLE stream.buffer ADD COLUMN seq pg_catalog.int8 NOT NULL DEFAULT 0;
DROP INDEX stream.buffer_stream_xid;
CREATE INDEX buffer_stream_xid ON stream.buffer (stream, xid, seq);

ALTER TABLE stream.cq ADD COLUMN seen_tables pg_catalog.regclass[];

-- The monitoring views are made again over the new _worker_status.
DROP VIEW stream.queries;
DROP VIEW stream.progress;
DROP FUNCTION stream._worker_status();

-- Deduplication (engine/dedup.c): the filter pg_stream puts in a batch's
-- query in place of DISTINCT. It runs only inside a batch; a continuous
-- view that calls it itself is refused.
CREATE FUNCTION stream._first_seen(VARIADIC "any")
RETURNS pg_catalog.bool
AS 'MODULE_PATHNAME', 'stream_first_seen'
LANGUAGE C VOLATILE COST 1000;

-- Run-time status of the worker of each query (from shared memory):
-- waiting is true while its source is unreachable; tries, how many times
-- in a row its batch has failed.
CREATE FUNCTION stream._worker_status(
	OUT view pg_catalog.oid, OUT pid pg_catalog.int4, OUT note pg_catalog.text,
	OUT waiting pg_catalog.bool, OUT tries pg_catalog.int4)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'stream_worker_status'
LANGUAGE C STRICT;

-- Query slots (pg_stream.max_queries) free in the whole cluster.
CREATE FUNCTION stream._slots_free()
RETURNS pg_catalog.int4
AS 'MODULE_PATHNAME', 'stream_slots_free'
LANGUAGE C STRICT;

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
	COALESCE(w.tries, 0) AS tries
FROM stream.cq c
CROSS JOIN LATERAL stream._may_see(c.view) s
LEFT JOIN stream._worker_status() w ON w.view OPERATOR(pg_catalog.=) c.view
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
	   b.state_rows
FROM stream.batch_log b
CROSS JOIN LATERAL stream._may_see(b.view) s
WHERE s.visible;

-- Dead letters hold the records themselves: a row only for the roles with
-- the privileges of its view's owner (and superusers, who bypass row
-- security).
ALTER TABLE stream.errors ENABLE ROW LEVEL SECURITY;
CREATE POLICY errors_of_visible_views ON stream.errors FOR SELECT
	USING ((stream._may_see(view)).owner_member);

GRANT SELECT ON stream.queries, stream.progress, stream.errors TO PUBLIC;

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

-- Retention on demand (engine/retention.c): the rows of the windows that
-- ended before "before" deleted from the view and its copy, in the
-- caller's transaction; the view's rows deleted are returned. EXECUTE
-- stays with PUBLIC, as for stream.start(): only the view's owner (and
-- members of its role) may, checked inside, as for ALTER and REFRESH.
CREATE FUNCTION stream.purge(view pg_catalog.regclass, before pg_catalog.timestamptz)
RETURNS pg_catalog.int8
AS 'MODULE_PATHNAME', 'stream_purge'
LANGUAGE C STRICT;
