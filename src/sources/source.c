/*-------------------------------------------------------------------------
 *
 * source.c
 *	  What every source shares: the FDW scan that reads a batch, option
 *	  validation helpers, and the mapping from a foreign table to its
 *	  Source.
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

#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "lib/stringinfo.h"
#include "optimizer/optimizer.h"
#include "optimizer/pathnode.h"
#include "optimizer/planmain.h"
#include "optimizer/restrictinfo.h"
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
} StreamScanState;

static void
scanGetForeignRelSize(PlannerInfo *root, RelOptInfo *baserel, Oid foreigntableid)
{
	SourceBatch *b = pgs_current_batch(foreigntableid);

	/* in a join, a scan may read the side's state too */
	baserel->rows = b ? Max(b->nrows + b->join_state_rows, 1) : 1000;
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
	if (b != NULL && b->claimed)
		b = NULL;
	if (b != NULL)
		b->claimed = true;
	else
	{
		const SourceRoutine *src = pgs_source_for_relation(RelationGetRelid(rel));

		/* a plain SELECT: bounded read of what is there now */
		b = palloc0(sizeof(SourceBatch));
		b->relid = RelationGetRelid(rel);
		src->read(rel, NULL, -1, b);
		st->own = true;
	}
	st->batch = b;
	if (b->chunks)
	{
		st->mslot = MakeSingleTupleTableSlot(tuple_chunk_desc(), &TTSOpsMinimalTuple);
		tuple_unpack_init(&st->unpacker, node->ss.ps.state->es_query_cxt);
		tuplestore_rescan(b->chunks);
	}
	else
	{
		st->mslot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsMinimalTuple);
		tuplestore_rescan(b->rows);
	}
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
	MemoryContext old = MemoryContextSwitchTo(node->ss.ps.state->es_query_cxt);
	bool		found = tuplestore_gettupleslot(ts, true, false, slot);

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
		tuplestore_rescan(st->batch->chunks);
		st->unpacker.p = st->unpacker.end = NULL;
	}
	else
		tuplestore_rescan(st->batch->rows);
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

void
pgs_fdw_scan_routines(FdwRoutine *routine)
{
	routine->GetForeignRelSize = scanGetForeignRelSize;
	routine->GetForeignPaths = scanGetForeignPaths;
	routine->GetForeignPlan = scanGetForeignPlan;
	routine->BeginForeignScan = scanBeginForeignScan;
	routine->IterateForeignScan = scanIterateForeignScan;
	routine->ReScanForeignScan = scanReScanForeignScan;
	routine->EndForeignScan = scanEndForeignScan;
}
