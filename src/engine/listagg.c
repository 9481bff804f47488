/*-------------------------------------------------------------------------
 *
 * listagg.c
 *	  string_agg, array_agg, json_agg, jsonb_agg and jsonb_object_agg in
 *	  continuous views: aggregates PostgreSQL 15 cannot combine.
 *
 * A batch runs the view's aggregation in partial mode and merges each
 * group's partial state with its stored one through the aggregate's
 * combine function (engine/aggstate.c). These five have none in
 * PostgreSQL 15, so in the per-batch query only (analyze.c) each is
 * replaced by an aggregate of schema stream with the same arguments and
 * result (stream._string_agg, ...; pg_stream--0.1.sql) whose states can
 * be combined. The view's own definition keeps what the user wrote.
 *
 * The states, and why:
 *
 *	- string_agg and the json aggregates build text, and the result is
 *	  the elements one after the other, each after its separator (a
 *	  string_agg row's own delimiter; json_agg's ", ", or ", \n " before
 *	  an array or composite that is not NULL, as PostgreSQL writes it),
 *	  except that the first element's separator is left out. The state
 *	  ("internal") is exactly that text with the first separator still
 *	  in, and its length: combining two states appends the second's text
 *	  to the first's, and the result is the text after the first
 *	  separator (in brackets or braces for json). Each element is written
 *	  by PostgreSQL's own functions: to_json, to_jsonb, and for
 *	  jsonb_object_agg jsonb_build_object(key, value), whose key rules
 *	  (a scalar, written as a string) are the aggregate's. A jsonb result
 *	  is that text read by jsonb_in, which keeps the last value of a
 *	  duplicate key, as jsonb_object_agg does. Stored, a state is
 *	  serialized as a version byte, the separator's length (4 bytes) and
 *	  the text: bounded by the result, 5 bytes more (jsonb_object_agg's
 *	  is first reduced to each key once, with its last value, so that it
 *	  is bounded by the result too). A group's list may not pass 1 GB,
 *	  a value's limit: an error says so, with a hint.
 *	- array_agg's state is the array itself (a plain anyarray state, no
 *	  serialization): the state table holds a typed array, which pg_dump
 *	  writes as text and a restore reads back whatever the element type's
 *	  new OID; a serialized image would hold the old one. Within a batch
 *	  the state is an expanded array in the aggregate's context, grown in
 *	  place: array_agg(anynonarray) appends with PostgreSQL's
 *	  array_append, which does that when it runs in an aggregate, and
 *	  array_agg(anyarray) appends the row's elements and grows the first
 *	  dimension. States are combined with array_cat.
 *
 * NULLs are as in PostgreSQL: string_agg skips a NULL value (a NULL
 * delimiter is an empty one), array_agg and the json aggregates keep
 * NULL elements, a group with no element has a NULL result, a NULL key
 * of jsonb_object_agg is an error.
 *
 * Order. The elements are in arrival order: a batch's after the ones of
 * the batches before (a combine appends), and within a batch in the
 * order the stream's rows were read. PostgreSQL's sort is not stable,
 * so a batch must not sort the rows before they are aggregated: the
 * batch query of a view with one of these aggregates is planned without
 * sorts and merge or hash joins (a hash join that spills to batches
 * reorders its outer rows), its aggregation hashed (which keeps each
 * group's rows in input order, spilled or not), and the Sort of its
 * groups into the state's key order (analyze.c, batch_sort) is put above
 * the aggregation here. The plan is then checked, and mended where it
 * can be: between a stream's scan and the aggregation only nodes that
 * keep their input's order, the stream on the outer side of each nested
 * loop. An inner nested loop that has the stream inside (the planner
 * prefers that for a small batch and a table without an index) has its
 * sides swapped, the table materialized; a sorted aggregation (input
 * already in key order) is made a hashed one. A plan that cannot keep
 * the order (group keys that cannot be hashed) is refused.
 *
 * Every function here checks that it runs inside an aggregate
 * (AggCheckCallContext): internal states come only from there. The
 * deserialization function checks the exact lengths it reads. None of
 * the support functions may be executed by PUBLIC (the aggregates may:
 * a view's owner runs them).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "sources/sources.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "optimizer/tlist.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "port/pg_bswap.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/expandeddatum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"

PG_FUNCTION_INFO_V1(stream_listagg_serial);
PG_FUNCTION_INFO_V1(stream_jsonb_object_agg_serial);
PG_FUNCTION_INFO_V1(stream_listagg_deserial);
PG_FUNCTION_INFO_V1(stream_listagg_combine);
PG_FUNCTION_INFO_V1(stream_string_agg_transfn);
PG_FUNCTION_INFO_V1(stream_string_agg_final);
PG_FUNCTION_INFO_V1(stream_json_agg_transfn);
PG_FUNCTION_INFO_V1(stream_json_agg_final);
PG_FUNCTION_INFO_V1(stream_jsonb_agg_transfn);
PG_FUNCTION_INFO_V1(stream_jsonb_agg_final);
PG_FUNCTION_INFO_V1(stream_jsonb_object_agg_transfn);
PG_FUNCTION_INFO_V1(stream_jsonb_object_agg_final);
PG_FUNCTION_INFO_V1(stream_array_agg_transfn);
PG_FUNCTION_INFO_V1(stream_array_agg_array_transfn);
PG_FUNCTION_INFO_V1(stream_array_agg_combine);

/*------------------------------------------------------------------------
 * Which aggregates, and their stand-ins
 *------------------------------------------------------------------------
 */
static const struct
{
	Oid			aggfnoid;		/* PostgreSQL's */
	const char *name;			/* pg_stream's, in schema stream */
}			list_aggs[] =
{
	{F_STRING_AGG_TEXT_TEXT, "_string_agg"},
	{F_STRING_AGG_BYTEA_BYTEA, "_string_agg"},
	{F_ARRAY_AGG_ANYNONARRAY, "_array_agg"},
	{F_ARRAY_AGG_ANYARRAY, "_array_agg"},
	{F_JSON_AGG, "_json_agg"},
	{F_JSONB_AGG, "_jsonb_agg"},
	{F_JSONB_OBJECT_AGG, "_jsonb_object_agg"},
};

static int
list_agg_index(Oid aggfnoid)
{
	for (int i = 0; i < lengthof(list_aggs); i++)
		if (list_aggs[i].aggfnoid == aggfnoid)
			return i;
	return -1;
}

static bool
is_listagg(Oid aggfnoid)
{
	return list_agg_index(aggfnoid) >= 0;
}

/* does the view have one of them? */
bool
pgs_listagg_used(List *aggs)
{
	ListCell   *lc;

	foreach(lc, aggs)
		if (is_listagg(((CqAgg *) lfirst(lc))->aggref->aggfnoid))
			return true;
	return false;
}

/*
 * The aggregate a batch runs for aggref: pg_stream's stand-in for a list
 * aggregate, the aggregate itself otherwise. Refuses what the stand-ins
 * cannot keep exactly.
 */
Oid
pgs_listagg_batch_aggregate(Aggref *aggref, bool two_streams)
{
	int			i = list_agg_index(aggref->aggfnoid);
	Oid		   *argtypes;
	int			nargs;
	char	   *name;

	if (i < 0)
		return aggref->aggfnoid;
	name = format_procedure(aggref->aggfnoid);
	if (aggref->aggorder && !aggref->aggdistinct)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ORDER BY in aggregate %s is not supported in a continuous view", name),
				 errdetail("A continuous view keeps the elements in the order their rows arrived."),
				 errhint("Leave out ORDER BY to get the elements in arrival order, or sort them when reading the view.")));
	if (two_streams)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("aggregate %s over a join of two streams is not supported in a continuous view", name),
				 errdetail("Its elements are kept in arrival order, which a joined row does not have."),
				 errhint("Aggregate the join with an aggregate whose result does not depend on order, or chain views: a view's sink can be a stream.")));
	(void) get_func_signature(aggref->aggfnoid, &argtypes, &nargs);
	return LookupFuncName(list_make2(makeString(PG_STREAM_SCHEMA),
									 makeString(pstrdup(list_aggs[i].name))),
						  nargs, argtypes, false);
}

/*------------------------------------------------------------------------
 * Planning a batch that keeps arrival order
 *------------------------------------------------------------------------
 */

/* does this plan (sub)tree scan a stream? */
static bool
plan_reads_stream(Plan *p, List *rtable)
{
	if (p == NULL)
		return false;
	if (IsA(p, ForeignScan) && ((ForeignScan *) p)->scan.scanrelid > 0)
	{
		RangeTblEntry *rte = rt_fetch(((ForeignScan *) p)->scan.scanrelid, rtable);

		if (rte->rtekind == RTE_RELATION && pgs_is_stream_relation(rte->relid))
			return true;
	}
	if (IsA(p, Append))
	{
		ListCell   *lc;

		foreach(lc, ((Append *) p)->appendplans)
			if (plan_reads_stream(lfirst(lc), rtable))
				return true;
	}
	if (IsA(p, MergeAppend))
	{
		ListCell   *lc;

		foreach(lc, ((MergeAppend *) p)->mergeplans)
			if (plan_reads_stream(lfirst(lc), rtable))
				return true;
	}
	/* a node whose children are not known here: taken to read one */
	if (IsA(p, CustomScan))
		return true;
	if (IsA(p, SubqueryScan))
		return plan_reads_stream(((SubqueryScan *) p)->subplan, rtable);
	return plan_reads_stream(outerPlan(p), rtable) ||
		plan_reads_stream(innerPlan(p), rtable);
}

/* Vars of the outer side made the inner side's, and the other way round */
static bool
swap_sides_walker(Node *node, void *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varno == OUTER_VAR)
			v->varno = INNER_VAR;
		else if (v->varno == INNER_VAR)
			v->varno = OUTER_VAR;
		return false;
	}
	return expression_tree_walker(node, swap_sides_walker, ctx);
}

/* a target list that passes child's columns on as they are */
static List *
passthrough_tlist(Plan *child)
{
	List	   *tlist = NIL;
	ListCell   *lc;

	foreach(lc, child->targetlist)
	{
		TargetEntry *tle = lfirst(lc);
		Node	   *e = (Node *) tle->expr;
		TargetEntry *out;

		out = makeTargetEntry((Expr *) makeVar(OUTER_VAR, tle->resno, exprType(e),
											   exprTypmod(e), exprCollation(e), 0),
							  tle->resno, tle->resname, tle->resjunk);
		out->ressortgroupref = tle->ressortgroupref;
		tlist = lappend(tlist, out);
	}
	return tlist;
}

/*
 * An inner nested loop with the stream inside yields, for each row of
 * its outer side, the matching stream rows: not the stream's order. With
 * no parameter passed to the inside, its sides can be swapped (its
 * expressions' outer and inner Vars swapped too): then for each stream
 * row its matches, the other side materialized to be read again.
 */
static bool
swap_nestloop(NestLoop *nl)
{
	Plan	   *outer = outerPlan(nl);
	Material   *mat;

	if (nl->join.jointype != JOIN_INNER || nl->nestParams != NIL)
		return false;
	mat = makeNode(Material);
	mat->plan.targetlist = passthrough_tlist(outer);
	mat->plan.lefttree = outer;
	mat->plan.startup_cost = outer->total_cost;
	mat->plan.total_cost = outer->total_cost;
	mat->plan.plan_rows = outer->plan_rows;
	mat->plan.plan_width = outer->plan_width;
	mat->plan.plan_node_id = outer->plan_node_id;
	outerPlan(nl) = innerPlan(nl);
	innerPlan(nl) = (Plan *) mat;
	/* each stream row may now match several rows of the other side */
	nl->join.inner_unique = false;
	swap_sides_walker((Node *) nl->join.plan.targetlist, NULL);
	swap_sides_walker((Node *) nl->join.plan.qual, NULL);
	swap_sides_walker((Node *) nl->join.joinqual, NULL);
	elog(DEBUG1, "list aggregates: the stream made the outer side of a nested loop");
	return true;
}

/*
 * Does this plan (sub)tree yield the rows of the stream it reads in the
 * order they were read? Swaps the sides of nested loops that have the
 * stream inside where it can. The name of the node that breaks the
 * order, or NULL.
 */
static const char *
plan_breaks_order(Plan *p, List *rtable)
{
	if (p == NULL || !plan_reads_stream(p, rtable))
		return NULL;
	switch (nodeTag(p))
	{
		case T_ForeignScan:
			return NULL;
		case T_Result:
		case T_ProjectSet:
		case T_Material:
			return plan_breaks_order(outerPlan(p), rtable);
		case T_SubqueryScan:
			return plan_breaks_order(((SubqueryScan *) p)->subplan, rtable);
		case T_NestLoop:
			/* for each outer row its matches: the outer side's order */
			if (plan_reads_stream(innerPlan(p), rtable) &&
				(plan_reads_stream(outerPlan(p), rtable) ||
				 !swap_nestloop((NestLoop *) p)))
				return "a nested loop with the stream inside";
			return plan_breaks_order(outerPlan(p), rtable);
		case T_Append:
			{
				/* a UNION ALL of streams: each branch's rows, in turn */
				ListCell   *lc;

				foreach(lc, ((Append *) p)->appendplans)
				{
					const char *r = plan_breaks_order(lfirst(lc), rtable);

					if (r)
						return r;
				}
				return NULL;
			}
		case T_Sort:
		case T_IncrementalSort:
			return "a sort";
		case T_HashJoin:
			return "a hash join";
		case T_MergeJoin:
			return "a merge join";
		default:
			return "a node that may reorder rows";
	}
}

/*
 * A sorted aggregation made a hashed one, which needs no order of its
 * input (keys that can be hashed), and the sort below it, if any,
 * removed (its columns are its input's). False if a key cannot be hashed.
 */
static bool
hash_aggregation(Agg *agg)
{
	for (int i = 0; i < agg->numCols; i++)
	{
		RegProcedure lhs,
					rhs;

		if (!get_op_hash_functions(agg->grpOperators[i], &lhs, &rhs))
			return false;
	}
	agg->aggstrategy = AGG_HASHED;
	if (IsA(outerPlan(agg), Sort) || IsA(outerPlan(agg), IncrementalSort))
		outerPlan(agg) = outerPlan(outerPlan(agg));
	return true;
}

/*
 * Plan the batch query of a view with list aggregates: without the
 * ORDER BY of its groups (put back above the aggregation by
 * pgs_listagg_sort_groups), and without sorts, merge and hash joins, so
 * that the aggregation is hashed and sees the stream's rows in the order
 * they were read. Checked; refused with an error if it cannot.
 */
PlannedStmt *
pgs_listagg_plan(Query *batch_query)
{
	Query	   *q = copyObject(batch_query);
	int			nestlevel = NewGUCNestLevel();
	PlannedStmt *plan;
	Plan	   *agg;
	const char *breaks;
	bool		sorted;

	q->sortClause = NIL;
	/* undone by AtEOXact_GUC, or on an error by the (sub)transaction's abort */
	pgs_guc_set_saved("enable_sort", "off");
	pgs_guc_set_saved("enable_incremental_sort", "off");
	pgs_guc_set_saved("enable_mergejoin", "off");
	pgs_guc_set_saved("enable_hashjoin", "off");
	pgs_guc_set_saved("enable_hashagg", "on");
	pgs_guc_set_saved("enable_nestloop", "on");
	plan = pg_plan_query(q, NULL, 0, NULL);
	AtEOXact_GUC(true, nestlevel);
	pgs_plan_forced_no_jit(plan);

	agg = plan->planTree;
	/* (a Result that only projects may sit above the aggregation) */
	if (IsA(agg, Result) && outerPlan(agg) && agg->qual == NIL &&
		((Result *) agg)->resconstantqual == NULL)
		agg = outerPlan(agg);
	sorted = IsA(agg, Agg) && ((Agg *) agg)->aggstrategy == AGG_SORTED &&
		!hash_aggregation((Agg *) agg);
	if (sorted)
		breaks = "a sorted aggregation (the group keys cannot be hashed)";
	else if (IsA(agg, Agg) && ((Agg *) agg)->aggstrategy != AGG_HASHED &&
			 ((Agg *) agg)->aggstrategy != AGG_PLAIN)
		breaks = "an aggregation by grouping sets";
	else if (IsA(agg, Agg))
		breaks = plan_breaks_order(outerPlan(agg), plan->rtable);
	else
		breaks = "a plan whose order pg_stream cannot check";
	if (breaks)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot keep the arrival order of string_agg, array_agg, json_agg, jsonb_agg or jsonb_object_agg in this continuous view"),
				 errdetail("The plan of a batch has %s between the stream and the aggregation.", breaks),
				 sorted ? errhint("Group by keys of types that can be hashed (not bit, money or tsvector), or cast them to text.") :
				 errhint("Join tables to the stream by inner or left joins, through an index on the table's join key.")));
	return plan;
}

/*
 * The groups of a batch sorted by sortcl (the batch query's ORDER BY):
 * a Sort above the partial aggregation agg, as the planner would put it,
 * reading its columns (partial states typed as such) as they are.
 */
Plan *
pgs_listagg_sort_groups(Plan *agg, List *sortcl)
{
	Sort	   *sort;
	ListCell   *lc;
	int			i = 0;

	if (sortcl == NIL)
		return agg;
	sort = makeNode(Sort);
	sort->plan.targetlist = passthrough_tlist(agg);
	sort->numCols = list_length(sortcl);
	sort->sortColIdx = palloc(sizeof(AttrNumber) * sort->numCols);
	sort->sortOperators = palloc(sizeof(Oid) * sort->numCols);
	sort->collations = palloc(sizeof(Oid) * sort->numCols);
	sort->nullsFirst = palloc(sizeof(bool) * sort->numCols);
	foreach(lc, sortcl)
	{
		SortGroupClause *sc = lfirst(lc);
		TargetEntry *tle = get_sortgroupref_tle(sc->tleSortGroupRef, agg->targetlist);

		sort->sortColIdx[i] = tle->resno;
		sort->sortOperators[i] = sc->sortop;
		sort->collations[i] = exprCollation((Node *) tle->expr);
		sort->nullsFirst[i] = sc->nulls_first;
		i++;
	}
	sort->plan.lefttree = agg;
	sort->plan.startup_cost = agg->total_cost;
	sort->plan.total_cost = agg->total_cost;
	sort->plan.plan_rows = agg->plan_rows;
	sort->plan.plan_width = agg->plan_width;
	sort->plan.parallel_safe = agg->parallel_safe;
	/* node ids only matter to parallel plans, which a batch never has */
	sort->plan.plan_node_id = agg->plan_node_id;
	return (Plan *) sort;
}

/*------------------------------------------------------------------------
 * The text state: string_agg, json_agg, jsonb_agg, jsonb_object_agg
 *------------------------------------------------------------------------
 */
typedef struct ListState
{
	StringInfoData text;		/* every element, each after its separator */
	int32		skip;			/* the length of the first separator */
} ListState;

#define LISTSTATE_VERSION 1
#define LISTSTATE_HEADER 5		/* version byte, int32 skip */

static MemoryContext
agg_context(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext cxt;

	if (!AggCheckCallContext(fcinfo, &cxt))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function %s may only be called as part of an aggregate", fn)));
	return cxt;
}

static ListState *
list_state_new(MemoryContext cxt, int32 skip)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	ListState  *st = palloc(sizeof(ListState));

	initStringInfo(&st->text);
	st->skip = skip;
	MemoryContextSwitchTo(old);
	return st;
}

/* an element after its separator; a new state for the first (st NULL) */
/* a group's list may grow by n bytes: no more than a value can hold */
static void
check_grow(ListState *st, Size n)
{
	if ((Size) (st ? st->text.len : 0) + n + LISTSTATE_HEADER + VARHDRSZ + 2 > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a list aggregate's result in one group would exceed 1 GB"),
				 errdetail("The list is %d bytes; it cannot grow by %zu more.",
						   st ? st->text.len : 0, n),
				 errhint("Group by a window over event time (stream.tumble), so that each group's list ends with its window.")));
}

static ListState *
list_append(ListState *st, MemoryContext cxt, const char *sep, int seplen,
			const char *elem, int len)
{
	check_grow(st, (Size) seplen + len);
	if (st == NULL)
		st = list_state_new(cxt, seplen);
	appendBinaryStringInfo(&st->text, sep, seplen);
	appendBinaryStringInfo(&st->text, elem, len);
	return st;
}

static ListState *
state_arg(FunctionCallInfo fcinfo)
{
	return PG_ARGISNULL(0) ? NULL : (ListState *) PG_GETARG_POINTER(0);
}

/* a state, or NULL for no element yet */
static Datum
return_state(FunctionCallInfo fcinfo, ListState *st)
{
	if (st == NULL)
		PG_RETURN_NULL();
	PG_RETURN_POINTER(st);
}

Datum
stream_listagg_combine(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = agg_context(fcinfo, "stream._listagg_combine");
	ListState  *a = state_arg(fcinfo);
	ListState  *b = PG_ARGISNULL(1) ? NULL : (ListState *) PG_GETARG_POINTER(1);

	if (b == NULL)
		return return_state(fcinfo, a);
	/* the second state may live in a shorter context: a copy */
	check_grow(a, b->text.len);
	if (a == NULL)
		a = list_state_new(cxt, b->skip);
	appendBinaryStringInfo(&a->text, b->text.data, b->text.len);
	PG_RETURN_POINTER(a);
}

static bytea *
serialize_state(ListState *st)
{
	bytea	   *out;
	uint32		skip;

	if ((Size) st->text.len + LISTSTATE_HEADER + VARHDRSZ > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("aggregate state too large: %d bytes", st->text.len)));
	out = palloc(VARHDRSZ + LISTSTATE_HEADER + st->text.len);
	SET_VARSIZE(out, VARHDRSZ + LISTSTATE_HEADER + st->text.len);
	VARDATA(out)[0] = LISTSTATE_VERSION;
	skip = pg_hton32((uint32) st->skip);
	memcpy(VARDATA(out) + 1, &skip, sizeof(skip));
	memcpy(VARDATA(out) + LISTSTATE_HEADER, st->text.data, st->text.len);
	return out;
}

Datum
stream_listagg_serial(PG_FUNCTION_ARGS)
{
	(void) agg_context(fcinfo, "stream._listagg_serial");
	PG_RETURN_BYTEA_P(serialize_state((ListState *) PG_GETARG_POINTER(0)));
}

Datum
stream_listagg_deserial(PG_FUNCTION_ARGS)
{
	bytea	   *in;
	const char *p;
	Size		len;
	uint32		skip;
	ListState  *st;

	(void) agg_context(fcinfo, "stream._listagg_deserial");
	in = PG_GETARG_BYTEA_PP(0);
	p = VARDATA_ANY(in);
	len = VARSIZE_ANY_EXHDR(in);
	if (len < LISTSTATE_HEADER || p[0] != LISTSTATE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid list aggregate state")));
	memcpy(&skip, p + 1, sizeof(skip));
	skip = pg_ntoh32(skip);
	if (skip > len - LISTSTATE_HEADER)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid list aggregate state"),
				 errdetail("Separator of %u bytes in %zu bytes of elements.",
						   skip, len - LISTSTATE_HEADER)));
	/* in the current context, as a deserialized state is */
	st = list_state_new(CurrentMemoryContext, (int32) skip);
	appendBinaryStringInfo(&st->text, p + LISTSTATE_HEADER, len - LISTSTATE_HEADER);
	PG_RETURN_POINTER(st);
}

/* string_agg(text, text) and string_agg(bytea, bytea) */
Datum
stream_string_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = agg_context(fcinfo, "stream._string_agg_transfn");
	ListState  *st = state_arg(fcinfo);
	struct varlena *value,
			   *delim = NULL;

	if (PG_ARGISNULL(1))
		return return_state(fcinfo, st);	/* a NULL value is skipped */
	value = PG_GETARG_VARLENA_PP(1);
	if (!PG_ARGISNULL(2))
		delim = PG_GETARG_VARLENA_PP(2);
	st = list_append(st, cxt, delim ? VARDATA_ANY(delim) : "",
					 delim ? VARSIZE_ANY_EXHDR(delim) : 0,
					 VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	PG_RETURN_POINTER(st);
}

/* the elements without the first separator, in a text or bytea */
Datum
stream_string_agg_final(PG_FUNCTION_ARGS)
{
	ListState  *st;
	int			len;
	struct varlena *out;

	(void) agg_context(fcinfo, "stream._string_agg_final");
	st = state_arg(fcinfo);
	if (st == NULL)
		PG_RETURN_NULL();
	len = st->text.len - st->skip;
	out = palloc(VARHDRSZ + len);
	SET_VARSIZE(out, VARHDRSZ + len);
	memcpy(VARDATA(out), st->text.data + st->skip, len);
	PG_RETURN_POINTER(out);
}

/*
 * PostgreSQL's function that writes one element (to_json, to_jsonb,
 * jsonb_build_object), called with the aggregate's argument types,
 * prepared once per aggregate.
 */
typedef struct ElemWriter
{
	FmgrInfo	fn;
	bool		structured;		/* json_agg: an array or composite */
} ElemWriter;

static ElemWriter *
elem_writer(FunctionCallInfo fcinfo, Oid fnoid, Oid rettype, int nargs)
{
	ElemWriter *w = fcinfo->flinfo->fn_extra;

	if (w == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		List	   *args = NIL;
		Oid			type = InvalidOid;

		w = palloc0(sizeof(ElemWriter));
		for (int i = 1; i <= nargs; i++)
		{
			type = get_fn_expr_argtype(fcinfo->flinfo, i);
			if (!OidIsValid(type))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("could not determine input data type")));
			args = lappend(args, makeNullConst(type, -1, InvalidOid));
		}
		fmgr_info_cxt(fnoid, &w->fn, fcinfo->flinfo->fn_mcxt);
		fmgr_info_set_expr((Node *) makeFuncExpr(fnoid, rettype, args, InvalidOid,
												 InvalidOid, COERCE_EXPLICIT_CALL),
						   &w->fn);
		/* as json_agg: a newline before each structured element but the first */
		type = getBaseType(type);
		w->structured = OidIsValid(get_element_type(type)) ||
			type == ANYARRAYOID || type == RECORDARRAYOID || type_is_rowtype(type);
		fcinfo->flinfo->fn_extra = w;
		MemoryContextSwitchTo(old);
	}
	return w;
}

/* the writer called on the row's arguments 1..nargs */
static Datum
elem_write(FunctionCallInfo fcinfo, ElemWriter *w, int nargs)
{
	LOCAL_FCINFO(call, 2);
	Datum		result;

	InitFunctionCallInfoData(*call, &w->fn, nargs, fcinfo->fncollation, NULL, NULL);
	for (int i = 0; i < nargs; i++)
		call->args[i] = fcinfo->args[i + 1];
	result = FunctionCallInvoke(call);
	if (call->isnull)
		elog(ERROR, "function %u returned NULL", w->fn.fn_oid);
	return result;
}

/* json_agg(anyelement) */
Datum
stream_json_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = agg_context(fcinfo, "stream._json_agg_transfn");
	ListState  *st = state_arg(fcinfo);
	ElemWriter *w = elem_writer(fcinfo, F_TO_JSON, JSONOID, 1);
	text	   *elem;

	if (PG_ARGISNULL(1))
		st = list_append(st, cxt, ", ", 2, "null", 4);
	else
	{
		elem = DatumGetTextPP(elem_write(fcinfo, w, 1));
		st = list_append(st, cxt, w->structured ? ", \n " : ", ", w->structured ? 4 : 2,
						 VARDATA_ANY(elem), VARSIZE_ANY_EXHDR(elem));
	}
	PG_RETURN_POINTER(st);
}

/* the elements in brackets (or braces) */
static char *
list_enclosed(ListState *st, char open, char close, int *len)
{
	int			n = st->text.len - st->skip;
	char	   *s = palloc(n + 3);

	s[0] = open;
	memcpy(s + 1, st->text.data + st->skip, n);
	s[n + 1] = close;
	s[n + 2] = '\0';
	*len = n + 2;
	return s;
}

Datum
stream_json_agg_final(PG_FUNCTION_ARGS)
{
	ListState  *st;
	int			len;
	char	   *s;

	(void) agg_context(fcinfo, "stream._json_agg_final");
	st = state_arg(fcinfo);
	if (st == NULL)
		PG_RETURN_NULL();
	s = list_enclosed(st, '[', ']', &len);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(s, len));
}

/* a jsonb as text, appended */
static ListState *
append_jsonb(ListState *st, MemoryContext cxt, Jsonb *jb, bool braces)
{
	char	   *s = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	int			len = strlen(s);

	/* jsonb_build_object's {"key": value}: the pair alone */
	if (braces)
	{
		if (len < 2 || s[0] != '{' || s[len - 1] != '}')
			elog(ERROR, "unexpected jsonb object \"%s\"", s);
		return list_append(st, cxt, ", ", 2, s + 1, len - 2);
	}
	return list_append(st, cxt, ", ", 2, s, len);
}

/* jsonb_agg(anyelement) */
Datum
stream_jsonb_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = agg_context(fcinfo, "stream._jsonb_agg_transfn");
	ListState  *st = state_arg(fcinfo);
	ElemWriter *w = elem_writer(fcinfo, F_TO_JSONB, JSONBOID, 1);

	if (PG_ARGISNULL(1))
		st = list_append(st, cxt, ", ", 2, "null", 4);
	else
		st = append_jsonb(st, cxt, DatumGetJsonbP(elem_write(fcinfo, w, 1)), false);
	PG_RETURN_POINTER(st);
}

/* jsonb_object_agg("any", "any") */
Datum
stream_jsonb_object_agg_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = agg_context(fcinfo, "stream._jsonb_object_agg_transfn");
	ListState  *st = state_arg(fcinfo);
	ElemWriter *w = elem_writer(fcinfo, F_JSONB_BUILD_OBJECT_ANY, JSONBOID, 2);

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field name must not be null")));
	st = append_jsonb(st, cxt, DatumGetJsonbP(elem_write(fcinfo, w, 2)), true);
	PG_RETURN_POINTER(st);
}

static Datum
jsonb_of(ListState *st, char open, char close)
{
	int			len;

	return DirectFunctionCall1(jsonb_in,
							   CStringGetDatum(list_enclosed(st, open, close, &len)));
}

/*
 * jsonb_object_agg's state stored: each key once, with its last value (as
 * jsonb_in reads the pairs), so that a view of the latest value per key
 * stores what its result holds, not every pair it ever saw.
 */
Datum
stream_jsonb_object_agg_serial(PG_FUNCTION_ARGS)
{
	ListState  *st;

	(void) agg_context(fcinfo, "stream._jsonb_object_agg_serial");
	st = (ListState *) PG_GETARG_POINTER(0);
	st = append_jsonb(NULL, CurrentMemoryContext,
					  DatumGetJsonbP(jsonb_of(st, '{', '}')), true);
	PG_RETURN_BYTEA_P(serialize_state(st));
}

Datum
stream_jsonb_agg_final(PG_FUNCTION_ARGS)
{
	ListState  *st;

	(void) agg_context(fcinfo, "stream._jsonb_agg_final");
	st = state_arg(fcinfo);
	if (st == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(jsonb_of(st, '[', ']'));
}

Datum
stream_jsonb_object_agg_final(PG_FUNCTION_ARGS)
{
	ListState  *st;

	(void) agg_context(fcinfo, "stream._jsonb_object_agg_final");
	st = state_arg(fcinfo);
	if (st == NULL)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(jsonb_of(st, '{', '}'));
}

/*------------------------------------------------------------------------
 * The array state: array_agg
 *------------------------------------------------------------------------
 */

/*
 * array_agg(anynonarray): array_append(state, element), which in an
 * aggregate grows the state, an expanded array in the aggregate's
 * context, in place.
 */
Datum
stream_array_agg_transfn(PG_FUNCTION_ARGS)
{
	FmgrInfo   *append = fcinfo->flinfo->fn_extra;
	LOCAL_FCINFO(call, 2);
	Datum		result;

	(void) agg_context(fcinfo, "stream._array_agg_transfn");
	if (append == NULL)
	{
		Oid			arraytype = get_fn_expr_argtype(fcinfo->flinfo, 0);
		Oid			elemtype = get_fn_expr_argtype(fcinfo->flinfo, 1);
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (!OidIsValid(arraytype) || !OidIsValid(elemtype))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("could not determine input data type")));
		append = palloc0(sizeof(FmgrInfo));
		fmgr_info_cxt(F_ARRAY_APPEND, append, fcinfo->flinfo->fn_mcxt);
		fmgr_info_set_expr((Node *) makeFuncExpr(F_ARRAY_APPEND, arraytype,
												 list_make2(makeNullConst(arraytype, -1, InvalidOid),
															makeNullConst(elemtype, -1, InvalidOid)),
												 InvalidOid, InvalidOid,
												 COERCE_EXPLICIT_CALL),
						   append);
		fcinfo->flinfo->fn_extra = append;
		MemoryContextSwitchTo(old);
	}
	/* the aggregate's context, so that it keeps the state where it is */
	InitFunctionCallInfoData(*call, append, 2, fcinfo->fncollation, fcinfo->context, NULL);
	call->args[0] = fcinfo->args[0];
	call->args[1] = fcinfo->args[1];
	result = FunctionCallInvoke(call);
	fcinfo->isnull = call->isnull;
	return result;
}

static void
different_dimensionality(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
			 errmsg("cannot accumulate arrays of different dimensionality")));
}

/*
 * array_agg(anyarray): the state, n+1 dimensions, with one more array of
 * n. The state is an expanded array in the aggregate's context, grown in
 * place: x's elements are appended to its elements and its first
 * dimension grows by one (what array_append does for an element).
 */
Datum
stream_array_agg_array_transfn(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = agg_context(fcinfo, "stream._array_agg_array_transfn");
	ArrayType  *x;
	ExpandedArrayHeader *eah;
	Datum	   *xvalues;
	bool	   *xnulls = NULL;
	int			xcount;
	int			ndims;
	MemoryContext old;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("cannot accumulate null arrays")));
	x = PG_GETARG_ARRAYTYPE_P(1);
	ndims = ARR_NDIM(x);
	if (ndims == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot accumulate empty arrays")));
	if (PG_ARGISNULL(0))
	{
		/* the first: PostgreSQL's own accumulation, of one array */
		ArrayBuildStateArr *ab = initArrayResultArr(get_fn_expr_argtype(fcinfo->flinfo, 1),
													ARR_ELEMTYPE(x),
													CurrentMemoryContext, false);

		ab = accumArrayResultArr(ab, PointerGetDatum(x), false, ab->array_type,
								 CurrentMemoryContext);
		PG_RETURN_DATUM(expand_array(makeArrayResultArr(ab, CurrentMemoryContext, false),
									 cxt, NULL));
	}
	if (DatumIsReadWriteExpandedObject(PG_GETARG_DATUM(0), false, -1))
		eah = (ExpandedArrayHeader *) DatumGetEOHP(PG_GETARG_DATUM(0));
	else
		eah = (ExpandedArrayHeader *) DatumGetEOHP(expand_array(PG_GETARG_DATUM(0), cxt, NULL));
	if (eah->ndims != ndims + 1 || eah->element_type != ARR_ELEMTYPE(x))
		different_dimensionality();
	for (int i = 0; i < ndims; i++)
		if (eah->dims[i + 1] != ARR_DIMS(x)[i] || eah->lbound[i + 1] != ARR_LBOUND(x)[i])
			different_dimensionality();
	deconstruct_array(x, eah->element_type, eah->typlen, eah->typbyval, eah->typalign,
					  &xvalues, ARR_HASNULL(x) ? &xnulls : NULL, &xcount);
	if (xcount > (int) MaxArraySize - eah->nelems)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("array size exceeds the maximum allowed (%d)",
						(int) MaxArraySize)));
	deconstruct_expanded_array(eah);
	old = MemoryContextSwitchTo(eah->hdr.eoh_context);
	if (eah->nelems + xcount > eah->dvalueslen)
	{
		int			len = Max(eah->nelems + xcount, eah->dvalueslen * 2);

		eah->dvalues = repalloc(eah->dvalues, len * sizeof(Datum));
		if (eah->dnulls)
			eah->dnulls = repalloc(eah->dnulls, len * sizeof(bool));
		eah->dvalueslen = len;
	}
	if (xnulls && eah->dnulls == NULL)
		eah->dnulls = palloc0(eah->dvalueslen * sizeof(bool));
	for (int i = 0; i < xcount; i++)
	{
		bool		isnull = xnulls && xnulls[i];

		/* x is the row's: its elements are copied into the state */
		eah->dvalues[eah->nelems + i] = isnull ? (Datum) 0 :
			datumCopy(xvalues[i], eah->typbyval, eah->typlen);
		if (eah->dnulls)
			eah->dnulls[eah->nelems + i] = isnull;
	}
	eah->nelems += xcount;
	eah->dims[0] += 1;
	/* the flat form, if any, is out of date */
	eah->fvalue = NULL;
	eah->flat_size = 0;
	MemoryContextSwitchTo(old);
	PG_RETURN_DATUM(EOHPGetRWDatum(&eah->hdr));
}

/* both array_aggs: the second state's elements after the first's */
Datum
stream_array_agg_combine(PG_FUNCTION_ARGS)
{
	ArrayType  *a;
	ArrayType  *b;

	(void) agg_context(fcinfo, "stream._array_agg_combine");
	if (PG_ARGISNULL(1))
	{
		if (PG_ARGISNULL(0))
			PG_RETURN_NULL();
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	}
	if (PG_ARGISNULL(0))
		PG_RETURN_ARRAYTYPE_P(PG_GETARG_ARRAYTYPE_P_COPY(1));
	a = PG_GETARG_ARRAYTYPE_P(0);
	b = PG_GETARG_ARRAYTYPE_P(1);
	/* array_agg(anyarray): arrays of the same dimensions */
	if (ARR_NDIM(a) != ARR_NDIM(b))
		different_dimensionality();
	for (int i = 1; i < ARR_NDIM(a); i++)
		if (ARR_DIMS(a)[i] != ARR_DIMS(b)[i] || ARR_LBOUND(a)[i] != ARR_LBOUND(b)[i])
			different_dimensionality();
	PG_RETURN_DATUM(DirectFunctionCall2(array_cat, PointerGetDatum(a),
										PointerGetDatum(b)));
}
