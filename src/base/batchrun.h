/*-------------------------------------------------------------------------
 *
 * batchrun.h
 *	  The one context a batch hands to the code PostgreSQL's executor
 *	  calls on its behalf.
 *
 * A continuous query's batch runs through PostgreSQL's planner and
 * executor, which call the foreign scan of each stream (sources/), the
 * decoders' dead letters (formats/) and the file sink's INSERT (sources/)
 * with no argument of pg_stream's. What they need of the batch -- which
 * view it is for, whose credentials to read with, the rows each stream
 * read, how a join's scans reach their side's state, the batch's number
 * -- travels in one BatchRun. The engine pushes it when it starts the
 * work of a view and pops it under one PG_FINALLY; everything below asks
 * pgs_batchrun_current(). It is a stack because user code a batch runs
 * (a sink function, say) may ask for a view's lag, which reads its
 * sources as that view's owner; no batch runs inside another (the engine
 * refuses it).
 *
 * This replaces the process globals that used to carry the same facts
 * from module to module (current_view, current_batches, current_join,
 * sink_file_prefix in the file sink, pgs_in_worker).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_BATCHRUN_H
#define PGS_BATCHRUN_H

#include "postgres.h"

#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "nodes/pg_list.h"

/*
 * How the scans of a join batch read their side (engine/join.c): a scan
 * whose plan carries a role (fdw_private) is served by these, given the
 * run's join.
 */
typedef struct BatchRunJoinScan
{
	void		(*begin) (ForeignScanState *node, int role, void *join);
	TupleTableSlot *(*next) (ForeignScanState *node);
	void		(*rescan) (ForeignScanState *node);
	void		(*end) (ForeignScanState *node);
	/* rows a scan of stream relid may read beside the batch's (estimate) */
	double		(*state_rows) (void *join, Oid relid);
} BatchRunJoinScan;

typedef struct BatchRun
{
	Oid			viewid;			/* the view whose work this is */
	bool		is_batch;		/* a batch (not a lag or a mark) */
	bool		reading;		/* its sources are being read for the view:
								 * only then do they read as its owner, and
								 * dead letters go to its stream.errors */
	int64		batch_id;		/* the batch's number, once known, or 0 */
	List	   *batches;		/* SourceBatch *: what each stream read, once
								 * read; the scans return these */
	const BatchRunJoinScan *join_scan;	/* a join batch's scans, or NULL */
	void	   *join;			/* their argument (engine/join.c's JoinRun) */
	void	   *dedup;			/* the batch's first-seen filters
								 * (engine/dedup.c's DedupRun), or NULL */
	bool		in_sink;		/* the batch's output is being delivered to
								 * its sink relation (sinks/sink.c) */
	int			sink_files;		/* files the file sink wrote for it */
	/*
	 * A worker of a view with parallelism > 1 reads one share of the
	 * input: share of nshares (engine/batch.c; a kafka stream reads the
	 * partitions p with p % nshares = share). nshares 0: all of it.
	 */
	int			share;
	int			nshares;
	struct BatchRun *outer;		/* the run this one is pushed over */
} BatchRun;

extern void pgs_batchrun_push(BatchRun *run, Oid viewid, bool is_batch);
extern void pgs_batchrun_pop(BatchRun *run);
extern BatchRun *pgs_batchrun_current(void);
extern Oid	pgs_batchrun_view(void);	/* whose sources are being read */
extern Oid	pgs_batchrun_user(void);	/* the view's owner, or the user */
extern bool pgs_batchrun_owns(int64 part);	/* in the share being read? */

#endif							/* PGS_BATCHRUN_H */
