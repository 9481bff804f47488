/*-------------------------------------------------------------------------
 *
 * source.c
 *	  What every source shares (the source kit): the table of sources and
 *	  the mapping from a foreign table to its Source, the FDW handler of
 *	  every source (the foreign scan that reads a batch, INSERT and COPY,
 *	  IMPORT FOREIGN SCHEMA), the validator of every source's options, and
 *	  the hooks the layers above call on every source.
 *
 * A continuous query is planned and executed by PostgreSQL's own planner
 * and executor. The only thing that makes it "streaming" is what a scan of
 * a stream returns: while the engine runs a batch, it publishes the rows it
 * read from each source (pgs_set_current_batches: rows in a tuplestore,
 * or packed chunks that the scan unpacks), and the batch plan's foreign
 * scan of that stream returns exactly those rows. Everything else -- filters,
 * expressions, set-returning functions, joins to tables, partial
 * aggregation -- is ordinary PostgreSQL.
 *
 * Outside a batch, a plain SELECT on a stream is a bounded read of what is
 * there now (the Source's read with a NULL position): never an endless
 * scan.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "formats/formats.h"
#include "sources/sources.h"

#include "access/reloptions.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
#include "parser/parsetree.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"

/*
 * What the batch being run read from stream relid, if a batch is being
 * run and reads it: the rows its plan's scan of relid returns.
 */
SourceBatch *
pgs_current_batch(Oid relid)
{
	BatchRun   *run = pgs_batchrun_current();
	ListCell   *lc;

	if (run == NULL)
		return NULL;
	foreach(lc, run->batches)
	{
		SourceBatch *b = (SourceBatch *) lfirst(lc);

		if (b->relid == relid)
			return b;
	}
	return NULL;
}

/*------------------------------------------------------------------------
 * The sources
 *------------------------------------------------------------------------
 */
static const SourceRoutine *const sources[] = {
	&stream_source,
	&rate_source,
	&kafka_source,
	&file_source,
	&socket_source,
};

/* The Source of a server's FDW, or NULL if it is not one of ours */
static const SourceRoutine *
source_for_server(Oid serverid)
{
	ForeignServer *server = GetForeignServer(serverid);
	ForeignDataWrapper *fdw = GetForeignDataWrapper(server->fdwid);

	/* match by handler name, so a renamed FDW is still recognised */
	if (OidIsValid(fdw->fdwhandler))
	{
		char	   *handler = get_func_name(fdw->fdwhandler);
		Oid			nsp = get_func_namespace(fdw->fdwhandler);
		char	   *nspname = get_namespace_name(nsp);

		if (nspname && strcmp(nspname, PG_STREAM_SCHEMA) == 0)
		{
			for (int i = 0; i < lengthof(sources); i++)
			{
				size_t		len = strlen(sources[i]->name);

				if (strncmp(handler, sources[i]->name, len) == 0 &&
					strcmp(handler + len, "_fdw_handler") == 0)
					return sources[i];
			}
		}
	}
	return NULL;
}

/* The Source of a foreign table, or NULL if it is not a stream of ours */
const SourceRoutine *
pgs_source_for_relation(Oid relid)
{
	if (get_rel_relkind(relid) != RELKIND_FOREIGN_TABLE)
		return NULL;
	return source_for_server(GetForeignTable(relid)->serverid);
}

bool
pgs_is_stream_relation(Oid relid)
{
	return pgs_source_for_relation(relid) != NULL;
}

/*------------------------------------------------------------------------
 * The foreign scan of a stream
 *------------------------------------------------------------------------
 */
typedef struct StreamScanState
{
	SourceBatch *batch;			/* what the scan returns */
	bool		own;			/* read by this scan (bounded read) */
	TupleTableSlot *mslot;		/* minimal-tuple slot for rows and chunks */
	TupleUnpacker unpacker;		/* the current chunk */
	int			readptr;		/* its read pointer of the batch's store */
} StreamScanState;

static void
scanGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	SourceBatch *b = pgs_current_batch(foreigntableid);
	BatchRun   *run = pgs_batchrun_current();
	double		state = 0;

	/* in a join, a scan may read the side's state too */
	if (b && run->join_scan)
		state = run->join_scan->state_rows(run->join, foreigntableid);
	baserel->rows = b ? Max(b->nrows + state, 1) : 1000;
}

static void
scanGetForeignPaths(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	Cost		total = baserel->rows * cpu_tuple_cost;

	add_path(baserel, (Path *) create_foreignscan_path(root, baserel, NULL,
													   baserel->rows, 0, total,
													   NIL, NULL, NULL, NIL));
}

static ForeignScan *
scanGetForeignPlan(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid,
				   ForeignPath *best_path, List *tlist, List *scan_clauses,
				   Plan *outer_plan)
{
	/* no push-down: every qual is checked locally by the executor */
	scan_clauses = extract_actual_clauses(scan_clauses, false);
	return make_foreignscan(tlist, scan_clauses, baserel->relid,
							NIL, NIL, NIL, NIL, outer_plan);
}

/* a scan in the plan of a join batch: its role in fdw_private (engine/join.c) */
static bool
is_join_scan(ForeignScanState *node)
{
	return ((ForeignScan *) node->ss.ps.plan)->fdw_private != NIL;
}

/* how the join batch being run serves such a scan */
static const BatchRunJoinScan *
join_scan(void)
{
	BatchRun   *run = pgs_batchrun_current();

	if (run == NULL || run->join_scan == NULL)
		elog(ERROR, "a scan of a join batch outside of its batch");
	return run->join_scan;
}

/* rewind the scan's read pointer of the batch's store */
static void
scan_rescan_store(StreamScanState *st, Tuplestorestate *ts)
{
	tuplestore_select_read_pointer(ts, st->readptr);
	tuplestore_rescan(ts);
	tuplestore_select_read_pointer(ts, 0);
}

static void
scanBeginForeignScan(ForeignScanState *node, int eflags)
{
	Relation	rel = node->ss.ss_currentRelation;
	StreamScanState *st;
	SourceBatch *b;
	List	   *roles = ((ForeignScan *) node->ss.ps.plan)->fdw_private;

	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	/* a scan in the plan of a join batch: what engine/join.c says */
	if (roles != NIL)
	{
		join_scan()->begin(node, intVal(linitial(roles)), pgs_batchrun_current()->join);
		return;
	}
	st = palloc0(sizeof(StreamScanState));
	node->fdw_state = st;

	/*
	 * The batch goes to the first scan of the stream, the batch plan's own
	 * (initialised before any of its code runs). Another scan started while
	 * the batch runs -- a function the query calls that reads the stream --
	 * gets a bounded read: it must not consume or rewind the batch's rows.
	 */
	b = pgs_current_batch(RelationGetRelid(rel));
	if (b != NULL && b->claimed && b->claimed_by == node->ss.ps.state)
	{
		/*
		 * Another scan of the stream in the batch plan itself (a UNION ALL
		 * whose branches read the same stream): the same rows, through a
		 * read pointer of its own.
		 */
		st->readptr = tuplestore_alloc_read_pointer(b->chunks ? b->chunks : b->rows,
													EXEC_FLAG_REWIND);
	}
	else if (b != NULL && b->claimed)
		b = NULL;
	else if (b != NULL)
	{
		b->claimed = true;
		b->claimed_by = node->ss.ps.state;
	}
	if (b == NULL)
	{
		const SourceRoutine *src = pgs_source_for_relation(RelationGetRelid(rel));
		BatchRun   *run = pgs_batchrun_current();
		bool		reading = run && run->reading;

		/*
		 * A plain SELECT: bounded read of what is there now. Never the
		 * view's own read, even while a batch reads its sources (user
		 * code a decoder runs, such as a domain's CHECK, may read a
		 * stream): as the user, and a bad record is a warning.
		 */
		b = palloc0(sizeof(SourceBatch));
		b->relid = RelationGetRelid(rel);
		if (run)
			run->reading = false;
		PG_TRY();
		{
			src->read(rel, NULL, -1, b);
		}
		PG_FINALLY();
		{
			if (run)
				run->reading = reading;
		}
		PG_END_TRY();
		st->own = true;
	}
	st->batch = b;
	if (b->chunks)
	{
		st->mslot = MakeSingleTupleTableSlot(tuple_chunk_desc(), &TTSOpsMinimalTuple);
		tuple_unpack_init(&st->unpacker, node->ss.ps.state->es_query_cxt);
	}
	else
		st->mslot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
	scan_rescan_store(st, b->chunks ? b->chunks : b->rows);
}

/*
 * This runs in the per-tuple context, reset before the next call; but a
 * row or chunk read back from a tuplestore that spilled to disk is
 * palloc'd and owned (freed) by mslot, so it is read in the query's
 * context.
 */
static bool
scan_fetch(ForeignScanState *node, Tuplestorestate *ts, TupleTableSlot *slot)
{
	StreamScanState *st = node->fdw_state;
	MemoryContext old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
	bool		found;

	/* pointer 0 stays the active one, which the batch's own passes use */
	tuplestore_select_read_pointer(ts, st->readptr);
	found = tuplestore_gettupleslot(ts, true, false, slot);
	tuplestore_select_read_pointer(ts, 0);
	MemoryContextSwitchTo(old);
	return found;
}

static TupleTableSlot *
scanIterateForeignScan(ForeignScanState *node)
{
	StreamScanState *st = node->fdw_state;
	TupleTableSlot *slot = node->ss.ss_ScanTupleSlot;
	MinimalTuple mt;
	bool		shouldFree;

	if (is_join_scan(node))
		return join_scan()->next(node);

	if (st->batch->chunks)
	{
		/* the next row of the current chunk, or of the next chunk */
		while ((mt = tuple_unpack_next(&st->unpacker)) == NULL)
		{
			bool		isnull;

			if (!scan_fetch(node, st->batch->chunks, st->mslot))
				return ExecClearTuple(slot);
			tuple_unpack_begin(&st->unpacker,
							   DatumGetByteaPP(slot_getattr(st->mslot, 1, &isnull)));
		}
	}
	else
	{
		if (!scan_fetch(node, st->batch->rows, st->mslot))
			return ExecClearTuple(slot);
		mt = ExecFetchSlotMinimalTuple(st->mslot, &shouldFree);
	}
	/* the scan slot holds heap tuples: deform the row into it */
	ExecForceStoreMinimalTuple(mt, slot, false);
	return slot;
}

static void
scanReScanForeignScan(ForeignScanState *node)
{
	StreamScanState *st = node->fdw_state;

	if (is_join_scan(node))
	{
		join_scan()->rescan(node);
		return;
	}
	if (st->batch->chunks)
	{
		scan_rescan_store(st, st->batch->chunks);
		st->unpacker.p = st->unpacker.end = NULL;
	}
	else
		scan_rescan_store(st, st->batch->rows);
}

static void
scanEndForeignScan(ForeignScanState *node)
{
	StreamScanState *st = node->fdw_state;

	if (is_join_scan(node))
	{
		join_scan()->end(node);
		return;
	}
	if (st == NULL || st->batch == NULL)
		return;
	if (st->own && st->batch->rows)
		tuplestore_end(st->batch->rows);
	if (st->own && st->batch->chunks)
		tuplestore_end(st->batch->chunks);
	ExecDropSingleTupleTableSlot(st->mslot);
}

/* the scan of every stream (the kit's handler) */
static void
fdw_scan_routines(FdwRoutine *routine)
{
	routine->GetForeignRelSize = scanGetForeignRelSize;
	routine->GetForeignPaths = scanGetForeignPaths;
	routine->GetForeignPlan = scanGetForeignPlan;
	routine->BeginForeignScan = scanBeginForeignScan;
	routine->IterateForeignScan = scanIterateForeignScan;
	routine->ReScanForeignScan = scanReScanForeignScan;
	routine->EndForeignScan = scanEndForeignScan;
}


/*------------------------------------------------------------------------
 * INSERT and COPY into a stream
 *------------------------------------------------------------------------
 *
 * The same for INSERT (BeginForeignModify) and COPY or a partition's
 * tuple routing (BeginForeignInsert): the source's insert_begin, a row at
 * a time, insert_end. Only for a source with insert_begin: another one's
 * FdwRoutine has no modify callbacks at all, so that PostgreSQL refuses
 * an INSERT into it as for any foreign table that takes none.
 */
static const char *option_context(const SourceRoutine *src, int place);

typedef struct KitInsertState
{
	const SourceRoutine *src;
	void	   *state;			/* the source's */
} KitInsertState;

static KitInsertState *
kit_insert_begin(ResultRelInfo *rinfo, EState *estate)
{
	KitInsertState *st = palloc(sizeof(KitInsertState));

	st->src = pgs_source_for_relation(RelationGetRelid(rinfo->ri_RelationDesc));
	Assert(st->src && st->src->insert_begin);
	st->state = st->src->insert_begin(rinfo, estate);
	return st;
}

static void
kit_insert_end(KitInsertState *st)
{
	if (st)
		st->src->insert_end(st->state);
}

static List *
kitPlanForeignModify(PlannerInfo *root, ModifyTable *plan,
					 Index resultRelation, int subplan_index)
{
	RangeTblEntry *rte = planner_rt_fetch(resultRelation, root);
	const SourceRoutine *src;

	if (plan->operation == CMD_INSERT)
		return NIL;
	src = pgs_source_for_relation(rte->relid);
	if (src && src->insert_only)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s takes only INSERT", option_context(src, PGS_OPT_TABLE))));
	return NIL;
}

static void
kitBeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
					  List *fdw_private, int subplan_index, int eflags)
{
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	rinfo->ri_FdwState = kit_insert_begin(rinfo, mtstate->ps.state);
}

static TupleTableSlot *
kitExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
					 TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	KitInsertState *st = rinfo->ri_FdwState;

	st->src->insert_row(st->state, slot);
	return slot;
}

static void
kitEndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	kit_insert_end(rinfo->ri_FdwState);
}

static void
kitBeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	rinfo->ri_FdwState = kit_insert_begin(rinfo, mtstate->ps.state);
}

static void
kitEndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	kit_insert_end(rinfo->ri_FdwState);
}

static int
kitIsForeignRelUpdatable(Relation rel)
{
	return (1 << CMD_INSERT);
}

static List *
kitImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	const SourceRoutine *src = source_for_server(serverOid);

	Assert(src && src->import_schema);
	return src->import_schema(stmt, serverOid);
}

/*------------------------------------------------------------------------
 * The FDW handler and validator of every source
 *------------------------------------------------------------------------
 */
Datum
pgs_source_handler(const SourceRoutine *src)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	fdw_scan_routines(routine);
	if (src->insert_begin)
	{
		routine->PlanForeignModify = kitPlanForeignModify;
		routine->BeginForeignModify = kitBeginForeignModify;
		routine->ExecForeignInsert = kitExecForeignInsert;
		routine->EndForeignModify = kitEndForeignModify;
		routine->BeginForeignInsert = kitBeginForeignInsert;
		routine->EndForeignInsert = kitEndForeignInsert;
		routine->IsForeignRelUpdatable = kitIsForeignRelUpdatable;
	}
	if (src->import_schema)
		routine->ImportForeignSchema = kitImportForeignSchema;
	PG_RETURN_POINTER(routine);
}

/* where options of catalog are given (PGS_OPT_*) */
static int
option_place(Oid catalog)
{
	switch (catalog)
	{
		case ForeignDataWrapperRelationId:
			return PGS_OPT_WRAPPER;
		case ForeignServerRelationId:
			return PGS_OPT_SERVER;
		case UserMappingRelationId:
			return PGS_OPT_MAPPING;
		case ForeignTableRelationId:
			return PGS_OPT_TABLE;
		default:
			return PGS_OPT_COLUMN;
	}
}

/* how the source names place in messages */
static const char *
option_context(const SourceRoutine *src, int place)
{
	const char *what = NULL;

	switch (place)
	{
		case PGS_OPT_WRAPPER:
			what = src->contexts.wrapper;
			break;
		case PGS_OPT_SERVER:
			what = src->contexts.server;
			break;
		case PGS_OPT_MAPPING:
			what = src->contexts.mapping;
			break;
		case PGS_OPT_TABLE:
			what = src->contexts.table;
			break;
		case PGS_OPT_COLUMN:
			what = src->contexts.column;
			break;
	}
	return what ? what : psprintf("foreign-data wrapper \"%s\" in this context", src->name);
}

static void
check_option(const SourceOption *opt, DefElem *def)
{
	switch (opt->check)
	{
		case PGS_CHECK_ANY:
			break;
		case PGS_CHECK_INT:
			(void) pgs_defel_int64(def, opt->min, opt->max, ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE);
			break;
		case PGS_CHECK_NONEMPTY:
			if (*defGetString(def) == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
						 errmsg("option \"%s\" must not be empty", def->defname)));
			break;
		case PGS_CHECK_FORMAT:
			if (!pgs_format_option(def, true))
				elog(ERROR, "option \"%s\" is not a format option", def->defname);
			break;
		case PGS_CHECK_ON_ERROR:
			(void) pgs_on_error_stop(def);
			break;
		case PGS_CHECK_EVENT_TIME:
			if (!pgs_event_time_option(def))
				elog(ERROR, "option \"%s\" is not an event-time option", def->defname);
			break;
		case PGS_CHECK_CUSTOM:
			opt->custom(def);
			break;
	}
}

/*
 * The validator of every source: each option in its table for the
 * context (or taken by other_option), checked as the table says; then
 * the source's validate on the whole list.
 */
Datum
pgs_source_validator(const SourceRoutine *src, FunctionCallInfo fcinfo)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	int			place = option_place(catalog);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		const SourceOption *opt;

		if (place == PGS_OPT_SERVER && src->superuser_servers && !superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only a superuser may set the options of %s",
							option_context(src, place)),
					 errhint("A superuser can create the server and grant USAGE on it.")));
		for (opt = src->options; opt && opt->name; opt++)
			if ((opt->where & place) && strcmp(opt->name, def->defname) == 0)
				break;
		if (opt && opt->name)
			check_option(opt, def);
		else if (src->other_option == NULL || !src->other_option(def, catalog))
		{
			/* the hint: the context's options, in the table's order */
			const char **valid = palloc(sizeof(char *));
			int			n = 0;

			for (opt = src->options; opt && opt->name; opt++)
				if (opt->where & place)
				{
					valid = repalloc(valid, sizeof(char *) * (n + 2));
					valid[n++] = opt->name;
				}
			valid[n] = NULL;
			pgs_reject_unknown_option(def->defname, valid, option_context(src, place));
		}
	}
	if (src->validate)
		src->validate(options, catalog);
	PG_RETURN_VOID();
}

/*
 * The SQL entry points of a source (pg_stream--0.1.sql names them):
 * <name>_fdw_handler and <name>_fdw_validator, the kit's with its routine.
 */
#define PGS_SOURCE_ENTRY_POINTS(name, routine) \
	PG_FUNCTION_INFO_V1(name##_fdw_handler); \
	PG_FUNCTION_INFO_V1(name##_fdw_validator); \
	Datum name##_fdw_handler(PG_FUNCTION_ARGS) { return pgs_source_handler(&routine); } \
	Datum name##_fdw_validator(PG_FUNCTION_ARGS) { return pgs_source_validator(&routine, fcinfo); }

PGS_SOURCE_ENTRY_POINTS(stream, stream_source)
PGS_SOURCE_ENTRY_POINTS(rate, rate_source)
PGS_SOURCE_ENTRY_POINTS(kafka, kafka_source)
PGS_SOURCE_ENTRY_POINTS(file, file_source)
PGS_SOURCE_ENTRY_POINTS(socket, socket_source)

/*------------------------------------------------------------------------
 * What the layers above ask of every source
 *------------------------------------------------------------------------
 */

/* how to wake a database's workers (bgw/, passed in by _PG_init) */
static void (*wake_database) (Oid dboid) = NULL;

/*
 * At load: each source's init. wake wakes a database's workers (bgw/:
 * sources/ calls nothing above it); a source calls it through
 * pgs_source_wake_database.
 */
#ifdef USE_ASSERT_CHECKING
/* does src's table hold option name for where? */
static bool
has_option(const SourceRoutine *src, const char *name, int where)
{
	for (const SourceOption *opt = src->options; opt && opt->name; opt++)
		if ((opt->where & where) && strcmp(opt->name, name) == 0)
			return true;
	return false;
}
#endif

void
pgs_sources_init(void (*wake) (Oid dboid))
{
	wake_database = wake;
	for (int i = 0; i < lengthof(sources); i++)
	{
		const SourceRoutine *src = sources[i];

		/* what the kit counts on: every stream takes the event-time options */
		Assert(has_option(src, "event_time", PGS_OPT_TABLE) &&
			   has_option(src, "watermark", PGS_OPT_TABLE));
		Assert((src->insert_begin != NULL) == (src->insert_row != NULL) &&
			   (src->insert_begin != NULL) == (src->insert_end != NULL));
		if (src->init)
			src->init();
	}
}

void
pgs_source_wake_database(Oid dboid)
{
	wake_database(dboid);
}

/* the managers' clean-up: each source's gc */
void
pgs_sources_gc(void)
{
	for (int i = 0; i < lengthof(sources); i++)
		if (sources[i]->gc)
			sources[i]->gc();
}

/* the sql_drop event trigger, as superuser: each source's dropped */
void
pgs_sources_dropped(void)
{
	for (int i = 0; i < lengthof(sources); i++)
		if (sources[i]->dropped)
			sources[i]->dropped();
}

/*
 * May role have stream relid read for it (CREATE MATERIALIZED VIEW and
 * ALTER ... OWNER TO in ddl.c, for the view's owner)? The source's
 * check_reader; a source without one lets every role read.
 */
void
pgs_source_check_reader(Oid relid, Oid role)
{
	const SourceRoutine *src = pgs_source_for_relation(relid);
	Relation	rel;

	if (src == NULL || src->check_reader == NULL)
		return;
	rel = table_open(relid, AccessShareLock);
	src->check_reader(rel, role);
	table_close(rel, NoLock);
}

/*
 * May a view owned by owner write into rel, its sink named name
 * (sinks/sink.c)? The source's check_sink, if rel is a stream of ours.
 */
void
pgs_source_check_sink(Relation rel, const char *name, Oid owner)
{
	const SourceRoutine *src = pgs_source_for_relation(RelationGetRelid(rel));

	if (src && src->check_sink)
		src->check_sink(rel, name, owner);
}
