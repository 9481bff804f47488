/*-------------------------------------------------------------------------
 *
 * union.c
 *	  UNION ALL of streams, in a derived stream or a subquery in FROM.
 *
 * A batch of a view that reads a UNION ALL of streams is the union of
 * each branch over its stream's batch: a branch adds the rows its stream
 * brought, and nothing else changes, so the view's query runs over the
 * union exactly as over one stream (the planner makes it an Append of
 * the branches' scans). A stream read by two branches gives each the
 * same rows (sources/source.c: a read pointer per scan of the batch
 * plan). What this needs of the analysis is here:
 *
 *	- the branches of a set operation, which must all be UNION ALL and
 *	  each read a stream: a table's branch would have no new rows in a
 *	  batch, and would add its whole contents once, to the first batch
 *	  only (or to every batch), neither of which is the union of the
 *	  inputs so far; UNION, INTERSECT and EXCEPT compare rows across
 *	  batches, and are refused with a hint to UNION ALL + DISTINCT;
 *	- how many stream references are inside unions: a view may read
 *	  any number of streams, any number of times, through one UNION ALL,
 *	  but a union joined with another stream is refused (the join of two
 *	  streams keeps state per stream, not per branch);
 *	- event time: a column of the union is event time when each branch
 *	  passes on its stream's event-time column (engine/eventtime.c). The
 *	  view's watermark is then the least of the streams' (engine/batch.c,
 *	  as for a join), so a window is final only once every branch's
 *	  stream has passed its end; a stream of the union with event time
 *	  but no watermark is refused when another has one, since its rows
 *	  would be windowed by a watermark that does not wait for them.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "sources/sources.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/lsyscache.h"

typedef struct UnionWalk
{
	int			refs;			/* stream references */
	int			union_refs;		/* of which inside a UNION ALL */
	int			unions;			/* outermost unions that read streams */
	int			depth;			/* inside a union */
} UnionWalk;

static bool union_walker(Node *node, UnionWalk *w);

static void
collect_branches(Query *q, Node *n, List **leaves)
{
	if (IsA(n, RangeTblRef))
	{
		RangeTblEntry *rte = rt_fetch(((RangeTblRef *) n)->rtindex, q->rtable);

		if (rte->rtekind == RTE_SUBQUERY)
			*leaves = lappend(*leaves, rte->subquery);
	}
	else if (IsA(n, SetOperationStmt))
	{
		collect_branches(q, ((SetOperationStmt *) n)->larg, leaves);
		collect_branches(q, ((SetOperationStmt *) n)->rarg, leaves);
	}
}

/* The branches (Query *) of set operation q, leftmost first */
List *
pgs_union_branches(Query *q)
{
	List	   *leaves = NIL;

	if (q->setOperations)
		collect_branches(q, q->setOperations, &leaves);
	return leaves;
}

static bool
all_union_all(Node *n)
{
	SetOperationStmt *op;

	if (!IsA(n, SetOperationStmt))
		return true;
	op = (SetOperationStmt *) n;
	return op->op == SETOP_UNION && op->all &&
		all_union_all(op->larg) && all_union_all(op->rarg);
}

/*
 * A set operation q that reads a stream: only UNION ALL, and a stream in
 * every branch.
 */
void
pgs_union_check(Query *q)
{
	ListCell   *lc;

	if (!all_union_all(q->setOperations))
		pgs_reject("UNION, INTERSECT or EXCEPT over a stream",
				   "Use UNION ALL; to drop duplicates, SELECT DISTINCT over it: SELECT DISTINCT * FROM (SELECT ... FROM a UNION ALL SELECT ... FROM b) u.");
	foreach(lc, pgs_union_branches(q))
	{
		UnionWalk	w;

		if (pgs_query_streams(lfirst(lc)) == NIL)
			pgs_reject("a branch of a UNION ALL that reads no stream",
					   "Each branch must read a stream: a table has no new rows for a batch. Join the table inside a stream's branch instead.");

		/*
		 * A join of two streams (or of a stream with itself) in a branch:
		 * a union's batch runs each branch over its streams' new rows
		 * only, with no join state, so matches across batches would be
		 * lost and an outer join's rows padded with NULLs at once.
		 */
		memset(&w, 0, sizeof(w));
		union_walker(lfirst(lc), &w);
		if (w.refs - w.union_refs > 1 || (w.union_refs > 0 && w.refs > w.union_refs))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a join of streams inside a branch of a UNION ALL is not supported in a continuous view"),
					 errdetail("A branch of a union is run over its streams' new rows of each batch, without the state a join of two streams keeps."),
					 errhint("Join the streams in a first view whose sink is a stream (sink = 'a_stream'), and union that stream.")));
	}
}

static bool
union_walker(Node *node, UnionWalk *w)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		if (rte->rtekind == RTE_RELATION && pgs_is_stream_relation(rte->relid))
		{
			w->refs++;
			if (w->depth > 0)
				w->union_refs++;
		}
		return false;
	}
	if (IsA(node, Query))
	{
		Query	   *q = (Query *) node;
		bool		r;
		int			before = w->union_refs;

		if (q->setOperations == NULL)
			return query_tree_walker(q, union_walker, w, QTW_EXAMINE_RTES_BEFORE);
		w->depth++;
		r = query_tree_walker(q, union_walker, w, QTW_EXAMINE_RTES_BEFORE);
		w->depth--;
		if (w->depth == 0 && w->union_refs > before)
			w->unions++;
		return r;
	}
	return expression_tree_walker(node, union_walker, w);
}

/*
 * Does query read its streams through a UNION ALL? Then it reads them
 * only so: one union, no stream outside it.
 */
bool
pgs_union_analyze(Query *query)
{
	UnionWalk	w;

	memset(&w, 0, sizeof(w));
	union_walker((Node *) query, &w);
	if (w.union_refs == 0)
		return false;
	if (w.unions > 1 || w.refs > w.union_refs)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a UNION ALL of streams joined with another stream is not supported in a continuous view"),
				 errdetail("A continuous view reads its streams either through one UNION ALL, or as one stream or a join of two."),
				 errhint("Union all the streams in one UNION ALL; to join its rows with another stream, give a first view over the union a stream as its sink (sink = 'a_stream') and join that.")));
	return true;
}

/*
 * Event time of a union's streams (cq->streams, cq->wm_streams): when one
 * has a watermark, each that declares event time must have one.
 */
void
pgs_union_watermarks(CqDef *cq)
{
	ListCell   *lc;

	if (cq->wm_streams == NIL)
		return;
	foreach(lc, cq->streams)
	{
		Oid			relid = lfirst_oid(lc);
		AttrNumber	attno;
		Oid			typid;
		int64		delay;
		bool		has_delay;
		bool		found = false;
		ListCell   *lt;

		if (!pgs_stream_event_time(relid, &attno, &typid, &delay, &has_delay))
			continue;
		foreach(lt, cq->wm_streams)
			if (((CqTime *) lfirst(lt))->relid == relid)
				found = true;
		if (!found)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("stream \"%s\" of a UNION ALL has event time but no watermark",
							get_rel_name(relid)),
					 errdetail("The view's watermark is the least of its streams'; another stream of the union has one, which would not wait for this stream's rows."),
					 errhint("Give it a watermark: ALTER FOREIGN TABLE %s OPTIONS (ADD watermark '10 minutes'), or set the view's option watermark.",
							 get_rel_name(relid))));
	}
}
