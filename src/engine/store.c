/*-------------------------------------------------------------------------
 *
 * store.c
 *	  The keyed state store: tables the engine reads and writes by key.
 *
 * Everything a continuous query keeps between batches is a table found by
 * a key: the view's own table (a materialized view's heap, one row per
 * group), an aggregation's state table (one row per group: the
 * aggregates' states), the outer state of a query over an aggregation
 * computed by deltas (one row per outer group: its sums and counts,
 * engine/reagg_delta.c), each side of a join (the rows that can still
 * match, keyed by the join key). They are ordinary heaps, so they are
 * WAL-logged, crash-safe, dumped and vacuumed like any table, and a
 * batch's writes commit with its source positions. This file is the one
 * way in: a KeyedStore opens such a table with the btree index on its
 * key, and a batch reaches it in what its new rows cost, never in what
 * the table holds.
 *
 * Design.
 *
 *	- Keys are found through a btree index on the key columns: unique
 *	  (NULLS NOT DISTINCT) for one row per key, or not, for many. Lookups
 *	  share one index scan, restarted per key (no scan set-up per row).
 *
 *	- Ordered access. A batch that hands its keys in ascending order (the
 *	  order of the index: its operator class, collation, NULLS LAST) says
 *	  so with kstore_begin_ordered, giving how many keys it will look up
 *	  and how many rows the table holds. If the keys are dense (at least
 *	  one for every KSTORE_WALK_RATIO rows), the store walks the index once
 *	  from the first key, reading keys from the index tuples and the heap
 *	  only for a key that matches: a merge join of the batch with the
 *	  store, in steps that cost a comparison each, instead of one descent
 *	  of the tree per key (keys whose first column is NULL, which sort
 *	  last and which a walk started at a value never reaches, are
 *	  probed). Otherwise the keys are sparse, and each is reached from
 *	  where the last one left the index (a gallop): up to
 *	  KSTORE_GALLOP_STEPS entries forward, then, if it is still ahead, one
 *	  descent to it (a scan started again at the row (k1, k2, ...) >= the
 *	  key). After a descent the next key may take one step only, and twice
 *	  as many after each key reached by steps, so keys that are each far
 *	  from the last (a key's newest window, past its older ones) cost a
 *	  descent and one step, not eight. So a run of neighbouring keys in a sparse batch, such as one
 *	  key's sliding windows (each row in size / slide of them), costs one
 *	  descent and a step per key, and a key that is not there costs no
 *	  descent when the entry after the previous key is already past it. A
 *	  descent reads the rest of its leaf page, where a probe stops at its
 *	  key: when more than half of KSTORE_GALLOP_TRIAL lookups descended
 *	  (keys each far from the last), the batch's other keys are probed. Keys
 *	  with a NULL column are probed. The order is checked: a key not above
 *	  the previous one turns the walk and the gallop off with a warning, and
 *	  each key is probed, so no row is missed.
 *
 *	- A row found once can be reached again by its tid: kstore_fetch
 *	  returns the row at a remembered tid only if it is visible and still
 *	  has the given keys (a VACUUM FULL, a restore or a rewrite moves rows;
 *	  the caller then looks the key up). It prunes the page first, as an
 *	  index scan does, so updates find room on it. An aggregation keeps
 *	  the tid of each group's view row in its state row, so a group
 *	  touched costs one index lookup (the state's), not two.
 *
 *	- Inserts are buffered (kstore_insert_buffered) and written with
 *	  table_multi_insert, one WAL record and one buffer lock per page
 *	  rather than per row, as COPY does; the index entries follow per row.
 *	  kstore_flush writes them and leaves each buffered slot holding its
 *	  row's tid until the next call.
 *
 *	- A table that was empty when the store opened it, and that the batch
 *	  fills with many rows it will not look up again (an aggregation's
 *	  first batch: its groups are distinct), can have its index entries
 *	  built in bulk (kstore_defer_indexes): the rows go in without them,
 *	  and kstore_close rebuilds each index from the table, as CREATE
 *	  INDEX does (sorted, pages written whole), in the batch's
 *	  transaction, unique indexes still checked. The rebuild gives each
 *	  index a new file, which needs the table in SHARE mode and each
 *	  index in ACCESS EXCLUSIVE mode until the commit; the store asks for
 *	  them without waiting and writes the entries one by one if another
 *	  session holds any. Only for tables no one else reads by index
 *	  meanwhile (an aggregation's state, not the view: its readers plan
 *	  with its indexes and would wait for the batch).
 *
 *	- Updates replace a row in place when its page has room (HOT: the
 *	  engine never changes an indexed column of a state row; the tables
 *	  are created with a fillfactor that leaves room, see ddl.c), so an
 *	  update writes no index entry.
 *
 *	- Rows that expire are found through a second btree index whose first
 *	  column is their expiry (a window's start, a join row's expiry),
 *	  with one range scan: kstore_scan_expired (below).
 *
 *	- Rows of one key kept as disjoint intervals (a session window's
 *	  sessions) are found backwards from a point: kstore_scan_below, one
 *	  descent, then as many rows as reach the point; or, for keys dense in
 *	  the index, by one walk of it (kstore_scan_walk).
 *
 *	- States the executor reads (a join's sides: several scans of one
 *	  table open at once, each restarted by its join) are read through a
 *	  KStoreScan: the rows of a sorted set of keys (one descent each, by
 *	  a key index that may hold many rows a key), the expired rows, or
 *	  the whole table when the keys are many for it. The caller finds the
 *	  keys (the other side's new rows, engine/join.c) and decides.
 *
 * So each operator's state is a table of its own shape (an aggregation:
 * keys, states, its view row's tid; a join side: the stream's columns,
 * expiry, matched), and all of them are reached the same way: by key
 * through one index, by expiry through another, written in place.
 *
 * Only the engine writes these tables, under the query's lock (see
 * engine/batch.c), so a row found is a row that can be updated.
 * PostgreSQL's executor refuses DML on a materialized view, so the view's
 * heap is written directly through the table AM, keeping every index of
 * the table up to date as COPY does.
 *
 *-------------------------------------------------------------------------
 */
#include "engine/engine.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/nbtree.h"
#include "access/relscan.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* walk the index when the keys looked up are at least 1 in this many rows */
#define KSTORE_WALK_RATIO 16
/* sparse keys: entries stepped over before a descent to the key instead */
#define KSTORE_GALLOP_STEPS 8
/*
 * ... and the lookups over which it counts its descents: more than half of
 * them descending, it probes the batch's remaining keys instead. A descent
 * (a scan started at a row comparison) reads and checks the rest of the
 * leaf page it lands on, where a probe stops at its key: keys each far
 * from the last (a random sparse batch) cost a third to a half more CPU
 * by gallop than by probes.
 */
#define KSTORE_GALLOP_TRIAL 128

struct KeyedStore
{
	Relation	rel;
	ResultRelInfo *rri;
	EState	   *estate;
	int			nkeys;
	Relation	keyidx;			/* unique index on the keys (nkeys > 0) */
	ScanKeyData *skeys;
	Oid		   *eqprocs;
	FmgrInfo   *cmpprocs;		/* the index's order procs, per key */
	IndexScanDesc scan;			/* shared by the lookups */
	IndexScanDesc walkscan;		/* the walk of the index */
	TupleTableSlot *scanslot;	/* for lookups that want no row */
	ItemPointerData curtid;		/* row found by the last lookup */
	bool		have_cur;
	BlockNumber nblocks;		/* the table's size when opened */
	MemoryContext cxt;			/* the store's: its scans and slots */

	/* ordered access (kstore_begin_ordered) */
	bool		ordered;
	bool		walking;		/* one walk of the index */
	bool		gallop;			/* a walk that descends past gaps */
	int			gallop_steps;	/* steps the next lookup may take */
	bool		descended;		/* the last lookup descended to its key */
	int			gallop_lookups; /* lookups of this trial, and */
	int			gallop_descents;	/* how many of them descended */
	ScanKeyData *rowkeys;		/* gallop: the row comparison (nkeys) */
	ScanKeyData rowhead;		/* and its header */
	MemoryContext rowcxt;		/* its values: the scan reads them */
	bool		walk_done;		/* the index has no more entries */
	bool		have_entry;		/* entry read and not consumed */
	Datum	   *ekeys;			/* its keys */
	bool	   *enulls;
	bool		have_prev;
	Datum	   *pkeys;			/* the previous key looked up */
	bool	   *pnulls;
	MemoryContext prevcxt;

	/* index entries built in bulk at the close (kstore_defer_indexes) */
	bool		defer_indexes;

	/* buffered inserts */
	TupleTableSlot **buf;
	int			nbuf;
	int			nbuf_written;	/* slots of the last flush */
	MemoryContext bufcxt;
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

		if (!ind->indisunique || !ind->indisvalid || ind->indnkeyatts != nkeys ||
			ind->indnatts != nkeys || idx->rd_rel->relam != BTREE_AM_OID ||
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

KeyedStore *
kstore_open(Relation rel, int nkeys, AttrNumber *keycols, EState *estate)
{
	KeyedStore *s = palloc0(sizeof(KeyedStore));

	Assert(rel != NULL && nkeys >= 0 && (nkeys == 0 || keycols != NULL));
	s->rel = rel;
	s->estate = estate;
	s->nkeys = nkeys;
	s->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(s->rri, rel, 0, NULL, 0);
	ExecOpenIndices(s->rri, false);
	s->nblocks = RelationGetNumberOfBlocks(rel);
	s->cxt = CurrentMemoryContext;
	if (nkeys > 0)
	{
		s->keyidx = find_key_index(s->rri, nkeys, keycols);
		if (s->keyidx == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("\"%s\" has lost the unique index on its group key",
							RelationGetRelationName(rel)),
					 errhint("Drop and re-create the continuous view.")));
		s->skeys = palloc0(sizeof(ScanKeyData) * nkeys);
		s->eqprocs = palloc0(sizeof(Oid) * nkeys);
		s->cmpprocs = palloc0(sizeof(FmgrInfo) * nkeys);
		for (int k = 0; k < nkeys; k++)
		{
			Oid			opfamily = s->keyidx->rd_opfamily[k];
			Oid			opcintype = s->keyidx->rd_opcintype[k];
			Oid			eqop = get_opfamily_member(opfamily, opcintype, opcintype,
												   BTEqualStrategyNumber);

			if (!OidIsValid(eqop))
				elog(ERROR, "missing equality operator for index \"%s\"",
					 RelationGetRelationName(s->keyidx));
			s->eqprocs[k] = get_opcode(eqop);
			fmgr_info_copy(&s->cmpprocs[k], index_getprocinfo(s->keyidx, k + 1, BTORDER_PROC),
						   CurrentMemoryContext);
		}
		s->ekeys = palloc0(sizeof(Datum) * nkeys);
		s->enulls = palloc0(sizeof(bool) * nkeys);
		s->pkeys = palloc0(sizeof(Datum) * nkeys);
		s->pnulls = palloc0(sizeof(bool) * nkeys);
		s->prevcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream previous key",
										   ALLOCSET_SMALL_SIZES);
	}
	return s;
}

/*
 * The keys of later lookups come in ascending order: there are about
 * probes of them, and the table holds about rows rows. Walk the index
 * once if they are dense, else probe it per key.
 */
void
kstore_begin_ordered(KeyedStore *s, int64 probes, int64 rows)
{
	Assert(s->nkeys > 0);
	s->ordered = true;
	s->walking = (rows <= probes * KSTORE_WALK_RATIO);
	s->gallop = !s->walking;
	s->gallop_steps = KSTORE_GALLOP_STEPS;
	s->gallop_lookups = s->gallop_descents = 0;
	/* a walk compares index tuples in the index's order: default only */
	for (int k = 0; k < s->nkeys; k++)
		if (s->keyidx->rd_indoption[k] != 0)
			s->walking = s->gallop = false;
}

/* the shared index scan of the lookups, restarted with the scan keys in skeys */
static IndexScanDesc
key_scan(KeyedStore *s)
{
	if (s->scan == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(s->cxt);

		s->scan = index_beginscan(s->rel, s->keyidx, GetActiveSnapshot(), s->nkeys, 0);
		MemoryContextSwitchTo(old);
	}
	index_rescan(s->scan, s->skeys, s->nkeys, NULL, 0);
	return s->scan;
}

/* btree order of (a, anull) against (b, bnull), NULLS LAST */
static int
compare_keys(KeyedStore *s, Datum *a, bool *anull, Datum *b, bool *bnull)
{
	for (int k = 0; k < s->nkeys; k++)
	{
		int32		c;

		if (anull[k] || bnull[k])
		{
			if (anull[k] && bnull[k])
				continue;
			return anull[k] ? 1 : -1;
		}
		c = DatumGetInt32(FunctionCall2Coll(&s->cmpprocs[k],
											s->keyidx->rd_indcollation[k],
											a[k], b[k]));
		if (c != 0)
			return c;
	}
	return 0;
}

/*
 * Ordered lookups: the key must be above the last one. If it is not (a
 * batch whose order is not the index's: a bug), the store says so and
 * goes on probing each key, which needs no order, rather than miss a row.
 */
static void
check_order(KeyedStore *s, Datum *keys, bool *keynulls)
{
	MemoryContext old;

	if (s->have_prev && compare_keys(s, s->pkeys, s->pnulls, keys, keynulls) >= 0)
	{
		elog(WARNING, "keys looked up in \"%s\" are not in ascending order: probing each",
			 RelationGetRelationName(s->rel));
		s->ordered = false;
		s->walking = false;
		s->gallop = false;
		return;
	}
	MemoryContextReset(s->prevcxt);
	old = MemoryContextSwitchTo(s->prevcxt);
	for (int k = 0; k < s->nkeys; k++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(s->rel),
											  s->keyidx->rd_index->indkey.values[k] - 1);

		s->pnulls[k] = keynulls[k];
		s->pkeys[k] = keynulls[k] ? (Datum) 0 :
			datumCopy(keys[k], att->attbyval, att->attlen);
	}
	MemoryContextSwitchTo(old);
	s->have_prev = true;
}

/*
 * The gallop's scan, (re)started at the first entry whose keys are at or
 * above these (none NULL): a row comparison, so one descent lands on the
 * key itself whatever its first column. A key of one column is a plain
 * ">=": nbtree's _bt_first takes a row comparison to have two members at
 * least and reads the one after the first (past the array, for one).
 */
static void
gallop_position(KeyedStore *s, Datum *keys)
{
	if (s->walkscan == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(s->cxt);

		s->rowkeys = palloc0(sizeof(ScanKeyData) * s->nkeys);
		s->rowcxt = AllocSetContextCreate(s->cxt, "pg_stream gallop key",
										  ALLOCSET_SMALL_SIZES);
		s->walkscan = index_beginscan(s->rel, s->keyidx, GetActiveSnapshot(), 1, 0);
		s->walkscan->xs_want_itup = true;
		MemoryContextSwitchTo(old);
	}
	MemoryContextReset(s->rowcxt);
	if (s->nkeys == 1)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(s->rel),
											  s->keyidx->rd_index->indkey.values[0] - 1);
		Oid			opcintype = s->keyidx->rd_opcintype[0];
		Oid			geop = get_opfamily_member(s->keyidx->rd_opfamily[0], opcintype,
											   opcintype, BTGreaterEqualStrategyNumber);
		MemoryContext old;

		if (!OidIsValid(geop))
			elog(ERROR, "missing >= operator for index \"%s\"",
				 RelationGetRelationName(s->keyidx));
		old = MemoryContextSwitchTo(s->rowcxt);
		ScanKeyEntryInitialize(&s->rowhead, 0, 1, BTGreaterEqualStrategyNumber, opcintype,
							   s->keyidx->rd_indcollation[0], get_opcode(geop),
							   datumCopy(keys[0], att->attbyval, att->attlen));
		MemoryContextSwitchTo(old);
		index_rescan(s->walkscan, &s->rowhead, 1, NULL, 0);
		s->have_entry = false;
		s->walk_done = false;
		return;
	}
	for (int k = 0; k < s->nkeys; k++)
	{
		Form_pg_attribute att = TupleDescAttr(RelationGetDescr(s->rel),
											  s->keyidx->rd_index->indkey.values[k] - 1);
		MemoryContext old = MemoryContextSwitchTo(s->rowcxt);

		/* a row comparison's members take the btree order procs */
		ScanKeyEntryInitializeWithInfo(&s->rowkeys[k],
									   SK_ROW_MEMBER | (k == s->nkeys - 1 ? SK_ROW_END : 0),
									   k + 1, BTGreaterEqualStrategyNumber,
									   s->keyidx->rd_opcintype[k],
									   s->keyidx->rd_indcollation[k],
									   &s->cmpprocs[k],
									   datumCopy(keys[k], att->attbyval, att->attlen));
		MemoryContextSwitchTo(old);
	}
	ScanKeyEntryInitialize(&s->rowhead, SK_ROW_HEADER, 1, BTGreaterEqualStrategyNumber,
						   InvalidOid, InvalidOid, InvalidOid,
						   PointerGetDatum(s->rowkeys));
	index_rescan(s->walkscan, &s->rowhead, 1, NULL, 0);
	s->have_entry = false;
	s->walk_done = false;
}

/*
 * The walk: advance to the keys; the row, if there is one, into slot. In
 * a gallop, after maxsteps entries below the keys, descend to them.
 */
static bool
walk_to(KeyedStore *s, Datum *keys, bool *keynulls, TupleTableSlot *slot,
		int maxsteps)
{
	IndexScanDesc scan;
	int			steps = 0;

	if (maxsteps > 0 && s->walkscan == NULL)
	{
		gallop_position(s, keys);
		s->descended = true;
	}
	scan = s->walkscan;
	if (scan == NULL)
	{
		/*
		 * The index in order from the first key (NULL first keys, at the
		 * end, are probed: see kstore_lookup), its keys read from its
		 * tuples.
		 */
		ScanKeyData start;
		MemoryContext old;
		Oid			opcintype = s->keyidx->rd_opcintype[0];
		Oid			geop = get_opfamily_member(s->keyidx->rd_opfamily[0], opcintype,
											   opcintype, BTGreaterEqualStrategyNumber);

		Assert(!keynulls[0]);
		if (!OidIsValid(geop))
			elog(ERROR, "missing >= operator for index \"%s\"",
				 RelationGetRelationName(s->keyidx));
		ScanKeyEntryInitialize(&start, 0, 1, BTGreaterEqualStrategyNumber, opcintype,
							   s->keyidx->rd_indcollation[0], get_opcode(geop), keys[0]);
		old = MemoryContextSwitchTo(s->cxt);
		scan = s->walkscan = index_beginscan(s->rel, s->keyidx, GetActiveSnapshot(), 1, 0);
		MemoryContextSwitchTo(old);
		scan->xs_want_itup = true;
		index_rescan(scan, &start, 1, NULL, 0);
	}
	while (!s->walk_done)
	{
		int			c;

		if (!s->have_entry)
		{
			if (index_getnext_tid(scan, ForwardScanDirection) == NULL)
			{
				s->walk_done = true;
				break;
			}
			index_deform_tuple(scan->xs_itup, scan->xs_itupdesc, s->ekeys, s->enulls);
			s->have_entry = true;
		}
		c = compare_keys(s, s->ekeys, s->enulls, keys, keynulls);
		if (c > 0)
			break;				/* past the key: kept for the next one */
		if (c < 0 && maxsteps > 0 && ++steps > maxsteps)
		{
			/* far behind: one descent (then only entries at or above it) */
			gallop_position(s, keys);
			s->descended = true;
			maxsteps = 0;
			continue;
		}
		s->have_entry = false;
		/* an entry of the key whose row is dead: a later entry may be live */
		if (c == 0 && index_fetch_heap(scan, slot))
			return true;
	}
	return false;
}

static bool
any_null(bool *nulls, int n)
{
	for (int i = 0; i < n; i++)
		if (nulls[i])
			return true;
	return false;
}

/*
 * Find the row with these key values. If found, store it in "found" (may
 * be NULL) and remember it for update/delete.
 */
bool
kstore_lookup(KeyedStore *s, Datum *keys, bool *keynulls, TupleTableSlot *found)
{
	TupleTableSlot *slot;
	bool		ok;

	Assert(s != NULL);
	s->have_cur = false;
	if (s->nkeys == 0)
	{
		/* a query without GROUP BY has a single row */
		TableScanDesc scan;

		slot = found ? found : table_slot_create(s->rel, NULL);
		scan = table_beginscan(s->rel, GetActiveSnapshot(), 0, NULL);
		ok = table_scan_getnextslot(scan, ForwardScanDirection, slot);
		table_endscan(scan);
		if (ok)
		{
			s->curtid = slot->tts_tid;
			s->have_cur = true;
		}
		if (found == NULL)
			ExecDropSingleTupleTableSlot(slot);
		return ok;
	}
	if (s->ordered)
		check_order(s, keys, keynulls);
	if (s->scanslot == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(s->cxt);

		s->scanslot = table_slot_create(s->rel, NULL);
		MemoryContextSwitchTo(old);
	}
	slot = found ? found : s->scanslot;
	/* the walk starts at the first key, so it never reaches NULL first keys */
	if (s->walking && !keynulls[0])
		ok = walk_to(s, keys, keynulls, slot, 0);
	else if (s->gallop && !any_null(keynulls, s->nkeys))
	{
		s->descended = false;
		ok = walk_to(s, keys, keynulls, slot, s->gallop_steps);
		/* after a descent one step; reached by steps, the next may take more */
		s->gallop_steps = s->descended ? 1 :
			Min(s->gallop_steps * 2, KSTORE_GALLOP_STEPS);
		/* keys mostly far from the last: probes cost less than descents */
		s->gallop_descents += s->descended ? 1 : 0;
		if (++s->gallop_lookups == KSTORE_GALLOP_TRIAL)
		{
			if (s->gallop_descents * 2 > s->gallop_lookups)
				s->gallop = false;
			s->gallop_lookups = s->gallop_descents = 0;
		}
	}
	else
	{
		for (int k = 0; k < s->nkeys; k++)
		{
			if (keynulls[k])
				ScanKeyEntryInitialize(&s->skeys[k], SK_ISNULL | SK_SEARCHNULL,
									   k + 1, InvalidStrategy, InvalidOid,
									   InvalidOid, InvalidOid, (Datum) 0);
			else
				ScanKeyEntryInitialize(&s->skeys[k], 0, k + 1,
									   BTEqualStrategyNumber,
									   s->keyidx->rd_opcintype[k],
									   s->keyidx->rd_indcollation[k],
									   s->eqprocs[k], keys[k]);
		}
		ok = index_getnext_slot(key_scan(s), ForwardScanDirection, slot);
	}
	if (ok)
	{
		s->curtid = slot->tts_tid;
		s->have_cur = true;
	}
	return ok;
}

/*
 * The row at tid, into slot, if it is visible and has these keys (a row
 * found before, its tid remembered); remembered for update/delete.
 */
bool
kstore_fetch(KeyedStore *s, ItemPointer tid, Datum *keys, bool *keynulls,
			 TupleTableSlot *slot)
{
	s->have_cur = false;
	if (!ItemPointerIsValid(tid) || ItemPointerGetBlockNumber(tid) >= s->nblocks)
		return false;

	/*
	 * A fetch by tid does not prune the page as an index scan does: do it
	 * first (on a pin of our own, not the slot's), so the page's old
	 * versions make room and the update can stay on it (HOT).
	 */
	if (s->rel->rd_rel->relam == HEAP_TABLE_AM_OID)
	{
		Buffer		buf = ReadBuffer(s->rel, ItemPointerGetBlockNumber(tid));

		heap_page_prune_opt(s->rel, buf);
		ReleaseBuffer(buf);
	}
	if (!table_tuple_fetch_row_version(s->rel, tid, GetActiveSnapshot(), slot))
		return false;
	for (int k = 0; k < s->nkeys; k++)
	{
		AttrNumber	col = s->keyidx->rd_index->indkey.values[k];
		bool		isnull;
		Datum		v = slot_getattr(slot, col, &isnull);

		if (isnull != keynulls[k])
			return false;
		if (!isnull &&
			!DatumGetBool(OidFunctionCall2Coll(s->eqprocs[k],
											   s->keyidx->rd_indcollation[k],
											   v, keys[k])))
			return false;
	}
	s->curtid = *tid;
	s->have_cur = true;
	return true;
}

void
kstore_insert(KeyedStore *s, TupleTableSlot *slot)
{
	Assert(s != NULL && !TTS_EMPTY(slot));
	table_tuple_insert(s->rel, slot, GetCurrentCommandId(true), 0, NULL);
	if (s->rri->ri_NumIndices > 0 && !s->defer_indexes)
		ExecInsertIndexTuples(s->rri, slot, s->estate, false, false, NULL, NIL);
}

/*
 * Buffer a row to insert (copied); true when the buffer is full and the
 * caller should kstore_flush.
 */
bool
kstore_insert_buffered(KeyedStore *s, TupleTableSlot *slot)
{
	if (s->buf == NULL)
	{
		s->buf = palloc0(sizeof(TupleTableSlot *) * KSTORE_BUFFER_ROWS);
		s->bufcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream insert buffer",
										  ALLOCSET_DEFAULT_SIZES);
	}
	if (s->nbuf_written > 0)
	{
		/* the slots of the last flush are free again */
		for (int i = 0; i < s->nbuf_written; i++)
			ExecClearTuple(s->buf[i]);
		s->nbuf_written = 0;
		MemoryContextReset(s->bufcxt);
	}
	Assert(s->nbuf < KSTORE_BUFFER_ROWS);
	if (s->buf[s->nbuf] == NULL)
		s->buf[s->nbuf] = table_slot_create(s->rel, NULL);
	ExecCopySlot(s->buf[s->nbuf], slot);
	s->nbuf++;
	return s->nbuf == KSTORE_BUFFER_ROWS;
}

/*
 * Write the buffered rows. Returns how many; until the next buffered
 * insert, kstore_flushed(s, i) is the i-th of them with its tid.
 */
int
kstore_flush(KeyedStore *s)
{
	int			n = s->nbuf;
	MemoryContext old;

	if (n == 0)
		return 0;
	old = MemoryContextSwitchTo(s->bufcxt);
	table_multi_insert(s->rel, s->buf, n, GetCurrentCommandId(true), 0, NULL);
	MemoryContextSwitchTo(old);
	if (s->rri->ri_NumIndices > 0 && !s->defer_indexes)
	{
		for (int i = 0; i < n; i++)
		{
			ExecInsertIndexTuples(s->rri, s->buf[i], s->estate, false, false, NULL, NIL);
			ResetPerTupleExprContext(s->estate);
		}
	}
	s->nbuf = 0;
	s->nbuf_written = n;
	return n;
}

TupleTableSlot *
kstore_flushed(KeyedStore *s, int i)
{
	Assert(i >= 0 && i < s->nbuf_written);
	return s->buf[i];
}

/* replace the row found by the last lookup (slot gets its new tid) */
void
kstore_update(KeyedStore *s, TupleTableSlot *slot)
{
	bool		update_indexes;

	Assert(s->have_cur);
	simple_table_tuple_update(s->rel, &s->curtid, slot, GetActiveSnapshot(),
							  &update_indexes);
	if (update_indexes && s->rri->ri_NumIndices > 0 && !s->defer_indexes)
		ExecInsertIndexTuples(s->rri, slot, s->estate, true, false, NULL, NIL);
	s->have_cur = false;
}

/* replace the row at tid */
void
kstore_update_tid(KeyedStore *s, ItemPointer tid, TupleTableSlot *slot)
{
	Assert(s != NULL && ItemPointerIsValid(tid));
	s->curtid = *tid;
	s->have_cur = true;
	kstore_update(s, slot);
}

void
kstore_delete_current(KeyedStore *s)
{
	Assert(s->have_cur);
	simple_table_tuple_delete(s->rel, &s->curtid, GetActiveSnapshot());
	s->have_cur = false;
}

/*------------------------------------------------------------------------
 * Scans of a state: whole, by a sorted set of keys, or its expired rows
 *
 * The reading side of the store: a join's sides, read by the executor
 * (engine/join.c: several scans of one table may be open at once, each
 * with its own position, each may start again), and the rows that expire
 * (a join's, an aggregation's final windows, engine/merge.c).
 *------------------------------------------------------------------------
 */
typedef enum KStoreScanKind
{
	KSCAN_ALL,
	KSCAN_KEYS,
	KSCAN_EXPIRED,
	KSCAN_BELOW,
	KSCAN_WALK
} KStoreScanKind;

struct KStoreScan
{
	KStoreScanKind kind;
	Relation	rel;
	Relation	idx;
	Snapshot	snap;
	IndexScanDesc iscan;
	TableScanDesc hscan;
	/* KSCAN_KEYS: nprobe keys of nkeys values each, in the index's order */
	ScanKeyData *skeys;
	int			nkeys;
	const Datum *keys;
	int			nprobe;
	int			key;			/* the key being read, -1 before the first */
	/* KSCAN_WALK: the entry read last */
	Datum	   *ekeys;
	bool	   *enulls;
	/* KSCAN_BELOW: equalities, then the bound; each column's procs */
	Oid		   *eqprocs;
	Oid			ltproc;
	/* KSCAN_EXPIRED: after < expiry <= upto (after: none if has_after is false) */
	ScanKeyData expkey[2];
	int			nexpkeys;
	AttrNumber	expcol;
	int64		upto;
	bool		has_after;
	int64		after;
};

/* the operator family of a type's default btree class, or InvalidOid */
static Oid
default_family(Oid type)
{
	Oid			opclass = GetDefaultOpClass(type, BTREE_AM_OID);

	return OidIsValid(opclass) ? get_opclass_family(opclass) : InvalidOid;
}

/*
 * The valid btree index of rel, without predicate, whose leading columns
 * are cols, each in its type's default order and its collation (opened
 * with lockmode), or NULL.
 */
/* is pred (an index's, implicitly ANDed) exactly "col IS NOT NULL"? */
static bool
predicate_is_not_null(List *pred, AttrNumber col)
{
	NullTest   *nt;

	if (list_length(pred) != 1 || !IsA(linitial(pred), NullTest))
		return false;
	nt = linitial(pred);
	return nt->nulltesttype == IS_NOT_NULL && !nt->argisrow && IsA(nt->arg, Var) &&
		((Var *) nt->arg)->varattno == col;
}

static Relation
index_on(Relation rel, int ncols, const AttrNumber *cols, LOCKMODE lockmode,
		 bool not_null_ok)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), lockmode);
		List	   *pred = RelationGetIndexPredicate(idx);
		bool		fits = (idx->rd_rel->relam == BTREE_AM_OID &&
							idx->rd_index->indisvalid &&
							idx->rd_index->indnkeyatts >= ncols &&
							(pred == NIL ||
							 (not_null_ok && predicate_is_not_null(pred, cols[0]))));

		/* in the column's own order: its type's default class, its collation */
		for (int i = 0; fits && i < ncols; i++)
		{
			Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), cols[i] - 1);

			fits = (idx->rd_index->indkey.values[i] == cols[i] &&
					idx->rd_indoption[i] == 0 &&
					idx->rd_indcollation[i] == att->attcollation &&
					default_family(att->atttypid) == idx->rd_opfamily[i]);
		}
		if (fits)
			return idx;
		index_close(idx, lockmode);
	}
	return NULL;
}

Relation
kstore_index_on(Relation rel, int ncols, const AttrNumber *cols, LOCKMODE lockmode)
{
	return index_on(rel, ncols, cols, lockmode, false);
}

/*
 * The index of rel's expiry column col for kstore_scan_expired: as
 * kstore_index_on, and it may also be partial on "col IS NOT NULL" (rows
 * that never expire need no entry: a join's state of a join that does
 * not bound the other side, ddl.c), since a range scan up to a time never
 * returns a NULL.
 */
Relation
kstore_expiry_index_on(Relation rel, AttrNumber col, LOCKMODE lockmode)
{
	return index_on(rel, 1, &col, lockmode, true);
}

/* every row */
KStoreScan *
kstore_scan_all(Relation rel, Snapshot snap)
{
	KStoreScan *sc = palloc0(sizeof(KStoreScan));

	sc->kind = KSCAN_ALL;
	sc->rel = rel;
	sc->snap = snap;
	return sc;
}

/*
 * The rows whose leading key columns of idx equal one of the nprobe keys
 * (nkeys values each, no NULLs, sorted in the index's order so the tree's
 * pages are read in order): skeys are the scan keys of one key, their
 * arguments unset (an equality of the index's family, perhaps cross-type).
 * Each key is one descent of the index; a batch reads what its keys reach.
 */
KStoreScan *
kstore_scan_keys(Relation rel, Relation idx, const ScanKeyData *skeys, int nkeys,
				 const Datum *keys, int nprobe, Snapshot snap)
{
	KStoreScan *sc = palloc0(sizeof(KStoreScan));

	Assert(idx != NULL && nkeys > 0 && nkeys <= idx->rd_index->indnkeyatts);
	sc->kind = KSCAN_KEYS;
	sc->rel = rel;
	sc->idx = idx;
	sc->snap = snap;
	sc->nkeys = nkeys;
	sc->skeys = palloc(sizeof(ScanKeyData) * nkeys);
	memcpy(sc->skeys, skeys, sizeof(ScanKeyData) * nkeys);
	sc->keys = keys;
	sc->nprobe = nprobe;
	sc->key = -1;
	return sc;
}

/*
 * The rows whose expiry, column col (an int64 time), is at most upto: a
 * range scan of idx, an index led by col; without one, the whole table,
 * filtered.
 */
KStoreScan *
kstore_scan_expired(Relation rel, Relation idx, AttrNumber col, int64 upto, Snapshot snap)
{
	return kstore_scan_expiring(rel, idx, col, false, 0, upto, snap);
}

/*
 * The same, of the rows whose expiry is also above after (if has_after):
 * those that begin to expire between two times (a join's rows that become
 * certain unmatched in a batch, engine/join.c).
 */
KStoreScan *
kstore_scan_expiring(Relation rel, Relation idx, AttrNumber col, bool has_after, int64 after,
					 int64 upto, Snapshot snap)
{
	KStoreScan *sc = palloc0(sizeof(KStoreScan));

	sc->kind = KSCAN_EXPIRED;
	sc->rel = rel;
	sc->idx = idx;
	sc->snap = snap;
	sc->expcol = col;
	sc->upto = upto;
	sc->has_after = has_after;
	sc->after = after;
	if (idx)
	{
		Oid			opcintype = idx->rd_opcintype[0];
		Oid			gtop = get_opfamily_member(idx->rd_opfamily[0], opcintype,
											   opcintype, BTGreaterStrategyNumber);
		Oid			leop = get_opfamily_member(idx->rd_opfamily[0], opcintype,
											   opcintype, BTLessEqualStrategyNumber);

		if (!OidIsValid(leop) || !OidIsValid(gtop))
			elog(ERROR, "missing > or <= operator for index \"%s\"", RelationGetRelationName(idx));
		if (has_after)
			ScanKeyInit(&sc->expkey[sc->nexpkeys++], 1, BTGreaterStrategyNumber,
						get_opcode(gtop), Int64GetDatum(after));
		ScanKeyInit(&sc->expkey[sc->nexpkeys++], 1, BTLessEqualStrategyNumber,
					get_opcode(leop), Int64GetDatum(upto));
	}
	return sc;
}

/*
 * The rows whose leading nkeys columns of idx equal keys (a NULL key: IS
 * NULL) and whose next column is below bound (bound_null: IS NULL), in
 * descending order of the index: one descent, read backwards. Rows of one
 * key kept as disjoint intervals ordered by their start (sessions,
 * engine/session.c) are read this way from the last one starting before
 * a point, nearest first, as far as the caller reads. Given sc (a scan
 * of this kind on the same index), it starts again with the new values
 * instead of setting up another scan.
 */
KStoreScan *
kstore_scan_below(KStoreScan *sc, Relation rel, Relation idx, int nkeys,
				  const Datum *keys, const bool *nulls, Datum bound, bool bound_null,
				  Snapshot snap)
{
	Assert(idx != NULL && nkeys >= 0 && nkeys < idx->rd_index->indnkeyatts);
	if (sc == NULL)
	{
		sc = palloc0(sizeof(KStoreScan));
		sc->kind = KSCAN_BELOW;
		sc->rel = rel;
		sc->idx = idx;
		sc->snap = snap;
		sc->nkeys = nkeys + 1;
		sc->skeys = palloc0(sizeof(ScanKeyData) * sc->nkeys);
		sc->eqprocs = palloc0(sizeof(Oid) * Max(nkeys, 1));
		for (int i = 0; i <= nkeys; i++)
		{
			Oid			opcintype = idx->rd_opcintype[i];
			Oid			op = get_opfamily_member(idx->rd_opfamily[i], opcintype, opcintype,
												 i < nkeys ? BTEqualStrategyNumber :
												 BTLessStrategyNumber);

			if (!OidIsValid(op))
				elog(ERROR, "missing operator for index \"%s\"", RelationGetRelationName(idx));
			if (i < nkeys)
				sc->eqprocs[i] = get_opcode(op);
			else
				sc->ltproc = get_opcode(op);
		}
	}
	Assert(sc->kind == KSCAN_BELOW && sc->idx == idx && sc->nkeys == nkeys + 1);
	for (int i = 0; i <= nkeys; i++)
	{
		bool		isnull = (i < nkeys) ? nulls[i] : bound_null;

		if (isnull)
			ScanKeyEntryInitialize(&sc->skeys[i], SK_ISNULL | SK_SEARCHNULL, i + 1,
								   InvalidStrategy, InvalidOid, InvalidOid, InvalidOid,
								   (Datum) 0);
		else
			ScanKeyEntryInitialize(&sc->skeys[i], 0, i + 1,
								   i < nkeys ? BTEqualStrategyNumber : BTLessStrategyNumber,
								   idx->rd_opcintype[i], idx->rd_indcollation[i],
								   i < nkeys ? sc->eqprocs[i] : sc->ltproc,
								   i < nkeys ? keys[i] : bound);
	}
	if (sc->iscan == NULL)
		sc->iscan = index_beginscan(rel, idx, snap, sc->nkeys, 0);
	index_rescan(sc->iscan, sc->skeys, sc->nkeys, NULL, 0);
	return sc;
}

/*
 * The whole of idx in its order, read entry by entry: the keys of each
 * from the index tuple (kstore_walk_entry), the row only when the caller
 * asks (kstore_walk_fetch). A caller whose keys come in the index's order
 * and are dense in it merges them with the index this way, a comparison
 * an entry, instead of one descent a key; it decides when that is
 * cheaper (engine/session.c).
 */
KStoreScan *
kstore_scan_walk(Relation rel, Relation idx, Snapshot snap)
{
	KStoreScan *sc = palloc0(sizeof(KStoreScan));
	int			n = idx->rd_index->indnatts;

	sc->kind = KSCAN_WALK;
	sc->rel = rel;
	sc->idx = idx;
	sc->snap = snap;
	sc->ekeys = palloc0(sizeof(Datum) * n);
	sc->enulls = palloc0(sizeof(bool) * n);
	sc->iscan = index_beginscan(rel, idx, snap, 0, 0);
	sc->iscan->xs_want_itup = true;
	index_rescan(sc->iscan, NULL, 0, NULL, 0);
	return sc;
}

/* the next entry of the walk: its index columns' values; false at the end */
bool
kstore_walk_entry(KStoreScan *sc, Datum **keys, bool **nulls)
{
	Assert(sc->kind == KSCAN_WALK);
	if (index_getnext_tid(sc->iscan, ForwardScanDirection) == NULL)
		return false;
	index_deform_tuple(sc->iscan->xs_itup, sc->iscan->xs_itupdesc, sc->ekeys, sc->enulls);
	*keys = sc->ekeys;
	*nulls = sc->enulls;
	return true;
}

/* the row of the walk's last entry into slot, if it is visible */
bool
kstore_walk_fetch(KStoreScan *sc, TupleTableSlot *slot)
{
	Assert(sc->kind == KSCAN_WALK);
	return index_fetch_heap(sc->iscan, slot);
}

/* the next row into slot (of the table's type); false at the end */
bool
kstore_scan_next(KStoreScan *sc, TupleTableSlot *slot)
{
	switch (sc->kind)
	{
		case KSCAN_KEYS:
			while (sc->key < sc->nprobe)
			{
				if (sc->key >= 0 &&
					index_getnext_slot(sc->iscan, ForwardScanDirection, slot))
					return true;
				if (++sc->key >= sc->nprobe)
					break;
				if (sc->iscan == NULL)
					sc->iscan = index_beginscan(sc->rel, sc->idx, sc->snap, sc->nkeys, 0);
				for (int i = 0; i < sc->nkeys; i++)
					sc->skeys[i].sk_argument = sc->keys[sc->key * sc->nkeys + i];
				index_rescan(sc->iscan, sc->skeys, sc->nkeys, NULL, 0);
			}
			return false;
		case KSCAN_EXPIRED:
			if (sc->idx)
			{
				if (sc->iscan == NULL)
				{
					sc->iscan = index_beginscan(sc->rel, sc->idx, sc->snap, sc->nexpkeys, 0);
					index_rescan(sc->iscan, sc->expkey, sc->nexpkeys, NULL, 0);
				}
				return index_getnext_slot(sc->iscan, ForwardScanDirection, slot);
			}
			for (;;)
			{
				bool		isnull;
				Datum		e;

				if (sc->hscan == NULL)
					sc->hscan = table_beginscan(sc->rel, sc->snap, 0, NULL);
				if (!table_scan_getnextslot(sc->hscan, ForwardScanDirection, slot))
					return false;
				e = slot_getattr(slot, sc->expcol, &isnull);
				if (!isnull && DatumGetInt64(e) <= sc->upto &&
					(!sc->has_after || DatumGetInt64(e) > sc->after))
					return true;
			}
		case KSCAN_BELOW:
			return index_getnext_slot(sc->iscan, BackwardScanDirection, slot);
		case KSCAN_WALK:
			elog(ERROR, "a walk is read with kstore_walk_entry");
			return false;
		case KSCAN_ALL:
			if (sc->hscan == NULL)
				sc->hscan = table_beginscan(sc->rel, sc->snap, 0, NULL);
			return table_scan_getnextslot(sc->hscan, ForwardScanDirection, slot);
	}
	return false;
}

/* from the start again */
void
kstore_scan_rescan(KStoreScan *sc)
{
	sc->key = -1;
	if (sc->kind == KSCAN_EXPIRED && sc->iscan)
		index_rescan(sc->iscan, sc->expkey, sc->nexpkeys, NULL, 0);
	if (sc->kind == KSCAN_BELOW)
		index_rescan(sc->iscan, sc->skeys, sc->nkeys, NULL, 0);
	if (sc->hscan)
		table_rescan(sc->hscan, NULL);
}

void
kstore_scan_end(KStoreScan *sc)
{
	if (sc->iscan)
		index_endscan(sc->iscan);
	if (sc->hscan)
		table_endscan(sc->hscan);
	pfree(sc);
}

/*
 * Build the store's index entries in bulk from now on (see the top of the
 * file): only for a table empty when the store opened it, whose rows
 * written from now on the caller will not look up, update or delete
 * (kstore_lookup reads the index: it would not find them). True if so;
 * false, the entries written one by one as before, when the table was not
 * empty, this session uses one of its indexes elsewhere (an open cursor),
 * or another session holds a lock that the rebuild at kstore_close would
 * wait for. The rebuild calls the key types' functions as the
 * table's owner, restricted (index_build), as any index build does.
 */
bool
kstore_defer_indexes(KeyedStore *s)
{
	if (s->defer_indexes)
		return true;
	if (s->nblocks != 0 || s->rri->ri_NumIndices == 0 ||
		s->rel->rd_rel->relpersistence == RELPERSISTENCE_TEMP)
		return false;
	/*
	 * An index this session uses besides the store (a cursor open over
	 * the table: its scan holds the index) cannot be rebuilt, and its own
	 * locks do not conflict with ours: the store's references only, the
	 * open (ExecOpenIndices) and the key index's scans.
	 */
	for (int i = 0; i < s->rri->ri_NumIndices; i++)
	{
		Relation	idx = s->rri->ri_IndexRelationDescs[i];
		int			refs = 1;

		if (idx == s->keyidx)
			refs += (s->scan != NULL) + (s->walkscan != NULL);
		if (idx->rd_refcnt != refs)
			return false;
	}
	if (!ConditionalLockRelation(s->rel, ShareLock))
		return false;
	for (int i = 0; i < s->rri->ri_NumIndices; i++)
		if (!ConditionalLockRelation(s->rri->ri_IndexRelationDescs[i], AccessExclusiveLock))
			return false;		/* the locks taken stay until the commit */
	s->defer_indexes = true;
	return true;
}

/*
 * The deferred index entries: each index of the table built again from
 * it, in this process (no parallel workers: the batch's work stays in its
 * backend), a unique index checked as CREATE UNIQUE INDEX checks it.
 */
static void
rebuild_indexes(char relpersistence, List *indexes)
{
	int			nestlevel = NewGUCNestLevel();
	ReindexParams params = {0};
	ListCell   *lc;

	pgs_guc_set_saved("max_parallel_maintenance_workers", "0");
	foreach(lc, indexes)
		reindex_index(lfirst_oid(lc), false, relpersistence, &params);
	AtEOXact_GUC(true, nestlevel);
}

void
kstore_close(KeyedStore *s)
{
	List	   *deferred = NIL;

	Assert(s->nbuf == 0);		/* kstore_flush first */
	if (s->defer_indexes)
		for (int i = 0; i < s->rri->ri_NumIndices; i++)
			deferred = lappend_oid(deferred,
								   RelationGetRelid(s->rri->ri_IndexRelationDescs[i]));
	if (s->scan)
		index_endscan(s->scan);
	if (s->walkscan)
		index_endscan(s->walkscan);
	if (s->scanslot)
		ExecDropSingleTupleTableSlot(s->scanslot);
	if (s->buf)
	{
		for (int i = 0; i < KSTORE_BUFFER_ROWS && s->buf[i]; i++)
			ExecDropSingleTupleTableSlot(s->buf[i]);
		MemoryContextDelete(s->bufcxt);
	}
	if (s->prevcxt)
		MemoryContextDelete(s->prevcxt);
	ExecCloseIndices(s->rri);
	if (deferred != NIL)
		rebuild_indexes(s->rel->rd_rel->relpersistence, deferred);
}
