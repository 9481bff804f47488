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
 * first, as DROP ... CASCADE does (lock_referenced).
 *
 * Everything that can run user code -- the rewrite, planning, the query,
 * the aggregates' functions, the output expressions -- runs with the
 * privileges of the view's owner, under SECURITY_RESTRICTED_OPERATION,
 * like REFRESH MATERIALIZED VIEW; the bookkeeping in stream.* runs as the
 * bootstrap superuser (pgs_become_superuser).
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
#include "executor/executor.h"
#include "executor/tstoreReceiver.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "tcop/utility.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(stream_lag);

/* the query's row of stream.cq, as a batch uses it (meta_cq_get) */
typedef struct CqRow
{
	bool		enabled;
	bool		failed;
	Oid			state_table;
	Oid			rows_table;
	int64		state_rows;
	int64		batches;
	List	   *options;
	bool		has_watermark;	/* the watermark the batch runs with */
	int64		watermark;
} CqRow;

typedef struct StreamPos
{
	Oid			relid;
	Jsonb	   *position;
	bool		has_max_time;	/* the latest event time read, if any */
	int64		max_time;
	Oid			join_state;		/* a join's state of this side, if any */
	int64		state_rows;
} StreamPos;

static TimestampTz last_cleanup = 0;

/*------------------------------------------------------------------------
 * Catalog access (meta/; results in the caller's context)
 *------------------------------------------------------------------------
 */
static bool
load_cq_row(Oid viewid, CqRow *row)
{
	CqMeta		m;

	if (!meta_cq_get(viewid, &m))
		return false;
	row->enabled = m.enabled;
	row->failed = m.failed;
	row->state_table = m.state_table;
	row->state_rows = m.last_state_rows;
	row->options = m.options ? pgs_options_from_array(PointerGetDatum(m.options)) : NIL;
	row->rows_table = m.rows_table;
	row->batches = m.batches;
	row->has_watermark = m.has_watermark;
	row->watermark = m.watermark;
	return true;
}

/* the analysed query of a view, with its tables */
static CqDef *
load_cq(Oid viewid, CqRow *row)
{
	CqDef	   *cq = pgs_load_cq(viewid, row->options);

	cq->state_relid = row->state_table;
	cq->rows_relid = row->rows_table;
	return cq;
}

/* The options of a continuous view, as DefElems */
List *
pgs_cq_options(Oid viewid)
{
	CqRow		row;

	if (!load_cq_row(viewid, &row))
		elog(ERROR, "relation %u is not a continuous view", viewid);
	return row.options;
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
		StreamPos  *sp = palloc(sizeof(StreamPos));

		sp->relid = p->stream;
		sp->position = p->position;
		sp->max_time = p->max_event_time;
		sp->has_max_time = p->has_max_event_time;
		sp->join_state = p->join_state;
		sp->state_rows = p->state_rows;
		result = lappend(result, sp);
	}
	list_free_deep(rows);
	return result;
}

static StreamPos *
stream_pos_of(List *positions, Oid relid)
{
	ListCell   *lc;

	foreach(lc, positions)
	{
		StreamPos  *sp = lfirst(lc);

		if (sp->relid == relid)
			return sp;
	}
	return NULL;
}

static Jsonb *
position_of(List *positions, Oid relid)
{
	StreamPos  *sp = stream_pos_of(positions, relid);

	return sp ? sp->position : NULL;
}

static char *
jsonb_text(Jsonb *jb)
{
	return jb ? JsonbToCString(NULL, &jb->root, VARSIZE(jb)) : NULL;
}

/*
 * Recording a batch, in phases over rec (meta/meta.h's BatchRecord). The
 * first: the new position in each stream; and from the sources' batches,
 * what the progress row shows of them (the positions before and after,
 * by stream name), the records that went to stream.errors, and the rows
 * of the joins' state added to the view's.
 */
static void
record_positions(BatchRecord *rec, List *batches)
{
	ListCell   *lc;
	StringInfoData startpos,
				endpos;

	initStringInfo(&startpos);
	initStringInfo(&endpos);
	appendStringInfoChar(&startpos, '{');
	appendStringInfoChar(&endpos, '{');
	foreach(lc, batches)
	{
		SourceBatch *b = lfirst(lc);
		char	   *relname = get_rel_name(b->relid);
		PositionRow pos = {0};

		pos.view = rec->view;
		pos.stream = b->relid;
		pos.position = b->end_position;
		pos.has_max_event_time = b->has_max_time;
		pos.max_event_time = b->max_time;
		pos.state_rows = b->join_state_rows;
		rec->state_rows += b->join_state_rows;
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
record_batch(BatchRecord *rec, List *batches)
{
	record_positions(rec, batches);
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
static Tuplestorestate *
execute_plan(PlannedStmt *plan, const char *name, TupleDesc *desc)
{
	Tuplestorestate *ts = tuplestore_begin_heap(false, false, work_mem);
	DestReceiver *dest = CreateDestReceiver(DestTuplestore);
	QueryDesc  *qd;

	SetTuplestoreDestReceiverParams(dest, ts, CurrentMemoryContext, false,
									NULL, NULL);
	qd = CreateQueryDesc(plan, name, GetActiveSnapshot(), InvalidSnapshot,
						 dest, NULL, NULL, 0);
	ExecutorStart(qd, 0);
	*desc = CreateTupleDescCopy(qd->tupDesc);
	ExecutorRun(qd, ForwardScanDirection, 0, true);
	ExecutorFinish(qd);
	ExecutorEnd(qd);
	FreeQueryDesc(qd);
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
	CqRow		row;
	CqDef	   *cq;
	PgsUser		saved;
	PgsUser		as_owner;

	pgs_become_superuser(&saved);
	if (!load_cq_row(viewid, &row))
		elog(ERROR, "relation %u is not a continuous view", viewid);
	pgs_restore_user(&saved);

	/* the aggregates' final functions and the output are user code */
	pgs_become_owner(viewid, &as_owner);
	cq = load_cq(viewid, &row);
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
 * no event time yet. Fills in each batch's latest event time.
 */
static bool
advance_watermark(CqDef *cq, CqRow *row, List *positions, List *batches,
				  int64 *watermark)
{
	bool		known = (cq->wm_streams != NIL);
	int64		least = PG_INT64_MAX;
	ListCell   *lc;

	foreach(lc, batches)
	{
		SourceBatch *b = lfirst(lc);
		StreamPos  *sp = stream_pos_of(positions, b->relid);
		ListCell   *lc2;

		b->has_max_time = sp && sp->has_max_time;
		b->max_time = b->has_max_time ? sp->max_time : 0;
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

				if (pgs_batch_max_time(b, RelationGetDescr(rel), t->attno, &m) &&
					(!b->has_max_time || m > b->max_time))
				{
					b->max_time = m;
					b->has_max_time = true;
				}
				table_close(rel, AccessShareLock);
			}
			if (!b->has_max_time)
				known = false;
			else
			{
				if (pg_sub_s64_overflow(b->max_time, t->delay, &w))
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
		  CqOptions *opts_out)
{
	Oid			viewid = run->viewid;
	MemoryContext batchcxt = AllocSetContextCreate(CurrentMemoryContext,
												   "pg_stream batch",
												   ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(batchcxt);
	CqRow		row;
	CqDef	   *cq;
	List	   *positions;
	List	   *batches = NIL;
	ListCell   *lc;
	int64		rows_in = 0;
	int64		rows_out = 0;
	int64		rows_late = 0;
	int64		evicted = 0;
	bool		more = false;
	BatchResult result;
	CqOptions	opts;
	PgsUser		as_owner;
	int64		state_rows;
	bool		has_watermark = false;
	int64		watermark = 0;
	bool		finalizes;
	TimestampTz started = GetCurrentTimestamp();
	instr_time	t0,
				t1;

	wait->ms = -1;
	wait->nfds = 0;
	INSTR_TIME_SET_CURRENT(t0);

	lock_referenced(viewid, 0);
	LockRelationOid(viewid, ExclusiveLock);
	/* gone; or restored and not refreshed yet (see ddl.c) */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(viewid)) ||
		!pgs_view_populated(viewid))
	{
		MemoryContextSwitchTo(oldcxt);
		MemoryContextDelete(batchcxt);
		return BATCH_GONE;
	}
	PushActiveSnapshot(GetTransactionSnapshot());

	state_rows = 0;
	if (!load_cq_row(viewid, &row) ||
		(from_worker && (!row.enabled || row.failed)))
	{
		result = BATCH_GONE;
		goto done;
	}
	state_rows = row.state_rows;
	run->batch_id = row.batches + 1;
	pgs_parse_options(row.options, &opts);
	if (opts_out)
		*opts_out = opts;
	if (from_worker && opts.trigger == TRIGGER_MANUAL)
	{
		result = BATCH_EMPTY;
		goto done;
	}
	positions = load_positions(viewid);

	/*
	 * From here to the output, everything that can run user code -- the
	 * rewrite (row-level security), planning, the query, the aggregates'
	 * combine and final functions, the output expressions -- runs as the
	 * view's owner, as REFRESH MATERIALIZED VIEW does.
	 */
	pgs_become_owner(viewid, &as_owner);

	cq = load_cq(viewid, &row);
	finalizes = cq->evicts && row.has_watermark;

	/* read every source after its position, for this view */
	foreach(lc, cq->streams)
	{
		Oid			relid = lfirst_oid(lc);
		const SourceRoutine *src = pgs_source_for_relation(relid);
		Relation	rel = table_open(relid, AccessShareLock);
		SourceBatch *b = palloc0(sizeof(SourceBatch));
		Jsonb	   *pos = position_of(positions, relid);

		if (pos == NULL)
			elog(ERROR, "continuous view \"%s\" has no position in stream \"%s\"",
				 cq->viewname, RelationGetRelationName(rel));
		b->relid = relid;
		b->join_state = stream_pos_of(positions, relid)->join_state;
		b->join_state_rows = stream_pos_of(positions, relid)->state_rows;
		/* the total of the last batch: here, the aggregation's own */
		state_rows -= b->join_state_rows;
		if (input != INPUT_READ)
		{
			/* over no input: the sources are not even asked */
			b->rows = tuplestore_begin_heap(false, false, work_mem);
			b->start_position = b->end_position = pos;
			b->wait_ms = -1;
		}
		else
			src->read(rel, pos, cq->opts.max_batch_rows, b);
		table_close(rel, NoLock);
		rows_in += b->nrows;
		more |= b->more;
		if (b->wait_ms >= 0 && (wait->ms < 0 || b->wait_ms < wait->ms))
			wait->ms = b->wait_ms;
		if (b->has_wait_fd && wait->nfds < PGS_MAX_WAIT_FDS)
			wait->fds[wait->nfds++] = b->wait_fd;
		batches = lappend(batches, b);
	}

	if (rows_in == 0 && input != INPUT_NONE)
	{
		/* no input: a no-data batch, if the watermark has closed windows */
		Tuplestorestate *sink_rows = NULL;

		result = BATCH_EMPTY;
		if (finalizes)
		{
			if (pgs_has_sink(cq) && cq->mode == OUTPUT_APPEND)
				sink_rows = tuplestore_begin_heap(true, false, work_mem);
			rows_out = pgs_finalize_windows(cq, agg_watermark(cq, row.watermark), &evicted,
										sink_rows);
			if (evicted > 0)
			{
				result = BATCH_DONE;
				state_rows -= evicted;
				if (pgs_has_sink(cq) && rows_out > 0)
				{
					CommandCounterIncrement();
					pgs_sink_deliver(cq, row.batches + 1, sink_rows, NULL);
				}
			}
		}
		/* unchanged without input; and it carries the streams' latest event times */
		has_watermark = advance_watermark(cq, &row, positions, batches, &watermark);
	}
	else
	{
		PlannedStmt *plan;
		Tuplestorestate *out;
		TupleDesc	outdesc;
		Tuplestorestate *sink_rows = NULL;
		Tuplestorestate *sink_deleted = NULL;
		JoinRun    *jr = NULL;
		CqRow		aggrow = row;

		/*
		 * A join evicts with the watermark its input leaves: a row that
		 * cannot match any more goes (NULL-padded, if it never matched)
		 * in the batch that made that certain. Its windows are final
		 * the side's lag later.
		 */
		if (cq->join)
		{
			has_watermark = advance_watermark(cq, &row, positions, batches, &watermark);
			aggrow.watermark = agg_watermark(cq, row.watermark);
		}
		/* the scans of the batch plan return what was read */
		run->batches = batches;
		if (cq->join)
		{
			jr = pgs_join_begin(cq, batches, row.has_watermark, row.watermark,
								has_watermark, watermark);
			if (cq->join->jointype != JOIN_INNER)
			{
				TupleDesc	pdesc;
				Tuplestorestate *pairs = execute_plan(pgs_join_pairs_plan(jr),
													  cq->viewname, &pdesc);

				pgs_join_matched(jr, pairs, pdesc);
				tuplestore_end(pairs);
			}
			plan = pgs_join_plan(jr, pgs_plan_batch(cq), false);
		}
		else
			plan = pgs_plan_batch(cq);
		out = execute_plan(plan, cq->viewname, &outdesc);
		run->batches = NIL;

		/* the sink's rows: new or changed ones (complete mode reads the view) */
		if (pgs_has_sink(cq) && cq->mode != OUTPUT_COMPLETE)
		{
			sink_rows = tuplestore_begin_heap(true, false, work_mem);
			if (cq->is_agg)
				sink_deleted = tuplestore_begin_heap(true, false, work_mem);
		}
		if (cq->is_agg)
			rows_out = pgs_merge_groups(cq, out, outdesc, aggrow.has_watermark,
									   aggrow.watermark, &state_rows, &rows_late,
									   sink_rows, sink_deleted);
		else
			rows_out = pgs_write_rows(cq, out, outdesc, sink_rows);
		tuplestore_end(out);
		/* windows final under the watermark the batch ran with */
		if (finalizes)
		{
			rows_out += pgs_finalize_windows(cq, aggrow.watermark, &evicted, sink_rows);
			state_rows -= evicted;
		}
		if (jr)
			pgs_join_end(jr, &rows_late);
		/* not for a new global aggregate's first row: no batch of input */
		if (pgs_has_sink(cq) && input == INPUT_READ)
		{
			CommandCounterIncrement();
			pgs_sink_deliver(cq, row.batches + 1, sink_rows, sink_deleted);
		}
		result = BATCH_DONE;
		if (more)
			wait->ms = 0;

		/* the next batch runs with the watermark this one's input moved */
		if (!cq->join)
			has_watermark = advance_watermark(cq, &row, positions, batches, &watermark);
		if (has_watermark && (!row.has_watermark || watermark > row.watermark))
			wait->ms = 0;
	}
	pgs_restore_user(&as_owner);

	/* bookkeeping, as the extension's superuser again */
	if (result == BATCH_DONE && input != INPUT_NONE)
	{
		BatchRecord rec = {
			.view = viewid,
			.started = started,
			.rows_in = rows_in,
			.rows_out = rows_out,
			.rows_late = rows_late,
			.state_rows = state_rows,
			.has_watermark = has_watermark,
			.watermark = watermark,
			.ran_has_watermark = row.has_watermark,
			.ran_watermark = row.watermark,
		};

		INSTR_TIME_SET_CURRENT(t1);
		INSTR_TIME_SUBTRACT(t1, t0);
		rec.duration_ms = INSTR_TIME_GET_MILLISEC(t1);
		record_batch(&rec, batches);
		/* not in REFRESH: it would hold the clean-up's locks in a user's transaction */
		if (from_worker)
			cleanup_sources(cq->streams);
	}
	foreach(lc, batches)
	{
		SourceBatch *b = lfirst(lc);

		if (b->rows)
			tuplestore_end(b->rows);
		if (b->chunks)
			tuplestore_end(b->chunks);
	}

done:
	PopActiveSnapshot();
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

BatchResult
pgs_run_batch(Oid viewid, bool from_worker, BatchInput input, BatchWait *wait,
			  CqOptions *opts_out)
{
	PgsUser		saved;
	BatchResult r;
	BatchRun	run;

	/* the one context of the batch, for the code the executor calls */
	refuse_nested_batch(viewid);
	pgs_batchrun_push(&run, viewid, true);
	PG_TRY();
	{
		pgs_become_superuser(&saved);
		r = run_batch(&run, from_worker, input, wait, opts_out);
		pgs_restore_user(&saved);
	}
	PG_FINALLY();
	{
		pgs_batchrun_pop(&run);
	}
	PG_END_TRY();
	return r;
}

/*
 * Marks of the input available now in each stream of a view (a list of
 * StreamPos holding marks); or, with marks given, whether the view's
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
		StreamPos  *sp = lfirst(lc);
		const SourceRoutine *src = pgs_source_for_relation(sp->relid);
		Relation	rel = table_open(sp->relid, AccessShareLock);

		if (marks == NIL)
		{
			StreamPos  *m = palloc(sizeof(StreamPos));

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
	marks = refresh_marks(viewid, NIL, &reached);

	for (;;)
	{
		BatchResult r = pgs_run_batch(viewid, false, INPUT_READ, &wait, NULL);

		CommandCounterIncrement();
		if (r != BATCH_DONE)
			return;
		(void) refresh_marks(viewid, marks, &reached);
		if (reached)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	/* the windows the last batch's watermark made final (Spark's no-data batch) */
	(void) pgs_run_batch(viewid, false, INPUT_FINAL, &wait, NULL);
	CommandCounterIncrement();
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
		StreamPos  *sp = lfirst(lc);
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
