/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  One micro-batch of a continuous query, in one transaction.
 *
 *	  lock the query -> fresh snapshot -> read each source after its
 *	  stored position -> run the query (or its partial aggregation) over
 *	  the batch with the executor -> merge into state and view -> store the
 *	  new positions, counters and progress
 *
 * all inside the caller's transaction: the background worker commits each
 * batch on its own; REFRESH MATERIALIZED VIEW runs batches in the user's
 * transaction until the input available at its start is consumed. Because
 * the positions, the state and the view change together, a crash at any
 * moment leaves either the whole batch or none of it: exactly-once.
 *
 * The query's lock. A batch holds ExclusiveLock on the view: readers
 * (AccessShareLock) are not blocked, but two batches of the same query
 * (the worker and a REFRESH) are serialized. The snapshot is taken after
 * the lock, so a batch always sees the positions its predecessor
 * committed. Before it, the batch locks what the view reads, deepest
 * first, as DROP ... CASCADE does (lock_referenced). A worker of a view
 * with parallelism > 1 reads its share of the input under AccessShareLock
 * only, and takes ExclusiveLock and a new snapshot after the read
 * (batch_lock_share; the design is at the top of engine/parallel.c).
 *
 * Everything that can run user code -- the rewrite, planning, the query,
 * the aggregates' functions, the output expressions -- runs with the
 * privileges of the view's owner, under SECURITY_RESTRICTED_OPERATION,
 * like REFRESH MATERIALIZED VIEW; the bookkeeping in stream.* runs as the
 * bootstrap superuser (pgs_become_superuser).
 *
 * The phases' clocks (stream.progress's read_ms, run_ms, merge_ms,
 * write_ms). Each phase is a span of its own between two clock reads,
 * so the four never overlap and add up to at most the batch's duration
 * (the rest is the lock, the snapshot, the catalog and the bookkeeping).
 * read: the sources' reads into the batch's tuplestores; run: planning
 * and the executor running the per-batch query; merge: what meets the
 * state (an aggregation's merge, which writes the view's rows of the
 * groups it combines, the windows made final, a join's and DISTINCT's
 * evictions); write: the rows of a query without state into the view,
 * and the sink. Where the view's receiver takes the rows as the plan
 * yields them, a wrapping receiver (timed_receiver) reads the clock
 * around its calls, and its time is taken out of the run's: around each
 * of the first 4096 rows of a batch, and past them around one row in 16,
 * picked at random (an estimate; the README's Monitoring says what was
 * measured).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "meta/meta.h"
#include "sources/sources.h"
#include "engine/cq.h"
#include "engine/engine.h"
#include "sinks/sinks.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/genam.h"
#include "catalog/indexing.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "commands/explain.h"
#include "executor/executor.h"
#include "executor/tstoreReceiver.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(stream_lag);
PG_FUNCTION_INFO_V1(stream_explain);

static TimestampTz last_cleanup = 0;

/*------------------------------------------------------------------------
 * Catalog access (meta/; results in the caller's context)
 *------------------------------------------------------------------------
 */
/* a view's options (its row of stream.cq) as DefElems */
static List *
cq_options(const CqMeta *row)
{
	return row->options ? pgs_options_from_array(PointerGetDatum(row->options)) : NIL;
}

/* the analysed query of a view, with its tables */
static CqDef *
load_cq(Oid viewid, const CqMeta *row, List *options)
{
	CqDef	   *cq = pgs_load_cq(viewid, options);

	cq->state_relid = row->state_table;
	cq->rows_relid = row->rows_table;
	cq->seen_relids = row->seen_tables;
	cq->output_stream = row->output_stream;
	return cq;
}

/* The options of a continuous view, as DefElems */
List *
pgs_cq_options(Oid viewid)
{
	CqMeta		row;

	if (!meta_cq_get(viewid, &row))
		elog(ERROR, "relation %u is not a continuous view", viewid);
	return cq_options(&row);
}

/*
 * A worker keeps the positions of its view as it last read them, with the
 * row version (ctid, xmin) each came from: a row version never changes,
 * so while it is the same the position need not be detoasted again. An
 * idle worker polls often, and a position can be large (a file stream's
 * lists every file done: megabytes for 100,000 files), so that its cost
 * does not grow with it. Positions are never changed in place.
 */
typedef struct CachedPos
{
	Oid			viewid;
	Oid			relid;
	ItemPointerData tid;
	TransactionId xmin;
	Jsonb	   *position;
} CachedPos;

static MemoryContext cached_cxt = NULL;
static List *cached_positions = NIL;
/* replaced copies: the transaction that replaced them may still use them */
static List *cached_garbage = NIL;
static LocalTransactionId cached_lxid = InvalidLocalTransactionId;

/* a PositionCopyFn (meta/meta.h): for a worker, the cached copy */
static Jsonb *
position_of_row(const PositionRow *row, Datum d)
{
	Oid			viewid = row->view;
	Oid			relid = row->stream;
	ItemPointerData tid = row->tid;
	TransactionId xmin = row->xmin;
	CachedPos  *c = NULL;
	ListCell   *lc;
	MemoryContext old;

	if (!pgs_am_worker())
		return DatumGetJsonbPCopy(d);
	if (MyProc->lxid != cached_lxid)
	{
		list_free_deep(cached_garbage);
		cached_garbage = NIL;
		cached_lxid = MyProc->lxid;
	}
	foreach(lc, cached_positions)
	{
		CachedPos  *e = lfirst(lc);

		if (e->viewid == viewid && e->relid == relid)
			c = e;
	}
	if (c && ItemPointerEquals(&c->tid, &tid) && c->xmin == xmin)
		return c->position;
	if (cached_cxt == NULL)
		cached_cxt = AllocSetContextCreate(TopMemoryContext, "pg_stream positions",
										   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cached_cxt);
	if (c == NULL)
	{
		c = palloc0(sizeof(CachedPos));
		c->viewid = viewid;
		c->relid = relid;
		cached_positions = lappend(cached_positions, c);
	}
	else
		cached_garbage = lappend(cached_garbage, c->position);
	c->tid = tid;
	c->xmin = xmin;
	c->position = DatumGetJsonbPCopy(d);
	MemoryContextSwitchTo(old);
	return c->position;
}

static List *
load_positions(Oid viewid)
{
	List	   *rows = meta_positions_of_view(viewid, position_of_row);
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, rows)
	{
		PositionRow *p = lfirst(lc);
		BatchStream *sp = palloc(sizeof(BatchStream));

		sp->relid = p->stream;
		sp->batch = NULL;
		sp->position = p->position;
		sp->max_time = p->max_event_time;
		sp->has_max_time = p->has_max_event_time;
		sp->join_state = p->join_state;
		sp->state_rows = p->state_rows;
		sp->nshare_times = p->nshare_times;
		sp->share_times = p->share_times;
		sp->share_known = p->share_known;
		result = lappend(result, sp);
	}
	list_free_deep(rows);
	return result;
}

static BatchStream *
stream_of(List *positions, Oid relid)
{
	ListCell   *lc;

	foreach(lc, positions)
	{
		BatchStream *sp = lfirst(lc);

		if (sp->relid == relid)
			return sp;
	}
	return NULL;
}

static Jsonb *
position_of(List *positions, Oid relid)
{
	BatchStream *sp = stream_of(positions, relid);

	return sp ? sp->position : NULL;
}

static char *
jsonb_text(Jsonb *jb)
{
	return jb ? JsonbToCString(NULL, &jb->root, VARSIZE(jb)) : NULL;
}

/*
 * The key of a stream in the progress row's positions: its name, or, if
 * another stream of the view has the same name (in another schema), its
 * schema-qualified name, so that no position hides another.
 */
static char *
position_key(List *streams, Oid relid)
{
	char	   *relname = get_rel_name(relid);
	ListCell   *lc;

	foreach(lc, streams)
	{
		Oid			other = ((BatchStream *) lfirst(lc))->relid;
		char	   *othername;

		if (other == relid)
			continue;
		othername = get_rel_name(other);
		if (othername != NULL && strcmp(othername, relname) == 0)
			return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											  relname);
	}
	return relname;
}

/*
 * Recording a batch, in phases over rec (meta/meta.h's BatchRecord). The
 * first: the new position in each stream; and from the sources' batches,
 * what the progress row shows of them (the positions before and after,
 * by stream: position_key), the records that went to stream.errors, and
 * the rows of the joins' state added to the view's.
 */
static void
record_positions(BatchRecord *rec, List *streams)
{
	ListCell   *lc;
	StringInfoData startpos,
				endpos;

	initStringInfo(&startpos);
	initStringInfo(&endpos);
	appendStringInfoChar(&startpos, '{');
	appendStringInfoChar(&endpos, '{');
	foreach(lc, streams)
	{
		BatchStream *s = lfirst(lc);
		SourceBatch *b = s->batch;
		char	   *relname = position_key(streams, s->relid);
		PositionRow pos = {0};

		pos.view = rec->view;
		pos.stream = s->relid;
		pos.position = b->end_position;
		pos.has_max_event_time = s->has_max_time;
		pos.max_event_time = s->max_time;
		pos.state_rows = s->state_rows;
		pos.nshare_times = s->nshare_times;
		pos.share_times = s->share_times;
		pos.share_known = s->share_known;
		rec->state_rows += s->state_rows;
		rec->rows_bad += b->rows_bad;
		meta_position_update(&pos);
		if (foreach_current_index(lc) > 0)
		{
			appendStringInfoString(&startpos, ", ");
			appendStringInfoString(&endpos, ", ");
		}
		escape_json(&startpos, relname);
		escape_json(&endpos, relname);
		appendStringInfo(&startpos, ": %s", jsonb_text(b->start_position));
		appendStringInfo(&endpos, ": %s", jsonb_text(b->end_position));
	}
	appendStringInfoChar(&startpos, '}');
	appendStringInfoChar(&endpos, '}');
	rec->start_position = startpos.data;
	rec->end_position = endpos.data;
}

/*
 * Record the batch: new positions, counters (which number the batch),
 * progress; prune old progress.
 */
static void
record_batch(BatchRecord *rec, List *streams)
{
	record_positions(rec, streams);
	rec->batch_id = meta_cq_record_batch(rec);
	meta_batch_log_insert(rec);
	meta_batch_log_prune(rec->view, rec->batch_id - pgs_progress_batches);
}

/*
 * Lock what a view reads (through its rule, and the rules of the views it
 * reads), deepest first, before the view itself: the order in which
 * DROP ... CASCADE of a stream or a derived stream takes its locks, so a
 * batch and such a DROP wait for one another instead of deadlocking.
 */
static void
lock_referenced(Oid relid, int depth)
{
	Relation	rewrite;
	Relation	depend;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *rules = NIL;
	List	   *refs = NIL;
	ListCell   *lc;

	if (depth > 32)
		return;
	rewrite = table_open(RewriteRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_rewrite_ev_class, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rewrite, RewriteRelRulenameIndexId, true, NULL, 1, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		rules = lappend_oid(rules, ((Form_pg_rewrite) GETSTRUCT(tup))->oid);
	systable_endscan(scan);
	table_close(rewrite, AccessShareLock);

	depend = table_open(DependRelationId, AccessShareLock);
	foreach(lc, rules)
	{
		ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(RewriteRelationId));
		ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(lfirst_oid(lc)));
		scan = systable_beginscan(depend, DependDependerIndexId, true, NULL, 2, key);
		while (HeapTupleIsValid(tup = systable_getnext(scan)))
		{
			Form_pg_depend d = (Form_pg_depend) GETSTRUCT(tup);

			if (d->refclassid == RelationRelationId && d->refobjid != relid)
				refs = list_append_unique_oid(refs, d->refobjid);
		}
		systable_endscan(scan);
	}
	table_close(depend, AccessShareLock);

	foreach(lc, refs)
	{
		Oid			ref = lfirst_oid(lc);

		if (get_rel_relkind(ref) == RELKIND_VIEW)
			lock_referenced(ref, depth + 1);
		LockRelationOid(ref, AccessShareLock);
	}
}

/*
 * Drop the input every reader of these streams has consumed (see the
 * sources' cleanup). Throttled: at most once a second per worker (what a
 * throttled batch consumed, the manager's clean-up of every stream, each
 * second, takes).
 */
static void
cleanup_sources(List *streams)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	if (!TimestampDifferenceExceeds(last_cleanup, now, 1000))
		return;
	last_cleanup = now;
	foreach(lc, streams)
	{
		const SourceRoutine *src = pgs_source_for_relation(lfirst_oid(lc));

		if (src->cleanup)
			src->cleanup(lfirst_oid(lc));
	}
}

/*------------------------------------------------------------------------
 * Running the plan
 *------------------------------------------------------------------------
 */
/* run the plan, its rows to dest */
static void
execute_plan_to(PlannedStmt *plan, const char *name, DestReceiver *dest, TupleDesc *desc)
{
	QueryDesc  *qd = CreateQueryDesc(plan, name, GetActiveSnapshot(), InvalidSnapshot,
									 dest, NULL, NULL, 0);

	ExecutorStart(qd, 0);
	if (desc)
		*desc = CreateTupleDescCopy(qd->tupDesc);
	ExecutorRun(qd, ForwardScanDirection, 0, true);
	ExecutorFinish(qd);
	ExecutorEnd(qd);
	FreeQueryDesc(qd);
}

/* run the plan, its rows into a tuplestore */
static Tuplestorestate *
execute_plan(PlannedStmt *plan, const char *name, TupleDesc *desc)
{
	Tuplestorestate *ts = tuplestore_begin_heap(false, false, work_mem);
	DestReceiver *dest = CreateDestReceiver(DestTuplestore);

	SetTuplestoreDestReceiverParams(dest, ts, CurrentMemoryContext, false,
									NULL, NULL);
	execute_plan_to(plan, name, dest, desc);
	dest->rDestroy(dest);
	return ts;
}

void
pgs_rebuild_view(Oid viewid)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "pg_stream rebuild",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	CqMeta		row;
	CqDef	   *cq;
	PgsUser		saved;
	PgsUser		as_owner;

	pgs_become_superuser(&saved);
	if (!meta_cq_get(viewid, &row))
		elog(ERROR, "relation %u is not a continuous view", viewid);
	pgs_restore_user(&saved);

	/* the aggregates' final functions and the output are user code */
	pgs_become_owner(viewid, &as_owner);
	cq = load_cq(viewid, &row, cq_options(&row));
	if (!OidIsValid(cq->rows_relid) || (cq->is_agg && !OidIsValid(cq->state_relid)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("continuous view \"%s\" has no table to restore its rows from",
						cq->viewname)));
	PushActiveSnapshot(GetTransactionSnapshot());
	if (cq->is_agg)
		(void) pgs_plan_batch(cq);	/* it resolves the aggregates' state types */
	pgs_rebuild_from_state(cq);
	PopActiveSnapshot();
	pgs_restore_user(&as_owner);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*------------------------------------------------------------------------
 * The batch
 *------------------------------------------------------------------------
 */

/* the watermark an aggregation finds its windows final with (join.c) */
static int64
agg_watermark(CqDef *cq, int64 watermark)
{
	int64		w;

	if (pg_sub_s64_overflow(watermark, cq->window_lag, &w))
		w = PG_INT64_MIN;
	return w;
}

/*
 * The watermark after a batch: for each watermarked stream the latest
 * event time it has seen minus its delay; the least of these; never
 * behind the watermark before. False while a watermarked stream has seen
 * no event time yet. Fills in each stream's latest event time. With
 * parallelism > 1, a stream's latest event time is the least of its
 * shares' (engine/parallel.c); the batch read share (-1: all of them).
 */
static bool
advance_watermark(CqDef *cq, const CqMeta *row, List *streams, int share,
				  int64 *watermark)
{
	int			nshares = cq->opts.parallelism;
	bool		known = (cq->wm_streams != NIL);
	int64		least = PG_INT64_MAX;
	ListCell   *lc;

	foreach(lc, streams)
	{
		BatchStream *s = lfirst(lc);
		SourceBatch *b = s->batch;
		ListCell   *lc2;

		foreach(lc2, cq->wm_streams)
		{
			CqTime	   *t = lfirst(lc2);
			int64		m;
			int64		w;

			if (t->relid != b->relid)
				continue;
			if (b->nrows > 0)
			{
				Relation	rel = table_open(b->relid, AccessShareLock);

				if (pgs_batch_max_time(b, RelationGetDescr(rel), t->attno, &m))
				{
					if (!s->has_max_time || m > s->max_time)
					{
						s->max_time = m;
						s->has_max_time = true;
					}
					pgs_share_times_update(s, share, nshares, m);
				}
				table_close(rel, AccessShareLock);
			}
			else if (b->no_share)
				pgs_share_times_none(s, share, nshares);
			if (!pgs_share_times_least(s, nshares, &m))
				known = false;
			else
			{
				if (pg_sub_s64_overflow(m, t->delay, &w))
					w = PG_INT64_MIN;
				least = Min(least, w);
			}
		}
	}
	if (!known)
	{
		*watermark = row->watermark;
		return row->has_watermark;
	}
	*watermark = row->has_watermark ? Max(least, row->watermark) : least;
	return true;
}

/*
 * One batch, phase by phase (run_batch): what each phase finds and
 * leaves for the next. It lives in the batch's memory context.
 */
typedef struct Batch
{
	BatchRun   *run;			/* its context (base/batchrun.h) */
	Oid			viewid;
	bool		from_worker;
	BatchInput	input;
	BatchWait  *wait;
	int			share;			/* the share it reads, or -1: all */
	int			nshares;		/* of how many (parallelism), or 0 */
	TimestampTz started;
	instr_time	t0;
	CqMeta		row;			/* the view's row of stream.cq, as found */
	List	   *options;		/* its options, as DefElems */
	CqOptions	opts;
	CqDef	   *cq;
	List	   *positions;		/* BatchStream *: the view's positions */
	List	   *streams;		/* BatchStream *: what each stream read, in
								 * the order of cq->streams */
	bool		finalizes;		/* windows become final under the watermark */
	int64		rows_in;
	int64		rows_out;
	int64		rows_late;
	int64		evicted;		/* state rows of windows made final */
	int64		purged;			/* view rows deleted by retention */
	int64		state_rows;		/* the aggregation's own, then the total */
	bool		more;			/* a source has more input waiting */
	bool		has_watermark;	/* the watermark the batch leaves */
	int64		watermark;
	bool		snapshot;		/* batch_open pushed a snapshot */
	Tuplestorestate *prerun;	/* a share's query output, run before the
								 * view's lock (batch_prerun), or NULL */
	TupleDesc	prerun_desc;
	BatchResult result;
	/* the phases' times, in ms (see the top of the file) */
	double		read_ms;
	double		run_ms;
	double		merge_ms;
	double		write_ms;
} Batch;

/* the clock of a phase: phase_start, then phase_add to its total (ms) */
static inline void
phase_start(instr_time *start)
{
	INSTR_TIME_SET_CURRENT(*start);
}

static inline double
phase_ms(const instr_time *start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, *start);
	return INSTR_TIME_GET_MILLISEC(now);
}

static inline void
phase_add(double *total_ms, const instr_time *start)
{
	*total_ms += phase_ms(start);
}

/*
 * A receiver around the view's, which counts the time spent in it: the
 * merge's or the write's, out of the run that feeds it row by row. Two
 * clock reads a row cost 3% of a batch of a million narrow rows, so only
 * the first TIMED_EXACT_ROWS rows of a batch are each timed (a batch
 * that size or smaller is measured exactly), and after them one row at a
 * random place in each TIMED_STRIDE rows, counted TIMED_STRIDE times:
 * sampling by strata, so that work the receiver does every so many rows
 * (a flush of its buffers) is sampled without aliasing. Its start and
 * end (a last flush) are always timed.
 */
#define TIMED_EXACT_ROWS 4096
#define TIMED_STRIDE 16

typedef struct TimedReceiver
{
	DestReceiver pub;
	DestReceiver *inner;
	double		spent_ms;		/* measured, or estimated past the first rows */
	uint64		nrows;
	int			pick;			/* the row timed in the current stride */
} TimedReceiver;

static bool
timed_receive(TupleTableSlot *slot, DestReceiver *self)
{
	TimedReceiver *r = (TimedReceiver *) self;
	instr_time	start;
	bool		ok;
	uint64		n = r->nrows++;
	int			weight = 1;

	if (n >= TIMED_EXACT_ROWS)
	{
		int			at = (int) ((n - TIMED_EXACT_ROWS) % TIMED_STRIDE);

		if (at == 0)
			r->pick = (int) pg_prng_uint64_range(&pg_global_prng_state, 0, TIMED_STRIDE - 1);
		if (at != r->pick)
			return r->inner->receiveSlot(slot, r->inner);
		weight = TIMED_STRIDE;
	}
	phase_start(&start);
	ok = r->inner->receiveSlot(slot, r->inner);
	r->spent_ms += phase_ms(&start) * weight;
	return ok;
}

static void
timed_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	TimedReceiver *r = (TimedReceiver *) self;
	instr_time	start;

	phase_start(&start);
	r->inner->rStartup(r->inner, operation, typeinfo);
	phase_add(&r->spent_ms, &start);
}

static void
timed_shutdown(DestReceiver *self)
{
	TimedReceiver *r = (TimedReceiver *) self;
	instr_time	start;

	phase_start(&start);
	r->inner->rShutdown(r->inner);
	phase_add(&r->spent_ms, &start);
}

static void
timed_destroy(DestReceiver *self)
{
	pfree(self);
}

static TimedReceiver *
timed_receiver(DestReceiver *inner)
{
	TimedReceiver *r = palloc0(sizeof(TimedReceiver));

	r->pub.receiveSlot = timed_receive;
	r->pub.rStartup = timed_startup;
	r->pub.rShutdown = timed_shutdown;
	r->pub.rDestroy = timed_destroy;
	r->pub.mydest = inner->mydest;
	r->inner = inner;
	return r;
}

/* the phase the view's receiver works for: merge with a state, or write */
static double *
receiver_phase(Batch *bt)
{
	return bt->cq->is_agg ? &bt->merge_ms : &bt->write_ms;
}

/*
 * Lock the view, take the snapshot, and find its row, options and
 * positions: false if there is nothing to do (bt->result says why).
 */
static bool
batch_open(Batch *bt, CqOptions *opts_out)
{
	Oid			viewid = bt->viewid;

	lock_referenced(viewid, 0);
	/* a share reads without the view's lock (batch_lock_share) */
	LockRelationOid(viewid, bt->nshares > 1 ? AccessShareLock : ExclusiveLock);
	/* gone; or restored and not refreshed yet (see ddl.c) */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(viewid)) ||
		!pgs_view_populated(viewid))
	{
		bt->result = BATCH_GONE;
		return false;
	}
	PushActiveSnapshot(GetTransactionSnapshot());
	bt->snapshot = true;
	if (!meta_cq_get(viewid, &bt->row) ||
		(bt->from_worker && (!bt->row.enabled || bt->row.failed)))
	{
		bt->result = BATCH_GONE;
		return false;
	}
	bt->state_rows = bt->row.last_state_rows;
	bt->run->batch_id = bt->row.batches + 1;
	bt->options = cq_options(&bt->row);
	pgs_parse_options(bt->options, &bt->opts);
	bt->opts.sink_outbox = pgs_sink_has_outbox(bt->opts.sink);
	/*
	 * A sink made exactly-once after the view got parallelism (ALTER
	 * FOREIGN TABLE ... OPTIONS (delivery ...), which does not know the
	 * views): its messages must leave in the order of one worker's
	 * batches (engine/parallel.c refuses it at CREATE and ALTER).
	 */
	if (bt->nshares > 1 && bt->opts.sink_outbox)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("continuous view \"%s\" with parallelism %d cannot deliver to exactly-once kafka sink \"%s\"",
						get_rel_name(viewid), bt->nshares, bt->opts.sink),
				 errdetail("The sink's delivery became 'exactly_once' after the view got parallelism; one worker delivers its messages in order."),
				 errhint("Give the view parallelism = 1, or the sink delivery 'at_least_once', then call stream.start().")));
	if (opts_out)
		*opts_out = bt->opts;
	if (bt->from_worker && bt->opts.trigger == TRIGGER_MANUAL)
	{
		bt->result = BATCH_EMPTY;
		return false;
	}
	/* a worker of another division: the manager starts this one's */
	if (bt->nshares > 1 && bt->opts.parallelism != bt->nshares)
	{
		bt->result = BATCH_GONE;
		return false;
	}
	bt->positions = load_positions(viewid);
	return true;
}

static Tuplestorestate *batch_query(Batch *bt, JoinRun **jr, TupleDesc *outdesc,
									DestReceiver *dest);

/*
 * A share runs its query before it takes the view's lock, into a
 * tuplestore that the merge reads once it has the lock: the partial
 * aggregation over the batch's rows (or a query's rows) reads nothing a
 * batch of another share writes -- the streams' rows are this batch's,
 * tables are read under the snapshot of the read, as any batch reads
 * them -- so only the merge with the state waits for the other shares.
 * Not for a view with DISTINCT (its filters read their keys' tables as
 * the query runs) or a volatile function (which would see the view
 * before another share's batch that commits first); those run under the
 * lock, as one worker's batch.
 */
static void
batch_prerun(Batch *bt)
{
	CqDef	   *cq = bt->cq;
	instr_time	start;

	if (bt->rows_in == 0 || cq->join || cq->dedups != NIL ||
		pgs_dedup_volatile((Node *) (cq->is_agg ? cq->batch_query : cq->query)))
		return;
	phase_start(&start);
	bt->prerun = batch_query(bt, NULL, &bt->prerun_desc, NULL);
	phase_add(&bt->run_ms, &start);
}

static bool
same_options(ArrayType *a, ArrayType *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return VARSIZE(a) == VARSIZE(b) && memcmp(a, b, VARSIZE(a)) == 0;
}

/*
 * A share's batch has read its share without the view's lock: now take
 * it, and a new snapshot, and find the view's row and positions as the
 * batches committed meanwhile left them (engine/parallel.c). Each
 * stream's new position is the batch's moves put into the one found
 * (the source's merge_share); if another batch read the same input, or
 * the options changed, the batch fails with a serialization failure and
 * its worker reads again at once. False if the view is stopped, failed or
 * divided anew (bt->result says so).
 */
static bool
batch_lock_share(Batch *bt)
{
	ListCell   *lc;
	List	   *fresh;
	ArrayType  *read_options = bt->row.options;
	PgsUser		saved;
	bool		found;

	PopActiveSnapshot();
	LockRelationOid(bt->viewid, ExclusiveLock);
	PushActiveSnapshot(GetTransactionSnapshot());
	/* (the bookkeeping's tables, as the extension's superuser) */
	pgs_become_superuser(&saved);
	found = meta_cq_get(bt->viewid, &bt->row);
	fresh = found ? load_positions(bt->viewid) : NIL;
	pgs_restore_user(&saved);
	if (!found || !bt->row.enabled || bt->row.failed)
	{
		bt->result = BATCH_GONE;
		return false;
	}
	if (!same_options(read_options, bt->row.options))
	{
		CqOptions	now;

		pgs_parse_options(cq_options(&bt->row), &now);
		if (now.parallelism != bt->nshares)
		{
			bt->result = BATCH_GONE;
			return false;
		}
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("the options of continuous view \"%s\" changed during its batch",
						bt->cq->viewname)));
	}
	bt->state_rows = bt->row.last_state_rows;
	bt->run->batch_id = bt->row.batches + 1;
	bt->finalizes = bt->cq->evicts && bt->row.has_watermark;
	foreach(lc, bt->streams)
	{
		BatchStream *s = lfirst(lc);
		SourceBatch *b = s->batch;
		BatchStream *now = stream_of(fresh, s->relid);
		Jsonb	   *merged;

		if (now == NULL)
			elog(ERROR, "continuous view \"%s\" has no position in stream %u",
				 bt->cq->viewname, s->relid);
		merged = pgs_source_for_relation(s->relid)->merge_share(now->position,
															   b->start_position,
															   b->end_position);
		if (merged == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("another batch of continuous view \"%s\" read the input of share %d of stream \"%s\"",
							bt->cq->viewname, bt->share, get_rel_name(s->relid)),
					 errdetail("A REFRESH, or a worker of the view's former parallelism, consumed it first.")));
		*s = *now;
		s->batch = b;
		b->start_position = now->position;
		b->end_position = merged;
		bt->state_rows -= s->state_rows;
	}
	return true;
}

/* read every source after its position, for this view (as its owner) */
static void
batch_read(Batch *bt)
{
	CqDef	   *cq = bt->cq;
	BatchWait  *wait = bt->wait;
	ListCell   *lc;

	instr_time	start;

	/* the sources read as the view's owner, its dead letters are its */
	phase_start(&start);
	bt->run->reading = true;
	foreach(lc, cq->streams)
	{
		Oid			relid = lfirst_oid(lc);
		const SourceRoutine *src = pgs_source_for_relation(relid);
		Relation	rel = table_open(relid, AccessShareLock);
		BatchStream *pos = stream_of(bt->positions, relid);
		BatchStream *s = palloc(sizeof(BatchStream));
		SourceBatch *b = palloc0(sizeof(SourceBatch));

		if (pos == NULL)
			elog(ERROR, "continuous view \"%s\" has no position in stream \"%s\"",
				 cq->viewname, RelationGetRelationName(rel));
		*s = *pos;
		s->batch = b;
		b->relid = relid;
		/* the total of the last batch: here, the aggregation's own */
		bt->state_rows -= s->state_rows;
		if (bt->input != INPUT_READ)
		{
			/* over no input: the sources are not even asked */
			b->rows = tuplestore_begin_heap(false, false, work_mem);
			b->start_position = b->end_position = s->position;
			b->wait_ms = -1;
		}
		else
			src->read(rel, s->position, cq->opts.max_batch_rows, b);
		table_close(rel, NoLock);
		bt->rows_in += b->nrows;
		bt->more |= b->more;
		if (b->wait_ms >= 0 && (wait->ms < 0 || b->wait_ms < wait->ms))
			wait->ms = b->wait_ms;
		if (b->has_wait_fd && wait->nfds < PGS_MAX_WAIT_FDS)
			wait->fds[wait->nfds++] = b->wait_fd;
		bt->streams = lappend(bt->streams, s);
	}
	bt->run->reading = false;
	phase_add(&bt->read_ms, &start);
}

/* deliver what the batch wrote to the view's sink, in its transaction */
static void
batch_deliver(Batch *bt, Tuplestorestate *sink_rows, Tuplestorestate *sink_deleted)
{
	int64		sent;
	instr_time	start;

	phase_start(&start);
	CommandCounterIncrement();
	sent = pgs_sink_deliver(bt->cq, bt->row.batches + 1, sink_rows, sink_deleted);
	/* complete mode's output is every row, sent to the sink each batch */
	if (bt->cq->mode == OUTPUT_COMPLETE)
		bt->rows_out = sent;
	phase_add(&bt->write_ms, &start);
}

/*
 * The option retention: delete the rows of windows that ended that long
 * before the watermark the batch found windows final with (wm), after the
 * windows it made final were written (engine/retention.c). Only final
 * windows are cut, so nothing deleted is ever written again.
 */
static void
batch_retention(Batch *bt, int64 wm)
{
	CqDef	   *cq = bt->cq;

	if (!cq->opts.has_retention || !bt->finalizes || pgs_retention_column(cq) == 0)
		return;
	/* from the windows written: a range side makes them wait (stage_side.c) */
	bt->purged = pgs_retention_delete(cq,
									  pgs_retention_cut(cq, pgs_stage_hand_watermark(cq, wm)));
}

/* no input: a no-data batch, if the watermark has closed windows */
static void
batch_without_input(Batch *bt)
{
	CqDef	   *cq = bt->cq;
	Tuplestorestate *sink_rows = NULL;
	int64		dedup_rows = 0;
	int64		side_evicted = 0;
	instr_time	start;
	int			was_none;

	bt->result = BATCH_EMPTY;
	if (bt->finalizes)
	{
		if (pgs_has_sink(cq) && cq->mode == OUTPUT_APPEND)
			sink_rows = tuplestore_begin_heap(true, false, work_mem);
		phase_start(&start);
		/* the rows of streams beside a windowed aggregation (stage_side.c) */
		if (cq->stage_sides)
			side_evicted = pgs_stage_sides_take(cq, bt->streams,
												agg_watermark(cq, bt->row.watermark));
		bt->rows_out = pgs_finalize_windows(cq,
											pgs_stage_hand_watermark(cq, agg_watermark(cq, bt->row.watermark)),
											&bt->evicted, sink_rows);
		/* and the distinct values of those windows */
		pgs_dedup_end(pgs_dedup_begin(cq, false, 0), false, 0, true,
					  agg_watermark(cq, bt->row.watermark), &bt->rows_late, &dedup_rows);
		phase_add(&bt->merge_ms, &start);
		bt->state_rows += dedup_rows;
		batch_retention(bt, agg_watermark(cq, bt->row.watermark));
		if (bt->evicted > 0 || bt->purged > 0 || side_evicted > 0)
		{
			bt->result = BATCH_DONE;
			bt->state_rows -= bt->evicted;
			if (pgs_has_sink(cq) && bt->rows_out > 0)
				batch_deliver(bt, sink_rows, NULL);
		}
	}
	/* unchanged without input; and it carries the streams' latest event times */
	was_none = pgs_shares_none(bt->streams, bt->share, bt->nshares);
	bt->has_watermark = advance_watermark(cq, &bt->row, bt->streams, bt->share, &bt->watermark);
	/* a share found holding none of a stream's input: kept (parallel.c) */
	if (pgs_shares_none(bt->streams, bt->share, bt->nshares) != was_none)
		bt->result = BATCH_DONE;
}

/*
 * Plan the view's query and run it over what was read: its rows (or, for
 * an aggregation, its groups' partial states), into dest, or else into a
 * tuplestore returned. The plan's stream scans return the batch's rows
 * through the BatchRun; a join's scans read their parts of the sides
 * (engine/join.c).
 */
static Tuplestorestate *
batch_query(Batch *bt, JoinRun **jr, TupleDesc *outdesc, DestReceiver *dest)
{
	CqDef	   *cq = bt->cq;
	PlannedStmt *plan;
	Tuplestorestate *out;
	ListCell   *lc;

	bt->run->batches = NIL;
	foreach(lc, bt->streams)
	{
		SourceBatch *b = ((BatchStream *) lfirst(lc))->batch;

		/* a join's scans read the batches by role: no other scan claims them */
		b->claimed = (cq->join != NULL);
		bt->run->batches = lappend(bt->run->batches, b);
	}
	if (cq->join)
	{
		*jr = pgs_join_begin(cq, bt->streams, bt->row.has_watermark, bt->row.watermark,
							 bt->has_watermark, bt->watermark);
		/* (a stacked join: the pairs of each of its outer joins) */
		for (int i = 0; cq->join->jointype != JOIN_INNER && i < pgs_join_npairs(*jr); i++)
		{
			TupleDesc	pdesc;
			Tuplestorestate *pairs = execute_plan(pgs_join_pairs_plan(*jr, i),
												  cq->viewname, &pdesc);

			pgs_join_matched(*jr, pairs, pdesc);
			tuplestore_end(pairs);
		}
		if (!cq->plan_unordered)
			plan = pgs_join_plan(*jr, pgs_plan_batch(cq), false, &cq->plan_unordered);
		if (cq->plan_unordered)
			plan = pgs_join_plan(*jr, pgs_plan_batch_unordered(cq), false, NULL);
	}
	else
		plan = pgs_plan_batch(cq);
	if (dest)
	{
		execute_plan_to(plan, cq->viewname, dest, outdesc);
		out = NULL;
	}
	else
		out = execute_plan(plan, cq->viewname, outdesc);
	bt->run->batches = NIL;
	return out;
}

/*
 * Where the batch's output goes: an aggregation's merge (of groups groups,
 * 0 if not known; windows final under the watermark wm, if has_wm), or the
 * view's new rows.
 */
static DestReceiver *
output_receiver(Batch *bt, int64 groups, bool has_wm, int64 wm,
				Tuplestorestate *sink_rows, Tuplestorestate *sink_deleted)
{
	if (!bt->cq->is_agg)
		return pgs_rows_receiver(bt->cq, sink_rows);
	return pgs_merge_receiver(bt->cq, groups, has_wm, wm, &bt->state_rows,
							  &bt->rows_late, sink_rows, sink_deleted);
}

/* the rows of a tuplestore into a receiver */
static void
feed_receiver(DestReceiver *dest, Tuplestorestate *ts, TupleDesc desc)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	dest->rStartup(dest, CMD_SELECT, desc);
	while (tuplestore_gettupleslot(ts, true, false, slot))
		dest->receiveSlot(slot, dest);
	dest->rShutdown(dest);
	ExecDropSingleTupleTableSlot(slot);
}

/* an aggregation's state table has never held a row */
static bool
state_is_empty(CqDef *cq)
{
	Relation	srel = table_open(cq->state_relid, AccessShareLock);
	bool		empty = RelationGetNumberOfBlocks(srel) == 0;

	table_close(srel, AccessShareLock);
	return empty;
}

/*
 * A batch with input: run the query, write its output to the view (and
 * the state), make final the windows the watermark closed, hand the rows
 * to the sink, and find the watermark the batch leaves.
 */
static void
batch_with_input(Batch *bt)
{
	CqDef	   *cq = bt->cq;
	Tuplestorestate *out;
	TupleDesc	outdesc;
	Tuplestorestate *sink_rows = NULL;
	Tuplestorestate *sink_deleted = NULL;
	DestReceiver *dest;
	JoinRun    *jr = NULL;
	DedupRun   *dedup;
	bool		agg_has_watermark = bt->row.has_watermark;
	int64		agg_wm = bt->row.watermark;
	instr_time	start;

	/*
	 * A join evicts with the watermark its input leaves: a row that cannot
	 * match any more goes (NULL-padded, if it never matched) in the batch
	 * that made that certain. Its windows are final the side's lag later.
	 */
	if (cq->join)
	{
		bt->has_watermark = advance_watermark(cq, &bt->row, bt->streams, bt->share, &bt->watermark);
		agg_wm = agg_watermark(cq, bt->row.watermark);
	}

	/* the sink's rows: new or changed ones (complete mode reads the view) */
	if (pgs_has_sink(cq) && cq->mode != OUTPUT_COMPLETE)
	{
		sink_rows = tuplestore_begin_heap(true, false, work_mem);
		if (cq->is_agg)
			sink_deleted = tuplestore_begin_heap(true, false, work_mem);
	}

	/*
	 * The output is written as the plan yields it: rows, and an
	 * aggregation's groups while its state is empty (how many come decides
	 * nothing then). Otherwise the merge walks or probes the state by how
	 * many groups there are, once they are all there. And a query calling
	 * a volatile function (which takes snapshots of its own) writes when
	 * the plan is done, so that such a function sees the view as it was
	 * before the batch, on every row.
	 */
	dedup = pgs_dedup_begin(cq, bt->row.has_watermark, bt->row.watermark);
	bt->run->dedup = dedup;
	if (bt->prerun == NULL &&
		!pgs_dedup_volatile((Node *) (cq->is_agg ? cq->batch_query : cq->query)) &&
		(!cq->is_agg || state_is_empty(cq)))
	{
		TimedReceiver *timed;
		double		span;
		double		spent;

		dest = output_receiver(bt, 0, agg_has_watermark, agg_wm, sink_rows, sink_deleted);
		timed = timed_receiver(dest);
		phase_start(&start);
		(void) batch_query(bt, &jr, &outdesc, &timed->pub);
		span = phase_ms(&start);
		/* the receiver's time was the merge's or the write's (an estimate: <= span) */
		spent = Min(timed->spent_ms, span);
		bt->run_ms += span - spent;
		*receiver_phase(bt) += spent;
		timed->pub.rDestroy(&timed->pub);
		bt->run->dedup = NULL;
	}
	else
	{
		/* (a share's query ran before the lock: batch_prerun) */
		phase_start(&start);
		out = bt->prerun ? bt->prerun : batch_query(bt, &jr, &outdesc, NULL);
		if (bt->prerun)
			outdesc = bt->prerun_desc;
		bt->prerun = NULL;
		phase_add(&bt->run_ms, &start);
		bt->run->dedup = NULL;
		phase_start(&start);
		dest = output_receiver(bt, tuplestore_tuple_count(out), agg_has_watermark, agg_wm,
							   sink_rows, sink_deleted);
		feed_receiver(dest, out, outdesc);
		tuplestore_end(out);
		phase_add(receiver_phase(bt), &start);
	}
	bt->rows_out = pgs_receiver_rows(dest);
	dest->rDestroy(dest);
	/* streams beside a windowed aggregation keep their rows (stage_side.c) */
	if (cq->stage_sides)
	{
		phase_start(&start);
		pgs_stage_sides_add(cq, bt->streams, agg_has_watermark, agg_wm, &bt->rows_late);
		phase_add(&bt->merge_ms, &start);
	}
	/* windows final under the watermark the batch ran with */
	if (bt->finalizes)
	{
		phase_start(&start);
		if (cq->stage_sides)
			(void) pgs_stage_sides_take(cq, bt->streams, agg_wm);
		/* a range side may make the windows wait (stage_side.c) */
		bt->rows_out += pgs_finalize_windows(cq, pgs_stage_hand_watermark(cq, agg_wm),
											 &bt->evicted, sink_rows);
		bt->state_rows -= bt->evicted;
		batch_retention(bt, agg_wm);
		phase_add(&bt->merge_ms, &start);
	}
	if (jr)
	{
		phase_start(&start);
		pgs_join_end(jr, &bt->rows_late);
		phase_add(&bt->merge_ms, &start);
	}
	/* not for a new global aggregate's first row: no batch of input */
	if (pgs_has_sink(cq) && bt->input == INPUT_READ)
		batch_deliver(bt, sink_rows, sink_deleted);
	bt->result = BATCH_DONE;
	if (bt->more)
		bt->wait->ms = 0;

	/* the next batch runs with the watermark this one's input moved */
	if (!cq->join)
		bt->has_watermark = advance_watermark(cq, &bt->row, bt->streams, bt->share, &bt->watermark);
	/* the keys DISTINCT has seen: evicted under it */
	if (dedup)
	{
		phase_start(&start);
		pgs_dedup_end(dedup, bt->has_watermark, bt->watermark, agg_has_watermark, agg_wm,
					  &bt->rows_late, &bt->state_rows);
		phase_add(&bt->merge_ms, &start);
	}
	if (bt->has_watermark && (!bt->row.has_watermark || bt->watermark > bt->row.watermark))
		bt->wait->ms = 0;
}

/*
 * A read that found no rows but moved its position (past records that
 * stand for no row: the markers that end Kafka transactions, messages of
 * aborted ones; or naming partitions it did not name yet): the position
 * is kept, not counted as a batch, so that the next batch does not read
 * those records again and the lag reaches 0.
 */
static void
keep_moved_positions(Batch *bt)
{
	ListCell   *lc;

	foreach(lc, bt->streams)
	{
		BatchStream *s = lfirst(lc);

		if (s->batch && s->batch->moved)
			meta_position_set(bt->viewid, s->relid, s->batch->end_position);
	}
}

/* the bookkeeping, as the extension's superuser */
static void
batch_record(Batch *bt)
{
	BatchRecord rec = {
		.view = bt->viewid,
		.started = bt->started,
		.rows_in = bt->rows_in,
		.rows_out = bt->rows_out,
		.rows_late = bt->rows_late,
		.state_rows = bt->state_rows,
		.has_watermark = bt->has_watermark,
		.watermark = bt->watermark,
		.ran_has_watermark = bt->row.has_watermark,
		.ran_watermark = bt->row.watermark,
		.read_ms = bt->read_ms,
		.run_ms = bt->run_ms,
		.merge_ms = bt->merge_ms,
		.write_ms = bt->write_ms,
		.share = bt->nshares > 1 ? bt->share : -1,
	};
	instr_time	t1;

	INSTR_TIME_SET_CURRENT(t1);
	INSTR_TIME_SUBTRACT(t1, bt->t0);
	rec.duration_ms = INSTR_TIME_GET_MILLISEC(t1);
	record_batch(&rec, bt->streams);
	/* not in REFRESH: it would hold the clean-up's locks in a user's transaction */
	if (bt->from_worker)
		cleanup_sources(bt->cq->streams);
}

/*
 * Run one batch of the query in the current transaction.
 *
 * from_worker: a stopped, failed or manual-trigger query does nothing.
 * input: INPUT_READ reads the sources; INPUT_NONE runs the query over no
 * input, without reading them (to give a new global aggregate its row);
 * INPUT_FINAL only finalizes the windows the watermark has closed. A read
 * that finds no input does that too: it is Spark's no-data batch, and it
 * counts as a batch when it finalized a window.
 * wait->ms: how long the caller may sleep before input is due, or -1; 0
 * when another batch should follow at once (more input, or a watermark
 * that moved); wait->fds: descriptors that become readable when input
 * arrives (a kafka stream's), to wake up sooner.
 */
static BatchResult
run_batch(BatchRun *run, bool from_worker, BatchInput input, BatchWait *wait,
		  CqOptions *opts_out, int share, int nshares)
{
	MemoryContext batchcxt = AllocSetContextCreate(CurrentMemoryContext,
												   "pg_stream batch",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(batchcxt);
	Batch	   *bt = palloc0(sizeof(Batch));
	PgsUser		as_owner;
	BatchResult result;
	ListCell   *lc;

	bt->run = run;
	bt->viewid = run->viewid;
	bt->from_worker = from_worker;
	bt->input = input;
	bt->wait = wait;
	bt->share = share;
	bt->nshares = nshares;
	run->share = share;
	run->nshares = nshares;
	bt->started = GetCurrentTimestamp();
	INSTR_TIME_SET_CURRENT(bt->t0);
	wait->ms = -1;
	wait->nfds = 0;

	if (batch_open(bt, opts_out))
	{
		/*
		 * From here to the output, everything that can run user code --
		 * the rewrite (row-level security), planning, the query, the
		 * aggregates' combine and final functions, the output expressions
		 * -- runs as the view's owner, as REFRESH MATERIALIZED VIEW does.
		 */
		pgs_become_owner(bt->viewid, &as_owner);
		bt->cq = load_cq(bt->viewid, &bt->row, bt->options);
		bt->finalizes = bt->cq->evicts && bt->row.has_watermark;
		batch_read(bt);
		/* a REFRESH's rows read so far, for other sessions (progress.c) */
		pgs_progress_batch(bt->rows_in, false);
		if (bt->nshares > 1)
			batch_prerun(bt);
		if (bt->nshares > 1 && !batch_lock_share(bt))
			;					/* stopped, or divided anew */
		else if (bt->rows_in == 0 && input != INPUT_NONE)
			batch_without_input(bt);
		else
			batch_with_input(bt);
		pgs_restore_user(&as_owner);

		if (bt->result == BATCH_DONE && input != INPUT_NONE)
			batch_record(bt);
		else if (bt->result == BATCH_EMPTY && input == INPUT_READ)
			keep_moved_positions(bt);
		foreach(lc, bt->streams)
		{
			SourceBatch *b = ((BatchStream *) lfirst(lc))->batch;

			if (b->rows)
				tuplestore_end(b->rows);
			if (b->chunks)
				tuplestore_end(b->chunks);
		}
	}
	if (bt->snapshot)
		PopActiveSnapshot();
	result = bt->result;
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(batchcxt);
	return result;
}

/*
 * A batch runs user code (the query's functions), which could REFRESH a
 * continuous view: a batch of the same view would read the input the
 * running one has read but not yet consumed, and apply it twice; one of
 * another view would replace the batches the running one's scans read.
 * So a batch never runs inside another one.
 */
static void
refuse_nested_batch(Oid viewid)
{
	for (BatchRun *r = pgs_batchrun_current(); r != NULL; r = r->outer)
		if (r->is_batch)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot run a batch of continuous view \"%s\" inside the batch of continuous view \"%s\"",
							get_rel_name(viewid), get_rel_name(r->viewid)),
					 errdetail("A function called by a continuous query tried to refresh a continuous view."),
					 errhint("Refresh continuous views outside their queries, or let their workers run them.")));
}

static BatchResult
run_batch_as_superuser(Oid viewid, bool from_worker, BatchInput input, BatchWait *wait,
					   CqOptions *opts_out, int share, int nshares)
{
	PgsUser		saved;
	BatchResult r;
	BatchRun	run;

	Assert(OidIsValid(viewid) && wait != NULL);
	/* the one context of the batch, for the code the executor calls */
	refuse_nested_batch(viewid);
	pgs_batchrun_push(&run, viewid, true);
	PG_TRY();
	{
		pgs_become_superuser(&saved);
		r = run_batch(&run, from_worker, input, wait, opts_out, share, nshares);
		pgs_restore_user(&saved);
	}
	PG_FINALLY();
	{
		pgs_batchrun_pop(&run);
	}
	PG_END_TRY();
	return r;
}

BatchResult
pgs_run_batch(Oid viewid, bool from_worker, BatchInput input, BatchWait *wait,
			  CqOptions *opts_out)
{
	return run_batch_as_superuser(viewid, from_worker, input, wait, opts_out, -1, 0);
}

/*
 * A worker's batch of share share of nshares of a view with parallelism
 * nshares > 1 (engine/parallel.c): BATCH_GONE when the view's parallelism
 * is no longer nshares.
 */
BatchResult
pgs_run_share_batch(Oid viewid, int share, int nshares, BatchWait *wait,
					CqOptions *opts_out)
{
	Assert(nshares > 1 && share >= 0 && share < nshares);
	return run_batch_as_superuser(viewid, true, INPUT_READ, wait, opts_out, share, nshares);
}

/*
 * Marks of the input available now in each stream of a view (a list of
 * BatchStream holding marks); or, with marks given, whether the view's
 * positions have all reached them.
 */
static List *
refresh_marks(Oid viewid, List *marks, bool *reached)
{
	List	   *positions;
	List	   *result = NIL;
	ListCell   *lc;
	PgsUser		saved;
	BatchRun	run;

	pgs_become_superuser(&saved);
	PushActiveSnapshot(GetTransactionSnapshot());
	positions = load_positions(viewid);
	*reached = true;
	pgs_batchrun_push(&run, viewid, false);	/* sources use the owner's credentials */
	PG_TRY();
	{
	foreach(lc, positions)
	{
		BatchStream *sp = lfirst(lc);
		const SourceRoutine *src = pgs_source_for_relation(sp->relid);
		Relation	rel = table_open(sp->relid, AccessShareLock);

		if (marks == NIL)
		{
			BatchStream *m = palloc0(sizeof(BatchStream));

			m->relid = sp->relid;
			m->position = src->mark(rel);
			result = lappend(result, m);
		}
		else
		{
			Jsonb	   *mark = position_of(marks, sp->relid);

			if (mark && !src->reached(rel, sp->position, mark))
				*reached = false;
		}
		table_close(rel, AccessShareLock);
	}
	}
	PG_FINALLY();
	{
		pgs_batchrun_pop(&run);
	}
	PG_END_TRY();
	PopActiveSnapshot();
	pgs_restore_user(&saved);
	return result;
}

/*
 * REFRESH MATERIALIZED VIEW of a continuous view: run batches in this
 * transaction until the input that was available when it was called is in
 * the view, and the windows its watermark closed are final. A mark of that input is taken first; each batch takes a
 * snapshot after the previous one, so it sees both the previous batch's
 * positions and anything committed since; the loop ends when every
 * position has reached its mark (or a batch finds nothing), however much
 * input keeps arriving meanwhile.
 */
void
pgs_refresh(Oid viewid)
{
	bool		reached;
	List	   *marks;
	BatchWait	wait;

	refuse_nested_batch(viewid);
	/* what it has done so far, seen by other sessions (progress.c) */
	pgs_progress_begin(viewid);
	PG_TRY();
	{
		marks = refresh_marks(viewid, NIL, &reached);
		for (;;)
		{
			BatchResult r = pgs_run_batch(viewid, false, INPUT_READ, &wait, NULL);

			CommandCounterIncrement();
			if (r != BATCH_DONE)
				break;
			pgs_progress_batch(0, true);
			(void) refresh_marks(viewid, marks, &reached);
			if (reached)
			{
				/* the windows the last batch's watermark made final (Spark's no-data batch) */
				(void) pgs_run_batch(viewid, false, INPUT_FINAL, &wait, NULL);
				CommandCounterIncrement();
				break;
			}
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		pgs_progress_end();
	}
	PG_END_TRY();
}

/*
 * stream.purge(view, before): delete the rows of the windows that ended
 * before `before` from the view and its copy, in this transaction, as a
 * batch would (engine/retention.c): under the view's lock, taken as a
 * batch takes it, so no batch runs meanwhile. `before` must not be after
 * the watermark the view finds windows final with: the windows that end
 * after it are open, and their state would write them again. A view over
 * timestamp (without time zone) compares `before` converted to timestamp
 * in the session's TimeZone, as the cast does. Returns the view's rows
 * deleted. The caller has checked that it owns the view.
 */
int64
pgs_purge(Oid viewid, TimestampTz before)
{
	CqMeta		row;
	CqDef	   *cq;
	PgsUser		saved;
	int64		wm;
	int64		cut = before;
	int64		n;
	Oid			wtype;

	refuse_nested_batch(viewid);
	/* it deletes what it reads: rows a batch changed since a snapshot too */
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("stream.purge() cannot run in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errhint("Call it in a READ COMMITTED transaction.")));
	/*
	 * A batch makes final the windows its watermark at the start closed;
	 * the watermark it ends with closes more, made final by the next. The
	 * no-data batch a REFRESH ends with does that now, so that every
	 * window up to the watermark is final, in the view and its copy,
	 * before any is deleted.
	 */
	if (pgs_view_populated(viewid))
	{
		BatchWait	wait;

		(void) pgs_run_batch(viewid, false, INPUT_FINAL, &wait, NULL);
		CommandCounterIncrement();
	}
	lock_referenced(viewid, 0);
	LockRelationOid(viewid, ExclusiveLock);
	pgs_become_superuser(&saved);
	if (!meta_cq_get(viewid, &row))
		elog(ERROR, "relation %u is not a continuous view", viewid);
	pgs_restore_user(&saved);
	if (!pgs_view_populated(viewid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("continuous view \"%s\" is not populated", get_rel_name(viewid)),
				 errhint("REFRESH MATERIALIZED VIEW it first.")));
	pgs_become_owner(viewid, &saved);
	cq = load_cq(viewid, &row, cq_options(&row));
	pgs_restore_user(&saved);
	pgs_retention_check(cq, "stream.purge()");

	/* the window column's type: timestamp, or a range of it */
	wtype = get_atttype(viewid, pgs_retention_column(cq));
	if (type_is_range(wtype))
		wtype = get_range_subtype(wtype);
	if (wtype == TIMESTAMPOID && !TIMESTAMP_NOT_FINITE(before))
		cut = DatumGetTimestamp(DirectFunctionCall1(timestamptz_timestamp,
													TimestampTzGetDatum(before)));
	wm = pgs_stage_hand_watermark(cq, agg_watermark(cq, row.watermark));
	if (!row.has_watermark || cut > wm)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot purge windows of continuous view \"%s\" that end after its watermark",
						cq->viewname),
				 row.has_watermark ?
				 errdetail("Windows that end after %s are not final: rows still come for them, and their state would write them again.",
						   wtype == TIMESTAMPOID ?
						   DatumGetCString(DirectFunctionCall1(timestamp_out, Int64GetDatum(wm))) :
						   timestamptz_to_str(wm)) :
				 errdetail("The view has no watermark yet: no window is final."),
				 errhint("Give a time at or before the watermark (stream.queries.watermark%s), or set the option retention.",
						 cq->window_lag ? ", minus the join's bound" : "")));
	PushActiveSnapshot(GetTransactionSnapshot());
	n = pgs_retention_delete(cq, cut);
	PopActiveSnapshot();
	return n;
}

/*
 * stream._lag(view): input rows not yet read by the query, where its
 * sources can tell.
 */
Datum
stream_lag(PG_FUNCTION_ARGS)
{
	Oid			viewid = PG_GETARG_OID(0);
	List	   *positions;
	ListCell   *lc;
	int64		total = 0;
	bool		known = false;
	PgsUser		saved;
	BatchRun	run;

	/* as stream.queries shows it: to the owner's roles and pg_read_all_stats */
	if (!meta_cq_exists(viewid) || !pgs_may_monitor(viewid))
		PG_RETURN_NULL();
	pgs_become_superuser(&saved);
	positions = load_positions(viewid);
	pgs_restore_user(&saved);
	pgs_batchrun_push(&run, viewid, false);
	PG_TRY();
	{
	foreach(lc, positions)
	{
		BatchStream *sp = lfirst(lc);
		const SourceRoutine *src = pgs_source_for_relation(sp->relid);
		Relation	rel;
		int64		n;

		if (src == NULL || src->lag == NULL)
			continue;
		rel = table_open(sp->relid, AccessShareLock);
		n = src->lag(rel, sp->position);
		table_close(rel, AccessShareLock);
		if (n >= 0)
		{
			total += n;
			known = true;
		}
	}
	}
	PG_FINALLY();
	{
		pgs_batchrun_pop(&run);
	}
	PG_END_TRY();
	if (!known)
		PG_RETURN_NULL();
	PG_RETURN_INT64(total);
}

/*
 * stream.explain(view): the plan a batch of the view runs, as EXPLAIN
 * shows it. Planned as a batch plans it (as the view's owner, the
 * aggregation partial), over no batch: each stream is estimated at 1000
 * rows, and the executor only initialises the plan (EXPLAIN's
 * EXEC_FLAG_EXPLAIN_ONLY, under which a stream's scan reads nothing), so
 * no input is read or consumed and no state changes. There is no ANALYZE:
 * running the plan would need a batch of input, and what batches take is
 * in stream.progress. A join of two streams shows its query before the
 * batch splits it into new rows against the state (engine/join.c), which
 * needs the batch's rows. Only for the roles with the privileges of the
 * view's owner: the plan names what its query reads, under the owner's
 * row-level security.
 */
Datum
stream_explain(PG_FUNCTION_ARGS)
{
	Oid			viewid = PG_GETARG_OID(0);
	CqMeta		row;
	CqDef	   *cq;
	PlannedStmt *plan;
	QueryDesc  *qd;
	ExplainState *es;
	PgsUser		saved;
	PgsUser		as_owner;
	bool		found;
	char	   *name;

	/* the rights first: no lock is taken for a role that may not see it */
	name = get_rel_name(viewid);
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", viewid)));
	if (!pgs_may_monitor_all(viewid))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to explain continuous view \"%s\"", name),
				 errdetail("Only roles with the privileges of the view's owner may see the plan of its batches.")));
	/* a DROP waits for the plan */
	LockRelationOid(viewid, AccessShareLock);
	pgs_become_superuser(&saved);
	found = SearchSysCacheExists1(RELOID, ObjectIdGetDatum(viewid)) &&
		meta_cq_get(viewid, &row);
	pgs_restore_user(&saved);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a continuous view", name)));

	pgs_become_owner(viewid, &as_owner);
	PushActiveSnapshot(GetTransactionSnapshot());
	cq = load_cq(viewid, &row, cq_options(&row));
	plan = pgs_plan_batch(cq);
	es = NewExplainState();
	es->format = EXPLAIN_FORMAT_TEXT;
	qd = CreateQueryDesc(plan, cq->viewname, GetActiveSnapshot(), InvalidSnapshot,
						 None_Receiver, NULL, NULL, 0);
	ExecutorStart(qd, EXEC_FLAG_EXPLAIN_ONLY);
	ExplainBeginOutput(es);
	ExplainPrintPlan(es, qd);
	ExplainEndOutput(es);
	ExecutorEnd(qd);
	FreeQueryDesc(qd);
	PopActiveSnapshot();
	pgs_restore_user(&as_owner);
	/* EXPLAIN's lines, without the last one's newline */
	if (es->str->len > 0 && es->str->data[es->str->len - 1] == '\n')
		es->str->data[--es->str->len] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(es->str->data));
}
