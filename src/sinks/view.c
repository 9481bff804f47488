/*-------------------------------------------------------------------------
 *
 * view.c
 *	  Writing rows into a keyed table: the continuous view's own table
 *	  (a materialized view's heap) and the query's state table.
 *
 * A continuous view's table is a real materialized view, so any client can
 * read it, \d shows it, and pg_dump knows it. PostgreSQL's executor
 * refuses DML on a materialized view, so the engine writes its heap
 * directly through the table AM, and keeps every index of the view up to
 * date as COPY does. Rows are found by their group key through the
 * unique index (NULLS NOT DISTINCT) the engine created on the key
 * columns, so each changed group is touched once per batch, never the
 * whole history.
 *
 * Only the engine writes these tables, under the query's lock (see
 * engine/batch.c), so a row found is a row that can be updated.
 *
 *-------------------------------------------------------------------------
 */
#include "sinks/sinks.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

struct ViewWriter
{
	Relation	rel;
	ResultRelInfo *rri;
	EState	   *estate;
	int			nkeys;
	Relation	keyidx;			/* unique index on the keys (nkeys > 0) */
	ScanKeyData *skeys;
	Oid		   *eqprocs;
	ItemPointerData curtid;		/* row found by the last lookup */
	bool		have_cur;
};

/* the unique index whose columns are exactly keycols, in order */
static Relation
find_key_index(ResultRelInfo *rri, int nkeys, AttrNumber *keycols)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		Relation	idx = rri->ri_IndexRelationDescs[i];
		Form_pg_index ind = idx->rd_index;
		bool		match;

		if (!ind->indisunique || ind->indnkeyatts != nkeys ||
			idx->rd_rel->relam != BTREE_AM_OID ||
			RelationGetIndexPredicate(idx) != NIL)
			continue;
		match = true;
		for (int k = 0; k < nkeys && match; k++)
			match = (ind->indkey.values[k] == keycols[k]);
		if (match)
			return idx;
	}
	return NULL;
}

ViewWriter *
viewwriter_open(Relation rel, int nkeys, AttrNumber *keycols, EState *estate)
{
	ViewWriter *w = palloc0(sizeof(ViewWriter));

	Assert(rel != NULL && nkeys >= 0 && (nkeys == 0 || keycols != NULL));
	w->rel = rel;
	w->estate = estate;
	w->nkeys = nkeys;
	w->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(w->rri, rel, 0, NULL, 0);
	ExecOpenIndices(w->rri, false);
	if (nkeys > 0)
	{
		w->keyidx = find_key_index(w->rri, nkeys, keycols);
		if (w->keyidx == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("\"%s\" has lost the unique index on its group key",
							RelationGetRelationName(rel)),
					 errhint("Drop and re-create the continuous view.")));
		w->skeys = palloc0(sizeof(ScanKeyData) * nkeys);
		w->eqprocs = palloc0(sizeof(Oid) * nkeys);
		for (int k = 0; k < nkeys; k++)
		{
			Oid			opfamily = w->keyidx->rd_opfamily[k];
			Oid			opcintype = w->keyidx->rd_opcintype[k];
			Oid			eqop = get_opfamily_member(opfamily, opcintype, opcintype,
												   BTEqualStrategyNumber);

			if (!OidIsValid(eqop))
				elog(ERROR, "missing equality operator for index \"%s\"",
					 RelationGetRelationName(w->keyidx));
			w->eqprocs[k] = get_opcode(eqop);
		}
	}
	return w;
}

/*
 * Find the row with these key values. If found, store it in "found" (may
 * be NULL) and remember it for update/delete.
 */
bool
viewwriter_lookup(ViewWriter *w, Datum *keys, bool *keynulls,
				  TupleTableSlot *found)
{
	Snapshot	snap = GetActiveSnapshot();
	TupleTableSlot *slot = found ? found : table_slot_create(w->rel, NULL);
	bool		ok;

	Assert(w != NULL);
	w->have_cur = false;
	if (w->nkeys == 0)
	{
		/* a query without GROUP BY has a single row */
		TableScanDesc scan = table_beginscan(w->rel, snap, 0, NULL);

		ok = table_scan_getnextslot(scan, ForwardScanDirection, slot);
		table_endscan(scan);
	}
	else
	{
		IndexScanDesc scan;

		for (int k = 0; k < w->nkeys; k++)
		{
			if (keynulls[k])
				ScanKeyEntryInitialize(&w->skeys[k], SK_ISNULL | SK_SEARCHNULL,
									   k + 1, InvalidStrategy, InvalidOid,
									   InvalidOid, InvalidOid, (Datum) 0);
			else
				ScanKeyEntryInitialize(&w->skeys[k], 0, k + 1,
									   BTEqualStrategyNumber,
									   w->keyidx->rd_opcintype[k],
									   w->keyidx->rd_indcollation[k],
									   w->eqprocs[k], keys[k]);
		}
		scan = index_beginscan(w->rel, w->keyidx, snap, w->nkeys, 0);
		index_rescan(scan, w->skeys, w->nkeys, NULL, 0);
		ok = index_getnext_slot(scan, ForwardScanDirection, slot);
		index_endscan(scan);
	}
	if (ok)
	{
		w->curtid = slot->tts_tid;
		w->have_cur = true;
	}
	if (found == NULL)
		ExecDropSingleTupleTableSlot(slot);
	return ok;
}

void
viewwriter_insert(ViewWriter *w, TupleTableSlot *slot)
{
	Assert(w != NULL && !TTS_EMPTY(slot));
	table_tuple_insert(w->rel, slot, GetCurrentCommandId(true), 0, NULL);
	if (w->rri->ri_NumIndices > 0)
		ExecInsertIndexTuples(w->rri, slot, w->estate, false, false, NULL, NIL);
}

/* replace the row found by the last lookup */
void
viewwriter_update(ViewWriter *w, TupleTableSlot *slot)
{
	bool		update_indexes;

	Assert(w->have_cur);
	simple_table_tuple_update(w->rel, &w->curtid, slot, GetActiveSnapshot(),
							  &update_indexes);
	if (update_indexes && w->rri->ri_NumIndices > 0)
		ExecInsertIndexTuples(w->rri, slot, w->estate, true, false, NULL, NIL);
	w->have_cur = false;
}

/* replace the row at tid */
void
viewwriter_update_tid(ViewWriter *w, ItemPointer tid, TupleTableSlot *slot)
{
	Assert(w != NULL && ItemPointerIsValid(tid));
	w->curtid = *tid;
	w->have_cur = true;
	viewwriter_update(w, slot);
}

void
viewwriter_delete_current(ViewWriter *w)
{
	Assert(w->have_cur);
	simple_table_tuple_delete(w->rel, &w->curtid, GetActiveSnapshot());
	w->have_cur = false;
}

void
viewwriter_close(ViewWriter *w)
{
	ExecCloseIndices(w->rri);
}
