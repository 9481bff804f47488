/*-------------------------------------------------------------------------
 *
 * session.c
 *	  Session windows: stream.session(ts, gap) in GROUP BY.
 *
 * A session of a group (the view's other GROUP BY keys) is a run of its
 * rows where each follows the one before by less than gap; its window is
 * the range [first event, last event + gap), a tstzrange (a tsrange for a
 * timestamp column). A row less than gap after a session's last event, or
 * less than gap before its first, joins it; a row that reaches two
 * sessions merges them.
 *
 * Design.
 *
 *	- stream.session(ts, gap) is an ordinary IMMUTABLE function returning
 *	  [ts, ts + gap). Two such ranges overlap exactly when their rows are
 *	  less than gap apart, and a session is the union of its rows' ranges.
 *	  So the batch query stays the view's own partial aggregation
 *	  (engine/analyze.c), one group per (other keys, row range), and the
 *	  sessions are made here, from the groups, with the partial states
 *	  combined by engine/aggstate.c: any aggregate that works in a view
 *	  works per session. (Grouping rows into sessions inside the plan would
 *	  need a node of our own and a second kind of batch query; the price of
 *	  the design taken is one group per distinct row time, which the fold
 *	  below takes in at one comparison a group.)
 *
 *	- The batch's groups come sorted by the other keys, then the range
 *	  (pgs_session_sort: ranges sort by their start). Consecutive groups of
 *	  the same keys whose ranges overlap are folded into one batch session.
 *
 *	- The sessions of one key in the state are disjoint, so ordered by
 *	  start they are ordered by end too. The state table has an index on
 *	  (other keys..., session) (its unique index when the session is the
 *	  last GROUP BY key, else one more, see pgs_session_indexes), and the
 *	  stored sessions a batch session [lo, hi) overlaps are read from it
 *	  backwards from the last one starting before hi, as long as they end
 *	  after lo (engine/store.c, kstore_scan_below): one descent of the
 *	  index and one row more than the sessions merged. A batch costs what
 *	  its sessions touch, never the history. Merging a stored session may
 *	  extend the batch session; it can then reach only the batch's next
 *	  groups of the key (stored sessions are disjoint), which the fold
 *	  takes in, and the part the fold adds is looked up the same way. A
 *	  batch into an empty state looks nothing up; a batch with a group for
 *	  every 16 stored sessions or fewer reads the index once, in order,
 *	  with its sessions instead (absorb_walk: a merge join of the two).
 *
 *	- A merged session's states are its stored sessions', combined in the
 *	  order of their ranges, then its batch groups', in theirs: the list
 *	  aggregates, whose elements follow the order of combination, list a
 *	  session's earlier batches first.
 *
 *	- A batch session that merged stored sessions deletes their state rows
 *	  and their view rows (update and complete modes; the sink is told in
 *	  sink_deleted, as for a group HAVING removes) and writes the merged
 *	  session; if it kept one stored session's range (rows inside a
 *	  session), that one is updated in place instead.
 *
 *	- Event time. When ts is the stream's event time with a watermark, a
 *	  session is final once its end is at or before the watermark, and a
 *	  row whose event time is before the watermark is late: dropped and
 *	  counted in rows_late (Spark's rule). A row that is not late has
 *	  ts >= watermark, so its range reaches only sessions that end after
 *	  the watermark: no row ever touches a final session, and in append
 *	  and update modes final sessions are evicted from the state by the
 *	  watermark, through an index on the session's end (upper(k)), as
 *	  windows are (engine/merge.c, pgs_finalize_windows); append mode
 *	  writes a session's row then. Complete mode keeps every session.
 *
 *	- Rows whose event time is NULL or infinite have a NULL session per
 *	  key, which never merges and is never final.
 *
 * Everything is written through the keyed store in the batch's
 * transaction, so a crash, a REFRESH and a restore (which rebuilds the
 * view from the state table and the copy of the final rows) need nothing
 * more.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "access/genam.h"
#include "access/nbtree.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "executor/executor.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "storage/bufmgr.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rangetypes.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

/*
 * Walk the state's index once, rather than descend it per batch session,
 * when the batch has a group for at most this many rows of state (as
 * engine/store.c's ordered lookups do).
 */
#define SESSION_WALK_RATIO 16

PG_FUNCTION_INFO_V1(stream_session_tstz);
PG_FUNCTION_INFO_V1(stream_session_ts);

/*------------------------------------------------------------------------
 * stream.session(ts, gap)
 *------------------------------------------------------------------------
 */
int64
pgs_session_gap_usecs(Interval *gap)
{
	int64		usecs;

	if (gap->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("session gap must not contain months or years"),
				 errhint("Months and years vary in length; use days, such as '30 days'.")));
	if (pg_mul_s64_overflow((int64) gap->day, USECS_PER_DAY, &usecs) ||
		pg_add_s64_overflow(usecs, gap->time, &usecs))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("session gap out of range")));
	if (usecs <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("session gap must be positive")));
	return usecs;
}

/* [ts, ts + gap) of range type rngtypid; NULL for an infinite ts */
static Datum
session_range(FunctionCallInfo fcinfo, Oid rngtypid)
{
	int64		ts = PG_GETARG_INT64(0);
	int64		gap = pgs_session_gap_usecs(PG_GETARG_INTERVAL_P(1));
	TypeCacheEntry *tc = fcinfo->flinfo->fn_extra;
	RangeBound	lo,
				hi;
	int64		end;

	if (TIMESTAMP_NOT_FINITE(ts))
		PG_RETURN_NULL();
	if (tc == NULL)
		fcinfo->flinfo->fn_extra = tc = lookup_type_cache(rngtypid, TYPECACHE_RANGE_INFO);
	if (pg_add_s64_overflow(ts, gap, &end) || !IS_VALID_TIMESTAMP(end))
		end = DT_NOEND;
	lo.val = Int64GetDatum(ts);
	lo.infinite = false;
	lo.inclusive = true;
	lo.lower = true;
	hi.val = Int64GetDatum(end);
	hi.infinite = false;
	hi.inclusive = false;
	hi.lower = false;
	PG_RETURN_RANGE_P(make_range(tc, &lo, &hi, false));
}

Datum
stream_session_tstz(PG_FUNCTION_ARGS)
{
	return session_range(fcinfo, TSTZRANGEOID);
}

Datum
stream_session_ts(PG_FUNCTION_ARGS)
{
	return session_range(fcinfo, TSRANGEOID);
}

/*------------------------------------------------------------------------
 * Analysis (called by engine/analyze.c)
 *------------------------------------------------------------------------
 */
static bool
is_session_call(Node *e)
{
	return e != NULL && IsA(e, FuncExpr) &&
		pgs_is_stream_function(((FuncExpr *) e)->funcid, "session");
}

static bool
contains_session_walker(Node *node, void *ctx)
{
	if (node == NULL)
		return false;
	if (is_session_call(node))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, contains_session_walker, ctx, 0);
	return expression_tree_walker(node, contains_session_walker, ctx);
}

/*
 * stream.session() where a batch would take it row by row: in FROM (a
 * subquery, a derived stream, a function), WHERE, a WITH query, or an
 * aggregate's arguments. Only a GROUP BY key of the view itself is a
 * session (and the select list and HAVING may compute from that key).
 */
static bool
session_elsewhere(Query *query)
{
	List	   *aggs;
	ListCell   *lc;

	if (range_table_walker(query->rtable, contains_session_walker, NULL, 0) ||
		contains_session_walker((Node *) query->jointree, NULL) ||
		contains_session_walker((Node *) query->cteList, NULL))
		return true;
	aggs = pull_var_clause((Node *) list_make2(query->targetList, query->havingQual),
						   PVC_INCLUDE_AGGREGATES | PVC_RECURSE_PLACEHOLDERS |
						   PVC_RECURSE_WINDOWFUNCS);
	foreach(lc, aggs)
		if (IsA(lfirst(lc), Aggref) && contains_session_walker(lfirst(lc), NULL))
			return true;
	return false;
}

/* the session's gap, a positive constant interval */
static int64
session_gap(FuncExpr *f)
{
	Node	   *arg = lsecond(f->args);

	while (arg && IsA(arg, RelabelType))
		arg = (Node *) ((RelabelType *) arg)->arg;
	if (arg == NULL || !IsA(arg, Const) || ((Const *) arg)->consttype != INTERVALOID)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the gap of a session window must be a constant"),
				 errdetail("Sessions of one key are merged by one fixed gap."),
				 errhint("Write the gap as a literal: stream.session(ts, '10 minutes').")));
	if (((Const *) arg)->constisnull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the gap of a session window must not be NULL")));
	return pgs_session_gap_usecs(DatumGetIntervalP(((Const *) arg)->constvalue));
}

/*
 * The group key that is stream.session(ts, gap), if any: cq->session_col,
 * its gap, and whether ts is the event time of a watermarked stream (then
 * final sessions are evicted, see the top). One session key, a plain
 * GROUP BY column, not with a window over event time, not over a join of
 * two streams.
 */
void
pgs_session_analyze(CqDef *cq, Query *query)
{
	ListCell   *lc;
	FuncExpr   *f = NULL;

	foreach(lc, query->groupClause)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), query->targetList);
		Node	   *e = (Node *) tle->expr;

		while (e && IsA(e, RelabelType))
			e = (Node *) ((RelabelType *) e)->arg;
		if (is_session_call(e))
		{
			if (f != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a continuous view can group by at most one session window"),
						 errhint("Group by one stream.session(); the other GROUP BY keys split the sessions.")));
			f = (FuncExpr *) e;
			cq->session_col = foreach_current_index(lc) + 1;
		}
		else if (contains_session_walker(e, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("stream.session() must be a GROUP BY key by itself"),
					 errhint("Group by stream.session(ts, gap) and compute from it in the select list: lower(s), upper(s).")));
	}
	if (session_elsewhere(query))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stream.session() must be a GROUP BY key of the continuous view itself"),
				 errdetail("Elsewhere (in FROM, a subquery, WHERE or an aggregate) it is each row's own range, not a session."),
				 errhint("Group the view by stream.session(ts, gap), over the stream or a derived stream's event-time column.")));
	if (f == NULL)
		return;
	cq->session_gap = session_gap(f);
	if (cq->window_key >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a session window cannot be grouped with another window over event time"),
				 errhint("Group by stream.session() and other keys, or by stream.tumble() or a column of stream.hop(), not both.")));
	if (cq->join)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("session windows over a join of two streams are not supported"),
				 errhint("Join in a view of its own whose sink is a stream, and group that stream into sessions.")));
	{
		Oid			relid;
		AttrNumber	attno;

		if (pgs_stream_column_of(query, linitial(f->args), &relid, &attno))
			foreach(lc, cq->wm_streams)
			{
				CqTime	   *t = lfirst(lc);

				if (t->relid == relid && t->attno == attno)
					cq->session_wm = true;
			}
	}
}

/*
 * The batch's groups ordered by the other keys, then the session (the
 * order of the index on them): the session key's sort clause moved last.
 */
void
pgs_session_sort(CqDef *cq)
{
	List	   *sort = cq->batch_query->sortClause;
	SortGroupClause *s;

	if (sort == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a session window needs GROUP BY keys with a default btree order"),
				 errhint("Group by expressions whose types have a default btree operator class, for example casts to text.")));
	s = list_nth(sort, cq->session_col - 1);
	sort = list_delete_nth_cell(sort, cq->session_col - 1);
	cq->batch_query->sortClause = lappend(sort, s);
}

/*
 * CREATE INDEX statements for the state table statename (quoted) of a
 * session window: (other keys..., session) unless the unique index on the
 * keys is that already, and the session's end, which eviction scans.
 */
List *
pgs_session_indexes(CqDef *cq, const char *statename)
{
	List	   *sql = NIL;

	if (cq->session_col == 0)
		return NIL;
	if (cq->session_col != cq->nkeys)
	{
		StringInfoData cols;

		initStringInfo(&cols);
		for (int k = 1; k <= cq->nkeys; k++)
			if (k != cq->session_col)
				appendStringInfo(&cols, "k%d, ", k);
		appendStringInfo(&cols, "k%d", cq->session_col);
		sql = lappend(sql, psprintf("CREATE INDEX ON stream.%s (%s)", statename, cols.data));
	}
	sql = lappend(sql, psprintf("CREATE INDEX ON stream.%s (pg_catalog.upper(k%d))",
								statename, cq->session_col));
	return sql;
}

/*------------------------------------------------------------------------
 * The state's indexes
 *------------------------------------------------------------------------
 */
static void
lost_index(Relation srel)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("\"%s\" has lost an index of its session window",
					RelationGetRelationName(srel)),
			 errhint("Drop and re-create the continuous view.")));
}

/* the index on (other keys..., session), opened */
static Relation
session_key_index(CqDef *cq, Relation srel)
{
	AttrNumber *cols = palloc(sizeof(AttrNumber) * cq->nkeys);
	int			n = 0;
	Relation	idx;

	for (int k = 1; k <= cq->nkeys; k++)
		if (k != cq->session_col)
			cols[n++] = k;
	cols[n++] = cq->session_col;
	idx = kstore_index_on(srel, n, cols, AccessShareLock);
	if (idx == NULL)
		lost_index(srel);
	pfree(cols);
	return idx;
}

/* the index on upper(session), opened */
static Relation
session_end_index(CqDef *cq, Relation srel)
{
	List	   *indexes = RelationGetIndexList(srel);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		List	   *exprs;
		FuncExpr   *f;

		if (idx->rd_index->indisvalid && idx->rd_index->indnkeyatts == 1 &&
			idx->rd_index->indkey.values[0] == 0 && RelationGetIndexPredicate(idx) == NIL &&
			idx->rd_indoption[0] == 0 &&
			(exprs = RelationGetIndexExpressions(idx)) != NIL &&
			IsA(linitial(exprs), FuncExpr) &&
			(f = linitial(exprs))->funcid == F_UPPER_ANYRANGE &&
			IsA(linitial(f->args), Var) &&
			((Var *) linitial(f->args))->varattno == cq->session_col)
			return idx;
		index_close(idx, AccessShareLock);
	}
	lost_index(srel);
	return NULL;
}

/*
 * The stored sessions final under the watermark, for pgs_finalize_windows
 * (engine/merge.c): those whose end is at or before it, by a range scan of
 * the index on their end.
 */
KStoreScan *
pgs_session_expired(CqDef *cq, Relation srel, int64 watermark, Relation *idx)
{
	*idx = session_end_index(cq, srel);
	return kstore_scan_expired(srel, *idx, 0, watermark, GetActiveSnapshot());
}

/*------------------------------------------------------------------------
 * The merge of a batch's groups into sessions
 *------------------------------------------------------------------------
 */

/* a stored session the current one takes in */
typedef struct Absorbed
{
	ItemPointerData tid;		/* its state row */
	int64		lo;				/* its range */
	int64		hi;
	bool		has_row;		/* the tid of its view row */
	ItemPointerData rowtid;
} Absorbed;

/*
 * Aggregate states being combined: the session's batch part, its stored
 * part. Each combination is kept in one of two contexts, taken in turn,
 * the previous one freed, so a long fold holds one set of states.
 */
typedef struct StateAcc
{
	bool		empty;
	Datum	   *v;
	bool	   *n;
	MemoryContext cxt[2];
	int			which;
} StateAcc;

typedef struct SessionMerge
{
	OutputReceiver out;
	CqDef	   *cq;
	int64		groups;			/* the batch's, or 0: not known */
	bool		has_watermark;
	int64		watermark;
	int64	   *state_rows;
	int64	   *rows_late;
	Tuplestorestate *sink_rows;
	Tuplestorestate *sink_deleted;

	int			nkeys;
	int			naggs;
	int			scol;			/* the session key, 0-based */
	GroupTables t;
	bool		state_empty;	/* the state had no row when the batch began */
	Relation	kidx;			/* (other keys..., session) */
	KStoreScan *scan;			/* of kidx, restarted per lookup */
	bool		walking;		/* kidx walked once instead (absorb_walk) */
	KStoreScan *walk;
	bool		have_entry;		/* the walk's entry, read and not passed */
	bool		walk_done;
	Datum	   *ekeys;
	bool	   *enulls;
	TypeCacheEntry *rngtc;
	FmgrInfo   *cmp;			/* kidx's order procs of the other keys */
	Oid		   *collations;
	TupleDesc	keydesc;		/* the batch's (keys...) */
	Datum	   *tmp;			/* a combine's states */
	bool	   *tmpnull;

	/* the current session: keys, range, states, stored sessions taken in */
	bool		have_cur;
	Datum	   *keys;			/* nkeys; the session key set when written */
	bool	   *keynulls;
	bool		range_null;
	int64		lo;
	int64		hi;
	StateAcc	batch;			/* its batch groups' states, folded */
	StateAcc	stored;			/* the stored sessions it took in */
	StateAcc	found;			/* ... those of one lookup */
	List	   *absorbed;
	MemoryContext curcxt;		/* keys, absorbed; reset per session */
	MemoryContext rowcxt;		/* reset per group */
} SessionMerge;

/* the range of a datum of the session's range type */
static void
range_bounds(SessionMerge *sm, Datum d, int64 *lo, int64 *hi)
{
	RangeBound	l,
				h;
	bool		empty;
	MemoryContext old = MemoryContextSwitchTo(sm->rowcxt);

	/* (a short varlena is copied to be read: in a context reset per group) */
	range_deserialize(sm->rngtc, DatumGetRangeTypeP(d), &l, &h, &empty);
	MemoryContextSwitchTo(old);
	if (empty || l.infinite || h.infinite)
		elog(ERROR, "unexpected session range in \"%s\"", RelationGetRelationName(sm->t.srel));
	*lo = DatumGetInt64(l.val);
	*hi = DatumGetInt64(h.val);
}

/* a range of the session's type, valid until the session is written */
static Datum
make_session_range(SessionMerge *sm, int64 lo, int64 hi, bool hi_inclusive)
{
	RangeBound	l = {.val = Int64GetDatum(lo),.inclusive = true,.lower = true};
	RangeBound	h = {.val = Int64GetDatum(hi),.inclusive = hi_inclusive,.lower = false};
	MemoryContext old = MemoryContextSwitchTo(sm->curcxt);
	Datum		r = RangeTypePGetDatum(make_range(sm->rngtc, &l, &h, false));

	MemoryContextSwitchTo(old);
	return r;
}

/*
 * acc := combine(acc, x) (append: the rows of x came after acc's), or
 * combine(x, acc); an empty acc: combine(the initial states, x).
 * Order-insensitive aggregates do not mind; the list aggregates'
 * elements come in that order.
 */
static void
acc_add(SessionMerge *sm, StateAcc *acc, Datum *x, bool *xnull, bool append)
{
	bool		is_new = acc->empty;
	Datum	   *a = (is_new || append) ? acc->v : x;
	bool	   *an = (is_new || append) ? acc->n : xnull;
	Datum	   *b = (is_new || append) ? x : acc->v;
	bool	   *bn = (is_new || append) ? xnull : acc->n;
	MemoryContext next = acc->cxt[1 - acc->which];
	MemoryContext old;

	memcpy(sm->tmp, a, sizeof(Datum) * sm->naggs);
	memcpy(sm->tmpnull, an, sizeof(bool) * sm->naggs);
	/* (no final values: the session's row is made once it is whole) */
	aggmerger_combine(sm->t.merger, is_new, sm->tmp, sm->tmpnull, b, bn, NULL, NULL);
	MemoryContextReset(next);
	old = MemoryContextSwitchTo(next);
	for (int i = 0; i < sm->naggs; i++)
	{
		Form_pg_attribute att = TupleDescAttr(sm->t.sdesc, sm->nkeys + i);

		acc->n[i] = sm->tmpnull[i];
		acc->v[i] = sm->tmpnull[i] ? (Datum) 0 :
			datumCopy(sm->tmp[i], att->attbyval, att->attlen);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(acc->cxt[acc->which]);
	acc->which = 1 - acc->which;
	acc->empty = false;
	aggmerger_reset(sm->t.merger);
}

static void
acc_clear(StateAcc *acc)
{
	acc->empty = true;
	MemoryContextReset(acc->cxt[0]);
	MemoryContextReset(acc->cxt[1]);
}

static void
acc_init(StateAcc *acc, int naggs)
{
	acc->empty = true;
	acc->v = palloc0(sizeof(Datum) * Max(naggs, 1));
	acc->n = palloc0(sizeof(bool) * Max(naggs, 1));
	for (int i = 0; i < 2; i++)
		acc->cxt[i] = AllocSetContextCreate(CurrentMemoryContext, "pg_stream session states",
											ALLOCSET_SMALL_SIZES);
}

static void
acc_end(StateAcc *acc)
{
	MemoryContextDelete(acc->cxt[0]);
	MemoryContextDelete(acc->cxt[1]);
}

/*
 * Take in the stored session in sslot, of range [slo, shi) (unset for the
 * NULL session): its states added to those this lookup found, its rows to
 * be deleted or updated when cur is written, cur's range extended to it.
 */
static void
absorb_row(SessionMerge *sm, int64 slo, int64 shi)
{
	Absorbed   *a;
	bool		isnull;
	MemoryContext old;

	slot_getallattrs(sm->t.sslot);
	/* found in the index's order by the walk, backwards by a descent */
	acc_add(sm, &sm->found, sm->t.sslot->tts_values + sm->nkeys,
			sm->t.sslot->tts_isnull + sm->nkeys, sm->walking);
	old = MemoryContextSwitchTo(sm->curcxt);
	a = palloc0(sizeof(Absorbed));
	a->tid = sm->t.sslot->tts_tid;
	a->lo = slo;
	a->hi = shi;
	if (sm->t.rowcol)
	{
		Datum		t = slot_getattr(sm->t.sslot, sm->t.rowcol, &isnull);

		if (!isnull)
		{
			a->has_row = true;
			a->rowtid = *(ItemPointer) DatumGetPointer(t);
		}
	}
	sm->absorbed = lappend(sm->absorbed, a);
	MemoryContextSwitchTo(old);
	if (!sm->range_null)
	{
		sm->lo = Min(sm->lo, slo);
		sm->hi = Max(sm->hi, shi);
	}
}

/*
 * The index entry's other keys against cur's, in the index's order
 * (NULLS LAST): < 0 if the entry's come first.
 */
static int
compare_other_keys(SessionMerge *sm, Datum *ekeys, bool *enulls)
{
	int			n = 0;

	for (int i = 0; i < sm->nkeys; i++)
	{
		int32		c;

		if (i == sm->scol)
			continue;
		if (enulls[n] || sm->keynulls[i])
		{
			if (enulls[n] != sm->keynulls[i])
				return enulls[n] ? 1 : -1;
		}
		else if ((c = DatumGetInt32(FunctionCall2Coll(&sm->cmp[n], sm->collations[n],
													  ekeys[n], sm->keys[i]))) != 0)
			return c;
		n++;
	}
	return 0;
}

/*
 * The walk (batch sessions dense in the state): the index's entries are
 * read once, in order, along with the batch's sessions, which come in the
 * same order. An entry before cur (an earlier key, or a session of cur's
 * key that ends by cur's start) can reach no later batch session either,
 * and is passed; one after cur is kept for what comes next (cur extended,
 * or the next session); one that overlaps cur is taken in, if its row is
 * visible (the index keeps entries of rows deleted or replaced, which a
 * session's own range places as well as a live one's).
 */
static void
absorb_walk(SessionMerge *sm)
{
	int			scol_idx = sm->nkeys - 1;	/* the session, last in the index */

	if (sm->walk == NULL)
		sm->walk = kstore_scan_walk(sm->t.srel, sm->kidx, GetActiveSnapshot());
	for (;;)
	{
		int			c;
		int64		elo = 0,
					ehi = 0;

		if (!sm->have_entry)
		{
			if (sm->walk_done || !kstore_walk_entry(sm->walk, &sm->ekeys, &sm->enulls))
			{
				sm->walk_done = true;
				return;
			}
			sm->have_entry = true;
		}
		c = compare_other_keys(sm, sm->ekeys, sm->enulls);
		if (c > 0)
			return;
		if (c == 0 && !sm->enulls[scol_idx])
			range_bounds(sm, sm->ekeys[scol_idx], &elo, &ehi);
		if (c < 0 ||
			(sm->range_null && !sm->enulls[scol_idx]) ||
			(!sm->range_null && !sm->enulls[scol_idx] && ehi <= sm->lo))
		{
			sm->have_entry = false; /* before cur */
			continue;
		}
		if (!sm->range_null && (sm->enulls[scol_idx] || elo >= sm->hi))
			return;				/* after cur (the NULL session sorts last) */
		sm->have_entry = false;
		if (kstore_walk_fetch(sm->walk, sm->t.sslot))
			absorb_row(sm, elo, ehi);
	}
}

/*
 * The sessions one lookup found come after those found before (a lookup
 * covers cur's range, then what an extension adds): in the order of their
 * ranges, the stored part of cur.
 */
static void
absorb_found(SessionMerge *sm)
{
	if (!sm->found.empty)
		acc_add(sm, &sm->stored, sm->found.v, sm->found.n, true);
}

/*
 * Take in the stored sessions of cur's keys that overlap it and start at
 * or after from (the part of cur not looked up yet): by the walk, or
 * backwards from the last one starting before cur's end, while they end
 * after its start.
 */
static void
absorb(SessionMerge *sm, int64 from)
{
	Datum	   *k;
	bool	   *kn;
	Datum		bound = (Datum) 0;
	int			n = 0;

	if (sm->state_empty)
		return;					/* nothing stored (the batch's own writes
								 * never overlap a later session) */
	acc_clear(&sm->found);
	if (sm->walking)
	{
		absorb_walk(sm);
		absorb_found(sm);
		return;
	}
	k = palloc(sizeof(Datum) * sm->nkeys);
	kn = palloc(sizeof(bool) * sm->nkeys);
	for (int i = 0; i < sm->nkeys; i++)
		if (i != sm->scol)
		{
			k[n] = sm->keys[i];
			kn[n++] = sm->keynulls[i];
		}
	/* ranges below [hi, hi] are those starting before hi */
	if (!sm->range_null)
		bound = make_session_range(sm, sm->hi, sm->hi, true);
	sm->scan = kstore_scan_below(sm->scan, sm->t.srel, sm->kidx, n, k, kn, bound,
								 sm->range_null, GetActiveSnapshot());
	while (kstore_scan_next(sm->scan, sm->t.sslot))
	{
		int64		slo = 0,
					shi = 0;
		bool		isnull;

		if (!sm->range_null)
		{
			range_bounds(sm, slot_getattr(sm->t.sslot, sm->scol + 1, &isnull), &slo, &shi);
			if (shi <= sm->lo || slo < from)
				break;
		}
		absorb_row(sm, slo, shi);
		if (sm->range_null)
			break;				/* one NULL session a key */
	}
	absorb_found(sm);
	pfree(k);
	pfree(kn);
	/* (curcxt lasts the session, which may extend through many groups) */
	if (!sm->range_null)
		pfree(DatumGetPointer(bound));
}

/* a new current session: the batch group in */
static void
begin_session(SessionMerge *sm, TupleTableSlot *in)
{
	MemoryContext old = MemoryContextSwitchTo(sm->curcxt);

	for (int i = 0; i < sm->nkeys; i++)
	{
		Form_pg_attribute att = TupleDescAttr(sm->keydesc, i);

		sm->keynulls[i] = in->tts_isnull[i];
		sm->keys[i] = in->tts_isnull[i] ? (Datum) 0 :
			datumCopy(in->tts_values[i], att->attbyval, att->attlen);
	}
	MemoryContextSwitchTo(old);
	sm->range_null = in->tts_isnull[sm->scol];
	if (!sm->range_null)
		range_bounds(sm, in->tts_values[sm->scol], &sm->lo, &sm->hi);
	acc_clear(&sm->batch);
	acc_clear(&sm->stored);
	acc_add(sm, &sm->batch, in->tts_values + sm->nkeys, in->tts_isnull + sm->nkeys, true);
	sm->have_cur = true;
	absorb(sm, PG_INT64_MIN);
}

/* the view row of a stored session into vfetch, found for update or delete */
static bool
find_row(SessionMerge *sm, Absorbed *a)
{
	return (a->has_row &&
			kstore_fetch(sm->t.vw, &a->rowtid, sm->keys, sm->keynulls, sm->t.vfetch)) ||
		kstore_lookup(sm->t.vw, sm->keys, sm->keynulls, sm->t.vfetch);
}

/*
 * Write the current session: the stored sessions it took in deleted
 * (state and view rows; the sink told), but one of the same range, which
 * is updated in place; its view row (not in append mode) and its state.
 */
static void
end_session(SessionMerge *sm)
{
	CqDef	   *cq = sm->cq;
	FinalRow   *fr = &sm->t.fr;
	TupleTableSlot *ns = sm->t.nsslot;
	Absorbed   *same = NULL;
	Datum	   *states;
	bool	   *statenulls;
	bool		keep;
	bool		has_rowtid = false;
	ItemPointerData rowtid;
	ListCell   *lc;

	if (!sm->have_cur)
		return;
	sm->keys[sm->scol] = sm->range_null ? (Datum) 0 :
		make_session_range(sm, sm->lo, sm->hi, false);
	sm->keynulls[sm->scol] = sm->range_null;
	ItemPointerSetInvalid(&rowtid);

	foreach(lc, sm->absorbed)
	{
		Absorbed   *a = lfirst(lc);

		if (sm->range_null || (a->lo == sm->lo && a->hi == sm->hi))
		{
			same = a;
			continue;
		}
		/* a merged or extended session: its rows go */
		simple_table_tuple_delete(sm->t.srel, &a->tid, GetActiveSnapshot());
		(*sm->state_rows)--;
		if (cq->mode != OUTPUT_APPEND || a->has_row)
		{
			Datum		saved = sm->keys[sm->scol];

			sm->keys[sm->scol] = make_session_range(sm, a->lo, a->hi, false);
			if (find_row(sm, a))
			{
				kstore_delete_current(sm->t.vw);
				if (sm->sink_deleted)
					tuplestore_puttupleslot(sm->sink_deleted, sm->t.vfetch);
				sm->out.n++;
			}
			sm->keys[sm->scol] = saved;
		}
	}

	/* the stored sessions' rows came first, then the batch's */
	if (!sm->stored.empty)
		acc_add(sm, &sm->stored, sm->batch.v, sm->batch.n, true);
	states = sm->stored.empty ? sm->batch.v : sm->stored.v;
	statenulls = sm->stored.empty ? sm->batch.n : sm->stored.n;

	/* the session's row of the view */
	ExecClearTuple(fr->fslot);
	aggmerger_finalize(sm->t.merger, states, statenulls,
					   fr->fslot->tts_values + sm->nkeys, fr->fslot->tts_isnull + sm->nkeys);
	keep = final_row_project(fr, sm->nkeys, sm->keys, sm->keynulls);
	if (cq->mode != OUTPUT_APPEND || (same && same->has_row))
	{
		bool		has_row = same && find_row(sm, same);

		/* a view that evicted and evicts no more: an evicted session's row */
		if (!same && sm->t.lookup_new)
			has_row = kstore_lookup(sm->t.vw, sm->keys, sm->keynulls, sm->t.vfetch);

		if (keep && cq->mode != OUTPUT_APPEND)
		{
			if (has_row)
				kstore_update(sm->t.vw, fr->vslot);
			else
				kstore_insert(sm->t.vw, fr->vslot);
			rowtid = fr->vslot->tts_tid;
			has_rowtid = true;
			if (sm->sink_rows)
				tuplestore_puttupleslot(sm->sink_rows, fr->vslot);
			sm->out.n++;
		}
		else if (has_row && cq->mode != OUTPUT_APPEND)
		{
			kstore_delete_current(sm->t.vw);
			if (sm->sink_deleted)
				tuplestore_puttupleslot(sm->sink_deleted, sm->t.vfetch);
			sm->out.n++;
		}
		else if (has_row)
		{
			/* append mode, a row written in another mode: kept where it is */
			rowtid = same->rowtid;
			has_rowtid = true;
		}
	}

	/* the session's state */
	ExecClearTuple(ns);
	memcpy(ns->tts_values, sm->keys, sizeof(Datum) * sm->nkeys);
	memcpy(ns->tts_isnull, sm->keynulls, sizeof(bool) * sm->nkeys);
	memcpy(ns->tts_values + sm->nkeys, states, sizeof(Datum) * sm->naggs);
	memcpy(ns->tts_isnull + sm->nkeys, statenulls, sizeof(bool) * sm->naggs);
	for (int c = sm->nkeys + sm->naggs; c < sm->t.sdesc->natts; c++)
		ns->tts_isnull[c] = true;
	if (sm->t.rowcol && has_rowtid)
	{
		ns->tts_values[sm->t.rowcol - 1] = PointerGetDatum(&rowtid);
		ns->tts_isnull[sm->t.rowcol - 1] = false;
	}
	ExecStoreVirtualTuple(ns);
	if (same)
		kstore_update_tid(sm->t.sw, &same->tid, ns);
	else
	{
		kstore_insert(sm->t.sw, ns);
		(*sm->state_rows)++;
	}

	aggmerger_reset(sm->t.merger);
	ResetExprContext(fr->econtext);
	MemoryContextReset(sm->curcxt);
	sm->absorbed = NIL;
	sm->have_cur = false;
}

/* does the batch group in have cur's other keys? */
static bool
same_keys(SessionMerge *sm, TupleTableSlot *in)
{
	int			n = 0;

	for (int i = 0; i < sm->nkeys; i++)
	{
		if (i == sm->scol)
			continue;
		if (in->tts_isnull[i] || sm->keynulls[i])
		{
			if (in->tts_isnull[i] != sm->keynulls[i])
				return false;
		}
		else if (DatumGetInt32(FunctionCall2Coll(&sm->cmp[n], sm->collations[n],
												 in->tts_values[i], sm->keys[i])) != 0)
			return false;
		n++;
	}
	return true;
}

static bool
session_receive(TupleTableSlot *in, DestReceiver *self)
{
	SessionMerge *sm = (SessionMerge *) self;
	CqDef	   *cq = sm->cq;
	bool		range_null;
	int64		lo = 0,
				hi = 0;

	MemoryContextReset(sm->rowcxt);
	slot_getallattrs(in);
	range_null = in->tts_isnull[sm->scol];
	if (!range_null)
		range_bounds(sm, in->tts_values[sm->scol], &lo, &hi);
	/* late: before the watermark (see the top) */
	if (cq->evicts && sm->has_watermark && !range_null && lo < sm->watermark)
	{
		*sm->rows_late += DatumGetInt64(in->tts_values[cq->late_col - 1]);
		return true;
	}
	if (sm->have_cur && !range_null && !sm->range_null && lo < sm->hi && same_keys(sm, in))
	{
		/* the fold: the group is in the current session */
		acc_add(sm, &sm->batch, in->tts_values + sm->nkeys, in->tts_isnull + sm->nkeys,
				true);
		if (hi > sm->hi)
		{
			int64		from = sm->hi;

			sm->hi = hi;
			absorb(sm, from);
		}
		return true;
	}
	end_session(sm);
	begin_session(sm, in);
	return true;
}

static void
session_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	SessionMerge *sm = (SessionMerge *) self;
	CqDef	   *cq = sm->cq;

	Assert(cq->is_agg && cq->session_col > 0 && OidIsValid(cq->state_relid));
	sm->nkeys = cq->nkeys;
	sm->naggs = list_length(cq->aggs);
	sm->scol = cq->session_col - 1;
	/* (a late row of an evicted session's range finds its row: see merge.c) */
	group_tables_open(&sm->t, cq, typeinfo);
	sm->kidx = session_key_index(cq, sm->t.srel);
	sm->state_empty = (RelationGetNumberOfBlocks(sm->t.srel) == 0);
	/* the state's size: the batches' count, or the planner's if larger */
	sm->walking = (sm->groups > 0 &&
				   Max(*sm->state_rows, (int64) sm->t.srel->rd_rel->reltuples) <=
				   sm->groups * SESSION_WALK_RATIO);
	if (!sm->state_empty)
		elog(DEBUG1, "continuous view \"%s\" merges its sessions %s",
			 cq->viewname, sm->walking ? "by one walk of the state's index" :
			 "by a descent of the state's index per batch session");
	sm->rngtc = lookup_type_cache(TupleDescAttr(typeinfo, sm->scol)->atttypid,
								  TYPECACHE_RANGE_INFO);
	if (sm->rngtc->rngelemtype == NULL)
		elog(ERROR, "session key of \"%s\" is not a range", cq->viewname);
	sm->cmp = palloc0(sizeof(FmgrInfo) * Max(cq->nkeys, 1));
	sm->collations = palloc0(sizeof(Oid) * Max(cq->nkeys, 1));
	for (int k = 0; k < cq->nkeys - 1; k++)
	{
		fmgr_info_copy(&sm->cmp[k], index_getprocinfo(sm->kidx, k + 1, BTORDER_PROC),
					   CurrentMemoryContext);
		sm->collations[k] = sm->kidx->rd_indcollation[k];
	}
	sm->keydesc = typeinfo;
	sm->tmp = palloc0(sizeof(Datum) * Max(sm->naggs, 1));
	sm->tmpnull = palloc0(sizeof(bool) * Max(sm->naggs, 1));
	acc_init(&sm->batch, sm->naggs);
	acc_init(&sm->stored, sm->naggs);
	acc_init(&sm->found, sm->naggs);
	sm->keys = palloc0(sizeof(Datum) * cq->nkeys);
	sm->keynulls = palloc0(sizeof(bool) * cq->nkeys);
	sm->curcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream session",
									   ALLOCSET_SMALL_SIZES);
	sm->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream session group",
									   ALLOCSET_SMALL_SIZES);
}

static void
session_shutdown(DestReceiver *self)
{
	SessionMerge *sm = (SessionMerge *) self;

	end_session(sm);
	if (sm->scan)
		kstore_scan_end(sm->scan);
	if (sm->walk)
		kstore_scan_end(sm->walk);
	MemoryContextDelete(sm->curcxt);
	MemoryContextDelete(sm->rowcxt);
	acc_end(&sm->batch);
	acc_end(&sm->stored);
	acc_end(&sm->found);
	index_close(sm->kidx, AccessShareLock);
	group_tables_close(&sm->t);
}

static void
session_destroy(DestReceiver *self)
{
	pfree(self);
}

/*
 * The receiver of a session window's groups (engine/merge.c hands it out
 * for pgs_merge_receiver): late rows dropped and counted, sessions folded
 * and merged with the stored ones, as at the top.
 */
DestReceiver *
pgs_session_receiver(CqDef *cq, int64 groups, bool has_watermark, int64 watermark,
					 int64 *state_rows, int64 *rows_late,
					 Tuplestorestate *sink_rows, Tuplestorestate *sink_deleted)
{
	SessionMerge *sm = palloc0(sizeof(SessionMerge));

	sm->out.pub.receiveSlot = session_receive;
	sm->out.pub.rStartup = session_startup;
	sm->out.pub.rShutdown = session_shutdown;
	sm->out.pub.rDestroy = session_destroy;
	sm->out.pub.mydest = DestNone;
	sm->cq = cq;
	sm->groups = groups;
	sm->has_watermark = has_watermark;
	sm->watermark = watermark;
	sm->state_rows = state_rows;
	sm->rows_late = rows_late;
	sm->sink_rows = sink_rows;
	sm->sink_deleted = sink_deleted;
	return &sm->out.pub;
}
