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
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
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
 * the copy is an ordinary table, which it does dump). A DestReceiver: the
 * rows are written as the plan yields them.
 */
static void receiver_destroy(DestReceiver *self);

/* a receiver of the batch's output, of these callbacks */
static void *
output_receiver(Size size, bool (*receive) (TupleTableSlot *, DestReceiver *),
				void (*startup) (DestReceiver *, int, TupleDesc),
				void (*shutdown) (DestReceiver *))
{
	OutputReceiver *r = palloc0(size);

	r->pub.receiveSlot = receive;
	r->pub.rStartup = startup;
	r->pub.rShutdown = shutdown;
	r->pub.rDestroy = receiver_destroy;
	r->pub.mydest = DestNone;
	return r;
}

/* the rows a receiver of pgs_rows_receiver or pgs_merge_receiver wrote */
int64
pgs_receiver_rows(DestReceiver *dest)
{
	return ((OutputReceiver *) dest)->n;
}

typedef struct RowsReceiver
{
	OutputReceiver out;
	CqDef	   *cq;
	Tuplestorestate *sink_rows;
	Relation	vrel;
	Relation	crel;
	EState	   *estate;
	KeyedStore *vw;
	KeyedStore *cw;
	TupleTableSlot *vslot;
	int			natts;
} RowsReceiver;

static void
rows_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	RowsReceiver *r = (RowsReceiver *) self;
	CqDef	   *cq = r->cq;

	Assert(cq != NULL && !cq->is_agg);
	r->vrel = table_open(cq->viewid, RowExclusiveLock);
	r->crel = OidIsValid(cq->rows_relid) ?
		table_open(cq->rows_relid, RowExclusiveLock) : NULL;
	r->estate = CreateExecutorState();
	r->vw = kstore_open(r->vrel, 0, NULL, r->estate);
	r->cw = r->crel ? kstore_open(r->crel, 0, NULL, r->estate) : NULL;
	r->vslot = MakeSingleTupleTableSlot(RelationGetDescr(r->vrel), &TTSOpsVirtual);
	r->natts = RelationGetDescr(r->vrel)->natts;
}

static bool
rows_receive(TupleTableSlot *slot, DestReceiver *self)
{
	RowsReceiver *r = (RowsReceiver *) self;

	copy_slot_values(slot, r->vslot, r->natts);
	kstore_insert(r->vw, r->vslot);
	if (r->cw)
		kstore_insert(r->cw, r->vslot);
	if (r->sink_rows)
		tuplestore_puttupleslot(r->sink_rows, r->vslot);
	ResetPerTupleExprContext(r->estate);
	r->out.n++;
	return true;
}

static void
rows_shutdown(DestReceiver *self)
{
	RowsReceiver *r = (RowsReceiver *) self;

	kstore_close(r->vw);
	if (r->cw)
	{
		kstore_close(r->cw);
		table_close(r->crel, NoLock);
	}
	ExecDropSingleTupleTableSlot(r->vslot);
	FreeExecutorState(r->estate);
	table_close(r->vrel, NoLock);
}

static void
receiver_destroy(DestReceiver *self)
{
	pfree(self);
}

DestReceiver *
pgs_rows_receiver(CqDef *cq, Tuplestorestate *sink_rows)
{
	RowsReceiver *r = output_receiver(sizeof(RowsReceiver), rows_receive,
									  rows_startup, rows_shutdown);

	r->cq = cq;
	r->sink_rows = sink_rows;
	return &r->out.pub;
}

/*
 * A group's row of the view, from its keys and its aggregates' values: the
 * output expressions and HAVING over (keys, finals).
 */
void
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
	/* a query over the aggregation reads its rows (engine/stage.c) */
	fr->vslot = MakeSingleTupleTableSlot(cq->stage_query ? pgs_stage_rowdesc(cq) :
										 RelationGetDescr(vrel), &TTSOpsVirtual);
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
bool
final_row_project(FinalRow *fr, int nkeys, Datum *keys, bool *keynulls)
{
	memcpy(fr->fslot->tts_values, keys, sizeof(Datum) * nkeys);
	memcpy(fr->fslot->tts_isnull, keynulls, sizeof(bool) * nkeys);
	ExecStoreVirtualTuple(fr->fslot);
	fr->econtext->ecxt_scantuple = fr->fslot;
	ExecProject(fr->proj);
	return fr->having ? ExecQual(fr->having, fr->econtext) : true;
}

void
final_row_end(FinalRow *fr)
{
	ExecDropSingleTupleTableSlot(fr->fslot);
	ExecDropSingleTupleTableSlot(fr->vslot);
}

/*
 * Find a group's row of the view (for kstore_update or _delete_current):
 * at the tid its state row keeps, if it still is there, else by its keys.
 */
static bool
find_view_row(KeyedStore *vw, Datum rowtid, bool rowtid_null, Datum *keys,
			  bool *keynulls, TupleTableSlot *fetch)
{
	return (!rowtid_null &&
			kstore_fetch(vw, (ItemPointer) DatumGetPointer(rowtid), keys, keynulls, fetch)) ||
		kstore_lookup(vw, keys, keynulls, NULL);
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
 * Groups new to the state, waiting to be written together: their view
 * rows are in the view's insert buffer, their state rows wait here for the
 * tids those get (a state row keeps the tid of its group's view row).
 */
typedef struct PendingGroups
{
	int			n;
	int			nview;			/* of them with a view row */
	int			nkeys;
	int			naggs;
	int			nstate;			/* state columns (keys, states, row tid) */
	Datum	   *values;			/* n rows of nstate values */
	bool	   *nulls;
	int		   *viewrow;		/* its row in the view's buffer, or -1 */
	MemoryContext cxt;
} PendingGroups;

/* a new group's state row (keys, states) and the index of its view row */
static void
pending_add(PendingGroups *p, TupleDesc sdesc, Datum *keys, bool *keynulls,
			Datum *stored, bool *stored_null, int viewrow)
{
	MemoryContext old = MemoryContextSwitchTo(p->cxt);
	Datum	   *v = p->values + (Size) p->n * p->nstate;
	bool	   *nl = p->nulls + (Size) p->n * p->nstate;

	for (int c = 0; c < p->nstate; c++)
	{
		Form_pg_attribute att = TupleDescAttr(sdesc, c);
		bool		isnull = true;	/* the view row's tid: set when written */
		Datum		d = (Datum) 0;

		if (c < p->nkeys)
		{
			isnull = keynulls[c];
			d = keys[c];
		}
		else if (c < p->nkeys + p->naggs)
		{
			isnull = stored_null[c - p->nkeys];
			d = stored[c - p->nkeys];
		}
		nl[c] = isnull;
		v[c] = isnull ? (Datum) 0 : datumCopy(d, att->attbyval, att->attlen);
	}
	p->viewrow[p->n++] = viewrow;
	MemoryContextSwitchTo(old);
}

/* write the pending groups: view rows first, then the state rows with their tids */
static void
pending_flush(PendingGroups *p, KeyedStore *vw, KeyedStore *sw, TupleTableSlot *nsslot,
			  AttrNumber rowcol)
{
	if (p->n == 0)
		return;
	if (vw)
		(void) kstore_flush(vw);
	for (int i = 0; i < p->n; i++)
	{
		ExecClearTuple(nsslot);
		memcpy(nsslot->tts_values, p->values + (Size) i * p->nstate, sizeof(Datum) * p->nstate);
		memcpy(nsslot->tts_isnull, p->nulls + (Size) i * p->nstate, sizeof(bool) * p->nstate);
		if (rowcol && p->viewrow[i] >= 0)
		{
			TupleTableSlot *vrow = kstore_flushed(vw, p->viewrow[i]);

			nsslot->tts_values[rowcol - 1] = PointerGetDatum(&vrow->tts_tid);
			nsslot->tts_isnull[rowcol - 1] = false;
		}
		ExecStoreVirtualTuple(nsslot);
		(void) kstore_insert_buffered(sw, nsslot);
	}
	(void) kstore_flush(sw);
	p->n = 0;
	p->nview = 0;
	MemoryContextReset(p->cxt);
}

/* whether the view's copy of its final rows has any: windows were evicted */
static bool
has_final_rows(CqDef *cq)
{
	Relation	crel = table_open(cq->rows_relid, AccessShareLock);
	bool		any = RelationGetNumberOfBlocks(crel) > 0;

	table_close(crel, AccessShareLock);
	return any;
}

/*
 * The state table's column holding the tid of the group's view row: the
 * last one, of type tid; 0 for a state table made before it existed.
 */
AttrNumber
view_row_column(CqDef *cq, Relation srel)
{
	TupleDesc	sdesc = RelationGetDescr(srel);
	int			natts = cq->nkeys + list_length(cq->aggs) + 1;

	if (sdesc->natts == natts && TupleDescAttr(sdesc, natts - 1)->atttypid == TIDOID &&
		!TupleDescAttr(sdesc, natts - 1)->attisdropped)
		return natts;
	return 0;
}

/* the view's and the state's tables and what a batch needs to write them */
void
group_tables_open(GroupTables *t, CqDef *cq, TupleDesc outdesc)
{
	AttrNumber *statekeys = palloc(sizeof(AttrNumber) * Max(cq->nkeys, 1));

	t->vrel = table_open(cq->viewid, RowExclusiveLock);
	t->srel = table_open(cq->state_relid, RowExclusiveLock);
	t->sdesc = RelationGetDescr(t->srel);
	t->rowcol = view_row_column(cq, t->srel);
	t->estate = CreateExecutorState();
	for (int k = 0; k < cq->nkeys; k++)
		statekeys[k] = k + 1;
	t->sw = kstore_open(t->srel, cq->nkeys, statekeys, t->estate);
	t->vw = kstore_open(t->vrel, cq->stage_query ? 0 : cq->nkeys, cq->key_viewcols,
						t->estate);
	t->merger = aggmerger_create(cq, CurrentMemoryContext);
	t->sslot = table_slot_create(t->srel, NULL);
	t->vfetch = table_slot_create(t->vrel, NULL);
	t->nsslot = MakeSingleTupleTableSlot(t->sdesc, &TTSOpsVirtual);
	final_row_init(&t->fr, cq, outdesc, t->vrel, t->estate);

	/*
	 * A view that evicted windows (their rows are in its copy of the final
	 * rows) and evicts no more (its mode or its watermark changed) may
	 * hold a row for a group that has no state: look new groups up there.
	 * (A query over an aggregation without a window evicts nothing: its
	 * rows_table is empty, or its outer state, engine/reagg_delta.c.)
	 */
	t->lookup_new = !cq->evicts && !cq->stage_update && OidIsValid(cq->rows_relid) &&
		has_final_rows(cq);
	pfree(statekeys);
}

void
group_tables_close(GroupTables *t)
{
	kstore_close(t->sw);
	kstore_close(t->vw);
	ExecDropSingleTupleTableSlot(t->sslot);
	ExecDropSingleTupleTableSlot(t->vfetch);
	ExecDropSingleTupleTableSlot(t->nsslot);
	final_row_end(&t->fr);
	FreeExecutorState(t->estate);
	table_close(t->srel, NoLock);
	table_close(t->vrel, NoLock);
}

/*
 * New groups in a state empty at the batch's start past which its index
 * entries are built in bulk at the batch's end (for fewer, one by one
 * costs no more than the rebuild)
 */
#define MERGE_BULK_INDEX_GROUPS 10000

/* a merge of a batch's groups, group by group (below) */
typedef struct GroupMerge
{
	CqDef	   *cq;
	int			nkeys;
	int			naggs;
	bool		has_watermark;
	int64		watermark;
	int64	   *state_rows;
	int64	   *rows_late;
	Tuplestorestate *sink_rows;
	Tuplestorestate *sink_deleted;
	GroupTables t;
	Datum	   *stored;
	bool	   *stored_null;
	PendingGroups pend;
	int64		n;
	bool		bulk_tried;		/* kstore_defer_indexes asked of the state */
	bool		stage_changed;	/* a row of the aggregation (engine/reagg.c) */
	DeltaRun   *delta;			/* ... or its changes (engine/reagg_delta.c) */
} GroupMerge;

static void
merge_begin(GroupMerge *gm, CqDef *cq, TupleDesc outdesc, bool has_watermark,
			int64 watermark, int64 *state_rows, int64 *rows_late,
			Tuplestorestate *sink_rows, Tuplestorestate *sink_deleted, int64 groups)
{
	int			nkeys = cq->nkeys;
	int			naggs = list_length(cq->aggs);

	Assert(cq != NULL && cq->is_agg && OidIsValid(cq->state_relid));
	memset(gm, 0, sizeof(GroupMerge));
	gm->cq = cq;
	gm->nkeys = nkeys;
	gm->naggs = naggs;
	gm->has_watermark = has_watermark;
	gm->watermark = watermark;
	gm->state_rows = state_rows;
	gm->rows_late = rows_late;
	gm->sink_rows = sink_rows;
	gm->sink_deleted = sink_deleted;
	group_tables_open(&gm->t, cq, outdesc);
	/* the state's size: the batches' count, or the planner's if larger */
	if (cq->sorted_groups && nkeys > 0)
		kstore_begin_ordered(gm->t.sw, groups,
							 Max(*state_rows, (int64) gm->t.srel->rd_rel->reltuples));
	gm->stored = palloc(sizeof(Datum) * Max(naggs, 1));
	gm->stored_null = palloc(sizeof(bool) * Max(naggs, 1));
	gm->pend.nkeys = nkeys;
	gm->pend.naggs = naggs;
	gm->pend.nstate = gm->t.sdesc->natts;
	gm->pend.values = palloc(sizeof(Datum) * gm->pend.nstate * KSTORE_BUFFER_ROWS);
	gm->pend.nulls = palloc(sizeof(bool) * gm->pend.nstate * KSTORE_BUFFER_ROWS);
	gm->pend.viewrow = palloc(sizeof(int) * KSTORE_BUFFER_ROWS);
	gm->pend.cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream new groups",
										 ALLOCSET_DEFAULT_SIZES);
	gm->delta = cq->stage_update ? pgs_delta_begin(cq) : NULL;
}

/* one group of the batch: its keys, then each aggregate's partial state */
static void
merge_group(GroupMerge *gm, TupleTableSlot *in)
{
	CqDef	   *cq = gm->cq;
	int			nkeys = gm->nkeys;
	int			naggs = gm->naggs;
	FinalRow   *fr = &gm->t.fr;
	TupleTableSlot *nsslot = gm->t.nsslot;
	bool		found;
	bool		keep;
	bool		has_row = false;
	Datum		rowtid = (Datum) 0;
	bool		rowtid_null = true;
	int			viewrow = -1;
	bool		track;
	MinimalTuple before = NULL;

	slot_getallattrs(in);
	if (cq->evicts && gm->has_watermark &&
		window_final(cq, in->tts_values[cq->window_key],
					 in->tts_isnull[cq->window_key], gm->watermark))
	{
		/* late: its window is final, its state may be gone */
		*gm->rows_late += DatumGetInt64(in->tts_values[cq->late_col - 1]);
		return;
	}
	found = kstore_lookup(gm->t.sw, in->tts_values, in->tts_isnull, gm->t.sslot);
	for (int i = 0; i < naggs; i++)
	{
		if (found)
			gm->stored[i] = slot_getattr(gm->t.sslot, nkeys + i + 1, &gm->stored_null[i]);
		else
		{
			gm->stored[i] = (Datum) 0;
			gm->stored_null[i] = true;
		}
	}
	if (found && gm->t.rowcol)
		rowtid = slot_getattr(gm->t.sslot, gm->t.rowcol, &rowtid_null);

	/*
	 * A query over the aggregation in update mode: by deltas, each group's
	 * row before and after; recomputed, does its input change?
	 */
	track = cq->stage_update && !gm->stage_changed && !gm->delta;
	if (gm->delta && found)
		before = pgs_reagg_row_before(gm->t.merger, fr, nkeys, in->tts_values, in->tts_isnull,
									  gm->stored, gm->stored_null);
	if (track && !cq->stage_skips)
		gm->stage_changed = true;
	else if (track && found)
		before = pgs_reagg_row_before(gm->t.merger, fr, nkeys, in->tts_values, in->tts_isnull,
									  gm->stored, gm->stored_null);

	ExecClearTuple(fr->fslot);
	aggmerger_combine(gm->t.merger, !found, gm->stored, gm->stored_null,
					  in->tts_values + nkeys, in->tts_isnull + nkeys,
					  fr->fslot->tts_values + nkeys, fr->fslot->tts_isnull + nkeys);

	/*
	 * The view's row; in append mode, once the window is final (the state
	 * keeps the tid it has, of a row written in another mode).
	 */
	if (gm->delta)
		pgs_delta_group(gm->delta, fr, nkeys, in->tts_values, in->tts_isnull, before);
	else if (track && !gm->stage_changed)
		gm->stage_changed = pgs_reagg_row_changed(fr, nkeys, in->tts_values, in->tts_isnull,
												  before);
	if (cq->mode != OUTPUT_APPEND && !cq->stage_query)
	{
		/* where the group's row is: at the tid its state keeps, else by key */
		if (found)
			has_row = find_view_row(gm->t.vw, rowtid, rowtid_null, in->tts_values,
									in->tts_isnull, gm->t.vfetch);
		else if (gm->t.lookup_new)
			has_row = kstore_lookup(gm->t.vw, in->tts_values, in->tts_isnull, NULL);
		keep = final_row_project(fr, nkeys, in->tts_values, in->tts_isnull);
		rowtid_null = true;
		if (keep)
		{
			if (has_row)
				kstore_update(gm->t.vw, fr->vslot);
			else if (found || gm->t.lookup_new)
				kstore_insert(gm->t.vw, fr->vslot);
			else
			{
				(void) kstore_insert_buffered(gm->t.vw, fr->vslot);
				viewrow = gm->pend.nview++;
			}
			if (viewrow < 0)
			{
				rowtid = PointerGetDatum(&fr->vslot->tts_tid);
				rowtid_null = false;
			}
			if (gm->sink_rows)
				tuplestore_puttupleslot(gm->sink_rows, fr->vslot);
			gm->n++;
		}
		else if (has_row)
		{
			kstore_delete_current(gm->t.vw);
			if (gm->sink_deleted)
				tuplestore_puttupleslot(gm->sink_deleted, fr->vslot);
			gm->n++;
		}
	}

	/* the new state */
	if (found || gm->t.lookup_new)
	{
		ExecClearTuple(nsslot);
		memcpy(nsslot->tts_values, in->tts_values, sizeof(Datum) * nkeys);
		memcpy(nsslot->tts_isnull, in->tts_isnull, sizeof(bool) * nkeys);
		memcpy(nsslot->tts_values + nkeys, gm->stored, sizeof(Datum) * naggs);
		memcpy(nsslot->tts_isnull + nkeys, gm->stored_null, sizeof(bool) * naggs);
		/* the row's tid, or NULL (and any column a user added) */
		for (int c = nkeys + naggs; c < gm->t.sdesc->natts; c++)
			nsslot->tts_isnull[c] = true;
		if (gm->t.rowcol)
		{
			nsslot->tts_values[gm->t.rowcol - 1] = rowtid;
			nsslot->tts_isnull[gm->t.rowcol - 1] = rowtid_null;
		}
		ExecStoreVirtualTuple(nsslot);
		if (found)
			kstore_update(gm->t.sw, nsslot);
		else
		{
			kstore_insert(gm->t.sw, nsslot);
			(*gm->state_rows)++;
		}
	}
	else
	{
		pending_add(&gm->pend, gm->t.sdesc, in->tts_values, in->tts_isnull,
					gm->stored, gm->stored_null, viewrow);
		(*gm->state_rows)++;
		if (gm->pend.n == KSTORE_BUFFER_ROWS)
		{
			/*
			 * Many new groups in a state empty at the batch's start: its
			 * index entries are built in bulk at the end (engine/store.c;
			 * no group of the batch is looked up twice, and a duplicate
			 * would fail the unique index's build). Not the view's, which
			 * its readers use meanwhile.
			 */
			if (!gm->bulk_tried && *gm->state_rows > MERGE_BULK_INDEX_GROUPS)
			{
				gm->bulk_tried = true;
				(void) kstore_defer_indexes(gm->t.sw);
			}
			pending_flush(&gm->pend, gm->t.vw, gm->t.sw, nsslot, gm->t.rowcol);
		}
	}
	aggmerger_reset(gm->t.merger);
	ResetExprContext(fr->econtext);
}

/* the rows written to the view (and deleted from it) */
static int64
merge_end(GroupMerge *gm)
{
	pending_flush(&gm->pend, gm->t.vw, gm->t.sw, gm->t.nsslot, gm->t.rowcol);
	MemoryContextDelete(gm->pend.cxt);
	group_tables_close(&gm->t);
	return gm->n;
}

/*
 * Aggregation: merge each group of the batch into its stored state and
 * write its row of the view (update and complete modes: the view always
 * holds the whole result; HAVING decides whether a group has a row; in
 * append mode the row is written when the window is final, see
 * finalize_windows). A group whose window is already final under the
 * watermark is dropped, its rows counted as late.
 *
 * Set-wise: the batch's groups come sorted by their keys (the batch
 * query's ORDER BY), and the state is read in that order through the
 * keyed store (a walk of its key index, or a probe per group, engine/
 * store.c). A group found has its view row at the tid its state row
 * keeps; a group not found has no view row (a state row is evicted only
 * when its window is final, and rows for a final window are late, while
 * the view evicts; a view row never outlives its state otherwise), so new
 * groups cost no lookup at all and are written in multi-inserts. A view
 * that evicted and evicts no more looks new groups up (lookup_new). Each
 * touched group costs at most one index lookup and one write in the state
 * table and one in the view, updates in place. A DestReceiver: the groups
 * are merged as they come (from the plan, or from a tuplestore).
 */
typedef struct MergeReceiver
{
	OutputReceiver out;
	CqDef	   *cq;
	int64		groups;
	bool		has_watermark;
	int64		watermark;
	int64	   *state_rows;
	int64	   *rows_late;
	Tuplestorestate *sink_rows;
	Tuplestorestate *sink_deleted;
	GroupMerge	gm;
} MergeReceiver;

static void
merge_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	MergeReceiver *r = (MergeReceiver *) self;

	merge_begin(&r->gm, r->cq, typeinfo, r->has_watermark, r->watermark, r->state_rows,
				r->rows_late, r->sink_rows, r->sink_deleted, r->groups);
}

static bool
merge_receive(TupleTableSlot *slot, DestReceiver *self)
{
	merge_group(&((MergeReceiver *) self)->gm, slot);
	return true;
}

static void
merge_shutdown(DestReceiver *self)
{
	MergeReceiver *r = (MergeReceiver *) self;

	r->out.n = merge_end(&r->gm);
	/* a query over the aggregation in update mode: by deltas, or if its input changed */
	if (r->gm.delta)
		r->out.n = pgs_delta_apply(r->gm.delta);
	else if (r->cq->stage_update && r->gm.stage_changed)
		r->out.n = pgs_reagg_write(r->cq);
}

/*
 * The receiver of an aggregation's groups, groups of them (0: not known,
 * for a state that never held a row, which is walked whatever comes).
 */
DestReceiver *
pgs_merge_receiver(CqDef *cq, int64 groups, bool has_watermark, int64 watermark,
				   int64 *state_rows, int64 *rows_late,
				   Tuplestorestate *sink_rows, Tuplestorestate *sink_deleted)
{
	MergeReceiver *r;

	if (cq->session_col)		/* a session window: engine/session.c */
		return pgs_session_receiver(cq, groups, has_watermark, watermark, state_rows,
									rows_late, sink_rows, sink_deleted);
	r = output_receiver(sizeof(MergeReceiver), merge_receive, merge_startup,
						merge_shutdown);
	r->cq = cq;
	r->groups = groups;
	r->has_watermark = has_watermark;
	r->watermark = watermark;
	r->state_rows = state_rows;
	r->rows_late = rows_late;
	r->sink_rows = sink_rows;
	r->sink_deleted = sink_deleted;
	return &r->out.pub;
}


/*
 * A query over the aggregation (engine/stage.c): run it over the rows of
 * the windows made final, and write its rows, once, as append mode
 * writes a window's: to the view, its copy, and the sink.
 */
static int64
stage_write(CqDef *cq, Tuplestorestate *rows, TupleDesc rowdesc, Relation vrel,
			KeyedStore *vw, KeyedStore *cw, Tuplestorestate *sink_rows)
{
	TupleDesc	outdesc;
	Tuplestorestate *out = pgs_stage_run(cq, rows, rowdesc, &outdesc);
	TupleDesc	vdesc = RelationGetDescr(vrel);
	TupleTableSlot *oslot = MakeSingleTupleTableSlot(outdesc, &TTSOpsMinimalTuple);
	TupleTableSlot *vslot = MakeSingleTupleTableSlot(vdesc, &TTSOpsVirtual);
	int64		n = 0;

	tuplestore_end(rows);
	while (tuplestore_gettupleslot(out, true, false, oslot))
	{
		copy_slot_values(oslot, vslot, vdesc->natts);
		kstore_insert(vw, vslot);
		kstore_insert(cw, vslot);
		if (sink_rows)
			tuplestore_puttupleslot(sink_rows, vslot);
		n++;
	}
	tuplestore_end(out);
	ExecDropSingleTupleTableSlot(oslot);
	ExecDropSingleTupleTableSlot(vslot);
	return n;
}

/*
 * Under an aggregation by a coarser window (engine/stage.c), the groups
 * go when their outer window is final: the last start of an inner window
 * in an outer window that ends at or before the watermark.
 */
static int64
stage_last_start(CqDef *cq, int64 watermark)
{
	int64		size = cq->stage_window_size;
	int64		from;

	if (pg_sub_s64_overflow(watermark, size, &from))
		return PG_INT64_MIN;
	/* outer windows starting at or before from are final */
	return pgs_window_start(from, size, cq->stage_window_origin) + size - 1;
}

/*
 * The windows the watermark has made final: in append mode their rows go
 * into the view (and the sink) now, once; in update mode the view has
 * them already. Either way they go into the copy of the final rows (for
 * pg_dump) and their state is evicted. One range scan of the state's
 * index on the window (engine/store.c) over the windows that end at or
 * before the watermark; nothing else is read.
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
	AttrNumber	rowcol = view_row_column(cq, srel);
	AttrNumber	wcol = cq->window_key + 1;
	Relation	widx;
	KStoreScan *scan;
	EState	   *estate = CreateExecutorState();
	KeyedStore *vw = kstore_open(vrel, cq->stage_query ? 0 : nkeys, cq->key_viewcols,
								 estate);
	KeyedStore *cw = kstore_open(crel, 0, NULL, estate);
	Tuplestorestate *stage_rows = NULL;
	AggMerger  *merger = NULL;
	TupleTableSlot *sslot = table_slot_create(srel, NULL);
	TupleTableSlot *vfetch = table_slot_create(vrel, NULL);
	FinalRow	fr;
	int64		n = 0;

	Assert(cq != NULL && cq->evicts && evicted != NULL && nkeys > 0);
	*evicted = 0;
	if (pg_sub_s64_overflow(watermark, cq->window_size, &last))
		last = PG_INT64_MIN;	/* -infinity: only windows starting there */
	else if (cq->stage_window_size > 0)
		last = stage_last_start(cq, watermark);
	final_row_init(&fr, cq, RelationGetDescr(srel), vrel, estate);
	if (cq->session_col)
		scan = pgs_session_expired(cq, srel, watermark, &widx);	/* engine/session.c */
	else
	{
		widx = kstore_index_on(srel, 1, &wcol, AccessShareLock);
		scan = kstore_scan_expired(srel, widx, wcol, last, GetActiveSnapshot());
	}
	while (kstore_scan_next(scan, sslot))
	{
		if (merger == NULL)
		{
			/* the aggregates' state types are resolved by planning (no-data batch) */
			if (!cq->planned)
				(void) pgs_plan_batch(cq);
			merger = aggmerger_create(cq, CurrentMemoryContext);
		}
		slot_getallattrs(sslot);
		ExecClearTuple(fr.fslot);
		aggmerger_finalize(merger, sslot->tts_values + nkeys, sslot->tts_isnull + nkeys,
						   fr.fslot->tts_values + nkeys, fr.fslot->tts_isnull + nkeys);
		if (final_row_project(&fr, nkeys, sslot->tts_values, sslot->tts_isnull))
		{
			if (cq->stage_query)
			{
				/* the aggregation's row, for the query over it (below) */
				if (stage_rows == NULL)
					stage_rows = tuplestore_begin_heap(false, false, work_mem);
				tuplestore_puttupleslot(stage_rows, fr.vslot);
			}
			else if (cq->mode == OUTPUT_APPEND)
			{
				/*
				 * A view switched from update mode may have the row
				 * already, and so has its sink: sent in update mode, it
				 * is not sent again (a table sink would refuse the key).
				 */
				if (find_view_row(vw, rowcol ? sslot->tts_values[rowcol - 1] : (Datum) 0,
								  !rowcol || sslot->tts_isnull[rowcol - 1],
								  sslot->tts_values, sslot->tts_isnull, vfetch))
					kstore_update(vw, fr.vslot);
				else
				{
					kstore_insert(vw, fr.vslot);
					if (sink_rows)
						tuplestore_puttupleslot(sink_rows, fr.vslot);
				}
				n++;
			}
			if (!cq->stage_query)
				kstore_insert(cw, fr.vslot);
		}
		simple_table_tuple_delete(srel, &sslot->tts_tid, GetActiveSnapshot());
		(*evicted)++;
		aggmerger_reset(merger);
		ResetExprContext(fr.econtext);
	}
	kstore_scan_end(scan);
	if (widx)
		index_close(widx, AccessShareLock);
	/* (a stream beside the aggregation may have rows of windows it has none of) */
	if (stage_rows == NULL && cq->stage_query && pgs_stage_side_rows(cq))
		stage_rows = tuplestore_begin_heap(false, false, work_mem);
	if (stage_rows)
		n += stage_write(cq, stage_rows, fr.vslot->tts_tupleDescriptor, vrel, vw, cw,
						 sink_rows);
	final_row_end(&fr);
	kstore_close(vw);
	kstore_close(cw);
	ExecDropSingleTupleTableSlot(sslot);
	ExecDropSingleTupleTableSlot(vfetch);
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
 * group has no row until its window is final). A query over the
 * aggregation in update mode is computed again, over the state
 * (engine/reagg.c).
 */
void
pgs_rebuild_from_state(CqDef *cq)
{
	Relation	vrel;
	EState	   *estate;
	KeyedStore *vw;
	TupleTableSlot *vslot;
	int			natts;
	int			nkeys = cq->nkeys;

	if (cq->stage_update)
	{
		(void) pgs_reagg_write(cq);
		return;
	}
	vrel = table_open(cq->viewid, RowExclusiveLock);
	estate = CreateExecutorState();
	vw = kstore_open(vrel, 0, NULL, estate);
	vslot = MakeSingleTupleTableSlot(RelationGetDescr(vrel), &TTSOpsVirtual);
	natts = RelationGetDescr(vrel)->natts;

	if (OidIsValid(cq->rows_relid))
	{
		Relation	from = table_open(cq->rows_relid, AccessShareLock);
		TupleTableSlot *in = table_slot_create(from, NULL);
		TableScanDesc scan = table_beginscan(from, GetActiveSnapshot(), 0, NULL);

		while (table_scan_getnextslot(scan, ForwardScanDirection, in))
		{
			copy_slot_values(in, vslot, natts);
			kstore_insert(vw, vslot);
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
				kstore_insert(vw, fr.vslot);
			aggmerger_reset(merger);
			ResetExprContext(fr.econtext);
		}
		table_endscan(scan);
		final_row_end(&fr);
		ExecDropSingleTupleTableSlot(in);
		table_close(from, AccessShareLock);
	}
	kstore_close(vw);
	ExecDropSingleTupleTableSlot(vslot);
	FreeExecutorState(estate);
	table_close(vrel, NoLock);
}
