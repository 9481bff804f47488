/*-------------------------------------------------------------------------
 *
 * dedup.c
 *	  Deduplication: the first row of each key, and DISTINCT aggregates.
 *
 * Spark's dropDuplicates and Flink's deduplication, in SQL:
 *
 *	- SELECT DISTINCT cols FROM stream: the first row of each distinct
 *	  key comes out, once (append); later ones are dropped.
 *	- SELECT DISTINCT ON (keys) ... FROM stream: the first row of each
 *	  key, in arrival order.
 *	- Either in a subquery (or a derived stream) under an aggregation:
 *	  dedup, then aggregate.
 *	- aggregate(DISTINCT args) per group (count(DISTINCT x), ...): an
 *	  argument value counts in a group the first time the group sees it.
 *
 * Design. All four are one operator: a filter that passes a row if its
 * key was never seen, and records the key. At analysis (pgs_dedup_rewrite,
 * pgs_dedup_agg_filter) the per-batch query loses its DISTINCT and gets a
 * call of the filter
 *
 *	  stream._first_seen(nonce, slot, time, key1, key2, ...)
 *
 *	- for SELECT DISTINCT [ON]: the query level becomes SELECT <its
 *	  columns> FROM (<the level> OFFSET 0) WHERE <filter> [OFFSET 0]. The
 *	  fences keep PostgreSQL from pulling the level up or pushing
 *	  conditions into it, so the filter sees each row the level makes
 *	  (after its joins, conditions and functions, in the order it makes
 *	  them: arrival order), once, and nothing of the levels above moves
 *	  below it. Each level above a DISTINCT subquery must read only it: a
 *	  join may stop reading a side it no longer needs, or read its inner
 *	  side again per outer row, and a key not seen would pass later.
 *	- for aggregate(DISTINCT args): its FILTER becomes (<the user's
 *	  FILTER>) IS TRUE AND <filter of the group keys and args>, and the
 *	  aggregate an ordinary one, whose state merges across batches as any
 *	  other (an exact count of distinct values is a count of first-seen
 *	  values).
 *
 * The nonce is a random number the query was analysed with: the filter
 * serves only the calls the engine wrote, not a call from a function of a
 * role that the batch runs. Argument types are checked per call site.
 *
 * Each filter (slot) keeps its keys in a table of its own in the keyed
 * state store (engine/store.c), stream."seen_<view>[_n]": the key columns
 * with their types and collations, the keys' 64-bit hash (each type's
 * default hash operator class, whose equality is DISTINCT's; NULLs hash
 * alike, as DISTINCT takes them as equal), and _pgs_expires, with an
 * index on the hash and one on expiry. The index holds the hash, not the
 * keys, so a key of any size can be kept (a btree entry holds at most
 * 2.7 kB: one long value must not stop the view); the rows with a hash
 * are compared key by key. A row costs one probe of the index, and a new
 * key one insert: what the new rows cost, never what the table holds.
 * The probe sees the keys this batch inserted (SnapshotSelf: the batch's
 * command has not ended), so duplicates inside a batch are found as
 * those across batches are, and nothing is held in memory.
 *
 * Time. Given a time (the second argument), a key expires and is evicted
 * under the watermark, and rows may be late:
 *
 *	- DISTINCT with the stream's event-time column among the keys: the key
 *	  expires at that time, and rows at or before the watermark are late
 *	  (as Spark's: a later duplicate would be late too, so the key can
 *	  go once the watermark reaches it).
 *	- DISTINCT with a window over the event time among the keys: the key
 *	  expires when its window is final, and rows of final windows are
 *	  late.
 *	- DISTINCT ON: a key lives until the watermark reaches its first row's
 *	  event time plus the watermark's delay (Spark 3.5's
 *	  dropDuplicatesWithinWatermark); rows at or before the watermark are
 *	  late.
 *	- aggregate(DISTINCT ...) in a windowed aggregation: the values expire
 *	  with their window's state; the aggregation drops late rows itself.
 *
 * Late rows are dropped and counted in rows_late. Without a time, keys are
 * kept forever. Eviction runs at the end of each batch with input, through
 * the expiry index. A view that joins two streams refuses deduplication:
 * a join's scans read rows of its state again, which a filter would take
 * as duplicates.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/hash.h"
#include "catalog/pg_am.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/hashfn.h"
#include "common/int.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_func.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

/*------------------------------------------------------------------------
 * Analysis
 *------------------------------------------------------------------------
 */
static Oid
first_seen_oid(void)
{
	Oid			argtypes[1] = {ANYOID};

	return LookupFuncName(list_make2(makeString(PG_STREAM_SCHEMA),
									 makeString("_first_seen")),
						  1, argtypes, false);
}

static bool
calls_walker(Node *node, Oid *fn)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == *fn)
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, calls_walker, fn, 0);
	return expression_tree_walker(node, calls_walker, fn);
}

/*
 * The 64-bit hash function and the equality of a key type, from its
 * default hash operator class (its equality is DISTINCT's); false if it
 * has none.
 */
static bool
key_hashable(Oid type, Oid *hashproc, Oid *eqproc)
{
	Oid			opclass = GetDefaultOpClass(type, HASH_AM_OID);
	Oid			family;
	Oid			intype;
	Oid			hp;
	Oid			eq;

	if (!OidIsValid(opclass))
		return false;
	/* an array's, a composite's, a range's elements must hash too */
	if (!OidIsValid(lookup_type_cache(type, TYPECACHE_HASH_EXTENDED_PROC)->hash_extended_proc))
		return false;
	family = get_opclass_family(opclass);
	intype = get_opclass_input_type(opclass);
	hp = get_opfamily_proc(family, intype, intype, HASHEXTENDED_PROC);
	eq = get_opfamily_member(family, intype, intype, HTEqualStrategyNumber);
	if (!OidIsValid(hp) || !OidIsValid(eq))
		return false;
	if (hashproc)
		*hashproc = hp;
	if (eqproc)
		*eqproc = get_opcode(eq);
	return true;
}

/* a new filter over these keys */
static CqDedup *
new_slot(CqDef *cq, CqDedupKind kind, List *keyexprs)
{
	CqDedup    *d = palloc0(sizeof(CqDedup));
	ListCell   *lc;

	if (cq->join)
		pgs_reject("deduplication (DISTINCT) in a join of two streams",
			   "Deduplicate each stream in a continuous view of its own whose sink is a stream, and join those.");
	if (list_length(keyexprs) >= INDEX_MAX_KEYS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("DISTINCT over more than %d columns is not supported in a continuous view",
						INDEX_MAX_KEYS - 1)));
	if (contain_volatile_functions((Node *) keyexprs))
		pgs_reject("DISTINCT of a volatile expression", NULL);
	d->slot = list_length(cq->dedups);
	d->kind = kind;
	d->nkeys = list_length(keyexprs);
	d->keytypes = palloc0(sizeof(Oid) * Max(d->nkeys, 1));
	d->keytypmods = palloc0(sizeof(int32) * Max(d->nkeys, 1));
	d->keycolls = palloc0(sizeof(Oid) * Max(d->nkeys, 1));
	foreach(lc, keyexprs)
	{
		Node	   *e = lfirst(lc);
		int			i = foreach_current_index(lc);

		d->keytypes[i] = exprType(e);
		d->keytypmods[i] = exprTypmod(e);
		d->keycolls[i] = exprCollation(e);
		if (!key_hashable(d->keytypes[i], NULL, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("DISTINCT of type %s is not supported in a continuous view",
							format_type_be(d->keytypes[i])),
					 errdetail("The type has no default hash operator class with a 64-bit hash function, which the view needs to find a key it has seen."),
					 errhint("Use an expression of another type, for example a cast to text (or jsonb for json).")));
	}
	cq->dedups = lappend(cq->dedups, d);
	return d;
}

/*
 * The call of the filter. Its first argument is the query's nonce, a
 * random number only the engine knows: the filter serves only the calls
 * the engine wrote, not a call from a function the batch runs.
 */
static Expr *
filter_call(CqDef *cq, CqDedup *d, Expr *time, List *keyexprs)
{
	List	   *args;

	if (cq->dedup_nonce == 0)
	{
		uint64		n = 0;

		while (n == 0)
			if (!pg_strong_random(&n, sizeof(n)))
				elog(ERROR, "could not generate a random number");
		cq->dedup_nonce = (int64) n;
	}
	args = list_make2(makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
								Int64GetDatum(cq->dedup_nonce), false, FLOAT8PASSBYVAL),
					  makeConst(INT4OID, -1, InvalidOid, sizeof(int32),
								Int32GetDatum(d->slot), false, true));
	args = lappend(args, time ? copyObject(time) :
				   (Expr *) makeNullConst(TIMESTAMPTZOID, -1, InvalidOid));
	args = list_concat(args, copyObject(keyexprs));
	return (Expr *) makeFuncExpr(first_seen_oid(), BOOLOID, args, InvalidOid,
								 InvalidOid, COERCE_EXPLICIT_CALL);
}

/* is column attno of stream relid the event time of a watermarked stream? */
static CqTime *
watermarked_time(CqDef *cq, Oid relid, AttrNumber attno)
{
	ListCell   *lt;

	foreach(lt, cq->wm_streams)
	{
		CqTime	   *t = lfirst(lt);

		if (t->relid == relid && t->attno == attno)
			return t;
	}
	return NULL;
}

/*
 * The event time of a watermarked stream that q reads, directly or
 * through a subquery (a derived stream), as a Var of q; or NULL.
 */
static Var *
stream_time_var(CqDef *cq, Query *q, CqTime **time)
{
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);
		Index		rti = foreach_current_index(lc) + 1;
		ListCell   *lt;

		if (rte->rtekind == RTE_RELATION)
		{
			foreach(lt, cq->wm_streams)
			{
				CqTime	   *t = lfirst(lt);

				if (t->relid == rte->relid)
				{
					*time = t;
					return makeVar(rti, t->attno, t->typid, -1, InvalidOid, 0);
				}
			}
		}
		else if (rte->rtekind == RTE_SUBQUERY)
		{
			foreach(lt, rte->subquery->targetList)
			{
				TargetEntry *tle = lfirst(lt);
				Var		   *v = makeVar(rti, tle->resno, exprType((Node *) tle->expr),
										exprTypmod((Node *) tle->expr),
										exprCollation((Node *) tle->expr), 0);
				Oid			relid;
				AttrNumber	attno;

				if (pgs_stream_column_of(q, (Node *) v, &relid, &attno) &&
					(*time = watermarked_time(cq, relid, attno)) != NULL)
					return v;
			}
		}
	}
	return NULL;
}

/*
 * DISTINCT's time: the first key that is the event time, or a window over
 * it (the event time itself is a window of size 0, final when the
 * watermark reaches it); its index in keyexprs, or -1.
 */
static int
distinct_time(CqDef *cq, Query *q, List *keyexprs, CqDedup *d)
{
	ListCell   *lc;

	foreach(lc, keyexprs)
	{
		int64		size;
		Oid			relid;

		if (pgs_window_key(q, lfirst(lc), cq->wm_streams, &size, &relid))
		{
			d->expire_offset = size;
			d->late_offset = size;
			return foreach_current_index(lc);
		}
	}
	return -1;
}

/*
 * A query level's DISTINCT [ON] into a filter of its rows: the level
 * without its DISTINCT goes into a subquery of its own, and the level
 * becomes SELECT <its columns> FROM that WHERE <filter> OFFSET 0. So the
 * filter sees exactly the rows the level made, once each, after all of
 * the level's joins, conditions and functions (which PostgreSQL would
 * otherwise order and place as it likes), and nothing of the levels
 * above is pushed below it: a subquery with an OFFSET is neither pulled
 * up nor given conditions from outside.
 */
static void
rewrite_distinct(CqDef *cq, Query *q, bool top)
{
	List	   *keyexprs = NIL;
	List	   *keyresnos = NIL;
	List	   *keyvars = NIL;
	List	   *colnames = NIL;
	List	   *tlist = NIL;
	ListCell   *lc;
	CqDedup    *d;
	Expr	   *time = NULL;
	Var		   *timevar = NULL;
	Query	   *inner;
	RangeTblEntry *rte;
	RangeTblRef *rtr;

	if (q->hasAggs || q->groupClause || q->havingQual)
		pgs_reject("DISTINCT over an aggregation",
			   "The groups of an aggregation are distinct already; for the distinct values in each group use count(DISTINCT x).");
	if (q->hasTargetSRFs)
		pgs_reject("DISTINCT over a set-returning function in the select list",
			   "Call it in FROM instead: FROM s, f(s.x) AS y.");
	if (q->sortClause)
		pgs_reject("ORDER BY with DISTINCT over a stream",
			   "DISTINCT ON keeps the first row of each key in the order the rows arrive.");
	if (q->limitCount || q->limitOffset)
		pgs_reject("LIMIT or OFFSET with DISTINCT over a stream", NULL);
	foreach(lc, q->distinctClause)
	{
		TargetEntry *tle = get_sortgroupclause_tle(lfirst(lc), q->targetList);

		keyexprs = lappend(keyexprs, tle->expr);
		keyresnos = lappend_int(keyresnos, tle->resno);
	}
	d = new_slot(cq, q->hasDistinctOn ? DEDUP_DISTINCT_ON : DEDUP_DISTINCT, keyexprs);

	/* a time, for eviction and late rows; none in complete mode (keep all) */
	if (cq->opts.output_mode == OUTPUT_COMPLETE)
		;
	else if (d->kind == DEDUP_DISTINCT)
	{
		int			k = distinct_time(cq, q, keyexprs, d);

		if (k >= 0)
			time = list_nth(keyexprs, k);
	}
	else
	{
		CqTime	   *t;

		time = (Expr *) stream_time_var(cq, q, &t);
		if (time)
		{
			d->expire_offset = t->delay;
			d->late_offset = 0;
		}
	}
	if (time)
	{
		d->has_time = true;
		d->drops_late = true;
	}

	/* the level without its DISTINCT, and the time it needs */
	inner = copyObject(q);
	inner->distinctClause = NIL;
	inner->hasDistinctOn = false;
	if (time)
		inner->targetList = lappend(inner->targetList,
									makeTargetEntry(copyObject(time),
													list_length(inner->targetList) + 1,
													pstrdup("pgs_time"), false));
	foreach(lc, inner->targetList)
	{
		TargetEntry *tle = lfirst(lc);

		tle->resjunk = false;
		tle->ressortgroupref = 0;
		colnames = lappend(colnames, makeString(pstrdup(tle->resname ? tle->resname : "?column?")));
	}
	inner->limitOffset = (Node *) makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
											Int64GetDatum(0), false, FLOAT8PASSBYVAL);
	/* it is a level deeper: its references to levels above are one further */
	IncrementVarSublevelsUp((Node *) inner, 1, 1);

	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_SUBQUERY;
	rte->subquery = inner;
	rte->eref = makeAlias("pgs_distinct", colnames);
	rte->inFromCl = true;
	rtr = makeNode(RangeTblRef);
	rtr->rtindex = 1;

	/* the level: its columns, the filter over them */
	foreach(lc, q->targetList)
	{
		TargetEntry *tle = flatCopyTargetEntry(lfirst(lc));

		tle->expr = (Expr *) makeVar(1, tle->resno, exprType((Node *) tle->expr),
									 exprTypmod((Node *) tle->expr),
									 exprCollation((Node *) tle->expr), 0);
		tle->ressortgroupref = 0;
		tlist = lappend(tlist, tle);
	}
	foreach(lc, keyresnos)
	{
		TargetEntry *tle = get_tle_by_resno(inner->targetList, lfirst_int(lc));

		keyvars = lappend(keyvars, makeVar(1, tle->resno, exprType((Node *) tle->expr),
										   exprTypmod((Node *) tle->expr),
										   exprCollation((Node *) tle->expr), 0));
	}
	if (time)
		timevar = makeVar(1, list_length(inner->targetList), exprType((Node *) time),
						  exprTypmod((Node *) time), exprCollation((Node *) time), 0);

	q->rtable = list_make1(rte);
	q->jointree = makeFromExpr(list_make1(rtr),
							   (Node *) filter_call(cq, d, (Expr *) timevar, keyvars));
	q->targetList = tlist;
	q->cteList = NIL;
	q->distinctClause = NIL;
	q->hasDistinctOn = false;
	q->hasSubLinks = false;
	q->hasTargetSRFs = false;
	q->hasRowSecurity = false;
	q->rowMarks = NIL;
	q->limitOffset = top ? NULL :
		(Node *) makeConst(INT8OID, -1, InvalidOid, sizeof(int64),
						   Int64GetDatum(0), false, FLOAT8PASSBYVAL);
}

/* does q read nothing but its one subquery rte, with no sub-SELECT? */
static bool
reads_only(Query *q, Index rti)
{
	FromExpr   *f = q->jointree;

	return !q->hasSubLinks && f && list_length(f->fromlist) == 1 &&
		IsA(linitial(f->fromlist), RangeTblRef) &&
		((RangeTblRef *) linitial(f->fromlist))->rtindex == (int) rti;
}

/*
 * The DISTINCTs of q and of its subqueries that read streams. A filter
 * must see every row of its level, once: the executor stops reading a
 * subquery that a join no longer needs (a hash join whose other side is
 * empty, a merge join at the other side's end) and reads one on a
 * nested loop's inner side again for each outer row, so a DISTINCT below
 * the top is taken only where each level above it reads just that one
 * subquery (and may filter, project and aggregate it). "whole": q is
 * read that way.
 */
static void
rewrite_level(CqDef *cq, Query *q, Query *top, bool whole)
{
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_SUBQUERY && pgs_query_streams(rte->subquery) != NIL)
			rewrite_level(cq, rte->subquery, top,
						  whole && reads_only(q, foreach_current_index(lc) + 1) &&
						  !rte->lateral);
	}
	if (q->distinctClause)
	{
		if (!whole)
			pgs_reject("DISTINCT in a subquery that is joined or read by a sub-SELECT",
					   "Deduplicate in a continuous view of its own whose sink is a stream, and join that stream; or join inside the DISTINCT's own query.");
		rewrite_distinct(cq, q, q == top);
	}
}

/*
 * The DISTINCT and DISTINCT ON of the query and of its subqueries that
 * read streams, as first-seen filters (slots in cq->dedups).
 */
void
pgs_dedup_rewrite(CqDef *cq, Query *query)
{
	Oid			fn = first_seen_oid();

	if (calls_walker((Node *) query, &fn))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("stream._first_seen() is internal to pg_stream"),
				 errhint("Use SELECT DISTINCT, DISTINCT ON or aggregate(DISTINCT ...).")));
	rewrite_level(cq, query, query, true);
}

/* aggregates whose value depends on the order of their input */
static bool
order_sensitive(Oid aggfnoid)
{
	const char *name = get_func_name(aggfnoid);

	return name != NULL &&
		get_func_namespace(aggfnoid) == PG_CATALOG_NAMESPACE &&
		(strcmp(name, "string_agg") == 0 || strcmp(name, "array_agg") == 0 ||
		 strcmp(name, "json_agg") == 0 || strcmp(name, "jsonb_agg") == 0 ||
		 strcmp(name, "json_object_agg") == 0 || strcmp(name, "jsonb_object_agg") == 0 ||
		 strcmp(name, "xmlagg") == 0);
}

/*
 * aggref(DISTINCT args), a copy in the per-batch query: a filter of its
 * arguments in each group instead (keyexprs: the group keys), evaluated
 * after its own FILTER. Returns the filter.
 */
Expr *
pgs_dedup_agg_filter(CqDef *cq, Query *query, Aggref *aggref, List *keyexprs)
{
	List	   *keys = list_copy(keyexprs);
	ListCell   *lc;
	CqDedup    *d;
	Expr	   *time = NULL;
	Expr	   *filter;

	Assert(aggref->aggdistinct != NIL);
	/* a session's values would be keyed by each row's range, not the session */
	if (cq->session_col != 0)
		pgs_reject("a DISTINCT aggregate over session windows",
			   "Deduplicate in a subquery, and aggregate its rows by session: FROM (SELECT DISTINCT user_id, x, ts FROM ...) d.");
	if (order_sensitive(aggref->aggfnoid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("DISTINCT in aggregate %s is not supported in a continuous view",
						format_procedure(aggref->aggfnoid)),
				 errdetail("PostgreSQL orders a DISTINCT aggregate's values by sorting them; a continuous view cannot sort the values of past batches again."),
				 errhint("Deduplicate in a subquery, for the values in arrival order: %s(x) FROM (SELECT DISTINCT g, x FROM ...) d GROUP BY g.",
						 get_func_name(aggref->aggfnoid))));
	foreach(lc, aggref->args)
	{
		TargetEntry *tle = lfirst(lc);

		if (!tle->resjunk)
			keys = lappend(keys, tle->expr);
	}
	d = new_slot(cq, DEDUP_AGG, keys);
	if (cq->window_key >= 0 && cq->opts.output_mode != OUTPUT_COMPLETE)
	{
		/* the values go with their window's state */
		time = list_nth(keyexprs, cq->window_key);
		d->has_time = true;
		d->expire_offset = cq->window_size;
	}
	filter = filter_call(cq, d, time, keys);
	if (aggref->aggfilter)
	{
		/* the value counts only where FILTER is true, not NULL */
		BooleanTest *bt = makeNode(BooleanTest);

		bt->arg = aggref->aggfilter;
		bt->booltesttype = IS_TRUE;
		bt->location = -1;
		aggref->aggfilter = make_andclause(list_make2(bt, filter));
	}
	else
		aggref->aggfilter = filter;
	aggref->aggdistinct = NIL;
	return filter;
}

static bool
is_volatile(Oid func_id, void *context)
{
	return func_volatile(func_id) == PROVOLATILE_VOLATILE;
}

static bool
volatile_walker(Node *node, Oid *fn)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr) && ((FuncExpr *) node)->funcid == *fn)
		return expression_tree_walker((Node *) ((FuncExpr *) node)->args,
									  volatile_walker, fn);
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, volatile_walker, fn, 0);
	if (IsA(node, NextValueExpr) || check_functions_in_node(node, is_volatile, NULL))
		return true;
	return expression_tree_walker(node, volatile_walker, fn);
}

/*
 * Does the query call a volatile function, other than the filters? (They
 * read and write only their own tables.)
 */
bool
pgs_dedup_volatile(Node *node)
{
	Oid			fn = first_seen_oid();

	return volatile_walker(node, &fn);
}

/*------------------------------------------------------------------------
 * A batch's filters
 *------------------------------------------------------------------------
 */
typedef struct DedupSlot
{
	CqDedup    *def;
	Relation	rel;
	KeyedStore *store;			/* for the inserts */
	Relation	hashidx;		/* the index on _pgs_hash */
	KStoreScan *scan;			/* its rows of one hash */
	Datum		probe;			/* the hash scan looks for */
	TupleTableSlot *found;		/* a row it found */
	TupleTableSlot *slot;		/* a key to insert */
	FmgrInfo   *hashfns;		/* each key's 64-bit hash */
	FmgrInfo   *eqfns;			/* and equality */
	int64		inserted;
} DedupSlot;

struct DedupRun
{
	CqDef	   *cq;
	int			nslots;
	DedupSlot  *slots;
	EState	   *estate;
	MemoryContext cxt;
	MemoryContext callcxt;		/* one call's, reset after it */
	int64		nonce;			/* the query's (filter_call) */
	bool		has_watermark;	/* the watermark the batch runs with */
	int64		watermark;
	int64		rows_late;
};

/* a seen table of the shape its filter needs */
static void
check_seen_table(CqDef *cq, CqDedup *d, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	bool		ok = (desc->natts == d->nkeys + 2);

	for (int i = 0; ok && i < d->nkeys; i++)
		ok = (TupleDescAttr(desc, i)->atttypid == d->keytypes[i] &&
			  TupleDescAttr(desc, i)->attcollation == d->keycolls[i] &&
			  !TupleDescAttr(desc, i)->attisdropped);
	if (ok)
		ok = (TupleDescAttr(desc, d->nkeys)->atttypid == INT8OID &&
			  TupleDescAttr(desc, d->nkeys + 1)->atttypid == INT8OID);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" no longer holds the keys continuous view %s has seen",
						RelationGetRelationName(rel), cq->viewname),
				 errhint("Drop and re-create the continuous view.")));
}

/*
 * The filters of a batch running under the watermark given, reached by
 * the query's calls through the BatchRun (the caller sets run->dedup).
 * NULL if the query has none.
 */
DedupRun *
pgs_dedup_begin(CqDef *cq, bool has_watermark, int64 watermark)
{
	DedupRun   *dr;
	MemoryContext cxt;
	MemoryContext old;
	ListCell   *lc;

	if (cq->dedups == NIL)
		return NULL;
	if (list_length(cq->seen_relids) != list_length(cq->dedups))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("continuous view %s has lost the tables of the keys it has seen",
						cq->viewname),
				 errhint("Drop and re-create the continuous view.")));
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream dedup",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	dr = palloc0(sizeof(DedupRun));
	dr->cq = cq;
	dr->cxt = cxt;
	dr->callcxt = AllocSetContextCreate(cxt, "pg_stream dedup call", ALLOCSET_SMALL_SIZES);
	dr->has_watermark = has_watermark;
	dr->watermark = watermark;
	dr->nonce = cq->dedup_nonce;
	dr->estate = CreateExecutorState();
	dr->nslots = list_length(cq->dedups);
	dr->slots = palloc0(sizeof(DedupSlot) * dr->nslots);
	foreach(lc, cq->dedups)
	{
		DedupSlot  *ds = &dr->slots[foreach_current_index(lc)];
		CqDedup    *d = lfirst(lc);
		AttrNumber	hashcol = d->nkeys + 2;
		ScanKeyData skey;

		ds->def = d;
		ds->rel = table_open(list_nth_oid(cq->seen_relids, foreach_current_index(lc)),
							 RowExclusiveLock);
		check_seen_table(cq, d, ds->rel);
		ds->store = kstore_open(ds->rel, 0, NULL, dr->estate);
		ds->hashidx = kstore_index_on(ds->rel, 1, &hashcol, RowExclusiveLock);
		if (ds->hashidx == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("\"%s\" has lost the index on the hash of its keys",
							RelationGetRelationName(ds->rel)),
					 errhint("Drop and re-create the continuous view.")));
		/* the rows of one hash, seeing the keys this batch inserted */
		ScanKeyInit(&skey, 1, BTEqualStrategyNumber, F_INT8EQ, (Datum) 0);
		ds->scan = kstore_scan_keys(ds->rel, ds->hashidx, &skey, 1, &ds->probe, 1,
									SnapshotSelf);
		ds->found = table_slot_create(ds->rel, NULL);
		ds->slot = table_slot_create(ds->rel, NULL);
		ds->hashfns = palloc0(sizeof(FmgrInfo) * Max(d->nkeys, 1));
		ds->eqfns = palloc0(sizeof(FmgrInfo) * Max(d->nkeys, 1));
		for (int i = 0; i < d->nkeys; i++)
		{
			Oid			hashproc;
			Oid			eqproc;

			if (!key_hashable(d->keytypes[i], &hashproc, &eqproc))
				elog(ERROR, "type %s has no hash operator class", format_type_be(d->keytypes[i]));
			fmgr_info(hashproc, &ds->hashfns[i]);
			fmgr_info(eqproc, &ds->eqfns[i]);
		}
	}
	MemoryContextSwitchTo(old);
	return dr;
}

/* a row with this time is late: time + offset at or before the watermark */
static bool
time_is_late(int64 time, int64 offset, int64 watermark)
{
	int64		t;

	if (pg_add_s64_overflow(time, offset, &t))
		return time < 0;
	return t <= watermark;
}

/* the hash of a key: its columns' 64-bit hashes combined (NULL: a constant) */
static uint64
keys_hash(DedupSlot *ds, Datum *keys, bool *nulls)
{
	uint64		h = 0;

	for (int i = 0; i < ds->def->nkeys; i++)
	{
		uint64		kh = UINT64CONST(0x9e3779b97f4a7c15);

		if (!nulls[i])
			kh = DatumGetUInt64(FunctionCall2Coll(&ds->hashfns[i], ds->def->keycolls[i],
												  keys[i], UInt64GetDatum(i)));
		h = hash_combine64(h, kh);
	}
	return h;
}

/* does a stored row have these keys? (NULLs equal, as DISTINCT's) */
static bool
keys_equal(DedupSlot *ds, TupleTableSlot *row, Datum *keys, bool *nulls)
{
	slot_getsomeattrs(row, ds->def->nkeys);
	for (int i = 0; i < ds->def->nkeys; i++)
	{
		if (row->tts_isnull[i] != nulls[i])
			return false;
		if (!nulls[i] &&
			!DatumGetBool(FunctionCall2Coll(&ds->eqfns[i], ds->def->keycolls[i],
											row->tts_values[i], keys[i])))
			return false;
	}
	return true;
}

/*
 * The argument types of a call site, checked once per call site (its
 * FmgrInfo): nonce, slot, a time, then the slot's keys.
 */
static void
check_call_types(FunctionCallInfo fcinfo, DedupSlot *ds)
{
	CqDedup    *d = ds->def;
	bool		ok = (PG_NARGS() == d->nkeys + 3);
	Oid			timetype = ok ? get_fn_expr_argtype(fcinfo->flinfo, 2) : InvalidOid;

	ok = ok && (timetype == TIMESTAMPTZOID || timetype == TIMESTAMPOID);
	for (int i = 0; ok && i < d->nkeys; i++)
		ok = (get_fn_expr_argtype(fcinfo->flinfo, i + 3) == d->keytypes[i]);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("stream._first_seen() called with arguments that are not its keys")));
	fcinfo->flinfo->fn_extra = ds;
}

PG_FUNCTION_INFO_V1(stream_first_seen);

/*
 * stream._first_seen(nonce, slot, time, keys...): true for a row whose
 * keys the slot has not seen (and records them), false for a duplicate or
 * a late row. Only the calls the engine put in the batch's query, which
 * carry the query's nonce, are served.
 */
Datum
stream_first_seen(PG_FUNCTION_ARGS)
{
	BatchRun   *run = pgs_batchrun_current();
	DedupRun   *dr = run ? (DedupRun *) run->dedup : NULL;
	DedupSlot  *ds;
	CqDedup    *d;
	int			slotno;
	Datum		keys[INDEX_MAX_KEYS];
	bool		nulls[INDEX_MAX_KEYS];
	MemoryContext old;
	bool		found;
	TupleTableSlot *slot;
	bool		expires = false;
	int64		expiry = 0;
	uint64		hash;

	if (dr == NULL || PG_NARGS() < 3 || PG_ARGISNULL(0) || PG_ARGISNULL(1) ||
		get_fn_expr_argtype(fcinfo->flinfo, 0) != INT8OID ||
		get_fn_expr_argtype(fcinfo->flinfo, 1) != INT4OID ||
		PG_GETARG_INT64(0) != dr->nonce)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("stream._first_seen() is internal to pg_stream's batches")));
	slotno = PG_GETARG_INT32(1);
	if (slotno < 0 || slotno >= dr->nslots)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("stream._first_seen(): no slot %d in this batch", slotno)));
	ds = &dr->slots[slotno];
	d = ds->def;
	if (fcinfo->flinfo->fn_extra != ds)
		check_call_types(fcinfo, ds);
	Assert(PG_NARGS() == d->nkeys + 3);

	if (d->has_time && !PG_ARGISNULL(2))
	{
		int64		time = PG_GETARG_INT64(2);

		if (d->drops_late && dr->has_watermark &&
			time_is_late(time, d->late_offset, dr->watermark))
		{
			dr->rows_late++;
			PG_RETURN_BOOL(false);
		}
		expires = true;
		if (pg_add_s64_overflow(time, d->expire_offset, &expiry))
			expiry = (time < 0) ? PG_INT64_MIN : PG_INT64_MAX;
	}
	for (int i = 0; i < d->nkeys; i++)
	{
		keys[i] = PG_GETARG_DATUM(i + 3);
		nulls[i] = PG_ARGISNULL(i + 3);
	}

	/*
	 * The lookup in the run's context: the index scan keeps what it
	 * allocates on the way (the entries it finds dead, say) until it ends.
	 * The insert in the call's.
	 */
	old = MemoryContextSwitchTo(dr->cxt);
	hash = keys_hash(ds, keys, nulls);
	ds->probe = Int64GetDatum((int64) hash);
	kstore_scan_rescan(ds->scan);
	found = false;
	while (!found && kstore_scan_next(ds->scan, ds->found))
		found = keys_equal(ds, ds->found, keys, nulls);
	ExecClearTuple(ds->found);
	if (!found)
	{
		MemoryContextSwitchTo(dr->callcxt);
		slot = ds->slot;
		ExecClearTuple(slot);
		memcpy(slot->tts_values, keys, sizeof(Datum) * d->nkeys);
		memcpy(slot->tts_isnull, nulls, sizeof(bool) * d->nkeys);
		slot->tts_values[d->nkeys] = Int64GetDatum(expiry);
		slot->tts_isnull[d->nkeys] = !expires;
		slot->tts_values[d->nkeys + 1] = Int64GetDatum((int64) hash);
		slot->tts_isnull[d->nkeys + 1] = false;
		ExecStoreVirtualTuple(slot);
		kstore_insert(ds->store, slot);
		ExecClearTuple(slot);
		ResetPerTupleExprContext(dr->estate);
		ds->inserted++;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(dr->callcxt);
	PG_RETURN_BOOL(!found);
}

/* delete a slot's keys that expire at or before upto; how many */
static int64
evict(DedupSlot *ds, int64 upto)
{
	AttrNumber	col = ds->def->nkeys + 1;
	Relation	idx = kstore_index_on(ds->rel, 1, &col, RowExclusiveLock);
	KStoreScan *sc;
	TupleTableSlot *slot = table_slot_create(ds->rel, NULL);
	int64		n = 0;

	sc = kstore_scan_expired(ds->rel, idx, col, upto, SnapshotSelf);
	while (kstore_scan_next(sc, slot))
	{
		simple_table_tuple_delete(ds->rel, &slot->tts_tid, GetActiveSnapshot());
		n++;
	}
	kstore_scan_end(sc);
	ExecDropSingleTupleTableSlot(slot);
	if (idx)
		index_close(idx, NoLock);
	return n;
}

/*
 * The end of the batch's filters (the caller clears run->dedup first):
 * keys are evicted under the watermark the batch leaves (has_watermark,
 * watermark), a DISTINCT aggregate's with its windows (agg_watermark, if
 * the aggregation evicts windows). Adds the late rows and the keys kept.
 */
void
pgs_dedup_end(DedupRun *dr, bool has_watermark, int64 watermark,
			  bool agg_has_watermark, int64 agg_watermark,
			  int64 *rows_late, int64 *state_rows)
{
	if (dr == NULL)
		return;
	/* the keys the batch inserted, visible to the deletes */
	CommandCounterIncrement();
	for (int i = 0; i < dr->nslots; i++)
	{
		DedupSlot  *ds = &dr->slots[i];
		CqDedup    *d = ds->def;
		int64		evicted = 0;

		if (d->has_time)
		{
			if (d->kind == DEDUP_AGG)
			{
				if (dr->cq->evicts && agg_has_watermark)
					evicted = evict(ds, agg_watermark);
			}
			else if (has_watermark)
				evicted = evict(ds, watermark);
		}
		*state_rows += ds->inserted - evicted;
		kstore_scan_end(ds->scan);
		index_close(ds->hashidx, NoLock);
		ExecDropSingleTupleTableSlot(ds->found);
		kstore_close(ds->store);
		ExecDropSingleTupleTableSlot(ds->slot);
		table_close(ds->rel, NoLock);
	}
	*rows_late += dr->rows_late;
	FreeExecutorState(dr->estate);
	MemoryContextDelete(dr->cxt);
}
