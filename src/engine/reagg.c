/*-------------------------------------------------------------------------
 *
 * reagg.c
 *	  A query over an aggregation without a window, in update mode: an
 *	  aggregation of an aggregation (Nexmark q4, the average closing
 *	  price per category of the max bid per auction), recomputed.
 *
 * Without a window, the aggregation's groups are never final: a group's
 * row changes whenever a batch brings it rows. A query over it is exact
 * only with retraction, Flink's way: in update mode, when an inner group's
 * row changes, what the outer query computed from its old row is taken
 * out and what it computes from the new one put in. Here that is done by
 * recomputing: after a batch has merged its groups into the aggregation's
 * state (engine/merge.c, as for any aggregation; the state table is the
 * view's), every group's row is finalized from the state, the levels
 * above (stage 2, engine/stage.c) are run over all of them by
 * PostgreSQL's planner and executor, and the view is brought to that
 * result: rows that are no longer in it are deleted, rows new to it
 * inserted, rows that did not change left alone (rows are compared by
 * their binary images, a multiset). So the view is, after every batch,
 * the query run over the aggregation's result, whatever the query above
 * computes (any aggregate, window function, join of the aggregation
 * with itself, filter): exact by construction, and the old row of a
 * changed outer group goes out as a new one comes in. A batch that
 * changes no row of the aggregation (a bid below its auction's max: the
 * state changed, its final row did not; engine/merge.c compares each
 * merged group's row before and after, by images) computes nothing
 * above: over the same rows the query gives the same result, unless it
 * reads a table or calls a function that is not immutable (above or in
 * the aggregation's output), which it then does anyway.
 *
 * The other semantics, an inner group made final by a bound the join
 * proves (after the watermark passes an auction's expiry no bid joins
 * it) and an append-mode aggregation of final inner rows, would keep the
 * outer state small and the work per batch in what the batch touches, but
 * holds only for inner groups keyed by a joined row with such a bound;
 * the retraction semantics holds for any aggregation.
 *
 * The cost: each batch that changes a row of the aggregation reads its
 * whole state and the view (not only the outer groups it touched): its
 * work grows with the inner groups, which an aggregation without a
 * window never evicts; and each merged group is finalized twice (before
 * and after), to tell. The view has no state of its own: pg_dump dumps
 * the aggregation's state table, and a restore computes the view again
 * from it (pgs_rebuild_from_state). The common shape (one GROUP BY of
 * count, sum and avg of integers and numeric) goes by deltas instead,
 * with an outer state of sums and counts: engine/reagg_delta.c, whose
 * work follows the groups a batch touched.
 *
 * Refused, with a hint: output modes other than update (append needs a
 * window; complete is the same table, and the sinks get the changes in
 * update mode only), sinks (a table sink upserts by the view's group key,
 * which these rows need not have), parallelism, ORDER BY and LIMIT above
 * the aggregation, and an aggregation without GROUP BY under it (a
 * single row: compute over it in the view itself).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "engine/cq.h"
#include "engine/engine.h"
#include "sinks/sinks.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "port/pg_bitutils.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/tuplesort.h"
#include "utils/tuplestore.h"

/* the first natts values of from, as a virtual tuple in to */
static void
copy_row(TupleTableSlot *from, TupleTableSlot *to, int natts)
{
	slot_getallattrs(from);
	ExecClearTuple(to);
	memcpy(to->tts_values, from->tts_values, sizeof(Datum) * natts);
	memcpy(to->tts_isnull, from->tts_isnull, sizeof(bool) * natts);
	ExecStoreVirtualTuple(to);
}

/* ORDER BY and LIMIT in q or the subqueries of its FROM */
static void
check_levels(Query *q)
{
	ListCell   *lc;

	if (q->sortClause)
		pgs_reject("ORDER BY over an aggregation",
				   "A view is a table and has no order; apply ORDER BY when reading the view.");
	if (q->limitCount || q->limitOffset)
		pgs_reject("LIMIT or OFFSET over an aggregation",
				   "Apply LIMIT when reading the view: SELECT ... FROM view ORDER BY ... LIMIT n.");
	if (q->rowMarks)
		pgs_reject("FOR UPDATE or FOR SHARE", NULL);
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_SUBQUERY)
			check_levels(rte->subquery);
	}
}

/*
 * Does q read a table (in FROM, a sub-SELECT, anywhere)? Not the OLD and
 * NEW entries of a view's rule (PostgreSQL 15 keeps them), not in FROM.
 */
static bool
reads_relation_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
		return ((RangeTblEntry *) node)->rtekind == RTE_RELATION &&
			((RangeTblEntry *) node)->inFromCl;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, reads_relation_walker, context,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, reads_relation_walker, context);
}

/*
 * At CREATE and ALTER: a query over an aggregation without a window (cq,
 * analysed in update mode) runs in update mode, recomputed (above).
 */
void
pgs_reagg_check(CqDef *cq, Query *top)
{
	if (cq->opts.output_mode == OUTPUT_APPEND)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("output mode \"append\" of a query over an aggregation needs the aggregation to be by a window"),
				 errdetail("Without a window the aggregation's rows are never final: they change with every batch, and the query over them with them."),
				 errhint("Use output_mode 'update' (the default), or group the inner query by stream.tumble(ts, ...) on a stream with a watermark.")));
	if (cq->opts.output_mode == OUTPUT_COMPLETE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("output mode \"complete\" of a query over an aggregation without a window is not supported"),
				 errdetail("The view holds the whole result after every batch in update mode already."),
				 errhint("Use output_mode 'update' (the default).")));
	if (cq->nkeys == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a query over an aggregation without GROUP BY is not supported in a continuous view"),
				 errdetail("The aggregation has a single row."),
				 errhint("Compute over it in the view itself: SELECT f(count(*)) FROM s.")));
	if (pgs_has_sink(cq))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a sink of a query over an aggregation without a window is not supported"),
				 errdetail("Its rows change by retraction (an old row deleted, a new one inserted), and a sink upserts by the group key of the aggregation that feeds it."),
				 errhint("Read the view, or aggregate by a window: a query over a windowed aggregation writes each row once, to its sink too.")));
	if (cq->opts.parallelism > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("option \"parallelism\" cannot be greater than 1 for a query over an aggregation without a window"),
				 errdetail("Each batch computes the query over the whole aggregation."),
				 errhint("Give parallelism = 1.")));
	if (cq->stage_sides != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a stream joined with an aggregation without a window is not supported"),
				 errdetail("Without a window the aggregation's rows are never final: each of the stream's rows would be kept forever, to join every new row of its group."),
				 errhint("Join the stream inside the aggregation, or group the aggregation by stream.tumble(ts, ...) on a stream with a watermark and join the stream on that window.")));
	check_levels(top);
	cq->stage_update = true;

	/*
	 * Over the same rows it computes the same result: skipped if none
	 * changed. Not if it reads a table, nor if it, or the aggregation's
	 * output (computed again for every group, changed or not), calls a
	 * function that is not immutable: a stable one (now(), one reading a
	 * table) gives the same result within a batch only, not across them.
	 */
	cq->stage_skips = !reads_relation_walker((Node *) top, NULL) &&
		!contain_mutable_functions((Node *) top) &&
		!contain_mutable_functions((Node *) cq->final_tlist) &&
		!contain_mutable_functions((Node *) cq->final_having);

	/* the common shape, by deltas (engine/reagg_delta.c) */
	cq->stage_delta = cq->stage_skips ? pgs_delta_shape(top) : NULL;
}

/*
 * Before a group's merge (engine/merge.c): its row of the aggregation as it
 * was, copied into the row's per-group memory; NULL if HAVING rejected it.
 */
MinimalTuple
pgs_reagg_row_before(AggMerger *m, FinalRow *fr, int nkeys, Datum *keys, bool *keynulls,
					 Datum *stored, bool *stored_null)
{
	MinimalTuple t = NULL;

	ExecClearTuple(fr->fslot);
	aggmerger_finalize(m, stored, stored_null, fr->fslot->tts_values + nkeys,
					   fr->fslot->tts_isnull + nkeys);
	if (final_row_project(fr, nkeys, keys, keynulls))
	{
		MemoryContext old = MemoryContextSwitchTo(fr->econtext->ecxt_per_tuple_memory);

		t = ExecCopySlotMinimalTuple(fr->vslot);
		MemoryContextSwitchTo(old);
	}
	aggmerger_reset(m);
	return t;
}

/*
 * After it (fr->fslot holding the new final values): whether its row
 * differs from before's, by binary images, or HAVING changed its mind.
 */
bool
pgs_reagg_row_changed(FinalRow *fr, int nkeys, Datum *keys, bool *keynulls,
					  MinimalTuple before)
{
	TupleDesc	desc = fr->vslot->tts_tupleDescriptor;
	MemoryContext old;
	HeapTupleData tup;
	Datum	   *values;
	bool	   *nulls;
	bool		changed = false;

	if (!final_row_project(fr, nkeys, keys, keynulls))
		return before != NULL;
	if (before == NULL)
		return true;
	old = MemoryContextSwitchTo(fr->econtext->ecxt_per_tuple_memory);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	tup.t_len = before->t_len + MINIMAL_TUPLE_OFFSET;
	tup.t_data = (HeapTupleHeader) ((char *) before - MINIMAL_TUPLE_OFFSET);
	heap_deform_tuple(&tup, desc, values, nulls);
	slot_getallattrs(fr->vslot);
	for (int i = 0; i < desc->natts && !changed; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		changed = nulls[i] != fr->vslot->tts_isnull[i] ||
			(!nulls[i] && !datum_image_eq(values[i], fr->vslot->tts_values[i],
										  att->attbyval, att->attlen));
	}
	MemoryContextSwitchTo(old);
	return changed;
}

static uint32
row_hash(TupleTableSlot *slot, int natts)
{
	uint32		h = 0;

	slot_getallattrs(slot);
	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(slot->tts_tupleDescriptor, i);

		h = pg_rotate_left32(h, 1);
		if (!slot->tts_isnull[i])
			h ^= datum_image_hash(slot->tts_values[i], att->attbyval, att->attlen);
		else
			h ^= 0x9e3779b9;
	}
	return h;
}

/* values from..natts - 1 the same, image by image (1.0 and 1.00 differ: a view shows both) */
static bool
row_equal(TupleTableSlot *a, TupleTableSlot *b, int from, int natts)
{
	slot_getallattrs(a);
	slot_getallattrs(b);
	for (int i = from; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(a->tts_tupleDescriptor, i);

		if (a->tts_isnull[i] != b->tts_isnull[i])
			return false;
		if (!a->tts_isnull[i] &&
			!datum_image_eq(a->tts_values[i], b->tts_values[i], att->attbyval, att->attlen))
			return false;
	}
	return true;
}

/* two rows of one descriptor, the same image by image */
bool
pgs_reagg_rows_equal(TupleTableSlot *a, TupleTableSlot *b)
{
	return row_equal(a, b, 0, a->tts_tupleDescriptor->natts);
}

/* the aggregation's rows, every group's, finalized from its state */
Tuplestorestate *
pgs_reagg_inner_rows(CqDef *cq, TupleDesc *rowdesc)
{
	Relation	srel = table_open(cq->state_relid, AccessShareLock);
	Relation	vrel = table_open(cq->viewid, AccessShareLock);
	EState	   *estate = CreateExecutorState();
	TupleTableSlot *in = table_slot_create(srel, NULL);
	TableScanDesc scan = table_beginscan(srel, GetActiveSnapshot(), 0, NULL);
	AggMerger  *merger = NULL;
	Tuplestorestate *rows = tuplestore_begin_heap(false, false, work_mem);
	int			nkeys = cq->nkeys;
	FinalRow	fr;

	final_row_init(&fr, cq, RelationGetDescr(srel), vrel, estate);
	*rowdesc = CreateTupleDescCopy(fr.vslot->tts_tupleDescriptor);
	while (table_scan_getnextslot(scan, ForwardScanDirection, in))
	{
		if (merger == NULL)
		{
			/* the aggregates' state types are resolved by planning */
			if (!cq->planned)
				(void) pgs_plan_batch(cq);
			merger = aggmerger_create(cq, CurrentMemoryContext);
		}
		slot_getallattrs(in);
		ExecClearTuple(fr.fslot);
		aggmerger_finalize(merger, in->tts_values + nkeys, in->tts_isnull + nkeys,
						   fr.fslot->tts_values + nkeys, fr.fslot->tts_isnull + nkeys);
		/* HAVING: a group it rejects has no row */
		if (final_row_project(&fr, nkeys, in->tts_values, in->tts_isnull))
			tuplestore_puttupleslot(rows, fr.vslot);
		aggmerger_reset(merger);
		ResetExprContext(fr.econtext);
	}
	table_endscan(scan);
	final_row_end(&fr);
	ExecDropSingleTupleTableSlot(in);
	FreeExecutorState(estate);
	table_close(vrel, NoLock);
	table_close(srel, NoLock);
	return rows;
}

/*
 * The view brought to a result, as multisets of binary images: rows of
 * the view that the result does not hold (once for each time) deleted,
 * rows of the result the view does not hold inserted, the others left
 * alone. Neither side is held in memory: each is sorted by its rows'
 * hash (a tuplesort, which spills past work_mem), and the two are walked
 * together, one hash at a time; only the rows of one hash are paired in
 * memory. The inserts wait in a tuplestore until every delete is done,
 * as a unique index on the view would need. Returns the rows deleted and
 * inserted.
 */
#define SORT_HASH	1			/* the sort tuples: hash, the view row's tid, the row */
#define SORT_TID	2
#define SORT_ROW	3

typedef struct RunRow
{
	MinimalTuple tup;
	bool		paired;
} RunRow;

/* the next tuple of a sorted side into slot, or false at its end */
static bool
sorted_next(Tuplesortstate *ts, TupleTableSlot *slot, int32 *hash)
{
	bool		isnull;

	if (!tuplesort_gettupleslot(ts, true, false, slot, NULL))
		return false;
	*hash = DatumGetInt32(slot_getattr(slot, SORT_HASH, &isnull));
	return true;
}

/* the rows of one hash, from slot on, into run; false once the side ends */
static bool
sorted_run(Tuplesortstate *ts, TupleTableSlot *slot, int32 hash, int32 *next,
		   List **run)
{
	for (;;)
	{
		RunRow	   *r = palloc(sizeof(RunRow));

		r->tup = ExecCopySlotMinimalTuple(slot);
		r->paired = false;
		*run = lappend(*run, r);
		if (!sorted_next(ts, slot, next))
			return false;
		if (*next != hash)
			return true;
	}
}

static int64
bring_view_to(Relation vrel, Tuplestorestate *result, TupleDesc resultdesc)
{
	TupleDesc	vdesc = RelationGetDescr(vrel);
	int			natts = vdesc->natts;
	TupleDesc	sdesc = CreateTemplateTupleDesc(natts + SORT_ROW - 1);
	AttrNumber	sortcol = SORT_HASH;
	Oid			sortop = Int4LessOperator;
	Oid			sortcoll = InvalidOid;
	bool		nullsfirst = false;
	Tuplesortstate *rsort;
	Tuplesortstate *vsort;
	Tuplestorestate *inserts = tuplestore_begin_heap(false, false, work_mem);
	MemoryContext runcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream reagg run",
												 ALLOCSET_DEFAULT_SIZES);
	EState	   *estate = CreateExecutorState();
	KeyedStore *vw;
	TupleTableSlot *oslot;
	TupleTableSlot *vslot;
	TupleTableSlot *sslot;
	TupleTableSlot *rslot;
	TupleTableSlot *xslot;
	TupleTableSlot *rcmp;
	TupleTableSlot *vcmp;
	TupleTableSlot *vrow;
	TableScanDesc scan;
	int32		rh = 0;
	int32		vh = 0;
	bool		have_r;
	bool		have_v;
	int64		n = 0;

	TupleDescInitEntry(sdesc, SORT_HASH, "hash", INT4OID, -1, 0);
	TupleDescInitEntry(sdesc, SORT_TID, "tid", TIDOID, -1, 0);
	for (int i = 0; i < natts; i++)
		TupleDescCopyEntry(sdesc, SORT_ROW + i, vdesc, i + 1);
	oslot = MakeSingleTupleTableSlot(resultdesc, &TTSOpsMinimalTuple);
	vslot = MakeSingleTupleTableSlot(vdesc, &TTSOpsVirtual);
	sslot = MakeSingleTupleTableSlot(sdesc, &TTSOpsVirtual);
	rslot = MakeSingleTupleTableSlot(sdesc, &TTSOpsMinimalTuple);
	xslot = MakeSingleTupleTableSlot(sdesc, &TTSOpsMinimalTuple);
	rcmp = MakeSingleTupleTableSlot(sdesc, &TTSOpsMinimalTuple);
	vcmp = MakeSingleTupleTableSlot(sdesc, &TTSOpsMinimalTuple);
	vrow = table_slot_create(vrel, NULL);
	rsort = tuplesort_begin_heap(sdesc, 1, &sortcol, &sortop, &sortcoll, &nullsfirst,
								 work_mem, NULL, TUPLESORT_NONE);
	vsort = tuplesort_begin_heap(sdesc, 1, &sortcol, &sortop, &sortcoll, &nullsfirst,
								 work_mem, NULL, TUPLESORT_NONE);

	/* each side as (hash, tid, row): the result's rows have no tid */
	while (tuplestore_gettupleslot(result, true, false, oslot))
	{
		copy_row(oslot, vslot, natts);
		ExecClearTuple(sslot);
		sslot->tts_values[SORT_HASH - 1] = Int32GetDatum((int32) row_hash(vslot, natts));
		sslot->tts_isnull[SORT_HASH - 1] = false;
		sslot->tts_isnull[SORT_TID - 1] = true;
		memcpy(sslot->tts_values + SORT_ROW - 1, vslot->tts_values, sizeof(Datum) * natts);
		memcpy(sslot->tts_isnull + SORT_ROW - 1, vslot->tts_isnull, sizeof(bool) * natts);
		ExecStoreVirtualTuple(sslot);
		tuplesort_puttupleslot(rsort, sslot);
	}
	scan = table_beginscan(vrel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, vrow))
	{
		ItemPointerData tid = vrow->tts_tid;

		ExecClearTuple(sslot);
		sslot->tts_values[SORT_HASH - 1] = Int32GetDatum((int32) row_hash(vrow, natts));
		sslot->tts_isnull[SORT_HASH - 1] = false;
		sslot->tts_values[SORT_TID - 1] = PointerGetDatum(&tid);
		sslot->tts_isnull[SORT_TID - 1] = false;
		memcpy(sslot->tts_values + SORT_ROW - 1, vrow->tts_values, sizeof(Datum) * natts);
		memcpy(sslot->tts_isnull + SORT_ROW - 1, vrow->tts_isnull, sizeof(bool) * natts);
		ExecStoreVirtualTuple(sslot);
		tuplesort_puttupleslot(vsort, sslot);
		CHECK_FOR_INTERRUPTS();
	}
	table_endscan(scan);
	tuplesort_performsort(rsort);
	tuplesort_performsort(vsort);

	/* one hash at a time: its view rows paired with its result rows */
	have_r = sorted_next(rsort, rslot, &rh);
	have_v = sorted_next(vsort, xslot, &vh);
	while (have_r || have_v)
	{
		int32		h = !have_v || (have_r && rh < vh) ? rh : vh;
		MemoryContext old = MemoryContextSwitchTo(runcxt);
		List	   *rrun = NIL;
		List	   *vrun = NIL;
		ListCell   *lv;
		ListCell   *lr;

		if (have_r && rh == h)
			have_r = sorted_run(rsort, rslot, h, &rh, &rrun);
		if (have_v && vh == h)
			have_v = sorted_run(vsort, xslot, h, &vh, &vrun);
		MemoryContextSwitchTo(old);
		foreach(lv, vrun)
		{
			RunRow	   *v = lfirst(lv);
			bool		isnull;

			ExecStoreMinimalTuple(v->tup, vcmp, false);
			foreach(lr, rrun)
			{
				RunRow	   *r = lfirst(lr);

				if (r->paired)
					continue;
				ExecStoreMinimalTuple(r->tup, rcmp, false);
				if (row_equal(rcmp, vcmp, SORT_ROW - 1, natts + SORT_ROW - 1))
				{
					r->paired = v->paired = true;
					break;
				}
			}
			if (!v->paired)
			{
				ItemPointer tid = (ItemPointer) DatumGetPointer(slot_getattr(vcmp, SORT_TID, &isnull));

				simple_table_tuple_delete(vrel, tid, GetActiveSnapshot());
				n++;
			}
		}
		foreach(lr, rrun)
		{
			RunRow	   *r = lfirst(lr);

			if (r->paired)
				continue;
			ExecStoreMinimalTuple(r->tup, rcmp, false);
			tuplestore_puttupleslot(inserts, rcmp);
		}
		MemoryContextReset(runcxt);
		CHECK_FOR_INTERRUPTS();
	}
	tuplesort_end(rsort);
	tuplesort_end(vsort);

	/* and the rows new to it */
	vw = kstore_open(vrel, 0, NULL, estate);
	while (tuplestore_gettupleslot(inserts, true, false, rcmp))
	{
		slot_getallattrs(rcmp);
		ExecClearTuple(vslot);
		memcpy(vslot->tts_values, rcmp->tts_values + SORT_ROW - 1, sizeof(Datum) * natts);
		memcpy(vslot->tts_isnull, rcmp->tts_isnull + SORT_ROW - 1, sizeof(bool) * natts);
		ExecStoreVirtualTuple(vslot);
		kstore_insert(vw, vslot);
		n++;
	}
	kstore_close(vw);
	tuplestore_end(inserts);
	ExecDropSingleTupleTableSlot(oslot);
	ExecDropSingleTupleTableSlot(vslot);
	ExecDropSingleTupleTableSlot(sslot);
	ExecDropSingleTupleTableSlot(rslot);
	ExecDropSingleTupleTableSlot(xslot);
	ExecDropSingleTupleTableSlot(rcmp);
	ExecDropSingleTupleTableSlot(vcmp);
	ExecDropSingleTupleTableSlot(vrow);
	FreeExecutorState(estate);
	MemoryContextDelete(runcxt);
	return n;
}

/*
 * After a batch merged its groups (or at a restore): the query over the
 * aggregation, computed over all of its rows, and the view brought to
 * that result. Returns the rows deleted and inserted.
 */
int64
pgs_reagg_write(CqDef *cq)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream reagg",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TupleDesc	rowdesc;
	TupleDesc	outdesc;
	Tuplestorestate *rows;
	Tuplestorestate *out;
	Relation	vrel;
	int64		n;

	/* by deltas: its outer state made again with the view */
	if (pgs_delta_on(cq))
	{
		MemoryContextSwitchTo(old);
		MemoryContextDelete(cxt);
		return pgs_delta_rebuild(cq);
	}
	elog(DEBUG1, "pg_stream: \"%s\" computes the query over its aggregation",
		 get_rel_name(cq->viewid));
	pgs_delta_forget(cq);
	/* the state rows this batch wrote, and the view rows it may have */
	CommandCounterIncrement();
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();

	rows = pgs_reagg_inner_rows(cq, &rowdesc);
	out = pgs_stage_run(cq, rows, rowdesc, &outdesc);
	tuplestore_end(rows);

	vrel = table_open(cq->viewid, RowExclusiveLock);
	n = bring_view_to(vrel, out, outdesc);
	tuplestore_end(out);
	table_close(vrel, NoLock);
	PopActiveSnapshot();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return n;
}
