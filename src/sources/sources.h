/*-------------------------------------------------------------------------
 *
 * sources.h
 *	  The Source interface, the foreign scan of a stream, and the sources.
 *
 * sources/ is above formats/ and base/: a source turns a stream foreign
 * table and a position into a batch of rows.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_SOURCES_H
#define PGS_SOURCES_H

#include "base/base.h"
#include "formats/formats.h"
#include "foreign/fdwapi.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"

/*
 * Source interface (sources/). A source turns a stream foreign table and a
 * stored position into a batch of rows (a tuplestore in the foreign table's
 * row type) and the position after them. Positions are jsonb, stored in
 * stream.positions in the batch's transaction.
 */
typedef struct SourceBatch
{
	Oid			relid;			/* the stream foreign table */
	/* the batch's rows, made by the source: one of */
	Tuplestorestate *rows;		/* rows in the foreign table's row type */
	Tuplestorestate *chunks;	/* packed rows (formats/tuple.c), one bytea each */
	int64		nrows;
	Jsonb	   *start_position;
	Jsonb	   *end_position;
	bool		more;			/* the source knows more input is waiting */
	bool		claimed;		/* a scan reads it (only one may) */
	int64		wait_ms;		/* when nothing is there: next due, or -1 */
	bool		has_wait_fd;	/* and a descriptor readable when input comes */
	int			wait_fd;
	int64		rows_bad;		/* records sent to stream.errors */
} SourceBatch;

typedef struct SourceRoutine
{
	const char *name;
	/* position of a new query: read what arrives after now */
	Jsonb	   *(*initial_position) (Relation rel);
	/* read up to max_rows after position into batch */
	void		(*read) (Relation rel, Jsonb *position, int64 max_rows,
						 SourceBatch *batch);
	/* input not yet read after position, or -1 if unknown (optional) */
	int64		(*lag) (Relation rel, Jsonb *position);
	/* drop what every reader has consumed (optional) */
	void		(*cleanup) (Oid relid);
	/* a reader is being created, in this transaction (optional) */
	void		(*add_reader) (Oid relid);
	/* a mark of the input available now, and whether a position has
	 * read everything up to it (REFRESH stops there) */
	Jsonb	   *(*mark) (Relation rel);
	bool		(*reached) (Relation rel, Jsonb *position, Jsonb *mark);
	/*
	 * View viewid was restored from a dump (pg_dump), with its position:
	 * make the positions of the restored views over rel valid in this
	 * database (optional: for positions that depend on the cluster).
	 */
	void		(*restore) (Relation rel, Oid viewid);
} SourceRoutine;

/* in sources/source.c */
extern const SourceRoutine *pgs_source_for_relation(Oid relid);
extern bool pgs_is_stream_relation(Oid relid);
extern SourceBatch *pgs_current_batch(Oid relid);
extern void pgs_fdw_scan_routines(FdwRoutine *routine);

/* in sources/stream.c */
extern const SourceRoutine stream_source;
extern void pgs_stream_xact_init(void (*wake) (Oid dboid));
extern void pgs_stream_gc(void);

/* in sources/rate.c */
extern const SourceRoutine rate_source;

/* in sources/kafka/reader.c */
extern const SourceRoutine kafka_source;

/* in sources/file/ */
extern const SourceRoutine file_source;
extern void pgs_file_check_reader(Oid relid, Oid role);
extern void pgs_check_server_files_role(Oid roleid, Oid needed, const char *action,
										const char *detail);

/* in sources/socket.c */
extern const SourceRoutine socket_source;

#endif							/* PGS_SOURCES_H */
