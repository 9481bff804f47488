/*-------------------------------------------------------------------------
 *
 * aggstate.c
 *	  Combining a batch's partial aggregate states with the stored ones.
 *
 * Each batch runs the query's aggregation with PostgreSQL's own Agg node
 * in partial mode (AGGSPLIT_INITIAL_SERIAL, as a parallel worker would):
 * one row per group with each aggregate's transition state, serialized
 * for "internal" states. This file merges such a row into the group's
 * stored state, the way a Finalize Aggregate node would, and computes the
 * aggregate's final value:
 *
 *	  state = combinefn(deserialfn(stored), deserialfn(partial))
 *	  stored = serialfn(state);  value = finalfn(state)
 *
 * with the strictness rules of nodeAgg.c: a strict combine function is not
 * called with a NULL side, the other side is taken as is.
 *
 * Transition, combine and final functions of internal-state aggregates
 * check that they run inside an aggregate (AggCheckCallContext) and
 * allocate their state in its memory context. They get an AggState whose
 * aggregate context is this merger's per-group context, reset after each
 * group. That is all they may rely on: aggregates that need more of the
 * executor's aggregate machinery (ordered-set aggregates) are refused at
 * CREATE.
 *
 * The stored value of a by-reference state is copied before combining:
 * some combine functions (int4_avg_combine, ...) modify their first
 * argument in place when they run inside an aggregate.
 *
 *-------------------------------------------------------------------------
 */
#include "engine/cq.h"
#include "engine/engine.h"

#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "parser/parse_agg.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

typedef struct MergeAgg
{
	CqAgg	   *agg;
	Datum		initvalue;		/* the aggregate's initial state */
	bool		initnull;
	FmgrInfo	combine;
	FmgrInfo	serial;
	FmgrInfo	deserial;
	FmgrInfo	final;
	bool		internal;		/* state is "internal", stored serialized */
	Oid			collation;
} MergeAgg;

struct AggMerger
{
	int			naggs;
	MergeAgg   *aggs;
	AggState   *aggstate;		/* stand-in for the executor's */
	ExprContext *groupcxt;		/* its aggregate context: one group */
	ExprContext *tmpcxt;
	FunctionCallInfo fcinfo;
	Datum	   *states;
	bool	   *state_nulls;
};

AggMerger *
aggmerger_create(CqDef *cq, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	AggMerger  *m = palloc0(sizeof(AggMerger));
	ListCell   *lc;
	int			i = 0;

	Assert(cq != NULL && cq->is_agg);
	m->naggs = list_length(cq->aggs);
	m->aggs = palloc0(sizeof(MergeAgg) * Max(m->naggs, 1));
	foreach(lc, cq->aggs)
	{
		CqAgg	   *a = lfirst(lc);
		MergeAgg   *ma = &m->aggs[i++];

		Oid			inputTypes[FUNC_MAX_ARGS];
		Expr	   *expr;

		ma->agg = a;
		ma->internal = (a->transtype == INTERNALOID);
		ma->collation = a->aggref->inputcollid;

		/* as nodeAgg.c: with expressions, for polymorphic functions */
		fmgr_info(a->combinefn, &ma->combine);
		build_aggregate_transfn_expr(&a->transtype, 1, 0, false, a->transtype,
									 ma->collation, a->combinefn, InvalidOid,
									 &expr, NULL);
		fmgr_info_set_expr((Node *) expr, &ma->combine);
		if (ma->internal)
		{
			fmgr_info(a->serialfn, &ma->serial);
			fmgr_info(a->deserialfn, &ma->deserial);
		}
		if (OidIsValid(a->finalfn))
		{
			fmgr_info(a->finalfn, &ma->final);
			(void) get_aggregate_argtypes(a->aggref, inputTypes);
			build_aggregate_finalfn_expr(inputTypes, a->numFinalArgs,
										 a->transtype, a->resulttype,
										 ma->collation, a->finalfn, &expr);
			fmgr_info_set_expr((Node *) expr, &ma->final);
		}

		/* a new group starts from the initial state, as in nodeAgg.c */
		ma->initnull = (a->initval == NULL);
		if (!ma->initnull)
		{
			Oid			typinput,
						typioparam;

			getTypeInputInfo(a->transtype, &typinput, &typioparam);
			ma->initvalue = OidInputFunctionCall(typinput, a->initval,
												 typioparam, -1);
		}
	}

	m->aggstate = makeNode(AggState);
	m->groupcxt = CreateStandaloneExprContext();
	m->tmpcxt = CreateStandaloneExprContext();
	m->aggstate->curaggcontext = m->groupcxt;
	m->aggstate->tmpcontext = m->tmpcxt;
	m->fcinfo = palloc0(SizeForFunctionCallInfo(FUNC_MAX_ARGS));
	m->states = palloc0(sizeof(Datum) * Max(m->naggs, 1));
	m->state_nulls = palloc0(sizeof(bool) * Max(m->naggs, 1));
	MemoryContextSwitchTo(old);
	return m;
}

static Datum
call2(AggMerger *m, FmgrInfo *fn, Oid collation, Datum a, bool anull,
	  Datum b, bool bnull, bool *isnull)
{
	FunctionCallInfo fcinfo = m->fcinfo;
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, fn, 2, collation, (Node *) m->aggstate, NULL);
	fcinfo->args[0].value = a;
	fcinfo->args[0].isnull = anull;
	fcinfo->args[1].value = b;
	fcinfo->args[1].isnull = bnull;
	result = FunctionCallInvoke(fcinfo);
	*isnull = fcinfo->isnull;
	return result;
}

/* a stored (or partial) value as a working state in the group context */
static Datum
load_state(AggMerger *m, MergeAgg *ma, Datum v, bool isnull, bool *outnull)
{
	*outnull = isnull;
	if (isnull)
		return (Datum) 0;
	if (ma->internal)
		return call2(m, &ma->deserial, InvalidOid, v, false, (Datum) 0, false,
					 outnull);
	return datumCopy(v, ma->agg->transtypbyval, ma->agg->transtyplen);
}

/* serialize the working states into stored[] (valid until reset) */
static void
store_states(AggMerger *m, Datum *stored, bool *stored_null)
{
	for (int i = 0; i < m->naggs; i++)
	{
		MergeAgg   *ma = &m->aggs[i];

		stored_null[i] = m->state_nulls[i];
		if (m->state_nulls[i])
			stored[i] = (Datum) 0;
		else if (ma->internal)
			stored[i] = call2(m, &ma->serial, InvalidOid, m->states[i], false,
							  (Datum) 0, false, &stored_null[i]);
		else
		{
			/* a copy: a read-write final function may change the state */
			stored[i] = datumCopy(m->states[i], ma->agg->transtypbyval,
								  ma->agg->transtyplen);
		}
	}
}

static void
finalize_states(AggMerger *m, Datum *final, bool *final_null)
{
	for (int i = 0; i < m->naggs; i++)
	{
		MergeAgg   *ma = &m->aggs[i];
		CqAgg	   *a = ma->agg;

		if (!OidIsValid(a->finalfn))
		{
			final[i] = m->states[i];
			final_null[i] = m->state_nulls[i];
			continue;
		}
		if (ma->final.fn_strict && m->state_nulls[i])
		{
			final[i] = (Datum) 0;
			final_null[i] = true;
			continue;
		}
		{
			FunctionCallInfo fcinfo = m->fcinfo;
			bool		anynull = m->state_nulls[i];

			InitFunctionCallInfoData(*fcinfo, &ma->final, a->numFinalArgs,
									 ma->collation, (Node *) m->aggstate, NULL);
			fcinfo->args[0].value = m->states[i];
			fcinfo->args[0].isnull = m->state_nulls[i];
			for (int k = 1; k < a->numFinalArgs; k++)
			{
				fcinfo->args[k].value = (Datum) 0;
				fcinfo->args[k].isnull = true;
				anynull = true;
			}
			if (ma->final.fn_strict && anynull)
			{
				final[i] = (Datum) 0;
				final_null[i] = true;
			}
			else
			{
				final[i] = FunctionCallInvoke(fcinfo);
				final_null[i] = fcinfo->isnull;
			}
		}
	}
}

/*
 * Merge a group's partial states into its stored states (is_new: the
 * group has none yet). On return stored[] holds the new values to store
 * and final[] the aggregates' values (unless final is NULL: a caller that
 * combines more first), both valid until aggmerger_reset.
 */
void
aggmerger_combine(AggMerger *m, bool is_new, Datum *stored, bool *stored_null,
				  Datum *partial, bool *partial_null,
				  Datum *final, bool *final_null)
{
	MemoryContext old = MemoryContextSwitchTo(m->groupcxt->ecxt_per_tuple_memory);

	Assert(m != NULL && stored != NULL && partial != NULL);
	for (int i = 0; i < m->naggs; i++)
	{
		MergeAgg   *ma = &m->aggs[i];
		bool		snull,
					pnull;
		Datum		s;
		Datum		p = load_state(m, ma, partial[i], partial_null[i], &pnull);

		if (is_new)
		{
			/* a new group: the aggregate's initial state */
			snull = ma->initnull;
			s = snull ? (Datum) 0 :
				datumCopy(ma->initvalue, ma->agg->transtypbyval, ma->agg->transtyplen);
		}
		else
			s = load_state(m, ma, stored[i], stored_null[i], &snull);

		if (ma->internal && pnull)
		{
			/* a NULL serialized state adds nothing (strict deserialfn) */
			m->states[i] = s;
			m->state_nulls[i] = snull;
		}
		else if (ma->combine.fn_strict && (snull || pnull))
		{
			/* strict: an absent side leaves the other as it is */
			m->states[i] = snull ? p : s;
			m->state_nulls[i] = snull ? pnull : snull;
		}
		else
			m->states[i] = call2(m, &ma->combine, ma->collation, s, snull,
								 p, pnull, &m->state_nulls[i]);
	}
	/* serialize before finalizing: a final function may modify the state */
	store_states(m, stored, stored_null);
	if (final)
		finalize_states(m, final, final_null);
	MemoryContextSwitchTo(old);
}

/*
 * The aggregates' values for stored states as they are (to rebuild a
 * view's rows from its state table); valid until aggmerger_reset.
 */
void
aggmerger_finalize(AggMerger *m, Datum *stored, bool *stored_null,
				   Datum *final, bool *final_null)
{
	MemoryContext old = MemoryContextSwitchTo(m->groupcxt->ecxt_per_tuple_memory);

	for (int i = 0; i < m->naggs; i++)
		m->states[i] = load_state(m, &m->aggs[i], stored[i], stored_null[i],
								  &m->state_nulls[i]);
	finalize_states(m, final, final_null);
	MemoryContextSwitchTo(old);
}

void
aggmerger_reset(AggMerger *m)
{
	ResetExprContext(m->groupcxt);
	ResetExprContext(m->tmpcxt);
}
