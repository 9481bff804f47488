/*-------------------------------------------------------------------------
 *
 * pg_stream.h
 *	  Declarations shared by the modules of pg_stream.
 *
 * The extension is split the way DESIGN.md §2 describes:
 *
 *	  sources/	 where rows come from (stream, rate), behind the Source
 *				 interface: open, read a batch up to limits, position as
 *				 jsonb, close;
 *	  formats/	 decoders from bytes to tuples;
 *	  sinks/	 where output rows go (the view's own table, per output mode);
 *	  engine/	 the continuous query: analysis at CREATE, the micro-batch
 *				 loop, incremental aggregation;
 *	  bgw/		 the launcher, per-database managers and per-query workers;
 *	  ddl.c		 the ProcessUtility hook that turns CREATE / ALTER /
 *				 REFRESH MATERIALIZED VIEW over a stream into a continuous
 *				 query.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_STREAM_H
#define PG_STREAM_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "postmaster/bgworker.h"
#include "utils/rel.h"
#include "foreign/fdwapi.h"
#include "storage/latch.h"
#include "utils/jsonb.h"
#include "datatype/timestamp.h"
#include "utils/tuplestore.h"
#include "lib/stringinfo.h"
#include "fmgr.h"

#define PG_STREAM_SCHEMA "stream"

/*
 * in pg_stream.c: running as the extension's superuser. The catalog
 * tables of schema stream are not the users'; a user's query, though,
 * always runs with its view owner's privileges (engine/batch.c).
 */
typedef struct PgsUser
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;		/* of the search_path setting */
	bool		user_code;		/* as a view's owner: drop its GUC changes */
} PgsUser;
extern void pgs_become_superuser(PgsUser *saved);
extern void pgs_become_owner(Oid relid, PgsUser *saved);
extern void pgs_restore_user(PgsUser *saved);
extern Oid	pgs_rel_owner(Oid relid);
extern bool pgs_may_monitor(Oid relid);
extern List *pgs_spi_oids(MemoryContext cxt);
extern void pgs_force_read_committed(void);

/* in pg_stream.c: GUCs */
extern int	pgs_max_queries;
extern int	pgs_retry_limit;
extern int	pgs_poll_interval_ms;
extern int	pgs_progress_batches;
extern int	pgs_default_max_batch_rows;

/*
 * Options of a continuous query, from the view's reloptions
 * (CREATE MATERIALIZED VIEW ... WITH (...)), see engine/options.c.
 */
typedef enum CqOutputMode
{
	OUTPUT_DEFAULT = 0,			/* not given: append or update */
	OUTPUT_APPEND,
	OUTPUT_UPDATE,
	OUTPUT_COMPLETE
} CqOutputMode;

typedef enum CqTriggerKind
{
	TRIGGER_DEFAULT = 0,		/* as data arrives */
	TRIGGER_INTERVAL,
	TRIGGER_CONTINUOUS,
	TRIGGER_MANUAL
} CqTriggerKind;

typedef struct CqOptions
{
	CqOutputMode output_mode;
	CqTriggerKind trigger;
	int64		trigger_interval_ms;
	int64		max_batch_rows;
	char	   *sink;			/* a relation, or "notify" */
	char	   *sink_function;	/* regprocedure text */
	char	   *sink_function_per_row;
	char	   *notify_channel;
	bool		has_watermark;	/* watermark given: overrides the streams' delay */
	int64		watermark_usecs;
} CqOptions;

/* in engine/options.c */
extern bool pgs_is_cq_option(const char *name);
extern int64 pgs_defel_int64(DefElem *def, int64 min, int64 max, int errcode_bad);
extern void pgs_parse_options(List *options, CqOptions *opts);
extern List *pgs_options_from_array(Datum array);
extern Datum pgs_options_to_array(List *options);
extern List *pgs_options_merge(List *existing, List *changes, bool reset);

/*
 * Source interface (sources/). A source turns a stream foreign table and a
 * stored position into a batch of rows (a tuplestore in the foreign table's
 * row type) and the position after them. Positions are jsonb, stored in
 * stream.positions in the batch's transaction.
 */
typedef struct SourceBatch
{
	Oid			relid;			/* the stream foreign table */
	/* the batch's rows, made by the source: one of */
	Tuplestorestate *rows;		/* rows in the foreign table's row type */
	Tuplestorestate *chunks;	/* packed rows (formats/tuple.c), one bytea each */
	int64		nrows;
	Jsonb	   *start_position;
	Jsonb	   *end_position;
	bool		more;			/* the source knows more input is waiting */
	bool		claimed;		/* a scan reads it (only one may) */
	int64		wait_ms;		/* when nothing is there: next due, or -1 */
	bool		has_wait_fd;	/* and a descriptor readable when input comes */
	int			wait_fd;
	int64		rows_bad;		/* records sent to stream.errors */
	bool		has_max_time;	/* engine/batch.c: the batch's latest event time */
	int64		max_time;
	/* a join of two streams (engine/join.c): this side's state */
	Oid			join_state;		/* its table, or InvalidOid */
	int64		join_state_rows;
} SourceBatch;

typedef struct SourceRoutine
{
	const char *name;
	/* position of a new query: read what arrives after now */
	Jsonb	   *(*initial_position) (Relation rel);
	/* read up to max_rows after position into batch */
	void		(*read) (Relation rel, Jsonb *position, int64 max_rows,
						 SourceBatch *batch);
	/* input not yet read after position, or -1 if unknown (optional) */
	int64		(*lag) (Relation rel, Jsonb *position);
	/* drop what every reader has consumed (optional) */
	void		(*cleanup) (Oid relid);
	/* a reader is being created, in this transaction (optional) */
	void		(*add_reader) (Oid relid);
	/* a mark of the input available now, and whether a position has
	 * read everything up to it (REFRESH stops there) */
	Jsonb	   *(*mark) (Relation rel);
	bool		(*reached) (Relation rel, Jsonb *position, Jsonb *mark);
	/*
	 * View viewid was restored from a dump (pg_dump), with its position:
	 * make the positions of the restored views over rel valid in this
	 * database (optional: for positions that depend on the cluster).
	 */
	void		(*restore) (Relation rel, Oid viewid);
} SourceRoutine;

/* in sources/source.c */
extern const SourceRoutine *pgs_source_for_relation(Oid relid);
extern bool pgs_is_stream_relation(Oid relid);
extern SourceBatch *pgs_current_batch(Oid relid);
extern void pgs_set_current_batches(List *batches);
extern void pgs_set_current_view(Oid viewid);
extern Oid	pgs_current_view(void);
extern Oid	pgs_source_user(void);
extern void pgs_fdw_scan_routines(FdwRoutine *routine);
extern void pgs_reject_unknown_option(const char *option, const char *const *valid,
									  const char *what);
extern ErrorData *pgs_try(void (*fn) (void *), void *arg);
extern Jsonb *pgs_jsonb_from_cstring(const char *text);
extern int64 pgs_jsonb_get_int64(Jsonb *jb, const char *key, int64 dflt);

/* in sources/stream.c */
extern const SourceRoutine stream_source;
extern void pgs_stream_xact_init(void);
extern void pgs_stream_gc(void);

/* in sources/rate.c */
extern const SourceRoutine rate_source;

/* in bgw/worker.c: this process is a continuous query's worker */
extern bool pgs_in_worker;

/* in sources/kafka.c */
extern const SourceRoutine kafka_source;

/* in sources/file.c */
extern const SourceRoutine file_source;
extern void pgs_file_sink_prefix(Oid viewid, int64 batch_id);
extern void pgs_file_check_reader(Oid relid, Oid role);
extern void pgs_check_server_files_role(Oid roleid, Oid needed, const char *action,
										const char *detail);

/* in sources/socket.c */
extern const SourceRoutine socket_source;

/* in formats/tuple.c: the packed binary format of the stream buffer */
typedef struct TuplePacker
{
	StringInfoData buf;
	int32		nrows;
} TuplePacker;
extern void tuple_pack_init(TuplePacker *p);
extern MinimalTuple tuple_pack_prepare(TupleTableSlot *slot, bool *shouldFree);
extern void tuple_pack_add(TuplePacker *p, MinimalTuple mt);

typedef struct TupleUnpacker
{
	char	   *p;				/* next row in the chunk */
	char	   *end;
	char	   *aligned;		/* the row, aligned */
	uint32		alloc;
	MemoryContext cxt;			/* of aligned */
} TupleUnpacker;
extern TupleDesc tuple_chunk_desc(void);
extern void tuple_unpack_init(TupleUnpacker *u, MemoryContext cxt);
extern void tuple_unpack_begin(TupleUnpacker *u, bytea *chunk);
extern MinimalTuple tuple_unpack_next(TupleUnpacker *u);
extern void tuple_pack_reset(TuplePacker *p);
extern bytea *tuple_pack_bytea(TuplePacker *p);

/* in formats/decode.c: records (json, csv, text) into rows */
typedef enum PgsFormat
{
	PGS_FORMAT_JSON,
	PGS_FORMAT_CSV,
	PGS_FORMAT_TEXT
} PgsFormat;

#define PGS_JSON_MAX_DEPTH 1000	/* deeper is a bad record, not a stack overflow */

typedef struct PgsDecoder
{
	TupleDesc	desc;
	PgsFormat	format;
	bool	   *data;			/* per attribute: filled from the record */
	int			ndata;
	FmgrInfo   *infuncs;
	Oid		   *ioparams;
	char		delimiter;		/* csv */
	char		quote;
	char		escape;
	char	   *null_string;
	bool		header;
} PgsDecoder;

typedef void (*PgsDecodeFn) (void *arg, int64 i, Datum *values, bool *nulls);
typedef void (*PgsBadFn) (void *arg, int64 i, const char *error);

extern PgsFormat pgs_parse_format(const char *v);
extern bool pgs_format_option(DefElem *def, bool with_header);
extern bool pgs_on_error_stop(DefElem *def);
extern void pgs_decoder_options(PgsDecoder *d, List *options, PgsFormat default_format,
								const char *what);
extern void pgs_decoder_init(PgsDecoder *d, TupleDesc desc, bool *data, List *options,
							 PgsFormat default_format, const char *what);
extern Datum pgs_decoder_input(PgsDecoder *d, int col, char *s);
extern int	pgs_csv_fields(PgsDecoder *d, const char *s, char ***fields);
extern void pgs_decode_record(PgsDecoder *d, char *rec, int len, Datum *values, bool *nulls);
extern int64 pgs_decode_batch(TupleDesc desc, int64 n, PgsDecodeFn decode, PgsBadFn bad,
							  void *arg, bool stop, Tuplestorestate *ts);
extern void pgs_dead_letter(Oid relid, const char *what, Jsonb *position, const char *where,
							const char *payload, size_t len, const char *error);

/* in formats/encode.c: rows into records */
typedef struct PgsEncoder
{
	PgsDecoder *d;
	FmgrInfo   *outfuncs;
} PgsEncoder;
extern void pgs_encoder_init(PgsEncoder *e, PgsDecoder *d);
extern void pgs_encode_row(PgsEncoder *e, TupleTableSlot *slot, StringInfo buf);

/* in formats/infer.c: columns from sample records (IMPORT FOREIGN SCHEMA) */
typedef enum PgsSampleType
{
	ST_NULL,
	ST_BOOL,
	ST_INT,
	ST_NUMERIC,
	ST_TIMESTAMPTZ,
	ST_JSONB,
	ST_TEXT
} PgsSampleType;

typedef struct PgsSampleKey
{
	char	   *name;
	PgsSampleType type;
} PgsSampleKey;
extern PgsSampleKey *pgs_sample_key(List **keys, const char *name);
extern void pgs_sample_text(PgsSampleKey *k, const char *v);
extern bool pgs_sample_json(const char *rec, size_t len, List **keys);
extern int	pgs_sample_columns(StringInfo sql, List *keys, const char *what);

/*
 * The analysed continuous query (engine/analyze.c).
 */
typedef struct CqAgg
{
	Aggref	   *aggref;			/* as in the user's query */
	char	   *initval;		/* agginitval (text form), or NULL */
	Oid			transtype;		/* resolved transition type */
	Oid			statetype;		/* stored type: bytea for internal states */
	int16		transtyplen;
	bool		transtypbyval;
	Oid			combinefn;
	Oid			serialfn;
	Oid			deserialfn;
	Oid			finalfn;
	int			numFinalArgs;
	Oid			resulttype;
} CqAgg;

/* a stream a query reads with event time and a watermark delay */
typedef struct CqTime
{
	Oid			relid;
	AttrNumber	attno;			/* its event-time column */
	Oid			typid;			/* timestamptz or timestamp */
	int64		delay;			/* microseconds */
} CqTime;

/*
 * A join of two streams (engine/join.c). Each side keeps the rows it has
 * read as state until no row of the other side can match them any more:
 * a row expires at the least of its bounds, each the latest event time
 * of the other side that can still match it, derived from the join
 * condition (other.ts <= ts + offset; or equal tumbling windows).
 */
typedef struct CqBound
{
	bool		tumble;			/* tumble(ts, size, origin) + size */
	int64		offset;			/* else ts + offset */
	int64		size;
	int64		origin;
} CqBound;

typedef struct CqJoinSide
{
	Oid			relid;			/* the stream */
	Index		rtindex;		/* its entry in the query's range table, if
								 * read there directly, else 0 */
	AttrNumber	ts_attno;		/* its event-time column, or 0 */
	Oid			ts_typid;
	bool		watermarked;	/* in the view's watermark */
	bool		preserved;		/* outer join: unmatched rows come out
								 * NULL-padded */
	List	   *bounds;			/* CqBound *; NIL: rows never expire */
	int64		lag;			/* expiry - ts is at most this */
} CqJoinSide;

typedef struct CqJoin
{
	JoinType	jointype;		/* of side[0] with side[1] */
	CqJoinSide	side[2];
	Node	   *cond;			/* outer joins: the ON condition, over
								 * varnos 1 and 2 (the sides) */
} CqJoin;

typedef struct CqDef
{
	Oid			viewid;
	char	   *viewname;		/* qualified, for messages */
	Query	   *query;			/* rewritten user query */
	List	   *streams;		/* OIDs of the stream foreign tables read */
	CqOptions	opts;
	CqOutputMode mode;			/* effective output mode */
	bool		is_agg;
	/* aggregation only: */
	int			nkeys;			/* group keys, the first nkeys columns */
	AttrNumber *key_viewcols;	/* view column of each key */
	List	   *aggs;			/* CqAgg *, the state columns */
	List	   *final_tlist;	/* output tlist over (keys, finals) */
	Expr	   *final_having;	/* HAVING over (keys, finals), or NULL */
	Query	   *batch_query;	/* per-batch query: keys + partial aggs */
	bool		planned;		/* pgs_plan_batch resolved the aggs' types */
	/* event time (engine/eventtime.c): */
	List	   *wm_streams;		/* CqTime *, the streams with a watermark */
	int			window_key;		/* group key (0-based) that is a window on
								 * their event time, or -1 */
	int64		window_size;	/* its size, microseconds (0: the time itself) */
	bool		evicts;			/* final windows: late rows dropped, state
								 * evicted (append and update modes) */
	AttrNumber	late_col;		/* batch output column counting each
								 * group's rows, or 0 */
	int64		window_lag;		/* over a join: how far behind the watermark
								 * the window's event time may still come */
	CqJoin	   *join;			/* a join of two streams, or NULL */
	Oid			state_relid;
	Oid			rows_relid;		/* the copy of the final rows, or InvalidOid */
} CqDef;

extern CqDef *pgs_analyze_cq(Query *query, Oid viewid, CqOptions *opts,
							 bool for_create);
extern List *pgs_query_streams(Query *query);
extern PlannedStmt *pgs_plan_batch(CqDef *cq);
extern CqDef *pgs_load_cq(Oid viewid, List *options);
extern List *pgs_cq_options(Oid viewid);

/* in engine/aggstate.c */
typedef struct AggMerger AggMerger;
extern AggMerger *aggmerger_create(CqDef *cq, MemoryContext cxt);
extern void aggmerger_combine(AggMerger *m, bool is_new, Datum *stored, bool *stored_null,
							  Datum *partial, bool *partial_null,
							  Datum *final, bool *final_null);
extern void aggmerger_finalize(AggMerger *m, Datum *stored, bool *stored_null,
							   Datum *final, bool *final_null);
extern void aggmerger_reset(AggMerger *m);

/* in engine/windows.c */
extern int64 pgs_window_size_usecs(Interval *size);

/* in engine/eventtime.c */
extern Interval *pgs_interval_or_null(const char *value);
extern int64 pgs_interval_option_usecs(const char *name, const char *value,
									   int64 min_usecs, int errcode_bad);
extern bool pgs_event_time_option(DefElem *def);
extern bool pgs_stream_event_time(Oid relid, AttrNumber *attno, Oid *typid,
								  int64 *delay, bool *has_delay);
extern bool pgs_batch_max_time(SourceBatch *b, TupleDesc desc, AttrNumber attno,
							   int64 *max);
extern bool pgs_window_key(Query *q, Node *e, List *wm, int64 *size, Oid *relid);
extern bool pgs_stream_column_of(Query *q, Node *e, Oid *relid, AttrNumber *attno);
extern int64 pgs_window_start(int64 ts, int64 size, int64 origin);

/* in engine/join.c */
typedef struct JoinRun JoinRun;
extern CqJoin *pgs_analyze_join(Query *query, List *streams, List *wm_streams,
								bool for_create);
extern bool pgs_join_allows_nullable(Query *query, JoinExpr *j);
extern JoinRun *pgs_join_begin(CqDef *cq, List *batches, bool has_late, int64 late_wm,
							   bool has_evict, int64 evict_wm);
extern PlannedStmt *pgs_join_plan(JoinRun *jr, PlannedStmt *plan, bool matches_only);
extern PlannedStmt *pgs_join_pairs_plan(JoinRun *jr);
extern void pgs_join_matched(JoinRun *jr, Tuplestorestate *pairs, TupleDesc desc);
extern void pgs_join_end(JoinRun *jr, int64 *rows_late);
extern void pgs_join_scan_begin(ForeignScanState *node, int role);
extern TupleTableSlot *pgs_join_scan_next(ForeignScanState *node);
extern void pgs_join_scan_rescan(ForeignScanState *node);
extern void pgs_join_scan_end(ForeignScanState *node);

/* in engine/batch.c */
typedef enum BatchResult
{
	BATCH_DONE,					/* processed a batch, more may be waiting */
	BATCH_EMPTY,				/* nothing to process */
	BATCH_GONE					/* the query was dropped or stopped */
} BatchResult;
typedef enum BatchInput
{
	INPUT_READ,					/* read the sources */
	INPUT_NONE,					/* run the query over no input (a new global
								 * aggregate's row) */
	INPUT_FINAL					/* no input: only what the watermark made
								 * final (Spark's no-data batch) */
} BatchInput;
/* when the next batch is due: after ms (-1: no time known; 0: at once), or
 * sooner when one of fds is readable (input arrived) */
#define PGS_MAX_WAIT_FDS 4
typedef struct BatchWait
{
	int64		ms;
	int			nfds;
	int			fds[PGS_MAX_WAIT_FDS];
} BatchWait;
extern BatchResult pgs_run_batch(Oid viewid, bool from_worker, BatchInput input,
								 BatchWait *wait, CqOptions *opts_out);
extern void pgs_refresh(Oid viewid);
extern void pgs_rebuild_view(Oid viewid);

/* in sinks/view.c: writing the view's table */
typedef struct ViewWriter ViewWriter;
extern ViewWriter *viewwriter_open(Relation rel, int nkeys,
								   AttrNumber *keycols, EState *estate);
extern bool viewwriter_lookup(ViewWriter *w, Datum *keys, bool *keynulls,
							  TupleTableSlot *found);
extern void viewwriter_insert(ViewWriter *w, TupleTableSlot *slot);
extern void viewwriter_update(ViewWriter *w, TupleTableSlot *slot);
extern void viewwriter_update_tid(ViewWriter *w, ItemPointer tid, TupleTableSlot *slot);
extern void viewwriter_delete_current(ViewWriter *w);
extern void viewwriter_close(ViewWriter *w);

/* in sinks/sink.c: where a batch's output goes besides the view */
extern bool pgs_has_sink(CqDef *cq);
extern List *pgs_sink_check(Oid viewid, CqDef *cq, List *options);
extern void pgs_sink_deliver(CqDef *cq, int64 batch_id, Tuplestorestate *rows,
							 Tuplestorestate *deleted);

/* in ddl.c */
extern void pgs_ddl_init(void);
extern bool pgs_is_cq(Oid viewid);
extern bool pgs_view_populated(Oid relid);
extern void pgs_check_cq_owner(Oid viewid);

/* in bgw/shmem.c: shared state of workers */
typedef struct CqSlot
{
	Oid			dboid;
	Oid			viewid;
	pid_t		pid;			/* worker, or 0 */
	Latch	   *latch;
	bool		waiting;		/* its worker waits for an unreachable source */
	char		note[128];		/* why not running, if so */
} CqSlot;

extern void pgs_shmem_init(void);
extern CqSlot *pgs_slot_claim(Oid dboid, Oid viewid, int pid, Latch *latch);
extern void pgs_slot_note(Oid dboid, Oid viewid, const char *note);
extern void pgs_slot_set_waiting(CqSlot *slot, bool waiting);
extern bool pgs_slot_reserve(Oid dboid, Oid viewid);
extern void pgs_slots_release_unclaimed(Oid dboid);
extern void pgs_wake_database(Oid dboid);
extern void pgs_wake_manager(Oid dboid);
extern void pgs_wake_launcher(void);
extern bool pgs_launcher_rescan_requested(void);
extern Latch **pgs_launcher_latch(void);
extern bool pgs_set_manager(Oid dboid, Latch *latch, bool attach);
extern bool pgs_manager_running(Oid dboid);
extern int	pgs_slot_count(void);
extern CqSlot *pgs_slot_at(int i);
extern void pgs_slots_lock(bool exclusive);
extern void pgs_slots_unlock(void);

/* in bgw/launcher.c, bgw/manager.c, bgw/worker.c */
extern void pgs_register_launcher(void);
PGDLLEXPORT void pgs_launcher_main(Datum arg);
PGDLLEXPORT void pgs_manager_main(Datum arg);
PGDLLEXPORT void pgs_worker_main(Datum arg);
extern bool pgs_start_manager(Oid dboid);
extern bool pgs_start_worker(Oid dboid, Oid viewid,
							 BackgroundWorkerHandle **handle);

#endif							/* PG_STREAM_H */
