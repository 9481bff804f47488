/*-------------------------------------------------------------------------
 *
 * sinks.h
 *	  Where a batch's output goes besides the view's own table: the sinks.
 *
 * sinks/ is above sources/ (a file sink writes like the file source reads)
 * and below the engine, which calls it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_SINKS_H
#define PGS_SINKS_H

#include "engine/cq.h"
#include "executor/tuptable.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

/* in sinks/sink.c: where a batch's output goes besides the view */
extern bool pgs_has_sink(CqDef *cq);
extern bool pgs_sink_has_outbox(const char *sink);
extern List *pgs_sink_check(Oid viewid, CqDef *cq, List *options);
extern int64 pgs_sink_deliver(CqDef *cq, int64 batch_id, Tuplestorestate *rows,
							 Tuplestorestate *deleted);

#endif							/* PGS_SINKS_H */
