/*-------------------------------------------------------------------------
 *
 * analyze.c
 *	  What a continuous query is made of, and what it may not contain.
 *
 * A continuous view's definition is the materialized view's own query
 * (its _RETURN rule), rewritten so that derived streams (plain views over
 * streams) are expanded. From it this file derives, once at CREATE and
 * again whenever a worker loads the query:
 *
 *	- the streams it reads;
 *	- for an aggregation, the per-batch query: the same FROM / WHERE /
 *	  GROUP BY, with a target list of the group keys followed by each
 *	  distinct aggregate, planned normally and then switched to partial
 *	  aggregation (see pgs_plan_batch); and the "final" target list and
 *	  HAVING, rewritten to read the keys and the aggregates' final values
 *	  from a slot (keys..., finals...);
 *	- the output mode;
 *	- event time: the streams read with a watermark, the group key that is
 *	  a window over their event time (engine/eventtime.c), and whether
 *	  final windows are evicted.
 *
 * Everything that cannot be maintained one batch at a time is refused
 * here with an error naming the construct and a hint.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "sources/sources.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "jit/jit.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "optimizer/planner.h"
#include "optimizer/prep.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rewriteManip.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

/*------------------------------------------------------------------------
 * Finding the streams
 *------------------------------------------------------------------------
 */
typedef struct StreamWalk
{
	List	   *streams;		/* distinct OIDs */
	int			nrefs;			/* references, with repeats */
	bool		in_sublink;		/* a stream read inside a sub-SELECT expr */
	int			sublink_depth;
} StreamWalk;

static bool
stream_walker(Node *node, StreamWalk *w)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && pgs_is_stream_relation(rte->relid))
		{
			w->streams = list_append_unique_oid(w->streams, rte->relid);
			w->nrefs++;
			if (w->sublink_depth > 0)
				w->in_sublink = true;
		}
		return false;
	}
	if (IsA(node, SubLink))
	{
		bool		r;

		w->sublink_depth++;
		r = expression_tree_walker(node, stream_walker, w);
		w->sublink_depth--;
		return r;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, stream_walker, w,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, stream_walker, w);
}

/* The streams a (rewritten) query reads */
List *
pgs_query_streams(Query *query)
{
	StreamWalk	w;

	memset(&w, 0, sizeof(w));
	stream_walker((Node *) query, &w);
	return w.streams;
}

static bool
contains_stream(Node *node)
{
	StreamWalk	w;

	memset(&w, 0, sizeof(w));
	stream_walker(node, &w);
	return w.streams != NIL;
}

/* Does any of these range-table entries read a stream, at any depth? */
static bool
rtes_contain_stream(List *rtes)
{
	ListCell   *lc;

	foreach(lc, rtes)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION && pgs_is_stream_relation(rte->relid))
			return true;
		if (rte->rtekind == RTE_SUBQUERY && contains_stream((Node *) rte->subquery))
			return true;
	}
	return false;
}

/*------------------------------------------------------------------------
 * Refusing what cannot be maintained
 *------------------------------------------------------------------------
 */
void
pgs_reject(const char *construct, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s is not supported in a continuous view", construct),
			 hint ? errhint("%s", hint) : 0));
}

/* A subquery (derived stream, FROM subquery) that reads a stream */
static void
check_stream_subquery(Query *q)
{
	if (q->hasAggs || q->groupClause || q->havingQual)
		pgs_reject("aggregation inside a derived stream or subquery",
			   "Aggregate in the continuous view itself, over a derived stream that only projects and filters.");
	if (q->hasWindowFuncs)
		pgs_reject("a window function over a stream",
			   "Window functions need the whole input; use GROUP BY with stream.tumble() instead.");
	if (q->limitCount || q->limitOffset)
		pgs_reject("LIMIT or OFFSET over a stream", NULL);
	/* DISTINCT: see engine/dedup.c */
	{
		ListCell   *lc;

		foreach(lc, q->cteList)
			if (contains_stream(((CommonTableExpr *) lfirst(lc))->ctequery))
				pgs_reject("a WITH query that reads a stream",
						   "Use a subquery in FROM or a derived stream (CREATE VIEW) instead.");
	}
	if (q->setOperations)
		pgs_union_check(q);		/* UNION ALL of streams: engine/union.c */
}

static void check_joins(Node *node, Query *q);

static void
check_rtable(List *rtable)
{
	ListCell   *lc;

	foreach(lc, rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_SUBQUERY && contains_stream((Node *) rte->subquery))
		{
			check_stream_subquery(rte->subquery);
			check_joins((Node *) rte->subquery->jointree, rte->subquery);
			check_rtable(rte->subquery->rtable);
		}
	}
}

/* A stream on the nullable side of an outer join: refused */
static void
check_joins(Node *node, Query *q)
{
	if (node == NULL)
		return;
	if (IsA(node, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) node)->fromlist)
			check_joins(lfirst(lc), q);
	}
	else if (IsA(node, JoinExpr))
	{
		JoinExpr   *j = (JoinExpr *) node;
		bool		lstream,
					rstream;
		List	   *lrels = NIL,
				   *rrels = NIL;
		int			rti;

		/* which side holds a stream? collect the side's range entries */
		rti = -1;
		{
			Relids		l = get_relids_in_jointree(j->larg, false);
			Relids		r = get_relids_in_jointree(j->rarg, false);

			while ((rti = bms_next_member(l, rti)) >= 0)
				lrels = lappend(lrels, rt_fetch(rti, q->rtable));
			rti = -1;
			while ((rti = bms_next_member(r, rti)) >= 0)
				rrels = lappend(rrels, rt_fetch(rti, q->rtable));
		}
		lstream = rtes_contain_stream(lrels);
		rstream = rtes_contain_stream(rrels);
		if (((j->jointype == JOIN_LEFT && rstream) ||
			 (j->jointype == JOIN_RIGHT && lstream) ||
			 (j->jointype == JOIN_FULL && (lstream || rstream))) &&
			!pgs_join_allows_nullable(q, j))
		{
			if (lstream && rstream)
				pgs_reject("an outer join of two streams through derived streams, subqueries or other joins",
					   "Outer-join the two streams themselves, directly: FROM a LEFT JOIN b ON ...; filter and join tables around that join.");
			pgs_reject("a stream on the nullable side of an outer join with a table",
				   "Write the stream on the preserved side: stream LEFT JOIN table.");
		}
		check_joins(j->larg, q);
		check_joins(j->rarg, q);
	}
}

static bool
contains_aggref_walker(Node *node, void *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Aggref))
		return true;
	return expression_tree_walker(node, contains_aggref_walker, ctx);
}

/*
 * Window functions with a constant size are checked at CREATE, not at the
 * first batch: stream.tumble(ts, '1 month') fails when it is created.
 */
static bool
check_windows_walker(Node *node, void *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *f = (FuncExpr *) node;

		if (pgs_is_stream_function(f->funcid, "tumble") ||
			pgs_is_stream_function(f->funcid, "hop"))
		{
			ListCell   *lc;

			/* the size, and hop's slide */
			for_each_from(lc, f->args, 1)
			{
				Const	   *c = lfirst(lc);

				if (IsA(c, Const) && c->consttype == INTERVALOID && !c->constisnull)
					(void) pgs_window_size_usecs(DatumGetIntervalP(c->constvalue));
			}
		}
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, check_windows_walker, ctx,
								 QTW_EXAMINE_RTES_BEFORE);
	if (IsA(node, RangeTblEntry))
		return false;			/* its functions are walked as expressions */
	return expression_tree_walker(node, check_windows_walker, ctx);
}

/*------------------------------------------------------------------------
 * Aggregates
 *------------------------------------------------------------------------
 */
/*
 * The batch query's ORDER BY: its groups sorted by their keys in the
 * order of the state's unique index on them (each key's type's default
 * btree operator class, its collation, NULLS LAST), so the merge reads
 * the state in key order (engine/merge.c). NIL if some key has no such
 * order (the merge then looks each group up on its own).
 */
static List *
batch_sort(Query *query, int nkeys)
{
	List	   *sort = NIL;
	ListCell   *lc;

	if (nkeys == 0)
		return NIL;
	foreach(lc, query->groupClause)
	{
		SortGroupClause *gc = lfirst(lc);
		TargetEntry *tle = get_sortgroupclause_tle(gc, query->targetList);
		Oid			type = exprType((Node *) tle->expr);
		Oid			opclass = GetDefaultOpClass(type, BTREE_AM_OID);
		Oid			opcintype;
		SortGroupClause *sc;

		if (!OidIsValid(opclass) || !OidIsValid(gc->sortop))
			return NIL;
		opcintype = get_opclass_input_type(opclass);
		if (get_opfamily_member(get_opclass_family(opclass), opcintype, opcintype,
								BTLessStrategyNumber) != gc->sortop)
			return NIL;
		sc = copyObject(gc);
		sc->nulls_first = false;
		sort = lappend(sort, sc);
	}
	return sort;
}

static List *
collect_aggrefs(Node *node, List *found)
{
	List	   *vars = pull_var_clause(node, PVC_INCLUDE_AGGREGATES |
									   PVC_RECURSE_PLACEHOLDERS |
									   PVC_RECURSE_WINDOWFUNCS);
	ListCell   *lc;

	foreach(lc, vars)
	{
		Node	   *n = lfirst(lc);

		if (!IsA(n, Aggref))
			continue;
		if (!list_member(found, n))
			found = lappend(found, n);
	}
	return found;
}

/*
 * batchfn: the aggregate the batch runs, pg_stream's own for a list
 * aggregate (engine/listagg.c), whose support functions these are.
 */
static CqAgg *
check_aggregate(Aggref *aggref, Oid batchfn)
{
	CqAgg	   *a = palloc0(sizeof(CqAgg));
	HeapTuple	tup;
	Form_pg_aggregate agg;
	char	   *name = format_procedure(aggref->aggfnoid);

	if (aggref->agglevelsup > 0)
		pgs_reject("an outer-level aggregate", NULL);
	if (aggref->aggkind != AGGKIND_NORMAL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ordered-set aggregate %s is not supported in a continuous view", name),
				 errhint("Only aggregates with a combine function can be maintained one batch at a time.")));

	if (aggref->aggorder)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ORDER BY in aggregate %s is not supported in a continuous view", name),
				 errhint("Only order-insensitive aggregates can be maintained one batch at a time.")));
	tup = SearchSysCache1(AGGFNOID, ObjectIdGetDatum(batchfn));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for aggregate %u", batchfn);
	agg = (Form_pg_aggregate) GETSTRUCT(tup);
	if (!OidIsValid(agg->aggcombinefn))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("aggregate %s is not supported in a continuous view", name),
				 errdetail("It has no combine function, so the states of two batches cannot be merged."),
				 errhint("Use an aggregate that has a COMBINEFUNC, or define one with CREATE AGGREGATE ... (COMBINEFUNC = ...).")));
	if (agg->aggtranstype == INTERNALOID &&
		(!OidIsValid(agg->aggserialfn) || !OidIsValid(agg->aggdeserialfn)))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("aggregate %s is not supported in a continuous view", name),
				 errdetail("Its state is of type internal and it has no serialization functions, so the state cannot be stored."),
				 errhint("Define SERIALFUNC and DESERIALFUNC for the aggregate.")));

	a->aggref = aggref;
	{
		bool		isnull;
		Datum		d = SysCacheGetAttr(AGGFNOID, tup, Anum_pg_aggregate_agginitval,
										&isnull);

		a->initval = isnull ? NULL : TextDatumGetCString(d);
	}
	a->combinefn = agg->aggcombinefn;
	a->serialfn = agg->aggserialfn;
	a->deserialfn = agg->aggdeserialfn;
	a->finalfn = agg->aggfinalfn;
	a->numFinalArgs = agg->aggfinalextra ? list_length(aggref->args) + 1 : 1;
	a->resulttype = aggref->aggtype;
	/* transtype: resolved when the batch query is planned */
	a->transtype = agg->aggtranstype;
	ReleaseSysCache(tup);
	return a;
}

/*------------------------------------------------------------------------
 * The final target list: keys and aggregates read from a slot
 *------------------------------------------------------------------------
 */
typedef struct FinalCtx
{
	List	   *keyexprs;
	List	   *aggrefs;
	int			nkeys;
} FinalCtx;

static Node *
final_mutator(Node *node, FinalCtx *ctx)
{
	ListCell   *lc;
	int			i;

	if (node == NULL)
		return NULL;
	i = 0;
	foreach(lc, ctx->keyexprs)
	{
		Node	   *k = lfirst(lc);

		i++;
		if (equal(node, k))
			return (Node *) makeVar(1, i, exprType(k), exprTypmod(k),
									exprCollation(k), 0);
	}
	if (IsA(node, Aggref))
	{
		i = 0;
		foreach(lc, ctx->aggrefs)
		{
			i++;
			if (equal(node, lfirst(lc)))
				return (Node *) makeVar(1, ctx->nkeys + i, exprType(node),
										exprTypmod(node), exprCollation(node), 0);
		}
		elog(ERROR, "aggregate not found in continuous view");
	}
	if (IsA(node, Var))
		elog(ERROR, "ungrouped column in the output of a continuous view");
	return expression_tree_mutator(node, final_mutator, ctx);
}

/*------------------------------------------------------------------------
 * Event time
 *------------------------------------------------------------------------
 */

/* the streams read with event time and a watermark delay */
static List *
watermarked_streams(List *streams, CqOptions *opts)
{
	List	   *result = NIL;
	bool		any_event_time = false;
	ListCell   *lc;

	foreach(lc, streams)
	{
		Oid			relid = lfirst_oid(lc);
		CqTime	   *t = palloc0(sizeof(CqTime));
		bool		has_delay;

		t->relid = relid;
		if (!pgs_stream_event_time(relid, &t->attno, &t->typid, &t->delay, &has_delay))
			continue;
		any_event_time = true;
		if (opts->has_watermark)
			t->delay = opts->watermark_usecs;
		else if (!has_delay)
			continue;
		result = lappend(result, t);
	}
	if (opts->has_watermark && !any_event_time)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"watermark\" needs a stream with event time"),
				 errdetail("A watermark is the latest event time seen minus a delay; no stream this view reads names its event-time column."),
				 errhint("Name it: ALTER FOREIGN TABLE <stream> OPTIONS (ADD event_time '<column>').")));
	return result;
}

/* count(*): how many rows went into a group of a batch */
static Aggref *
make_count_star(void)
{
	Aggref	   *a = makeNode(Aggref);

	a->aggfnoid = F_COUNT_;
	a->aggtype = INT8OID;
	a->aggstar = true;
	a->aggkind = AGGKIND_NORMAL;
	a->aggsplit = AGGSPLIT_SIMPLE;
	a->location = -1;
	return a;
}

/*
 * A window over the event time of stream relid, in a view that may join
 * two streams: rows of a join still arrive for windows up to the side's
 * lag behind the watermark, so the windows are final that much later;
 * over a side whose rows never expire, never.
 */
static bool
window_over_join(CqDef *cq, Oid relid)
{
	if (cq->join == NULL)
		return true;
	for (int k = 0; k < cq->join->nsides; k++)
	{
		CqJoinSide *s = &cq->join->side[k];

		if (s->relid == relid && s->bounds != NIL)
		{
			cq->window_lag = s->lag;
			return true;
		}
	}
	return false;
}

/*
 * Can rows of the join come out NULL-padded for stream relid: an outer
 * join may write a row without it (then its window is NULL)?
 */
static bool
join_pads_stream(CqJoin *j, Oid relid)
{
	for (int k = 0; k < j->nsides; k++)
	{
		if (j->side[k].relid != relid)
			continue;
		if (j->stacked && j->side[k].padded)
			return true;
		for (int i = 0; i < j->nsides; i++)
		{
			if (i == k)
				continue;
			if (j->stacked ? (j->side[i].full && j->side[i].anchor == k) : j->side[i].preserved)
				return true;
		}
	}
	return false;
}

/*
 * Rows padded for the window's stream have no window (NULL), which is
 * never final: append mode would never write them. Refused.
 */
void
pgs_check_append_padded(CqDef *cq)
{
	if (cq->mode == OUTPUT_APPEND && cq->window_key >= 0 && cq->join &&
		join_pads_stream(cq->join, cq->window_relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("output mode \"append\" would never write the rows that the outer join NULL-pads for stream \"%s\"",
						get_rel_name(cq->window_relid)),
				 errdetail("The view's window is over that stream's event time: a row without the stream has a NULL window, which is never final."),
				 errhint("Group by a window over the event time of a stream the join never NULL-pads (its preserved side), or use output_mode 'update', whose NULL window holds those rows.")));
}

/*------------------------------------------------------------------------
 * Analysis
 *------------------------------------------------------------------------
 */
CqDef *
pgs_analyze_cq(Query *query, Oid viewid, CqOptions *opts, bool for_create)
{
	CqDef	   *cq = palloc0(sizeof(CqDef));
	StreamWalk	w;
	ListCell   *lc;
	bool		is_union;

	cq->viewid = viewid;
	cq->query = query;
	cq->opts = *opts;

	memset(&w, 0, sizeof(w));
	stream_walker((Node *) query, &w);
	cq->streams = w.streams;
	if (w.streams == NIL)
		elog(ERROR, "continuous view reads no stream");

	/*
	 * A query over a windowed aggregation (window top-N, an aggregation
	 * per window): the aggregation is the view's CqDef, the levels above
	 * run over the windows it makes final (engine/stage.c).
	 */
	{
		Query	   *above = NULL;
		List	   *sides = NIL;
		Query	   *inner = pgs_stage_split(query, &above, &sides);

		if (inner != NULL)
		{
			CqOptions	o = *opts;

			/* analysed as evicting windows; append mode is checked after */
			o.output_mode = OUTPUT_UPDATE;
			pfree(cq);
			cq = pgs_analyze_cq(inner, viewid, &o, for_create);
			cq->opts.output_mode = opts->output_mode;	/* as given */
			cq->stage_query = above;
			cq->stage_sides = sides;
			pgs_stage_check(cq, above);
			if (for_create)
				pgs_stage_check_perms(cq);
			cq->mode = cq->stage_update ? OUTPUT_UPDATE : OUTPUT_APPEND;
			return cq;
		}
	}
	is_union = pgs_union_analyze(query);	/* any number, through UNION ALL */
	/* streams each once; or one twice, a self-join (engine/join_analyze.c) */
	if (!is_union && (list_length(w.streams) > PGS_JOIN_MAX_SIDES ||
		(w.nrefs > list_length(w.streams) && !(list_length(w.streams) == 1 && w.nrefs == 2))))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a continuous view can read at most %d streams, each once, or one stream twice",
						PGS_JOIN_MAX_SIDES),
				 errhint("Join different streams, or a stream with itself, and any number of tables; to read a stream more often, chain views: a view's sink can be a stream.")));
	if (w.in_sublink)
		pgs_reject("a stream inside a sub-SELECT expression",
			   "Read the stream in FROM.");

	/* the top level */
	if (query->commandType != CMD_SELECT)
		pgs_reject("a data-modifying statement", NULL);
	if (query->hasModifyingCTE)
		pgs_reject("a data-modifying WITH", NULL);
	if (query->hasRecursive)
		pgs_reject("WITH RECURSIVE", NULL);
	if (query->hasWindowFuncs)
		pgs_reject("a window function",
			   "Window functions need the whole input; use GROUP BY with stream.tumble() instead.");
	if (query->limitCount || query->limitOffset)
		pgs_reject("LIMIT or OFFSET",
			   "Apply LIMIT when reading the view: SELECT ... FROM view ORDER BY ... LIMIT n.");
	if (query->sortClause)
		pgs_reject("ORDER BY",
			   "A view is a table and has no order; apply ORDER BY when reading the view.");
	if (query->setOperations)
		pgs_union_check(query); /* the view itself a UNION ALL */
	if (query->groupingSets)
		pgs_reject("GROUPING SETS, ROLLUP or CUBE", NULL);
	if (query->rowMarks)
		pgs_reject("FOR UPDATE or FOR SHARE", NULL);
	foreach(lc, query->cteList)
	{
		CommonTableExpr *cte = lfirst(lc);

		if (contains_stream(cte->ctequery))
			pgs_reject("a WITH query that reads a stream",
				   "Use a subquery in FROM or a derived stream (CREATE VIEW) instead.");
	}
	check_rtable(query->rtable);
	check_joins((Node *) query->jointree, query);
	check_windows_walker((Node *) query, NULL);
	cq->wm_streams = watermarked_streams(cq->streams, opts);
	cq->window_key = -1;
	if (is_union)
		pgs_union_watermarks(cq);
	else if (list_length(cq->streams) >= 2 || w.nrefs == 2)
		cq->join = pgs_analyze_join(query, cq->streams, cq->wm_streams, for_create);
	/* DISTINCT and DISTINCT ON, here and in subqueries: first-seen filters */
	pgs_dedup_rewrite(cq, query);

	cq->is_agg = query->hasAggs || query->groupClause != NIL;
	cq->mode = opts->output_mode;

	if (!cq->is_agg)
	{
		if (cq->mode == OUTPUT_COMPLETE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("output mode \"complete\" needs an aggregation"),
					 errhint("Without GROUP BY or aggregates every row is final: use output_mode 'append' (the default).")));
		if (cq->mode == OUTPUT_DEFAULT || cq->mode == OUTPUT_UPDATE)
			cq->mode = OUTPUT_APPEND;
		return cq;
	}

	if (cq->mode == OUTPUT_DEFAULT)
		cq->mode = OUTPUT_UPDATE;
	if (query->hasTargetSRFs)
		pgs_reject("a set-returning function in the select list of an aggregation",
			   "Call it in FROM instead: FROM s, f(s.x) AS y.");

	/* group keys: each must be an output column of the view */
	{
		List	   *keyexprs = NIL;
		List	   *aggrefs = NIL;
		List	   *btl = NIL;
		AttrNumber	resno = 1;
		FinalCtx	fctx;
		int			k = 0;
		Oid			wrelid;

		cq->nkeys = list_length(query->groupClause);
		cq->key_viewcols = palloc0(sizeof(AttrNumber) * Max(cq->nkeys, 1));
		foreach(lc, query->groupClause)
		{
			SortGroupClause *gc = lfirst(lc);
			TargetEntry *tle = get_sortgroupclause_tle(gc, query->targetList);
			TargetEntry *ntle;
			Oid			opclass;

			if (tle->resjunk)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("every GROUP BY expression must be a column of a continuous view"),
						 errdetail("The view keeps one row per group and finds it by its group key."),
						 errhint("Add every GROUP BY expression to the select list.")));
			if (contains_aggref_walker((Node *) tle->expr, NULL))
				pgs_reject("an aggregate in GROUP BY", NULL);
			opclass = GetDefaultOpClass(exprType((Node *) tle->expr), BTREE_AM_OID);
			if (!OidIsValid(opclass))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot group a continuous view by column \"%s\" of type %s",
								tle->resname, format_type_be(exprType((Node *) tle->expr))),
						 errdetail("The type has no default btree operator class, which the view needs to find a group's row."),
						 errhint("Group by an expression of another type, for example a cast to text.")));
			if (cq->window_key < 0 &&
				pgs_window_key(query, (Node *) tle->expr, cq->wm_streams, &cq->window_size,
							   &wrelid) &&
				window_over_join(cq, wrelid))
			{
				cq->window_key = k;
				cq->window_relid = wrelid;
			}
			cq->key_viewcols[k++] = tle->resno;
			keyexprs = lappend(keyexprs, tle->expr);
			ntle = makeTargetEntry(copyObject(tle->expr), resno++,
								   pstrdup(tle->resname), false);
			ntle->ressortgroupref = tle->ressortgroupref;
			btl = lappend(btl, ntle);
		}

		pgs_session_analyze(cq, query);	/* a session window (engine/session.c) */

		aggrefs = collect_aggrefs((Node *) query->targetList, NIL);
		aggrefs = collect_aggrefs(query->havingQual, aggrefs);
		foreach(lc, aggrefs)
		{
			Aggref	   *aggref = lfirst(lc);
			Aggref	   *batchref = copyObject(aggref);
			char		name[32];

			/* a list aggregate runs as pg_stream's own (engine/listagg.c) */
			Oid			batchfn = pgs_listagg_batch_aggregate(aggref, cq->join != NULL);

			cq->aggs = lappend(cq->aggs, check_aggregate(aggref, batchfn));
			/* aggregate(DISTINCT x): of the x first seen in the group */
			if (aggref->aggdistinct)
				(void) pgs_dedup_agg_filter(cq, query, batchref, keyexprs);
			/* after that, which tells the user's aggregate by its OID */
			batchref->aggfnoid = batchfn;
			snprintf(name, sizeof(name), "s%d", foreach_current_index(lc) + 1);
			btl = lappend(btl, makeTargetEntry((Expr *) batchref, resno++, pstrdup(name), false));
		}

		/*
		 * Final windows: in append and update modes, a group whose window
		 * the watermark has passed is final; rows for it are dropped as
		 * late (counted with a count(*) of each group) and its state is
		 * evicted. Complete mode keeps every group, as in Spark.
		 */
		cq->evicts = ((cq->window_key >= 0 || cq->session_wm) &&
					  cq->mode != OUTPUT_COMPLETE);
		if (cq->mode == OUTPUT_APPEND && !cq->evicts)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("output mode \"append\" of an aggregation needs a watermark"),
					 errdetail("In append mode a group's row is written once, when it is final: when the watermark passes the end of its window. %s",
							   cq->wm_streams == NIL ?
							   "No stream this view reads has event time with a watermark." :
							   cq->join ?
							   "No GROUP BY key is a window over the event time of a stream whose rows stop joining: the join condition must bound that stream's event time by the other's." :
							   "No GROUP BY key is a window over the event time."),
					 errhint("Declare event time and a watermark on the stream (OPTIONS (event_time 'ts', watermark '10 minutes')) and group by stream.tumble(ts, ...) or a column of stream.hop(ts, ...); or use output_mode 'update' or 'complete'.")));
		/* (at CREATE and ALTER only: a view made before goes on as it did) */
		if (for_create)
			pgs_check_append_padded(cq);
		if (for_create && !cq->evicts && pgs_listagg_used(cq->aggs))
			ereport(NOTICE,
					(errmsg("a list aggregate keeps each group's whole list, forever"),
					 errdetail("Each batch that touches a group reads and rewrites its list, up to 1 GB; this view evicts no group."),
					 errhint("Group by a window over event time with a watermark, so that the lists of final windows leave the state.")));
		if (for_create && cq->dedups != NIL && !cq->evicts &&
			((CqDedup *) llast(cq->dedups))->kind == DEDUP_AGG)
			ereport(NOTICE,
					(errmsg("a DISTINCT aggregate keeps every distinct value of each group, forever"),
					 errdetail("Its values are evicted with their window's state, and this view evicts none."),
					 errhint("For many distinct values use hll_add_agg() from the hll extension, and hll_cardinality() on the result: an approximate count in a fixed size.")));
		if (cq->evicts)
		{
			btl = lappend(btl, makeTargetEntry((Expr *) make_count_star(), resno,
											   pstrdup("late"), false));
			cq->late_col = resno++;
		}

		/* the per-batch query */
		cq->batch_query = copyObject(query);
		cq->batch_query->targetList = btl;
		cq->batch_query->havingQual = NULL;
		/*
		 * The count(*) of late rows is an aggregate even in a GROUP BY that
		 * has none. Unless told so, the planner would not prepare it (no
		 * transition type: "cache lookup failed for type 0" once it is made
		 * partial) and may plan a Group node, which cannot evaluate it.
		 */
		if (cq->late_col != 0)
			cq->batch_query->hasAggs = true;
		cq->batch_query->sortClause = batch_sort(query, cq->nkeys);
		if (cq->session_col)
			pgs_session_sort(cq);
		cq->sorted_groups = (cq->batch_query->sortClause != NIL);

		/* the final target list and HAVING, over (keys..., finals...) */
		fctx.keyexprs = keyexprs;
		fctx.aggrefs = aggrefs;
		fctx.nkeys = cq->nkeys;
		foreach(lc, query->targetList)
		{
			TargetEntry *tle = lfirst(lc);

			if (tle->resjunk)
				continue;
			cq->final_tlist = lappend(cq->final_tlist,
									  makeTargetEntry((Expr *) final_mutator((Node *) tle->expr, &fctx),
													  tle->resno, tle->resname, false));
		}
		if (query->havingQual)
			cq->final_having = (Expr *) final_mutator(query->havingQual, &fctx);
		/* these are evaluated per group, outside any plan: no sub-SELECT */
		if (checkExprHasSubLink((Node *) cq->final_tlist) ||
			checkExprHasSubLink((Node *) cq->final_having))
			pgs_reject("a sub-SELECT in the select list or HAVING of an aggregation",
				   "Join the table in FROM instead, or compute the value in a derived stream.");
	}
	return cq;
}

/*
 * A node above the Agg (a Sort; a Result that projects the sorted columns,
 * when the target list repeats an aggregate) passes its columns on, as
 * Vars typed at planning with the aggregates' final types: give them the
 * types of what the node below yields, the partial states' at the Agg.
 */
static void
retype_outer_vars(Plan *upper, Plan *lower)
{
	ListCell   *lc;

	foreach(lc, upper->targetlist)
	{
		TargetEntry *tle = lfirst(lc);
		Var		   *var = (Var *) tle->expr;
		TargetEntry *below;

		if (!IsA(var, Var) || var->varno != OUTER_VAR)
			elog(ERROR, "unexpected node above the aggregation of a continuous view");
		below = list_nth(lower->targetlist, var->varattno - 1);
		var->vartype = exprType((Node *) below->expr);
		var->vartypmod = exprTypmod((Node *) below->expr);
		var->varcollid = exprCollation((Node *) below->expr);
	}
}

/*
 * The windows of a row, expanded without a function scan. In
 *	  FROM s, stream.hop(s.ts, size, slide) AS w(window_start)
 * the planner makes a nested loop that, for each row of s, runs the
 * function scan again: it calls stream.hop and puts its windows into a
 * tuplestore, then reads them back (a tenth of a batch of sliding
 * windows, in the profile). The same rows come from the subquery
 *	  (SELECT s.*, stream.hop(s.ts, size, slide) FROM s) AS s
 * where the function is in the target list: a ProjectSet node returns
 * each window as the function yields it, with no tuplestore. An inner
 * join of the stream and the function alike: a row whose windows are
 * none (a NULL ts, or a gap between windows) yields no row, in both.
 *
 * Done to the query planned for a batch only, where its FROM is exactly
 * the stream and stream.hop over the stream's columns: the scan of the
 * stream is the same, inside the subquery (the planner keeps it a
 * subquery: it does not pull up a target list with a set-returning
 * function). Vars of the function's column become the subquery's last
 * column; the function's range table entry stays, out of FROM, as an
 * empty RTE_RESULT.
 */
typedef struct HopVarsContext
{
	Index		fn_rti;			/* the function's entry */
	Index		rel_rti;		/* the stream's, the subquery's after */
	AttrNumber	attno;			/* the subquery's column of the windows */
	int			sublevels_up;
	bool		check;			/* hop_vars_walker: only look */
	bool		others;			/* a Var not of the stream; of the function, not its
								 * column; a whole-row or system column of the stream */
} HopVarsContext;

/* the function's Vars become the subquery's column */
static bool
hop_vars_walker(Node *node, HopVarsContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varlevelsup == ctx->sublevels_up && v->varno == ctx->fn_rti && ctx->check)
			ctx->others |= (v->varattno != 1);
		/*
		 * A whole-row Var of the stream would read the subquery's row,
		 * the windows one column more ("table row type and query-specified
		 * row type do not match"), and a system column has no column of
		 * the subquery: these keep the function scan.
		 */
		else if (v->varlevelsup == ctx->sublevels_up && v->varno == ctx->rel_rti &&
				 ctx->check)
			ctx->others |= (v->varattno <= 0);
		else if (v->varlevelsup == ctx->sublevels_up && v->varno == ctx->fn_rti)
		{
			v->varno = v->varnosyn = ctx->rel_rti;
			v->varattno = v->varattnosyn = ctx->attno;
		}
		return false;
	}
	if (IsA(node, Query))
	{
		bool		r;

		ctx->sublevels_up++;
		r = query_tree_walker((Query *) node, hop_vars_walker, ctx, 0);
		ctx->sublevels_up--;
		return r;
	}
	return expression_tree_walker(node, hop_vars_walker, ctx);
}

/* the function's arguments read the stream's columns only, as Vars of varno 1 after */
static bool
hop_args_walker(Node *node, HopVarsContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varlevelsup != 0 || v->varno != ctx->rel_rti)
			ctx->others = true;
		else
			v->varno = v->varnosyn = 1;
		return false;
	}
	if (IsA(node, Query) || IsA(node, SubLink) || IsA(node, Aggref) ||
		IsA(node, WindowFunc) || IsA(node, PlaceHolderVar))
	{
		ctx->others = true;
		return false;
	}
	return expression_tree_walker(node, hop_args_walker, ctx);
}

static void
hop_as_project_set(Query *q)
{
	RangeTblEntry *rel = NULL;
	RangeTblEntry *fn = NULL;
	RangeTblFunction *rtf;
	HopVarsContext ctx;
	Query	   *sub;
	RangeTblEntry *subrte;
	Node	   *args;
	List	   *tlist = NIL;
	List	   *colnames = NIL;
	Relation	r;
	TupleDesc	desc;
	ListCell   *lc;
	int			i = 0;

	if (q->commandType != CMD_SELECT ||
		q->jointree == NULL || list_length(q->jointree->fromlist) != 2 ||
		q->hasTargetSRFs || q->setOperations != NULL || q->cteList != NIL)
		return;
	memset(&ctx, 0, sizeof(ctx));
	foreach(lc, q->jointree->fromlist)
	{
		RangeTblRef *ref = lfirst(lc);
		RangeTblEntry *rte;

		if (!IsA(ref, RangeTblRef))
			return;
		rte = rt_fetch(ref->rtindex, q->rtable);
		if (rte->rtekind == RTE_RELATION && rte->relkind == RELKIND_FOREIGN_TABLE &&
			rte->tablesample == NULL && rel == NULL)
		{
			rel = rte;
			ctx.rel_rti = ref->rtindex;
		}
		else if (rte->rtekind == RTE_FUNCTION && fn == NULL)
		{
			fn = rte;
			ctx.fn_rti = ref->rtindex;
		}
		else
			return;
		i++;
	}
	if (rel == NULL || fn == NULL || fn->funcordinality || list_length(fn->functions) != 1 ||
		rel->securityQuals != NIL)
		return;
	rtf = linitial(fn->functions);
	if (!IsA(rtf->funcexpr, FuncExpr) || rtf->funccolcount != 1 ||
		!pgs_is_stream_function(((FuncExpr *) rtf->funcexpr)->funcid, "hop") ||
		((FuncExpr *) rtf->funcexpr)->funcretset == false)
		return;
	/* its arguments, over the stream as the subquery's only entry */
	args = copyObject(rtf->funcexpr);
	(void) hop_args_walker(args, &ctx);
	/*
	 * A volatile argument (clock_timestamp(), nextval()) is evaluated once
	 * by a function scan that reads no column of the stream, and once a
	 * row in the target list: other windows.
	 */
	if (contain_volatile_functions(args))
		return;
	/*
	 * A volatile condition on the stream's columns runs at its scan, once
	 * a row; the planner does not push it into the subquery, and above the
	 * ProjectSet it would run once a window.
	 */
	if (contain_volatile_functions(q->jointree->quals))
		return;
	/* and the query reads the function's one column only */
	ctx.check = true;
	(void) query_tree_walker(q, hop_vars_walker, &ctx, 0);
	ctx.check = false;
	if (ctx.others)
		return;

	/* the subquery: the stream's columns, then the windows */
	r = table_open(rel->relid, NoLock);
	desc = RelationGetDescr(r);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Expr	   *e;

		if (att->attisdropped)
			e = (Expr *) makeNullConst(INT4OID, -1, InvalidOid);
		else
			e = (Expr *) makeVar(1, att->attnum, att->atttypid, att->atttypmod,
								 att->attcollation, 0);
		tlist = lappend(tlist, makeTargetEntry(e, i + 1,
											   pstrdup(NameStr(att->attname)), false));
		colnames = lappend(colnames, makeString(pstrdup(NameStr(att->attname))));
	}
	ctx.attno = desc->natts + 1;
	table_close(r, NoLock);
	tlist = lappend(tlist, makeTargetEntry((Expr *) args, ctx.attno, pstrdup("window_start"),
										   false));
	colnames = lappend(colnames, makeString(pstrdup("window_start")));

	sub = makeNode(Query);
	sub->commandType = CMD_SELECT;
	sub->querySource = QSRC_ORIGINAL;
	sub->canSetTag = true;
	sub->rtable = list_make1(copyObject(rel));
	sub->jointree = makeFromExpr(list_make1(makeNode(RangeTblRef)), NULL);
	((RangeTblRef *) linitial(sub->jointree->fromlist))->rtindex = 1;
	sub->targetList = tlist;
	sub->hasTargetSRFs = true;

	subrte = makeNode(RangeTblEntry);
	subrte->rtekind = RTE_SUBQUERY;
	subrte->subquery = sub;
	subrte->alias = NULL;
	subrte->eref = makeAlias(rel->eref->aliasname, colnames);
	subrte->inFromCl = true;
	list_nth_cell(q->rtable, ctx.rel_rti - 1)->ptr_value = subrte;

	/* the function's column is now the subquery's last, and it leaves FROM */
	(void) query_tree_walker(q, hop_vars_walker, &ctx, 0);
	foreach(lc, q->jointree->fromlist)
	{
		if (((RangeTblRef *) lfirst(lc))->rtindex == ctx.fn_rti)
		{
			q->jointree->fromlist = foreach_delete_current(q->jointree->fromlist, lc);
			break;
		}
	}
	/* an entry left out of FROM: make it one that plans and checks nothing */
	fn->rtekind = RTE_RESULT;
	fn->functions = NIL;
	fn->lateral = false;
	fn->inFromCl = false;
}

/*
 * The batch plan without index scans (bitmap scans, which keep no order,
 * remain) and merge joins: for a join of streams whose plan relied on an
 * order above the join that its batches' copies of the join lose, or
 * that engine/join.c cannot tell (an index's; a merge join's key passed
 * on only as the other side's column); a hash or sorted plan then takes
 * its place. Kept for the view's later batches in this process
 * (cq->plan_unordered).
 */
PlannedStmt *
pgs_plan_batch_unordered(CqDef *cq)
{
	int			nestlevel = NewGUCNestLevel();
	PlannedStmt *plan;

	/* undone by AtEOXact_GUC, or on an error by the transaction's abort */
	pgs_guc_set_saved("enable_indexscan", "off");
	pgs_guc_set_saved("enable_indexonlyscan", "off");
	pgs_guc_set_saved("enable_mergejoin", "off");
	plan = pgs_plan_batch(cq);
	AtEOXact_GUC(true, nestlevel);
	pgs_plan_forced_no_jit(plan);
	return plan;
}

/*
 * After planning with some plan types turned off: a node the planner took
 * despite its setting costs disable_cost, which makes the plan look
 * expensive enough for JIT. Compile none for it.
 */
void
pgs_plan_forced_no_jit(PlannedStmt *plan)
{
	if (plan->planTree->total_cost >= disable_cost)
		plan->jitFlags = PGJIT_NONE;
}

/*
 * Plan a batch: the query itself, or for an aggregation the per-batch
 * query with its Agg node switched to partial aggregation
 * (AGGSPLIT_INITIAL_SERIAL), exactly as the planner does below a Gather.
 * Fills in the resolved state types of the aggregates.
 */
PlannedStmt *
pgs_plan_batch(CqDef *cq)
{
	PlannedStmt *plan;
	Plan	   *top;
	Plan	   *sort = NULL;
	Plan	   *result = NULL;
	Agg		   *agg;
	ListCell   *lc;
	int			i;
	bool		listagg = cq->is_agg && pgs_listagg_used(cq->aggs);

	/* no parallel plans: a batch is small and runs in one process */
	if (listagg)
		plan = pgs_listagg_plan(cq->batch_query);	/* in arrival order */
	else
	{
		Query	   *q = copyObject(cq->is_agg ? cq->batch_query : cq->query);

		if (cq->is_agg)
			hop_as_project_set(q);
		plan = pg_plan_query(q, NULL, 0, NULL);
	}
	if (!cq->is_agg)
		return plan;

	/*
	 * The groups sorted after a hashed aggregation: a Sort above it, and
	 * above that a Result when the target list repeats a column (the
	 * count(*) of late rows, say, and the query's own).
	 */
	top = plan->planTree;
	if (IsA(top, Result) && outerPlan(top) && top->qual == NIL &&
		((Result *) top)->resconstantqual == NULL)
	{
		result = top;
		top = outerPlan(top);
	}
	if (IsA(top, Sort) && outerPlan(top) && (IsA(outerPlan(top), Agg) ||
											 IsA(outerPlan(top), Group)))
	{
		sort = top;
		top = outerPlan(top);
	}
	/*
	 * GROUP BY without aggregates may be planned as a Group node: as is.
	 * Not with the count(*) of late rows, which makes it an aggregation.
	 */
	if (IsA(top, Group) && cq->aggs == NIL && cq->late_col == 0)
	{
		cq->planned = true;
		return plan;
	}
	if (!IsA(top, Agg))
		elog(ERROR, "unexpected plan for the aggregation of a continuous view: %d",
			 (int) nodeTag(top));
	agg = (Agg *) top;
	agg->aggsplit = AGGSPLIT_INITIAL_SERIAL;
	i = 0;
	foreach(lc, agg->plan.targetlist)
	{
		TargetEntry *tle = lfirst(lc);

		if (IsA(tle->expr, Aggref))
		{
			Aggref	   *aggref = (Aggref *) tle->expr;
			CqAgg	   *a;

			mark_partial_aggref(aggref, AGGSPLIT_INITIAL_SERIAL);
			if (tle->resno == cq->late_col)
				continue;		/* count(*): int8, the same partial or not */
			a = list_nth(cq->aggs, tle->resno - 1 - cq->nkeys);
			a->transtype = aggref->aggtranstype;
			a->statetype = aggref->aggtype;
			get_typlenbyval(a->transtype, &a->transtyplen, &a->transtypbyval);
			i++;
		}
	}
	if (i != list_length(cq->aggs))
		elog(ERROR, "aggregates of a continuous view not found in its plan");
	if (sort)
		retype_outer_vars(sort, top);
	if (result)
		retype_outer_vars(result, sort ? sort : top);
	if (listagg)
		plan->planTree = pgs_listagg_sort_groups(plan->planTree,
												 cq->batch_query->sortClause);
	cq->planned = true;
	/* HAVING was removed; an Agg qual would be evaluated on partial states */
	if (agg->plan.qual != NIL)
		elog(ERROR, "unexpected qual on the aggregation of a continuous view");
	return plan;
}

/*
 * The definition of a continuous view, from its materialized view's rule.
 */
CqDef *
pgs_load_cq(Oid viewid, List *options)
{
	Relation	rel = table_open(viewid, AccessShareLock);
	Query	   *query = copyObject(get_view_query(rel));
	List	   *rewritten;
	CqOptions	opts;
	CqDef	   *cq;

	Assert(OidIsValid(viewid));
	pgs_parse_options(options, &opts);

	AcquireRewriteLocks(query, true, false);
	rewritten = QueryRewrite(query);
	if (list_length(rewritten) != 1)
		elog(ERROR, "unexpected rewrite result for continuous view \"%s\"",
			 RelationGetRelationName(rel));
	pgs_chain_rewrite_view(linitial(rewritten), viewid);	/* views read: engine/chain.c */
	cq = pgs_analyze_cq(linitial(rewritten), viewid, &opts, false);
	cq->viewname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
											  RelationGetRelationName(rel));
	table_close(rel, NoLock);
	return cq;
}
