/*-------------------------------------------------------------------------
 *
 * merge.c
 *	  Writing a batch's output: new rows appended, groups merged into
 *	  their state, windows made final; and a restored view rebuilt.
 *
 * A batch's query (engine/batch.c) yields, without aggregation, the
 * view's new rows; with aggregation, one row per group holding its keys
 * and each aggregate's partial state. Here the first are appended to the
 * view (and to its copy of the rows, which pg_dump dumps); the second are
 * combined with the groups' stored states (engine/aggstate.c), and each
 * touched group's row of the view is recomputed from its final values,
 * through the query's own output expressions and HAVING. In append mode a
 * window's row is written once, when the watermark has made it final; its
 * state is then evicted. What went into the view is also handed to the
 * sinks (sink_rows, sink_deleted).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "engine/cq.h"
#include "engine/engine.h"
#include "sinks/sinks.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "executor/executor.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

/* the first natts values of from, as a virtual tuple in to */
static void
copy_slot_values(TupleTableSlot *from, TupleTableSlot *to, int natts)
{
	slot_getallattrs(from);
	ExecClearTuple(to);
	memcpy(to->tts_values, from->tts_values, sizeof(Datum) * natts);
	memcpy(to->tts_isnull, from->tts_isnull, sizeof(bool) * natts);
	ExecStoreVirtualTuple(to);
}

/*
 * Append mode without aggregation: every output row is a new view row,
 * and goes into the copy of the rows too (pg_dump dumps no view's rows;
 * the copy is an ordinary table, which it does dump).
 */
int64
pgs_write_rows(CqDef *cq, Tuplestorestate *out, TupleDesc outdesc, Tuplestorestate *sink_rows)
{
	Relation	vrel = table_open(cq->viewid, RowExclusiveLock);
	Relation	crel = OidIsValid(cq->rows_relid) ?
		table_open(cq->rows_relid, RowExclusiveLock) : NULL;
	EState	   *estate = CreateExecutorState();
	ViewWriter *vw = viewwriter_open(vrel, 0, NULL, estate);
	ViewWriter *cw = crel ? viewwriter_open(crel, 0, NULL, estate) : NULL;
	TupleTableSlot *in = MakeSingleTupleTableSlot(outdesc, &TTSOpsMinimalTuple);
	TupleTableSlot *vslot = MakeSingleTupleTableSlot(RelationGetDescr(vrel), &TTSOpsVirtual);
	int			natts = RelationGetDescr(vrel)->natts;
	int64		n = 0;

	Assert(cq != NULL && !cq->is_agg && out != NULL);
	while (tuplestore_gettupleslot(out, true, false, in))
	{
		copy_slot_values(in, vslot, natts);
		viewwriter_insert(vw, vslot);
		if (cw)
			viewwriter_insert(cw, vslot);
		if (sink_rows)
			tuplestore_puttupleslot(sink_rows, vslot);
		ResetPerTupleExprContext(estate);
		n++;
	}
	viewwriter_close(vw);
	if (cw)
	{
		viewwriter_close(cw);
		table_close(crel, NoLock);
	}
	ExecDropSingleTupleTableSlot(in);
	ExecDropSingleTupleTableSlot(vslot);
	FreeExecutorState(estate);
	table_close(vrel, NoLock);
	return n;
}

/*
 * A group's row of the view, from its keys and its aggregates' values: the
 * output expressions and HAVING over (keys, finals).
 */
typedef struct FinalRow
{
	ExprContext *econtext;
	TupleTableSlot *fslot;		/* keys, then the aggregates' values */
	TupleTableSlot *vslot;		/* the view's row */
	ProjectionInfo *proj;
	ExprState  *having;
} FinalRow;

static void
final_row_init(FinalRow *fr, CqDef *cq, TupleDesc keydesc, Relation vrel,
			   EState *estate)
{
	int			nkeys = cq->nkeys;
	TupleDesc	fdesc = CreateTemplateTupleDesc(nkeys + list_length(cq->aggs));
	ListCell   *lc;

	for (int k = 0; k < nkeys; k++)
		TupleDescInitEntry(fdesc, k + 1, NULL, TupleDescAttr(keydesc, k)->atttypid,
						   TupleDescAttr(keydesc, k)->atttypmod, 0);
	foreach(lc, cq->aggs)
	{
		CqAgg	   *a = lfirst(lc);

		TupleDescInitEntry(fdesc, nkeys + foreach_current_index(lc) + 1, NULL,
						   a->resulttype, -1, 0);
	}
	fr->econtext = GetPerTupleExprContext(estate);
	fr->fslot = MakeSingleTupleTableSlot(fdesc, &TTSOpsVirtual);
	fr->vslot = MakeSingleTupleTableSlot(RelationGetDescr(vrel), &TTSOpsVirtual);
	fr->proj = ExecBuildProjectionInfo(cq->final_tlist, fr->econtext, fr->vslot,
									   NULL, fdesc);
	fr->having = cq->final_having ?
		ExecPrepareQual(list_make1(cq->final_having), estate) : NULL;
}

/*
 * Project fr->fslot, whose aggregate values the caller has filled in after
 * ExecClearTuple, with these keys into fr->vslot; false if HAVING rejects
 * the group.
 */
static bool
final_row_project(FinalRow *fr, int nkeys, Datum *keys, bool *keynulls)
{
	memcpy(fr->fslot->tts_values, keys, sizeof(Datum) * nkeys);
	memcpy(fr->fslot->tts_isnull, keynulls, sizeof(bool) * nkeys);
	ExecStoreVirtualTuple(fr->fslot);
	fr->econtext->ecxt_scantuple = fr->fslot;
	ExecProject(fr->proj);
	return fr->having ? ExecQual(fr->having, fr->econtext) : true;
}

static void
final_row_end(FinalRow *fr)
{
	ExecDropSingleTupleTableSlot(fr->fslot);
	ExecDropSingleTupleTableSlot(fr->vslot);
}

/* write a group's row of the view, found by its keys, and give it to the sink */
static void
upsert_view_row(ViewWriter *vw, Datum *keys, bool *keynulls, TupleTableSlot *row,
				Tuplestorestate *sink_rows)
{
	if (viewwriter_lookup(vw, keys, keynulls, NULL))
		viewwriter_update(vw, row);
	else
		viewwriter_insert(vw, row);
	if (sink_rows)
		tuplestore_puttupleslot(sink_rows, row);
}

/*
 * Is the window of a group (its window key) final under the watermark?
 * A window is final when its end, start + size, is at or before the
 * watermark; a window starting at -infinity always is, one starting at
 * infinity never is.
 */
static bool
window_final(CqDef *cq, Datum start, bool isnull, int64 watermark)
{
	int64		s = DatumGetInt64(start);
	int64		last;

	if (isnull)
		return false;
	if (TIMESTAMP_IS_NOBEGIN(s))
		return true;
	if (TIMESTAMP_IS_NOEND(s))
		return false;
	if (pg_sub_s64_overflow(watermark, cq->window_size, &last))
		return false;
	return s <= last;
}

/*
 * Aggregation: merge each group of the batch into its stored state and
 * write its row of the view (update and complete modes: the view always
 * holds the whole result; HAVING decides whether a group has a row; in
 * append mode the row is written when the window is final, see
 * finalize_windows). A group whose window is already final under the
 * watermark is dropped, its rows counted as late.
 * Each touched group costs one index lookup and one write in the state
 * table and in the view.
 */
int64
pgs_merge_groups(CqDef *cq, Tuplestorestate *out, TupleDesc outdesc,
				 bool has_watermark, int64 watermark,
			 int64 *state_rows, int64 *rows_late,
			 Tuplestorestate *sink_rows, Tuplestorestate *sink_deleted)
{
	int			nkeys = cq->nkeys;
	int			naggs = list_length(cq->aggs);
	Relation	vrel = table_open(cq->viewid, RowExclusiveLock);
	Relation	srel = table_open(cq->state_relid, RowExclusiveLock);
	EState	   *estate = CreateExecutorState();
	AttrNumber *statekeys = palloc(sizeof(AttrNumber) * Max(nkeys, 1));
	ViewWriter *sw;
	ViewWriter *vw;
	AggMerger  *merger = aggmerger_create(cq, CurrentMemoryContext);
	FinalRow	fr;
	TupleTableSlot *in,
			   *sslot,
			   *nsslot;
	Datum	   *stored = palloc(sizeof(Datum) * Max(naggs, 1));
	bool	   *stored_null = palloc(sizeof(bool) * Max(naggs, 1));
	int64		n = 0;

	Assert(cq != NULL && cq->is_agg && OidIsValid(cq->state_relid) && out != NULL);
	for (int k = 0; k < nkeys; k++)
		statekeys[k] = k + 1;
	sw = viewwriter_open(srel, nkeys, statekeys, estate);
	vw = viewwriter_open(vrel, nkeys, cq->key_viewcols, estate);
	in = MakeSingleTupleTableSlot(outdesc, &TTSOpsMinimalTuple);
	sslot = table_slot_create(srel, NULL);
	nsslot = MakeSingleTupleTableSlot(RelationGetDescr(srel), &TTSOpsVirtual);
	final_row_init(&fr, cq, outdesc, vrel, estate);

	while (tuplestore_gettupleslot(out, true, false, in))
	{
		bool		found;
		bool		keep;

		slot_getallattrs(in);
		if (cq->evicts && has_watermark &&
			window_final(cq, in->tts_values[cq->window_key],
						 in->tts_isnull[cq->window_key], watermark))
		{
			/* late: its window is final, its state may be gone */
			*rows_late += DatumGetInt64(in->tts_values[cq->late_col - 1]);
			continue;
		}
		found = viewwriter_lookup(sw, in->tts_values, in->tts_isnull, sslot);
		for (int i = 0; i < naggs; i++)
		{
			if (found)
				stored[i] = slot_getattr(sslot, nkeys + i + 1, &stored_null[i]);
			else
			{
				stored[i] = (Datum) 0;
				stored_null[i] = true;
			}
		}

		ExecClearTuple(fr.fslot);
		aggmerger_combine(merger, !found, stored, stored_null,
						  in->tts_values + nkeys, in->tts_isnull + nkeys,
						  fr.fslot->tts_values + nkeys, fr.fslot->tts_isnull + nkeys);

		/* the new state */
		ExecClearTuple(nsslot);
		memcpy(nsslot->tts_values, in->tts_values, sizeof(Datum) * nkeys);
		memcpy(nsslot->tts_isnull, in->tts_isnull, sizeof(bool) * nkeys);
		memcpy(nsslot->tts_values + nkeys, stored, sizeof(Datum) * naggs);
		memcpy(nsslot->tts_isnull + nkeys, stored_null, sizeof(bool) * naggs);
		ExecStoreVirtualTuple(nsslot);
		if (found)
			viewwriter_update(sw, nsslot);
		else
		{
			viewwriter_insert(sw, nsslot);
			(*state_rows)++;
		}

		/* the view's row; in append mode, once the window is final */
		if (cq->mode == OUTPUT_APPEND)
		{
			aggmerger_reset(merger);
			ResetExprContext(fr.econtext);
			continue;
		}
		keep = final_row_project(&fr, nkeys, in->tts_values, in->tts_isnull);
		if (keep)
		{
			upsert_view_row(vw, in->tts_values, in->tts_isnull, fr.vslot, sink_rows);
			n++;
		}
		else if (viewwriter_lookup(vw, in->tts_values, in->tts_isnull, NULL))
		{
			viewwriter_delete_current(vw);
			if (sink_deleted)
				tuplestore_puttupleslot(sink_deleted, fr.vslot);
			n++;
		}
		aggmerger_reset(merger);
		ResetExprContext(fr.econtext);
	}

	viewwriter_close(sw);
	viewwriter_close(vw);
	ExecDropSingleTupleTableSlot(in);
	ExecDropSingleTupleTableSlot(sslot);
	ExecDropSingleTupleTableSlot(nsslot);
	final_row_end(&fr);
	FreeExecutorState(estate);
	table_close(srel, NoLock);
	table_close(vrel, NoLock);
	return n;
}

/*
 * The index of the state table whose first column is the window key; NULL
 * if there is none (a watermark declared on the stream after the view was
 * created: the windows are then found by a scan of the state).
 */
static Relation
window_index(CqDef *cq, Relation srel)
{
	List	   *indexes = RelationGetIndexList(srel);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);

		if (idx->rd_rel->relam == BTREE_AM_OID &&
			idx->rd_index->indkey.values[0] == cq->window_key + 1 &&
			RelationGetIndexPredicate(idx) == NIL)
			return idx;
		index_close(idx, AccessShareLock);
	}
	return NULL;
}

/*
 * The windows the watermark has made final: in append mode their rows go
 * into the view (and the sink) now, once; in update mode the view has
 * them already. Either way they go into the copy of the final rows (for
 * pg_dump) and their state is evicted. One index range scan over the
 * windows that end at or before the watermark; nothing else is read.
 * Returns the rows written to the view; *evicted counts the states.
 */
int64
pgs_finalize_windows(CqDef *cq, int64 watermark, int64 *evicted, Tuplestorestate *sink_rows)
{
	int			nkeys = cq->nkeys;
	int64		last;
	Relation	srel = table_open(cq->state_relid, RowExclusiveLock);
	Relation	vrel = table_open(cq->viewid, RowExclusiveLock);
	Relation	crel = table_open(cq->rows_relid, RowExclusiveLock);
	Relation	idx = window_index(cq, srel);
	IndexScanDesc iscan = NULL;
	TableScanDesc tscan = NULL;
	EState	   *estate = CreateExecutorState();
	ViewWriter *vw = viewwriter_open(vrel, nkeys, cq->key_viewcols, estate);
	ViewWriter *cw = viewwriter_open(crel, 0, NULL, estate);
	AggMerger  *merger = NULL;
	TupleTableSlot *sslot = table_slot_create(srel, NULL);
	FinalRow	fr;
	int64		n = 0;

	Assert(cq != NULL && cq->evicts && evicted != NULL);
	*evicted = 0;
	if (pg_sub_s64_overflow(watermark, cq->window_size, &last))
		last = PG_INT64_MIN;	/* -infinity: only windows starting there */
	final_row_init(&fr, cq, RelationGetDescr(srel), vrel, estate);
	if (idx)
	{
		ScanKeyData key;
		Oid			opcintype = idx->rd_opcintype[0];
		Oid			leop = get_opfamily_member(idx->rd_opfamily[0], opcintype, opcintype,
											   BTLessEqualStrategyNumber);

		if (!OidIsValid(leop))
			elog(ERROR, "missing <= operator for index \"%s\"", RelationGetRelationName(idx));
		ScanKeyInit(&key, 1, BTLessEqualStrategyNumber, get_opcode(leop),
					Int64GetDatum(last));
		iscan = index_beginscan(srel, idx, GetActiveSnapshot(), 1, 0);
		index_rescan(iscan, &key, 1, NULL, 0);
	}
	else
		tscan = table_beginscan(srel, GetActiveSnapshot(), 0, NULL);
	while (iscan ? index_getnext_slot(iscan, ForwardScanDirection, sslot) :
		   table_scan_getnextslot(tscan, ForwardScanDirection, sslot))
	{
		slot_getallattrs(sslot);
		if (tscan && !window_final(cq, sslot->tts_values[cq->window_key],
								   sslot->tts_isnull[cq->window_key], watermark))
			continue;
		if (merger == NULL)
		{
			/* the aggregates' state types are resolved by planning (no-data batch) */
			if (!cq->planned)
				(void) pgs_plan_batch(cq);
			merger = aggmerger_create(cq, CurrentMemoryContext);
		}
		ExecClearTuple(fr.fslot);
		aggmerger_finalize(merger, sslot->tts_values + nkeys, sslot->tts_isnull + nkeys,
						   fr.fslot->tts_values + nkeys, fr.fslot->tts_isnull + nkeys);
		if (final_row_project(&fr, nkeys, sslot->tts_values, sslot->tts_isnull))
		{
			if (cq->mode == OUTPUT_APPEND)
			{
				/* (a view switched from update mode may have the row already) */
				upsert_view_row(vw, sslot->tts_values, sslot->tts_isnull, fr.vslot, sink_rows);
				n++;
			}
			viewwriter_insert(cw, fr.vslot);
		}
		simple_table_tuple_delete(srel, &sslot->tts_tid, GetActiveSnapshot());
		(*evicted)++;
		aggmerger_reset(merger);
		ResetExprContext(fr.econtext);
	}
	if (iscan)
	{
		index_endscan(iscan);
		index_close(idx, AccessShareLock);
	}
	else
		table_endscan(tscan);
	final_row_end(&fr);
	viewwriter_close(vw);
	viewwriter_close(cw);
	ExecDropSingleTupleTableSlot(sslot);
	FreeExecutorState(estate);
	table_close(crel, NoLock);
	table_close(vrel, NoLock);
	table_close(srel, NoLock);
	return n;
}

/*
 * Fill the empty view of a restored continuous view (ddl.c) from the
 * tables pg_dump did dump: the copy of the final rows (every row of a
 * view without aggregation; the final windows of an aggregation), then
 * the rows of the groups in the state table (but in append mode, where a
 * group has no row until its window is final).
 */
void
pgs_rebuild_from_state(CqDef *cq)
{
	Relation	vrel = table_open(cq->viewid, RowExclusiveLock);
	EState	   *estate = CreateExecutorState();
	ViewWriter *vw = viewwriter_open(vrel, 0, NULL, estate);
	TupleTableSlot *vslot = MakeSingleTupleTableSlot(RelationGetDescr(vrel), &TTSOpsVirtual);
	int			natts = RelationGetDescr(vrel)->natts;
	int			nkeys = cq->nkeys;

	if (OidIsValid(cq->rows_relid))
	{
		Relation	from = table_open(cq->rows_relid, AccessShareLock);
		TupleTableSlot *in = table_slot_create(from, NULL);
		TableScanDesc scan = table_beginscan(from, GetActiveSnapshot(), 0, NULL);

		while (table_scan_getnextslot(scan, ForwardScanDirection, in))
		{
			copy_slot_values(in, vslot, natts);
			viewwriter_insert(vw, vslot);
			ResetPerTupleExprContext(estate);
		}
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(in);
		table_close(from, AccessShareLock);
	}
	if (cq->is_agg && cq->mode != OUTPUT_APPEND)
	{
		Relation	from = table_open(cq->state_relid, AccessShareLock);
		TupleTableSlot *in = table_slot_create(from, NULL);
		TableScanDesc scan = table_beginscan(from, GetActiveSnapshot(), 0, NULL);
		AggMerger  *merger = aggmerger_create(cq, CurrentMemoryContext);
		FinalRow	fr;

		final_row_init(&fr, cq, RelationGetDescr(from), vrel, estate);
		while (table_scan_getnextslot(scan, ForwardScanDirection, in))
		{
			slot_getallattrs(in);
			ExecClearTuple(fr.fslot);
			aggmerger_finalize(merger, in->tts_values + nkeys, in->tts_isnull + nkeys,
							   fr.fslot->tts_values + nkeys, fr.fslot->tts_isnull + nkeys);
			if (final_row_project(&fr, nkeys, in->tts_values, in->tts_isnull))
				viewwriter_insert(vw, fr.vslot);
			aggmerger_reset(merger);
			ResetExprContext(fr.econtext);
		}
		table_endscan(scan);
		final_row_end(&fr);
		ExecDropSingleTupleTableSlot(in);
		table_close(from, AccessShareLock);
	}
	viewwriter_close(vw);
	ExecDropSingleTupleTableSlot(vslot);
	FreeExecutorState(estate);
	table_close(vrel, NoLock);
}
