/*-------------------------------------------------------------------------
 *
 * stage_side.c
 *	  Streams read beside a windowed aggregation: their rows wait in a
 *	  state of their own until the window they join is final.
 *
 * Spark 3.5 chains stateful operators in append mode: an aggregation's
 * output event time is its window, its rows are final when the watermark
 * passes the window's end, and only then do they enter the operator
 * above; a join of them with another stream's rows keeps those rows as
 * state until the window they can match is final. Nexmark q7 as
 * published is one (the bids joined with the max price of their window):
 *
 *	SELECT B.auction, B.price, B.bidder, B.date_time
 *	FROM bid B
 *	JOIN (SELECT max(price) AS maxprice, stream.tumble(date_time, '10 s') AS w
 *		  FROM bid GROUP BY 2) B1
 *	  ON B.price = B1.maxprice AND stream.tumble(B.date_time, '10 s') = B1.w
 *
 * and q8 another (two different aggregations, persons and auctions, each
 * by window, joined on their windows): the second aggregation is computed
 * over its stream's rows, kept the same way, whole, when its window is
 * final. engine/stage.c splits the query: stage 1 is the first
 * aggregation (the view's CqDef), stage 2 the rest, where each stream
 * read beside stage 1 -- a side -- is replaced by a relation standing for
 * its rows of the windows a batch makes final. This file keeps those
 * rows.
 *
 * The rules, batch by batch, for a batch that runs with watermark wm
 * (the least of every stream's watermark, the side's included: a window
 * is final when all of them have passed its end), stage 1's windows of
 * size s (stream.tumble, origin o), and cut = the start of the first
 * window not final under wm (stage 1's windows with start + s <= wm are
 * final):
 *
 *	- a side's new row with event time ts >= cut is kept in its state
 *	  (the table named by its stream.positions row's join_state: the
 *	  stream's columns that stage 2 reads and the event time, a window's
 *	  rows packed into chunks of arrays, indexed by their least event
 *	  time; see SideChunk below; a side read only as a set, q8's
 *	  auctions, keeps a window's copies of a row once, side_row_hash);
 *	  one with ts <
 *	  cut is late -- its window is final, its stage-1 rows are gone -- and
 *	  dropped (counted in rows_late if the side is not stage 1's stream,
 *	  whose aggregation counts it already). A row without event time
 *	  never joins a window and is dropped too;
 *	- the windows made final in the batch (for these sides; a range may
 *	  make them wait, below): stage 1's groups of them are finalized
 *	  (engine/merge.c), and each side's rows with ts < cut are
 *	  taken out of its state (one range scan of the index, each chunk
 *	  deleted whole): they are the rows of exactly those windows, since rows of
 *	  windows final before were taken then, or were late. Stage 2 runs
 *	  over both, PostgreSQL's planner and executor, and writes the view's
 *	  rows, once (append mode), in the batch's transaction;
 *	- the no-data batch (no input, the watermark moved) does the same.
 *
 * A side joined by a range of its event time around the window instead
 * (ts >= w + a AND ts < w + b: Nexmark's BETWEEN, which joins a row at a
 * window's end with two windows) may join every window starting in
 * (ts - b, ts - a]. A range that reaches past the window (b > s) lets a
 * row that is not late (its window is open) join a window already final
 * too; so a window is handed on to stage 2 (its groups finalized, its
 * sides' rows taken) only once no row that is not late can join it: w +
 * b <= cut (+ a for another stream's side whose range reaches before
 * the window, a < 0: its rows from cut + a on are not late), for every
 * side. That is a lagged cut, hcut = cut - lag, lag = the least whole
 * number of windows >= b - s (pgs_stage_hand_watermark: stage 1's
 * groups are finalized under wm - lag). Lateness stays on the real cut:
 * a new row of stage 1's stream with ts < cut is late, even while its
 * window's groups wait, not handed on, in the state. A side's rows are
 * then kept while a window not handed on may join them (ts >= hcut + a,
 * keep_off = a) and they are not late, read by each batch that hands on
 * one of the windows they join (ts < hcut + reach_off, reach_off = b - s),
 * and evicted with the last (engine/stage.c derives the offsets; for
 * stream.tumble(ts) = w both are 0, and so is the lag). Stage 2 joins
 * them only with the windows handed on in that batch, so no pair is
 * written twice, and none is lost: a row not late joins no window handed
 * on before it came. A new row of stage 1's own stream whose window is
 * final is late for both (not kept, even if the range would let it join
 * an open window). The no-data batch hands on the windows the lagged
 * watermark passed, the same way.
 *
 * So a side's state holds its rows of the windows not handed on only
 * (the open ones, and the lag's), and stage 1's state their groups:
 * bounded by the watermark, per side. Stage 2 sees every row of a window
 * it joins (stage 1's groups, every side's rows) at once, so its result
 * for that window is the batch query's over the rows not dropped as
 * late: outer joins are exact too (a side's row with no stage-1 group of
 * its window, or a group with no side row, comes out NULL-padded in that
 * batch).
 * Stage 2 must join each side on its window (stream.tumble(ts, s, o) =
 * stage 1's window, checked in engine/stage.c), or aggregate it by that
 * window and join that.
 *
 * Exactly-once: the side's rows are written, taken and deleted in the
 * batch's transaction, with the positions; a crash before the commit
 * leaves the state as the batch found it, and the retried batch reads
 * the same input. pg_dump dumps the side's table as a join's state (it is
 * one of the view's tables).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "access/genam.h"
#include "access/tupmacs.h"
#include "access/table.h"
#include "access/tableam.h"
#include "executor/executor.h"
#include "nodes/params.h"
#include "tcop/tcopprot.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/*
 * The start of the first window not final under the watermark: rows of
 * a side with an earlier event time are of final windows.
 */
int64
pgs_stage_side_cut(CqDef *cq, int64 watermark)
{
	int64		from;
	int64		cut;

	if (pg_sub_s64_overflow(watermark, cq->window_size, &from))
		return PG_INT64_MIN;
	if (pg_add_s64_overflow(pgs_window_start(from, cq->window_size, cq->stage_tumble_origin),
							cq->window_size, &cut))
		return PG_INT64_MAX;
	return cut;
}

/* cut + off, saturating */
static int64
cut_plus(int64 cut, int64 off)
{
	int64		r;

	if (cut == PG_INT64_MIN || cut == PG_INT64_MAX)
		return cut;
	if (pg_add_s64_overflow(cut, off, &r))
		return off > 0 ? PG_INT64_MAX : PG_INT64_MIN;
	return r;
}

/*
 * Is column attno of a side's stream kept in its state: one stage 2
 * reads, or the event time (the others are NULL in the rows stage 2
 * gets)? Not a dropped one.
 */
bool
pgs_stage_side_keeps(CqStageSide *side, AttrNumber attno)
{
	return side->all_cols || attno == side->ts_attno || bms_is_member(attno, side->used_cols);
}

/*
 * Where a side's rows that are not late begin, as an offset from cut: a
 * row of stage 1's stream is late once its window is final (ts < cut);
 * another stream's row joined by a range reaching before the window (ts
 * >= w + a, a < 0) is not while it may join the open window cut.
 */
static int64
side_late_off(CqStageSide *side)
{
	return side->own_late ? Min(side->keep_off, 0) : 0;
}

/*
 * How far behind the watermark windows are handed on to stage 2, whole
 * windows: window w waits until no row that is not late can join it,
 * w + b <= cut + the side's late offset, for every side (0 for
 * stream.tumble(ts) = w).
 */
static int64
side_lag(CqDef *cq)
{
	int64		lag = 0;
	ListCell   *lc;

	foreach(lc, cq->stage_sides)
	{
		CqStageSide *side = lfirst(lc);
		int64		need;
		int64		n;

		/* b - s - the late offset */
		if (pg_sub_s64_overflow(side->reach_off, side_late_off(side), &need) ||
			need > PG_INT64_MAX / 4)
			return PG_INT64_MAX;
		if (need <= 0)
			continue;
		n = (need + cq->window_size - 1) / cq->window_size;
		if (n > PG_INT64_MAX / 4 / cq->window_size)
			return PG_INT64_MAX;
		lag = Max(lag, n * cq->window_size);
	}
	return lag;
}

/*
 * The watermark under which stage 1's windows are handed on to stage 2
 * (finalized, their groups and their sides' rows taken): wm minus the
 * lag. Lateness stays on wm: rows of windows final under wm and not
 * handed on yet are late, and their groups wait in the state.
 */
int64
pgs_stage_hand_watermark(CqDef *cq, int64 wm)
{
	int64		lag = cq->stage_sides ? side_lag(cq) : 0;
	int64		r;

	if (lag == 0 || wm == PG_INT64_MIN)
		return wm;
	if (lag == PG_INT64_MAX || pg_sub_s64_overflow(wm, lag, &r))
		return PG_INT64_MIN;
	return r;
}

static BatchStream *
side_stream(CqDef *cq, List *streams, CqStageSide *side)
{
	ListCell   *lc;

	foreach(lc, streams)
	{
		BatchStream *s = lfirst(lc);

		if (s->relid == side->relid)
		{
			if (!OidIsValid(s->join_state))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("continuous view \"%s\" has no state for stream \"%s\"",
								cq->viewname, get_rel_name(side->relid)),
						 errhint("Drop and re-create the continuous view.")));
			return s;
		}
	}
	elog(ERROR, "continuous view \"%s\" did not read stream \"%s\"", cq->viewname,
		 get_rel_name(side->relid));
	return NULL;				/* keep compiler quiet */
}

/*
 * The state has _pgs_from and the stream's columns (those not dropped) as
 * they were at CREATE, as arrays; ddl.c refuses to add or drop one while
 * the view reads it, and this says so if they differ anyway (rather than
 * read past a row), or if the state has the layout of an earlier build
 * (a row per row).
 */
static void
check_state_columns(CqDef *cq, CqStageSide *side, TupleDesc sdesc, Relation srel)
{
	int			n = 0;

	for (int i = 0; i < sdesc->natts; i++)
		n += !TupleDescAttr(sdesc, i)->attisdropped && pgs_stage_side_keeps(side, i + 1) ? 1 : 0;
	if (n + 1 != RelationGetDescr(srel)->natts ||
		strcmp(NameStr(TupleDescAttr(RelationGetDescr(srel), 0)->attname), "_pgs_from") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the state of continuous view \"%s\" for stream \"%s\" does not have the stream's columns",
						cq->viewname, get_rel_name(side->relid)),
				 errhint("Drop and re-create the continuous view.")));
}

/*
 * SELECT the stream's columns (not the dropped ones) FROM it WHERE ts >= $1
 * (or is NULL), run as the owner with the default search_path: the
 * operator is named.
 */
static char *
side_select(CqStageSide *side, bool has_wm)
{
	Relation	rel = table_open(side->relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData sql;
	bool		first = true;
	const char *ts = quote_identifier(NameStr(TupleDescAttr(desc, side->ts_attno - 1)->attname));

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped || !pgs_stage_side_keeps(side, i + 1))
			continue;
		appendStringInfo(&sql, "%s%s", first ? "" : ", ", quote_identifier(NameStr(att->attname)));
		first = false;
	}
	appendStringInfo(&sql, " FROM %s",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));
	/* rows without event time too: side_receive drops them, not late */
	if (has_wm)
		appendStringInfo(&sql, " WHERE %s IS NULL OR %s OPERATOR(pg_catalog.>=) $1", ts, ts);
	table_close(rel, AccessShareLock);
	return sql.data;
}

/* the event time's attribute number in side_select's rows (no dropped columns) */
static int
side_ts_col(CqStageSide *side)
{
	Relation	rel = table_open(side->relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	int			n = 0;

	for (int i = 0; i < side->ts_attno; i++)
		n += !TupleDescAttr(desc, i)->attisdropped && pgs_stage_side_keeps(side, i + 1) ? 1 : 0;
	table_close(rel, AccessShareLock);
	return n;
}

/*
 * A side's new rows are packed, a window's rows at a time, into chunks:
 * one state row each, _pgs_from (the least event time among them) and an
 * array per column, so a chunk of rows costs one heap tuple and one index
 * entry, not one of each per row, and is deleted at once when its window
 * is final. A chunk is written once its arrays reach about
 * SIDE_CHUNK_BYTES (under the page: the state's toast_tuple_target keeps
 * it in line, uncompressed) or SIDE_CHUNK_ROWS rows, and the rest at the
 * end of the batch. A chunk holds rows of one window of stage 1 only, so
 * that the rows a window's finalization takes (ts < cut) are whole chunks
 * for a side joined on the window; a side joined by a range may find a
 * chunk partly taken, and writes the rest again (pgs_stage_sides_take).
 */
#define SIDE_CHUNK_BYTES 6000
#define SIDE_CHUNK_ROWS 1024

typedef struct SideChunk
{
	int64		window;			/* the hash key: the rows' window start */
	MemoryContext cxt;			/* the rows' copies and the arrays */
	int			n;
	int			cap;
	int64		from;			/* the least event time */
	Size		bytes;			/* about the arrays' size */
	Datum	   *values;			/* column c's row i at [c * cap + i] */
	bool	   *nulls;
	/* a side read as a set (distinct): its rows' hashes, row i + 1 by hash */
	uint32	   *hashes;			/* row i's at [i] */
	int		   *set;			/* open addressing, 0 empty */
	int			setsize;		/* a power of 2, over twice n */
} SideChunk;

/*
 * the element types of the state's arrays: the stream's columns'; a
 * column of a type without an array type (itself an array) is kept in
 * binary, a bytea of its send function's (bin), read back with its
 * receive function
 */
typedef struct SideCols
{
	int			ncols;
	Oid		   *types;
	int16	   *lens;
	bool	   *byvals;
	char	   *aligns;
	bool	   *bin;
	FmgrInfo   *send;
	FmgrInfo   *recv;
	Oid		   *ioparams;
	int32	   *typmods;
} SideCols;

/* of the stream's columns, those not dropped (side_select's) */
static SideCols *
side_cols(CqStageSide *side, TupleDesc sdesc)
{
	SideCols   *c = palloc0(sizeof(SideCols));

	c->types = palloc(sizeof(Oid) * sdesc->natts);
	c->lens = palloc(sizeof(int16) * sdesc->natts);
	c->byvals = palloc(sizeof(bool) * sdesc->natts);
	c->aligns = palloc(sizeof(char) * sdesc->natts);
	c->bin = palloc0(sizeof(bool) * sdesc->natts);
	c->send = palloc0(sizeof(FmgrInfo) * sdesc->natts);
	c->recv = palloc0(sizeof(FmgrInfo) * sdesc->natts);
	c->ioparams = palloc0(sizeof(Oid) * sdesc->natts);
	c->typmods = palloc0(sizeof(int32) * sdesc->natts);
	for (int i = 0; i < sdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(sdesc, i);
		int			k = c->ncols;

		if (att->attisdropped || !pgs_stage_side_keeps(side, i + 1))
			continue;
		c->types[k] = att->atttypid;
		if (!OidIsValid(get_array_type(att->atttypid)))
		{
			Oid			fn;
			bool		varlena;

			c->bin[k] = true;
			getTypeBinaryOutputInfo(att->atttypid, &fn, &varlena);
			fmgr_info(fn, &c->send[k]);
			getTypeBinaryInputInfo(att->atttypid, &fn, &c->ioparams[k]);
			fmgr_info(fn, &c->recv[k]);
			c->typmods[k] = att->atttypmod;
			c->types[k] = BYTEAOID;
		}
		get_typlenbyvalalign(c->types[k], &c->lens[k], &c->byvals[k], &c->aligns[k]);
		c->ncols++;
	}
	return c;
}

/* column c's value kept in binary, v (a bytea), read back */
static Datum
side_recv(SideCols *cols, int c, Datum v)
{
	bytea	   *b = DatumGetByteaPP(v);
	StringInfoData buf;
	Datum		r;

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	r = ReceiveFunctionCall(&cols->recv[c], &buf, cols->ioparams[c], cols->typmods[c]);
	if (buf.cursor != buf.len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("incorrect binary data format in the state of a stream read beside a windowed aggregation")));
	pfree(buf.data);
	return r;
}

/* receives the side's new rows and writes them into its state */
typedef struct SideReceiver
{
	DestReceiver pub;
	KeyedStore *st;
	MemoryContext cxt;			/* the batch's: the state's buffers live there */
	SideCols   *cols;			/* of the rows received */
	TupleTableSlot *out;		/* a state row */
	HTAB	   *chunks;			/* window start -> SideChunk */
	int64		size;			/* stage 1's windows */
	int64		origin;
	int64		kept;
	bool		has_wm;
	int			ts_col;			/* the event time's column in the slot */
	int64		keep;			/* rows before it are not kept */
	int64		no_ts;			/* rows without event time, dropped */
	bool		distinct;		/* a window's rows once each (below) */
	int64		copies;			/* rows equal to one kept, dropped */
} SideReceiver;

static void
chunk_reset(SideChunk *ch, int ncols)
{
	MemoryContextReset(ch->cxt);
	ch->n = 0;
	ch->cap = 16;
	ch->bytes = 0;
	ch->from = PG_INT64_MAX;
	ch->values = MemoryContextAlloc(ch->cxt, sizeof(Datum) * ncols * ch->cap);
	ch->nulls = MemoryContextAlloc(ch->cxt, sizeof(bool) * ncols * ch->cap);
	ch->hashes = NULL;
	ch->set = NULL;
	ch->setsize = 0;
}

static void
chunk_grow(SideChunk *ch, int ncols)
{
	int			cap = ch->cap * 2;
	Datum	   *v = MemoryContextAlloc(ch->cxt, sizeof(Datum) * ncols * cap);
	bool	   *nl = MemoryContextAlloc(ch->cxt, sizeof(bool) * ncols * cap);

	for (int c = 0; c < ncols; c++)
	{
		memcpy(v + c * cap, ch->values + c * ch->cap, sizeof(Datum) * ch->n);
		memcpy(nl + c * cap, ch->nulls + c * ch->cap, sizeof(bool) * ch->n);
	}
	pfree(ch->values);
	pfree(ch->nulls);
	ch->values = v;
	ch->nulls = nl;
	ch->cap = cap;
	if (ch->hashes)
	{
		uint32	   *h = MemoryContextAlloc(ch->cxt, sizeof(uint32) * cap);

		memcpy(h, ch->hashes, sizeof(uint32) * ch->n);
		pfree(ch->hashes);
		ch->hashes = h;
	}
}

/*
 * A side read as a set (CqStageSide's distinct: q8's auctions, read only
 * through GROUP BY seller, stream.tumble(date_time)): stage 2 gives the
 * same rows whatever the number of copies of a row, and whether its
 * event time is the time or its window's start (the rows taken are those
 * before a window's start, cut, either way). So its rows are kept with
 * the event time as the window's start, and a row identical to one in
 * its window's chunk (every column's image: datum_image_eq; binary-equal
 * values are equal for any function stage 2 applies) is dropped: q8's
 * auctions of a seller in a window are one row of the state, not one
 * each. Rows of the same window in another chunk (another batch, or a
 * full chunk) are kept again: that costs rows, not exactness.
 */
static uint32
side_row_hash(SideCols *cols, Datum *values, bool *isnull)
{
	uint32		h = 0;

	for (int c = 0; c < cols->ncols; c++)
	{
		h = pg_rotate_left32(h, 1);
		if (!isnull[c])
			h ^= datum_image_hash(values[c], cols->byvals[c], cols->lens[c]);
	}
	return h;
}

/* is row (values, isnull) with hash h in the chunk already? */
static bool
chunk_has_row(SideChunk *ch, SideCols *cols, uint32 h, Datum *values, bool *isnull)
{
	uint32		mask = ch->setsize - 1;

	for (uint32 i = h & mask; ch->set[i] != 0; i = (i + 1) & mask)
	{
		int			r = ch->set[i] - 1;
		bool		same = ch->hashes[r] == h;

		for (int c = 0; same && c < cols->ncols; c++)
		{
			bool		nl = ch->nulls[c * ch->cap + r];

			same = nl == isnull[c] &&
				(nl || datum_image_eq(ch->values[c * ch->cap + r], values[c],
									  cols->byvals[c], cols->lens[c]));
		}
		if (same)
			return true;
	}
	return false;
}

/* row r (hash h, in ch->hashes) into the chunk's set, grown at half full */
static void
chunk_set_add(SideChunk *ch, int r)
{
	uint32		mask;

	if ((r + 1) * 2 > ch->setsize)
	{
		int			size = Max(ch->setsize * 2, 64);

		if (ch->set)
			pfree(ch->set);
		ch->set = MemoryContextAllocZero(ch->cxt, sizeof(int) * size);
		ch->setsize = size;
		/* the rows before r again */
		for (int k = 0; k < r; k++)
			chunk_set_add(ch, k);
	}
	mask = ch->setsize - 1;
	for (uint32 i = ch->hashes[r] & mask;; i = (i + 1) & mask)
		if (ch->set[i] == 0)
		{
			ch->set[i] = r + 1;
			return;
		}
}

/*
 * One state row of n rows, column c's values at values[c * stride]: the
 * least event time and an array per column (in the current memory
 * context), into st's insert buffer (which lives in stcxt).
 */
static void
side_put_chunk(KeyedStore *st, MemoryContext stcxt, TupleTableSlot *out, SideCols *cols,
			   int64 from, Datum *values, bool *nulls, int stride, int n)
{
	MemoryContext old;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	ExecClearTuple(out);
	out->tts_values[0] = Int64GetDatum(from);
	out->tts_isnull[0] = false;
	for (int c = 0; c < cols->ncols; c++)
	{
		out->tts_values[c + 1] =
			PointerGetDatum(construct_md_array(values + c * stride, nulls + c * stride, 1, dims, lbs,
											   cols->types[c], cols->lens[c], cols->byvals[c],
											   cols->aligns[c]));
		out->tts_isnull[c + 1] = false;
	}
	ExecStoreVirtualTuple(out);
	old = MemoryContextSwitchTo(stcxt);
	if (kstore_insert_buffered(st, out))
		(void) kstore_flush(st);
	MemoryContextSwitchTo(old);
}

static void
chunk_write(SideReceiver *r, SideChunk *ch)
{
	MemoryContext old;

	if (ch->n == 0)
		return;
	/* the arrays in the chunk's memory; the buffer copies the row */
	old = MemoryContextSwitchTo(ch->cxt);
	side_put_chunk(r->st, r->cxt, r->out, r->cols, ch->from, ch->values, ch->nulls, ch->cap, ch->n);
	MemoryContextSwitchTo(old);
	chunk_reset(ch, r->cols->ncols);
}

static bool
side_receive(TupleTableSlot *slot, DestReceiver *self)
{
	SideReceiver *r = (SideReceiver *) self;
	SideCols   *cols = r->cols;
	MemoryContext old;
	bool		isnull;
	bool		found;
	int64		ts = DatumGetInt64(slot_getattr(slot, r->ts_col, &isnull));
	int64		w;
	uint32		h = 0;
	SideChunk  *ch;

	/* no event time: it never joins a window (README "Not yet") */
	if (isnull)
	{
		r->no_ts++;
		return true;
	}
	if (r->has_wm && ts < r->keep)
		return true;
	slot_getallattrs(slot);
	w = r->size > 0 ? pgs_window_start(ts, r->size, r->origin) : ts;
	ch = hash_search(r->chunks, &w, HASH_ENTER, &found);
	if (!found)
	{
		ch->cxt = AllocSetContextCreate(r->cxt, "pg_stream side chunk", ALLOCSET_SMALL_SIZES);
		chunk_reset(ch, cols->ncols);
	}
	if (r->distinct)
	{
		/* the event time as its window's start; a copy of a row is dropped */
		slot->tts_values[r->ts_col - 1] = Int64GetDatum(w);
		h = side_row_hash(cols, slot->tts_values, slot->tts_isnull);
		if (ch->set && chunk_has_row(ch, cols, h, slot->tts_values, slot->tts_isnull))
		{
			r->copies++;
			return true;
		}
		if (ch->hashes == NULL)
			ch->hashes = MemoryContextAlloc(ch->cxt, sizeof(uint32) * ch->cap);
	}
	if (ch->n == ch->cap)
		chunk_grow(ch, cols->ncols);
	old = MemoryContextSwitchTo(ch->cxt);
	for (int c = 0; c < cols->ncols; c++)
	{
		Datum		v = slot->tts_values[c];
		bool		nl = slot->tts_isnull[c];

		ch->nulls[c * ch->cap + ch->n] = nl;
		if (nl)
		{
			ch->values[c * ch->cap + ch->n] = (Datum) 0;
			continue;
		}
		if (cols->bin[c])
		{
			v = PointerGetDatum(SendFunctionCall(&cols->send[c], v));
			ch->bytes = att_align_nominal(ch->bytes, cols->aligns[c]) + VARSIZE(DatumGetPointer(v));
		}
		else if (cols->lens[c] == -1)
		{
			/* an array holds it detoasted, with a 4-byte header */
			v = PointerGetDatum(PG_DETOAST_DATUM_COPY(v));
			ch->bytes = att_align_nominal(ch->bytes, cols->aligns[c]) + VARSIZE(DatumGetPointer(v));
		}
		else
		{
			if (!cols->byvals[c])
				v = datumCopy(v, false, cols->lens[c]);
			ch->bytes = att_align_nominal(ch->bytes, cols->aligns[c]) +
				(cols->lens[c] > 0 ? cols->lens[c] : strlen(DatumGetCString(v)) + 1);
		}
		ch->values[c * ch->cap + ch->n] = v;
	}
	MemoryContextSwitchTo(old);
	if (r->distinct)
	{
		ch->hashes[ch->n] = h;
		chunk_set_add(ch, ch->n);
	}
	ch->n++;
	ch->from = Min(ch->from, r->distinct ? w : ts);
	r->kept++;
	if (ch->bytes >= SIDE_CHUNK_BYTES || ch->n >= SIDE_CHUNK_ROWS)
	{
		old = MemoryContextSwitchTo(r->cxt);
		chunk_write(r, ch);
		MemoryContextSwitchTo(old);
	}
	return true;
}

static void
side_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
side_shutdown(DestReceiver *self)
{
	SideReceiver *r = (SideReceiver *) self;
	MemoryContext old = MemoryContextSwitchTo(r->cxt);
	HASH_SEQ_STATUS hs;
	SideChunk  *ch;

	hash_seq_init(&hs, r->chunks);
	while ((ch = hash_seq_search(&hs)) != NULL)
	{
		chunk_write(r, ch);
		MemoryContextDelete(ch->cxt);
	}
	(void) kstore_flush(r->st);
	MemoryContextSwitchTo(old);
}

static void
side_destroy(DestReceiver *self)
{
}

/*
 * A batch's new rows of each side, into its state: those of windows not
 * final under the watermark the batch runs with (wm); the others are late.
 * The stream's scan returns the batch's rows again (they were read for
 * stage 1 too, if it is stage 1's stream), through a query of its own,
 * planned and run as the batch's (as the owner), whose rows go straight
 * into the state's multi-inserts.
 */
void
pgs_stage_sides_add(CqDef *cq, List *streams, bool has_wm, int64 wm, int64 *rows_late)
{
	BatchRun   *run = pgs_batchrun_current();
	ListCell   *lc;

	foreach(lc, cq->stage_sides)
	{
		CqStageSide *side = lfirst(lc);
		BatchStream *s = side_stream(cq, streams, side);
		SourceBatch *b = s->batch;
		List	   *saved = run->batches;
		Oid			argtype = side->ts_typid;
		ParamListInfo params;
		RawStmt    *raw;
		Query	   *query;
		PlannedStmt *plan;
		QueryDesc  *qd;
		Relation	srel;
		EState	   *estate;
		SideReceiver dest;

		if (b == NULL || b->nrows == 0)
			continue;
		srel = table_open(s->join_state, RowExclusiveLock);
		estate = CreateExecutorState();
		memset(&dest, 0, sizeof(dest));
		{
			Relation	rel = table_open(side->relid, AccessShareLock);
			HASHCTL		hctl;

			check_state_columns(cq, side, RelationGetDescr(rel), srel);
			dest.cols = side_cols(side, RelationGetDescr(rel));
			table_close(rel, AccessShareLock);
			hctl.keysize = sizeof(int64);
			hctl.entrysize = sizeof(SideChunk);
			hctl.hcxt = CurrentMemoryContext;
			dest.chunks = hash_create("pg_stream side chunks", 64, &hctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		dest.out = MakeSingleTupleTableSlot(RelationGetDescr(srel), &TTSOpsVirtual);
		dest.size = cq->window_size;
		dest.origin = cq->stage_tumble_origin;
		dest.pub.receiveSlot = side_receive;
		dest.pub.rStartup = side_startup;
		dest.pub.rShutdown = side_shutdown;
		dest.pub.rDestroy = side_destroy;
		dest.pub.mydest = DestNone;
		dest.st = kstore_open(srel, 0, NULL, estate);
		dest.cxt = CurrentMemoryContext;
		/* read as a set, joined on the window, no column kept in binary */
		dest.distinct = side->distinct && side->reach_off == 0 && side->keep_off == 0 &&
			dest.size > 0;
		for (int c = 0; c < dest.cols->ncols; c++)
			dest.distinct &= !dest.cols->bin[c];
		/*
		 * The side keeps the rows that may join a window not handed on
		 * (ts >= hcut + a, hcut the handed-on cut) and are not late (ts >=
		 * cut + the late offset); such a row joins no window handed on
		 * (side_lag). A row of stage 1's stream late for it is late here
		 * too.
		 */
		params = makeParamList(1);
		params->params[0].value = Int64GetDatum(0);
		dest.ts_col = side_ts_col(side);
		if (has_wm)
		{
			int64		cut = pgs_stage_side_cut(cq, wm);
			int64		hcut = pgs_stage_side_cut(cq, pgs_stage_hand_watermark(cq, wm));
			int64		late = cut_plus(cut, side_late_off(side));

			dest.has_wm = true;
			dest.keep = cut_plus(hcut, side->keep_off);
			if (dest.keep < late)
				dest.keep = late;
			params->params[0].value = Int64GetDatum(dest.keep);
		}
		params->params[0].isnull = false;
		params->params[0].pflags = PARAM_FLAG_CONST;
		params->params[0].ptype = argtype;
		raw = linitial_node(RawStmt, pg_parse_query(side_select(side, has_wm)));
		query = linitial_node(Query, pg_analyze_and_rewrite_fixedparams(raw, "pg_stream side",
																		   &argtype, 1, NULL));
		plan = pg_plan_query(query, "pg_stream side", 0, params);

		/* the scan of the stream in this query gets the batch's rows */
		run->batches = list_make1(b);
		b->claimed = false;
		b->claimed_by = NULL;
		PG_TRY();
		{
			qd = CreateQueryDesc(plan, "pg_stream side", GetActiveSnapshot(), InvalidSnapshot,
								 &dest.pub, params, NULL, 0);
			ExecutorStart(qd, 0);
			ExecutorRun(qd, ForwardScanDirection, 0, true);
			ExecutorFinish(qd);
			ExecutorEnd(qd);
			FreeQueryDesc(qd);
		}
		PG_FINALLY();
		{
			run->batches = saved;
			/* its plan is gone: no later scan is of it */
			b->claimed_by = NULL;
		}
		PG_END_TRY();
		kstore_close(dest.st);
		ExecDropSingleTupleTableSlot(dest.out);
		hash_destroy(dest.chunks);
		FreeExecutorState(estate);
		table_close(srel, NoLock);
		s->state_rows += dest.kept;
		if (side->own_late)
			*rows_late += b->nrows - dest.kept - dest.copies - dest.no_ts;
	}
}

/*
 * The rows of each side of the windows final under wm, taken out of its
 * state for stage 2 (side->rows, in the stream's row type, which
 * pgs_stage_run reads and ends). Returns how many.
 *
 * The chunks holding a row that may join a window handed on (ts < reach:
 * their least event time, _pgs_from, is below it) are found by one range
 * scan of the index on _pgs_from; their rows with ts < reach go to stage
 * 2, and a chunk with a row that joins no window left (ts < keep) is
 * deleted, whole. For a side joined on the window (reach = keep = cut)
 * that is every chunk read, all its rows; a side joined by a range may
 * keep some rows of a chunk, which are written again as a chunk of
 * their own, after the scan (so that it does not read them again).
 */
typedef struct SideRest
{
	Datum	   *values;			/* column c's row i at [c * stride + i] */
	bool	   *nulls;
	int			stride;
	int			n;
	int64		from;
} SideRest;

int64
pgs_stage_sides_take(CqDef *cq, List *streams, int64 wm)
{
	int64		cut = pgs_stage_side_cut(cq, pgs_stage_hand_watermark(cq, wm));
	int64		total = 0;
	ListCell   *lc;

	foreach(lc, cq->stage_sides)
	{
		CqStageSide *side = lfirst(lc);
		BatchStream *s = side_stream(cq, streams, side);
		Relation	rel = table_open(side->relid, AccessShareLock);
		TupleDesc	desc = CreateTupleDescCopy(RelationGetDescr(rel));
		Relation	srel = table_open(s->join_state, RowExclusiveLock);
		SideCols   *cols;
		int		   *colmap;			/* desc's column -> cols', or -1 */
		int			tsc = side_ts_col(side) - 1;	/* among cols */
		Relation	idx;
		KStoreScan *scan;
		KeyedStore *st = NULL;
		EState	   *estate = NULL;
		TupleTableSlot *sslot = table_slot_create(srel, NULL);
		TupleTableSlot *out = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
		TupleTableSlot *put = NULL;
		/* a chunk's arrays, reset after each; the rows kept, till the end */
		MemoryContext chunkcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream side take",
													   ALLOCSET_DEFAULT_SIZES);
		MemoryContext restcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream side rest",
													  ALLOCSET_DEFAULT_SIZES);
		List	   *rest = NIL;		/* the rows kept of chunks deleted */
		int64		n = 0;
		int64		reach;
		int64		keep;

		check_state_columns(cq, side, desc, srel);
		cols = side_cols(side, desc);
		/*
		 * the state's columns are the stream's that stage 2 reads (not the
		 * dropped ones), in order; the others are NULL in its rows
		 */
		colmap = palloc(sizeof(int) * desc->natts);
		for (int a = 0, j = 0; a < desc->natts; a++)
			colmap[a] = TupleDescAttr(desc, a)->attisdropped || !pgs_stage_side_keeps(side, a + 1) ? -1 : j++;
		table_close(rel, AccessShareLock);
		if (side->rows == NULL)
			side->rows = tuplestore_begin_heap(false, false, work_mem);
		idx = kstore_expiry_index_on(srel, 1, AccessShareLock);
		reach = cut_plus(cut, side->reach_off);
		keep = cut_plus(cut, side->keep_off);
		scan = kstore_scan_expired(srel, idx, 1, reach == PG_INT64_MIN ? reach : reach - 1,
								   GetActiveSnapshot());
		while (kstore_scan_next(scan, sslot))
		{
			MemoryContext old = MemoryContextSwitchTo(chunkcxt);
			Datum	  **vals = palloc(sizeof(Datum *) * cols->ncols);
			bool	  **nulls = palloc(sizeof(bool *) * cols->ncols);
			int			nrows = -1;
			int64		taken = 0;
			Datum	   *restv;
			bool	   *restn;
			int			nrest = 0;
			int64		restfrom = PG_INT64_MAX;

			slot_getallattrs(sslot);
			for (int c = 0; c < cols->ncols; c++)
			{
				int			k;

				if (sslot->tts_isnull[c + 1])
					elog(ERROR, "state table \"%s\" has a NULL array", RelationGetRelationName(srel));
				deconstruct_array(DatumGetArrayTypeP(sslot->tts_values[c + 1]), cols->types[c],
								  cols->lens[c], cols->byvals[c], cols->aligns[c],
								  &vals[c], &nulls[c], &k);
				if (nrows >= 0 && k != nrows)
					elog(ERROR, "state table \"%s\" has arrays of different lengths",
						 RelationGetRelationName(srel));
				nrows = k;
			}
			restv = palloc(sizeof(Datum) * cols->ncols * Max(nrows, 1));
			restn = palloc(sizeof(bool) * cols->ncols * Max(nrows, 1));
			for (int i = 0; i < nrows; i++)
			{
				int64		ts = DatumGetInt64(vals[tsc][i]);

				if (ts < reach)
				{
					ExecClearTuple(out);
					for (int a = 0; a < desc->natts; a++)
					{
						int			j = colmap[a];

						out->tts_values[a] = j < 0 ? (Datum) 0 : vals[j][i];
						out->tts_isnull[a] = j < 0 ? true : nulls[j][i];
						if (j >= 0 && cols->bin[j] && !nulls[j][i])
							out->tts_values[a] = side_recv(cols, j, vals[j][i]);
					}
					ExecStoreVirtualTuple(out);
					tuplestore_puttupleslot(side->rows, out);
				}
				/* a row that may join a window still open stays (a range) */
				if (ts < keep)
					taken++;
				else
				{
					/* copied below (the arrays may point into the page) */
					for (int c = 0; c < cols->ncols; c++)
					{
						restn[c * nrows + nrest] = nulls[c][i];
						restv[c * nrows + nrest] = vals[c][i];
					}
					nrest++;
					restfrom = Min(restfrom, ts);
				}
			}
			MemoryContextSwitchTo(old);
			if (taken > 0)
			{
				simple_table_tuple_delete(srel, &sslot->tts_tid, GetActiveSnapshot());
				n += taken;
				if (nrest > 0)
				{
					/*
					 * written again after the scan: copied out of chunkcxt
					 * (reset below), nrest rows a column
					 */
					SideRest   *r;

					old = MemoryContextSwitchTo(restcxt);
					r = palloc(sizeof(SideRest));
					r->values = palloc(sizeof(Datum) * cols->ncols * nrest);
					r->nulls = palloc(sizeof(bool) * cols->ncols * nrest);
					for (int c = 0; c < cols->ncols; c++)
						for (int i = 0; i < nrest; i++)
						{
							r->nulls[c * nrest + i] = restn[c * nrows + i];
							r->values[c * nrest + i] = restn[c * nrows + i] ? (Datum) 0 :
								datumCopy(restv[c * nrows + i], cols->byvals[c], cols->lens[c]);
						}
					r->stride = nrest;
					r->n = nrest;
					r->from = restfrom;
					rest = lappend(rest, r);
					MemoryContextSwitchTo(old);
				}
			}
			/* the chunk's arrays: not needed past it */
			MemoryContextReset(chunkcxt);
		}
		kstore_scan_end(scan);
		if (idx)
			index_close(idx, AccessShareLock);
		if (rest != NIL)
		{
			ListCell   *rc;
			MemoryContext old = MemoryContextSwitchTo(restcxt);

			estate = CreateExecutorState();
			st = kstore_open(srel, 0, NULL, estate);
			put = MakeSingleTupleTableSlot(RelationGetDescr(srel), &TTSOpsVirtual);
			foreach(rc, rest)
			{
				SideRest   *r = lfirst(rc);

				side_put_chunk(st, restcxt, put, cols, r->from, r->values, r->nulls, r->stride, r->n);
			}
			(void) kstore_flush(st);
			kstore_close(st);
			ExecDropSingleTupleTableSlot(put);
			FreeExecutorState(estate);
			MemoryContextSwitchTo(old);
		}
		MemoryContextDelete(chunkcxt);
		MemoryContextDelete(restcxt);
		ExecDropSingleTupleTableSlot(sslot);
		ExecDropSingleTupleTableSlot(out);
		table_close(srel, NoLock);
		s->state_rows -= n;
		total += n;
	}
	return total;
}
