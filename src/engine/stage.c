/*-------------------------------------------------------------------------
 *
 * stage.c
 *	  Queries over a windowed aggregation: window top-N, and aggregations
 *	  and filters per window, run over the windows a batch makes final.
 *
 * Spark chains stateful operators: an aggregation by window whose output
 * feeds another operator. In append mode a window's row is written once,
 * when the watermark has passed its end, and every row of a window
 * becomes final in the same batch (pgs_finalize_windows takes all of a
 * window's groups out of the state at once, under one watermark). So an
 * operator that never mixes rows of two windows -- it partitions, groups
 * or filters by the window -- gets each window whole, once, in the batch
 * that makes it final, and needs no state of its own: it is run over the
 * rows that batch finalized, and its output is the view's. That is Flink's
 * window top-N (Nexmark q5 "hot items", q7 "highest bid"):
 *
 *	SELECT * FROM (SELECT w, k, n, rank() OVER (PARTITION BY w ORDER BY n DESC) AS r
 *				   FROM (SELECT stream.tumble(ts, '10 s') AS w, k, count(*) AS n
 *						 FROM s GROUP BY 1, 2) x) y
 *	WHERE r <= 3
 *
 * and a per-window aggregation of the aggregation (max(n) per window),
 * or a filter of its rows, with any number of such levels; the
 * aggregation joined with itself on the window (Nexmark q5 as published:
 * the windowed count joined with its own max); and an aggregation by a
 * coarser tumbling window (below).
 *
 * The query is split in two stages at the aggregation that reads the
 * stream (x above: in the subqueries of FROM, an aggregation of a stream
 * with no aggregation below it; where there are several, all the same
 * query):
 *
 *	- stage 1, x, is the view's CqDef: analysed, planned, merged,
 *	  evicted and dumped exactly as an aggregation of its own
 *	  (engine/analyze.c, merge.c; its state table is the view's), except
 *	  that its rows are not the view's rows;
 *	- stage 2 is the view's query with x replaced (everywhere it is read)
 *	  by an ephemeral named relation (a tuplestore, as a trigger's
 *	  transition table): the levels above x, planned and run by
 *	  PostgreSQL's own planner and executor, in the batch's transaction,
 *	  over the rows of the windows the batch made final. Its output goes
 *	  into the view, its copy of the final rows and the sink (merge.c),
 *	  once.
 *
 * Analysis (pgs_stage_check) makes sure stage 2 gets whole windows:
 * every level above x that has window functions partitions each of them
 * by x's window column (passed up unchanged, as a plain column, level by
 * level), every level that aggregates groups by it, a level that joins
 * two inputs carrying the window equates their window columns, and the
 * window functions are the ranking ones (row_number, rank, dense_rank),
 * whose result over a whole partition is that of the batch query. The
 * mode is append (the default of such a view; update and complete would
 * show windows before they are whole). Under an aggregation without a
 * window nothing is ever final: such a query runs in update mode instead,
 * recomputed over the whole aggregation after each batch that changes it
 * (engine/reagg.c), and none of the checks below apply.
 *
 * A coarser window: a level may instead group by stream.tumble(w, size)
 * of x's tumbling window w, if the windows nest (size a multiple of w's,
 * origins a whole number of w's apart). Its groups are whole when its
 * window is final; x's groups then stay in x's state until the outer
 * window is final (the eviction of pgs_finalize_windows goes by the
 * outer window, CqDef's stage_window_size), while x's rows still turn
 * late with x's own windows, as Spark's chained aggregations do: the
 * outer stage's event time is the inner window, its watermark the
 * input's.
 *
 * Streams read beside x in stage 2 (Nexmark q7's bids joined with their
 * window's max) and other aggregations of streams (q8's auctions grouped
 * by window, joined with x on the window) are sides: each stream is
 * replaced by a relation standing for its rows of the windows a batch
 * makes final, kept until then in a state of their own
 * (engine/stage_side.c, whose header has the rules batch by batch); the
 * analysis below treats stream.tumble(side's event time) as one more
 * window column, equated with x's, or the side's event time bounded on
 * both sides by x's window (a range: BETWEEN w AND w + size).
 *
 * Refused, with a hint: other window functions, DISTINCT, ORDER BY,
 * LIMIT, LATERAL above x, joins not on the window, sides without a
 * watermark or not joined on the window (or by a range bounded on one
 * side), sides beside sliding windows or under a coarser window, outer
 * joins on a range, coarser windows over sliding ones, and retention
 * (the view need not keep the window column).
 *
 * Stage 2 has no state, so nothing new is committed, evicted, dumped or
 * restored: a crash before the batch's commit loses the finalized windows
 * with the eviction of their state, and the retried batch finalizes them
 * again; a restore rebuilds the view from its copy of the final rows.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "access/table.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_type.h"
#include "access/stratnum.h"
#include "sources/sources.h"
#include "utils/acl.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "tcop/tcopprot.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/queryenvironment.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

/* the name of the relation that stands for stage 1's rows in stage 2 */
#define STAGE_ENR "pgs_stage_rows"
/* and the prefix of those standing for the rows of streams beside it */
#define STAGE_SIDE_ENR "pgs_side_rows"

/* does this range entry (or what it reads) read a stream? */
static bool
rte_reads_stream(RangeTblEntry *rte)
{
	if (rte->rtekind == RTE_SUBQUERY)
		return pgs_query_streams(rte->subquery) != NIL;
	return false;
}

static bool
aggregates(Query *q)
{
	return q->hasAggs || q->groupClause != NIL || q->havingQual != NULL;
}

/* does a subquery that reads a stream aggregate, in q's FROM or below? */
static bool
aggregates_below(Query *q)
{
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte_reads_stream(rte) &&
			(aggregates(rte->subquery) || aggregates_below(rte->subquery)))
			return true;
	}
	return false;
}

/* stage 1: an aggregation that reads a stream and no aggregation of one */
static bool
is_stage1(Query *q)
{
	return aggregates(q) && pgs_query_streams(q) != NIL && !aggregates_below(q);
}

/* the relation standing for stage 1's rows, with its columns */
static RangeTblEntry *
stage_rte(Query *inner)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	List	   *names = NIL;
	ListCell   *lc;

	rte->rtekind = RTE_NAMEDTUPLESTORE;
	rte->enrname = pstrdup(STAGE_ENR);
	rte->enrtuples = 1000;		/* set before each run */
	rte->relid = InvalidOid;
	foreach(lc, inner->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		if (tle->resjunk)
			continue;
		names = lappend(names, makeString(pstrdup(tle->resname ? tle->resname : "?column?")));
		rte->coltypes = lappend_oid(rte->coltypes, exprType((Node *) tle->expr));
		rte->coltypmods = lappend_int(rte->coltypmods, exprTypmod((Node *) tle->expr));
		rte->colcollations = lappend_oid(rte->colcollations,
										 exprCollation((Node *) tle->expr));
	}
	rte->eref = makeAlias(STAGE_ENR, names);
	rte->inFromCl = true;
	return rte;
}

/*
 * Stage 1's group keys are columns of its rows, selected or not (Nexmark
 * q4 groups by A.id and selects only A.category and the max): the view
 * does not find a group's row by them, stage 2 reads the rows, and a key
 * not selected is a column stage 2 never names. The parser puts such
 * keys last, as junk; they become trailing columns.
 */
#define STAGE_HIDDEN_KEY "pgs_key"

static void
keys_as_columns(Query *q)
{
	ListCell   *lc;

	foreach(lc, q->groupClause)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), q->targetList);

		if (tle->resjunk)
		{
			tle->resjunk = false;
			tle->resname = psprintf(STAGE_HIDDEN_KEY "%d", foreach_current_index(lc) + 1);
		}
	}
}

/*
 * Replace, in q's FROM and the subqueries of its FROM, each stage-1
 * aggregation by the stage's relation; the first is *inner, and every
 * other must be the same query (Nexmark q5 reads its windowed count
 * twice: joined with its own max).
 */
static void
replace_stage1(Query *q, Query **inner)
{
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (!rte_reads_stream(rte))
			continue;
		if (!is_stage1(rte->subquery))
		{
			replace_stage1(rte->subquery, inner);
			continue;
		}
		keys_as_columns(rte->subquery);
		if (*inner == NULL)
			*inner = copyObject(rte->subquery);
		else if (!equal(*inner, rte->subquery))
		{
			/*
			 * Another aggregation (Nexmark q8: persons grouped by window
			 * joined with auctions grouped by window): it stays in stage
			 * 2, over its stream's rows kept as a side (replace_sides), and
			 * aggregates each window whole when it is final.
			 */
			continue;
		}
		lfirst(lc) = stage_rte(*inner);
	}
}

/*
 * The relation standing for a stream read beside stage 1 (Nexmark q7's
 * bids joined with their window's max, or q8's second aggregation): the
 * stream's columns, dropped ones too (as the parser makes an ENR's), so
 * that the Vars of stage 2 keep their attribute numbers.
 */
static RangeTblEntry *
side_rte(CqStageSide *side)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	Relation	rel = table_open(side->relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *names = NIL;

	rte->rtekind = RTE_NAMEDTUPLESTORE;
	rte->enrname = pstrdup(side->enrname);
	rte->enrtuples = 1000;		/* set before each run */
	rte->relid = InvalidOid;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		names = lappend(names, makeString(pstrdup(att->attisdropped ? "" : NameStr(att->attname))));
		rte->coltypes = lappend_oid(rte->coltypes, att->attisdropped ? InvalidOid : att->atttypid);
		rte->coltypmods = lappend_int(rte->coltypmods, att->attisdropped ? 0 : att->atttypmod);
		rte->colcollations = lappend_oid(rte->colcollations,
										 att->attisdropped ? InvalidOid : att->attcollation);
	}
	table_close(rel, AccessShareLock);
	rte->eref = makeAlias(side->enrname, names);
	rte->inFromCl = true;
	return rte;
}

/*
 * The columns of range table entry rti of the query at depth 0 that Vars
 * read, directly or through a join's alias (a column merged by USING):
 * queries is the stack of the queries walked, the innermost first.
 */
typedef struct UsedCols
{
	Index		rti;
	int			depth;
	List	   *queries;
	Bitmapset  *cols;
	bool		all;
} UsedCols;

static bool used_cols_walker(Node *node, UsedCols *u);

static void
used_cols_var(Var *v, UsedCols *u)
{
	int			level = u->depth - (int) v->varlevelsup;	/* of the Var's query */
	Query	   *q;
	RangeTblEntry *rte;

	if (level < 0)
		return;					/* above stage 2's query */
	if (level == 0 && v->varno == u->rti)
	{
		if (v->varattno <= 0)
			u->all = true;		/* a whole-row Var */
		else
			u->cols = bms_add_member(u->cols, v->varattno);
		return;
	}
	q = list_nth(u->queries, u->depth - level);
	if (v->varno < 1 || v->varno > list_length(q->rtable))
		return;
	rte = rt_fetch(v->varno, q->rtable);
	if (rte->rtekind != RTE_JOIN)
		return;
	if (v->varattno <= 0)
	{
		/* a join's whole row: all its columns */
		int			saved = u->depth;

		u->depth = level;
		(void) expression_tree_walker((Node *) rte->joinaliasvars, used_cols_walker, u);
		u->depth = saved;
	}
	else if (v->varattno <= list_length(rte->joinaliasvars))
	{
		int			saved = u->depth;
		List	   *savedq = u->queries;

		/* the alias's Vars are of that query */
		u->queries = list_copy_tail(u->queries, u->depth - level);
		u->depth = level;
		(void) used_cols_walker(list_nth(rte->joinaliasvars, v->varattno - 1), u);
		u->depth = saved;
		u->queries = savedq;
	}
}

static bool
used_cols_walker(Node *node, UsedCols *u)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		used_cols_var((Var *) node, u);
		return false;
	}
	if (IsA(node, Query))
	{
		bool		r;

		u->depth++;
		u->queries = lcons(node, u->queries);
		r = query_tree_walker((Query *) node, used_cols_walker, u, QTW_IGNORE_JOINALIASES);
		u->queries = list_delete_first(u->queries);
		u->depth--;
		return r;
	}
	return expression_tree_walker(node, used_cols_walker, u);
}

/*
 * Which of a side's columns stage 2 reads: the Vars of rti in q, and in
 * the queries below it that reach up to it, and those a join's alias
 * stands for. engine/stage_side.c keeps only those in the state.
 */
static void
side_used_cols(Query *q, Index rti, CqStageSide *side)
{
	UsedCols	u = {rti, 0, list_make1(q), NULL, false};

	(void) query_tree_walker(q, used_cols_walker, &u, QTW_IGNORE_JOINALIASES);
	side->used_cols = u.cols;
	side->all_cols = u.all;
}

/*
 * Replace, in stage 2 (q, its FROM and the subqueries there), each stream
 * read beside stage 1 by a relation standing for its rows of the windows
 * a batch makes final (engine/stage_side.c keeps them until then). Each
 * stream once.
 */
static void
replace_sides(Query *q, List **sides)
{
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		CqStageSide *side;
		ListCell   *lc2;

		if (rte->rtekind == RTE_SUBQUERY)
		{
			replace_sides(rte->subquery, sides);
			continue;
		}
		if (rte->rtekind != RTE_RELATION || !pgs_is_stream_relation(rte->relid))
			continue;
		foreach(lc2, *sides)
			if (((CqStageSide *) lfirst(lc2))->relid == rte->relid)
				pgs_reject("a stream read twice beside an aggregation",
						   "Read it once, or chain views: a view's sink can be a stream.");
		side = palloc0(sizeof(CqStageSide));
		side->relid = rte->relid;
		side->enrname = psprintf("%s_%d", STAGE_SIDE_ENR, list_length(*sides) + 1);
		side_used_cols(q, foreach_current_index(lc) + 1, side);
		*sides = lappend(*sides, side);
		lfirst(lc) = side_rte(side);
	}
}

/*
 * Split a view's query at the aggregation that feeds it, when it is not
 * the query itself: the aggregations of streams with none below them in
 * the subqueries of FROM, all one query. Returns it (stage 1), or NULL if
 * the query is no such thing; *above gets the rest (stage 2), which reads
 * the stage's relation where it read the aggregation.
 */
Query *
pgs_stage_split(Query *query, Query **above, List **sides)
{
	Query	   *copy;
	Query	   *inner = NULL;

	if (!aggregates_below(query))
		return NULL;
	copy = copyObject(query);
	replace_stage1(copy, &inner);
	if (inner == NULL)
		return NULL;
	/* streams beside it (q7's bids, q8's auctions): rows kept till final */
	replace_sides(copy, sides);
	if (pgs_query_streams(copy) != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a stream read in a sub-SELECT expression beside an aggregation of a stream is not supported in a continuous view"),
				 errdetail("A stream beside a windowed aggregation is joined with it in FROM, on the window."),
				 errhint("Read the stream in FROM, joined on stream.tumble(its event time, the window's size) = the window.")));
	*above = copy;
	return inner;
}

/* a window function stage 2 may compute: the ranking ones */
static bool
ranking_function(Oid fn)
{
	return fn == F_ROW_NUMBER || fn == F_RANK_ || fn == F_DENSE_RANK_;
}

typedef struct WinFuncWalk
{
	List	   *winrefs;		/* the window clauses used */
} WinFuncWalk;

static bool
winfunc_walker(Node *node, WinFuncWalk *w)
{
	if (node == NULL)
		return false;
	if (IsA(node, WindowFunc))
	{
		WindowFunc *wf = (WindowFunc *) node;

		if (!ranking_function(wf->winfnoid))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("window function %s is not supported in a continuous view",
							format_procedure(wf->winfnoid)),
					 errdetail("Over a windowed aggregation only row_number(), rank() and dense_rank() are computed (window top-N)."),
					 errhint("Aggregate per window in the view, or compute the function when reading the view.")));
		return false;
	}
	if (IsA(node, Query))
		return false;			/* a sub-SELECT's own */
	return expression_tree_walker(node, winfunc_walker, w);
}

static bool is_tumble(Node *e, Node **arg, int64 *size, int64 *origin);

/*
 * The windows of a level: wins, its inputs' window columns (stage 1's,
 * or a subquery's that passes it on), and sidets, the event-time columns
 * of the streams it reads beside stage 1, whose window is
 * stream.tumble(ts) by stage 1's size and origin.
 */
typedef struct LevelWins
{
	List	   *wins;
	List	   *sidets;
	List	   *sides;			/* the CqStageSide of each of sidets */
} LevelWins;

/* e as the window it is (a member of wins, or a side's ts), or NULL */
static Node *
window_of(Node *e, LevelWins *lw, CqDef *cq)
{
	Node	   *arg;
	int64		size;
	int64		origin;

	e = strip_implicit_coercions(e);
	if (list_member(lw->wins, e))
		return e;
	if (lw->sidets != NIL && is_tumble(e, &arg, &size, &origin) &&
		size == cq->window_size && origin == cq->stage_tumble_origin)
	{
		arg = strip_implicit_coercions(arg);
		if (list_member(lw->sidets, arg))
			return arg;
	}
	return NULL;
}

/* is one of this level's columns named by these clauses a window? */
static bool
clauses_hold(List *clauses, List *tlist, LevelWins *lw, CqDef *cq)
{
	ListCell   *lc;

	foreach(lc, clauses)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), tlist);

		if (window_of((Node *) tle->expr, lw, cq) != NULL)
			return true;
	}
	return false;
}

/*
 * Is e stream.tumble(arg, <constant size> [, <constant origin>])? The
 * origin's default (2000-01-01, 0) is not in the query: the planner adds it.
 */
static bool
is_tumble(Node *e, Node **arg, int64 *size, int64 *origin)
{
	FuncExpr   *f = (FuncExpr *) e;
	Const	   *c;

	if (e == NULL || !IsA(e, FuncExpr) || list_length(f->args) < 2)
		return false;
	if (!pgs_is_stream_function(f->funcid, "tumble"))
		return false;
	c = lsecond(f->args);
	if (!IsA(c, Const) || c->constisnull || c->consttype != INTERVALOID)
		return false;
	*arg = linitial(f->args);
	*size = pgs_window_size_usecs(DatumGetIntervalP(c->constvalue));
	*origin = 0;
	if (list_length(f->args) > 2)
	{
		c = lthird(f->args);
		if (!IsA(c, Const) || c->constisnull)
			return false;
		*origin = DatumGetInt64(c->constvalue);
	}
	return true;
}

/*
 * An aggregation by a coarser tumbling window of the inner one's
 * (stream.tumble(w, '5 minutes') over per-minute windows w): its groups
 * are whole when every inner window they hold is final, which is when
 * the outer window's end is at or before the watermark, if the windows
 * nest (the outer size a multiple of the inner, the outer origin an
 * inner window's start). The inner aggregation then keeps its groups
 * until then (pgs_finalize_windows evicts by the outer window), while
 * rows of a final inner window are still late. Returns the outer window's key, or NULL if the level has
 * none.
 */
static Node *
coarser_window(Query *q, List *wins, const char *wname, CqDef *cq)
{
	TargetEntry *itle = get_tle_by_resno(cq->query->targetList,
										 cq->key_viewcols[cq->window_key]);
	Node	   *iarg;
	int64		isize;
	int64		iorigin;
	ListCell   *lc;

	foreach(lc, q->groupClause)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), q->targetList);
		Node	   *arg;
		int64		size;
		int64		origin;
		int64		apart;

		if (!is_tumble((Node *) tle->expr, &arg, &size, &origin) || !list_member(wins, arg))
			continue;
		if (!is_tumble((Node *) itle->expr, &iarg, &isize, &iorigin))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("an aggregation by a coarser window needs the inner window to be stream.tumble()"),
					 errdetail("The outer windows must hold whole inner windows; sliding windows overlap them."),
					 errhint("Group the inner query by stream.tumble(ts, ...), or the outer query by %s itself.",
							 wname)));
		if (cq->stage_window_size > 0)
			pgs_reject("two coarser windows over a windowed aggregation",
					   "Group by one coarser window; rank or filter by it above.");
		/*
		 * Nested: every outer window's start is an inner window's start
		 * (origins a whole number of inner windows apart: hours from
		 * half past over 10-minute windows), and its size a multiple.
		 */
		if (size <= isize || size % isize != 0 ||
			pg_sub_s64_overflow(origin, iorigin, &apart) || apart % isize != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the outer window must hold whole inner windows"),
					 errdetail("Its size must be a multiple of the inner window's, larger, and its origin an inner window's start: an inner row is then final before its outer window is, and never late for it."),
					 errhint("Use a multiple of the inner window's size, and the same origin (or one a multiple of the inner size away).")));
		cq->stage_window_size = size;
		cq->stage_window_origin = origin;
		return (Node *) tle->expr;
	}
	return NULL;
}

/*
 * A level above stage 1, whose window is any of wins (its inputs'
 * window columns, equated): refuse what would mix rows of two windows,
 * or could not be computed over one batch's final windows. Returns the
 * level's window, as its own expressions (wins, or an outer window over
 * them), or NIL.
 */
static List *
check_level(Query *q, LevelWins *lw, const char *wname, CqDef *cq)
{
	List	   *wins = lw->wins;
	Node	   *coarse;

	ListCell   *lc;

	if (q->sortClause)
		pgs_reject("ORDER BY over a windowed aggregation",
				   "A view is a table and has no order; apply ORDER BY when reading the view.");
	if (q->limitCount || q->limitOffset)
		pgs_reject("LIMIT or OFFSET over a windowed aggregation",
				   "For the top rows of each window, filter on row_number() OVER (PARTITION BY the window ORDER BY ...) <= n.");
	if (q->distinctClause)
		pgs_reject("DISTINCT over a windowed aggregation",
				   "Its groups are distinct already.");
	if (q->setOperations || q->groupingSets || q->hasRecursive || q->hasModifyingCTE ||
		q->cteList)
		pgs_reject("UNION, WITH, GROUPING SETS or data-modifying statements over a windowed aggregation",
				   NULL);
	if (q->rowMarks)
		pgs_reject("FOR UPDATE or FOR SHARE", NULL);
	if (q->hasTargetSRFs)
		pgs_reject("a set-returning function in the select list over a windowed aggregation",
				   NULL);
	if (wins == NIL && lw->sidets == NIL && (q->hasWindowFuncs || aggregates(q)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an aggregation or window function over a windowed aggregation must keep its window"),
				 errdetail("Each window is computed when it is final; a level below dropped the window column \"%s\".",
						   wname),
				 errhint("Select the window column in every level between the aggregation and this one.")));
	if (q->hasWindowFuncs)
	{
		WinFuncWalk w = {NIL};

		(void) winfunc_walker((Node *) q->targetList, &w);
		foreach(lc, q->windowClause)
		{
			WindowClause *wc = lfirst(lc);

			if (!clauses_hold(wc->partitionClause, q->targetList, lw, cq))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a window function over a windowed aggregation must be partitioned by the window"),
						 errdetail("A window is computed when it is final, alone: a partition must not span two windows."),
						 errhint("Write OVER (PARTITION BY %s ORDER BY ...).", wname)));
		}
	}
	if (aggregates(q) && !clauses_hold(q->groupClause, q->targetList, lw, cq))
	{
		if (cq->stage_sides != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("an aggregation over a windowed aggregation joined with a stream must group by its window"),
					 errdetail("The stream's rows wait for the aggregation's window, and go when it is final: a coarser window would need them longer."),
					 errhint("Group by %s itself.", wname)));
		if ((coarse = coarser_window(q, wins, wname, cq)) == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("an aggregation over a windowed aggregation must group by its window"),
					 errdetail("A window is aggregated when it is final, alone, or with the other windows of a coarser tumbling window."),
					 errhint("Group by %s itself, or by stream.tumble(%s, <a multiple of its size>).",
							 wname, wname)));
		return list_make1(coarse);
	}
	return wins;
}

/* does q read the stage's relation, in its FROM or below? */
static bool
reads_stage(Query *q)
{
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_NAMEDTUPLESTORE ||
			(rte->rtekind == RTE_SUBQUERY && reads_stage(rte->subquery)))
			return true;
	}
	return false;
}

/*
 * Is opno the equality of type's default btree operator class? Not any
 * operator named "=": one of another schema (OPERATOR(public.=)) may be
 * true of two different windows.
 */
static bool
is_equality(Oid opno, Oid type)
{
	TypeCacheEntry *tc = lookup_type_cache(type, TYPECACHE_EQ_OPR);

	return OidIsValid(tc->eq_opr) && tc->eq_opr == opno;
}

/* the comparisons a op b (binary operators) ANDed in q's WHERE and join conditions */
static void
comparisons(Node *n, List **ops)
{
	if (n == NULL)
		return;
	if (IsA(n, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) n)->fromlist)
			comparisons(lfirst(lc), ops);
		comparisons(((FromExpr *) n)->quals, ops);
	}
	else if (IsA(n, JoinExpr))
	{
		comparisons(((JoinExpr *) n)->larg, ops);
		comparisons(((JoinExpr *) n)->rarg, ops);
		comparisons(((JoinExpr *) n)->quals, ops);
	}
	else if (is_andclause(n))
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) n)->args)
			comparisons(lfirst(lc), ops);
	}
	else if (IsA(n, OpExpr) && list_length(((OpExpr *) n)->args) == 2)
		*ops = lappend(*ops, n);
}

/* is opno PostgreSQL's own operator name (pg_catalog's)? */
static bool
catalog_operator(Oid opno, const char *name)
{
	HeapTuple	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(opno));
	bool		result;

	if (!HeapTupleIsValid(tup))
		return false;
	result = ((Form_pg_operator) GETSTRUCT(tup))->oprnamespace == PG_CATALOG_NAMESPACE &&
		strcmp(NameStr(((Form_pg_operator) GETSTRUCT(tup))->oprname), name) == 0;
	ReleaseSysCache(tup);
	return result;
}

/*
 * e as w + c (w - c, or w alone): a window column of the level and a
 * constant interval of fixed length (no days or months, whose length
 * varies). Returns w, or NULL.
 */
static Node *
window_plus(Node *e, LevelWins *lw, int64 *off)
{
	e = strip_implicit_coercions(e);
	*off = 0;
	if (IsA(e, OpExpr) && list_length(((OpExpr *) e)->args) == 2)
	{
		OpExpr	   *op = (OpExpr *) e;
		Const	   *c = lsecond(op->args);
		bool		plus = catalog_operator(op->opno, "+");
		Interval   *iv;

		if ((!plus && !catalog_operator(op->opno, "-")) || !IsA(c, Const) ||
			c->constisnull || c->consttype != INTERVALOID)
			return NULL;
		iv = DatumGetIntervalP(c->constvalue);
		if (iv->month != 0 || iv->day != 0)
			return NULL;
		*off = plus ? iv->time : -iv->time;
		e = strip_implicit_coercions(linitial(op->args));
	}
	return list_member(lw->wins, e) ? e : NULL;
}

/*
 * A bound of a side's event time ts by a window w in op: ts >= w + a,
 * ts > w + a (a lower bound: *lower, *off the keep offset) or ts < w + b,
 * ts <= w + b (an upper one: the reach offset), either way round. The
 * windows a row can join are then those starting in (ts - b, ts - a]
 * (engine/stage_side.c reads the offsets).
 */
static bool
range_bound(OpExpr *op, Node *ts, Node *w, LevelWins *lw, CqDef *cq, bool *lower, int64 *off)
{
	Node	   *l = strip_implicit_coercions(linitial(op->args));
	Node	   *r = strip_implicit_coercions(lsecond(op->args));
	TypeCacheEntry *tc = lookup_type_cache(exprType(l), TYPECACHE_BTREE_OPFAMILY);
	int			strategy;
	int64		c;
	Node	   *win;

	if (!OidIsValid(tc->btree_opf))
		return false;
	strategy = get_op_opfamily_strategy(op->opno, tc->btree_opf);
	if (equal(r, ts))
	{
		/* w + c op ts: turned round */
		Node	   *t = l;

		l = r;
		r = t;
		strategy = (strategy == BTLessStrategyNumber ? BTGreaterStrategyNumber :
					strategy == BTLessEqualStrategyNumber ? BTGreaterEqualStrategyNumber :
					strategy == BTGreaterStrategyNumber ? BTLessStrategyNumber :
					strategy == BTGreaterEqualStrategyNumber ? BTLessEqualStrategyNumber : strategy);
	}
	if (!equal(l, ts) || (win = window_plus(r, lw, &c)) == NULL || !equal(win, w))
		return false;
	switch (strategy)
	{
		case BTGreaterEqualStrategyNumber:
			*lower = true;
			*off = c;
			return true;
		case BTGreaterStrategyNumber:
			*lower = true;
			*off = c + 1;
			return true;
		case BTLessStrategyNumber:
			*lower = false;
			*off = c - cq->window_size;
			return true;
		case BTLessEqualStrategyNumber:
			*lower = false;
			*off = c - cq->window_size + 1;
			return true;
		default:
			return false;
	}
}

/* does q, or a query in its FROM, have an outer join? */
static bool
has_outer_join(Node *n)
{
	if (n == NULL)
		return false;
	if (IsA(n, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) n)->fromlist)
			if (has_outer_join(lfirst(lc)))
				return true;
		return false;
	}
	if (IsA(n, JoinExpr))
		return ((JoinExpr *) n)->jointype != JOIN_INNER ||
			has_outer_join(((JoinExpr *) n)->larg) || has_outer_join(((JoinExpr *) n)->rarg);
	return false;
}

/*
 * A side joined by a range of its event time around a window, not by
 * stream.tumble(ts) = w: its rows may join several windows, and stay
 * until the last is final. An outer join would NULL-pad such a row once
 * for each batch it is read in: refused.
 */
static void
range_side(Query *q, CqStageSide *side, int64 keep, int64 reach)
{
	if (has_outer_join((Node *) q->jointree))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an outer join of a stream with a windowed aggregation on a range of its event time is not supported"),
				 errdetail("A row of the stream may join windows made final in different batches; NULL-padding it is not exact."),
				 errhint("Join on stream.tumble(<its event time>, <the window's size>) = <the window>.")));
	side->keep_off = keep;
	side->reach_off = reach;
}

/*
 * The windows of q's inputs (the stage's relation, subqueries over it,
 * streams read beside it) must be one: several inputs are joined by
 * equalities of their window columns (AuctionBids.starttime =
 * MaxBids.starttime; a stream's by stream.tumble(B.date_time, '10 s') =
 * B1.w), or a stream's event time bounded on both sides by a window
 * (B.date_time >= B1.w AND B.date_time < B1.w + interval '10 s'), so that
 * a join never meets rows of two windows it cannot bound.
 */
static void
check_joined_windows(Query *q, LevelWins *lw, int ninputs, const char *wname, CqDef *cq)
{
	List	   *ops = NIL;
	List	   *edges = NIL;
	List	   *joined;
	List	   *ranged = NIL;
	bool		grew = true;
	ListCell   *lc;
	ListCell   *lc2;

	if (ninputs <= 1)
		return;
	if (list_length(lw->wins) + list_length(lw->sidets) < ninputs)
		pgs_reject("a join of a windowed aggregation with one that dropped its window",
				   "Select the window column in every subquery between the aggregation and the join.");
	comparisons((Node *) q->jointree, &ops);
	foreach(lc, ops)
	{
		OpExpr	   *op = lfirst(lc);
		Node	   *l;
		Node	   *r;

		if (!is_equality(op->opno, exprType(linitial(op->args))))
			continue;
		l = window_of(linitial(op->args), lw, cq);
		r = window_of(lsecond(op->args), lw, cq);
		if (l != NULL && r != NULL)
			edges = lappend(edges, list_make2(l, r));
	}
	/* a side not equated to a window may be bounded by one on both sides */
	forboth(lc, lw->sidets, lc2, lw->sides)
	{
		Node	   *ts = lfirst(lc);
		bool		tied = false;
		ListCell   *le;
		ListCell   *lw2;

		foreach(le, edges)
			tied |= equal(linitial(lfirst(le)), ts) || equal(lsecond(lfirst(le)), ts);
		if (tied)
			continue;
		foreach(lw2, lw->wins)
		{
			Node	   *w = lfirst(lw2);
			bool		has_lo = false;
			bool		has_hi = false;
			int64		keep = PG_INT64_MIN;
			int64		reach = PG_INT64_MAX;
			ListCell   *lo;

			foreach(lo, ops)
			{
				bool		lower;
				int64		off;

				if (!range_bound(lfirst(lo), ts, w, lw, cq, &lower, &off))
					continue;
				if (lower)
				{
					has_lo = true;
					keep = Max(keep, off);
				}
				else
				{
					has_hi = true;
					reach = Min(reach, off);
				}
			}
			if (has_lo && has_hi)
			{
				range_side(q, lfirst(lc2), keep, reach);
				edges = lappend(edges, list_make2(ts, w));
				ranged = lappend(ranged, ts);
				break;
			}
		}
	}
	joined = list_make1(lw->wins != NIL ? linitial(lw->wins) : linitial(lw->sidets));
	while (grew)
	{
		grew = false;
		foreach(lc, edges)
		{
			Node	   *l = linitial(lfirst(lc));
			Node	   *r = lsecond(lfirst(lc));

			if (list_member(joined, l) != list_member(joined, r))
			{
				joined = list_append_unique(joined, l);
				joined = list_append_unique(joined, r);
				grew = true;
			}
		}
	}
	if (list_length(joined) < list_length(lw->wins) + list_length(lw->sidets))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a join over a windowed aggregation must join on its window"),
				 lw->sidets != NIL ?
				 errdetail("Each window is computed when it is final, alone: a join must not meet rows of two windows, and a stream's rows must be bounded by the windows they join.") :
				 errdetail("Each window is computed when it is final, alone: a join must not meet rows of two windows."),
				 lw->sidets != NIL ?
				 errhint("Add a condition that the stream's window is the aggregation's: stream.tumble(<its event time>, <the window's size>) = <the window>, or bound its event time on both sides: >= <the window> AND < <the window> + <its size>.") :
				 errhint("Add a condition that the windows are equal: a.%s = b.%s.", wname, wname)));
	/* a side joined by a range has no window of its own at this level */
	if (ranged != NIL)
	{
		List	   *sidets = NIL;
		List	   *sides = NIL;

		forboth(lc, lw->sidets, lc2, lw->sides)
		{
			if (list_member(ranged, lfirst(lc)))
				continue;
			sidets = lappend(sidets, lfirst(lc));
			sides = lappend(sides, lfirst(lc2));
		}
		lw->sidets = sidets;
		lw->sides = sides;
	}
}

/*
 * Does a side's event time appear in q only as stream.tumble(ts) by stage
 * 1's size and origin (a window)? ts is the side's Var at level 0.
 */
typedef struct TsUse
{
	Index		rti;
	AttrNumber	ts_attno;
	CqDef	   *cq;
	bool		bare;			/* found elsewhere, or the whole row */
} TsUse;

static bool
ts_use_walker(Node *node, TsUse *u)
{
	Node	   *arg;
	int64		size;
	int64		origin;

	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varno == u->rti && v->varlevelsup == 0 &&
			(v->varattno == u->ts_attno || v->varattno <= 0))
			u->bare = true;
		return false;
	}
	if (is_tumble(node, &arg, &size, &origin) && size == u->cq->window_size &&
		origin == u->cq->stage_tumble_origin)
	{
		/* (not through a coercion: the window would be another's) */
		if (IsA(arg, Var) && ((Var *) arg)->varno == u->rti &&
			((Var *) arg)->varlevelsup == 0 && ((Var *) arg)->varattno == u->ts_attno)
			return expression_tree_walker((Node *) list_copy_tail(((FuncExpr *) node)->args, 1),
										  ts_use_walker, u);
	}
	if (IsA(node, Query))
	{
		u->bare = true;			/* (a sub-SELECT: not looked into) */
		return false;
	}
	return expression_tree_walker(node, ts_use_walker, u);
}

/*
 * Is the side at rti of q read only as a set (CqStageSide's distinct):
 * q's one relation, grouped, without aggregates, HAVING, window or
 * set-returning functions, sub-SELECTs or volatile functions, its event
 * time only as the window? Then any number of copies of a row give q the
 * same rows, and so does a row whose event time is its window's start.
 */
static bool
side_read_as_set(Query *q, Index rti, CqStageSide *side, CqDef *cq)
{
	TsUse		u = {rti, side->ts_attno, cq, false};

	if (list_length(q->rtable) != 1 || q->groupClause == NIL || q->groupingSets != NIL ||
		q->hasAggs || q->havingQual != NULL || q->hasWindowFuncs || q->hasTargetSRFs ||
		q->hasSubLinks || q->hasForUpdate || q->hasRecursive || q->cteList != NIL ||
		q->setOperations != NULL || contain_volatile_functions((Node *) q))
		return false;
	(void) query_tree_walker(q, ts_use_walker, &u, QTW_IGNORE_JOINALIASES);
	return !u.bare;
}

/* the side a relation of stage 2 stands for, or NULL (stage 1's) */
static CqStageSide *
side_of(CqDef *cq, RangeTblEntry *rte)
{
	ListCell   *lc;

	foreach(lc, cq->stage_sides)
	{
		CqStageSide *side = lfirst(lc);

		if (strcmp(side->enrname, rte->enrname) == 0)
			return side;
	}
	return NULL;
}

/*
 * Check a level of stage 2 and the levels below it: returns the output
 * column of q that is the window (wtle: stage 1's), or 0 if q does not
 * pass it on.
 */
static AttrNumber
check_tree(Query *q, CqDef *cq, TargetEntry *wtle, const char *wname)
{
	LevelWins	lw = {NIL, NIL, NIL};
	LevelWins	out = {NIL, NIL, NIL};
	int			ninputs = 0;
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		Index		rti = foreach_current_index(lc) + 1;
		AttrNumber	col = 0;
		CqStageSide *side;

		if (rte->rtekind == RTE_NAMEDTUPLESTORE && (side = side_of(cq, rte)) != NULL)
		{
			Oid			typid;
			int32		typmod;
			Oid			coll;

			/* a stream beside stage 1: its window is tumble(ts) */
			ninputs++;
			get_atttypetypmodcoll(side->relid, side->ts_attno, &typid, &typmod, &coll);
			lw.sidets = lappend(lw.sidets, makeVar(rti, side->ts_attno, typid, typmod, coll, 0));
			lw.sides = lappend(lw.sides, side);
			side->distinct = side_read_as_set(q, rti, side, cq);
			continue;
		}
		if (rte->rtekind == RTE_NAMEDTUPLESTORE)
			col = wtle->resno;
		else if (rte->rtekind == RTE_SUBQUERY && reads_stage(rte->subquery))
		{
			if (rte->lateral)
				pgs_reject("LATERAL over a windowed aggregation", NULL);
			col = check_tree(rte->subquery, cq, wtle, wname);
		}
		else
			continue;
		ninputs++;
		if (col > 0)
			lw.wins = lappend(lw.wins, makeVar(rti, col, exprType((Node *) wtle->expr),
											   exprTypmod((Node *) wtle->expr),
											   exprCollation((Node *) wtle->expr), 0));
	}
	check_joined_windows(q, &lw, ninputs, wname, cq);
	out.wins = check_level(q, &lw, wname, cq);
	if (out.wins == lw.wins)
	{
		out.sidets = lw.sidets;
		out.sides = lw.sides;
	}
	/* the window as the level above reads it, if passed on */
	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		if (!tle->resjunk && window_of((Node *) tle->expr, &out, cq) != NULL)
			return tle->resno;
	}
	return 0;
}

/*
 * Streams read beside stage 1: each has event time and a watermark, and
 * joins stage 1's windows by stream.tumble of its event time, so stage 1
 * must be by stream.tumble (check_tree checks the joins). They join the
 * view's streams (read each batch, with a position of their own) and its
 * watermark, the least of all: a window is final when every stream's
 * watermark has passed it, as Spark's global watermark (the 'min'
 * policy) makes it.
 */
static void
check_sides(CqDef *cq, TargetEntry *wtle)
{
	Node	   *arg;
	int64		size;
	ListCell   *lc;

	if (!is_tumble((Node *) wtle->expr, &arg, &size, &cq->stage_tumble_origin))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a stream joined with a windowed aggregation needs the aggregation to be by stream.tumble()"),
				 errdetail("The stream's rows are kept until the one window they join is final."),
				 errhint("Group the aggregation by stream.tumble(ts, ...), or rank the stream's rows per window instead.")));
	if (cq->opts.parallelism > 1)
		pgs_reject("a stream joined with a windowed aggregation, with parallelism > 1",
				   "Use parallelism 1 for this view.");
	foreach(lc, cq->stage_sides)
	{
		CqStageSide *side = lfirst(lc);
		CqTime	   *t = palloc0(sizeof(CqTime));
		bool		has_delay;
		ListCell   *lc2;
		bool		known = false;

		/* the view keeps one state per stream: a joined stream's is its join's */
		for (int k = 0; cq->join != NULL && k < cq->join->nsides; k++)
			if (cq->join->side[k].relid == side->relid)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("stream \"%s\" cannot be joined with a windowed aggregation over a join that reads it",
								get_rel_name(side->relid)),
						 errdetail("The stream's rows would be kept twice, for the join below the aggregation and until the window they join above it is final."),
						 errhint("Join the aggregation with another stream, or aggregate the join's rows of that stream in the aggregation itself.")));
		t->relid = side->relid;
		if (!pgs_stream_event_time(side->relid, &t->attno, &t->typid, &t->delay, &has_delay) ||
			(!has_delay && !cq->opts.has_watermark))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("stream \"%s\" joined with a windowed aggregation needs event time and a watermark",
							get_rel_name(side->relid)),
					 errdetail("Its rows are kept until the window they join is final, and then evicted; late rows are dropped."),
					 errhint("ALTER FOREIGN TABLE %s OPTIONS (ADD event_time '<column>', ADD watermark '<delay>').",
							 get_rel_name(side->relid))));
		if (cq->opts.has_watermark)
			t->delay = cq->opts.watermark_usecs;
		side->ts_attno = t->attno;
		side->ts_typid = t->typid;
		side->own_late = !list_member_oid(cq->streams, side->relid);
		if (side->own_late)
			cq->streams = lappend_oid(cq->streams, side->relid);
		foreach(lc2, cq->wm_streams)
			known |= (((CqTime *) lfirst(lc2))->relid == side->relid);
		if (!known)
			cq->wm_streams = lappend(cq->wm_streams, t);
	}
}

/*
 * Check stage 2 against stage 1 (cq, analysed as in update mode, so that
 * a missing window is told here): the window column of the aggregation
 * is followed up the levels, each of which must keep the rows of each
 * window apart; the caller then switches the view to append mode.
 */
void
pgs_stage_check(CqDef *cq, Query *top)
{
	TargetEntry *wtle;

	/* an aggregation without a window: in update mode (engine/reagg.c) */
	if (cq->window_key < 0 && cq->session_col == 0)
	{
		pgs_reagg_check(cq, top);
		return;
	}
	if (cq->window_key < 0 || cq->session_col > 0 || !cq->evicts)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a query over an aggregation needs the aggregation to be by a window over event time"),
				 errdetail("The rows of a window go to the outer query once, when the watermark has made it final; session windows are not supported there."),
				 errhint("Group the inner query by stream.tumble(ts, ...) or a column of stream.hop(ts, ...) on a stream with a watermark.")));
	if (cq->opts.output_mode != OUTPUT_DEFAULT && cq->opts.output_mode != OUTPUT_APPEND)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a query over a windowed aggregation needs output mode \"append\""),
				 errdetail("Each window goes to the outer query once, whole, when it is final."),
				 errhint("Use WITH (output_mode = 'append'), the default for such a view.")));
	wtle = get_tle_by_resno(cq->query->targetList, cq->key_viewcols[cq->window_key]);
	/* (Nexmark q7's text selects the window's end, TUMBLE_ROWTIME, only) */
	if (cq->stage_sides != NIL && wtle->resname &&
		strncmp(wtle->resname, STAGE_HIDDEN_KEY, strlen(STAGE_HIDDEN_KEY)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a stream joined with a windowed aggregation needs the aggregation to select its window"),
				 errdetail("The stream's rows are joined with the window they fall in, which the join must name; an expression of it, such as its end, is not followed back to it."),
				 errhint("Select the window itself, stream.tumble(ts, <size>) AS w, and join on it: stream.tumble(<its event time>, <size>) = w, or <its event time> BETWEEN w AND w + <size> (the window's end is w + <size>).")));
	if (cq->stage_sides != NIL)
		check_sides(cq, wtle);
	(void) check_tree(top, cq, wtle, wtle->resname ? wtle->resname : "the window");
}

/*
 * At CREATE: the relations the levels above read (a table in a
 * sub-SELECT of their WHERE, say) need the creator's SELECT privilege, as
 * the aggregation's do; each batch checks them again, as the owner.
 */
void
pgs_stage_check_perms(CqDef *cq)
{
	PlannedStmt *plan = pg_plan_query(copyObject(cq->stage_query), "pg_stream stage", 0, NULL);
	ListCell   *lc;

	ExecCheckRTPerms(plan->rtable, true);
	/* the streams beside it stand replaced there: read by each batch as the owner */
	foreach(lc, cq->stage_sides)
	{
		Oid			relid = ((CqStageSide *) lfirst(lc))->relid;
		AclResult	acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

		if (acl != ACLCHECK_OK)
			aclcheck_error(acl, OBJECT_FOREIGN_TABLE, get_rel_name(relid));
	}
}

/* stage 1's rows, as a tuple descriptor: the aggregation's output columns */
TupleDesc
pgs_stage_rowdesc(CqDef *cq)
{
	return ExecTypeFromTL(cq->final_tlist);
}

/* collects stage 2's output */
typedef struct StageReceiver
{
	DestReceiver pub;
	Tuplestorestate *out;
} StageReceiver;

static bool
stage_receive(TupleTableSlot *slot, DestReceiver *self)
{
	tuplestore_puttupleslot(((StageReceiver *) self)->out, slot);
	return true;
}

static void
stage_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
}

static void
stage_shutdown(DestReceiver *self)
{
}

static void
stage_destroy(DestReceiver *self)
{
}

/* the relation name holds n rows, wherever q reads it */
static void
set_enrtuples(Query *q, const char *name, double n)
{
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_NAMEDTUPLESTORE && strcmp(rte->enrname, name) == 0)
			rte->enrtuples = n;
		else if (rte->rtekind == RTE_SUBQUERY)
			set_enrtuples(rte->subquery, name, n);
	}
}

/* a relation of stage 2, registered in env */
static void
add_enr(QueryEnvironment *env, Query *q, const char *name, TupleDesc desc,
		Tuplestorestate *rows)
{
	EphemeralNamedRelation enr = palloc0(sizeof(EphemeralNamedRelationData));

	/* the number of rows, for the planner */
	set_enrtuples(q, name, tuplestore_tuple_count(rows));
	enr->md.name = pstrdup(name);
	enr->md.reliddesc = InvalidOid;
	enr->md.tupdesc = desc;
	enr->md.enrtype = ENR_NAMED_TUPLESTORE;
	enr->md.enrtuples = tuplestore_tuple_count(rows);
	enr->reldata = rows;
	register_ENR(env, enr);
}

/* has a stream beside stage 1 rows of the windows made final (stage_side.c)? */
bool
pgs_stage_side_rows(CqDef *cq)
{
	ListCell   *lc;

	foreach(lc, cq->stage_sides)
	{
		CqStageSide *side = lfirst(lc);

		if (side->rows != NULL && tuplestore_tuple_count(side->rows) > 0)
			return true;
	}
	return false;
}

/*
 * Stage 2 over stage 1's final rows (in rowdesc's form): the levels
 * above the aggregation, planned and run in the batch's transaction.
 * Returns their output rows, the view's, in *outdesc's form.
 */
Tuplestorestate *
pgs_stage_run(CqDef *cq, Tuplestorestate *rows, TupleDesc rowdesc, TupleDesc *outdesc)
{
	Query	   *q = copyObject(cq->stage_query);
	QueryEnvironment *env = create_queryEnv();
	StageReceiver dest;
	PlannedStmt *plan;
	QueryDesc  *qd;
	ListCell   *lc;

	add_enr(env, q, STAGE_ENR, rowdesc, rows);
	/* the rows of the streams beside it, of the same windows (stage_side.c) */
	foreach(lc, cq->stage_sides)
	{
		CqStageSide *side = lfirst(lc);
		Relation	rel = table_open(side->relid, AccessShareLock);

		if (side->rows == NULL)
			side->rows = tuplestore_begin_heap(false, false, work_mem);
		add_enr(env, q, side->enrname, CreateTupleDescCopy(RelationGetDescr(rel)), side->rows);
		table_close(rel, AccessShareLock);
	}

	memset(&dest, 0, sizeof(dest));
	dest.pub.receiveSlot = stage_receive;
	dest.pub.rStartup = stage_startup;
	dest.pub.rShutdown = stage_shutdown;
	dest.pub.rDestroy = stage_destroy;
	dest.pub.mydest = DestNone;
	dest.out = tuplestore_begin_heap(false, false, work_mem);

	plan = pg_plan_query(q, "pg_stream stage", 0, NULL);
	qd = CreateQueryDesc(plan, "pg_stream stage", GetActiveSnapshot(), InvalidSnapshot,
						 &dest.pub, NULL, env, 0);
	ExecutorStart(qd, 0);
	ExecutorRun(qd, ForwardScanDirection, 0, true);
	*outdesc = CreateTupleDescCopy(qd->tupDesc);
	ExecutorFinish(qd);
	ExecutorEnd(qd);
	FreeQueryDesc(qd);
	unregister_ENR(env, STAGE_ENR);
	foreach(lc, cq->stage_sides)
	{
		CqStageSide *side = lfirst(lc);

		unregister_ENR(env, side->enrname);
		tuplestore_end(side->rows);
		side->rows = NULL;
	}
	return dest.out;
}
