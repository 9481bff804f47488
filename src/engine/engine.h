/*-------------------------------------------------------------------------
 *
 * engine.h
 *	  The continuous query engine: analysis, aggregation state, event time, joins, the batch.
 *
 * engine/ is above sources/ and sinks/: a batch reads its sources and
 * hands its output to the sinks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_ENGINE_H
#define PGS_ENGINE_H

#include "engine/cq.h"
#include "sources/sources.h"
#include "access/skey.h"
#include "nodes/execnodes.h"
#include "tcop/dest.h"
#include "nodes/plannodes.h"
#include "utils/tuplestore.h"

/* in engine/options.c */
extern bool pgs_is_cq_option(const char *name);
extern void pgs_parse_options(List *options, CqOptions *opts);
extern List *pgs_options_from_array(Datum array);
extern Datum pgs_options_to_array(List *options);
extern List *pgs_options_merge(List *existing, List *changes, bool reset);

/* in engine/analyze.c */
extern void pgs_reject(const char *construct, const char *hint) pg_attribute_noreturn();
extern CqDef *pgs_analyze_cq(Query *query, Oid viewid, CqOptions *opts,
							 bool for_create);
extern List *pgs_query_streams(Query *query);
extern PlannedStmt *pgs_plan_batch(CqDef *cq);
extern void pgs_plan_forced_no_jit(PlannedStmt *plan);
extern PlannedStmt *pgs_plan_batch_unordered(CqDef *cq);
extern void pgs_check_append_padded(CqDef *cq);
extern CqDef *pgs_load_cq(Oid viewid, List *options);
extern List *pgs_cq_options(Oid viewid);

/* in engine/stage.c */
extern Query *pgs_stage_split(Query *query, Query **above, List **sides);
extern void pgs_stage_check(CqDef *cq, Query *top);
extern void pgs_stage_check_perms(CqDef *cq);
extern TupleDesc pgs_stage_rowdesc(CqDef *cq);
extern Tuplestorestate *pgs_stage_run(CqDef *cq, Tuplestorestate *rows, TupleDesc rowdesc,
									  TupleDesc *outdesc);
extern bool pgs_stage_side_rows(CqDef *cq);

/* in engine/stage_side.c */
extern int64 pgs_stage_side_cut(CqDef *cq, int64 watermark);
extern bool pgs_stage_side_keeps(CqStageSide *side, AttrNumber attno);
extern int64 pgs_stage_hand_watermark(CqDef *cq, int64 wm);
extern void pgs_stage_sides_add(CqDef *cq, List *streams, bool has_wm, int64 wm,
								int64 *rows_late);
extern int64 pgs_stage_sides_take(CqDef *cq, List *streams, int64 wm);

/* in engine/reagg.c */
extern void pgs_reagg_check(CqDef *cq, Query *top);
extern int64 pgs_reagg_write(CqDef *cq);

/* in engine/progress.c */
extern void pgs_progress_init(void);
extern void pgs_progress_begin(Oid viewid);
extern void pgs_progress_batch(int64 rows, bool batch_done);
extern void pgs_progress_end(void);

/* in engine/aggstate.c */
typedef struct AggMerger AggMerger;
extern AggMerger *aggmerger_create(CqDef *cq, MemoryContext cxt);
extern void aggmerger_combine(AggMerger *m, bool is_new, Datum *stored, bool *stored_null,
							  Datum *partial, bool *partial_null,
							  Datum *final, bool *final_null);
extern void aggmerger_finalize(AggMerger *m, Datum *stored, bool *stored_null,
							   Datum *final, bool *final_null);
extern void aggmerger_reset(AggMerger *m);

/* in engine/listagg.c */
extern bool pgs_listagg_used(List *aggs);
extern Oid	pgs_listagg_batch_aggregate(Aggref *aggref, bool two_streams);
extern PlannedStmt *pgs_listagg_plan(Query *batch_query);
extern Plan *pgs_listagg_sort_groups(Plan *agg, List *sortcl);

/* in engine/chain.c */
extern void pgs_chain_rewrite(Query *query);
extern bool pgs_chain_rewrite_readable(Query *query);
extern void pgs_chain_rewrite_view(Query *query, Oid reader);
extern void pgs_chain_check_options(Oid view, CqDef *cq);

/* in engine/union.c */
extern List *pgs_union_branches(Query *q);
extern void pgs_union_check(Query *q);
extern bool pgs_union_analyze(Query *query);
extern void pgs_union_watermarks(CqDef *cq);

/* in engine/windows.c */
extern int64 pgs_window_size_usecs(Interval *size);

/* in engine/eventtime.c */
extern bool pgs_stream_event_time(Oid relid, AttrNumber *attno, Oid *typid,
								  int64 *delay, bool *has_delay);
extern bool pgs_batch_max_time(SourceBatch *b, TupleDesc desc, AttrNumber attno,
							   int64 *max);
extern bool pgs_window_key(Query *q, Node *e, List *wm, int64 *size, Oid *relid);
extern bool pgs_is_stream_function(Oid funcid, const char *name);
extern bool pgs_stream_column_of(Query *q, Node *e, Oid *relid, AttrNumber *attno);
extern int64 pgs_window_start(int64 ts, int64 size, int64 origin);

/*
 * What a batch knows of one stream it reads, besides the rows
 * (engine/batch.c): where it read from, the latest event time seen, and
 * a join side's state. The engine's own; the source knows only the
 * SourceBatch.
 */
typedef struct BatchStream
{
	Oid			relid;
	SourceBatch *batch;			/* what the source read, or NULL */
	Jsonb	   *position;		/* where it read from */
	bool		has_max_time;	/* the latest event time read, if any */
	int64		max_time;
	Oid			join_state;		/* a join's state of this side, if any */
	int64		state_rows;		/* its rows */
	/* parallelism > 1: the latest event time of each share (parallel.c) */
	int			nshare_times;
	int64	   *share_times;
	bool	   *share_known;
} BatchStream;

/* in engine/parallel.c */
extern void pgs_parallel_check(CqDef *cq, const char *viewname);
extern void pgs_share_times_update(BatchStream *s, int share, int nshares, int64 m);
extern void pgs_share_times_none(BatchStream *s, int share, int nshares);
extern int	pgs_shares_none(List *streams, int share, int nshares);
extern bool pgs_share_times_least(const BatchStream *s, int nshares, int64 *least);

/* in engine/join.c */
typedef struct JoinRun JoinRun;
extern CqJoin *pgs_analyze_join(Query *query, List *streams, List *wm_streams,
								bool for_create);
extern bool pgs_join_allows_nullable(Query *query, JoinExpr *j);
extern JoinRun *pgs_join_begin(CqDef *cq, List *streams, bool has_late, int64 late_wm,
							   bool has_evict, int64 evict_wm);
extern PlannedStmt *pgs_join_plan(JoinRun *jr, PlannedStmt *plan, bool matches_only,
								  bool *order_lost);
extern int	pgs_join_npairs(JoinRun *jr);
extern PlannedStmt *pgs_join_pairs_plan(JoinRun *jr, int which);
extern void pgs_join_matched(JoinRun *jr, Tuplestorestate *pairs, TupleDesc desc);
extern void pgs_join_end(JoinRun *jr, int64 *rows_late);

/* in engine/store.c: the keyed state store */
typedef struct KeyedStore KeyedStore;
#define KSTORE_BUFFER_ROWS 1000	/* rows kstore_insert_buffered holds */
extern KeyedStore *kstore_open(Relation rel, int nkeys, AttrNumber *keycols,
							   EState *estate);
extern void kstore_begin_ordered(KeyedStore *s, int64 probes, int64 rows);
extern bool kstore_lookup(KeyedStore *s, Datum *keys, bool *keynulls,
						  TupleTableSlot *found);
extern bool kstore_fetch(KeyedStore *s, ItemPointer tid, Datum *keys,
						 bool *keynulls, TupleTableSlot *slot);
extern void kstore_insert(KeyedStore *s, TupleTableSlot *slot);
extern bool kstore_insert_buffered(KeyedStore *s, TupleTableSlot *slot);
extern int	kstore_flush(KeyedStore *s);
extern TupleTableSlot *kstore_flushed(KeyedStore *s, int i);
extern void kstore_update(KeyedStore *s, TupleTableSlot *slot);
extern void kstore_update_tid(KeyedStore *s, ItemPointer tid, TupleTableSlot *slot);
extern void kstore_delete_current(KeyedStore *s);
extern bool kstore_defer_indexes(KeyedStore *s);
extern void kstore_close(KeyedStore *s);
typedef struct KStoreScan KStoreScan;
extern Relation kstore_index_on(Relation rel, int ncols, const AttrNumber *cols,
								LOCKMODE lockmode);
extern Relation kstore_expiry_index_on(Relation rel, AttrNumber col, LOCKMODE lockmode);
extern KStoreScan *kstore_scan_all(Relation rel, Snapshot snap);
extern KStoreScan *kstore_scan_keys(Relation rel, Relation idx, const ScanKeyData *skeys,
									int nkeys, const Datum *keys, int nprobe, Snapshot snap);
extern KStoreScan *kstore_scan_below(KStoreScan *sc, Relation rel, Relation idx, int nkeys,
									 const Datum *keys, const bool *nulls, Datum bound,
									 bool bound_null, Snapshot snap);
extern KStoreScan *kstore_scan_walk(Relation rel, Relation idx, Snapshot snap);
extern bool kstore_walk_entry(KStoreScan *sc, Datum **keys, bool **nulls);
extern bool kstore_walk_fetch(KStoreScan *sc, TupleTableSlot *slot);
extern KStoreScan *kstore_scan_expired(Relation rel, Relation idx, AttrNumber col,
									   int64 upto, Snapshot snap);
extern KStoreScan *kstore_scan_expiring(Relation rel, Relation idx, AttrNumber col,
										bool has_after, int64 after, int64 upto,
										Snapshot snap);
extern bool kstore_scan_next(KStoreScan *sc, TupleTableSlot *slot);
extern void kstore_scan_rescan(KStoreScan *sc);
extern void kstore_scan_end(KStoreScan *sc);

/* in engine/dedup.c: the first row of each key */
typedef struct DedupRun DedupRun;
extern void pgs_dedup_rewrite(CqDef *cq, Query *query);
extern Expr *pgs_dedup_agg_filter(CqDef *cq, Query *query, Aggref *aggref,
								  List *keyexprs);
extern bool pgs_dedup_volatile(Node *node);
extern DedupRun *pgs_dedup_begin(CqDef *cq, bool has_watermark, int64 watermark);
extern void pgs_dedup_end(DedupRun *dr, bool has_watermark, int64 watermark,
						  bool agg_has_watermark, int64 agg_watermark,
						  int64 *rows_late, int64 *state_rows);

/* in engine/merge.c: a batch's output into the view and the state */
extern DestReceiver *pgs_merge_receiver(CqDef *cq, int64 groups, bool has_watermark,
										int64 watermark,
										int64 *state_rows, int64 *rows_late,
										Tuplestorestate *sink_rows,
										Tuplestorestate *sink_deleted);
extern DestReceiver *pgs_rows_receiver(CqDef *cq, Tuplestorestate *sink_rows);
extern int64 pgs_receiver_rows(DestReceiver *dest);
extern int64 pgs_finalize_windows(CqDef *cq, int64 watermark, int64 *evicted,
								  Tuplestorestate *sink_rows);
extern void pgs_rebuild_from_state(CqDef *cq);
/* ... and for engine/session.c: the receiver's row count, a group's view row */
typedef struct OutputReceiver
{
	DestReceiver pub;
	int64		n;				/* rows written to the view (or deleted) */
} OutputReceiver;
typedef struct FinalRow
{
	ExprContext *econtext;
	TupleTableSlot *fslot;		/* keys, then the aggregates' values */
	TupleTableSlot *vslot;		/* the view's row */
	ProjectionInfo *proj;
	ExprState  *having;
} FinalRow;
extern void final_row_init(FinalRow *fr, CqDef *cq, TupleDesc keydesc, Relation vrel,
						   EState *estate);
extern bool final_row_project(FinalRow *fr, int nkeys, Datum *keys, bool *keynulls);
extern void final_row_end(FinalRow *fr);
/* in engine/reagg.c: whether a merged group's row changed */
extern MinimalTuple pgs_reagg_row_before(AggMerger *m, FinalRow *fr, int nkeys, Datum *keys,
										 bool *keynulls, Datum *stored, bool *stored_null);
extern bool pgs_reagg_row_changed(FinalRow *fr, int nkeys, Datum *keys, bool *keynulls,
								  MinimalTuple before);
extern AttrNumber view_row_column(CqDef *cq, Relation srel);
extern Tuplestorestate *pgs_reagg_inner_rows(CqDef *cq, TupleDesc *rowdesc);
extern bool pgs_reagg_rows_equal(TupleTableSlot *a, TupleTableSlot *b);

/* in engine/reagg_delta.c: a query over an aggregation, by deltas */
typedef struct DeltaRun DeltaRun;
extern DeltaShape *pgs_delta_shape(Query *q);
extern List *pgs_delta_state_sql(DeltaShape *s, const char *name, int fillfactor);
extern bool pgs_delta_on(CqDef *cq);
extern DeltaRun *pgs_delta_begin(CqDef *cq);
extern void pgs_delta_group(DeltaRun *d, FinalRow *fr, int nkeys, Datum *keys,
							bool *keynulls, MinimalTuple before);
extern int64 pgs_delta_apply(DeltaRun *d);
extern void pgs_delta_end(DeltaRun *d);
extern int64 pgs_delta_rebuild(CqDef *cq);
extern void pgs_delta_forget(CqDef *cq);

/*
 * The tables an aggregation's batch writes, opened together: the view and
 * the state, each a keyed store by the group keys, the slots for their
 * rows, the states' merger and the final rows' projection (engine/merge.c;
 * engine/session.c for session windows).
 */
typedef struct GroupTables
{
	Relation	vrel;
	Relation	srel;
	TupleDesc	sdesc;
	AttrNumber	rowcol;			/* the state's _pgs_row column, or 0 */
	EState	   *estate;
	KeyedStore *sw;
	KeyedStore *vw;
	AggMerger  *merger;
	FinalRow	fr;
	TupleTableSlot *sslot;		/* a state row */
	TupleTableSlot *vfetch;		/* a view row */
	TupleTableSlot *nsslot;		/* a new state row */
	bool		lookup_new;		/* a new group's view row may exist */
} GroupTables;
extern void group_tables_open(GroupTables *t, CqDef *cq, TupleDesc outdesc);
extern void group_tables_close(GroupTables *t);

/* in engine/session.c: session windows */
extern int64 pgs_session_gap_usecs(Interval *gap);
extern void pgs_session_analyze(CqDef *cq, Query *query);
extern void pgs_session_sort(CqDef *cq);
extern List *pgs_session_indexes(CqDef *cq, const char *statename);
extern DestReceiver *pgs_session_receiver(CqDef *cq, int64 groups, bool has_watermark,
										  int64 watermark,
										  int64 *state_rows, int64 *rows_late,
										  Tuplestorestate *sink_rows,
										  Tuplestorestate *sink_deleted);
extern KStoreScan *pgs_session_expired(CqDef *cq, Relation srel, int64 watermark,
									   Relation *idx);

/* in engine/retention.c: rows of old windows deleted */
extern AttrNumber pgs_retention_column(CqDef *cq);
extern void pgs_retention_check(CqDef *cq, const char *what);
extern int64 pgs_retention_cut(CqDef *cq, int64 watermark);
extern char *pgs_retention_index_sql(CqDef *cq, Oid relid);
extern int64 pgs_retention_delete(CqDef *cq, int64 before);

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
extern BatchResult pgs_run_share_batch(Oid viewid, int share, int nshares,
									   BatchWait *wait, CqOptions *opts_out);
extern void pgs_refresh(Oid viewid);
extern int64 pgs_purge(Oid viewid, TimestampTz before);
extern void pgs_rebuild_view(Oid viewid);

#endif							/* PGS_ENGINE_H */
