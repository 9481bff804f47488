/*-------------------------------------------------------------------------
 *
 * meta.h
 *	  The bookkeeping tables of schema stream: stream.cq, stream.positions,
 *	  stream.batch_log and stream.errors, as typed rows.
 *
 * meta/ is right above base/: it calls only base/ and PostgreSQL, and
 * every other unit may call it. No other file writes SQL on these four
 * tables (see meta.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_META_H
#define PGS_META_H

#include "base/base.h"

#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/jsonb.h"

/*
 * stream.cq: one row per continuous view. The column numbers are those of
 * the table (pg_stream--0.1.sql), and of the rows meta.c reads: it selects
 * every column, in this order.
 */
#define Natts_cq					18
#define Anum_cq_view				1
#define Anum_cq_state_table			2
#define Anum_cq_rows_table			3
#define Anum_cq_options				4
#define Anum_cq_enabled				5
#define Anum_cq_failed				6
#define Anum_cq_last_error			7
#define Anum_cq_batches				8
#define Anum_cq_rows_in				9
#define Anum_cq_rows_out			10
#define Anum_cq_rows_late			11
#define Anum_cq_rows_bad			12
#define Anum_cq_last_batch_at		13
#define Anum_cq_last_batch_ms		14
#define Anum_cq_watermark			15
#define Anum_cq_created_at			16
#define Anum_cq_seen_tables			17
#define Anum_cq_output_stream		18

typedef struct CqMeta
{
	Oid			view;
	Oid			state_table;	/* an aggregation's groups, or InvalidOid */
	Oid			rows_table;		/* the copy of the rows, or InvalidOid */
	ArrayType  *options;		/* text[] of name=value, or NULL */
	bool		enabled;
	bool		failed;
	char	   *last_error;		/* or NULL */
	int64		batches;
	int64		rows_in;
	int64		rows_out;
	int64		rows_late;
	int64		rows_bad;
	bool		has_last_batch_at;
	TimestampTz last_batch_at;
	bool		has_last_batch_ms;
	double		last_batch_ms;
	bool		has_watermark;
	TimestampTz watermark;		/* 0 without one */
	TimestampTz created_at;
	List	   *seen_tables;	/* Oids of the DISTINCT filters' tables */
	Oid			output_stream;	/* its new rows, for views reading it, or
								 * InvalidOid (engine/chain.c) */
	/* not a column: the state rows after the last batch (batch_log), or 0 */
	int64		last_state_rows;
} CqMeta;

/* a view and its name (regclass output: qualified, as search_path is pg_catalog) */
typedef struct CqName
{
	Oid			view;
	char	   *name;
	int			parallelism;	/* meta_cq_runnable: its workers */
} CqName;

/* stream.positions: where each view is in each of its streams */
#define Natts_positions				7
#define Anum_positions_view			1
#define Anum_positions_stream		2
#define Anum_positions_position		3
#define Anum_positions_max_event_time 4
#define Anum_positions_join_state	5
#define Anum_positions_state_rows	6
#define Anum_positions_share_max_event_times 7

typedef struct PositionRow
{
	Oid			view;
	Oid			stream;
	Jsonb	   *position;
	bool		has_max_event_time;
	TimestampTz max_event_time; /* the latest event time read, 0 without */
	Oid			join_state;		/* a join's state of this side, or InvalidOid */
	int64		state_rows;		/* rows in join_state */
	/* parallelism > 1: each share's latest event time (known or not) */
	int			nshare_times;
	int64	   *share_times;
	bool	   *share_known;
	/* the row version it was read from: a position is never changed in place */
	ItemPointerData tid;
	TransactionId xmin;
} PositionRow;

/*
 * How a reader of positions gets its copy of one (meta_positions_of_view):
 * given the row (all but position filled in) and the stored datum, which
 * may still be toasted, it returns the position to use, made in the
 * current memory context or kept elsewhere. NULL: DatumGetJsonbPCopy.
 */
typedef Jsonb *(*PositionCopyFn) (const PositionRow *row, Datum position);

/*
 * What a batch records when it commits: its counters in stream.cq (which
 * give it its number) and its progress row in stream.batch_log. Its new
 * positions go to stream.positions one by one (meta_position_update).
 */
typedef struct BatchRecord
{
	Oid			view;
	TimestampTz started;
	double		duration_ms;
	int64		rows_in;
	int64		rows_out;
	int64		rows_late;
	int64		rows_bad;
	int64		state_rows;		/* rows of state after it: groups and join sides */
	bool		has_watermark;	/* the watermark it leaves (stream.cq) */
	TimestampTz watermark;
	bool		ran_has_watermark;	/* the watermark it ran with (batch_log) */
	TimestampTz ran_watermark;
	char	   *start_position; /* {"stream": position, ...}, JSON text */
	char	   *end_position;
	double		read_ms;		/* its phases (engine/batch.c) */
	double		run_ms;
	double		merge_ms;
	double		write_ms;
	int			share;			/* the share it read (parallelism > 1), or -1 */
	int64		batch_id;		/* its number: meta_cq_record_batch's result */
} BatchRecord;

/*
 * The relations a sql_drop event trigger is called for (a subquery, for
 * the clean-up of what else refers to them).
 */
#define META_DROPPED_RELS "(SELECT objid FROM pg_catalog.pg_event_trigger_dropped_objects() " \
	"WHERE classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND objsubid = 0)"

/*
 * The least xmin of the stream sources' positions in the stream $1 (a
 * subquery): the stream source's clean-up deletes below it in the same
 * statement that reads it (sources/stream.c).
 */
#define META_STREAM_READERS_XMIN "(SELECT pg_catalog.min((p.position->>'xmin')::pg_catalog.int8) " \
	"FROM stream.positions p WHERE p.stream::pg_catalog.oid = $1)"

/* stream.cq */
extern bool meta_cq_exists(Oid view);
extern bool meta_cq_get(Oid view, CqMeta *cq);
extern bool meta_cq_created_at(Oid view, TimestampTz *created_at);
extern List *meta_cq_runnable(void);
extern bool meta_cq_exist_all_populated(void);
extern List *meta_cq_views_owned_by(Oid role);
extern List *meta_cq_tables(Oid view);
extern void meta_cq_set_output_stream(Oid view, Oid stream);
extern void meta_cq_insert(Oid view, Oid state_table, Oid rows_table, ArrayType *options,
						   List *seen_tables);
extern void meta_cq_set_options(Oid view, ArrayType *options);
extern void meta_cq_set_enabled(Oid view, bool enabled);
extern void meta_cq_record_error(Oid view, const char *message, bool final);
extern int64 meta_cq_record_batch(const BatchRecord *rec);

/* stream.positions */
extern List *meta_positions_of_view(Oid view, PositionCopyFn copy);
extern List *meta_position_streams(Oid view);
extern List *meta_positions_of_stream(Oid stream);
extern List *meta_reader_positions(Oid stream, bool *all_populated);
extern List *meta_positions_of_restored(Oid stream, const char *except_mark);
extern bool meta_position_restored_mark(Oid view, Oid stream, const char *mark,
										bool *found);
extern void meta_position_insert(Oid view, Oid stream, Jsonb *position);
extern void meta_position_update(const PositionRow *pos);
extern void meta_position_set(Oid view, Oid stream, Jsonb *position);
extern void meta_position_set_join_state(Oid view, Oid stream, Oid join_state);

/* stream.batch_log */
extern void meta_batch_log_insert(const BatchRecord *rec);
extern void meta_batch_log_prune(Oid view, int64 up_to);

/* stream.errors */
extern void meta_error_insert(Oid stream, Oid view, Jsonb *position,
							  const char *payload, const char *error);

/* stream.cq, positions, batch_log: forget dropped relations (sql_drop) */
extern void meta_forget_dropped(void);

/* the outbox of exactly-once Kafka sinks */
typedef struct OutboxChunk
{
	int64		batch_id;
	Oid			sink;			/* the kafka table */
	int32		nmsgs;
	bytea	   *messages;		/* per message: int32 len, key, int32 len, value,
								 * int32 partition, int32 headers, and each
								 * header's int32 len, name, int32 len, value */
} OutboxChunk;

extern void meta_outbox_insert(Oid view, int64 batch_id, int32 seq, Oid sink, int32 nmsgs,
							   bytea *messages);
extern List *meta_outbox_chunks(Oid view, int64 max_bytes);
extern void meta_outbox_delivered(Oid view, int64 up_to, int64 offset);
extern bool meta_sink_progress(Oid view, int64 *delivered, int64 *offset);

#endif							/* PGS_META_H */
