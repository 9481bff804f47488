/*-------------------------------------------------------------------------
 *
 * join_analyze.c
 *	  Which joins of two streams a continuous view may have, and how long
 *	  each side's rows must be kept.
 *
 * At CREATE (and for every batch, from the stored query) the join of two
 * streams is found in the query, its type checked (inner, left, right or
 * full outer), and its condition read for bounds: for each side, the
 * latest event time of the other side that can still match one of its
 * rows (b.ts <= a.ts + 1 hour gives a's rows the bound a.ts + 1 hour;
 * equal tumbling windows give the end of the row's window). A join whose
 * state the bounds cannot keep finite is refused with a hint. What the
 * bounds are used for -- eviction, NULL-padding -- is engine/join.c's.
 *
 * The condition also gives the join's keys: the conjuncts a.x = b.y that
 * every matching pair satisfies (an outer join's ON clause; for an inner
 * join also its WHERE and the inner joins' quals down to it), where a.x
 * and b.y are plain columns of the two streams read directly and "=" is
 * a strict operator that is the equality of the btree operator family
 * of both columns' default operator classes (the same type, or a
 * cross-type equality of that family such as int4 = int8), under the
 * columns' own collation. A side's state is indexed on its key columns
 * (ddl.c) and a batch reads of it only the rows whose key is the key of
 * a new row of the other side (join.c): a row with another key cannot
 * satisfy the condition with any of them. Anything else (an expression,
 * a column read through a subquery, an operator of another family)
 * simply is not a key; a join without keys reads its states whole.
 *
 * Also: a self-join (its sides are the stream's two range-table entries);
 * a join of three to eight streams, inner or under one outer join at the
 * top with one stream preserved (nway_join), whose bounds are chained
 * over the pairs (nway_bounds) and whose keys are per pair of streams
 * (CqJoinSide.pkeys, closed through third streams); where only one of two
 * streams has a watermark, equal tumbling windows let it bound both
 * (Spark's rule); and each side's own conjuncts, which a row must pass to
 * match at all. Stacked joins (stacked_join): several outer joins, or one
 * below another join, each join bringing in one stream compared with one
 * stream joined before (its anchor), bounds chained as for n streams and,
 * per outer join, the anchor's bound against its stream (when its rows
 * are certain unmatched; engine/join.c has the rest).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "sources/sources.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "access/stratnum.h"
#include "catalog/pg_am.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteManip.h"
#include "utils/lsyscache.h"

/*------------------------------------------------------------------------
 * Analysis
 *------------------------------------------------------------------------
 */

/* an event time, shifted or windowed: ts + offset, or tumble(ts, size, origin) */
typedef struct Term
{
	int			side;
	bool		free;			/* a column of the side without watermark */
	AttrNumber	attno;			/* (then this one, of this type) */
	Oid			typid;
	bool		tumble;
	int64		offset;
	int64		size;
	int64		origin;
} Term;

static Node *
strip_relabel(Node *e)
{
	while (e && IsA(e, RelabelType))
		e = (Node *) ((RelabelType *) e)->arg;
	return e;
}

/* a constant interval of fixed length, in microseconds */
static bool
const_offset(Node *e, int64 *usecs)
{
	Const	   *c;
	Interval   *iv;

	e = strip_relabel(e);
	if (e == NULL || !IsA(e, Const))
		return false;
	c = (Const *) e;
	if (c->constisnull || c->consttype != INTERVALOID)
		return false;
	iv = DatumGetIntervalP(c->constvalue);
	if (iv->month != 0)
		return false;
	*usecs = iv->time + (int64) iv->day * USECS_PER_DAY;
	return true;
}

static bool
is_time_type(Oid typid)
{
	return typid == TIMESTAMPTZOID || typid == TIMESTAMPOID;
}

/*
 * The side a column of a stream belongs to, or -1: by the stream, or, in
 * a self-join, by its range-table entry (the sides are one stream).
 */
static int
column_side(Query *q, CqJoin *j, Node *e, AttrNumber *attno)
{
	Oid			relid;

	if (j->self)
	{
		Var		   *v = (Var *) e;

		if (!IsA(e, Var) || v->varlevelsup != 0 || v->varattno <= 0)
			return -1;
		*attno = v->varattno;
		for (int k = 0; k < j->nsides; k++)
			if (v->varno == j->side[k].rtindex)
				return k;
		return -1;
	}
	if (!pgs_stream_column_of(q, e, &relid, attno))
		return -1;
	for (int k = 0; k < j->nsides; k++)
		if (j->side[k].relid == relid)
			return k;
	return -1;
}

/*
 * An event time, shifted or windowed. free_side is the side without a
 * watermark when only one side has one (else -1): any timestamp column of
 * it is a term, marked free (only equal windows may bound it, below).
 */
static bool
term_of(Query *q, CqJoin *j, Node *e, Term *t, int depth, int free_side)
{
	AttrNumber	attno;
	int			k;

	e = strip_relabel(e);
	if (e == NULL || depth > 16)
		return false;
	if (IsA(e, OpExpr) && list_length(((OpExpr *) e)->args) == 2 &&
		is_time_type(((OpExpr *) e)->opresulttype))
	{
		OpExpr	   *op = (OpExpr *) e;
		char	   *name = get_opname(op->opno);
		int64		c;

		if (name && strcmp(name, "+") == 0)
		{
			if (const_offset(lsecond(op->args), &c) &&
				term_of(q, j, linitial(op->args), t, depth + 1, free_side) && !t->tumble)
				return !pg_add_s64_overflow(t->offset, c, &t->offset);
			if (const_offset(linitial(op->args), &c) &&
				term_of(q, j, lsecond(op->args), t, depth + 1, free_side) && !t->tumble)
				return !pg_add_s64_overflow(t->offset, c, &t->offset);
		}
		else if (name && strcmp(name, "-") == 0)
		{
			if (const_offset(lsecond(op->args), &c) &&
				term_of(q, j, linitial(op->args), t, depth + 1, free_side) && !t->tumble)
				return !pg_sub_s64_overflow(t->offset, c, &t->offset);
		}
		return false;
	}
	if (IsA(e, FuncExpr))
	{
		FuncExpr   *f = (FuncExpr *) e;
		int64		size;

		if (!pgs_is_stream_function(f->funcid, "tumble") ||
			list_length(f->args) < 2 ||
			!const_offset(lsecond(f->args), &size) || size <= 0 ||
			!term_of(q, j, linitial(f->args), t, depth + 1, free_side) ||
			t->tumble || t->offset != 0)
			return false;
		t->tumble = true;
		t->size = size;
		t->origin = 0;			/* the default, 2000-01-01 00:00 (UTC) */
		if (list_length(f->args) >= 3)
		{
			Const	   *o = (Const *) strip_relabel(lthird(f->args));

			if (!IsA(o, Const) || o->constisnull)
				return false;
			t->origin = DatumGetInt64(o->constvalue);
		}
		return true;
	}
	k = column_side(q, j, e, &attno);
	if (k < 0)
		return false;
	memset(t, 0, sizeof(Term));
	t->side = k;
	t->attno = attno;
	t->typid = exprType(e);
	if (k == free_side)
	{
		t->free = true;
		return is_time_type(exprType(e));
	}
	return j->side[k].ts_attno == attno;
}

static void
add_bound(CqJoin *j, int side, int other, bool tumble, int64 offset, int64 size,
		  int64 origin)
{
	CqJoinSide *s = &j->side[side];
	CqBound    *b = palloc0(sizeof(CqBound));

	b->other = other;
	b->tumble = tumble;
	b->offset = offset;
	b->size = size;
	b->origin = origin;
	s->bounds = lappend(s->bounds, b);
}

/*
 * Bounds from one conjunct of the join condition: a comparison of the two
 * sides' event times, each possibly shifted by a constant interval; or
 * the equality of their tumbling windows of the same size.
 */
static void
bounds_from(Query *q, CqJoin *j, Node *clause, int free_side)
{
	OpExpr	   *op;
	char	   *name;
	Term		l,
				r;
	bool		le,
				ge;

	clause = strip_relabel(clause);
	if (clause == NULL || !IsA(clause, OpExpr) || list_length(((OpExpr *) clause)->args) != 2)
		return;
	op = (OpExpr *) clause;
	name = get_opname(op->opno);
	if (name == NULL || !is_time_type(exprType(linitial(op->args))) ||
		exprType(linitial(op->args)) != exprType(lsecond(op->args)))
		return;
	le = (strcmp(name, "<") == 0 || strcmp(name, "<=") == 0 || strcmp(name, "=") == 0);
	ge = (strcmp(name, ">") == 0 || strcmp(name, ">=") == 0 || strcmp(name, "=") == 0);
	if ((!le && !ge) ||
		!term_of(q, j, linitial(op->args), &l, 0, free_side) ||
		!term_of(q, j, lsecond(op->args), &r, 0, free_side) || l.side == r.side)
		return;
	if (l.tumble || r.tumble)
	{
		/* tumble(a.ts, s) = tumble(b.ts, s): each row until its window ends */
		if (l.tumble && r.tumble && le && ge && l.size == r.size && l.origin == r.origin)
		{
			if (l.free || r.free)
			{
				/*
				 * Only one side has a watermark (Spark's rule): the windows
				 * are equal, so the other side's rows of a window at or
				 * before the watermark can meet only late rows; its column
				 * in the window becomes its event time, late against the
				 * same watermark. One column, whichever conjunct names it.
				 */
				Term	   *f = l.free ? &l : &r;
				CqJoinSide *s = &j->side[f->side];

				if (s->ts_attno != 0 && s->ts_attno != f->attno)
					return;
				s->ts_attno = f->attno;
				s->ts_typid = f->typid;
				j->window_wm = true;
			}
			add_bound(j, l.side, r.side, true, 0, l.size, l.origin);
			add_bound(j, r.side, l.side, true, 0, l.size, l.origin);
		}
		return;
	}
	if (l.free || r.free)
		return;

	/*
	 * l.ts + l.off <= r.ts + r.off: a row of r's side matches later rows of
	 * l's side only while their time is at most its own + r.off - l.off.
	 */
	if (le)
	{
		int64		off;

		if (!pg_sub_s64_overflow(r.offset, l.offset, &off))
			add_bound(j, r.side, l.side, false, off, 0, 0);
	}
	if (ge)
	{
		int64		off;

		if (!pg_sub_s64_overflow(l.offset, r.offset, &off))
			add_bound(j, l.side, r.side, false, off, 0, 0);
	}
}

/* each conjunct of an AND (a BETWEEN is one, nested) */
static void
bounds_from_conjuncts(Query *q, CqJoin *j, Node *clause, int free_side)
{
	if (is_andclause(clause))
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) clause)->args)
			bounds_from_conjuncts(q, j, lfirst(lc), free_side);
	}
	else
		bounds_from(q, j, clause, free_side);
}

/*
 * A plain column of one of the two streams, read directly by the query
 * (the only range-table entry of that stream): its side and its Var.
 */
static bool
side_column(Query *q, CqJoin *j, Node *e, int *side, Var **var)
{
	Var		   *v;
	RangeTblEntry *rte;
	ListCell   *lc;
	int			entries = 0;

	e = strip_relabel(e);
	if (e == NULL || !IsA(e, Var))
		return false;
	v = (Var *) e;
	if (v->varlevelsup != 0 || v->varattno <= 0 ||
		v->varno < 1 || v->varno > list_length(q->rtable))
		return false;
	rte = rt_fetch(v->varno, q->rtable);
	if (rte->rtekind != RTE_RELATION)
		return false;
	if (j->self)
	{
		for (int k = 0; k < j->nsides; k++)
		{
			if (v->varno == j->side[k].rtindex)
			{
				*side = k;
				*var = v;
				return true;
			}
		}
		return false;
	}
	foreach(lc, q->rtable)
	{
		RangeTblEntry *other = lfirst(lc);

		if (other->rtekind == RTE_RELATION && other->relid == rte->relid)
			entries++;
	}
	for (int k = 0; k < j->nsides && entries == 1; k++)
	{
		if (j->side[k].relid == rte->relid)
		{
			*side = k;
			*var = v;
			return true;
		}
	}
	return false;
}

/*
 * Can an index of side k's column (its default btree operator class)
 * be probed with values of the other side's column for opno: opno is
 * an equality of the class's family, and the family compares and
 * orders the other side's type too (the probe sorts those values).
 */
static bool
probe_operator(Oid opno, Var **v, int k)
{
	Oid			opclass[2];
	Oid			family;
	Oid			type[2];

	for (int i = 0; i < 2; i++)
	{
		opclass[i] = GetDefaultOpClass(v[i]->vartype, BTREE_AM_OID);
		if (!OidIsValid(opclass[i]))
			return false;
		type[i] = get_opclass_input_type(opclass[i]);
	}
	family = get_opclass_family(opclass[k]);
	return get_op_opfamily_strategy(opno, family) == BTEqualStrategyNumber &&
		OidIsValid(get_opfamily_member(family, type[k], type[1 - k], BTEqualStrategyNumber)) &&
		OidIsValid(get_opfamily_member(family, type[1 - k], type[1 - k], BTLessStrategyNumber));
}

/*
 * A key pair of sides s and t, on columns x of s and z of t, derived
 * through the third sides of via (a mask; 0: from a conjunct of the two).
 */
static void
add_pair(CqJoin *j, int s, AttrNumber x, int t, AttrNumber z, int32 via)
{
	CqJoinSide *a = &j->side[s];
	CqJoinSide *b = &j->side[t];

	a->pvia[t] |= via;
	b->pvia[s] |= via;

	a->pkeys[t] = a->pkeys[t] ? repalloc(a->pkeys[t], sizeof(AttrNumber) * (a->npkeys[t] + 1)) :
		palloc(sizeof(AttrNumber));
	a->pkeys[t][a->npkeys[t]++] = x;
	b->pkeys[s] = b->pkeys[s] ? repalloc(b->pkeys[s], sizeof(AttrNumber) * (b->npkeys[s] + 1)) :
		palloc(sizeof(AttrNumber));
	b->pkeys[s][b->npkeys[s]++] = z;
}

static bool
has_keycol(CqJoinSide *s, int other, AttrNumber attno)
{
	for (int i = 0; i < s->npkeys[other]; i++)
		if (s->pkeys[other][i] == attno)
			return true;
	return false;
}

/* a key pair from one conjunct of the condition, a.x = b.y, of any two sides */
static void
keys_from(Query *q, CqJoin *j, Node *clause)
{
	OpExpr	   *op;
	Var		   *v[2];
	int			side[2];

	if (clause == NULL || !IsA(clause, OpExpr) || list_length(((OpExpr *) clause)->args) != 2)
		return;
	op = (OpExpr *) clause;
	if (!side_column(q, j, linitial(op->args), &side[0], &v[0]) ||
		!side_column(q, j, lsecond(op->args), &side[1], &v[1]) || side[0] == side[1])
		return;
	if (!op_strict(op->opno) || !probe_operator(op->opno, v, 0) ||
		!probe_operator(op->opno, v, 1))
		return;
	/* the index compares under the column's collation: it must be the operator's */
	if (OidIsValid(op->inputcollid) &&
		(op->inputcollid != v[0]->varcollid || op->inputcollid != v[1]->varcollid))
		return;
	/* a column once per side: another pair on it would only narrow the keys */
	if (has_keycol(&j->side[side[0]], side[1], v[0]->varattno) ||
		has_keycol(&j->side[side[1]], side[0], v[1]->varattno) ||
		j->side[side[0]].npkeys[side[1]] >= INDEX_MAX_KEYS)
		return;
	add_pair(j, side[0], v[0]->varattno, side[1], v[1]->varattno, 0);
}

static void
keys_from_conjuncts(Query *q, CqJoin *j, Node *clause)
{
	if (is_andclause(clause))
	{
		ListCell   *lc;

		foreach(lc, ((BoolExpr *) clause)->args)
			keys_from_conjuncts(q, j, lfirst(lc));
	}
	else
		keys_from(q, j, clause);
}

/* the mask of sides_in() that has them all */
#define ALL_SIDES(j) ((1 << (j)->nsides) - 1)

/* which sides (bit k: side k) a part of the join tree reads */
static int
sides_in(Query *q, CqJoin *j, Node *node)
{
	int			mask = 0;

	if (node == NULL)
		return 0;
	if (IsA(node, RangeTblRef))
	{
		RangeTblEntry *rte = rt_fetch(((RangeTblRef *) node)->rtindex, q->rtable);
		List	   *streams = NIL;

		if (j->self)
		{
			for (int k = 0; k < j->nsides; k++)
				if (((RangeTblRef *) node)->rtindex == j->side[k].rtindex)
					mask |= (1 << k);
			return mask;
		}
		if (rte->rtekind == RTE_RELATION)
			streams = list_make1_oid(rte->relid);
		else if (rte->rtekind == RTE_SUBQUERY)
			streams = pgs_query_streams(rte->subquery);
		for (int k = 0; k < j->nsides; k++)
			if (list_member_oid(streams, j->side[k].relid))
				mask |= (1 << k);
	}
	else if (IsA(node, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) node)->fromlist)
			mask |= sides_in(q, j, lfirst(lc));
	}
	else if (IsA(node, JoinExpr))
		mask = sides_in(q, j, ((JoinExpr *) node)->larg) |
			sides_in(q, j, ((JoinExpr *) node)->rarg);
	return mask;
}

/*
 * The node of the join tree where the two sides meet; and the conditions
 * that hold for every joined pair: the quals of the inner joins and
 * WHERE on the way down to it, and its own.
 */
static Node *
meeting_node(Query *q, CqJoin *j, Node *node, List **conds)
{
	if (IsA(node, FromExpr))
	{
		FromExpr   *f = (FromExpr *) node;
		ListCell   *lc;

		*conds = list_concat(*conds, make_ands_implicit((Expr *) f->quals));
		foreach(lc, f->fromlist)
		{
			if (sides_in(q, j, lfirst(lc)) == ALL_SIDES(j))
				return meeting_node(q, j, lfirst(lc), conds);
		}
		return node;
	}
	if (IsA(node, JoinExpr))
	{
		JoinExpr   *je = (JoinExpr *) node;

		if (je->jointype == JOIN_INNER)
			*conds = list_concat(*conds, make_ands_implicit((Expr *) je->quals));
		if (sides_in(q, j, je->larg) == ALL_SIDES(j))
			return meeting_node(q, j, je->larg, conds);
		if (sides_in(q, j, je->rarg) == ALL_SIDES(j))
			return meeting_node(q, j, je->rarg, conds);
		if (je->jointype != JOIN_INNER)
			*conds = list_concat(*conds, make_ands_implicit((Expr *) je->quals));
		return node;
	}
	return node;
}

/* a range-table reference to a stream read directly, or 0 */
static Index
direct_stream(Query *q, Node *node)
{
	RangeTblEntry *rte;

	if (!IsA(node, RangeTblRef))
		return 0;
	rte = rt_fetch(((RangeTblRef *) node)->rtindex, q->rtable);
	return (rte->rtekind == RTE_RELATION && pgs_is_stream_relation(rte->relid)) ?
		((RangeTblRef *) node)->rtindex : 0;
}

/*
 * The streams of an inner join tree of plain relations (streams and
 * tables read directly, joined by inner joins), or -1 if it is not one.
 */
static int
inner_tree_streams(Query *q, Node *node)
{
	if (IsA(node, RangeTblRef))
	{
		RangeTblEntry *rte = rt_fetch(((RangeTblRef *) node)->rtindex, q->rtable);

		if (rte->rtekind != RTE_RELATION)
			return -1;
		return direct_stream(q, node) ? 1 : 0;
	}
	if (IsA(node, JoinExpr) && ((JoinExpr *) node)->jointype == JOIN_INNER)
	{
		int			l = inner_tree_streams(q, ((JoinExpr *) node)->larg);
		int			r = inner_tree_streams(q, ((JoinExpr *) node)->rarg);

		return (l < 0 || r < 0) ? -1 : l + r;
	}
	return -1;
}

/*
 * The streams of a join tree of plain relations (any joins), or -1 if
 * it reads anything else.
 */
static int
relation_tree_streams(Query *q, Node *node)
{
	if (IsA(node, RangeTblRef))
	{
		RangeTblEntry *rte = rt_fetch(((RangeTblRef *) node)->rtindex, q->rtable);

		if (rte->rtekind != RTE_RELATION)
			return -1;
		return direct_stream(q, node) ? 1 : 0;
	}
	if (IsA(node, JoinExpr))
	{
		int			l = relation_tree_streams(q, ((JoinExpr *) node)->larg);
		int			r = relation_tree_streams(q, ((JoinExpr *) node)->rarg);

		return (l < 0 || r < 0) ? -1 : l + r;
	}
	return -1;
}

/*
 * An outer join with a stream on its nullable side is allowed when it
 * joins two streams directly: a LEFT JOIN b ON ...; or, at the top of a
 * join of more streams, one stream on its preserved side and an inner
 * join of two or more (and tables) on the other: a LEFT JOIN (b JOIN c
 * ON ...) ON ...; or one stream read directly and a join of two or more
 * (stacked: stacked_join checks the rest).
 */
bool
pgs_join_allows_nullable(Query *query, JoinExpr *j)
{
	Index		l = direct_stream(query, j->larg);
	Index		r = direct_stream(query, j->rarg);

	if (l && r && l != r)
		return true;
	if (j->jointype == JOIN_LEFT && l && inner_tree_streams(query, j->rarg) >= 2)
		return true;
	if (j->jointype == JOIN_RIGHT && r && inner_tree_streams(query, j->larg) >= 2)
		return true;
	/* stacked (a LEFT JOIN b ON ... LEFT JOIN c ON ...): stacked_join's */
	return (l && relation_tree_streams(query, j->rarg) >= 2) ||
		(r && relation_tree_streams(query, j->larg) >= 2);
}

/*
 * The conjuncts of a condition on side k alone: its Vars, of the
 * stream's own range-table entry, and nothing mutable or nested. A row
 * of the side for which one is false (or NULL) cannot satisfy the whole.
 */
typedef struct OwnCheck
{
	Index		rtindex;
	bool		ok;
	bool		vars;
} OwnCheck;

static bool
own_walker(Node *node, OwnCheck *c)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varlevelsup != 0 || v->varno != c->rtindex || v->varattno <= 0)
			c->ok = false;
		c->vars = true;
		return !c->ok;
	}
	if (IsA(node, SubLink) || IsA(node, Param) || IsA(node, Aggref) ||
		IsA(node, GroupingFunc) || IsA(node, WindowFunc) || IsA(node, PlaceHolderVar))
	{
		c->ok = false;
		return true;
	}
	return expression_tree_walker(node, own_walker, c);
}

static void
own_conjuncts(Query *q, CqJoinSide *s, List *conds)
{
	ListCell   *lc;

	if (s->rtindex == 0 || rt_fetch(s->rtindex, q->rtable)->rtekind != RTE_RELATION)
		return;
	foreach(lc, conds)
	{
		Node	   *c = lfirst(lc);
		OwnCheck	oc = {s->rtindex, true, false};

		(void) own_walker(c, &oc);
		/*
		 * Immutable only: a stable function (now(), one reading a table)
		 * may pass later, when a pair with the row is joined, what the
		 * row fails on arrival; so it cannot say the row never matches.
		 */
		if (oc.ok && oc.vars && !contain_mutable_functions(c))
			s->own = lappend(s->own, copyObject(c));
	}
}

/* the only entry of the range table that reads stream relid, or 0 */
static Index
only_entry(Query *q, Oid relid)
{
	Index		found = 0;
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst(lc);

		if (rte->rtekind == RTE_RELATION && rte->relid == relid)
		{
			if (found)
				return 0;
			found = foreach_current_index(lc) + 1;
		}
	}
	return found;
}

static const char *
join_name(JoinType t)
{
	switch (t)
	{
		case JOIN_LEFT:
			return "LEFT JOIN";
		case JOIN_RIGHT:
			return "RIGHT JOIN";
		case JOIN_FULL:
			return "FULL JOIN";
		default:
			return "JOIN";
	}
}

/*
 * Each side's lag (how far behind the watermark a row that still joins
 * can be: the longest its bounds keep it), and a notice for a side whose
 * rows are kept forever.
 */
static void
finish_sides(CqJoin *j, bool for_create)
{
	bool		all_wm = true;
	ListCell   *lc;

	for (int k = 0; k < j->nsides; k++)
	{
		CqJoinSide *s = &j->side[k];

		all_wm &= s->watermarked;
		s->lag = PG_INT64_MAX;
		foreach(lc, s->bounds)
		{
			CqBound    *b = lfirst(lc);

			s->lag = Min(s->lag, b->tumble ? b->size : b->offset);
		}
		s->lag = Max(s->lag, 0);
	}
	if (j->self)
		j->side[0].lag = j->side[1].lag = Max(j->side[0].lag, j->side[1].lag);
	for (int k = 0; k < j->nsides && !(j->self && k == 1); k++)
	{
		CqJoinSide *s = &j->side[k];

		if (s->bounds == NIL && for_create)
			ereport(NOTICE,
					(errmsg("the rows of stream \"%s\" are kept as join state forever",
							get_rel_name(s->relid)),
					 errdetail("%s", !all_wm ?
							   (j->self ? "The stream has no event time with a watermark." :
								j->nsides > 2 ? "Not every stream has event time with a watermark." :
								"Not both streams have event time with a watermark.") :
							   "The join condition does not bound how much later the other stream's event time can be."),
					 errhint("Bound the join in time to keep its state bounded, for example: AND b.ts BETWEEN a.ts AND a.ts + interval '1 hour'.")));
	}
}

/* does an outer join of the tree join two of the sides (not a side and tables) */
static bool
outer_between_sides(Query *q, CqJoin *j, Node *node)
{
	if (node == NULL)
		return false;
	if (IsA(node, FromExpr))
	{
		ListCell   *lc;

		foreach(lc, ((FromExpr *) node)->fromlist)
			if (outer_between_sides(q, j, lfirst(lc)))
				return true;
		return false;
	}
	if (IsA(node, JoinExpr))
	{
		JoinExpr   *je = (JoinExpr *) node;

		if (je->jointype != JOIN_INNER &&
			sides_in(q, j, je->larg) != 0 && sides_in(q, j, je->rarg) != 0)
			return true;
		return outer_between_sides(q, j, je->larg) ||
			outer_between_sides(q, j, je->rarg);
	}
	return false;
}

/*
 * The bounds of an inner join of more than two streams. Each bound of a
 * pair is a difference constraint: b.ts - a.ts <= w for a's rows (equal
 * tumbling windows: less than the size). A row of side s can be part of
 * a joined row only with rows of each side t no later than its own time
 * plus the shortest path from s to t over these constraints: once the
 * watermark passes the latest of these, no future row of any side can
 * complete a combination with it, and it expires. Its one bound is then
 * that offset; a side some other side is not connected to keeps its rows.
 */
static void
nway_bounds(CqJoin *j)
{
	int			n = j->nsides;
	int64		d[PGS_JOIN_MAX_SIDES][PGS_JOIN_MAX_SIDES];
	ListCell   *lc;

	for (int s = 0; s < n; s++)
		for (int t = 0; t < n; t++)
			d[s][t] = (s == t) ? 0 : PG_INT64_MAX;
	for (int s = 0; s < n; s++)
	{
		foreach(lc, j->side[s].bounds)
		{
			CqBound    *b = lfirst(lc);
			int64		w = b->tumble ? b->size : b->offset;

			d[s][b->other] = Min(d[s][b->other], w);
		}
	}
	for (int m = 0; m < n; m++)
		for (int s = 0; s < n; s++)
			for (int t = 0; t < n; t++)
			{
				int64		sum;

				if (d[s][m] != PG_INT64_MAX && d[m][t] != PG_INT64_MAX &&
					!pg_add_s64_overflow(d[s][m], d[m][t], &sum) && sum < d[s][t])
					d[s][t] = sum;
			}
	for (int s = 0; s < n; s++)
	{
		int64		e = PG_INT64_MIN;
		bool		bounded = true;

		for (int t = 0; t < n; t++)
		{
			if (t == s)
				continue;
			if (d[s][t] == PG_INT64_MAX)
				bounded = false;
			else
				e = Max(e, d[s][t]);
		}
		j->side[s].bounds = NIL;
		if (bounded)
			add_bound(j, s, -1, false, e, 0, 0);
	}
}

/* the quals of the inner joins below node, which every joined row satisfies */
static List *
inner_quals_below(Node *node, List *conds)
{
	ListCell   *lc;

	if (IsA(node, FromExpr))
	{
		foreach(lc, ((FromExpr *) node)->fromlist)
		{
			Node	   *c = lfirst(lc);

			if (IsA(c, FromExpr))
				conds = list_concat(conds, make_ands_implicit((Expr *) ((FromExpr *) c)->quals));
			else if (IsA(c, JoinExpr) && ((JoinExpr *) c)->jointype == JOIN_INNER)
				conds = list_concat(conds, make_ands_implicit((Expr *) ((JoinExpr *) c)->quals));
			conds = inner_quals_below(c, conds);
		}
	}
	else if (IsA(node, JoinExpr))
	{
		JoinExpr   *je = (JoinExpr *) node;
		Node	   *args[2] = {je->larg, je->rarg};

		for (int i = 0; i < 2; i++)
		{
			if (IsA(args[i], FromExpr))
				conds = list_concat(conds, make_ands_implicit((Expr *) ((FromExpr *) args[i])->quals));
			else if (IsA(args[i], JoinExpr) && ((JoinExpr *) args[i])->jointype == JOIN_INNER)
				conds = list_concat(conds, make_ands_implicit((Expr *) ((JoinExpr *) args[i])->quals));
			conds = inner_quals_below(args[i], conds);
		}
	}
	return conds;
}

/*
 * Keys through a third stream: s.x = m.y and m.y = t.z give s.x = t.z
 * (equalities of one btree family are transitive), where x and z are of
 * one type (its equality is then the family's too). So in a chain a.k =
 * b.k, b.k = c.k each state is probed in every copy. A pair derived so
 * holds where m is joined too: CqJoinSide.pvia has the third sides (a
 * stacked join's copy with m NULL-padded cannot probe by it).
 */
static void
transitive_keys(CqJoin *j)
{
	bool		added = true;

	while (added)
	{
		added = false;
		for (int s = 0; s < j->nsides; s++)
			for (int m = 0; m < j->nsides; m++)
				for (int t = 0; t < j->nsides; t++)
				{
					CqJoinSide *a = &j->side[s];
					CqJoinSide *mid = &j->side[m];

					if (s == m || m == t || s == t)
						continue;
					for (int i = 0; i < a->npkeys[m]; i++)
						for (int k = 0; k < mid->npkeys[t]; k++)
						{
							AttrNumber	x = a->pkeys[m][i];
							AttrNumber	z = j->side[t].pkeys[m][k];

							if (mid->pkeys[s][i] != mid->pkeys[t][k] ||
								get_atttype(a->relid, x) != get_atttype(j->side[t].relid, z) ||
								has_keycol(a, t, x) || has_keycol(&j->side[t], s, z) ||
								a->npkeys[t] >= INDEX_MAX_KEYS)
								continue;
							add_pair(j, s, x, t, z, a->pvia[m] | mid->pvia[t] | (1 << m));
							added = true;
						}
				}
	}
}

/* a copy of a bound */
static CqBound *
copy_bound(CqBound *b)
{
	CqBound    *c = palloc(sizeof(CqBound));

	memcpy(c, b, sizeof(CqBound));
	return c;
}

/*
 * Stacked joins of streams (engine/join.c has their design): several outer
 * joins (a LEFT JOIN b ON ... LEFT JOIN c ON ...), an outer join below an
 * inner one (a LEFT JOIN b ON ... JOIN c ON ...), their RIGHT forms. Each
 * join of streams brings in one stream read directly (of an outer join,
 * its nullable side), and its ON condition compares that stream with
 * exactly one stream already joined, its anchor: so the streams form a
 * tree, and whether a row of the anchor has a match is a property of
 * that row alone, kept with it in its state. A FULL join among them
 * also pads the anchor (stacked_full, below); a comma join, or a condition
 * reading a table or two earlier streams is refused with a hint.
 */
static void
stacked_refuse(const char *msg, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s", msg),
			 errdetail("%s", detail),
			 errhint("Join each stream to one stream joined before it, directly, with an ON condition comparing the two (a LEFT JOIN b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '10 minutes' LEFT JOIN c ON c.k = a.k AND ...); or outer-join the result of one view, read from its sink stream, in another.")));
}

/* the side of a stream read directly by a range-table reference, or -1 */
static int
direct_side(Query *q, CqJoin *j, Node *node)
{
	Index		rti = direct_stream(q, node);

	if (rti == 0)
		return -1;
	for (int k = 0; k < j->nsides; k++)
		if (j->side[k].relid == rt_fetch(rti, q->rtable)->relid)
			return k;
	return -1;
}

/* the sides a join's condition reads; error on anything but their columns */
static int
stacked_cond_sides(Query *q, CqJoin *j, Node *quals)
{
	List	   *vars;
	int			mask = 0;
	ListCell   *lc;

	if (checkExprHasSubLink(quals))
		stacked_refuse("a subquery in the condition of a stacked join of streams is not supported",
					   "Each join of a stream must compare it with one other stream, by their columns.");
	vars = pull_var_clause(quals, 0);
	foreach(lc, vars)
	{
		Var		   *v = lfirst(lc);
		RangeTblEntry *rte = rt_fetch(v->varno, q->rtable);
		int			k = -1;

		if (v->varlevelsup == 0 && rte->rtekind == RTE_RELATION)
			for (int s = 0; s < j->nsides; s++)
				if (j->side[s].relid == rte->relid)
					k = s;
		if (k < 0)
			stacked_refuse("the condition of a join of streams under an outer join may read only the columns of two streams",
						   "It reads a table, a join's merged column (USING), or an outer query: which rows of the anchor stream matched must be told by the two streams' rows alone.");
		mask |= (1 << k);
	}
	return mask;
}

/*
 * A condition outside the joins of streams (WHERE, a join with a table)
 * must not test a NULL-padded stream: the planner turns WHERE b.k IS NULL
 * into an anti join, which the batches cannot split, and a strict test
 * makes the outer join inner.
 */
static void
stacked_outside(Query *q, CqJoin *j, Node *quals)
{
	List	   *vars = pull_var_clause(quals, PVC_RECURSE_AGGREGATES |
									   PVC_RECURSE_WINDOWFUNCS | PVC_RECURSE_PLACEHOLDERS);
	ListCell   *lc;

	foreach(lc, vars)
	{
		Var		   *v = lfirst(lc);
		RangeTblEntry *rte;

		if (v->varlevelsup != 0)
			continue;
		rte = rt_fetch(v->varno, q->rtable);
		for (int k = 0; k < j->nsides; k++)
			if (j->side[k].padded && (rte->rtekind == RTE_JOIN ||
									  (rte->rtekind == RTE_RELATION && rte->relid == j->side[k].relid)))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a condition outside the outer joins of streams may not read stream \"%s\", which they NULL-pad",
								get_rel_name(j->side[k].relid)),
						 errdetail("A test of a NULL-padded stream in WHERE or in a join with a table changes which rows the outer join pads (WHERE b.k IS NULL keeps only padded rows)."),
						 errhint("Move the test into the stream's ON condition, write its join as an inner JOIN, or filter the rows in a view reading this one's sink stream.")));
	}
}

/* the join tree below meet: anchors, conditions, bounds and keys; its sides */
static int
stacked_walk(Query *q, CqJoin *j, Node *node, int *npadded)
{
	JoinExpr   *je;
	int			l,
				r,
				n,
				m;

	if (IsA(node, RangeTblRef))
		return sides_in(q, j, node);
	if (IsA(node, FromExpr))
	{
		int			mask = 0;
		ListCell   *lc;

		foreach(lc, ((FromExpr *) node)->fromlist)
		{
			int			s = stacked_walk(q, j, lfirst(lc), npadded);

			if (s && mask)
				stacked_refuse("a comma join of streams beside an outer join of streams is not supported",
							   "Stacked joins of streams are written JOIN ... ON, one stream at a time.");
			mask |= s;
		}
		return mask;
	}
	if (!IsA(node, JoinExpr))
		return 0;
	je = (JoinExpr *) node;
	l = stacked_walk(q, j, je->larg, npadded);
	r = stacked_walk(q, j, je->rarg, npadded);
	if (l == 0 || r == 0)
	{
		stacked_outside(q, j, je->quals);
		return l | r;
	}
	/* the stream it brings in: the nullable side, or one read directly */
	if (je->jointype == JOIN_LEFT)
		n = direct_side(q, j, je->rarg);
	else if (je->jointype == JOIN_RIGHT)
		n = direct_side(q, j, je->larg);
	else
	{
		n = direct_side(q, j, je->rarg);
		if (n < 0)
			n = direct_side(q, j, je->larg);
	}
	if (n < 0 || (je->jointype != JOIN_INNER && je->jointype != JOIN_LEFT &&
				  je->jointype != JOIN_RIGHT && je->jointype != JOIN_FULL))
		stacked_refuse("an outer join of streams whose nullable side joins several streams is not supported here",
					   "Under several outer joins, or an outer join below another join of streams, each join brings in one stream, read directly (on the nullable side of an outer join).");
	m = stacked_cond_sides(q, j, je->quals) & ~(1 << n);
	if (m == 0 || (m & (m - 1)) != 0)
		stacked_refuse("the condition of a join of streams under an outer join must compare the stream it brings in with exactly one other stream",
					   m == 0 ? "It compares the stream with no other stream." :
					   "It compares the stream with two streams joined before it: which rows matched could not be kept with one stream's rows.");
	for (int k = 0; k < j->nsides; k++)
		if (m == (1 << k))
			j->side[n].anchor = k;
	j->side[n].padded = (je->jointype != JOIN_INNER);
	j->side[n].full = (je->jointype == JOIN_FULL);
	j->side[n].acond = copyObject(je->quals);
	if (j->side[n].padded)
		(*npadded)++;
	bounds_from_conjuncts(q, j, je->quals, -1);
	keys_from_conjuncts(q, j, je->quals);
	return l | r;
}

/*
 * FULL JOINs in a stack (a FULL JOIN b ON .. FULL JOIN c ON ..): the stream
 * a FULL JOIN brings in is padded where its anchor's row has no match, as
 * for a LEFT JOIN, and its own rows come out with the anchor NULL-padded
 * where they match no row of the anchor. That is a property of the
 * stream's row alone only if every row of the anchor reaches the join: the
 * anchor is the first stream, or one a FULL JOIN brought in, and no inner
 * join (which drops rows) and no LEFT JOIN bringing the anchor in came
 * before. Else which rows of the new stream matched would depend on pairs
 * of earlier rows: refused. The streams on the preserved side of a FULL
 * JOIN may come out NULL-padded too: no condition outside the joins of
 * streams may read them.
 */
static void
full_outside(Query *q, CqJoin *j, Node *quals, int nullable)
{
	List	   *vars = pull_var_clause(quals, PVC_RECURSE_AGGREGATES |
									   PVC_RECURSE_WINDOWFUNCS | PVC_RECURSE_PLACEHOLDERS);
	ListCell   *lc;

	foreach(lc, vars)
	{
		Var		   *v = lfirst(lc);
		RangeTblEntry *rte;

		if (v->varlevelsup != 0)
			continue;
		rte = rt_fetch(v->varno, q->rtable);
		for (int k = 0; k < j->nsides; k++)
			if ((nullable & (1 << k)) && rte->rtekind == RTE_RELATION &&
				rte->relid == j->side[k].relid)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a condition outside the joins of streams may not read stream \"%s\", which a FULL JOIN NULL-pads",
								get_rel_name(j->side[k].relid)),
						 errdetail("A test of a NULL-padded stream in WHERE or in a join with a table changes which rows the outer join pads."),
						 errhint("Move the test into the stream's ON condition, or filter the rows in a view reading this one's sink stream.")));
	}
}

/* the sides below node; *total: those all of whose rows reach its output */
static int
full_walk(Query *q, CqJoin *j, Node *node, int *total, int *nullable)
{
	JoinExpr   *je;
	int			l,
				r,
				tl,
				tr,
				n;

	*total = 0;
	if (IsA(node, RangeTblRef))
		return (*total = sides_in(q, j, node));
	if (IsA(node, FromExpr))
	{
		FromExpr   *f = (FromExpr *) node;
		int			mask = 0;
		ListCell   *lc;

		foreach(lc, f->fromlist)
			mask |= full_walk(q, j, lfirst(lc), &tl, nullable);
		if (list_length(f->fromlist) == 1 && f->quals == NULL)
			*total = tl;
		full_outside(q, j, f->quals, *nullable);
		return mask;
	}
	if (!IsA(node, JoinExpr))
		return 0;
	je = (JoinExpr *) node;
	l = full_walk(q, j, je->larg, &tl, nullable);
	r = full_walk(q, j, je->rarg, &tr, nullable);
	if (l == 0 || r == 0)
	{
		/* with a table: an inner join may drop rows of the streams */
		full_outside(q, j, je->quals, *nullable);
		if ((je->jointype == JOIN_LEFT && l) || (je->jointype == JOIN_RIGHT && r))
			*total = tl | tr;
		return l | r;
	}
	if (je->jointype == JOIN_LEFT)
		*total = tl;
	else if (je->jointype == JOIN_RIGHT)
		*total = tr;
	else if (je->jointype == JOIN_FULL)
	{
		int			other,
					tother;

		n = direct_side(q, j, je->rarg);
		if (n < 0)
			n = direct_side(q, j, je->larg);
		Assert(n >= 0 && j->side[n].full);
		other = (l == (1 << n)) ? r : l;
		tother = (l == (1 << n)) ? tr : tl;
		if (!(tother & (1 << j->side[n].anchor)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a FULL JOIN of stream \"%s\" with stream \"%s\", whose rows an earlier join may drop, is not supported",
							get_rel_name(j->side[n].relid),
							get_rel_name(j->side[j->side[n].anchor].relid)),
					 errdetail("Not every row of \"%s\" reaches the FULL JOIN (an inner join before it drops rows, or an outer join brought the stream in on its nullable side): a row of \"%s\" matching only rows dropped there would have to come out NULL-padded, which depends on pairs of rows, not on the row of \"%s\" alone.",
							   get_rel_name(j->side[j->side[n].anchor].relid),
							   get_rel_name(j->side[n].relid),
							   get_rel_name(j->side[n].relid)),
					 errhint("Compare the stream with one all of whose rows reach the FULL JOIN (the first stream, the preserved side of a RIGHT JOIN, or one a FULL JOIN brought in), with no inner join before; or FULL JOIN the result of one view, read from its sink stream, in another.")));
		*total = tother | (1 << n);
		*nullable |= other;
	}
	return l | r;
}

static void
stacked_full(Query *q, CqJoin *j)
{
	int			total;
	int			nullable = 0;
	bool		any = false;

	for (int k = 0; k < j->nsides; k++)
		any |= j->side[k].full;
	if (any)
		(void) full_walk(q, j, (Node *) q->jointree, &total, &nullable);
}

/* a full side's bounds against its anchor: when its own row is certain unmatched */
static void
stacked_full_bounds(CqJoin *j, int k)
{
	CqJoinSide *s = &j->side[k];
	ListCell   *lc;

	foreach(lc, s->bounds)
		if (((CqBound *) lfirst(lc))->other == s->anchor)
			s->rbounds = lappend(s->rbounds, copy_bound(lfirst(lc)));
	if (s->rbounds == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the FULL JOIN of stream \"%s\" needs a time bound on the rows of stream \"%s\" that can match it",
						get_rel_name(s->relid), get_rel_name(j->side[s->anchor].relid)),
				 errdetail("A row of \"%s\" NULL-padded for \"%s\" is written once no match can come any more: the condition must bound how much later a matching row of \"%s\" can be.",
						   get_rel_name(s->relid), get_rel_name(j->side[s->anchor].relid),
						   get_rel_name(j->side[s->anchor].relid)),
				 errhint("Bound the join in time both ways, for example: ON c.k = a.k AND c.ts BETWEEN a.ts - interval '1 hour' AND a.ts + interval '1 hour'.")));
}

static CqJoin *
stacked_join(Query *query, CqJoin *j, Node *meet, bool for_create)
{
	int			npadded = 0;
	bool		all_wm = true;
	bool		bounded = true;

	for (int k = 0; k < j->nsides; k++)
	{
		j->side[k].anchor = -1;
		j->side[k].rtindex = only_entry(query, j->side[k].relid);
		all_wm &= j->side[k].watermarked;
	}
	j->stacked = true;
	/* (the pairs of each outer join are found as for two streams) */
	j->jointype = JOIN_LEFT;
	(void) stacked_walk(query, j, (Node *) query->jointree, &npadded);
	stacked_outside(query, j, query->jointree->quals);
	stacked_full(query, j);
	if (npadded > PGS_JOIN_MAX_PADDED)
		stacked_refuse(psprintf("more than %d outer joins of streams in one view are not supported",
								PGS_JOIN_MAX_PADDED),
					   "Each combination of NULL-padded streams is a part of every batch's plan.");
	if (!all_wm)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stacked outer joins of streams need a watermark on every stream"),
				 errdetail("A NULL-padded row is written once no match can come any more, which only the watermarks can tell."),
				 errhint("Declare event time and a watermark on every stream: OPTIONS (event_time 'ts', watermark '10 minutes').")));
	/* the anchor's bounds against each stream an outer join brings in */
	for (int k = 0; k < j->nsides; k++)
	{
		CqJoinSide *s = &j->side[k];
		ListCell   *lc;

		if (!s->padded)
			continue;
		foreach(lc, j->side[s->anchor].bounds)
			if (((CqBound *) lfirst(lc))->other == k)
				s->abounds = lappend(s->abounds, copy_bound(lfirst(lc)));
		if (s->full)
			stacked_full_bounds(j, k);
		if (s->abounds == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the outer join of stream \"%s\" needs a time bound against stream \"%s\"",
							get_rel_name(s->relid), get_rel_name(j->side[s->anchor].relid)),
					 errdetail("A NULL-padded row is written once no match can come any more: the condition must bound how much later a matching row of \"%s\" can be.",
							   get_rel_name(s->relid)),
					 errhint("Bound the join in time, for example: ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '1 hour'.")));
	}
	transitive_keys(j);
	nway_bounds(j);
	for (int k = 0; k < j->nsides; k++)
		bounded &= (j->side[k].bounds != NIL);
	if (!bounded)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("stacked outer joins of streams need time bounds that chain every stream to every other"),
				 errdetail("A row is kept until no row that can still arrive can join it or decide its NULL-padded rows: each join's condition must bound its two streams' event times both ways."),
				 errhint("Bound each join in time, for example: ON c.k = b.k AND c.ts BETWEEN b.ts AND b.ts + interval '1 hour'.")));
	finish_sides(j, for_create);
	return j;
}

/*
 * An inner join of more than two streams (each read once): no outer join
 * between them, keys per pair of streams, bounds over all pairs (above),
 * where every stream has a watermark.
 */
static CqJoin *
nway_join(Query *query, CqJoin *j, Node *meet, List *conds, bool for_create)
{
	bool		all_wm = true;
	bool		bounded = true;
	List	   *matching = conds;
	ListCell   *lc;

	/*
	 * One outer join, at the top, with one stream on its preserved side: a
	 * LEFT JOIN (b JOIN c ON ...) ON ... Its rows match if some joined row
	 * of the other streams does; which rows did is found as for two
	 * streams, and the others come out NULL-padded when they expire.
	 */
	j->jointype = JOIN_INNER;
	if (IsA(meet, JoinExpr) && ((JoinExpr *) meet)->jointype != JOIN_INNER)
	{
		JoinExpr   *je = (JoinExpr *) meet;
		Node	   *pres = je->jointype == JOIN_LEFT ? je->larg : je->rarg;
		Node	   *other = je->jointype == JOIN_LEFT ? je->rarg : je->larg;
		Index		p = (je->jointype == JOIN_FULL) ? 0 : direct_stream(query, pres);

		/* else several outer joins, or one preserving a join: stacked */
		if (p == 0 || inner_tree_streams(query, other) < 2)
			return stacked_join(query, j, meet, for_create);
		j->jointype = je->jointype;
		j->outer = copyObject(je);
		for (int k = 0; k < j->nsides; k++)
			j->side[k].preserved = (j->side[k].relid == rt_fetch(p, query->rtable)->relid);
		/* what decides a match: the ON condition and the inner joins below */
		matching = inner_quals_below(meet, make_ands_implicit((Expr *) je->quals));
	}
	else if (outer_between_sides(query, j, (Node *) query->jointree))
		return stacked_join(query, j, meet, for_create);
	for (int k = 0; k < j->nsides; k++)
	{
		CqJoinSide *s = &j->side[k];

		all_wm &= s->watermarked;
		s->rtindex = only_entry(query, s->relid);
		own_conjuncts(query, s, matching);
	}
	/* the keys of each pair: a side's state is probed with each keyed one's */
	foreach(lc, matching)
		keys_from_conjuncts(query, j, lfirst(lc));
	transitive_keys(j);
	if (all_wm)
	{
		foreach(lc, conds)
			bounds_from_conjuncts(query, j, lfirst(lc), -1);
		nway_bounds(j);
	}
	else
		for (int k = 0; k < j->nsides; k++)
			j->side[k].bounds = NIL;
	for (int k = 0; k < j->nsides; k++)
		bounded &= (j->side[k].bounds != NIL);
	if (j->jointype != JOIN_INNER && !bounded)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a %s of streams needs a watermark on every stream and time bounds that chain them all",
						join_name(j->jointype)),
				 errdetail("A NULL-padded row is written once no match can come any more: every stream's event time must be bounded by another's, all of them connected."),
				 errhint("Declare event time and a watermark on every stream and bound each join in time, for example: ON c.k = b.k AND c.ts BETWEEN b.ts AND b.ts + interval '1 hour'.")));
	finish_sides(j, for_create);
	return j;
}

CqJoin *
pgs_analyze_join(Query *query, List *streams, List *wm_streams, bool for_create)
{
	CqJoin	   *j = palloc0(sizeof(CqJoin));
	List	   *conds = NIL;
	List	   *matching;
	Node	   *meet;
	ListCell   *lc;
	bool		outer;
	bool		bounded;
	int			free_side = -1;

	/* a self-join: one stream, read twice; its sides are its two entries */
	j->self = (list_length(streams) == 1);
	j->nsides = j->self ? 2 : list_length(streams);
	Assert(j->nsides >= 2 && j->nsides <= PGS_JOIN_MAX_SIDES);
	for (int k = 0; k < j->nsides; k++)
	{
		CqJoinSide *s = &j->side[k];

		/* event time counts where the view has a watermark on it */
		s->relid = list_nth_oid(streams, j->self ? 0 : k);
		foreach(lc, wm_streams)
		{
			CqTime	   *t = lfirst(lc);

			if (t->relid == s->relid)
			{
				s->watermarked = true;
				s->ts_attno = t->attno;
				s->ts_typid = t->typid;
			}
		}
	}

	if (j->self)
	{
		int			n = 0;

		foreach(lc, query->rtable)
		{
			RangeTblEntry *rte = lfirst(lc);

			if (rte->rtekind == RTE_RELATION && rte->relid == j->side[0].relid && n++ < 2)
				j->side[n - 1].rtindex = foreach_current_index(lc) + 1;
		}
		if (n != 2)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a stream joined with itself must be read twice in the view's own FROM"),
					 errhint("Write both references in FROM, for example: FROM s a JOIN s b ON a.k = b.k AND b.ts BETWEEN a.ts AND a.ts + interval '1 minute'.")));
	}
	meet = meeting_node(query, j, (Node *) query->jointree, &conds);
	if (j->nsides > 2)
		return nway_join(query, j, meet, inner_quals_below(meet, conds), for_create);
	j->jointype = JOIN_INNER;
	if (IsA(meet, JoinExpr))
	{
		JoinExpr   *je = (JoinExpr *) meet;

		/* the sides in the order of the join: side 0 is on the left */
		if (sides_in(query, j, je->larg) == 2)
		{
			CqJoinSide	t = j->side[0];

			j->side[0] = j->side[1];
			j->side[1] = t;
		}
		j->jointype = je->jointype;
		if (je->jointype != JOIN_INNER)
		{
			Index		l = direct_stream(query, je->larg);
			Index		r = direct_stream(query, je->rarg);

			j->side[0].rtindex = l;
			j->side[1].rtindex = r;
			/* the condition, over the two sides alone, for the matched rows */
			j->cond = copyObject(je->quals);
			ChangeVarNodes(j->cond, l, 1000001, 0);
			ChangeVarNodes(j->cond, r, 1000002, 0);
			ChangeVarNodes(j->cond, 1000001, 1, 0);
			ChangeVarNodes(j->cond, 1000002, 2, 0);
		}
	}
	else if (IsA(meet, FromExpr))
	{
		/* a, b WHERE ...: the sides in the order of FROM */
		foreach(lc, ((FromExpr *) meet)->fromlist)
		{
			int			m = sides_in(query, j, lfirst(lc));

			if (m == 2)
			{
				CqJoinSide	t = j->side[0];

				j->side[0] = j->side[1];
				j->side[1] = t;
			}
			if (m)
				break;
		}
	}
	if (j->self && j->jointype == JOIN_FULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a FULL JOIN of a stream with itself is not supported"),
				 errdetail("The two sides of a self-join share one state, which can tell whether a row matched on one side only."),
				 errhint("Use a LEFT JOIN, or a UNION ALL of a LEFT and a RIGHT JOIN's unmatched rows in two views.")));
	j->side[0].preserved = (j->jointype == JOIN_LEFT || j->jointype == JOIN_FULL);
	j->side[1].preserved = (j->jointype == JOIN_RIGHT || j->jointype == JOIN_FULL);
	outer = (j->jointype != JOIN_INNER);

	/*
	 * The keys: of an outer join, from the ON clause that decides which
	 * rows match; of an inner join, from everything every pair satisfies.
	 */
	matching = outer ? make_ands_implicit((Expr *) ((JoinExpr *) meet)->quals) : conds;
	foreach(lc, matching)
		keys_from_conjuncts(query, j, lfirst(lc));
	for (int k = 0; k < 2; k++)
	{
		j->side[k].nkeys = j->side[k].npkeys[1 - k];
		j->side[k].keycols = j->side[k].pkeys[1 - k];
	}

	/*
	 * What a side's row alone must satisfy to match: a row that fails it
	 * never matches (of a preserved side, it is NULL-padded at once).
	 */
	for (int k = 0; k < 2; k++)
	{
		CqJoinSide *s = &j->side[k];

		if (s->rtindex == 0 && !j->self)
			s->rtindex = only_entry(query, s->relid);
		own_conjuncts(query, s, matching);
	}

	/*
	 * Bounds hold only where both sides have a watermark; or where one has
	 * and the sides' windows are equal, which bounds the other too.
	 */
	if (j->side[0].watermarked != j->side[1].watermarked)
		free_side = j->side[0].watermarked ? 1 : 0;
	if ((j->side[0].watermarked && j->side[1].watermarked) || free_side >= 0)
	{
		foreach(lc, conds)
			bounds_from_conjuncts(query, j, lfirst(lc), free_side);
	}
	/* a self-join's sides share one state: a row stays while either side needs it */
	if (j->self && (j->side[0].bounds == NIL || j->side[1].bounds == NIL))
		j->side[0].bounds = j->side[1].bounds = NIL;
	bounded = (j->side[0].bounds != NIL && j->side[1].bounds != NIL);
	if (outer && !bounded)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a %s of two streams needs a watermark on both streams and a time bound in its condition",
						join_name(j->jointype)),
				 errdetail("%s",
						   !(j->side[0].watermarked || j->side[1].watermarked) ||
						   (free_side >= 0 && !j->window_wm) ?
						   "A NULL-padded row is written once no match can come any more, which only the watermarks of both streams can tell; a stream this view joins has no event time with a watermark." :
						   "A NULL-padded row is written once no match can come any more: the condition must bound each side's event time by the other's."),
				 errhint("Declare event time and a watermark on both streams (OPTIONS (event_time 'ts', watermark '10 minutes')) and bound the join in time, for example: ON c.ad_id = i.ad_id AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'.")));
	finish_sides(j, for_create);
	return j;
}
