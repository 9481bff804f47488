/*-------------------------------------------------------------------------
 *
 * eventtime.c
 *	  Event time: which column of a stream holds it, how late its rows
 *	  may be (the watermark's delay), the latest event time of a batch,
 *	  and which group key of a query is a window over it.
 *
 * A stream declares event time with table options event_time '<column>'
 * and watermark '<interval>'; a view's option watermark overrides the
 * delay. The watermark of a query is, as in Spark, the latest event time
 * seen minus the delay -- with several streams, the least of theirs --
 * and it only moves forward. engine/batch.c applies it: a window whose
 * end is at or before it is final.
 *
 * A group key is a window over event time when it is
 *	  stream.tumble(<event time>, <constant size> [, origin]),
 *	  a column of stream.hop(<event time>, <constant size>, <slide> [, origin])
 *	  called in FROM (the window's start), or
 *	  the event-time column itself (a window of size 0),
 * where <event time> is the stream's event-time column, directly or
 * through derived streams and subqueries that pass it on unchanged. A
 * column of a UNION ALL of streams is event time when each branch passes
 * on its stream's event-time column, and a window when each branch
 * computes a window of one size over it.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "formats/formats.h"
#include "sources/sources.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "nodes/nodeFuncs.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

/*
 * The event time of stream relid: false if it declares none; else its
 * column, and its delay (has_delay false if it declares no watermark).
 */
bool
pgs_stream_event_time(Oid relid, AttrNumber *attno, Oid *typid,
					  int64 *delay, bool *has_delay)
{
	ForeignTable *ft = GetForeignTable(relid);
	ListCell   *lc;
	char	   *column = NULL;

	*has_delay = false;
	*delay = 0;
	foreach(lc, ft->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "event_time") == 0)
			column = defGetString(def);
		else if (strcmp(def->defname, "watermark") == 0)
		{
			*delay = pgs_interval_option_usecs("watermark", defGetString(def), 0,
											   ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE);
			*has_delay = true;
		}
	}
	if (column == NULL)
	{
		if (*has_delay)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("stream \"%s\" has a watermark but no event_time",
							get_rel_name(relid)),
					 errhint("Name its event-time column: ALTER FOREIGN TABLE %s OPTIONS (ADD event_time '<column>').",
							 get_rel_name(relid))));
		return false;
	}
	*attno = get_attnum(relid, column);
	if (*attno == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("event_time column \"%s\" of stream \"%s\" does not exist",
						column, get_rel_name(relid))));
	*typid = get_atttype(relid, *attno);
	if (*typid != TIMESTAMPTZOID && *typid != TIMESTAMPOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("event_time column \"%s\" of stream \"%s\" is of type %s",
						column, get_rel_name(relid), format_type_be(*typid)),
				 errhint("Event time is a timestamptz or timestamp column.")));
	return true;
}

/*------------------------------------------------------------------------
 * The latest event time of a batch
 *------------------------------------------------------------------------
 */

/*
 * The latest finite event time (column attno) among the rows of batch b,
 * read in relation desc's row type; false if no row has one.
 */
bool
pgs_batch_max_time(SourceBatch *b, TupleDesc desc, AttrNumber attno, int64 *max)
{
	bool		found = false;
	TupleTableSlot *slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);

	if (b->chunks)
	{
		TupleTableSlot *cslot = MakeSingleTupleTableSlot(tuple_chunk_desc(),
														 &TTSOpsMinimalTuple);
		TupleUnpacker u;

		tuple_unpack_init(&u, CurrentMemoryContext);
		tuplestore_rescan(b->chunks);
		while (tuplestore_gettupleslot(b->chunks, true, false, cslot))
		{
			bool		isnull;
			MinimalTuple mt;

			tuple_unpack_begin(&u, DatumGetByteaPP(slot_getattr(cslot, 1, &isnull)));
			while ((mt = tuple_unpack_next(&u)) != NULL)
			{
				Datum		d;

				ExecStoreMinimalTuple(mt, slot, false);
				d = slot_getattr(slot, attno, &isnull);
				if (!isnull && !TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(d)) &&
					(!found || DatumGetTimestampTz(d) > *max))
				{
					*max = DatumGetTimestampTz(d);
					found = true;
				}
			}
		}
		ExecDropSingleTupleTableSlot(cslot);
	}
	else if (b->rows)
	{
		tuplestore_rescan(b->rows);
		while (tuplestore_gettupleslot(b->rows, true, false, slot))
		{
			bool		isnull;
			Datum		d = slot_getattr(slot, attno, &isnull);

			if (!isnull && !TIMESTAMP_NOT_FINITE(DatumGetTimestampTz(d)) &&
				(!found || DatumGetTimestampTz(d) > *max))
			{
				*max = DatumGetTimestampTz(d);
				found = true;
			}
		}
	}
	ExecDropSingleTupleTableSlot(slot);
	return found;
}

/*------------------------------------------------------------------------
 * Windows over event time
 *------------------------------------------------------------------------
 */
/* is funcid pg_stream's function name (stream.tumble, stream.hop, ...)? */
bool
pgs_is_stream_function(Oid funcid, const char *name)
{
	char	   *nsp = get_namespace_name(get_func_namespace(funcid));

	return nsp && strcmp(nsp, PG_STREAM_SCHEMA) == 0 &&
		strcmp(get_func_name(funcid), name) == 0;
}

/* a constant, non-NULL interval argument as microseconds, or -1 */
static int64
const_interval_usecs(Node *arg)
{
	Const	   *c;

	while (arg && IsA(arg, RelabelType))
		arg = (Node *) ((RelabelType *) arg)->arg;
	if (arg == NULL || !IsA(arg, Const))
		return -1;
	c = (Const *) arg;
	if (c->constisnull || c->consttype != INTERVALOID)
		return -1;
	return pgs_window_size_usecs(DatumGetIntervalP(c->constvalue));
}

static bool stream_column_of(Query *q, Node *e, Oid *relid, AttrNumber *attno,
							 int depth);
static bool window_of(Query *q, Node *e, int64 *size, Oid *relid, AttrNumber *attno,
					  int depth);

/*
 * Column resno of a UNION ALL of streams (query q, a set operation): a
 * stream column when every branch passes on the same column of the same
 * stream, or each branch its own stream's event-time column (then the
 * first branch's stream is returned; engine/analyze.c makes sure that
 * the union's streams with event time all have watermarks, so that the
 * view's watermark, the least of theirs, holds for every branch).
 *
 * With size given, the column must be a window in every branch instead
 * (window_of), all of one size, over such a column; *size is that size.
 */
static bool
union_column_of(Query *q, AttrNumber resno, int64 *size, Oid *relid,
				AttrNumber *attno, int depth)
{
	List	   *leaves = pgs_union_branches(q);
	ListCell   *lc;
	bool		same = true;
	bool		event_times = true;

	if (leaves == NIL)
		return false;
	foreach(lc, leaves)
	{
		Query	   *leaf = lfirst(lc);
		TargetEntry *tle = get_tle_by_resno(leaf->targetList, resno);
		int64		sz = 0;
		Oid			r;
		AttrNumber	a;
		AttrNumber	et;
		Oid			typid;
		int64		delay;
		bool		has_delay;

		if (tle == NULL)
			return false;
		if (size ? !window_of(leaf, (Node *) tle->expr, &sz, &r, &a, depth + 1)
			: !stream_column_of(leaf, (Node *) tle->expr, &r, &a, depth + 1))
			return false;
		if (foreach_current_index(lc) == 0)
		{
			if (size)
				*size = sz;
			*relid = r;
			*attno = a;
		}
		else if (size && sz != *size)
			return false;
		else if (r != *relid || a != *attno)
			same = false;
		if (!pgs_stream_event_time(r, &et, &typid, &delay, &has_delay) || et != a)
			event_times = false;
	}
	return same || event_times;
}

/*
 * The stream column that expression e of query q is, passed on unchanged
 * through subqueries (derived streams), joins and UNION ALL; false if it
 * is not one.
 */
static bool
stream_column_of(Query *q, Node *e, Oid *relid, AttrNumber *attno, int depth)
{
	Var		   *v;
	RangeTblEntry *rte;

	while (e && IsA(e, RelabelType))
		e = (Node *) ((RelabelType *) e)->arg;
	if (e == NULL || !IsA(e, Var) || depth > 64)
		return false;
	v = (Var *) e;
	if (v->varlevelsup != 0 || v->varattno <= 0)
		return false;
	rte = rt_fetch(v->varno, q->rtable);
	switch (rte->rtekind)
	{
		case RTE_RELATION:
			if (!pgs_is_stream_relation(rte->relid))
				return false;
			*relid = rte->relid;
			*attno = v->varattno;
			return true;
		case RTE_SUBQUERY:
			{
				TargetEntry *tle;

				if (rte->subquery->setOperations)
					return union_column_of(rte->subquery, v->varattno, NULL, relid,
										   attno, depth + 1);
				tle = get_tle_by_resno(rte->subquery->targetList, v->varattno);
				return tle && stream_column_of(rte->subquery, (Node *) tle->expr,
											   relid, attno, depth + 1);
			}
		case RTE_JOIN:
			if (v->varattno > list_length(rte->joinaliasvars))
				return false;
			return stream_column_of(q, list_nth(rte->joinaliasvars, v->varattno - 1),
									relid, attno, depth + 1);
		default:
			return false;
	}
}

/*
 * Is expression e of query q a window over a stream column? Then its
 * size (0 for the column itself) and the column.
 */
static bool
window_of(Query *q, Node *e, int64 *size, Oid *relid, AttrNumber *attno, int depth)
{
	while (e && IsA(e, RelabelType))
		e = (Node *) ((RelabelType *) e)->arg;
	if (e == NULL || depth > 64)
		return false;
	if (IsA(e, FuncExpr) && pgs_is_stream_function(((FuncExpr *) e)->funcid, "tumble"))
	{
		FuncExpr   *f = (FuncExpr *) e;

		*size = const_interval_usecs(lsecond(f->args));
		return *size > 0 &&
			stream_column_of(q, linitial(f->args), relid, attno, depth + 1);
	}
	if (IsA(e, Var) && ((Var *) e)->varlevelsup == 0 && ((Var *) e)->varattno > 0)
	{
		Var		   *v = (Var *) e;
		RangeTblEntry *rte = rt_fetch(v->varno, q->rtable);

		if (rte->rtekind == RTE_FUNCTION && list_length(rte->functions) == 1 &&
			v->varattno == 1)
		{
			RangeTblFunction *rtf = linitial(rte->functions);
			FuncExpr   *f = (FuncExpr *) rtf->funcexpr;

			if (!IsA(f, FuncExpr) || !pgs_is_stream_function(f->funcid, "hop") ||
				const_interval_usecs(lthird(f->args)) <= 0)
				return false;
			*size = const_interval_usecs(lsecond(f->args));
			return *size > 0 &&
				stream_column_of(q, linitial(f->args), relid, attno, depth + 1);
		}
		if (rte->rtekind == RTE_SUBQUERY && rte->subquery->setOperations)
			return union_column_of(rte->subquery, v->varattno, size, relid, attno,
								   depth + 1);
		if (rte->rtekind == RTE_SUBQUERY)
		{
			TargetEntry *tle = get_tle_by_resno(rte->subquery->targetList, v->varattno);

			return tle && window_of(rte->subquery, (Node *) tle->expr, size,
									relid, attno, depth + 1);
		}
		if (rte->rtekind == RTE_JOIN && v->varattno <= list_length(rte->joinaliasvars))
			return window_of(q, list_nth(rte->joinaliasvars, v->varattno - 1), size,
							 relid, attno, depth + 1);
	}
	if (stream_column_of(q, e, relid, attno, depth + 1))
	{
		*size = 0;
		return true;
	}
	return false;
}

/*
 * Is group key expression e of query q a window over the event time of
 * one of the watermarked streams wm (a list of CqTime)? Then its size.
 */
bool
pgs_window_key(Query *q, Node *e, List *wm, int64 *size, Oid *relid)
{
	AttrNumber	attno;
	ListCell   *lc;

	if (!window_of(q, e, size, relid, &attno, 0))
		return false;
	foreach(lc, wm)
	{
		CqTime	   *t = lfirst(lc);

		if (t->relid == *relid && t->attno == attno)
			return true;
	}
	return false;
}

/* The stream column that expression e of query q is, if it is one */
bool
pgs_stream_column_of(Query *q, Node *e, Oid *relid, AttrNumber *attno)
{
	return stream_column_of(q, e, relid, attno, 0);
}
