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
 * or a filter of its rows, with any number of such levels.
 *
 * The query is split in two stages at the aggregation that reads the
 * stream (x above, the deepest aggregation of the chain of single
 * subqueries that leads from the view's query to the stream):
 *
 *	- stage 1, x, is the view's CqDef: analysed, planned, merged,
 *	  evicted and dumped exactly as an aggregation of its own
 *	  (engine/analyze.c, merge.c; its state table is the view's), except
 *	  that its rows are not the view's rows;
 *	- stage 2 is the view's query with x replaced by an ephemeral named
 *	  relation (a tuplestore, as a trigger's transition table): the
 *	  levels above x, planned and run by PostgreSQL's own planner and
 *	  executor, in the batch's transaction, over the rows of the windows
 *	  the batch made final. Its output goes into the view, its copy of
 *	  the final rows and the sink (merge.c), once.
 *
 * Analysis (pgs_stage_check) makes sure stage 2 gets whole windows:
 * every level above x that has window functions partitions each of them
 * by x's window column (passed up unchanged, as a plain column, level by
 * level), every level that aggregates groups by it, and the window
 * functions are the ranking ones (row_number, rank, dense_rank), whose
 * result over a whole partition is that of the batch query. The mode is
 * append (the default of such a view; update and complete would show
 * windows before they are whole). What is refused, with a hint: outer
 * windows coarser than the inner one (stream.tumble(x.w, '5 minutes'),
 * which would need a state of their own), other window functions,
 * DISTINCT, ORDER BY, LIMIT, joins above x, and retention (the view need
 * not keep the window column).
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

#include "catalog/pg_type.h"
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
#include "utils/snapmgr.h"

/* the name of the relation that stands for stage 1's rows in stage 2 */
#define STAGE_ENR "pgs_stage_rows"

/* does this range entry (or what it reads) read a stream? */
static bool
rte_reads_stream(RangeTblEntry *rte)
{
	if (rte->rtekind == RTE_SUBQUERY)
		return pgs_query_streams(rte->subquery) != NIL;
	return false;
}

/*
 * The range entry of the one relation a level reads in FROM, or 0. (The
 * query of a view's rule has two more, OLD and NEW, in PostgreSQL 15.)
 */
static Index
level_rtindex(Query *q)
{
	if (q->jointree == NULL || list_length(q->jointree->fromlist) != 1 ||
		!IsA(linitial(q->jointree->fromlist), RangeTblRef))
		return 0;
	return ((RangeTblRef *) linitial(q->jointree->fromlist))->rtindex;
}

/* the one subquery a level reads, or NULL if it reads anything else too */
static Query *
single_subquery(Query *q)
{
	Index		rti = level_rtindex(q);
	RangeTblEntry *rte;

	if (rti == 0)
		return NULL;
	rte = rt_fetch(rti, q->rtable);
	if (rte->rtekind != RTE_SUBQUERY || !rte_reads_stream(rte) || rte->lateral)
		return NULL;
	return rte->subquery;
}

static bool
aggregates(Query *q)
{
	return q->hasAggs || q->groupClause != NIL || q->havingQual != NULL;
}

/*
 * Split a view's query at the aggregation that feeds it: the deepest
 * aggregation of the chain of levels that each read one subquery, when
 * it is not the query itself. Returns it (stage 1), or NULL if the query
 * is no such chain; *above gets the levels above it (stage 2), with its
 * range entry replaced by the stage's relation.
 */
Query *
pgs_stage_split(Query *query, Query **above)
{
	Query	   *q = query;
	Query	   *inner = NULL;
	Query	   *parent_of_inner = NULL;
	Query	   *sub;
	Query	   *copy;
	RangeTblEntry *rte;
	List	   *names = NIL;
	ListCell   *lc;
	int			depth = 0,
				inner_depth = -1;

	/* the deepest aggregating level below the top */
	while ((sub = single_subquery(q)) != NULL)
	{
		depth++;
		if (aggregates(sub))
		{
			inner = sub;
			parent_of_inner = q;
			inner_depth = depth;
		}
		q = sub;
	}
	if (inner == NULL)
		return NULL;
	(void) parent_of_inner;

	/* the levels above, reading the stage's rows */
	copy = copyObject(query);
	q = copy;
	for (int d = 1; d < inner_depth; d++)
		q = rt_fetch(level_rtindex(q), q->rtable)->subquery;
	rte = makeNode(RangeTblEntry);
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
	list_nth_cell(q->rtable, level_rtindex(q) - 1)->ptr_value = rte;
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

/* is e, among this level's columns named by these clauses, the window var? */
static bool
clauses_hold(List *clauses, List *tlist, Var *wvar)
{
	ListCell   *lc;

	foreach(lc, clauses)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), tlist);

		if (equal(tle->expr, wvar))
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
	char	   *nsp;
	Const	   *c;

	if (e == NULL || !IsA(e, FuncExpr) || list_length(f->args) < 2)
		return false;
	nsp = get_namespace_name(get_func_namespace(f->funcid));
	if (nsp == NULL || strcmp(nsp, PG_STREAM_SCHEMA) != 0 ||
		strcmp(get_func_name(f->funcid), "tumble") != 0)
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
 * nest (the outer size a multiple of the inner, one origin). The inner
 * aggregation then keeps its groups until then (pgs_finalize_windows
 * evicts by the outer window), while rows of a final inner window are
 * still late. Returns the outer window's key, or NULL if the level has
 * none.
 */
static Node *
coarser_window(Query *q, Var *wvar, const char *wname, CqDef *cq)
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

		if (!is_tumble((Node *) tle->expr, &arg, &size, &origin) || !equal(arg, wvar))
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
		if (size <= isize || size % isize != 0 || origin != iorigin)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the outer window must hold whole inner windows"),
					 errdetail("Its size must be a multiple of the inner window's, larger, with the same origin: an inner row is then final before its outer window is, and never late for it."),
					 errhint("Use a multiple of the inner window's size, and the same origin.")));
		cq->stage_window_size = size;
		cq->stage_window_origin = origin;
		return (Node *) tle->expr;
	}
	return NULL;
}

/*
 * The levels above stage 1, from the bottom up: refuse what would mix
 * rows of two windows, or could not be computed over one batch's final
 * windows. Returns the level's window, as its own expression (wvar, or an
 * outer window over it), or NULL.
 */
static Node *
check_level(Query *q, Var *wvar, const char *wname, CqDef *cq)
{
	Node	   *win = (Node *) wvar;

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
	if (wvar == NULL && (q->hasWindowFuncs || aggregates(q)))
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

			if (!clauses_hold(wc->partitionClause, q->targetList, wvar))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a window function over a windowed aggregation must be partitioned by the window"),
						 errdetail("A window is computed when it is final, alone: a partition must not span two windows."),
						 errhint("Write OVER (PARTITION BY %s ORDER BY ...).", wname)));
		}
	}
	if (aggregates(q) && !clauses_hold(q->groupClause, q->targetList, wvar) &&
		(win = coarser_window(q, wvar, wname, cq)) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("an aggregation over a windowed aggregation must group by its window"),
				 errdetail("A window is aggregated when it is final, alone, or with the other windows of a coarser tumbling window."),
				 errhint("Group by %s itself, or by stream.tumble(%s, <a multiple of its size>).",
						 wname, wname)));
	return win;
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
	List	   *levels = NIL;
	Query	   *q = top;
	Var		   *wvar = NULL;
	const char *wname = "the window";
	TargetEntry *wtle;
	ListCell   *lcl;

	if (cq->window_key < 0 && cq->session_col == 0)
		pgs_reject("aggregation inside a derived stream or subquery",
				   "Aggregate in the continuous view itself, over a derived stream that only projects and filters.");
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
	/* the levels, bottom (the one reading the stage's rows) first */
	for (;;)
	{
		RangeTblEntry *rte = rt_fetch(level_rtindex(q), q->rtable);

		levels = lcons(q, levels);
		if (rte->rtekind == RTE_NAMEDTUPLESTORE)
			break;
		q = rte->subquery;
	}
	/* stage 1's window column, as the bottom level reads it */
	wtle = get_tle_by_resno(cq->query->targetList, cq->key_viewcols[cq->window_key]);
	wname = wtle->resname ? wtle->resname : wname;
	wvar = makeVar(level_rtindex(linitial(levels)), wtle->resno, exprType((Node *) wtle->expr),
				   exprTypmod((Node *) wtle->expr), exprCollation((Node *) wtle->expr), 0);
	foreach(lcl, levels)
	{
		Query	   *lv = lfirst(lcl);
		ListCell   *lc;
		Var		   *up = NULL;
		Node	   *win = check_level(lv, wvar, wname, cq);

		/* the window column as the level above reads it, if passed on */
		if (win && lnext(levels, lcl) != NULL)
			foreach(lc, lv->targetList)
			{
				TargetEntry *tle = lfirst(lc);

				if (!tle->resjunk && equal(tle->expr, win))
				{
					up = makeVar(level_rtindex(lfirst(lnext(levels, lcl))),
								 tle->resno, wvar->vartype, wvar->vartypmod,
								 wvar->varcollid, 0);
					break;
				}
			}
		wvar = up;
	}
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

	ExecCheckRTPerms(plan->rtable, true);
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

/*
 * Stage 2 over stage 1's final rows (in rowdesc's form): the levels
 * above the aggregation, planned and run in the batch's transaction.
 * Returns their output rows, the view's, in *outdesc's form.
 */
Tuplestorestate *
pgs_stage_run(CqDef *cq, Tuplestorestate *rows, TupleDesc rowdesc, TupleDesc *outdesc)
{
	Query	   *q = copyObject(cq->stage_query);
	Query	   *lv = q;
	QueryEnvironment *env = create_queryEnv();
	EphemeralNamedRelation enr = palloc0(sizeof(EphemeralNamedRelationData));
	StageReceiver dest;
	PlannedStmt *plan;
	QueryDesc  *qd;

	/* the number of rows, for the planner */
	for (;;)
	{
		RangeTblEntry *rte = rt_fetch(level_rtindex(lv), lv->rtable);

		if (rte->rtekind == RTE_NAMEDTUPLESTORE)
		{
			rte->enrtuples = tuplestore_tuple_count(rows);
			break;
		}
		lv = rte->subquery;
	}
	enr->md.name = STAGE_ENR;
	enr->md.reliddesc = InvalidOid;
	enr->md.tupdesc = rowdesc;
	enr->md.enrtype = ENR_NAMED_TUPLESTORE;
	enr->md.enrtuples = tuplestore_tuple_count(rows);
	enr->reldata = rows;
	register_ENR(env, enr);

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
	return dest.out;
}
