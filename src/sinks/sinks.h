/*-------------------------------------------------------------------------
 *
 * sinks.h
 *	  Where a batch's output goes: the view's own table and the sinks.
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

/* in sinks/view.c: writing the view's table */
typedef struct ViewWriter ViewWriter;
extern ViewWriter *viewwriter_open(Relation rel, int nkeys,
								   AttrNumber *keycols, EState *estate);
extern bool viewwriter_lookup(ViewWriter *w, Datum *keys, bool *keynulls,
							  TupleTableSlot *found);
extern void viewwriter_insert(ViewWriter *w, TupleTableSlot *slot);
extern void viewwriter_update(ViewWriter *w, TupleTableSlot *slot);
extern void viewwriter_update_tid(ViewWriter *w, ItemPointer tid, TupleTableSlot *slot);
extern void viewwriter_delete_current(ViewWriter *w);
extern void viewwriter_close(ViewWriter *w);

/* in sinks/sink.c: where a batch's output goes besides the view */
extern bool pgs_has_sink(CqDef *cq);
extern List *pgs_sink_check(Oid viewid, CqDef *cq, List *options);
extern void pgs_sink_deliver(CqDef *cq, int64 batch_id, Tuplestorestate *rows,
							 Tuplestorestate *deleted);

#endif							/* PGS_SINKS_H */
