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
#include "port/pg_bitutils.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

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

/*
 * A multiset of rows, found by a hash of their binary images: each
 * distinct row once, with how many times it is in the result and not yet
 * matched by a row of the view.
 */
typedef struct ResultRow
{
	MinimalTuple tup;
	int64		count;
	struct ResultRow *next;		/* another row of the same hash */
} ResultRow;

typedef struct ResultBucket
{
	uint32		hash;			/* the key */
	ResultRow  *rows;
} ResultBucket;

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

/* the same values, image by image (1.0 and 1.00 differ: a view shows both) */
static bool
row_equal(TupleTableSlot *a, TupleTableSlot *b, int natts)
{
	slot_getallattrs(a);
	slot_getallattrs(b);
	for (int i = 0; i < natts; i++)
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
	return row_equal(a, b, a->tts_tupleDescriptor->natts);
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
	TupleDesc	vdesc;
	int			natts;
	EState	   *estate;
	KeyedStore *vw;
	TupleTableSlot *oslot;
	TupleTableSlot *vslot;
	TupleTableSlot *cand;
	TupleTableSlot *vrow;
	TableScanDesc scan;
	HASHCTL		ctl;
	HTAB	   *result;
	HASH_SEQ_STATUS seq;
	ResultBucket *b;
	int64		n = 0;

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
	vdesc = RelationGetDescr(vrel);
	natts = vdesc->natts;
	estate = CreateExecutorState();
	vw = kstore_open(vrel, 0, NULL, estate);
	oslot = MakeSingleTupleTableSlot(outdesc, &TTSOpsMinimalTuple);
	vslot = MakeSingleTupleTableSlot(vdesc, &TTSOpsVirtual);
	cand = MakeSingleTupleTableSlot(vdesc, &TTSOpsMinimalTuple);
	vrow = table_slot_create(vrel, NULL);

	/* the result, as a multiset */
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(ResultBucket);
	ctl.hcxt = cxt;
	result = hash_create("pg_stream reagg result", 256, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	while (tuplestore_gettupleslot(out, true, false, oslot))
	{
		uint32		h;
		bool		found;
		ResultRow  *r;

		copy_row(oslot, vslot, natts);
		h = row_hash(vslot, natts);
		b = hash_search(result, &h, HASH_ENTER, &found);
		if (!found)
			b->rows = NULL;
		for (r = b->rows; r; r = r->next)
		{
			ExecStoreMinimalTuple(r->tup, cand, false);
			if (row_equal(cand, vslot, natts))
				break;
		}
		if (r == NULL)
		{
			r = palloc(sizeof(ResultRow));
			r->tup = ExecCopySlotMinimalTuple(vslot);
			r->count = 0;
			r->next = b->rows;
			b->rows = r;
		}
		r->count++;
	}
	tuplestore_end(out);

	/* the view's rows: kept if in the result (once each), else deleted */
	scan = table_beginscan(vrel, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, vrow))
	{
		uint32		h = row_hash(vrow, natts);
		ResultRow  *r = NULL;

		b = hash_search(result, &h, HASH_FIND, NULL);
		for (r = b ? b->rows : NULL; r; r = r->next)
		{
			if (r->count == 0)
				continue;
			ExecStoreMinimalTuple(r->tup, cand, false);
			if (row_equal(cand, vrow, natts))
				break;
		}
		if (r)
			r->count--;
		else
		{
			simple_table_tuple_delete(vrel, &vrow->tts_tid, GetActiveSnapshot());
			n++;
		}
	}
	table_endscan(scan);

	/* and the rows new to it */
	hash_seq_init(&seq, result);
	while ((b = hash_seq_search(&seq)) != NULL)
	{
		for (ResultRow *r = b->rows; r; r = r->next)
		{
			for (int64 i = 0; i < r->count; i++)
			{
				ExecStoreMinimalTuple(r->tup, cand, false);
				copy_row(cand, vslot, natts);
				kstore_insert(vw, vslot);
				n++;
			}
		}
	}

	kstore_close(vw);
	ExecDropSingleTupleTableSlot(oslot);
	ExecDropSingleTupleTableSlot(vslot);
	ExecDropSingleTupleTableSlot(cand);
	ExecDropSingleTupleTableSlot(vrow);
	FreeExecutorState(estate);
	table_close(vrel, NoLock);
	PopActiveSnapshot();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return n;
}
