/*-------------------------------------------------------------------------
 *
 * reagg_delta.c
 *	  A query over an aggregation without a window, by deltas: the outer
 *	  aggregation's sums and counts kept in a state of their own, each
 *	  changed inner row retracted and its new row added (Flink's way).
 *
 * engine/reagg.c recomputes the query above an aggregation without a
 * window over every inner group after each batch that changes one: exact
 * for any query, but each batch costs what the inner state holds. For the
 * common shape (Nexmark q4: an average per category of the max per
 * auction) this file does what Flink does instead:
 *
 *	SELECT k1, ..., agg1, ... FROM (inner aggregation) q
 *	[WHERE <over q's columns>] GROUP BY k1, ...
 *
 * one level, its GROUP BY keys expressions of the inner columns (at least
 * one key), its select list keys and aggregates only, each aggregate one
 * that can be taken back exactly: count(*), count(x), and sum and avg of
 * smallint, integer, bigint and numeric, with no FILTER, DISTINCT or
 * ORDER BY. Everything here must be immutable, and so must the inner
 * aggregation's select list and HAVING (stage_skips: an inner row that
 * did not change has the same image). Anything else (min and max above,
 * whose old value cannot be taken out of a group; float sums, which are
 * not exactly invertible: (a + b) - a need not be b; HAVING, expressions
 * over aggregates, a query without GROUP BY) is recomputed as before.
 *
 * The outer state: a table of the view's (stream.cq's rows_table, which
 * a recomputed view keeps empty and never reads: its restore computes the
 * view from the inner state), one row per outer group: the keys (a unique
 * index on them, NULLS NOT DISTINCT, as the GROUP BY), _pgs_n the number
 * of inner rows in the group, then for each aggregate but count(*) the
 * number of its non-NULL inputs, for sum and avg their sum (bigint for
 * smallint and integer inputs, wrapping as PostgreSQL's own does; numeric
 * otherwise), for numeric inputs an int8[] of the NaN, +Infinity and
 * -Infinity inputs, then of the finite inputs of each display scale (a
 * sum's scale is the largest of its inputs', which a subtraction cannot
 * take back: the counts per scale can), and _pgs_row, the tid of the
 * group's row in the view. Its column _pgs_n is what tells a view made by
 * deltas from one made before them (whose rows_table is a copy of the
 * view's columns): such a view goes on being recomputed.
 *
 * Per batch: engine/merge.c finalizes each merged inner group before and
 * after its merge (as for a recomputed view, but for every group, not
 * only until the first change) and hands both rows here. A row whose
 * image did not change costs nothing more; else the old row, if it
 * passed the WHERE, is retracted from its outer group and the new one
 * added to its own (an inner group moves between outer groups when a key
 * is an expression of an inner aggregate, or passes or fails the WHERE).
 * The deltas are summed per outer group in memory (a hash table of the
 * groups the batch touched, found by the keys' hash and equality
 * functions). Then each touched group's state row is looked up once by
 * its keys; its view row is at the tid the state keeps, checked against
 * the row its old state computes (a VACUUM FULL of the view moves rows:
 * then, and if a count would go below 0, the whole view and outer state
 * are rebuilt from the inner state, which is always right); the new
 * state is written, and the view row updated, inserted, or deleted when
 * the group's count reaches 0, exactly as the batch query has no row for
 * a group without input rows. All in the batch's transaction.
 *
 * The finals are those PostgreSQL's aggregates compute from the same
 * state: int8 for count and sum of smallint and integer; numeric for the
 * others, avg as numeric_div(sum, count) (so its scale is the batch
 * query's), a numeric sum rounded to its largest input scale.
 *
 * A restore (and the view's creation) rebuilds the outer state and the
 * view from the inner state (pgs_delta_rebuild): the dumped outer state's
 * tids name rows of the dumped cluster's view. A rebuild holds at most
 * work_mem of outer groups: past it, the groups summed so far are
 * written, and the rest add to them. A batch's deltas are held whole:
 * they are at most one group for each inner group the batch merged.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/makefuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "port/pg_bitutils.h"
#include "storage/bufmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

typedef enum DeltaAggKind
{
	DA_COUNT_STAR,
	DA_COUNT,
	DA_SUM_INT,					/* sum of smallint, integer: bigint */
	DA_SUM_BIG,					/* of bigint: numeric */
	DA_SUM_NUM,					/* of numeric */
	DA_AVG_INT,
	DA_AVG_BIG,
	DA_AVG_NUM
} DeltaAggKind;

typedef struct DeltaAgg
{
	DeltaAggKind kind;
	Expr	   *arg;			/* NULL for count(*) */
	AttrNumber	cntcol;			/* its state columns (1-based), or 0 */
	AttrNumber	sumcol;
	AttrNumber	xcol;
} DeltaAgg;

struct DeltaShape
{
	List	   *quals;			/* the WHERE, implicit AND, or NIL */
	int			nkeys;
	List	   *keyexprs;
	Oid		   *keytypes;
	int32	   *keytypmods;
	Oid		   *keycolls;
	int			naggs;
	DeltaAgg   *aggs;
	int			nout;			/* the view's columns: */
	int		   *outcol;			/* a key's index, or -1 - an aggregate's */
	AttrNumber	ncol;			/* _pgs_n */
	AttrNumber	rowcol;			/* _pgs_row, the last column */
};

#define DELTA_MARKER "_pgs_n"

static bool
is_sum_or_avg(DeltaAggKind k)
{
	return k != DA_COUNT_STAR && k != DA_COUNT;
}

static bool
is_numeric_input(DeltaAggKind k)
{
	return k == DA_SUM_NUM || k == DA_AVG_NUM;
}

static bool
is_int_sum(DeltaAggKind k)
{
	return k == DA_SUM_INT || k == DA_AVG_INT;
}

/* an aggregate that can be taken back, or false */
static bool
delta_agg_kind(Aggref *a, DeltaAggKind *kind)
{
	if (a->aggfilter || a->aggdistinct || a->aggorder || a->agglevelsup != 0 ||
		a->aggkind != AGGKIND_NORMAL || a->aggvariadic)
		return false;
	switch (a->aggfnoid)
	{
		case F_COUNT_:
			*kind = DA_COUNT_STAR;
			return true;
		case F_COUNT_ANY:
			*kind = DA_COUNT;
			break;
		case F_SUM_INT2:
		case F_SUM_INT4:
			*kind = DA_SUM_INT;
			break;
		case F_SUM_INT8:
			*kind = DA_SUM_BIG;
			break;
		case F_SUM_NUMERIC:
			*kind = DA_SUM_NUM;
			break;
		case F_AVG_INT2:
		case F_AVG_INT4:
			*kind = DA_AVG_INT;
			break;
		case F_AVG_INT8:
			*kind = DA_AVG_BIG;
			break;
		case F_AVG_NUMERIC:
			*kind = DA_AVG_NUM;
			break;
		default:
			return false;
	}
	return list_length(a->args) == 1;
}

/* a key the outer state's unique index and our hash table find as GROUP BY does */
static bool
delta_key_ok(SortGroupClause *sgc, Oid type)
{
	TypeCacheEntry *tc = lookup_type_cache(type, TYPECACHE_EQ_OPR | TYPECACHE_HASH_PROC |
										   TYPECACHE_BTREE_OPFAMILY);

	return OidIsValid(tc->eq_opr) && sgc->eqop == tc->eq_opr &&
		OidIsValid(tc->hash_proc) && OidIsValid(tc->btree_opf);
}

/* the one relation of q's FROM: the stage's rows (engine/stage.c) */
static bool
reads_stage_only(Query *q)
{
	RangeTblEntry *rte;

	if (list_length(q->jointree->fromlist) != 1 ||
		!IsA(linitial(q->jointree->fromlist), RangeTblRef))
		return false;
	rte = rt_fetch(linitial_node(RangeTblRef, q->jointree->fromlist)->rtindex, q->rtable);
	return rte->rtekind == RTE_NAMEDTUPLESTORE;
}

/*
 * At each load of a query over an aggregation without a window whose
 * inner rows change only when their state does (stage_skips): the shape
 * computed by deltas (above), or NULL.
 */
DeltaShape *
pgs_delta_shape(Query *q)
{
	DeltaShape *s;
	ListCell   *lc;
	List	   *aggs = NIL;
	AttrNumber	col;

	if (q->commandType != CMD_SELECT || q->setOperations || q->cteList ||
		q->hasWindowFuncs || q->hasSubLinks || q->hasTargetSRFs || q->hasDistinctOn ||
		q->distinctClause || q->havingQual || q->groupingSets || !q->hasAggs ||
		q->groupClause == NIL || !reads_stage_only(q))
		return NULL;
	if (q->jointree->quals && contain_mutable_functions(q->jointree->quals))
		return NULL;
	s = palloc0(sizeof(DeltaShape));
	s->quals = q->jointree->quals ?
		make_ands_implicit((Expr *) q->jointree->quals) : NIL;
	s->nkeys = list_length(q->groupClause);
	s->keytypes = palloc(sizeof(Oid) * s->nkeys);
	s->keytypmods = palloc(sizeof(int32) * s->nkeys);
	s->keycolls = palloc(sizeof(Oid) * s->nkeys);
	foreach(lc, q->groupClause)
	{
		SortGroupClause *sgc = lfirst(lc);
		Node	   *e = get_sortgroupclause_expr(sgc, q->targetList);
		int			k = foreach_current_index(lc);

		if (contain_mutable_functions(e) || contain_agg_clause(e) ||
			!delta_key_ok(sgc, exprType(e)))
			return NULL;
		s->keyexprs = lappend(s->keyexprs, e);
		s->keytypes[k] = exprType(e);
		s->keytypmods[k] = exprTypmod(e);
		s->keycolls[k] = exprCollation(e);
	}
	/* the select list: keys and aggregates, nothing computed over them */
	s->outcol = palloc(sizeof(int) * list_length(q->targetList));
	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst(lc);
		int			key = -1;
		ListCell   *lc2;

		if (tle->ressortgroupref)
			foreach(lc2, q->groupClause)
				if (((SortGroupClause *) lfirst(lc2))->tleSortGroupRef == tle->ressortgroupref)
					key = foreach_current_index(lc2);
		if (tle->resjunk)
		{
			if (key < 0)
				return NULL;
			continue;
		}
		if (key >= 0)
			s->outcol[s->nout++] = key;
		else if (IsA(tle->expr, Aggref))
		{
			DeltaAggKind kind;
			Aggref	   *a = (Aggref *) tle->expr;

			if (!delta_agg_kind(a, &kind) ||
				(a->args && contain_mutable_functions((Node *) a->args)))
				return NULL;
			aggs = lappend(aggs, a);
			s->outcol[s->nout++] = -list_length(aggs);
		}
		else
			return NULL;
	}
	/* the state's columns: keys, _pgs_n, each aggregate's, _pgs_row */
	s->naggs = list_length(aggs);
	s->aggs = palloc0(sizeof(DeltaAgg) * Max(s->naggs, 1));
	s->ncol = s->nkeys + 1;
	col = s->ncol + 1;
	foreach(lc, aggs)
	{
		Aggref	   *a = lfirst(lc);
		DeltaAgg   *da = &s->aggs[foreach_current_index(lc)];

		(void) delta_agg_kind(a, &da->kind);
		if (da->kind == DA_COUNT_STAR)
			continue;
		da->arg = linitial_node(TargetEntry, a->args)->expr;
		da->cntcol = col++;
		if (is_sum_or_avg(da->kind))
			da->sumcol = col++;
		if (is_numeric_input(da->kind))
			da->xcol = col++;
	}
	s->rowcol = col;
	return s;
}

/*
 * At CREATE: the outer state table's CREATE TABLE and CREATE INDEX
 * (engine/ddl.c runs them), for relation name (qualified, quoted).
 */
List *
pgs_delta_state_sql(DeltaShape *s, const char *name, int fillfactor)
{
	StringInfoData sql;
	StringInfoData keys;

	initStringInfo(&sql);
	initStringInfo(&keys);
	appendStringInfo(&sql, "CREATE TABLE %s (", name);
	for (int k = 0; k < s->nkeys; k++)
	{
		appendStringInfo(&sql, "k%d %s", k + 1,
						 format_type_with_typemod(s->keytypes[k], s->keytypmods[k]));
		if (OidIsValid(s->keycolls[k]))
			appendStringInfo(&sql, " COLLATE %s", generate_collation_name(s->keycolls[k]));
		appendStringInfoString(&sql, ", ");
		appendStringInfo(&keys, "%sk%d", k ? ", " : "", k + 1);
	}
	appendStringInfoString(&sql, DELTA_MARKER " int8 NOT NULL");
	for (int i = 0; i < s->naggs; i++)
	{
		DeltaAgg   *da = &s->aggs[i];

		if (da->cntcol)
			appendStringInfo(&sql, ", c%d int8 NOT NULL", i + 1);
		if (da->sumcol)
			appendStringInfo(&sql, ", s%d %s NOT NULL", i + 1,
							 is_int_sum(da->kind) ? "int8" : "numeric");
		if (da->xcol)
			appendStringInfo(&sql, ", x%d int8[] NOT NULL", i + 1);
	}
	appendStringInfo(&sql, ", _pgs_row tid) WITH (fillfactor = %d)", fillfactor);
	return list_make2(sql.data,
					  psprintf("CREATE UNIQUE INDEX ON %s (%s) NULLS NOT DISTINCT",
							   name, keys.data));
}

/*------------------------------------------------------------------------
 * A batch's deltas, summed per outer group
 *------------------------------------------------------------------------
 */

/* one aggregate's delta, or its state */
typedef struct DeltaAcc
{
	int64		cnt;			/* non-NULL inputs */
	int64		isum;			/* the sum of smallint, integer inputs */
	Datum		nsum;			/* or a numeric one, or 0 */
	int64		special[3];		/* numeric: NaN, +Infinity, -Infinity */
	int			nscales;
	int64	   *scales;			/* numeric: finite inputs per scale */
} DeltaAcc;

typedef struct DeltaGroup
{
	uint32		hash;
	struct DeltaGroup *next;	/* of the same hash */
	Datum	   *keys;
	bool	   *nulls;
	int64		dn;				/* inner rows in, less those out */
	DeltaAcc   *acc;
	/* its state, when written (pgs_delta_apply) */
	bool		found;
	ItemPointerData stid;
	ItemPointerData vtid;
	int64		n;
	DeltaAcc   *old;
	MinimalTuple oldrow;		/* its view row */
} DeltaGroup;

typedef struct DeltaBucket
{
	uint32		hash;
	DeltaGroup *groups;
} DeltaBucket;

struct DeltaRun
{
	CqDef	   *cq;
	DeltaShape *s;
	MemoryContext cxt;
	EState	   *estate;
	ExprContext *econtext;
	ExprState  *qual;
	ExprState **keys;
	ExprState **args;
	TupleTableSlot *before;		/* an inner row as it was */
	FmgrInfo   *hashfn;
	FmgrInfo   *eqfn;
	int16	   *keylen;
	bool	   *keybyval;
	HTAB	   *groups;
	List	   *order;			/* DeltaGroup *, as first touched */
	Datum	   *kv;				/* scratch: a row's keys */
	bool	   *kn;
};

/* is the view's rows_table an outer state (see the top)? */
bool
pgs_delta_on(CqDef *cq)
{
	if (cq->stage_delta == NULL || !OidIsValid(cq->rows_relid))
		return false;

	/*
	 * (Both columns where the shape puts them: a copy of the rows of a view
	 * made before, one of whose columns is named _pgs_n, is no outer state.)
	 */
	return get_attnum(cq->rows_relid, DELTA_MARKER) == cq->stage_delta->ncol &&
		get_attnum(cq->rows_relid, "_pgs_row") == cq->stage_delta->rowcol;
}

DeltaRun *
pgs_delta_begin(CqDef *cq)
{
	DeltaShape *s = cq->stage_delta;
	MemoryContext cxt;
	MemoryContext old;
	DeltaRun   *d;
	HASHCTL		ctl;

	if (!pgs_delta_on(cq))
		return NULL;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream deltas",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	d = palloc0(sizeof(DeltaRun));
	d->cq = cq;
	d->s = s;
	d->cxt = cxt;
	d->estate = CreateExecutorState();
	d->econtext = GetPerTupleExprContext(d->estate);
	d->qual = s->quals ? ExecPrepareQual(s->quals, d->estate) : NULL;
	d->keys = palloc(sizeof(ExprState *) * s->nkeys);
	d->hashfn = palloc(sizeof(FmgrInfo) * s->nkeys);
	d->eqfn = palloc(sizeof(FmgrInfo) * s->nkeys);
	d->keylen = palloc(sizeof(int16) * s->nkeys);
	d->keybyval = palloc(sizeof(bool) * s->nkeys);
	d->kv = palloc(sizeof(Datum) * s->nkeys);
	d->kn = palloc(sizeof(bool) * s->nkeys);
	for (int k = 0; k < s->nkeys; k++)
	{
		TypeCacheEntry *tc = lookup_type_cache(s->keytypes[k],
											   TYPECACHE_EQ_OPR | TYPECACHE_HASH_PROC);

		d->keys[k] = ExecPrepareExpr(list_nth(s->keyexprs, k), d->estate);
		fmgr_info(tc->hash_proc, &d->hashfn[k]);
		fmgr_info(get_opcode(tc->eq_opr), &d->eqfn[k]);
		get_typlenbyval(s->keytypes[k], &d->keylen[k], &d->keybyval[k]);
	}
	d->args = palloc0(sizeof(ExprState *) * Max(s->naggs, 1));
	for (int i = 0; i < s->naggs; i++)
		if (s->aggs[i].arg)
			d->args[i] = ExecPrepareExpr(s->aggs[i].arg, d->estate);
	d->before = MakeSingleTupleTableSlot(pgs_stage_rowdesc(cq), &TTSOpsMinimalTuple);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(DeltaBucket);
	ctl.hcxt = cxt;
	d->groups = hash_create("pg_stream delta groups", 256, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	MemoryContextSwitchTo(old);
	return d;
}

static DeltaAcc *
new_accs(int naggs)
{
	return palloc0(sizeof(DeltaAcc) * Max(naggs, 1));
}

/* the outer group of these keys, made if new */
static DeltaGroup *
find_group(DeltaRun *d, Datum *keys, bool *nulls)
{
	DeltaShape *s = d->s;
	uint32		h = 0;
	bool		found;
	DeltaBucket *b;
	DeltaGroup *g;

	for (int k = 0; k < s->nkeys; k++)
	{
		h = pg_rotate_left32(h, 1);
		if (nulls[k])
			h ^= 0x9e3779b9;
		else
			h ^= DatumGetUInt32(FunctionCall1Coll(&d->hashfn[k], s->keycolls[k], keys[k]));
	}
	b = hash_search(d->groups, &h, HASH_ENTER, &found);
	if (!found)
		b->groups = NULL;
	for (g = b->groups; g; g = g->next)
	{
		bool		eq = true;

		for (int k = 0; k < s->nkeys && eq; k++)
			eq = g->nulls[k] == nulls[k] &&
				(nulls[k] ||
				 DatumGetBool(FunctionCall2Coll(&d->eqfn[k], s->keycolls[k], g->keys[k],
												keys[k])));
		if (eq)
			return g;
	}
	g = palloc0(sizeof(DeltaGroup));
	g->hash = h;
	g->keys = palloc(sizeof(Datum) * s->nkeys);
	g->nulls = palloc(sizeof(bool) * s->nkeys);
	for (int k = 0; k < s->nkeys; k++)
	{
		g->nulls[k] = nulls[k];
		g->keys[k] = nulls[k] ? (Datum) 0 : datumCopy(keys[k], d->keybyval[k], d->keylen[k]);
	}
	g->acc = new_accs(s->naggs);
	g->next = b->groups;
	b->groups = g;
	d->order = lappend(d->order, g);
	return g;
}

static Datum
num_add(Datum a, Datum b, int sign)
{
	return sign > 0 ? DirectFunctionCall2(numeric_add, a, b) :
		DirectFunctionCall2(numeric_sub, a, b);
}

/*
 * acc += add (numeric sums made in the current context). wide: a bigint
 * sum, whose delta is summed in isum until it would overflow, then in
 * nsum (acc_value): both go into acc's nsum.
 */
static void
acc_add(DeltaAcc *acc, const DeltaAcc *add, bool wide)
{
	acc->cnt += add->cnt;
	if (!wide)
		acc->isum = (int64) ((uint64) acc->isum + (uint64) add->isum);
	else if (add->isum != 0)
	{
		Datum		n = NumericGetDatum(int64_to_numeric(add->isum));

		acc->nsum = acc->nsum == (Datum) 0 ? n : num_add(acc->nsum, n, 1);
	}
	if (add->nsum != (Datum) 0)
		acc->nsum = acc->nsum == (Datum) 0 ? add->nsum : num_add(acc->nsum, add->nsum, 1);
	for (int i = 0; i < 3; i++)
		acc->special[i] += add->special[i];
	if (add->nscales > acc->nscales)
	{
		acc->scales = acc->scales ? repalloc(acc->scales, sizeof(int64) * add->nscales) :
			palloc(sizeof(int64) * add->nscales);
		memset(acc->scales + acc->nscales, 0,
			   sizeof(int64) * (add->nscales - acc->nscales));
		acc->nscales = add->nscales;
	}
	for (int i = 0; i < add->nscales; i++)
		acc->scales[i] += add->scales[i];
}

/* one input value of an aggregate, in or out */
static void
acc_value(DeltaAcc *acc, DeltaAggKind kind, Datum v, int sign)
{
	Datum		was = acc->nsum;	/* (a group's own: freed when replaced) */

	acc->cnt += sign;
	switch (kind)
	{
		case DA_COUNT_STAR:
		case DA_COUNT:
			break;
		case DA_SUM_INT:
		case DA_AVG_INT:
			/* (smallint and integer values come as int8: delta_row) */
			acc->isum = (int64) ((uint64) acc->isum + (uint64) (sign * DatumGetInt64(v)));
			break;
		case DA_SUM_BIG:
		case DA_AVG_BIG:
			{
				int64		x = DatumGetInt64(v);
				int64		r;
				Datum		n;

				/* in an int8 while it holds (no numeric per row), then numeric */
				if (x != PG_INT64_MIN &&
					!pg_add_s64_overflow(acc->isum, sign > 0 ? x : -x, &r))
				{
					acc->isum = r;
					break;
				}
				n = NumericGetDatum(int64_to_numeric(x));

				acc->nsum = acc->nsum == (Datum) 0 ?
					(sign > 0 ? n : DirectFunctionCall1(numeric_uminus, n)) :
					num_add(acc->nsum, n, sign);
				break;
			}
		case DA_SUM_NUM:
		case DA_AVG_NUM:
			{
				Numeric		num = DatumGetNumeric(v);
				int			scale;

				if (numeric_is_nan(num))
				{
					acc->special[0] += sign;
					break;
				}
				if (numeric_is_inf(num))
				{
					acc->special[DatumGetInt32(DirectFunctionCall2(numeric_cmp, v,
																   NumericGetDatum(int64_to_numeric(0)))) > 0 ? 1 : 2] += sign;
					break;
				}
				acc->nsum = acc->nsum == (Datum) 0 ?
					(sign > 0 ? datumCopy(v, false, -1) : DirectFunctionCall1(numeric_uminus, v)) :
					num_add(acc->nsum, v, sign);
				scale = DatumGetInt32(DirectFunctionCall1(numeric_scale, v));
				if (scale >= acc->nscales)
				{
					int			n = Max(scale + 1, 4);

					acc->scales = acc->scales ? repalloc(acc->scales, sizeof(int64) * n) :
						palloc(sizeof(int64) * n);
					memset(acc->scales + acc->nscales, 0, sizeof(int64) * (n - acc->nscales));
					acc->nscales = n;
				}
				acc->scales[scale] += sign;
				break;
			}
	}
	if (was != (Datum) 0 && acc->nsum != was)
		pfree(DatumGetPointer(was));
}

/* an inner row (in slot) in (sign 1) or out (-1) of its outer group */
static void
delta_row(DeltaRun *d, TupleTableSlot *slot, int sign)
{
	DeltaShape *s = d->s;
	ExprContext *ec = d->econtext;
	MemoryContext old;
	DeltaGroup *g;

	ec->ecxt_scantuple = slot;
	if (d->qual && !ExecQual(d->qual, ec))
	{
		ResetExprContext(ec);
		return;
	}
	for (int k = 0; k < s->nkeys; k++)
		d->kv[k] = ExecEvalExprSwitchContext(d->keys[k], ec, &d->kn[k]);
	old = MemoryContextSwitchTo(d->cxt);
	g = find_group(d, d->kv, d->kn);
	g->dn += sign;
	for (int i = 0; i < s->naggs; i++)
	{
		DeltaAgg   *da = &s->aggs[i];
		Datum		v = (Datum) 0;
		bool		isnull = false;

		if (da->arg)
		{
			v = ExecEvalExprSwitchContext(d->args[i], ec, &isnull);
			MemoryContextSwitchTo(d->cxt);
			/* smallint and integer inputs, as int8 */
			if (!isnull && is_int_sum(da->kind))
				v = Int64GetDatum(exprType((Node *) da->arg) == INT2OID ?
								  (int64) DatumGetInt16(v) : (int64) DatumGetInt32(v));
		}
		if (!isnull)
			acc_value(&g->acc[i], da->kind, v, sign);
	}
	MemoryContextSwitchTo(old);
	ResetExprContext(ec);
}

/*
 * A merged inner group (engine/merge.c): its row before (or NULL: new, or
 * HAVING rejected it), and fr->fslot holding its new final values. If its
 * row changed, the old one is taken out and the new one put in.
 */
void
pgs_delta_group(DeltaRun *d, FinalRow *fr, int nkeys, Datum *keys, bool *keynulls,
				MinimalTuple before)
{
	bool		keep = final_row_project(fr, nkeys, keys, keynulls);

	if (before != NULL)
	{
		ExecStoreMinimalTuple(before, d->before, false);
		if (keep && pgs_reagg_rows_equal(d->before, fr->vslot))
			return;
		delta_row(d, d->before, -1);
	}
	if (keep)
		delta_row(d, fr->vslot, 1);
}

/* an inner row of a rebuild: in */
static void
delta_add_row(DeltaRun *d, TupleTableSlot *slot)
{
	delta_row(d, slot, 1);
}

/*------------------------------------------------------------------------
 * The outer state and the view, written
 *------------------------------------------------------------------------
 */

/* a group's state row (in slot, deformed), as n and accumulators */
static void
read_state(DeltaShape *s, TupleTableSlot *slot, int64 *n, DeltaAcc *acc)
{
	*n = DatumGetInt64(slot->tts_values[s->ncol - 1]);
	for (int i = 0; i < s->naggs; i++)
	{
		DeltaAgg   *da = &s->aggs[i];

		memset(&acc[i], 0, sizeof(DeltaAcc));
		acc[i].cnt = da->kind == DA_COUNT_STAR ? *n :
			DatumGetInt64(slot->tts_values[da->cntcol - 1]);
		if (da->sumcol && is_int_sum(da->kind))
			acc[i].isum = DatumGetInt64(slot->tts_values[da->sumcol - 1]);
		else if (da->sumcol)
			acc[i].nsum = datumCopy(slot->tts_values[da->sumcol - 1], false, -1);
		if (da->xcol)
		{
			Datum	   *elems;
			bool	   *enulls;
			int			ne;

			deconstruct_array(DatumGetArrayTypeP(slot->tts_values[da->xcol - 1]), INT8OID,
							  8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &enulls, &ne);
			for (int j = 0; j < Min(ne, 3); j++)
				acc[i].special[j] = DatumGetInt64(elems[j]);
			acc[i].nscales = Max(ne - 3, 0);
			acc[i].scales = palloc0(sizeof(int64) * Max(acc[i].nscales, 1));
			for (int j = 3; j < ne; j++)
				acc[i].scales[j - 3] = DatumGetInt64(elems[j]);
		}
	}
}

/* the largest scale with a finite input, or 0 */
static int
max_scale(const DeltaAcc *acc)
{
	for (int i = acc->nscales - 1; i >= 0; i--)
		if (acc->scales[i] != 0)
			return i;
	return 0;
}

/* the state row of group g (keys), n inner rows, accs, its view row at vtid */
static void
make_state(DeltaShape *s, DeltaGroup *g, int64 n, DeltaAcc *acc, ItemPointer vtid,
		   TupleTableSlot *slot)
{
	ExecClearTuple(slot);
	for (int c = 0; c < slot->tts_tupleDescriptor->natts; c++)
		slot->tts_isnull[c] = true;
	for (int k = 0; k < s->nkeys; k++)
	{
		slot->tts_values[k] = g->keys[k];
		slot->tts_isnull[k] = g->nulls[k];
	}
	slot->tts_values[s->ncol - 1] = Int64GetDatum(n);
	slot->tts_isnull[s->ncol - 1] = false;
	for (int i = 0; i < s->naggs; i++)
	{
		DeltaAgg   *da = &s->aggs[i];

		if (da->cntcol)
		{
			slot->tts_values[da->cntcol - 1] = Int64GetDatum(acc[i].cnt);
			slot->tts_isnull[da->cntcol - 1] = false;
		}
		if (da->sumcol)
		{
			slot->tts_values[da->sumcol - 1] = is_int_sum(da->kind) ?
				Int64GetDatum(acc[i].isum) :
				(acc[i].nsum ? acc[i].nsum : NumericGetDatum(int64_to_numeric(0)));
			slot->tts_isnull[da->sumcol - 1] = false;
		}
		if (da->xcol)
		{
			int			ns = acc[i].nscales;
			Datum	   *elems;

			while (ns > 0 && acc[i].scales[ns - 1] == 0)
				ns--;
			elems = palloc(sizeof(Datum) * (3 + ns));
			for (int j = 0; j < 3; j++)
				elems[j] = Int64GetDatum(acc[i].special[j]);
			for (int j = 0; j < ns; j++)
				elems[3 + j] = Int64GetDatum(acc[i].scales[j]);
			slot->tts_values[da->xcol - 1] =
				PointerGetDatum(construct_array(elems, 3 + ns, INT8OID, 8, FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
			slot->tts_isnull[da->xcol - 1] = false;
		}
	}
	if (vtid)
	{
		ItemPointer t = palloc(sizeof(ItemPointerData));

		*t = *vtid;
		slot->tts_values[s->rowcol - 1] = PointerGetDatum(t);
		slot->tts_isnull[s->rowcol - 1] = false;
	}
	ExecStoreVirtualTuple(slot);
}

/* an aggregate's value, as PostgreSQL's finalizes the same state */
static Datum
final_value(DeltaAgg *da, int64 n, DeltaAcc *acc, bool *isnull)
{
	Datum		sum;
	int64		finite;

	*isnull = false;
	switch (da->kind)
	{
		case DA_COUNT_STAR:
			return Int64GetDatum(n);
		case DA_COUNT:
			return Int64GetDatum(acc->cnt);
		default:
			break;
	}
	if (acc->cnt == 0)
	{
		*isnull = true;
		return (Datum) 0;
	}
	if (is_int_sum(da->kind))
	{
		if (da->kind == DA_SUM_INT)
			return Int64GetDatum(acc->isum);
		return DirectFunctionCall2(numeric_div, NumericGetDatum(int64_to_numeric(acc->isum)),
								   NumericGetDatum(int64_to_numeric(acc->cnt)));
	}
	sum = acc->nsum ? acc->nsum : NumericGetDatum(int64_to_numeric(0));
	finite = acc->cnt;
	if (is_numeric_input(da->kind))
	{
		/* NaN, or +Infinity and -Infinity, give NaN; an infinity itself */
		if (acc->special[0] > 0 || (acc->special[1] > 0 && acc->special[2] > 0))
			return DirectFunctionCall3(numeric_in, CStringGetDatum("NaN"),
									   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		if (acc->special[1] > 0 || acc->special[2] > 0)
			return DirectFunctionCall3(numeric_in,
									   CStringGetDatum(acc->special[1] > 0 ? "Infinity" : "-Infinity"),
									   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		finite -= acc->special[0] + acc->special[1] + acc->special[2];
		/* the scale of the largest input's (a subtraction keeps the larger) */
		sum = DirectFunctionCall2(numeric_round, sum, Int32GetDatum(max_scale(acc)));
	}
	if (da->kind == DA_SUM_BIG || da->kind == DA_SUM_NUM)
		return sum;
	return DirectFunctionCall2(numeric_div, sum, NumericGetDatum(int64_to_numeric(finite)));
}

/* the view's row of a group of n inner rows with these states */
static void
make_view_row(DeltaShape *s, DeltaGroup *g, int64 n, DeltaAcc *acc, TupleTableSlot *slot)
{
	ExecClearTuple(slot);
	for (int c = 0; c < s->nout; c++)
	{
		int			o = s->outcol[c];

		if (o >= 0)
		{
			slot->tts_values[c] = g->keys[o];
			slot->tts_isnull[c] = g->nulls[o];
		}
		else
			slot->tts_values[c] = final_value(&s->aggs[-1 - o], n, &acc[-1 - o],
											  &slot->tts_isnull[c]);
	}
	ExecStoreVirtualTuple(slot);
}

/* does rel have a row the batch's snapshot sees? */
static bool
has_row(Relation rel)
{
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	bool		found = table_scan_getnextslot(scan, ForwardScanDirection, slot);

	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/*
 * Write the batch's deltas: each touched outer group's state and view row
 * (see the top). Returns the view rows written (an update counts as a
 * retraction and an insertion, as a recomputed view's do). Ends d.
 */
int64
pgs_delta_apply(DeltaRun *d)
{
	CqDef	   *cq = d->cq;
	DeltaShape *s = d->s;
	MemoryContext old = MemoryContextSwitchTo(d->cxt);
	Relation	srel;
	Relation	vrel;
	KeyedStore *sw;
	KeyedStore *vw;
	TupleTableSlot *vfetch_old;
	AttrNumber *keycols = palloc(sizeof(AttrNumber) * s->nkeys);
	TupleTableSlot *sslot;
	TupleTableSlot *vfetch;
	TupleTableSlot *vslot;
	TupleTableSlot *nsslot;
	bool		rebuild = false;
	BlockNumber nblocks;
	HASHCTL		ctl;
	HTAB	   *vtids;
	ListCell   *lc;
	int64		written = 0;

	if (d->order == NIL)
	{
		MemoryContextSwitchTo(old);
		pgs_delta_end(d);
		return 0;
	}
	srel = table_open(cq->rows_relid, RowExclusiveLock);
	vrel = table_open(cq->viewid, RowExclusiveLock);
	if (RelationGetDescr(srel)->natts != s->rowcol ||
		RelationGetDescr(vrel)->natts != s->nout)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the state of continuous view \"%s\" does not match its query",
						cq->viewname),
				 errhint("Drop and re-create the continuous view.")));

	/*
	 * An outer state that a recomputing batch emptied (pgs_delta_forget:
	 * the query stopped qualifying for deltas for a while) beside a view
	 * that has rows: its groups would be taken as new. Made again.
	 */
	if (!has_row(srel) && has_row(vrel))
		rebuild = true;
	nblocks = RelationGetNumberOfBlocks(vrel);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(ItemPointerData);
	ctl.entrysize = sizeof(ItemPointerData);
	ctl.hcxt = d->cxt;
	vtids = hash_create("pg_stream delta view rows", 256, &ctl,
						HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (int k = 0; k < s->nkeys; k++)
		keycols[k] = k + 1;
	sw = kstore_open(srel, s->nkeys, keycols, d->estate);
	vw = kstore_open(vrel, 0, NULL, d->estate);
	vfetch_old = MakeSingleTupleTableSlot(RelationGetDescr(vrel), &TTSOpsMinimalTuple);
	sslot = table_slot_create(srel, NULL);
	vfetch = table_slot_create(vrel, NULL);
	vslot = MakeSingleTupleTableSlot(RelationGetDescr(vrel), &TTSOpsVirtual);
	nsslot = MakeSingleTupleTableSlot(RelationGetDescr(srel), &TTSOpsVirtual);

	/* each group's state, and its view row checked where the state says */
	foreach(lc, rebuild ? NIL : d->order)
	{
		DeltaGroup *g = lfirst(lc);

		g->old = new_accs(s->naggs);
		g->found = kstore_lookup(sw, g->keys, g->nulls, sslot);
		if (g->found)
		{
			bool		isnull;

			slot_getallattrs(sslot);
			g->stid = sslot->tts_tid;
			read_state(s, sslot, &g->n, g->old);
			if (sslot->tts_isnull[s->rowcol - 1])
				isnull = true;
			else
			{
				isnull = false;
				g->vtid = *(ItemPointer) DatumGetPointer(sslot->tts_values[s->rowcol - 1]);
			}
			make_view_row(s, g, g->n, g->old, vslot);
			g->oldrow = ExecCopySlotMinimalTuple(vslot);

			/*
			 * Two groups' states naming one view row: after a VACUUM FULL
			 * a stale tid can name a row another group's update wrote, of
			 * the same values when the view does not show every key (so
			 * the check below passes); both writes would update it.
			 */
			if (!isnull)
			{
				bool		dup;

				(void) hash_search(vtids, &g->vtid, HASH_ENTER, &dup);
				if (dup)
					rebuild = true;
			}
			if (rebuild || isnull || ItemPointerGetBlockNumber(&g->vtid) >= nblocks ||
				!table_tuple_fetch_row_version(vrel, &g->vtid, GetActiveSnapshot(), vfetch) ||
				!pgs_reagg_rows_equal(vfetch, vslot))
				rebuild = true;
		}
		else
			g->n = 0;
		if (g->n + g->dn < 0)
			rebuild = true;
		if (rebuild)
			break;
	}

	/* then the new states, and the view */
	foreach(lc, rebuild ? NIL : d->order)
	{
		DeltaGroup *g = lfirst(lc);
		int64		n = g->n + g->dn;

		if (!g->found && n == 0)
			continue;			/* in and out in the same batch */
		if (n == 0)
		{
			simple_table_tuple_delete(vrel, &g->vtid, GetActiveSnapshot());
			simple_table_tuple_delete(srel, &g->stid, GetActiveSnapshot());
			written++;
			continue;
		}
		for (int i = 0; i < s->naggs; i++)
			acc_add(&g->old[i], &g->acc[i],
					s->aggs[i].kind == DA_SUM_BIG || s->aggs[i].kind == DA_AVG_BIG);
		make_view_row(s, g, n, g->old, vslot);
		if (g->found)
		{
			/* the view row changes only if its values do */
			ExecStoreMinimalTuple(g->oldrow, vfetch_old, false);
			if (!pgs_reagg_rows_equal(vfetch_old, vslot))
			{
				kstore_update_tid(vw, &g->vtid, vslot);
				g->vtid = vslot->tts_tid;
				written += 2;
			}
			make_state(s, g, n, g->old, &g->vtid, nsslot);
			kstore_update_tid(sw, &g->stid, nsslot);
		}
		else
		{
			kstore_insert(vw, vslot);
			make_state(s, g, n, g->old, &vslot->tts_tid, nsslot);
			kstore_insert(sw, nsslot);
			written++;
		}
		ResetPerTupleExprContext(d->estate);
	}
	kstore_close(sw);
	kstore_close(vw);
	ExecDropSingleTupleTableSlot(vfetch_old);
	ExecDropSingleTupleTableSlot(sslot);
	ExecDropSingleTupleTableSlot(vfetch);
	ExecDropSingleTupleTableSlot(vslot);
	ExecDropSingleTupleTableSlot(nsslot);
	table_close(vrel, NoLock);
	table_close(srel, NoLock);
	MemoryContextSwitchTo(old);
	pgs_delta_end(d);
	if (rebuild)
	{
		ereport(LOG,
				(errmsg("continuous view \"%s\": its outer state does not match the view, rebuilt from the inner state",
						cq->viewname)));
		return pgs_delta_rebuild(cq);
	}
	return written;
}

void
pgs_delta_end(DeltaRun *d)
{
	ExecDropSingleTupleTableSlot(d->before);
	FreeExecutorState(d->estate);
	MemoryContextDelete(d->cxt);
}

/* delete every row of rel */
static int64
delete_all(Relation rel)
{
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	int64		n = 0;

	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		simple_table_tuple_delete(rel, &slot->tts_tid, GetActiveSnapshot());
		n++;
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return n;
}

/*
 * A view that was made by deltas, recomputed by a batch because its query
 * no longer qualifies for them (a function it calls made volatile, say):
 * its outer state, which that batch does not keep, is emptied, so that a
 * batch by deltas later (the query qualifying again) rebuilds it rather
 * than trust it (pgs_delta_apply). A view made before deltas keeps its
 * rows_table empty; one column named _pgs_n does not make it an outer
 * state, both columns do.
 */
void
pgs_delta_forget(CqDef *cq)
{
	Relation	rel;

	if (!OidIsValid(cq->rows_relid) ||
		get_attnum(cq->rows_relid, DELTA_MARKER) == InvalidAttrNumber ||
		get_attnum(cq->rows_relid, "_pgs_row") == InvalidAttrNumber)
		return;
	rel = table_open(cq->rows_relid, RowExclusiveLock);
	if (has_row(rel))
		(void) delete_all(rel);
	table_close(rel, NoLock);
}

/*
 * The view and its outer state computed again from the inner state: at
 * CREATE (over no groups), at a restore, and when they do not match.
 * Returns the view rows deleted and inserted.
 */
int64
pgs_delta_rebuild(CqDef *cq)
{
	Relation	srel;
	Relation	vrel;
	Tuplestorestate *rows;
	TupleDesc	rowdesc;
	TupleTableSlot *slot;
	DeltaRun   *d;
	int64		n;

	CommandCounterIncrement();
	PushCopiedSnapshot(GetActiveSnapshot());
	UpdateActiveSnapshotCommandId();
	srel = table_open(cq->rows_relid, RowExclusiveLock);
	vrel = table_open(cq->viewid, RowExclusiveLock);
	(void) delete_all(srel);
	n = delete_all(vrel);
	table_close(vrel, NoLock);
	table_close(srel, NoLock);
	CommandCounterIncrement();
	UpdateActiveSnapshotCommandId();

	rows = pgs_reagg_inner_rows(cq, &rowdesc);
	slot = MakeSingleTupleTableSlot(rowdesc, &TTSOpsMinimalTuple);
	d = pgs_delta_begin(cq);
	while (tuplestore_gettupleslot(rows, true, false, slot))
	{
		delta_add_row(d, slot);

		/*
		 * The outer groups held within work_mem: past it, those summed so
		 * far are written, and the next rows' sums add to what they wrote
		 * (sums and counts of additions only, in any order).
		 */
		if (MemoryContextMemAllocated(d->cxt, true) > (Size) work_mem * 1024)
		{
			n += pgs_delta_apply(d);
			CommandCounterIncrement();
			UpdateActiveSnapshotCommandId();
			d = pgs_delta_begin(cq);
		}
	}
	tuplestore_end(rows);
	ExecDropSingleTupleTableSlot(slot);
	n += pgs_delta_apply(d);
	PopActiveSnapshot();
	return n;
}
