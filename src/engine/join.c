/*-------------------------------------------------------------------------
 *
 * join.c
 *	  Joins of streams: of two, inner, left, right and full outer; of a
 *	  stream with itself; of three to eight, inner, under one outer join
 *	  at the top, or stacked (several outer joins, one below another join).
 *
 * Each side of the join keeps the rows it has read in a state table of
 * its own (stream.join_<view>_<n>: the stream's columns, the row's
 * expiry, and for the preserved side of an outer join whether it has
 * matched). A batch with new rows dA and dB of the two sides and states
 * SA and SB produces exactly the pairs that involve a new row:
 *
 *	  dA x (SB + dB)   and   SA x dB
 *
 * It does so with PostgreSQL's own plan of the view's query: the plan is
 * made as usual, and its lowest node that joins the two sides is replaced
 * by an Append of copies of itself, whose stream scans each read one of
 * the sets above (the role in ForeignScan.fdw_private, see
 * sources/source.c). Everything above that node -- joins with tables,
 * filters, the partial aggregation -- runs once over the union.
 *
 * Rows expire. From the join condition each side gets bounds
 * (engine/join_analyze.c): the latest event time of the other side that
 * can still match a row (b.ts <= a.ts + 1 hour gives a's rows the bound
 * a.ts + 1 hour; equal tumbling windows give the end of the row's window). Rows of the other side that come
 * later are later than the watermark, or they are late and dropped; so
 * once the watermark has reached a row's expiry, no match can come, and
 * the row is evicted. For the preserved side of an outer join that is
 * also when its NULL-padded row is produced, if it never matched: a
 * third copy of the joining node, with its own outer join type, reads the
 * expiring unmatched rows of each preserved side and nothing of the
 * other. Which rows matched is found by a small query of its own over
 * the same sets: the two sides' row identifiers of each matching pair.
 *
 * The eviction uses the watermark the batch leaves (its input included),
 * so a NULL-padded row comes out in the very batch that made it certain.
 * An aggregation over the join finds its windows final with the
 * watermark minus the side's lag (how far behind the watermark the event
 * time of a row that still joins can be), so no joined row ever arrives
 * for a window already final.
 *
 * A self-join's two sides are one stream: they share its one state (a
 * row stays until neither side needs it), and the scans are told apart by
 * range-table entry. A join of n streams has n copies of the joining
 * node, copy i reading stream i's new rows, the earlier streams' states
 * and new rows and the later streams' states: a joined row comes from the
 * copy of the last of its streams with a new row, once; under an outer
 * join at the top (one stream preserved), a last copy NULL-pads its
 * expiring unmatched rows, whose matches a query of the preserved row ids
 * finds (pgs_join_pairs_plan); each state is probed with the keys of the
 * copy's stream's new rows where the two are keyed (JoinProbe).
 *
 * A row that fails its side's own part of the condition (CqJoinSide.own)
 * can never match: it is not kept, and of a preserved side it is
 * NULL-padded in its own batch.
 *
 * Stacked joins (CqJoin.stacked: a LEFT JOIN b ON .. LEFT JOIN c ON ..,
 * a LEFT JOIN b ON .. JOIN c ON .., their RIGHT forms). Each join brings
 * in one stream and compares it with one stream joined before, its
 * anchor (join_analyze.c): the streams form a tree. Spark's semantics of
 * chained outer joins, exactly: a row padded for b goes on to the join
 * with c as a row of its own, which matches or is padded in turn.
 *
 *  - Output rows by the set of streams present, the others NULL-padded
 *	  (all; {a, c} with b padded; {a} ...): a set is closed under anchors
 *	  (a stream whose anchor is padded is padded too: its condition bounds
 *	  its time by its anchor's, false on NULL). A row of set P is written
 *	  when the last of its events happens: the arrival of each of its
 *	  rows, and for each padded stream n whose anchor r is present, the
 *	  certainty that r's row matches no row of n: it matched none, ever,
 *	  and the watermark has reached the latest time a match could have
 *	  (CqJoinSide.abounds: r.ts + 5 min for b BETWEEN a.ts AND a.ts + 5
 *	  min; rows arriving later are late and dropped).
 *  - State per side: the stream's rows, and of an anchor, the mask of
 *	  padded streams each row has matched (LEVELS_COLUMN), found per batch
 *	  by one pairs query per outer join (SELECT r.ctid FROM r, n WHERE
 *	  <its ON condition>, over the new rows against everything) and kept
 *	  in the row. Whether a row matched is so a property of the row alone:
 *	  no pair of rows need be remembered.
 *  - The plan: per set P, one copy of the joining node per stream x of
 *	  P, as for an inner join of n streams: x's rows new to P, the streams
 *	  before x all rows of P, those after x the rows of P before the batch
 *	  -- each row of P once, in the batch of its last event. For a stream
 *	  anchoring padded ones, "of P" means certain unmatched for them:
 *	  ROLE_PAD_NOW (under the watermark the batch leaves), ROLE_PAD_BEFORE
 *	  (under the one it ran with, the last batch's, and in state), and
 *	  ROLE_PAD_NEW (now, not before: also a state row whose certainty came
 *	  now). The padded streams read nothing, and each join of the copy
 *	  whose nullable input has a present stream joins inner, one whose
 *	  nullable input has none stays outer and pads. Every row of a copy
 *	  holds one of the rows it reads of x, so the states keyed with x
 *	  (directly, or through present streams: CqJoinSide.pvia) are probed
 *	  by those rows' keys: x's new rows, or of an anchor the rows padded
 *	  anew (PadProbe: read once more before the plan runs, after the
 *	  pairs queries). The padded rows themselves come by the expiry
 *	  index: the rows certain under a watermark have an expiry up to a
 *	  limit (pad_expiry_limit), and those padded anew one above the
 *	  limit of the last batch's watermark too (pad_state_scan). A batch
 *	  so reads its new rows, the rows whose bound passed and what their
 *	  keys reach, not the states.
 *  - Eviction per side as for an inner join of n streams: a row stays
 *	  until its time plus the longest of the shortest paths to every other
 *	  stream. In the tree, the path from x to a padded n passes through
 *	  n's anchor r, so every row a padded row needs (its present rows,
 *	  whose certainty time is r.ts + bound <= x.ts + path) is still in
 *	  state when it is written; eviction runs after the batch's output.
 *  - Own conditions (never_matches) are not used: a row failing its own
 *	  part of one join may still join the others; it is padded at expiry.
 *  - FULL JOINs (CqJoinSide.full: a FULL JOIN b ON .. FULL JOIN c ON ..):
 *	  the stream n a FULL JOIN brings in pads its anchor r as well, where
 *	  n's row matches no row of r. That is a property of n's row alone
 *	  when every row of r reaches the join (join_analyze.c refuses the
 *	  rest): bit r of n's mask, found by a pairs query of its own (the
 *	  matches' n.ctid), certain at n.ts + n's bound against r
 *	  (CqJoinSide.rbounds). A set P then need not hold its streams'
 *	  anchors: every set connected in the tree, holding both streams of
 *	  each inner join, whose missing neighbours may be padded, is one
 *	  (full_copies); each present stream reads its rows certain unmatched
 *	  for its missing neighbours, and a FULL join of the copy joins inner
 *	  with present streams on both sides, left or right with one side's,
 *	  else stays full (both sides read nothing).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "formats/formats.h"
#include "sources/sources.h"
#include "engine/cq.h"
#include "engine/engine.h"
#include "sinks/sinks.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_am.h"
#include "catalog/pg_statistic.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "tcop/tcopprot.h"
#include "miscadmin.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/sortsupport.h"
#include "utils/syscache.h"

/* what a stream scan in a join batch reads (ForeignScan.fdw_private) */
enum
{
	ROLE_DELTA = 1,				/* the side's new rows (not late) */
	ROLE_STATE,					/* the side's state */
	ROLE_ALL,					/* both */
	ROLE_EXPIRED,				/* unmatched rows whose expiry has come */
	ROLE_NONE,					/* nothing */
	/* stacked joins: rows NULL-padded for the streams of a mask (below) */
	ROLE_PAD_NOW,				/* certain unmatched now, state or new */
	ROLE_PAD_BEFORE,			/* so already before the batch, in state */
	ROLE_PAD_NEW				/* now, not before */
};

/* names of the state table's own columns */
#define EXPIRES_COLUMN "_pgs_expires"
#define MATCHED_COLUMN "_pgs_matched"
#define LEVELS_COLUMN "_pgs_matched_to"	/* stacked: the mask of sides matched */

/* a row of an anchor and the sides it matched (stacked joins) */
typedef struct LevelMatch
{
	ItemPointerData tid;
	int32		mask;
} LevelMatch;

/*------------------------------------------------------------------------
 * A batch of a join
 *------------------------------------------------------------------------
 */
/* the probe of a side's state with another side's new rows (below) */
typedef struct JoinProbe
{
	int			nkeys;			/* the key pairs of the two sides: */
	AttrNumber *cols;			/* the side's columns */
	AttrNumber *ocols;			/* the other side's */
	Relation	keyidx;			/* the state's index on cols, or NULL */
	bool		probe;			/* read by key, not whole */
	const char *whole;			/* else why not */
	int			nprobe;			/* the distinct keys of the other side's */
	Datum	   *probekeys;		/* new rows, nprobe x nkeys, in index order */
	ScanKeyData *skeys;			/* a key's scan keys, argument unset */
	double		rows_per_key;	/* the planner's estimate */
} JoinProbe;

/*
 * Stacked joins: the probe of a side's state with the rows of side t
 * NULL-padded anew for the sides of mask (ROLE_PAD_NEW), in the copies
 * whose new rows of t those are.
 */
typedef struct PadProbe
{
	int			t;
	int32		mask;
	JoinProbe	pr;
} PadProbe;

typedef struct JoinRunSide
{
	CqJoinSide *def;
	SourceBatch *batch;
	BatchStream *stream;		/* its stream in the batch: the state table and
								 * its row count */
	Relation	srel;			/* its state table */
	TupleDesc	desc;			/* the stream's row type */
	AttrNumber *statecol;		/* per stream attribute: state column or 0 */
	AttrNumber	expires_col;
	AttrNumber	matched_col;
	HTAB	   *matched;		/* row ids that matched in this batch */
	AttrNumber	levels_col;		/* stacked: LEVELS_COLUMN, or 0 */
	HTAB	   *lmatch;			/* stacked, of an anchor: LevelMatch of this
								 * batch's matches */
	Relation	expidx;			/* its index on the expiry */
	JoinProbe	pr[PGS_JOIN_MAX_SIDES];	/* its probes by each other side's
										 * new rows (below) */
	List	   *padpr;			/* stacked: PadProbe *, by padded rows */
	int64		state_read;		/* state rows its scans returned */
	ExprState  *own;			/* def->own, or NULL */
} JoinRunSide;

struct JoinRun
{
	CqDef	   *cq;
	CqJoin	   *j;
	JoinRunSide side[PGS_JOIN_MAX_SIDES];
	int			nsides;
	int			npairs;			/* the pairs query's columns: the row ids */
	int			pairs_side[2];	/* of these sides */
	int			pairs_padded;	/* stacked: the side whose matches they are */
	bool		pairs_full;		/* stacked: they are the matches of that
								 * side's rows with its anchor (a FULL
								 * JOIN), not the anchor's */
	ExprContext *econtext;		/* of the sides' own conditions */
	bool		has_late;		/* rows at or before late_wm are late */
	int64		late_wm;
	bool		has_evict;		/* rows expiring at or before evict_wm go */
	int64		evict_wm;
};

/* how the batch plan's scans read the sides (below) */
static const BatchRunJoinScan join_scan_routine;

/*
 * Row ids. A state row is its heap tid; a new row of the batch, its
 * position in the batch, in blocks no state table reaches.
 */
#define DELTA_BLOCK0 0x40000000

static void
delta_tid(int64 i, ItemPointer tid)
{
	ItemPointerSet(tid, DELTA_BLOCK0 + (BlockNumber) (i / 32768),
				   (OffsetNumber) (i % 32768) + 1);
}

static bool
tid_is_delta(ItemPointer tid)
{
	return ItemPointerGetBlockNumberNoCheck(tid) >= DELTA_BLOCK0;
}

/*
 * When a row of this side expires (false: never, for a side without
 * bounds or a row at +infinity). A row without event time can match
 * nothing under a time bound: it expires at once.
 */
static bool
bounds_expiry(List *bounds, Datum ts, bool isnull, int64 *expiry)
{
	int64		t = DatumGetInt64(ts);
	ListCell   *lc;

	if (bounds == NIL)
		return false;
	if (isnull || TIMESTAMP_IS_NOBEGIN(t))
	{
		*expiry = DT_NOBEGIN;
		return true;
	}
	if (TIMESTAMP_IS_NOEND(t))
		return false;
	*expiry = PG_INT64_MAX;
	foreach(lc, bounds)
	{
		CqBound    *b = lfirst(lc);
		int64		e;

		if (b->tumble)
		{
			if (pg_add_s64_overflow(pgs_window_start(t, b->size, b->origin), b->size, &e))
				e = PG_INT64_MAX;
		}
		else if (pg_add_s64_overflow(t, b->offset, &e))
			e = b->offset > 0 ? PG_INT64_MAX : PG_INT64_MIN + 1;
		*expiry = Min(*expiry, e);
	}
	return *expiry != PG_INT64_MAX;
}

static bool
row_expiry(CqJoinSide *s, Datum ts, bool isnull, int64 *expiry)
{
	return bounds_expiry(s->bounds, ts, isnull, expiry);
}

/*
 * When a row of side s leaves its state: its expiry; in a self-join,
 * whose sides share one state, the later of its two (never, if either
 * is never), and both sides' lags are that long (engine/join_analyze.c).
 */
static bool
state_expiry(JoinRun *jr, JoinRunSide *s, TupleTableSlot *slot, int64 *expiry)
{
	bool		isnull = true;
	Datum		ts = (Datum) 0;
	int64		e2;

	if (s->def->ts_attno != 0)
		ts = slot_getattr(slot, s->def->ts_attno, &isnull);
	if (!row_expiry(s->def, ts, isnull, expiry))
		return false;
	if (!jr->j->self)
		return true;
	if (!row_expiry(&jr->j->side[0], ts, isnull, expiry) ||
		!row_expiry(&jr->j->side[1], ts, isnull, &e2))
		return false;
	*expiry = Max(*expiry, e2);
	return true;
}

/*
 * Can the row never match as a row of side s: it fails the condition's
 * part on s alone (a.kind = 'x' of LEFT JOIN b ON a.k = b.k AND a.kind =
 * 'x'). Then it is not kept, and of a preserved side it is NULL-padded
 * in the batch it arrives in.
 */
static bool
never_matches(JoinRun *jr, JoinRunSide *s, TupleTableSlot *slot)
{
	bool		pass;

	if (s->own == NULL)
		return false;
	jr->econtext->ecxt_scantuple = slot;
	pass = ExecQual(s->own, jr->econtext);
	ResetExprContext(jr->econtext);
	return !pass;
}

/*
 * Is the row late: its event time at or before the watermark the batch
 * runs with. Of the side without a watermark whose equal windows the
 * other's bounds (join_analyze.c), its window's end: a row of a window
 * still open meets the other side's rows of it in state and to come (the
 * stream has no watermark of its own to be late against); once the
 * window has ended, those rows have left and later ones are late.
 */
static bool
row_is_late(JoinRun *jr, JoinRunSide *s, TupleTableSlot *slot)
{
	bool		isnull;
	Datum		ts;
	int64		end;

	if (!jr->has_late || s->def->ts_attno == 0)
		return false;
	ts = slot_getattr(slot, s->def->ts_attno, &isnull);
	if (isnull)
		return false;
	if (!s->def->watermarked)
		return row_expiry(s->def, ts, false, &end) && end <= jr->late_wm;
	return DatumGetInt64(ts) <= jr->late_wm;
}

static bool
row_expires_now(JoinRun *jr, JoinRunSide *s, TupleTableSlot *slot)
{
	int64		expiry;

	return jr->has_evict && state_expiry(jr, s, slot, &expiry) &&
		expiry <= jr->evict_wm;
}

static bool
tid_matched(JoinRunSide *s, ItemPointer tid)
{
	bool		found = false;

	if (s->matched)
		(void) hash_search(s->matched, tid, HASH_FIND, &found);
	return found;
}

/* the sides a row of anchor s matched at, in this batch */
static int32
level_matched(JoinRunSide *s, ItemPointer tid)
{
	LevelMatch *m = NULL;

	if (s->lmatch)
		m = hash_search(s->lmatch, tid, HASH_FIND, NULL);
	return m ? m->mask : 0;
}

/*
 * Stacked joins: the bounds telling when a row of side x is certain to
 * match no row of its padded neighbour k: of k's anchor x, k's abounds; of
 * a full side x, for its anchor k, its own rbounds.
 */
static List *
pad_bounds(JoinRun *jr, JoinRunSide *s, int k)
{
	CqJoinSide *x = s->def;

	if (x->full && x->anchor == k)
		return x->rbounds;
	return jr->j->side[k].abounds;
}

/*
 * Stacked joins: is the row of anchor s, with the sides it matched before
 * the batch (pmask), certain to match none of the padded sides of mask
 * under watermark wm: it matched none of them, this batch included, and
 * for each the watermark has reached the latest time a matching row
 * could have (CqJoinSide.abounds); rows arriving later are late.
 */
static bool
pad_certain(JoinRun *jr, JoinRunSide *s, TupleTableSlot *slot, int32 pmask,
			int32 mask, bool has_wm, int64 wm)
{
	bool		isnull = true;
	Datum		ts = (Datum) 0;

	if (!has_wm || ((pmask | level_matched(s, &slot->tts_tid)) & mask) != 0)
		return false;
	if (s->def->ts_attno != 0)
		ts = slot_getattr(slot, s->def->ts_attno, &isnull);
	for (int n = 0; n < jr->nsides; n++)
	{
		int64		certain;

		if ((mask & (1 << n)) == 0)
			continue;
		if (!bounds_expiry(pad_bounds(jr, s, n), ts, isnull, &certain) || certain > wm)
			return false;
	}
	return true;
}

/*
 * The latest expiry a state row certain under wm for the padded sides of
 * mask can have (false: any): a row is certain for a side at its time
 * plus at least the least offset of the side's bounds (of a window, its
 * end: after the row's time), and expires at its time plus its stream's
 * one bound (the longest path, join_analyze.c). So a padded scan reads
 * of the state only what the expiry index has up to that. *exact: the
 * side's bounds have no window, so that an unmatched row is certain
 * exactly when its expiry is at most the limit.
 */
static bool
pad_expiry_limit(JoinRun *jr, JoinRunSide *s, int32 mask, int64 wm, int64 *limit,
				 bool *exact)
{
	CqBound    *keep;
	int64		lo = PG_INT64_MIN;

	*exact = !jr->j->self;

	if (list_length(s->def->bounds) != 1)
		return false;
	keep = linitial(s->def->bounds);
	if (keep->tumble)
		return false;
	for (int n = 0; n < jr->nsides; n++)
	{
		int64		least = PG_INT64_MAX;
		ListCell   *lc;

		if ((mask & (1 << n)) == 0)
			continue;
		foreach(lc, pad_bounds(jr, s, n))
		{
			CqBound    *b = lfirst(lc);

			least = Min(least, b->tumble ? 0 : b->offset);
			*exact &= !b->tumble;
		}
		lo = Max(lo, least);
	}
	/* ts <= wm - lo, expiry = ts + keep->offset */
	return lo != PG_INT64_MIN && lo != PG_INT64_MAX &&
		!pg_sub_s64_overflow(wm, lo, limit) &&
		!pg_add_s64_overflow(*limit, keep->offset, limit);
}

/*
 * Does a row of a padded role's scan pass: certain now (the watermark the
 * batch leaves), certain before (the one it ran with: the last batch's,
 * for a row then in state already), or the first (now, not before).
 */
static bool
pad_passes(JoinRun *jr, JoinRunSide *s, int role, int32 mask, TupleTableSlot *slot,
		   int32 pmask, bool in_state)
{
	bool		now,
				before;

	before = in_state &&
		pad_certain(jr, s, slot, pmask, mask, jr->has_late, jr->late_wm);
	if (role == ROLE_PAD_BEFORE)
		return before;
	now = pad_certain(jr, s, slot, pmask, mask, jr->has_evict, jr->evict_wm);
	return role == ROLE_PAD_NOW ? now : (now && !before);
}

/*
 * The scan of s's state for a padded role over mask, or NULL when the
 * expiry index cannot tell which rows may pass (the state is then read
 * whole). The rows up to the expiry of those certain under the role's
 * watermark; of ROLE_PAD_NEW, above that of the rows certain before
 * (those passed already) where that is exact (pad_expiry_limit): a
 * batch's padded scans read the rows whose certainty came now, not the
 * rows that wait in state for their other bounds.
 */
static KStoreScan *
pad_state_scan(JoinRun *jr, JoinRunSide *s, int role, int32 mask, Snapshot snap)
{
	bool		before = (role == ROLE_PAD_BEFORE);
	bool		exact;
	int64		limit;
	int64		after = 0;
	bool		has_after = false;

	if (!pad_expiry_limit(jr, s, mask, before ? jr->late_wm : jr->evict_wm, &limit, &exact))
		return NULL;
	if (role == ROLE_PAD_NEW && exact && jr->has_late)
		has_after = pad_expiry_limit(jr, s, mask, jr->late_wm, &after, &exact) && exact;
	return kstore_scan_expiring(s->srel, s->expidx, s->expires_col, has_after, after, limit,
								snap);
}

/* a reader of a side's new rows, of its own (several scans read them) */
typedef struct DeltaReader
{
	Tuplestorestate *ts;
	bool		chunks;
	int			ptr;
	TupleTableSlot *mslot;
	TupleUnpacker unpacker;
	int64		next;			/* index of the next row */
} DeltaReader;

static void
delta_open(DeltaReader *r, SourceBatch *b, TupleDesc desc, MemoryContext cxt)
{
	r->chunks = (b->chunks != NULL);
	r->ts = r->chunks ? b->chunks : b->rows;
	r->ptr = tuplestore_alloc_read_pointer(r->ts, EXEC_FLAG_REWIND);
	tuplestore_select_read_pointer(r->ts, r->ptr);
	tuplestore_rescan(r->ts);
	r->mslot = MakeSingleTupleTableSlot(r->chunks ? tuple_chunk_desc() : desc,
										&TTSOpsMinimalTuple);
	if (r->chunks)
		tuple_unpack_init(&r->unpacker, cxt);
	r->next = 0;
}

static void
delta_rescan(DeltaReader *r)
{
	tuplestore_select_read_pointer(r->ts, r->ptr);
	tuplestore_rescan(r->ts);
	r->unpacker.p = r->unpacker.end = NULL;
	r->next = 0;
}

/* the next new row into slot, with its row id; false at the end */
static bool
delta_next(DeltaReader *r, TupleTableSlot *slot)
{
	MinimalTuple mt;
	bool		shouldFree;

	tuplestore_select_read_pointer(r->ts, r->ptr);
	if (r->chunks)
	{
		while ((mt = tuple_unpack_next(&r->unpacker)) == NULL)
		{
			bool		isnull;

			if (!tuplestore_gettupleslot(r->ts, true, false, r->mslot))
				return false;
			tuple_unpack_begin(&r->unpacker,
							   DatumGetByteaPP(slot_getattr(r->mslot, 1, &isnull)));
		}
	}
	else
	{
		if (!tuplestore_gettupleslot(r->ts, true, false, r->mslot))
			return false;
		mt = ExecFetchSlotMinimalTuple(r->mslot, &shouldFree);
	}
	ExecForceStoreMinimalTuple(mt, slot, false);
	delta_tid(r->next++, &slot->tts_tid);
	return true;
}

static void
delta_close(DeltaReader *r)
{
	ExecDropSingleTupleTableSlot(r->mslot);
}

/* a state row (in sslot) as a row of the stream, into slot */
static void
state_to_stream(JoinRunSide *s, TupleTableSlot *sslot, TupleTableSlot *slot)
{
	slot_getallattrs(sslot);
	ExecClearTuple(slot);
	for (int i = 0; i < s->desc->natts; i++)
	{
		AttrNumber	c = s->statecol[i];

		slot->tts_values[i] = c ? sslot->tts_values[c - 1] : (Datum) 0;
		slot->tts_isnull[i] = c ? sslot->tts_isnull[c - 1] : true;
	}
	ExecStoreVirtualTuple(slot);
	slot->tts_tid = sslot->tts_tid;
}

/*------------------------------------------------------------------------
 * The state's indexes, and the probe
 *
 * In every copy of the join the plan makes, a side's state meets only
 * the other side's new rows (dA x (SB + dB), SA x dB, and the pairs of
 * an outer join). A state row can join only if its key (the condition's
 * key pairs, engine/join_analyze.c) equals the key of one of those new
 * rows, so its scans read of the state only the rows of those keys:
 * the distinct keys of the other side's new rows (not late; a NULL key
 * matches nothing), found once per batch and sorted in the key index's
 * order, each probed by an index scan. A batch then reads what its new
 * rows reach, not the whole state.
 *
 * The state is read whole when the join has no keys, when the state
 * table has no key index (a view created before there were key
 * indexes), or when the keys are many for the state: more than one
 * for every PROBE_COST state rows. A probe (a descent of the index, a
 * heap fetch) costs about as much as reading PROBE_COST rows in a
 * sequential scan and joining them. Measured with the join of
 * test/bench/state.sh, one key a state row, the batch's keys K all
 * present in a state of S rows, probing always vs reading whole (ms of
 * the whole batch): S = 200,000: K = 1,000 41 vs 64; 20,000 207 vs 194;
 * 50,000 391 vs 390; 100,000 684 vs 602; S = 1,000,000: K = 20,000 119
 * vs 752; 125,000 656 vs 820; 250,000 1112 vs 1200; 500,000 3153 vs
 * 2400. The two meet at about four state rows a key.
 *------------------------------------------------------------------------
 */
#define PROBE_COST 4

/* the index of the state on its expiry (eviction, the NULL-padded rows) */
static Relation
expiry_index(JoinRunSide *s)
{
	Relation	idx = kstore_expiry_index_on(s->srel, s->expires_col, RowExclusiveLock);

	if (idx == NULL)
		elog(ERROR, "join state table \"%s\" has lost its index on %s",
			 RelationGetRelationName(s->srel), EXPIRES_COLUMN);
	return idx;
}

/* the key index: on the state columns of the side's key columns */
static Relation
key_index(JoinRunSide *s, JoinProbe *pr)
{
	AttrNumber	cols[INDEX_MAX_KEYS];

	for (int i = 0; i < pr->nkeys; i++)
	{
		cols[i] = s->statecol[pr->cols[i] - 1];
		if (cols[i] == 0)
			return NULL;
	}
	return kstore_index_on(s->srel, pr->nkeys, cols, AccessShareLock);
}

/*
 * How many state rows a key reaches, for the planner: the state's rows
 * over the distinct values of its first key column, as ANALYZE (or
 * autovacuum) last saw them; 1 before.
 */
static double
rows_per_key(JoinRunSide *s, JoinProbe *pr)
{
	double		rows = (double) s->stream->state_rows;
	double		distinct = 0;
	HeapTuple	tup = SearchSysCache3(STATRELATTINH,
									  ObjectIdGetDatum(RelationGetRelid(s->srel)),
									  Int16GetDatum(s->statecol[pr->cols[0] - 1]),
									  BoolGetDatum(false));

	if (HeapTupleIsValid(tup))
	{
		float4		d = ((Form_pg_statistic) GETSTRUCT(tup))->stadistinct;

		distinct = d > 0 ? d : -d * rows;
		ReleaseSysCache(tup);
	}
	return distinct >= 1 ? Max(rows / distinct, 1) : 1;
}

typedef struct KeyOrder
{
	int			nkeys;
	SortSupport ssup;
} KeyOrder;

static int
key_cmp(const void *a, const void *b, void *arg)
{
	const KeyOrder *ko = arg;
	const Datum *x = *(Datum *const *) a;
	const Datum *y = *(Datum *const *) b;

	for (int i = 0; i < ko->nkeys; i++)
	{
		int			c = ApplySortComparator(x[i], false, y[i], false, &ko->ssup[i]);

		if (c != 0)
			return c;
	}
	return 0;
}

/*
 * The scan keys of a probe of s's key index with values of other's key
 * columns: per column the family's equality of the two types, and the
 * order the values are sorted in. False if the family lacks them.
 */
static bool
probe_operators(JoinProbe *pr, JoinRunSide *other, SortSupport ssup)
{
	int			nkeys = pr->nkeys;

	pr->skeys = palloc0(sizeof(ScanKeyData) * nkeys);
	for (int i = 0; i < nkeys; i++)
	{
		Relation	idx = pr->keyidx;
		Oid			family = idx->rd_opfamily[i];
		Form_pg_attribute a = TupleDescAttr(other->desc, pr->ocols[i] - 1);
		Oid			opclass = GetDefaultOpClass(a->atttypid, BTREE_AM_OID);
		Oid			type = OidIsValid(opclass) ? get_opclass_input_type(opclass) : InvalidOid;
		Oid			eq = get_opfamily_member(family, idx->rd_opcintype[i], type,
											 BTEqualStrategyNumber);
		Oid			lt = get_opfamily_member(family, type, type, BTLessStrategyNumber);

		if (!OidIsValid(eq) || !OidIsValid(lt))
			return false;
		ScanKeyEntryInitialize(&pr->skeys[i], 0, i + 1, BTEqualStrategyNumber, type,
							   idx->rd_indcollation[i], get_opcode(eq), (Datum) 0);
		ssup[i].ssup_cxt = CurrentMemoryContext;
		ssup[i].ssup_collation = idx->rd_indcollation[i];
		ssup[i].ssup_nulls_first = false;
		ssup[i].ssup_attno = i + 1;
		PrepareSortSupportFromOrderingOp(lt, &ssup[i]);
	}
	return true;
}

/*
 * Sort keys[0..n) and copy the distinct ones (and their values) into a new
 * context under parent, which *cxt then is (the old one is deleted);
 * returns how many, parent the current context.
 */
static int
distinct_keys(Datum ***keys, int n, KeyOrder *ko, JoinRunSide *other, AttrNumber *ocols,
			  MemoryContext *cxt, MemoryContext parent)
{
	int			nkeys = ko->nkeys;
	MemoryContext to = AllocSetContextCreate(parent, "pg_stream join keys",
											 ALLOCSET_DEFAULT_SIZES);
	Datum	  **out;
	int			m = 0;

	MemoryContextSwitchTo(to);
	out = palloc(sizeof(Datum *) * Max(n, 1));

	if (n > 1)
		qsort_arg(*keys, n, sizeof(Datum *), key_cmp, ko);
	for (int k = 0; k < n; k++)
	{
		Datum	   *key;

		if (k > 0 && key_cmp(&(*keys)[k - 1], &(*keys)[k], ko) == 0)
			continue;
		key = palloc(sizeof(Datum) * nkeys);
		for (int i = 0; i < nkeys; i++)
		{
			Form_pg_attribute a = TupleDescAttr(other->desc, ocols[i] - 1);

			key[i] = datumCopy((*keys)[k][i], a->attbyval, a->attlen);
		}
		out[m++] = key;
	}
	/* (the old context may be the current one) */
	MemoryContextSwitchTo(parent);
	if (*cxt)
		MemoryContextDelete(*cxt);
	*cxt = to;
	*keys = out;
	return m;
}

/*
 * The rows the copies whose new side is s read of it: its new rows that
 * are not late; or with pad (stacked joins), its rows NULL-padded anew for
 * the sides of pad (ROLE_PAD_NEW: the state rows the expiry index gives,
 * then the new rows, each certain now and not before), as the scan of
 * that role returns them (join_scan_next).
 */
typedef struct NewRows
{
	JoinRun    *jr;
	JoinRunSide *s;
	int32		pad;
	bool		in_state;
	KStoreScan *scan;
	TupleTableSlot *sslot;
	DeltaReader delta;
} NewRows;

/* false: the expiry index cannot tell which state rows are padded anew */
static bool
new_rows_open(NewRows *nr, JoinRun *jr, JoinRunSide *s, int32 pad, MemoryContext cxt)
{
	memset(nr, 0, sizeof(NewRows));
	nr->jr = jr;
	nr->s = s;
	nr->pad = pad;
	/* (without the watermark the batch leaves, no row is certain) */
	if (pad != 0 && jr->has_evict)
	{
		nr->scan = pad_state_scan(jr, s, ROLE_PAD_NEW, pad, GetActiveSnapshot());
		if (nr->scan == NULL)
			return false;
		nr->sslot = table_slot_create(s->srel, NULL);
		nr->in_state = true;
	}
	delta_open(&nr->delta, s->batch, s->desc, cxt);
	return true;
}

static bool
new_rows_next(NewRows *nr, TupleTableSlot *slot)
{
	JoinRunSide *s = nr->s;

	while (nr->in_state)
	{
		bool		isnull;
		int32		pmask;

		if (!kstore_scan_next(nr->scan, nr->sslot))
		{
			nr->in_state = false;
			break;
		}
		state_to_stream(s, nr->sslot, slot);
		pmask = DatumGetInt32(slot_getattr(nr->sslot, s->levels_col, &isnull));
		if (pad_passes(nr->jr, s, ROLE_PAD_NEW, nr->pad, slot, isnull ? 0 : pmask, true))
			return true;
	}
	while (delta_next(&nr->delta, slot))
	{
		if (row_is_late(nr->jr, s, slot))
			continue;
		if (nr->pad != 0 && !pad_passes(nr->jr, s, ROLE_PAD_NEW, nr->pad, slot, 0, false))
			continue;
		return true;
	}
	return false;
}

static void
new_rows_close(NewRows *nr)
{
	if (nr->scan)
		kstore_scan_end(nr->scan);
	if (nr->sslot)
		ExecDropSingleTupleTableSlot(nr->sslot);
	delta_close(&nr->delta);
}

/*
 * The distinct keys of the rows of other that probe (its new rows, or
 * those padded anew for pad: NewRows), sorted. False, with the reason in
 * pr->whole, if they take more than half of work_mem (the state is then
 * read whole: keys that many are many for any state a probe pays off on)
 * or the rows are not found by index. The keys are collected in
 * work_mem, made distinct whenever they fill it.
 */
static bool
probe_keys(JoinRun *jr, JoinProbe *pr, JoinRunSide *other, int32 pad, SortSupport ssup)
{
	int			nkeys = pr->nkeys;
	Size		limit = (Size) work_mem * 1024;
	TupleTableSlot *slot = MakeSingleTupleTableSlot(other->desc, &TTSOpsVirtual);
	NewRows		r;
	Datum	  **keys = NULL;
	int			n = 0,
				size = 0;
	KeyOrder	ko = {nkeys, ssup};
	MemoryContext caller = CurrentMemoryContext;
	MemoryContext keycxt = AllocSetContextCreate(caller, "pg_stream join keys",
												 ALLOCSET_DEFAULT_SIZES);
	bool		fits = true;

	/* (the rows are read in the caller's context: a slot may own a row) */
	if (!new_rows_open(&r, jr, other, pad, caller))
	{
		pr->whole = "the expiry index cannot find the NULL-padded rows that probe it";
		ExecDropSingleTupleTableSlot(slot);
		MemoryContextDelete(keycxt);
		return false;
	}
	while (new_rows_next(&r, slot))
	{
		Datum	   *key;
		bool		null = false;

		if (n % 1024 == 0 && MemoryContextMemAllocated(keycxt, true) > limit)
		{
			n = distinct_keys(&keys, n, &ko, other, pr->ocols, &keycxt, caller);
			size = Max(n, 1);
			if (MemoryContextMemAllocated(keycxt, true) > limit / 2)
			{
				fits = false;
				break;
			}
		}
		MemoryContextSwitchTo(keycxt);
		key = palloc(sizeof(Datum) * nkeys);
		for (int i = 0; i < nkeys && !null; i++)
		{
			AttrNumber	c = pr->ocols[i];
			Form_pg_attribute a = TupleDescAttr(other->desc, c - 1);

			key[i] = slot_getattr(slot, c, &null);
			if (!null)
				key[i] = datumCopy(key[i], a->attbyval, a->attlen);
		}
		if (!null)
		{
			if (n == size)
			{
				size = size ? size * 2 : 256;
				keys = keys ? repalloc(keys, sizeof(Datum *) * size) :
					palloc(sizeof(Datum *) * size);
			}
			keys[n++] = key;
		}
		/* (a key with a NULL: its copies go with the context) */
		MemoryContextSwitchTo(caller);
	}
	new_rows_close(&r);
	ExecDropSingleTupleTableSlot(slot);
	if (!fits)
	{
		pr->whole = "the other stream's new rows have more distinct keys than work_mem holds";
		MemoryContextDelete(keycxt);
		return false;
	}

	/* the distinct keys, their values in a context of the caller's */
	n = distinct_keys(&keys, n, &ko, other, pr->ocols, &keycxt, caller);
	pr->probekeys = palloc(sizeof(Datum) * Max(n, 1) * nkeys);
	for (int k = 0; k < n; k++)
		memcpy(&pr->probekeys[k * nkeys], keys[k], sizeof(Datum) * nkeys);
	pr->nprobe = n;
	return true;
}

/*
 * Does the batch read s's state by key, probed by the new rows of side t
 * (or, with pad, t's rows padded anew for those sides): with the key
 * pairs of the two (of two streams, the join's keys).
 */
static void
probe_begin(JoinRun *jr, JoinRunSide *s, int t, int32 pad, JoinProbe *pr)
{
	JoinRunSide *other = &jr->side[t];
	SortSupport ssup;

	pr->nkeys = s->def->npkeys[t];
	pr->cols = s->def->pkeys[t];
	pr->ocols = other->def->pkeys[s - jr->side];
	if (pr->nkeys == 0)
	{
		pr->whole = "the join condition has no equality of a column of each stream";
		return;
	}
	pr->keyidx = key_index(s, pr);
	if (pr->keyidx == NULL)
	{
		pr->whole = "the state has no index on the join's key";
		return;
	}
	ssup = palloc0(sizeof(SortSupportData) * pr->nkeys);
	if (!probe_operators(pr, other, ssup))
	{
		pr->whole = "the key index cannot be probed with the other stream's values";
		return;
	}
	if (!probe_keys(jr, pr, other, pad, ssup))
		return;
	if ((double) pr->nprobe * PROBE_COST > (double) s->stream->state_rows && pr->nprobe > 0)
	{
		pr->whole = "the other stream's new rows have many keys for the state";
		return;
	}
	pr->probe = true;
	pr->rows_per_key = rows_per_key(s, pr);
}

/*
 * Stacked joins: the probe of s's state by t's rows padded anew for the
 * sides of mask, made (if make) once the pairs queries have told which
 * rows matched (level_matched), or NULL.
 */
static JoinProbe *
pad_probe(JoinRun *jr, JoinRunSide *s, int t, int32 mask, bool make)
{
	ListCell   *lc;
	PadProbe   *pp;

	foreach(lc, s->padpr)
	{
		pp = lfirst(lc);
		if (pp->t == t && pp->mask == mask)
			return &pp->pr;
	}
	if (!make)
		return NULL;
	pp = palloc0(sizeof(PadProbe));
	pp->t = t;
	pp->mask = mask;
	probe_begin(jr, s, t, mask, &pp->pr);
	s->padpr = lappend(s->padpr, pp);
	if (pp->pr.probe)
		elog(DEBUG1, "continuous view \"%s\" reads its join state of stream \"%s\" with the NULL-padded rows of stream \"%s\" by key (keys probed: %d)",
			 jr->cq->viewname, get_rel_name(s->def->relid),
			 get_rel_name(jr->side[t].def->relid), pp->pr.nprobe);
	else
		elog(DEBUG1, "continuous view \"%s\" reads its join state of stream \"%s\" with the NULL-padded rows of stream \"%s\" whole: %s",
			 jr->cq->viewname, get_rel_name(s->def->relid),
			 get_rel_name(jr->side[t].def->relid), pp->pr.whole);
	return &pp->pr;
}

JoinRun *
pgs_join_begin(CqDef *cq, List *streams, bool has_late, int64 late_wm,
			   bool has_evict, int64 evict_wm)
{
	JoinRun    *jr = palloc0(sizeof(JoinRun));
	BatchRun   *run;

	jr->cq = cq;
	jr->j = cq->join;
	/*
	 * Lateness, like the bounds, holds where both sides have a watermark,
	 * or one has and the windows are equal (then it bounds both).
	 */
	jr->nsides = cq->join->nsides;
	jr->has_late = has_late;
	for (int k = 0; k < jr->nsides; k++)
		jr->has_late &= cq->join->side[k].watermarked;
	jr->has_late |= has_late && cq->join->window_wm;
	jr->econtext = CreateStandaloneExprContext();
	jr->late_wm = late_wm;
	jr->has_evict = has_evict;
	jr->evict_wm = evict_wm;
	for (int k = 0; k < jr->nsides; k++)
	{
		JoinRunSide *s = &jr->side[k];
		TupleDesc	sdesc;
		ListCell   *lc;

		/* (a self-join's sides open the same state) */
		s->def = &cq->join->side[k];
		foreach(lc, streams)
			if (((BatchStream *) lfirst(lc))->relid == s->def->relid)
				s->stream = lfirst(lc);
		if (s->stream == NULL || s->stream->batch == NULL ||
			!OidIsValid(s->stream->join_state))
			elog(ERROR, "continuous view \"%s\" has no join state for stream \"%s\"",
				 cq->viewname, get_rel_name(s->def->relid));
		s->batch = s->stream->batch;
		s->srel = table_open(s->stream->join_state, RowExclusiveLock);
		{
			Relation	rel = table_open(s->def->relid, AccessShareLock);

			s->desc = CreateTupleDescCopy(RelationGetDescr(rel));
			table_close(rel, NoLock);
		}
		sdesc = RelationGetDescr(s->srel);
		s->statecol = palloc0(sizeof(AttrNumber) * s->desc->natts);
		for (int i = 0; i < s->desc->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(s->desc, i);

			if (a->attisdropped)
				continue;
			for (int c = 0; c < sdesc->natts; c++)
			{
				Form_pg_attribute sa = TupleDescAttr(sdesc, c);

				if (!sa->attisdropped && sa->atttypid == a->atttypid &&
					strcmp(NameStr(sa->attname), NameStr(a->attname)) == 0)
					s->statecol[i] = c + 1;
			}
		}
		for (int c = 0; c < sdesc->natts; c++)
		{
			Form_pg_attribute sa = TupleDescAttr(sdesc, c);

			if (strcmp(NameStr(sa->attname), EXPIRES_COLUMN) == 0)
				s->expires_col = c + 1;
			else if (strcmp(NameStr(sa->attname), MATCHED_COLUMN) == 0)
				s->matched_col = c + 1;
			else if (strcmp(NameStr(sa->attname), LEVELS_COLUMN) == 0)
				s->levels_col = c + 1;
		}
		if (s->expires_col == 0 || s->matched_col == 0 ||
			(cq->join->stacked && s->levels_col == 0))
			elog(ERROR, "join state table \"%s\" lacks its own columns",
				 RelationGetRelationName(s->srel));
		s->expidx = expiry_index(s);
		/*
		 * (planned, as the view's query is: a function's default
		 * arguments are filled in only so, and the executor reads them)
		 */
		if (s->def->own != NIL)
			s->own = ExecInitQual((List *) expression_planner((Expr *) s->def->own), NULL);
		if (s->def->preserved)
		{
			HASHCTL		ctl;

			ctl.keysize = sizeof(ItemPointerData);
			ctl.entrysize = sizeof(ItemPointerData);
			ctl.hcxt = CurrentMemoryContext;
			s->matched = hash_create("pg_stream matched rows", 1024, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
	}
	/* stacked: each anchor of an outer join remembers its rows' matches */
	for (int k = 0; k < jr->nsides && cq->join->stacked; k++)
	{
		CqJoinSide *d = &cq->join->side[k];

		for (int f = 0; f < 2; f++)
		{
			/* (and a full side its own rows' matches with its anchor) */
			JoinRunSide *m;
			HASHCTL		ctl;

			if (!(f ? d->full : d->padded))
				continue;
			m = &jr->side[f ? k : d->anchor];
			if (m->lmatch != NULL)
				continue;
			ctl.keysize = sizeof(ItemPointerData);
			ctl.entrysize = sizeof(LevelMatch);
			ctl.hcxt = CurrentMemoryContext;
			m->lmatch = hash_create("pg_stream matched rows", 1024, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
	}
	for (int k = 0; k < jr->nsides; k++)
	{
		JoinRunSide *s = &jr->side[k];

		for (int t = 0; t < jr->nsides; t++)
		{
			JoinProbe  *pr = &s->pr[t];

			if (t == k)
				continue;
			probe_begin(jr, s, t, 0, pr);
			if (jr->nsides == 2 && pr->probe)
				elog(DEBUG1, "continuous view \"%s\" reads its join state of stream \"%s\" by key (keys probed: %d)",
					 cq->viewname, get_rel_name(s->def->relid), pr->nprobe);
			else if (jr->nsides == 2)
				elog(DEBUG1, "continuous view \"%s\" reads its join state of stream \"%s\" whole: %s",
					 cq->viewname, get_rel_name(s->def->relid), pr->whole);
			else if (pr->probe)
				elog(DEBUG1, "continuous view \"%s\" reads its join state of stream \"%s\" with the new rows of stream \"%s\" by key (keys probed: %d)",
					 cq->viewname, get_rel_name(s->def->relid),
					 get_rel_name(jr->side[t].def->relid), pr->nprobe);
			else
				elog(DEBUG1, "continuous view \"%s\" reads its join state of stream \"%s\" with the new rows of stream \"%s\" whole: %s",
					 cq->viewname, get_rel_name(s->def->relid),
					 get_rel_name(jr->side[t].def->relid), pr->whole);
		}
	}
	/* its scans find their side through the batch's context */
	run = pgs_batchrun_current();
	Assert(run != NULL && run->is_batch && run->join == NULL);
	run->join = jr;
	run->join_scan = &join_scan_routine;
	return jr;
}

/*------------------------------------------------------------------------
 * The plan
 *------------------------------------------------------------------------
 */
/* the copies of a stacked join: as many as its NULL-padded combinations allow */
#define MAX_COPIES ((1 << PGS_JOIN_MAX_PADDED) * PGS_JOIN_MAX_SIDES + 1)

typedef struct Surgery
{
	JoinRun    *jr;
	List	   *rtable;
	Index		rti[2];			/* a self-join: the sides' entries in rtable */
	int			roles[MAX_COPIES][PGS_JOIN_MAX_SIDES];
	int			ncopies;
	int			sides;			/* the mask of the sides the plan joins */
	bool		outer;			/* copies 0 and 1 join inner, copy 2 outer */
	bool		probe;			/* the joining node reads each side once: its
								 * state scans may probe by key */
	bool		order_lost;		/* a node above relies on an order of the
								 * joining node's that its copies lose */
	/* per copy: */
	int			newside[MAX_COPIES];	/* whose new rows probe the states, or
										 * -1 */
	int32		newpad[MAX_COPIES]; /* stacked: those are its rows padded
									 * anew for these sides (0: its new rows) */
	int			present[MAX_COPIES];	/* stacked: the sides not NULL-padded */
	int32		pad[MAX_COPIES][PGS_JOIN_MAX_SIDES];	/* stacked: per side, the
														 * padded sides its
														 * rows must not match */
} Surgery;

/* pointers to the plans in a list of plans, appended to l */
static List *
plan_cells(List *l, List *plans)
{
	ListCell   *lc;

	foreach(lc, plans)
		l = lappend(l, &lfirst(lc));
	return l;
}

/* pointers to the child plans of a plan node */
static List *
plan_children(Plan *p)
{
	List	   *l = NIL;

	if (p->lefttree)
		l = lappend(l, &p->lefttree);
	if (p->righttree)
		l = lappend(l, &p->righttree);
	switch (nodeTag(p))
	{
		case T_Append:
			return plan_cells(l, ((Append *) p)->appendplans);
		case T_MergeAppend:
			return plan_cells(l, ((MergeAppend *) p)->mergeplans);
		case T_SubqueryScan:
			return lappend(l, &((SubqueryScan *) p)->subplan);
		case T_BitmapAnd:
			return plan_cells(l, ((BitmapAnd *) p)->bitmapplans);
		case T_BitmapOr:
			return plan_cells(l, ((BitmapOr *) p)->bitmapplans);
		case T_CustomScan:
			return plan_cells(l, ((CustomScan *) p)->custom_plans);
		default:
			return l;
	}
}

/* the mask of sides_below() that has them all */
#define ALL_SIDES(jr) ((1 << (jr)->nsides) - 1)

/* the side a stream scan reads, or -1 */
static int
scan_side(Plan *p, Surgery *sg)
{
	RangeTblEntry *rte;

	if (!IsA(p, ForeignScan) || ((ForeignScan *) p)->scan.scanrelid == 0)
		return -1;
	rte = rt_fetch(((ForeignScan *) p)->scan.scanrelid, sg->rtable);
	for (int k = 0; k < sg->jr->nsides; k++)
	{
		if (sg->jr->j->self ? ((ForeignScan *) p)->scan.scanrelid == sg->rti[k] :
			rte->relid == sg->jr->j->side[k].relid)
			return k;
	}
	return -1;
}

/* how many scans of each side are below p, added to n */
static void
count_scans(Plan *p, Surgery *sg, int *n)
{
	int			k = scan_side(p, sg);
	ListCell   *lc;

	if (k >= 0)
		n[k]++;
	foreach(lc, plan_children(p))
		count_scans(*(Plan **) lfirst(lc), sg, n);
}

static int
sides_below(Plan *p, Surgery *sg)
{
	int			k = scan_side(p, sg);
	int			mask = (k >= 0) ? (1 << k) : 0;
	ListCell   *lc;

	foreach(lc, plan_children(p))
		mask |= sides_below(*(Plan **) lfirst(lc), sg);
	return mask;
}

/*
 * Do the key pairs of sides k and t hold in the rows of a copy with the
 * sides of present (the others NULL-padded): a pair derived through a
 * third side holds where that side is joined.
 */
static bool
keyed_in(JoinRun *jr, int k, int t, int present)
{
	CqJoinSide *d = &jr->j->side[k];

	return d->npkeys[t] > 0 && (d->pvia[t] & ~present) == 0;
}

/*
 * The roles of copy's scans: what each reads, whether its state may be
 * probed, its side, the side whose new rows the copy reads (that probes
 * the states keyed with it: each state meets only them), or -1, the sides
 * the scan's rows are NULL-padded for, and those the new side's are.
 */
static void
set_roles(Plan *p, Surgery *sg, int copy)
{
	int			k = scan_side(p, sg);
	ListCell   *lc;

	if (k >= 0)
	{
		int			t = sg->newside[copy];
		bool		probe = sg->probe && t >= 0 && t != k &&
			keyed_in(sg->jr, k, t, sg->present[copy]);

		List	   *priv = list_make4(makeInteger(sg->roles[copy][k]), makeBoolean(probe),
									  makeInteger(k), makeInteger(t));

		priv = lappend(priv, makeInteger(sg->pad[copy][k]));
		((ForeignScan *) p)->fdw_private = lappend(priv, makeInteger(sg->newpad[copy]));
	}
	foreach(lc, plan_children(p))
		set_roles(*(Plan **) lfirst(lc), sg, copy);
}

/*
 * A copy of a stacked join for the rows with the sides of present, the
 * others NULL-padded: a join whose nullable input has a present side
 * joins inner (its rows must match), one whose nullable input has none
 * stays outer (their scans read nothing: its rows come out NULL-padded).
 */
static void
set_jointypes(Plan *p, Surgery *sg, int present)
{
	ListCell   *lc;

	if (IsA(p, NestLoop) || IsA(p, MergeJoin) || IsA(p, HashJoin))
	{
		Join	   *jn = (Join *) p;
		int			l = sides_below(p->lefttree, sg);
		int			r = sides_below(p->righttree, sg);

		switch (jn->jointype)
		{
			case JOIN_INNER:
				break;
			case JOIN_LEFT:
				if (r & present)
					jn->jointype = JOIN_INNER;
				break;
			case JOIN_RIGHT:
				if (l & present)
					jn->jointype = JOIN_INNER;
				break;
			case JOIN_FULL:
				/* its rows padded on one side, or on none */
				if ((l & present) && (r & present))
					jn->jointype = JOIN_INNER;
				else if (l & present)
					jn->jointype = JOIN_LEFT;
				else if (r & present)
					jn->jointype = JOIN_RIGHT;
				break;
			default:
				if (l && r)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("continuous view \"%s\" joins its streams with a join its batches cannot split (plan join type %d)",
									sg->jr->cq->viewname, (int) jn->jointype),
							 errhint("Write the view's joins as LEFT, RIGHT or inner joins of the streams, without NOT EXISTS or IS NULL tests of a joined stream.")));
		}
	}
	foreach(lc, plan_children(p))
		set_jointypes(*(Plan **) lfirst(lc), sg, present);
}

/*
 * The order of a plan node's output, as sort keys over its target list:
 * a node above may rely on it (a GroupAggregate right over a merge join
 * groups its rows by the join's order), and the Append of the joining
 * node's copies would lose it, writing a group twice. So the copies are
 * merged in that order (MergeAppend): each is the node itself, ordered
 * alike. The order comes from a Sort, through the outer side of a merge
 * join or nested loop (of those the planner says keep it: not a RIGHT
 * or FULL merge join) and a Materialize, each key only while the node
 * passes its column on; a hash join, a stream's scan and a scan of a
 * table in no particular order have none. False: the node may be
 * ordered in a way not known here (an index scan).
 */
typedef struct OrderKey
{
	AttrNumber	col;
	Oid			op;
	Oid			coll;
	bool		nulls_first;
} OrderKey;

static bool
plan_order(Plan *p, List **keys)
{
	List	   *outer = NIL;
	ListCell   *lc;

	*keys = NIL;
	switch (nodeTag(p))
	{
		case T_Sort:
		case T_IncrementalSort:
			{
				Sort	   *s = (Sort *) p;

				for (int i = 0; i < s->numCols; i++)
				{
					OrderKey   *k = palloc(sizeof(OrderKey));

					k->col = s->sortColIdx[i];
					k->op = s->sortOperators[i];
					k->coll = s->collations[i];
					k->nulls_first = s->nullsFirst[i];
					*keys = lappend(*keys, k);
				}
				return true;
			}
		case T_MergeJoin:
			if (((Join *) p)->jointype == JOIN_RIGHT || ((Join *) p)->jointype == JOIN_FULL)
				return true;
			/* FALLTHROUGH */
		case T_NestLoop:
		case T_Material:
			if (!plan_order(p->lefttree, &outer))
				return false;
			/* each key while the node passes the column on */
			foreach(lc, outer)
			{
				OrderKey   *k = lfirst(lc);
				AttrNumber	col = 0;
				ListCell   *tc;

				foreach(tc, p->targetlist)
				{
					Var		   *v = (Var *) ((TargetEntry *) lfirst(tc))->expr;

					if (IsA(v, Var) && v->varno == OUTER_VAR && v->varattno == k->col)
					{
						col = ((TargetEntry *) lfirst(tc))->resno;
						break;
					}
				}
				if (col == 0)
					break;
				k->col = col;
				*keys = lappend(*keys, k);
			}
			return true;
		case T_HashJoin:
		case T_ForeignScan:
		case T_SeqScan:
		case T_BitmapHeapScan:
		case T_TidScan:
		case T_TidRangeScan:
		case T_SampleScan:
		case T_FunctionScan:
		case T_ValuesScan:
		case T_NamedTuplestoreScan:
		case T_Hash:
			return true;
		default:
			return false;
	}
}

/*
 * Does a plan node read its child in an order it needs (the child's order
 * may be the joining node's, passed up: order_from_join).
 */
static bool
relies_on_order(Plan *p)
{
	switch (nodeTag(p))
	{
		case T_Agg:
			return ((Agg *) p)->aggstrategy == AGG_SORTED ||
				((Agg *) p)->aggstrategy == AGG_MIXED;
		case T_SetOp:
			return ((SetOp *) p)->strategy == SETOP_SORTED;
		case T_Group:
		case T_Unique:
		case T_MergeJoin:
		case T_WindowAgg:
		case T_IncrementalSort:
			return true;
		default:
			return false;
	}
}

/*
 * Is the order of p's output the joining node's, passed up to p through
 * nodes that keep their outer input's order, and not known here
 * (plan_order: an index's, say)? The joining node's copies, appended,
 * lose it, and a node above that relies on it would group one key twice.
 * (Asked only where a node above relies on an order.)
 */
static bool
order_from_join(Plan *p, Surgery *sg)
{
	List	   *keys;
	ListCell   *lc;

	foreach(lc, plan_children(p))
	{
		Plan	  **c = lfirst(lc);

		if (sides_below(*c, sg) != sg->sides)
			continue;
		switch (nodeTag(p))
		{
			case T_MergeJoin:
				if (((Join *) p)->jointype == JOIN_RIGHT || ((Join *) p)->jointype == JOIN_FULL)
					return false;
				/* FALLTHROUGH */
			case T_NestLoop:
			case T_Material:
			case T_Result:
			case T_ProjectSet:
			case T_Limit:
				return *c == p->lefttree && order_from_join(*c, sg);
			case T_SubqueryScan:
				return *c == ((SubqueryScan *) p)->subplan && order_from_join(*c, sg);
			default:
				return false;	/* an order of its own, or none */
		}
	}
	/*
	 * p joins the sides. An order plan_order cannot tell (false), or none
	 * that it knows of where the node above relies on one (a merge join
	 * whose key the target list passes on only as the other side's
	 * column, equal but not known so here): lost either way.
	 */
	return !plan_order(p, &keys) || keys == NIL;
}

static Plan *
operate(Plan *p, Surgery *sg)
{
	ListCell   *lc;
	Append	   *app;
	List	   *tlist = NIL;
	List	   *keys;
	int			nscans[PGS_JOIN_MAX_SIDES] = {0};

	foreach(lc, plan_children(p))
	{
		Plan	  **c = lfirst(lc);

		if (sides_below(*c, sg) == sg->sides)
		{
			/* p reads the joining node's copies: in an order they lose? */
			if (relies_on_order(p) && order_from_join(*c, sg))
				sg->order_lost = true;
			*c = operate(*c, sg);
			return p;
		}
	}
	/* p joins the sides (the last of them: the others are below) */
	if (!IsA(p, NestLoop) && !IsA(p, MergeJoin) && !IsA(p, HashJoin))
		elog(ERROR, "unexpected plan node %d joining streams", (int) nodeTag(p));

	/*
	 * A state row is left out by the probe because it cannot meet any of
	 * the other side's new rows; true where the node reads one scan of
	 * each side, the scans that meet (the join analysis found the keys in
	 * the query's only reference to each stream).
	 */
	count_scans(p, sg, nscans);
	sg->probe = true;
	for (int k = 0; k < sg->jr->nsides; k++)
		if (sg->sides & (1 << k))
			sg->probe &= (nscans[k] == 1);
	app = makeNode(Append);
	for (int i = 0; i < sg->ncopies; i++)
	{
		Plan	   *copy = copyObject(p);

		set_roles(copy, sg, i);
		if (sg->jr->j->stacked)
			set_jointypes(copy, sg, sg->present[i]);
		else if (sg->outer && i < sg->jr->nsides)
			((Join *) copy)->jointype = JOIN_INNER;
		app->appendplans = lappend(app->appendplans, copy);
	}
	foreach(lc, p->targetlist)
	{
		TargetEntry *tle = lfirst(lc);

		tlist = lappend(tlist,
						makeTargetEntry((Expr *) makeVar(OUTER_VAR, tle->resno,
														 exprType((Node *) tle->expr),
														 exprTypmod((Node *) tle->expr),
														 exprCollation((Node *) tle->expr), 0),
										tle->resno, tle->resname, tle->resjunk));
	}
	app->plan.targetlist = tlist;
	app->plan.startup_cost = p->startup_cost;
	app->plan.total_cost = p->total_cost;
	app->plan.plan_rows = p->plan_rows;
	app->plan.plan_width = p->plan_width;
	app->plan.plan_node_id = p->plan_node_id;
	app->plan.extParam = bms_copy(p->extParam);
	app->plan.allParam = bms_copy(p->allParam);
	app->first_partial_plan = sg->ncopies;
	/* the copies merged in the order a node above may rely on (above) */
	if (plan_order(p, &keys) && keys != NIL)
	{
		MergeAppend *ma = makeNode(MergeAppend);
		int			i = 0;

		ma->plan = app->plan;
		ma->mergeplans = app->appendplans;
		ma->numCols = list_length(keys);
		ma->sortColIdx = palloc(sizeof(AttrNumber) * ma->numCols);
		ma->sortOperators = palloc(sizeof(Oid) * ma->numCols);
		ma->collations = palloc(sizeof(Oid) * ma->numCols);
		ma->nullsFirst = palloc(sizeof(bool) * ma->numCols);
		foreach(lc, keys)
		{
			OrderKey   *k = lfirst(lc);

			ma->sortColIdx[i] = k->col;
			ma->sortOperators[i] = k->op;
			ma->collations[i] = k->coll;
			ma->nullsFirst[i] = k->nulls_first;
			i++;
		}
		ma->plan.type = T_MergeAppend;
		return (Plan *) ma;
	}
	return (Plan *) app;
}

/*
 * The plan of a join batch: the node joining the two sides becomes an
 * Append of its copies, new rows against everything, the state against
 * new rows; and for an outer join (unless matches_only), the expiring
 * unmatched rows of the preserved sides, NULL-padded.
 */
/*
 * Copy c of a stacked join: the sides present in it, x the one whose rows
 * are new to the combination (those before it all that have it, those
 * after it the ones that had it before the batch), pad[k] the sides each
 * present side k is NULL-padded for. Every row of the copy has one of x's
 * rows it reads, so the states keyed with x through present sides are
 * probed by those: x's new rows, or of a padded x its rows padded anew
 * (the rows certain to match nothing since the last batch, PadProbe).
 */
static void
copy_roles(Surgery *sg, int c, int x, int present, const int32 *pad)
{
	int			n = sg->jr->nsides;

	for (int k = 0; k < n; k++)
	{
		int			when = k < x ? 0 : k == x ? 1 : 2;	/* all, new, before */

		if (!(present & (1 << k)))
			sg->roles[c][k] = ROLE_NONE;
		else if (pad[k] == 0)
			sg->roles[c][k] = when == 0 ? ROLE_ALL : when == 1 ? ROLE_DELTA : ROLE_STATE;
		else
			sg->roles[c][k] = when == 0 ? ROLE_PAD_NOW :
				when == 1 ? ROLE_PAD_NEW : ROLE_PAD_BEFORE;
		sg->pad[c][k] = pad[k];
	}
	sg->present[c] = present;
	sg->newside[c] = x;
	sg->newpad[c] = pad[x];
}

/*
 * The copies of a stacked join (see the top of the file): for each set of
 * sides a row may have (the others NULL-padded), one copy per present
 * side, that side's rows new to the combination, the sides before it all
 * that have it, the sides after it those that had it before the batch.
 */
/*
 * The copies of a stacked join with FULL JOINs: a set of present sides
 * need not hold its sides' anchors (a full side's row may come out with
 * its anchor padded), so every set is tried. A set is one a row can have
 * if it is connected in the tree of anchors, holds both streams of each
 * inner join, and each stream it lacks next to a present one may be
 * padded for it: a side missing beside its anchor is padded (LEFT or
 * FULL), an anchor missing beside a full side is. Each present side's
 * rows must be certain to match none of its missing neighbours (pad[]);
 * the copies per set as in stacked_copies.
 */
static void
full_copies(Surgery *sg)
{
	CqJoin	   *j = sg->jr->j;
	int			n = sg->jr->nsides;

	sg->ncopies = 0;
	for (int present = 1; present <= ALL_SIDES(sg->jr); present++)
	{
		int32		pad[PGS_JOIN_MAX_SIDES] = {0};
		bool		possible = true;
		int			reach = present & -present;

		for (int k = 0; k < n; k++)
		{
			int			a = j->side[k].anchor;
			bool		kin = (present & (1 << k)) != 0;
			bool		ain = a >= 0 && (present & (1 << a)) != 0;

			if (a < 0 || kin == ain)
				continue;
			if (!kin && j->side[k].padded)
				pad[a] |= (1 << k);
			else if (kin && j->side[k].full)
				pad[k] |= (1 << a);
			else
				possible = false;
		}
		for (int k = 0; k < n; k++)
			if (!j->side[k].padded && j->side[k].anchor >= 0 &&
				!(present & (1 << k)))
				possible = false;
		/* connected: the sides reached from the first through present ones */
		for (int changed = 1; changed;)
		{
			changed = 0;
			for (int k = 0; k < n; k++)
			{
				int			a = j->side[k].anchor;

				if (a < 0 || !(present & (1 << k)) || !(present & (1 << a)) ||
					((reach >> k) & 1) == ((reach >> a) & 1))
					continue;
				reach |= (1 << k) | (1 << a);
				changed = 1;
			}
		}
		if (!possible || reach != present)
			continue;
		for (int x = 0; x < n; x++)
		{
			int			c = sg->ncopies;

			if (!(present & (1 << x)))
				continue;
			if (++sg->ncopies > MAX_COPIES)
				elog(ERROR, "continuous view \"%s\" has too many NULL-padded combinations",
					 sg->jr->cq->viewname);
			copy_roles(sg, c, x, present, pad);
		}
	}
}

static void
stacked_copies(Surgery *sg)
{
	CqJoin	   *j = sg->jr->j;
	int			n = sg->jr->nsides;
	int			padded[PGS_JOIN_MAX_PADDED];
	int			np = 0;

	for (int k = 0; k < n; k++)
		if (j->side[k].full)
		{
			full_copies(sg);
			return;
		}

	for (int k = 0; k < n; k++)
		if (j->side[k].padded)
			padded[np++] = k;
	sg->ncopies = 0;
	for (int set = 0; set < (1 << np); set++)
	{
		int			present = ALL_SIDES(sg->jr);
		int32		pad[PGS_JOIN_MAX_SIDES] = {0};
		bool		canonical = true;

		/*
		 * The padded sides of set and all joined through them; each of
		 * set's sides with its anchor present (else it is padded anyway:
		 * a condition bounding it by its anchor's time fails on NULL).
		 */
		for (int changed = 1; changed;)
		{
			changed = 0;
			for (int k = 0; k < n; k++)
			{
				bool		in = false;

				for (int i = 0; i < np; i++)
					in |= ((set & (1 << i)) && padded[i] == k);
				if ((present & (1 << k)) &&
					(in || (j->side[k].anchor >= 0 && !(present & (1 << j->side[k].anchor)))))
				{
					present &= ~(1 << k);
					changed = 1;
				}
			}
		}
		for (int i = 0; i < np; i++)
		{
			int			a = j->side[padded[i]].anchor;

			if (!(set & (1 << i)))
				continue;
			if (!(present & (1 << a)))
				canonical = false;
			else
				pad[a] |= (1 << padded[i]);
		}
		if (!canonical)
			continue;
		for (int x = 0; x < n; x++)
		{
			int			c = sg->ncopies++;

			if (!(present & (1 << x)))
			{
				sg->ncopies--;
				continue;
			}
			copy_roles(sg, c, x, present, pad);
		}
	}
}

static PlannedStmt *
join_plan(JoinRun *jr, PlannedStmt *plan, bool matches_only, Index rti0, Index rti1,
		  bool *order_lost)
{
	Surgery		sg;
	CqJoin	   *j = jr->j;

	memset(&sg, 0, sizeof(sg));
	sg.jr = jr;
	sg.rtable = plan->rtable;
	sg.rti[0] = rti0;
	sg.rti[1] = rti1;
	sg.sides = ALL_SIDES(jr);
	for (int i = 0; i < MAX_COPIES; i++)
	{
		sg.newside[i] = i < jr->nsides ? i : -1;
		sg.present[i] = sg.sides;
	}
	/* a self-join's sides are the plan's entries of the query's (the planner keeps them first) */
	for (int k = 0; k < 2 && j->self; k++)
		if (sg.rti[k] == 0 || sg.rti[k] > list_length(plan->rtable) ||
			rt_fetch(sg.rti[k], plan->rtable)->relid != j->side[k].relid)
			elog(ERROR, "the plan of continuous view \"%s\" does not read its stream twice",
				 jr->cq->viewname);
	sg.outer = (j->jointype != JOIN_INNER);
	sg.roles[0][0] = ROLE_DELTA;
	sg.roles[0][1] = ROLE_ALL;
	sg.roles[1][0] = ROLE_STATE;
	sg.roles[1][1] = ROLE_DELTA;
	sg.ncopies = 2;
	if (sg.outer && !matches_only)
	{
		sg.roles[2][0] = j->side[0].preserved ? ROLE_EXPIRED : ROLE_NONE;
		sg.roles[2][1] = j->side[1].preserved ? ROLE_EXPIRED : ROLE_NONE;
		sg.ncopies = 3;
	}
	if (j->stacked && matches_only)
	{
		/* the pairs of one outer join: of its anchor and its stream */
		int			a = j->side[jr->pairs_padded].anchor;
		int			n = jr->pairs_padded;

		sg.sides = (1 << a) | (1 << n);
		for (int k = 0; k < jr->nsides; k++)
			sg.roles[0][k] = sg.roles[1][k] = ROLE_NONE;
		sg.roles[0][a] = ROLE_DELTA;
		sg.roles[0][n] = ROLE_ALL;
		sg.roles[1][a] = ROLE_STATE;
		sg.roles[1][n] = ROLE_DELTA;
		sg.newside[0] = a;
		sg.newside[1] = n;
		sg.present[0] = sg.present[1] = sg.sides;
		sg.ncopies = 2;
	}
	else if (j->stacked)
	{
		stacked_copies(&sg);
		/* the states probed by padded rows (copy_roles) */
		for (int c = 0; c < sg.ncopies; c++)
			for (int k = 0; k < jr->nsides; k++)
				if (sg.newpad[c] != 0 && k != sg.newside[c] &&
					(sg.roles[c][k] == ROLE_STATE || sg.roles[c][k] == ROLE_ALL) &&
					keyed_in(jr, k, sg.newside[c], sg.present[c]))
					(void) pad_probe(jr, &jr->side[k], sg.newside[c], sg.newpad[c], true);
	}
	else if (jr->nsides > 2)
	{
		/*
		 * n streams: copy i joins side i's new rows with the states and new
		 * rows of the sides before it and the states of the sides after it
		 * -- each joined row with a new row in exactly one copy, the one of
		 * its last side with a new row.
		 */
		sg.ncopies = jr->nsides;
		for (int i = 0; i < jr->nsides; i++)
			for (int k = 0; k < jr->nsides; k++)
				sg.roles[i][k] = k < i ? ROLE_ALL : k == i ? ROLE_DELTA : ROLE_STATE;
		/* an outer join at the top: the preserved side's expiring rows */
		if (sg.outer && !matches_only)
		{
			for (int k = 0; k < jr->nsides; k++)
				sg.roles[jr->nsides][k] = j->side[k].preserved ? ROLE_EXPIRED : ROLE_NONE;
			sg.ncopies = jr->nsides + 1;
		}
	}
	if (sides_below(plan->planTree, &sg) != sg.sides)
		elog(ERROR, "the plan of continuous view \"%s\" does not read all its streams",
			 jr->cq->viewname);
	plan->planTree = operate(plan->planTree, &sg);
	if (sg.order_lost && order_lost != NULL)
		*order_lost = true;
	else if (sg.order_lost)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the plan of continuous view \"%s\" relies on an order of its join of streams that its batches cannot keep",
						jr->cq->viewname),
				 errhint("Join the tables around the streams without an index order the plan relies on, or aggregate in a view reading this one's sink stream.")));
	return plan;
}

/*
 * The plan of a join batch. order_lost (if not NULL) is set where the
 * plan relies on an order of the joining node's that its copies lose
 * (then the plan is of no use: plan again without that order); without
 * order_lost, that is an error.
 */
PlannedStmt *
pgs_join_plan(JoinRun *jr, PlannedStmt *plan, bool matches_only, bool *order_lost)
{
	return join_plan(jr, plan, matches_only, jr->j->side[0].rtindex, jr->j->side[1].rtindex,
					 order_lost);
}

/*
 * The matching pairs of an outer join, as the row ids of the two sides:
 * SELECT a.ctid, b.ctid FROM a, b WHERE <the ON condition>.
 */
int
pgs_join_npairs(JoinRun *jr)
{
	int			n = 0;

	if (!jr->j->stacked)
		return 1;
	for (int k = 0; k < jr->nsides; k++)
		n += jr->j->side[k].padded + jr->j->side[k].full;
	return n;
}

PlannedStmt *
pgs_join_pairs_plan(JoinRun *jr, int which)
{
	CqJoin	   *j = jr->j;
	Query	   *q = makeNode(Query);
	List	   *from = NIL;

	q->commandType = CMD_SELECT;
	q->canSetTag = true;
	if (j->stacked)
	{
		/*
		 * Stacked: the anchor's row ids of the matches of the which-th
		 * outer join, SELECT a.ctid FROM a, c WHERE <its ON condition>,
		 * over the view's own range table.
		 */
		CqJoinSide *d = NULL;
		ListCell   *lc;
		int			k;

		jr->pairs_full = false;
		for (k = 0; k < jr->nsides; k++)
			if (j->side[k].padded && which-- == 0)
				break;
		/* then of each FULL JOIN, its stream's row ids of the matches */
		for (int f = 0; k == jr->nsides && f < jr->nsides; f++)
			if (j->side[f].full && which-- == 0)
			{
				k = f;
				jr->pairs_full = true;
			}
		Assert(k < jr->nsides);
		d = &j->side[k];
		jr->pairs_padded = k;
		q->rtable = copyObject(jr->cq->query->rtable);
		foreach(lc, q->rtable)
			if (((RangeTblEntry *) lfirst(lc))->rtekind == RTE_JOIN)
				((RangeTblEntry *) lfirst(lc))->jointype = JOIN_INNER;
		for (int i = 0; i < 2; i++)
		{
			RangeTblRef *rtr = makeNode(RangeTblRef);

			rtr->rtindex = j->side[i ? k : d->anchor].rtindex;
			from = lappend(from, rtr);
		}
		q->targetList = list_make1(makeTargetEntry((Expr *) makeVar(j->side[jr->pairs_full ? k : d->anchor].rtindex,
																	  SelfItemPointerAttributeNumber,
																	  TIDOID, -1, InvalidOid, 0),
												   1, pstrdup("a"), false));
		q->jointree = makeFromExpr(from, copyObject(d->acond));
		jr->npairs = 1;
		return join_plan(jr, pg_plan_query(q, NULL, 0, NULL), true, 0, 0, NULL);
	}
	if (jr->nsides > 2)
	{
		/*
		 * More streams, an outer join at the top: the preserved side's row
		 * ids of the matches, SELECT a.ctid FROM a, (b JOIN c ON ...) WHERE
		 * <the ON condition>, over the view's own range table.
		 */
		JoinExpr   *je = j->outer;
		int			p = 0;
		ListCell   *lc;

		while (!j->side[p].preserved)
			p++;
		q->rtable = copyObject(jr->cq->query->rtable);
		/* (no outer join left in it: the planner looks for those of its entries) */
		foreach(lc, q->rtable)
			if (((RangeTblEntry *) lfirst(lc))->rtekind == RTE_JOIN)
				((RangeTblEntry *) lfirst(lc))->jointype = JOIN_INNER;
		q->targetList = list_make1(makeTargetEntry((Expr *) makeVar(j->side[p].rtindex,
																	  SelfItemPointerAttributeNumber,
																	  TIDOID, -1, InvalidOid, 0),
												   1, pstrdup("a"), false));
		q->jointree = makeFromExpr(list_make2(copyObject(je->larg), copyObject(je->rarg)),
								   copyObject(je->quals));
		q->hasSubLinks = checkExprHasSubLink(je->quals);
		jr->pairs_side[0] = p;
		jr->npairs = 1;
		return join_plan(jr, pg_plan_query(q, NULL, 0, NULL), true, 0, 0, NULL);
	}
	jr->pairs_side[0] = 0;
	jr->pairs_side[1] = 1;
	jr->npairs = 2;
	for (int k = 0; k < 2; k++)
	{
		RangeTblRef *rtr = makeNode(RangeTblRef);

		q->rtable = lappend(q->rtable,
							copyObject(rt_fetch(j->side[k].rtindex, jr->cq->query->rtable)));
		rtr->rtindex = k + 1;
		from = lappend(from, rtr);
		q->targetList = lappend(q->targetList,
								makeTargetEntry((Expr *) makeVar(k + 1, SelfItemPointerAttributeNumber,
																 TIDOID, -1, InvalidOid, 0),
												k + 1, pstrdup(k ? "b" : "a"), false));
	}
	q->jointree = makeFromExpr(from, copyObject(j->cond));
	q->hasSubLinks = checkExprHasSubLink(j->cond);
	return join_plan(jr, pg_plan_query(q, NULL, 0, NULL), true, 1, 2, NULL);
}

/* remember the rows of the preserved sides that matched */
void
pgs_join_matched(JoinRun *jr, Tuplestorestate *pairs, TupleDesc desc)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	while (jr->j->stacked && tuplestore_gettupleslot(pairs, true, false, slot))
	{
		/* stacked: the anchor's rows that matched the last pairs' side */
		int			n = jr->pairs_padded;
		JoinRunSide *a = &jr->side[jr->pairs_full ? n : jr->j->side[n].anchor];
		bool		isnull;
		Datum		d = slot_getattr(slot, 1, &isnull);
		LevelMatch *m;
		bool		found;

		if (isnull)
			continue;
		m = hash_search(a->lmatch, DatumGetPointer(d), HASH_ENTER, &found);
		if (!found)
			m->mask = 0;
		m->mask |= (1 << (jr->pairs_full ? jr->j->side[n].anchor : n));
	}
	while (!jr->j->stacked && tuplestore_gettupleslot(pairs, true, false, slot))
	{
		for (int i = 0; i < jr->npairs; i++)
		{
			JoinRunSide *s = &jr->side[jr->pairs_side[i]];
			bool		isnull;
			Datum		d = slot_getattr(slot, i + 1, &isnull);

			if (!isnull && s->matched)
				(void) hash_search(s->matched, DatumGetPointer(d), HASH_ENTER, NULL);
		}
	}
	ExecDropSingleTupleTableSlot(slot);
}

/*------------------------------------------------------------------------
 * The scans (called by sources/source.c for a scan with a role)
 *------------------------------------------------------------------------
 */
typedef struct JoinScan
{
	JoinRun    *jr;				/* the join batch */
	int			role;
	JoinRunSide *side;
	bool		in_delta;		/* past the state */
	JoinProbe  *probe;			/* the state by key (ROLE_STATE, ROLE_ALL), or
								 * NULL */
	int32		pad;			/* ROLE_PAD_*: the padded sides (a mask) */
	KStoreScan *scan;			/* of the state (engine/store.c) */
	TupleTableSlot *sslot;
	DeltaReader delta;
	bool		delta_open;
} JoinScan;

static void
join_scan_begin(ForeignScanState *node, int role, void *join)
{
	JoinScan   *js = palloc0(sizeof(JoinScan));
	Oid			relid = RelationGetRelid(node->ss.ss_currentRelation);
	List	   *priv = ((ForeignScan *) node->ss.ps.plan)->fdw_private;
	JoinRun    *jr = join;

	Assert(jr != NULL);
	js->jr = jr;
	js->role = role;
	/* the side: as the plan's surgery marked it (a self-join's two read one stream) */
	if (list_length(priv) >= 3 && intVal(lthird(priv)) >= 0 && intVal(lthird(priv)) < jr->nsides &&
		jr->side[intVal(lthird(priv))].def->relid == relid)
		js->side = &jr->side[intVal(lthird(priv))];
	if (js->side == NULL)
		elog(ERROR, "stream \"%s\" is not a side of the join", get_rel_name(relid));
	js->in_delta = (role == ROLE_DELTA);
	if (role >= ROLE_PAD_NOW && !jr->j->stacked)
		elog(ERROR, "a scan of stream \"%s\" for NULL-padded rows outside a stacked join",
			 get_rel_name(relid));
	if ((role == ROLE_STATE || role == ROLE_ALL) && list_length(priv) >= 4 &&
		boolVal(lsecond(priv)) && intVal(lfourth(priv)) >= 0 &&
		intVal(lfourth(priv)) < jr->nsides)
	{
		/* by the copy's new side's new rows, or its rows padded anew */
		int			t = intVal(lfourth(priv));
		int32		newpad = list_length(priv) >= 6 ? intVal(list_nth(priv, 5)) : 0;
		JoinProbe  *pr = newpad ? pad_probe(jr, js->side, t, newpad, false) : &js->side->pr[t];

		if (pr && pr->probe)
			js->probe = pr;
	}
	if (list_length(priv) >= 5)
		js->pad = intVal(list_nth(priv, 4));
	node->fdw_state = js;
}

/*
 * The next state row the scan reads into js->sslot: of the expired rows
 * (by the expiry index), of the keys probed (by the key index, one key
 * after the other), or of the whole state.
 */
static bool
state_next(JoinScan *js, EState *estate)
{
	JoinRunSide *s = js->side;
	bool		before = (js->role == ROLE_PAD_BEFORE);

	if (js->role == ROLE_EXPIRED && !js->jr->has_evict)
		return false;
	/* a padded scan: only rows that can be certain (none without a watermark) */
	if (js->role >= ROLE_PAD_NOW && !(before ? js->jr->has_late : js->jr->has_evict))
		return false;
	if (js->scan == NULL)
	{
		js->sslot = table_slot_create(s->srel, NULL);
		if (js->role >= ROLE_PAD_NOW)
			js->scan = pad_state_scan(js->jr, s, js->role, js->pad, estate->es_snapshot);
		else if (js->role == ROLE_EXPIRED)
			js->scan = kstore_scan_expired(s->srel, s->expidx, s->expires_col,
										   js->jr->evict_wm, estate->es_snapshot);
		else if (js->probe)
			js->scan = kstore_scan_keys(s->srel, js->probe->keyidx, js->probe->skeys,
										js->probe->nkeys, js->probe->probekeys,
										js->probe->nprobe, estate->es_snapshot);
		/* (a padded scan the expiry index cannot serve, or no probe) */
		if (js->scan == NULL)
			js->scan = kstore_scan_all(s->srel, estate->es_snapshot);
	}
	return kstore_scan_next(js->scan, js->sslot);
}

static TupleTableSlot *
join_scan_next(ForeignScanState *node)
{
	JoinScan   *js = node->fdw_state;
	JoinRunSide *s = js->side;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	EState	   *estate = node->ss.ps.state;
	MemoryContext old;

	if (js->role == ROLE_NONE)
		return ExecClearTuple(slot);
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	while (!js->in_delta)
	{
		if (!state_next(js, estate))
		{
			if (js->role == ROLE_STATE || js->role == ROLE_PAD_BEFORE)
			{
				MemoryContextSwitchTo(old);
				return ExecClearTuple(slot);
			}
			js->in_delta = true;
			break;
		}
		/* expired (the index said so): unless it matched, ever */
		if (js->role == ROLE_EXPIRED)
		{
			bool		isnull;

			if (DatumGetBool(slot_getattr(js->sslot, s->matched_col, &isnull)) ||
				tid_matched(s, &js->sslot->tts_tid))
				continue;
		}
		state_to_stream(s, js->sslot, slot);
		/* stacked: a row certain to match none of the padded sides */
		if (js->role >= ROLE_PAD_NOW)
		{
			bool		isnull;
			int32		pmask = DatumGetInt32(slot_getattr(js->sslot, s->levels_col, &isnull));

			if (!pad_passes(js->jr, s, js->role, js->pad, slot, isnull ? 0 : pmask, true))
				continue;
		}
		s->state_read++;
		MemoryContextSwitchTo(old);
		return slot;
	}
	if (!js->delta_open)
	{
		delta_open(&js->delta, s->batch, s->desc, estate->es_query_cxt);
		js->delta_open = true;
	}
	while (delta_next(&js->delta, slot))
	{
		if (row_is_late(js->jr, s, slot))
			continue;
		if (js->role == ROLE_EXPIRED &&
			(tid_matched(s, &slot->tts_tid) ||
			 !(row_expires_now(js->jr, s, slot) || never_matches(js->jr, s, slot))))
			continue;
		if (js->role >= ROLE_PAD_NOW &&
			!pad_passes(js->jr, s, js->role, js->pad, slot, 0, false))
			continue;
		MemoryContextSwitchTo(old);
		return slot;
	}
	MemoryContextSwitchTo(old);
	return ExecClearTuple(slot);
}

static void
join_scan_rescan(ForeignScanState *node)
{
	JoinScan   *js = node->fdw_state;

	js->in_delta = (js->role == ROLE_DELTA);
	if (js->scan)
		kstore_scan_rescan(js->scan);
	if (js->delta_open)
		delta_rescan(&js->delta);
}

static void
join_scan_end(ForeignScanState *node)
{
	JoinScan   *js = node->fdw_state;

	if (js == NULL)
		return;
	if (js->scan)
		kstore_scan_end(js->scan);
	if (js->sslot)
		ExecDropSingleTupleTableSlot(js->sslot);
	if (js->delta_open)
		delta_close(&js->delta);
}

/*
 * Rows a scan of stream relid may read of its side's state (the
 * planner's estimate): the whole state, or what the probe's keys reach.
 */
static double
join_scan_state_rows(void *join, Oid relid)
{
	JoinRun    *jr = join;

	for (int k = 0; k < jr->nsides; k++)
	{
		JoinRunSide *s = &jr->side[k];

		double		rows = 0;

		if (s->def->relid != relid)
			continue;
		/* (one plan for every copy: the most any copy's probe reads) */
		for (int t = 0; t < jr->nsides; t++)
		{
			JoinProbe  *pr = &s->pr[t];

			if (t == k)
				continue;
			rows = Max(rows, pr->probe ?
					   Min((double) s->stream->state_rows, pr->nprobe * pr->rows_per_key) :
					   (double) s->stream->state_rows);
		}
		return rows;
	}
	return 0;
}

static const BatchRunJoinScan join_scan_routine = {
	join_scan_begin,
	join_scan_next,
	join_scan_rescan,
	join_scan_end,
	join_scan_state_rows
};

/*------------------------------------------------------------------------
 * The state after the batch
 *------------------------------------------------------------------------
 */

/* evict the rows that expired; their tids into gone */
static int64
evict_side(JoinRun *jr, JoinRunSide *s, HTAB *gone)
{
	KStoreScan *scan;
	TupleTableSlot *slot;
	int64		n = 0;

	if (!jr->has_evict || s->def->bounds == NIL)
		return 0;
	slot = table_slot_create(s->srel, NULL);
	scan = kstore_scan_expired(s->srel, s->expidx, s->expires_col, jr->evict_wm,
							   GetActiveSnapshot());
	while (kstore_scan_next(scan, slot))
	{
		simple_table_tuple_delete(s->srel, &slot->tts_tid, GetActiveSnapshot());
		(void) hash_search(gone, &slot->tts_tid, HASH_ENTER, NULL);
		n++;
	}
	kstore_scan_end(scan);
	ExecDropSingleTupleTableSlot(slot);
	return n;
}

/*
 * After the batch's output, one state (of side s): it loses the rows that
 * expired, remembers which rows matched (of ms, its preserved side, if
 * any), and gains the new rows that can still match. Counts the late
 * rows. A self-join's one state is both sides': a row is kept unless it
 * can match on neither, and of its preserved side it is marked matched
 * when it was NULL-padded already (it could never match there).
 */
static void
end_state(JoinRun *jr, JoinRunSide *s, JoinRunSide *ms, int64 *rows_late)
{
	EState	   *estate = CreateExecutorState();
	KeyedStore *vw = kstore_open(s->srel, 0, NULL, estate);
	TupleDesc	sdesc = RelationGetDescr(s->srel);
	TupleTableSlot *sslot = table_slot_create(s->srel, NULL);
	TupleTableSlot *nslot = MakeSingleTupleTableSlot(sdesc, &TTSOpsVirtual);
	TupleTableSlot *slot = MakeSingleTupleTableSlot(s->desc, &TTSOpsVirtual);
	HASHCTL		ctl;
	HTAB	   *gone;
	DeltaReader r;
	int64		inserted = 0;
	int64		evicted;

	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(ItemPointerData);
	ctl.hcxt = CurrentMemoryContext;
	gone = hash_create("pg_stream evicted rows", 256, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	evicted = evict_side(jr, s, gone);

	/* state rows that matched for the first time */
	if (ms && ms->matched)
	{
		HASH_SEQ_STATUS hs;
		ItemPointer tid;

		hash_seq_init(&hs, ms->matched);
		while ((tid = hash_seq_search(&hs)) != NULL)
		{
			bool		found;

			if (tid_is_delta(tid))
				continue;
			(void) hash_search(gone, tid, HASH_FIND, &found);
			if (found ||
				!table_tuple_fetch_row_version(s->srel, tid, GetActiveSnapshot(), sslot))
				continue;
			slot_getallattrs(sslot);
			if (DatumGetBool(sslot->tts_values[s->matched_col - 1]))
				continue;
			ExecClearTuple(nslot);
			memcpy(nslot->tts_values, sslot->tts_values, sizeof(Datum) * sdesc->natts);
			memcpy(nslot->tts_isnull, sslot->tts_isnull, sizeof(bool) * sdesc->natts);
			nslot->tts_values[s->matched_col - 1] = BoolGetDatum(true);
			ExecStoreVirtualTuple(nslot);
			kstore_update_tid(vw, tid, nslot);
		}
	}

	/* stacked: state rows of an anchor that matched a padded side anew */
	if (s->lmatch)
	{
		HASH_SEQ_STATUS hs;
		LevelMatch *m;

		hash_seq_init(&hs, s->lmatch);
		while ((m = hash_seq_search(&hs)) != NULL)
		{
			bool		found;
			int32		old;

			if (tid_is_delta(&m->tid))
				continue;
			(void) hash_search(gone, &m->tid, HASH_FIND, &found);
			if (found ||
				!table_tuple_fetch_row_version(s->srel, &m->tid, GetActiveSnapshot(), sslot))
				continue;
			slot_getallattrs(sslot);
			old = DatumGetInt32(sslot->tts_values[s->levels_col - 1]);
			if ((old | m->mask) == old)
				continue;
			ExecClearTuple(nslot);
			memcpy(nslot->tts_values, sslot->tts_values, sizeof(Datum) * sdesc->natts);
			memcpy(nslot->tts_isnull, sslot->tts_isnull, sizeof(bool) * sdesc->natts);
			nslot->tts_values[s->levels_col - 1] = Int32GetDatum(old | m->mask);
			ExecStoreVirtualTuple(nslot);
			kstore_update_tid(vw, &m->tid, nslot);
		}
	}

	/* the new rows that can still match */
	delta_open(&r, s->batch, s->desc, CurrentMemoryContext);
	while (delta_next(&r, slot))
	{
		int64		expiry;
		bool		expires;

		if (row_is_late(jr, s, slot))
		{
			(*rows_late)++;
			continue;
		}
		expires = state_expiry(jr, s, slot, &expiry);
		if (expires && jr->has_evict && expiry <= jr->evict_wm)
			continue;
		/* a row that can match on no side of its state is not kept */
		if (never_matches(jr, s, slot) &&
			(!jr->j->self || never_matches(jr, &jr->side[1], slot)))
			continue;
		slot_getallattrs(slot);
		ExecClearTuple(nslot);
		for (int c = 0; c < sdesc->natts; c++)
			nslot->tts_isnull[c] = true;
		for (int i = 0; i < s->desc->natts; i++)
		{
			AttrNumber	c = s->statecol[i];

			if (c == 0)
				continue;
			nslot->tts_values[c - 1] = slot->tts_values[i];
			nslot->tts_isnull[c - 1] = slot->tts_isnull[i];
		}
		nslot->tts_values[s->expires_col - 1] = Int64GetDatum(expiry);
		nslot->tts_isnull[s->expires_col - 1] = !expires;
		nslot->tts_values[s->matched_col - 1] =
			BoolGetDatum(ms && ms->matched &&
						 (tid_matched(ms, &slot->tts_tid) || never_matches(jr, ms, slot)));
		nslot->tts_isnull[s->matched_col - 1] = false;
		if (s->levels_col)
		{
			nslot->tts_values[s->levels_col - 1] = Int32GetDatum(level_matched(s, &slot->tts_tid));
			nslot->tts_isnull[s->levels_col - 1] = false;
		}
		ExecStoreVirtualTuple(nslot);
		/* in multi-inserts, as the aggregations' new groups are */
		if (kstore_insert_buffered(vw, nslot))
			(void) kstore_flush(vw);
		ResetPerTupleExprContext(estate);
		inserted++;
	}
	(void) kstore_flush(vw);
	delta_close(&r);
	s->stream->state_rows += inserted - evicted;

	kstore_close(vw);
	ExecDropSingleTupleTableSlot(sslot);
	ExecDropSingleTupleTableSlot(nslot);
	ExecDropSingleTupleTableSlot(slot);
	FreeExecutorState(estate);
	hash_destroy(gone);
	elog(DEBUG2, "join state of stream \"%s\": %lld rows read, %lld evicted, %lld added",
		 get_rel_name(s->def->relid), (long long) s->state_read,
		 (long long) evicted, (long long) inserted);
}

/* after the batch's output: each state, then the sides' resources */
void
pgs_join_end(JoinRun *jr, int64 *rows_late)
{
	BatchRun   *run = pgs_batchrun_current();
	ListCell   *lc;

	Assert(jr != NULL && rows_late != NULL);
	run->join = NULL;
	run->join_scan = NULL;
	if (jr->j->self)
		end_state(jr, &jr->side[0], jr->side[1].def->preserved ? &jr->side[1] : &jr->side[0],
				  rows_late);
	else
		for (int k = 0; k < jr->nsides; k++)
			end_state(jr, &jr->side[k], &jr->side[k], rows_late);
	for (int k = 0; k < jr->nsides; k++)
	{
		JoinRunSide *s = &jr->side[k];

		if (s->matched)
			hash_destroy(s->matched);
		if (s->lmatch)
			hash_destroy(s->lmatch);
		index_close(s->expidx, NoLock);
		for (int t = 0; t < jr->nsides; t++)
			if (s->pr[t].keyidx)
				index_close(s->pr[t].keyidx, NoLock);
		foreach(lc, s->padpr)
			if (((PadProbe *) lfirst(lc))->pr.keyidx)
				index_close(((PadProbe *) lfirst(lc))->pr.keyidx, NoLock);
		table_close(s->srel, NoLock);
	}
	FreeExprContext(jr->econtext, true);
}
