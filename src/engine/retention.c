/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Retention: the rows of old windows deleted from a view and its copy,
 *	  by the option retention in every batch and by stream.purge().
 *
 * A view over windows of event time grows by one row per window and key
 * for as long as it runs. With WITH (retention = '1 day') the rows of the
 * windows that ended more than a day before the watermark are deleted,
 * from the view and from its copy of the final rows (stream.rows_<oid>,
 * which pg_dump dumps and a restore rebuilds the view from): a window's
 * end is start + size for stream.tumble and stream.hop (the start is the
 * view's column), the time itself for a key that is the event time, and
 * upper(session) for stream.session.
 *
 * Why it is exact and never re-creates a row.
 *
 *	- The cut is behind the watermark the batch finds windows final with
 *	  (minus a join's lag, engine/batch.c), so only final windows are
 *	  deleted: their state was evicted in this batch or an earlier one,
 *	  and a row for them is late and dropped. A deleted window is never
 *	  written again, in append or update mode. Complete mode is refused:
 *	  it keeps every window in the state and drops no late row, so the
 *	  next row of a deleted window would write it again, from the state,
 *	  and the view is by definition the whole result.
 *
 *	- It runs inside the batch, after the windows the batch made final
 *	  were written: the deletion commits or rolls back with the batch's
 *	  positions, state and counters (a crash leaves all of it or none).
 *	  Every batch deletes, the no-data batch too, which runs whenever the
 *	  watermark has moved: time moves only with the watermark.
 *
 *	- Cheap: the rows are found by a range scan of a btree index on the
 *	  window column of the view and of the copy (on upper(session) for a
 *	  session window), which ddl.c creates when retention is set, unless
 *	  one already leads with it (the view's unique index on its keys, when
 *	  the window is the first key). A batch reads what it deletes, not the
 *	  view. Without such an index (dropped by the user) the table is read
 *	  whole: slow, still exact. Each row found is checked again here.
 *
 *	- Deleted from the view only: a sink never hears of it (what was sent
 *	  stays sent).
 *
 * stream.purge(view, before) deletes the same way, in the caller's
 * transaction, the windows that ended before a time at or before the
 * watermark (a later one would cut windows that are not final).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/tuptable.h"
#include "nodes/primnodes.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rangetypes.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

/*
 * The view's column holding a row's window (a start, the event time, or
 * a session), or 0 when it has none that the watermark makes final.
 */
AttrNumber
pgs_retention_column(CqDef *cq)
{
	if (!cq->is_agg || cq->stage_query)
		return 0;				/* a query over the aggregation: its own columns */
	if (cq->session_col > 0)
		return cq->session_wm ? cq->key_viewcols[cq->session_col - 1] : 0;
	if (cq->window_key >= 0)
		return cq->key_viewcols[cq->window_key];
	return 0;
}

/*
 * Whether what (the option retention, stream.purge()) may delete windows
 * of this view: an aggregation over windows of event time with a
 * watermark, whose window is a column of the view, in append or update
 * mode. Errors say what is missing.
 */
void
pgs_retention_check(CqDef *cq, const char *what)
{
	if (cq->wm_streams == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s needs event time with a watermark", what),
				 errdetail("Rows are deleted once their window is final, when the watermark has passed its end; no stream this view reads has event time with a watermark."),
				 errhint("Declare them on the stream: ALTER FOREIGN TABLE <stream> OPTIONS (ADD event_time '<column>', ADD watermark '10 minutes').")));
	/* (no sink either: its hint would not do) */
	if (cq->stage_update)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not supported over a query over an aggregation without a window", what),
				 errdetail("Its rows are those of the query over every group of the aggregation, computed again after each batch (engine/reagg.c): none of them is old."),
				 errhint("Group the inner query by a window, stream.tumble(ts, ...), for windows that end.")));
	if (cq->stage_query)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not supported over a query over a windowed aggregation", what),
				 errdetail("Its rows are those of the query over the windows (engine/stage.c), which need not keep the window."),
				 errhint("Give the view a sink table, and delete old rows there: the view keeps every row it wrote.")));
	if (pgs_retention_column(cq) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s needs a window in the view's output", what),
				 errdetail("Rows are deleted by the end of their window: the view must group by a window over the event time%s.",
						   cq->join ? " of a stream whose rows stop joining" : ""),
				 errhint("Group by stream.tumble(ts, ...), a column of stream.hop(ts, ...) or stream.session(ts, ...), and select it.")));
	if (cq->mode == OUTPUT_COMPLETE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not supported in output mode \"complete\"", what),
				 errdetail("Complete mode keeps every window and drops no late row: a late row would write a deleted window again."),
				 errhint("Use output_mode 'update' or 'append'.")));
}

/* the watermark minus retention: windows that ended before it are deleted */
int64
pgs_retention_cut(CqDef *cq, int64 watermark)
{
	int64		cut;

	if (pg_sub_s64_overflow(watermark, cq->opts.retention_usecs, &cut))
		cut = PG_INT64_MIN;
	return cut;
}

/* the window column is a session (a range), not a start */
static bool
is_session(CqDef *cq)
{
	return cq->session_col > 0;
}

/*
 * The end of a row's window: start + size, or the session's upper bound.
 * False if it never ends (NULL, infinite, beyond the timestamps).
 */
static bool
window_end(CqDef *cq, TypeCacheEntry *rtype, Datum d, bool isnull, int64 *end)
{
	if (isnull)
		return false;
	if (is_session(cq))
	{
		RangeBound lower;
		RangeBound upper;
		bool		empty;

		range_deserialize(rtype, DatumGetRangeTypeP(d), &lower, &upper, &empty);
		if (empty || upper.infinite)
			return false;
		*end = DatumGetInt64(upper.val);
		return !TIMESTAMP_IS_NOEND(*end);
	}
	*end = DatumGetInt64(d);
	if (TIMESTAMP_IS_NOBEGIN(*end))
		return true;
	return !TIMESTAMP_IS_NOEND(*end) &&
		!pg_add_s64_overflow(*end, cq->window_size, end);
}

/* a valid btree index of rel on upper(col), or NULL */
static Relation
upper_index(Relation rel, AttrNumber col)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		List	   *exprs;
		FuncExpr   *f;

		if (idx->rd_rel->relam == BTREE_AM_OID && idx->rd_index->indisvalid &&
			idx->rd_index->indkey.values[0] == 0 && RelationGetIndexPredicate(idx) == NIL &&
			idx->rd_indoption[0] == 0 &&
			(exprs = RelationGetIndexExpressions(idx)) != NIL &&
			IsA(linitial(exprs), FuncExpr) &&
			(f = linitial(exprs))->funcid == F_UPPER_ANYRANGE &&
			IsA(linitial(f->args), Var) &&
			((Var *) linitial(f->args))->varattno == col)
			return idx;
		index_close(idx, AccessShareLock);
	}
	return NULL;
}

/* the index a retention scan of rel reads, or NULL */
static Relation
window_index(CqDef *cq, Relation rel, AttrNumber col)
{
	if (is_session(cq))
		return upper_index(rel, col);
	return kstore_index_on(rel, 1, &col, AccessShareLock);
}

/*
 * The statement that gives relation relid (the view or its copy, which
 * has the view's columns) the index retention reads, or NULL if it has
 * one (ddl.c runs it, as the extension's superuser).
 */
char *
pgs_retention_index_sql(CqDef *cq, Oid relid)
{
	AttrNumber	col = pgs_retention_column(cq);
	Relation	rel = table_open(relid, AccessShareLock);
	Relation	idx = window_index(cq, rel, col);
	const char *colname = quote_identifier(get_attname(relid, col, false));
	char	   *name = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												  RelationGetRelationName(rel));

	table_close(rel, AccessShareLock);
	if (idx)
	{
		index_close(idx, AccessShareLock);
		return NULL;
	}
	if (is_session(cq))
		return psprintf("CREATE INDEX ON %s (pg_catalog.upper(%s))", name, colname);
	return psprintf("CREATE INDEX ON %s (%s)", name, colname);
}

/*
 * Delete the rows of relid whose window ended before `before`: by a range
 * scan of its window index (each row checked again), or of the table.
 */
static int64
delete_before(CqDef *cq, Oid relid, int64 before)
{
	AttrNumber	col = pgs_retention_column(cq);
	Relation	rel = table_open(relid, RowExclusiveLock);
	Relation	idx = window_index(cq, rel, col);
	TypeCacheEntry *rtype = NULL;
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	KStoreScan *scan;
	int64		upto;
	int64		n = 0;

	if (is_session(cq))
	{
		rtype = lookup_type_cache(TupleDescAttr(RelationGetDescr(rel), col - 1)->atttypid,
								  TYPECACHE_RANGE_INFO);
		upto = before - 1;		/* end < before */
	}
	else if (pg_sub_s64_overflow(before - 1, cq->window_size, &upto))
		upto = PG_INT64_MIN;	/* only windows starting at -infinity */
	if (idx)
		scan = kstore_scan_expired(rel, idx, col, upto, GetActiveSnapshot());
	else
		scan = kstore_scan_all(rel, GetActiveSnapshot());
	while (kstore_scan_next(scan, slot))
	{
		bool		isnull;
		Datum		d = slot_getattr(slot, col, &isnull);
		int64		end;

		if (window_end(cq, rtype, d, isnull, &end) && end < before)
		{
			simple_table_tuple_delete(rel, &slot->tts_tid, GetActiveSnapshot());
			n++;
		}
	}
	kstore_scan_end(scan);
	if (idx)
		index_close(idx, AccessShareLock);
	ExecDropSingleTupleTableSlot(slot);
	table_close(rel, NoLock);
	return n;
}

/*
 * Delete the rows of the windows that ended before `before` from the view
 * and its copy, in the current transaction, under the view's lock (a
 * batch's or stream.purge's). It sees what this transaction wrote so far
 * (the windows a batch has just made final). Returns the view's rows
 * deleted.
 */
int64
pgs_retention_delete(CqDef *cq, int64 before)
{
	int64		n;

	Assert(pgs_retention_column(cq) != 0);
	if (before == PG_INT64_MIN)
		return 0;				/* nothing ends before -infinity */
	CommandCounterIncrement();
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	n = delete_before(cq, cq->viewid, before);
	if (OidIsValid(cq->rows_relid))
		(void) delete_before(cq, cq->rows_relid, before);
	PopActiveSnapshot();
	CommandCounterIncrement();
	ereport(DEBUG1,
			(errmsg("pg_stream: %lld rows of windows ended before %s deleted from \"%s\"",
					(long long) n, timestamptz_to_str(before), cq->viewname)));
	return n;
}
