/*-------------------------------------------------------------------------
 *
 * pg_stream.h
 *	  The map of pg_stream's units. Each unit has its own header; a file
 *	  includes the headers of what it uses, so the includes draw the
 *	  dependency graph.
 *
 * The units, bottom first. Each calls only the units below it; what a
 * lower unit needs from a higher one is passed in (test/tools/layers.py
 * checks this on the built objects and on the includes):
 *
 *	  base/		 role switching, settings, subtransactions, option helpers
 *				 (base/base.h), and the one batch context the engine hands
 *				 to the code the executor calls (base/batchrun.h);
 *	  meta/		 the bookkeeping tables stream.cq, positions, batch_log and
 *				 errors: typed rows, and the only SQL on them (meta/meta.h);
 *	  formats/	 records (json, csv, text) to rows and back, and the packed
 *				 row format of the stream buffer (formats/formats.h);
 *	  sources/	 where rows come from: the Source interface, the foreign
 *				 scan of a stream, and the stream, rate, kafka, file and
 *				 socket sources (sources/sources.h);
 *	  sinks/	 where output rows go: the view's own table, and the sinks
 *				 (sinks/sinks.h);
 *	  engine/	 the continuous query: analysis at CREATE, aggregation
 *				 state, event time, joins of streams, the micro-batch
 *				 (engine/cq.h, engine/engine.h);
 *	  bgw/		 the launcher, per-database managers and per-query workers
 *				 (bgw/bgw.h);
 *	  ddl.c		 the ProcessUtility hook that turns CREATE / ALTER /
 *				 REFRESH MATERIALIZED VIEW over a stream into a continuous
 *				 query (ddl.h);
 *	  pg_stream.c _PG_init: the wiring.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_STREAM_H
#define PG_STREAM_H

#include "base/base.h"

#endif							/* PG_STREAM_H */
