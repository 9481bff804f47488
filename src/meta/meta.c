/*-------------------------------------------------------------------------
 *
 * meta.c
 *	  The bookkeeping tables of schema stream, and all their SQL.
 *
 * This unit owns stream.cq (one row per continuous view: its tables,
 * options, state and counters), stream.positions (where each view is in
 * each stream it reads), stream.batch_log (the progress of the last
 * batches) and stream.errors (dead letters). Every statement on them is
 * here, behind typed functions: the rest of pg_stream deals in rows
 * (CqMeta, PositionRow, BatchRecord), not in SQL text and column
 * positions. That is pg_cron's model (job_metadata.c, cron_job.h): one
 * file knows the tables' layout, meta.h names their columns, and what the
 * extension does to its own catalog can be read in one place, and changed
 * in one place.
 *
 * meta/ is right above base/: it calls only base/ and PostgreSQL, and
 * every other unit may call it. What it needs from a higher one (how the
 * engine keeps positions) is passed in (PositionCopyFn).
 *
 * Privileges. The bookkeeping runs as the bootstrap superuser, with
 * search_path = pg_catalog, pg_temp (pgs_become_superuser, base/roles.c):
 * users need no grant on these tables, and no operator or function of
 * theirs can be picked up by name and run as superuser. A function that
 * is a piece of bookkeeping on its own switches by itself; one that is a
 * step of a larger piece (a batch, a CREATE, a restore, the background
 * workers, which run as that superuser from the start) expects its
 * caller to have switched, and asserts it.
 *
 * Each function connects to SPI for its statements; SPI connections nest,
 * and some callers are inside one. The statements are planned once in a
 * backend and their plans kept (meta_plan). What is returned is copied out of
 * SPI's memory, into the caller's memory context, before SPI_finish. Each
 * statement keeps the read_only flag it always had: a read-only one runs
 * with the caller's snapshot, any other takes a new one.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "meta/meta.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

/* a step of a larger piece of bookkeeping: the caller switched already */
#define AssertBookkeeping() Assert(GetUserId() == BOOTSTRAP_SUPERUSERID)

/*
 * The rows read are whole, every column in the order of meta.h's Anum_
 * numbers (the tables' own order), so that the numbers are the columns'
 * in the result too; what a query adds comes after them.
 */
#define CQ_COLUMNS "c.view, c.state_table, c.rows_table, c.options, c.enabled, " \
	"c.failed, c.last_error, c.batches, c.rows_in, c.rows_out, c.rows_late, " \
	"c.rows_bad, c.last_batch_at, c.last_batch_ms, c.watermark, c.created_at, " \
	"c.seen_tables, c.output_stream"
#define POSITION_COLUMNS "p.view, p.stream, p.position, p.max_event_time, " \
	"p.join_state, p.state_rows, p.share_max_event_times, p.ctid, p.xmin"
#define Acol_positions_ctid			(Natts_positions + 1)
#define Acol_positions_xmin			(Natts_positions + 2)

/*
 * The statements' plans, prepared once in a backend and kept
 * (SPI_keepplan): a batch runs about six of them, and planning each one
 * anew cost as much as running it. A plan is found by its statement's
 * text, a literal of this file (by address). PostgreSQL's plan cache
 * replans a kept plan when a table it uses is changed, or dropped and
 * created again (DROP and CREATE EXTENSION), and when the search_path, or
 * for row security the user, is not the one it was made with.
 */
#define META_MAX_PLANS 64

typedef struct MetaPlan
{
	const char *sql;
	SPIPlanPtr	plan;
} MetaPlan;

static MetaPlan meta_plans[META_MAX_PLANS];
static int	meta_nplans = 0;

static SPIPlanPtr
meta_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;

	for (int i = 0; i < meta_nplans; i++)
		if (meta_plans[i].sql == sql)
			return meta_plans[i].plan;
	plan = SPI_prepare(sql, nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "could not prepare a statement of pg_stream's bookkeeping: %s",
			 SPI_result_code_string(SPI_result));
	/* more statements than places: this one is planned each time */
	if (meta_nplans < META_MAX_PLANS && SPI_keepplan(plan) == 0)
	{
		meta_plans[meta_nplans].sql = sql;
		meta_plans[meta_nplans].plan = plan;
		meta_nplans++;
	}
	return plan;
}

/*
 * Connect to SPI and run one statement on the tables: an error that says
 * what could not be done ("read stream.cq") unless it returns expected.
 * The caller reads the result, then calls SPI_finish.
 */
static void
meta_exec_any(const char *sql, int nargs, Oid *argtypes, Datum *args, const char *nulls,
			  bool read_only, long count, int expected, const char *what)
{
	SPI_connect();
	if (SPI_execute_plan(meta_plan(sql, nargs, argtypes), args, nulls, read_only,
						 count) != expected)
		elog(ERROR, "could not %s", what);
}

/*
 * The same, on tables this library was built for: the rows are read and
 * written column by column (pgs_check_catalog, base/util.c). Only
 * meta_cq_exists and meta_forget_dropped, which name columns every
 * version has, run before ALTER EXTENSION pg_stream UPDATE.
 */
static void
meta_exec(const char *sql, int nargs, Oid *argtypes, Datum *args, const char *nulls,
		  bool read_only, long count, int expected, const char *what)
{
	pgs_check_catalog();
	meta_exec_any(sql, nargs, argtypes, args, nulls, read_only, count, expected, what);
}

/*------------------------------------------------------------------------
 * Rows
 *------------------------------------------------------------------------
 */
static Oid
col_oid(HeapTuple tup, TupleDesc desc, int attno)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, attno, &isnull);

	return isnull ? InvalidOid : DatumGetObjectId(d);
}

static int64
col_int64(HeapTuple tup, TupleDesc desc, int attno)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, attno, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static bool
col_bool(HeapTuple tup, TupleDesc desc, int attno)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, attno, &isnull);

	return isnull ? false : DatumGetBool(d);
}

static TimestampTz
col_timestamptz(HeapTuple tup, TupleDesc desc, int attno, bool *has)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, attno, &isnull);

	*has = !isnull;
	return isnull ? 0 : DatumGetTimestampTz(d);
}

/* a row of stream.cq (CQ_COLUMNS), its values copied into cxt */
static void
cq_from_tuple(HeapTuple tup, TupleDesc desc, CqMeta *cq, MemoryContext cxt)
{
	bool		isnull;
	bool		has;
	Datum		d;
	MemoryContext old;

	Assert(desc->natts >= Natts_cq);
	memset(cq, 0, sizeof(CqMeta));
	cq->view = col_oid(tup, desc, Anum_cq_view);
	cq->state_table = col_oid(tup, desc, Anum_cq_state_table);
	cq->rows_table = col_oid(tup, desc, Anum_cq_rows_table);
	cq->enabled = col_bool(tup, desc, Anum_cq_enabled);
	cq->failed = col_bool(tup, desc, Anum_cq_failed);
	cq->batches = col_int64(tup, desc, Anum_cq_batches);
	cq->rows_in = col_int64(tup, desc, Anum_cq_rows_in);
	cq->rows_out = col_int64(tup, desc, Anum_cq_rows_out);
	cq->rows_late = col_int64(tup, desc, Anum_cq_rows_late);
	cq->rows_bad = col_int64(tup, desc, Anum_cq_rows_bad);
	cq->last_batch_at = col_timestamptz(tup, desc, Anum_cq_last_batch_at,
										&cq->has_last_batch_at);
	d = SPI_getbinval(tup, desc, Anum_cq_last_batch_ms, &isnull);
	cq->has_last_batch_ms = !isnull;
	cq->last_batch_ms = isnull ? 0 : DatumGetFloat8(d);
	cq->watermark = col_timestamptz(tup, desc, Anum_cq_watermark, &cq->has_watermark);
	cq->created_at = col_timestamptz(tup, desc, Anum_cq_created_at, &has);
	cq->output_stream = col_oid(tup, desc, Anum_cq_output_stream);

	old = MemoryContextSwitchTo(cxt);
	d = SPI_getbinval(tup, desc, Anum_cq_options, &isnull);
	cq->options = isnull ? NULL : DatumGetArrayTypePCopy(d);
	d = SPI_getbinval(tup, desc, Anum_cq_last_error, &isnull);
	cq->last_error = isnull ? NULL : TextDatumGetCString(d);
	d = SPI_getbinval(tup, desc, Anum_cq_seen_tables, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(DatumGetArrayTypeP(d), REGCLASSOID, sizeof(Oid), true,
						  TYPALIGN_INT, &elems, &nulls, &n);
		for (int i = 0; i < n; i++)
			cq->seen_tables = lappend_oid(cq->seen_tables,
										  nulls[i] ? InvalidOid : DatumGetObjectId(elems[i]));
	}
	MemoryContextSwitchTo(old);
}

/*
 * A row of stream.positions (POSITION_COLUMNS), made in cxt; its position
 * by copy(), or copied.
 */
static PositionRow *
position_from_tuple(HeapTuple tup, TupleDesc desc, PositionCopyFn copy,
					MemoryContext cxt)
{
	bool		isnull;
	Datum		d;
	MemoryContext old = MemoryContextSwitchTo(cxt);
	PositionRow *p = palloc0(sizeof(PositionRow));

	Assert(desc->natts >= Acol_positions_xmin);
	p->view = col_oid(tup, desc, Anum_positions_view);
	p->stream = col_oid(tup, desc, Anum_positions_stream);
	p->max_event_time = col_timestamptz(tup, desc, Anum_positions_max_event_time,
										&p->has_max_event_time);
	p->join_state = col_oid(tup, desc, Anum_positions_join_state);
	p->state_rows = col_int64(tup, desc, Anum_positions_state_rows);
	d = SPI_getbinval(tup, desc, Anum_positions_share_max_event_times, &isnull);
	if (!isnull)
	{
		Datum	   *elems;
		bool	   *enulls;

		deconstruct_array(DatumGetArrayTypeP(d), TIMESTAMPTZOID, sizeof(int64),
						  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &enulls,
						  &p->nshare_times);
		p->share_times = palloc(sizeof(int64) * Max(p->nshare_times, 1));
		p->share_known = palloc(sizeof(bool) * Max(p->nshare_times, 1));
		for (int i = 0; i < p->nshare_times; i++)
		{
			p->share_known[i] = !enulls[i];
			p->share_times[i] = enulls[i] ? 0 : DatumGetTimestampTz(elems[i]);
		}
	}
	d = SPI_getbinval(tup, desc, Acol_positions_ctid, &isnull);
	p->tid = *(ItemPointer) DatumGetPointer(d);
	p->xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, Acol_positions_xmin, &isnull));
	d = SPI_getbinval(tup, desc, Anum_positions_position, &isnull);
	Assert(!isnull);
	p->position = copy ? copy(p, d) : DatumGetJsonbPCopy(d);
	MemoryContextSwitchTo(old);
	return p;
}

/* the rows of positions a statement found, made in cxt */
static List *
positions_found(PositionCopyFn copy, MemoryContext cxt)
{
	List	   *result = NIL;

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		PositionRow *p = position_from_tuple(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, copy, cxt);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		result = lappend(result, p);
		MemoryContextSwitchTo(old);
	}
	return result;
}

/*------------------------------------------------------------------------
 * stream.cq
 *------------------------------------------------------------------------
 */

/* Is this relation a continuous view? */
bool
meta_cq_exists(Oid view)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	bool		found;
	PgsUser		saved;

	if (get_rel_relkind(view) != RELKIND_MATVIEW)
		return false;
	pgs_become_superuser(&saved);
	meta_exec_any("SELECT 1 FROM stream.cq WHERE view = $1",
			  1, argtypes, args, NULL, true, 1, SPI_OK_SELECT,
			  "read stream.cq");
	found = SPI_processed > 0;
	SPI_finish();
	pgs_restore_user(&saved);
	return found;
}

/*
 * The row of view (false if it has none), with the state rows of its last
 * batch, as a batch reads it.
 */
bool
meta_cq_get(Oid view, CqMeta *cq)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	bool		found = false;
	MemoryContext cxt = CurrentMemoryContext;

	Assert(OidIsValid(view));
	AssertBookkeeping();
	meta_exec("SELECT " CQ_COLUMNS ", "
			  "(SELECT b.state_rows FROM stream.batch_log b WHERE b.view = c.view "
			  " ORDER BY b.batch_id DESC LIMIT 1) "
			  "FROM stream.cq c WHERE c.view = $1",
			  1, argtypes, args, NULL, false, 1, SPI_OK_SELECT,
			  "read stream.cq");
	if (SPI_processed == 1)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		Assert(desc->natts == Natts_cq + 1);
		cq_from_tuple(tup, desc, cq, cxt);
		cq->last_state_rows = col_int64(tup, desc, Natts_cq + 1);
		found = true;
	}
	SPI_finish();
	return found;
}

/* when view was created (false: it is not a continuous view) */
bool
meta_cq_created_at(Oid view, TimestampTz *created_at)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	PgsUser		saved;
	bool		found = false;

	Assert(OidIsValid(view));
	pgs_become_superuser(&saved);
	meta_exec("SELECT created_at FROM stream.cq WHERE view = $1",
			  1, argtypes, args, NULL, true, 1, SPI_OK_SELECT,
			  "read stream.cq");
	if (SPI_processed == 1)
		*created_at = col_timestamptz(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									  &found);
	SPI_finish();
	pgs_restore_user(&saved);
	return found;
}

/*
 * The views a worker should run (CqName): enabled, not failed, and
 * populated (a restored view waits for its first REFRESH, see ddl.c).
 */
List *
meta_cq_runnable(void)
{
	List	   *result = NIL;
	MemoryContext cxt = CurrentMemoryContext;

	AssertBookkeeping();
	/* (the option parallelism: how many workers; options.c checked it) */
	meta_exec("SELECT c.view::oid, c.view::text, "
			  "(SELECT substr(o, 13)::int4 FROM unnest(c.options) o "
			  " WHERE starts_with(o, 'parallelism=') LIMIT 1) FROM stream.cq c "
			  "JOIN pg_catalog.pg_class r ON r.oid = c.view::oid "
			  "WHERE c.enabled AND NOT c.failed AND r.relispopulated",
			  0, NULL, NULL, NULL, true, 0, SPI_OK_SELECT, "read stream.cq");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		CqName	   *v = palloc(sizeof(CqName));

		v->view = col_oid(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		v->name = name ? pstrdup(name) : NULL;
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull);

			v->parallelism = isnull ? 1 : Max(DatumGetInt32(d), 1);
		}
		result = lappend(result, v);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/*
 * Whether there are continuous views and all are populated: none is a
 * restored one waiting for its first REFRESH (see ddl.c).
 */
bool
meta_cq_exist_all_populated(void)
{
	bool		result;

	AssertBookkeeping();
	meta_exec("SELECT EXISTS (SELECT FROM stream.cq) AND NOT EXISTS "
			  "(SELECT FROM stream.cq c JOIN pg_catalog.pg_class r ON r.oid = c.view::oid "
			  " WHERE NOT r.relispopulated)",
			  0, NULL, NULL, NULL, true, 0, SPI_OK_SELECT, "read stream.cq");
	result = col_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_finish();
	return result;
}

/* the continuous views role owns (OIDs) */
List *
meta_cq_views_owned_by(Oid role)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(role)};
	List	   *views;
	PgsUser		saved;
	MemoryContext cxt = CurrentMemoryContext;

	Assert(OidIsValid(role));
	pgs_become_superuser(&saved);
	meta_exec("SELECT c.view::oid FROM stream.cq c JOIN pg_class r ON r.oid = c.view::oid "
			  "WHERE r.relowner = $1",
			  1, argtypes, args, NULL, false, 0, SPI_OK_SELECT,
			  "read stream.cq");
	views = pgs_spi_oids(cxt);
	SPI_finish();
	pgs_restore_user(&saved);
	return views;
}

/* the tables of view in schema stream (OIDs): state, rows, join states */
List *
meta_cq_tables(Oid view)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	List	   *tables;
	MemoryContext cxt = CurrentMemoryContext;

	Assert(OidIsValid(view));
	AssertBookkeeping();
	meta_exec("SELECT t FROM stream.cq, "
			  "LATERAL (VALUES (state_table), (rows_table), (output_stream)) v(t) "
			  "WHERE view = $1 AND t IS NOT NULL "
			  "UNION ALL SELECT pg_catalog.unnest(seen_tables) FROM stream.cq WHERE view = $1 "
			  "UNION ALL SELECT join_state FROM stream.positions "
			  "WHERE view = $1 AND join_state IS NOT NULL",
			  1, argtypes, args, NULL, false, 0, SPI_OK_SELECT,
			  "read stream.cq");
	tables = pgs_spi_oids(cxt);
	SPI_finish();
	return tables;
}

/* a new continuous view's row (its tables InvalidOid if none) */
void
meta_cq_insert(Oid view, Oid state_table, Oid rows_table, ArrayType *options,
			   List *seen_tables)
{
	Oid			argtypes[5] = {OIDOID, OIDOID, TEXTARRAYOID, OIDOID, REGCLASSARRAYOID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', 'n'};
	Datum	   *seen = palloc0(sizeof(Datum) * Max(list_length(seen_tables), 1));
	ListCell   *lc;

	Assert(OidIsValid(view) && options != NULL);
	AssertBookkeeping();
	args[0] = ObjectIdGetDatum(view);
	args[1] = ObjectIdGetDatum(state_table);
	nulls[1] = OidIsValid(state_table) ? ' ' : 'n';
	args[2] = PointerGetDatum(options);
	args[3] = ObjectIdGetDatum(rows_table);
	nulls[3] = OidIsValid(rows_table) ? ' ' : 'n';
	foreach(lc, seen_tables)
		seen[foreach_current_index(lc)] = ObjectIdGetDatum(lfirst_oid(lc));
	if (seen_tables != NIL)
	{
		args[4] = PointerGetDatum(construct_array(seen, list_length(seen_tables), REGCLASSOID,
												  sizeof(Oid), true, TYPALIGN_INT));
		nulls[4] = ' ';
	}
	meta_exec("INSERT INTO stream.cq (view, state_table, options, rows_table, seen_tables) "
			  "VALUES ($1, $2, $3, $4, $5)",
			  5, argtypes, args, nulls, false, 0, SPI_OK_INSERT,
			  "insert into stream.cq");
	SPI_finish();
}

/* the stream a view's new rows go to, for the views reading it */
void
meta_cq_set_output_stream(Oid view, Oid stream)
{
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		args[2] = {ObjectIdGetDatum(view), ObjectIdGetDatum(stream)};

	Assert(OidIsValid(view));
	AssertBookkeeping();
	/* (InvalidOid: none any more) */
	meta_exec("UPDATE stream.cq SET output_stream = $2 WHERE view = $1",
			  2, argtypes, args, OidIsValid(stream) ? NULL : " n", false, 0, SPI_OK_UPDATE,
			  "update stream.cq");
	SPI_finish();
}

void
meta_cq_set_options(Oid view, ArrayType *options)
{
	Oid			argtypes[2] = {OIDOID, TEXTARRAYOID};
	Datum		args[2] = {ObjectIdGetDatum(view), PointerGetDatum(options)};
	PgsUser		saved;

	Assert(OidIsValid(view) && options != NULL);
	pgs_become_superuser(&saved);
	meta_exec("UPDATE stream.cq SET options = $2 WHERE view = $1",
			  2, argtypes, args, NULL, false, 0, SPI_OK_UPDATE,
			  "update stream.cq");
	SPI_finish();
	pgs_restore_user(&saved);
}

/* stream.start() (which also clears a failure) and stream.stop() */
void
meta_cq_set_enabled(Oid view, bool enabled)
{
	Oid			argtypes[2] = {OIDOID, BOOLOID};
	Datum		args[2] = {ObjectIdGetDatum(view), BoolGetDatum(enabled)};
	PgsUser		saved;

	Assert(OidIsValid(view));
	pgs_become_superuser(&saved);
	meta_exec(enabled
			  ? "UPDATE stream.cq SET enabled = true, failed = false, last_error = NULL WHERE view = $1"
			  : "UPDATE stream.cq SET enabled = false WHERE view = $1",
			  1, argtypes, args, NULL, false, 0, SPI_OK_UPDATE,
			  "update stream.cq");
	SPI_finish();
	pgs_restore_user(&saved);
}

/*
 * The error of a failed batch (message NULL: none); final marks the view
 * failed. The worker's, outside a batch: its search_path is not the
 * bookkeeping's, so the operator is qualified.
 */
void
meta_cq_record_error(Oid view, const char *message, bool final)
{
	Oid			argtypes[3] = {OIDOID, TEXTOID, BOOLOID};
	Datum		args[3];
	char		nulls[3] = {' ', message ? ' ' : 'n', ' '};

	Assert(OidIsValid(view));
	AssertBookkeeping();
	args[0] = ObjectIdGetDatum(view);
	args[1] = message ? CStringGetTextDatum(message) : (Datum) 0;
	args[2] = BoolGetDatum(final);
	meta_exec("UPDATE stream.cq SET last_error = $2, failed = failed OR $3 "
			  "WHERE view OPERATOR(pg_catalog.=) $1",
			  3, argtypes, args, nulls, false, 0, SPI_OK_UPDATE,
			  "update stream.cq");
	SPI_finish();
}

/*
 * A batch's counters: it is counted, its rows added, the watermark it
 * leaves stored, the last error cleared. Returns its number.
 */
int64
meta_cq_record_batch(const BatchRecord *rec)
{
	Oid			argtypes[8] = {OIDOID, INT8OID, INT8OID, TIMESTAMPTZOID, FLOAT8OID, INT8OID,
	INT8OID, TIMESTAMPTZOID};
	Datum		args[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int64		batch_id;

	Assert(OidIsValid(rec->view));
	AssertBookkeeping();
	args[0] = ObjectIdGetDatum(rec->view);
	args[1] = Int64GetDatum(rec->rows_in);
	args[2] = Int64GetDatum(rec->rows_out);
	args[3] = TimestampTzGetDatum(rec->started);
	args[4] = Float8GetDatum(rec->duration_ms);
	args[5] = Int64GetDatum(rec->rows_bad);
	args[6] = Int64GetDatum(rec->rows_late);
	args[7] = TimestampTzGetDatum(rec->watermark);
	nulls[7] = rec->has_watermark ? ' ' : 'n';
	meta_exec("UPDATE stream.cq SET batches = batches + 1, "
			  "rows_in = rows_in + $2, rows_out = rows_out + $3, "
			  "rows_bad = rows_bad + $6, rows_late = rows_late + $7, "
			  "watermark = $8, "
			  "last_batch_at = $4, last_batch_ms = $5, last_error = NULL "
			  "WHERE view = $1 RETURNING batches",
			  8, argtypes, args, nulls, false, 0, SPI_OK_UPDATE_RETURNING,
			  "update stream.cq");
	if (SPI_processed != 1)
		elog(ERROR, "could not update stream.cq");
	batch_id = col_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_finish();
	return batch_id;
}

/*------------------------------------------------------------------------
 * stream.positions
 *------------------------------------------------------------------------
 */

/*
 * The positions of view (PositionRow), by stream. copy makes each one's
 * copy (see PositionCopyFn); NULL copies them.
 */
List *
meta_positions_of_view(Oid view, PositionCopyFn copy)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	MemoryContext cxt = CurrentMemoryContext;
	List	   *result;

	Assert(OidIsValid(view));
	AssertBookkeeping();
	meta_exec("SELECT " POSITION_COLUMNS " FROM stream.positions p "
			  "WHERE p.view = $1 ORDER BY p.stream",
			  1, argtypes, args, NULL, false, 0, SPI_OK_SELECT,
			  "read stream.positions");
	result = positions_found(copy, cxt);
	SPI_finish();
	return result;
}

/* the streams view reads (OIDs, in order) */
List *
meta_position_streams(Oid view)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	MemoryContext cxt = CurrentMemoryContext;
	List	   *result;

	Assert(OidIsValid(view));
	AssertBookkeeping();
	meta_exec("SELECT stream::oid FROM stream.positions WHERE view = $1 ORDER BY 1",
			  1, argtypes, args, NULL, false, 0, SPI_OK_SELECT,
			  "read stream.positions");
	result = pgs_spi_oids(cxt);
	SPI_finish();
	return result;
}

/*
 * The positions in stream of every view reading it (PositionRow, with
 * xmin: a row of the current transaction is not committed yet).
 */
List *
meta_positions_of_stream(Oid stream)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(stream)};
	MemoryContext cxt = CurrentMemoryContext;
	List	   *result;
	PgsUser		saved;

	Assert(OidIsValid(stream));
	pgs_become_superuser(&saved);
	meta_exec("SELECT " POSITION_COLUMNS " FROM stream.positions p "
			  "WHERE p.stream = $1",
			  1, argtypes, args, NULL, true, 0, SPI_OK_SELECT,
			  "read stream.positions");
	result = positions_found(NULL, cxt);
	SPI_finish();
	pgs_restore_user(&saved);
	return result;
}

/*
 * The positions in stream of the views reading it (PositionRow); none,
 * and *all_populated false, if one of these views is not populated (a
 * restored view not refreshed yet: its position is another cluster's).
 */
List *
meta_reader_positions(Oid stream, bool *all_populated)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(stream)};
	MemoryContext cxt = CurrentMemoryContext;
	PgsUser		saved;
	List	   *result = NIL;

	Assert(OidIsValid(stream));
	*all_populated = true;
	pgs_become_superuser(&saved);
	meta_exec("SELECT " POSITION_COLUMNS ", r.relispopulated FROM stream.positions p "
			  "JOIN pg_catalog.pg_class r ON r.oid OPERATOR(pg_catalog.=) p.view::pg_catalog.oid "
			  "WHERE p.stream::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
			  1, argtypes, args, NULL, true, 0, SPI_OK_SELECT,
			  "read stream.positions");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		PositionRow *p;
		MemoryContext old;

		if (!col_bool(tup, SPI_tuptable->tupdesc, Acol_positions_xmin + 1))
		{
			*all_populated = false;
			result = NIL;		/* in cxt, freed with it */
			break;
		}
		p = position_from_tuple(tup, SPI_tuptable->tupdesc, NULL, cxt);
		old = MemoryContextSwitchTo(cxt);
		result = lappend(result, p);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	pgs_restore_user(&saved);
	return result;
}

/*
 * The positions in stream of the views not populated (restored, not
 * refreshed yet), but those marked "restored": except_mark (renumbered
 * here already); by view.
 */
List *
meta_positions_of_restored(Oid stream, const char *except_mark)
{
	Oid			argtypes[2] = {OIDOID, TEXTOID};
	Datum		args[2] = {ObjectIdGetDatum(stream), CStringGetTextDatum(except_mark)};
	MemoryContext cxt = CurrentMemoryContext;
	List	   *result;

	Assert(OidIsValid(stream));
	AssertBookkeeping();
	meta_exec("SELECT " POSITION_COLUMNS " FROM stream.positions p "
			  "JOIN pg_catalog.pg_class r ON r.oid = p.view::oid "
			  "WHERE p.stream::oid = $1 AND NOT r.relispopulated "
			  "AND p.position->>'restored' IS DISTINCT FROM $2 ORDER BY p.view::oid",
			  2, argtypes, args, NULL, false, 0, SPI_OK_SELECT,
			  "read stream.positions");
	result = positions_found(NULL, cxt);
	SPI_finish();
	return result;
}

/*
 * Whether view's position in stream is marked "restored": mark; *found:
 * whether it has a position there at all.
 */
bool
meta_position_restored_mark(Oid view, Oid stream, const char *mark, bool *found)
{
	Oid			argtypes[3] = {OIDOID, OIDOID, TEXTOID};
	Datum		args[3] = {ObjectIdGetDatum(view), ObjectIdGetDatum(stream),
	CStringGetTextDatum(mark)};
	bool		marked = false;

	Assert(OidIsValid(view) && OidIsValid(stream));
	AssertBookkeeping();
	meta_exec("SELECT position->>'restored' IS NOT DISTINCT FROM $3 "
			  "FROM stream.positions WHERE view = $1 AND stream = $2",
			  3, argtypes, args, NULL, false, 1, SPI_OK_SELECT,
			  "read stream.positions");
	*found = SPI_processed > 0;
	if (*found)
		marked = col_bool(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_finish();
	return marked;
}

/* a new continuous view's position in one of its streams */
void
meta_position_insert(Oid view, Oid stream, Jsonb *position)
{
	Oid			argtypes[3] = {OIDOID, OIDOID, JSONBOID};
	Datum		args[3] = {ObjectIdGetDatum(view), ObjectIdGetDatum(stream),
	JsonbPGetDatum(position)};

	Assert(OidIsValid(view) && OidIsValid(stream) && position != NULL);
	AssertBookkeeping();
	meta_exec("INSERT INTO stream.positions (view, stream, position) "
			  "VALUES ($1, $2, $3)",
			  3, argtypes, args, NULL, false, 0, SPI_OK_INSERT,
			  "insert into stream.positions");
	SPI_finish();
}

/* after a batch: the position, the latest event time and the state rows */
void
meta_position_update(const PositionRow *pos)
{
	Oid			argtypes[6] = {OIDOID, OIDOID, JSONBOID, TIMESTAMPTZOID, INT8OID,
	TIMESTAMPTZARRAYOID};
	Datum		args[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	Assert(OidIsValid(pos->view) && OidIsValid(pos->stream) && pos->position != NULL);
	AssertBookkeeping();
	args[0] = ObjectIdGetDatum(pos->view);
	args[1] = ObjectIdGetDatum(pos->stream);
	args[2] = JsonbPGetDatum(pos->position);
	args[3] = TimestampTzGetDatum(pos->max_event_time);
	nulls[3] = pos->has_max_event_time ? ' ' : 'n';
	args[4] = Int64GetDatum(pos->state_rows);
	nulls[5] = 'n';
	if (pos->nshare_times > 0)
	{
		Datum	   *elems = palloc(sizeof(Datum) * pos->nshare_times);
		bool	   *enulls = palloc(sizeof(bool) * pos->nshare_times);
		int			dims[1] = {pos->nshare_times};
		int			lbs[1] = {1};

		for (int i = 0; i < pos->nshare_times; i++)
		{
			elems[i] = TimestampTzGetDatum(pos->share_times[i]);
			enulls[i] = !pos->share_known[i];
		}
		args[5] = PointerGetDatum(construct_md_array(elems, enulls, 1, dims, lbs,
													 TIMESTAMPTZOID, sizeof(int64),
													 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		nulls[5] = ' ';
	}
	meta_exec("UPDATE stream.positions SET position = $3, max_event_time = $4, "
			  "state_rows = $5, share_max_event_times = $6 WHERE view = $1 AND stream = $2",
			  6, argtypes, args, nulls, false, 0, SPI_OK_UPDATE,
			  "update the position of a continuous view");
	if (SPI_processed != 1)
		elog(ERROR, "could not update the position of a continuous view");
	SPI_finish();
}

/* only the position (a restore renumbers it) */
void
meta_position_set(Oid view, Oid stream, Jsonb *position)
{
	Oid			argtypes[3] = {OIDOID, OIDOID, JSONBOID};
	Datum		args[3] = {ObjectIdGetDatum(view), ObjectIdGetDatum(stream),
	JsonbPGetDatum(position)};

	Assert(OidIsValid(view) && OidIsValid(stream) && position != NULL);
	AssertBookkeeping();
	meta_exec("UPDATE stream.positions SET position = $3 "
			  "WHERE view = $1 AND stream = $2",
			  3, argtypes, args, NULL, false, 0, SPI_OK_UPDATE,
			  "update stream.positions");
	SPI_finish();
}

/* the table of a join's side that reads stream */
void
meta_position_set_join_state(Oid view, Oid stream, Oid join_state)
{
	Oid			argtypes[3] = {OIDOID, OIDOID, OIDOID};
	Datum		args[3] = {ObjectIdGetDatum(view), ObjectIdGetDatum(stream),
	ObjectIdGetDatum(join_state)};

	Assert(OidIsValid(view) && OidIsValid(stream) && OidIsValid(join_state));
	AssertBookkeeping();
	meta_exec("UPDATE stream.positions SET join_state = $3 "
			  "WHERE view = $1 AND stream = $2",
			  3, argtypes, args, NULL, false, 0, SPI_OK_UPDATE,
			  "record the join state of a continuous view");
	if (SPI_processed != 1)
		elog(ERROR, "could not record the join state of a continuous view");
	SPI_finish();
}

/*------------------------------------------------------------------------
 * stream.batch_log
 *------------------------------------------------------------------------
 */

/* the progress row of batch rec->batch_id */
void
meta_batch_log_insert(const BatchRecord *rec)
{
	Oid			argtypes[16] = {OIDOID, INT8OID, TIMESTAMPTZOID, FLOAT8OID, INT8OID,
		INT8OID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID, INT8OID,
	FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, INT4OID};
	Datum		args[16];
	char		nulls[16] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ',
	' ', ' ', ' ', ' ', ' '};

	Assert(OidIsValid(rec->view) && rec->batch_id > 0);
	Assert(rec->start_position != NULL && rec->end_position != NULL);
	AssertBookkeeping();
	args[0] = ObjectIdGetDatum(rec->view);
	args[1] = Int64GetDatum(rec->batch_id);
	args[2] = TimestampTzGetDatum(rec->started);
	args[3] = Float8GetDatum(rec->duration_ms);
	args[4] = Int64GetDatum(rec->rows_in);
	args[5] = Int64GetDatum(rec->rows_out);
	args[6] = CStringGetTextDatum(rec->start_position);
	args[7] = CStringGetTextDatum(rec->end_position);
	args[8] = Int64GetDatum(rec->state_rows);
	/* the watermark the batch ran with, as Spark's progress shows it */
	args[9] = TimestampTzGetDatum(rec->ran_watermark);
	nulls[9] = rec->ran_has_watermark ? ' ' : 'n';
	/* the rows this batch dropped as late: what it added to stream.cq's */
	args[10] = Int64GetDatum(rec->rows_late);
	args[11] = Float8GetDatum(rec->read_ms);
	args[12] = Float8GetDatum(rec->run_ms);
	args[13] = Float8GetDatum(rec->merge_ms);
	args[14] = Float8GetDatum(rec->write_ms);
	/* the share of a worker of a view with parallelism > 1 */
	args[15] = Int32GetDatum(rec->share);
	nulls[15] = rec->share >= 0 ? ' ' : 'n';
	meta_exec("INSERT INTO stream.batch_log (view, batch_id, started_at, "
			  "duration_ms, rows_in, rows_out, start_position, end_position, "
			  "state_rows, watermark, rows_late, read_ms, run_ms, merge_ms, write_ms, share) "
			  "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, "
			  "$12, $13, $14, $15, $16)",
			  16, argtypes, args, nulls, false, 0, SPI_OK_INSERT,
			  "insert into stream.batch_log");
	SPI_finish();
}

/* forget the progress of view's batches up to number up_to */
void
meta_batch_log_prune(Oid view, int64 up_to)
{
	Oid			argtypes[2] = {OIDOID, INT8OID};
	Datum		args[2] = {ObjectIdGetDatum(view), Int64GetDatum(up_to)};

	Assert(OidIsValid(view));
	AssertBookkeeping();
	meta_exec("DELETE FROM stream.batch_log WHERE view = $1 AND batch_id <= $2",
			  2, argtypes, args, NULL, false, 0, SPI_OK_DELETE,
			  "prune stream.batch_log");
	SPI_finish();
}

/*------------------------------------------------------------------------
 * stream.errors
 *------------------------------------------------------------------------
 */

/* a dead letter: a record of stream that view's batch could not decode */
void
meta_error_insert(Oid stream, Oid view, Jsonb *position, const char *payload,
				  const char *error)
{
	Oid			argtypes[5] = {OIDOID, JSONBOID, TEXTOID, TEXTOID, OIDOID};
	Datum		args[5];
	PgsUser		saved;

	Assert(OidIsValid(view) && payload != NULL && error != NULL);
	args[0] = ObjectIdGetDatum(stream);
	args[1] = JsonbPGetDatum(position);
	args[2] = CStringGetTextDatum(payload);
	args[3] = CStringGetTextDatum(error);
	args[4] = ObjectIdGetDatum(view);
	pgs_become_superuser(&saved);
	meta_exec("INSERT INTO stream.errors (stream, position, payload, error, view) "
			  "VALUES ($1, $2, $3, $4, $5)", 5, argtypes, args, NULL, false, 0, SPI_OK_INSERT,
			  "insert into stream.errors");
	SPI_finish();
	pgs_restore_user(&saved);
}

/*------------------------------------------------------------------------
 * The outbox of exactly-once Kafka sinks (sources/kafka/outbox.c)
 *------------------------------------------------------------------------
 */

/* a chunk of the messages batch_id of view made for sink */
void
meta_outbox_insert(Oid view, int64 batch_id, int32 seq, Oid sink, int32 nmsgs,
				   bytea *messages)
{
	Oid			argtypes[6] = {OIDOID, INT8OID, INT4OID, OIDOID, INT4OID, BYTEAOID};
	Datum		args[6];
	PgsUser		saved;

	Assert(OidIsValid(view) && OidIsValid(sink) && batch_id > 0 && nmsgs > 0);
	args[0] = ObjectIdGetDatum(view);
	args[1] = Int64GetDatum(batch_id);
	args[2] = Int32GetDatum(seq);
	args[3] = ObjectIdGetDatum(sink);
	args[4] = Int32GetDatum(nmsgs);
	args[5] = PointerGetDatum(messages);
	pgs_become_superuser(&saved);
	meta_exec("INSERT INTO stream.outbox (view, batch_id, seq, sink, nmsgs, messages) "
			  "VALUES ($1, $2, $3, $4, $5, $6)", 6, argtypes, args, NULL, false, 0,
			  SPI_OK_INSERT, "insert into stream.outbox");
	SPI_finish();
	pgs_restore_user(&saved);
}

/*
 * The chunks of view's undelivered batches, oldest first, at most about
 * max_bytes of them (at least one batch's whole), in the caller's memory.
 */
List *
meta_outbox_chunks(Oid view, int64 max_bytes)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	MemoryContext cxt = CurrentMemoryContext;
	List	   *result = NIL;
	int64		bytes = 0;
	int64		last_batch = 0;

	Assert(OidIsValid(view));
	AssertBookkeeping();
	meta_exec("SELECT batch_id, seq, sink::oid, nmsgs, messages FROM stream.outbox "
			  "WHERE view = $1 ORDER BY batch_id, seq",
			  1, argtypes, args, NULL, true, 0, SPI_OK_SELECT, "read stream.outbox");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		OutboxChunk *c;
		int64		batch_id = col_int64(tup, desc, 1);
		bool		isnull;
		MemoryContext old;

		if (batch_id != last_batch && bytes >= max_bytes)
			break;
		last_batch = batch_id;
		old = MemoryContextSwitchTo(cxt);
		c = palloc(sizeof(OutboxChunk));
		c->batch_id = batch_id;
		c->sink = col_oid(tup, desc, 3);
		c->nmsgs = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		c->messages = DatumGetByteaPCopy(SPI_getbinval(tup, desc, 5, &isnull));
		bytes += VARSIZE_ANY(c->messages);
		result = lappend(result, c);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return result;
}

/*
 * Kafka holds view's batches up to up_to, its record at offset in the
 * progress topic: their chunks go.
 */
void
meta_outbox_delivered(Oid view, int64 up_to, int64 offset)
{
	Oid			argtypes[3] = {OIDOID, INT8OID, INT8OID};
	Datum		args[3] = {ObjectIdGetDatum(view), Int64GetDatum(up_to), Int64GetDatum(offset)};

	Assert(OidIsValid(view) && up_to > 0 && offset >= 0);
	AssertBookkeeping();
	meta_exec("DELETE FROM stream.outbox WHERE view = $1 AND batch_id <= $2",
			  2, argtypes, args, NULL, false, 0, SPI_OK_DELETE, "delete from stream.outbox");
	SPI_finish();
	meta_exec("INSERT INTO stream.sink_progress AS p (view, delivered_batch, progress_offset) "
			  "VALUES ($1, $2, $3) ON CONFLICT (view) DO UPDATE "
			  "SET delivered_batch = EXCLUDED.delivered_batch, "
			  "progress_offset = EXCLUDED.progress_offset "
			  "WHERE p.delivered_batch <= EXCLUDED.delivered_batch",
			  3, argtypes, args, NULL, false, 0, SPI_OK_INSERT, "update stream.sink_progress");
	SPI_finish();
}

/* the last batch of view Kafka is known to hold (false: none yet) */
bool
meta_sink_progress(Oid view, int64 *delivered, int64 *offset)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(view)};
	bool		found;

	Assert(OidIsValid(view));
	AssertBookkeeping();
	meta_exec("SELECT delivered_batch, progress_offset FROM stream.sink_progress WHERE view = $1",
			  1, argtypes, args, NULL, true, 1, SPI_OK_SELECT, "read stream.sink_progress");
	found = SPI_processed > 0;
	if (found)
	{
		*delivered = col_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		*offset = col_int64(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}
	SPI_finish();
	return found;
}

/*------------------------------------------------------------------------
 * Dropped relations
 *------------------------------------------------------------------------
 */

/*
 * In the sql_drop event trigger: forget the dropped views (their rows,
 * positions and progress) and the positions in dropped streams.
 * stream.errors keeps its rows.
 */
void
meta_forget_dropped(void)
{
	static const char *const sql[] = {
		"DELETE FROM stream.cq WHERE view::oid IN " META_DROPPED_RELS,
		"DELETE FROM stream.positions WHERE view::oid IN " META_DROPPED_RELS
		" OR stream::oid IN " META_DROPPED_RELS,
		"DELETE FROM stream.batch_log WHERE view::oid IN " META_DROPPED_RELS,
		"DELETE FROM stream.outbox WHERE view::oid IN " META_DROPPED_RELS
		" OR sink::oid IN " META_DROPPED_RELS,
		"DELETE FROM stream.sink_progress WHERE view::oid IN " META_DROPPED_RELS,
	};

	AssertBookkeeping();
	SPI_connect();
	for (int i = 0; i < lengthof(sql); i++)
		if (SPI_execute(sql[i], false, 0) < 0)
			elog(ERROR, "could not run: %s", sql[i]);
	SPI_finish();
}
