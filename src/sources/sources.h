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
	bool		no_share;		/* a share's batch whose share holds none of
								 * the input (fewer partitions than shares) */
} SourceBatch;

/*
 * The source kit (sources/source.c): what the FDW glue of every source
 * shares. A source describes its options in a table, and the kit's one
 * validator checks them; the kit's one handler makes the FdwRoutine of
 * every source from its SourceRoutine.
 *
 * Where an option may be given (a bitmask): the catalogs an FDW
 * validator is called for.
 */
#define PGS_OPT_WRAPPER		0x01	/* CREATE FOREIGN DATA WRAPPER */
#define PGS_OPT_SERVER		0x02	/* CREATE SERVER */
#define PGS_OPT_MAPPING		0x04	/* CREATE USER MAPPING */
#define PGS_OPT_TABLE		0x08	/* CREATE FOREIGN TABLE */
#define PGS_OPT_COLUMN		0x10	/* a column of a foreign table */

/* how the validator checks an option's value */
typedef enum SourceOptionCheck
{
	PGS_CHECK_ANY = 0,			/* any value */
	PGS_CHECK_INT,				/* an integer in [min, max] */
	PGS_CHECK_NONEMPTY,			/* a string that is not empty */
	PGS_CHECK_FORMAT,			/* a format option (pgs_format_option) */
	PGS_CHECK_ON_ERROR,			/* dead_letter or stop (pgs_on_error_stop) */
	PGS_CHECK_EVENT_TIME,		/* event_time, watermark (pgs_event_time_option) */
	PGS_CHECK_CUSTOM,			/* custom(def) */
} SourceOptionCheck;

/*
 * An option of a source. The valid options of a context, as an unknown
 * option's hint lists them, are the table's entries for it, in order.
 */
typedef struct SourceOption
{
	const char *name;
	int			where;			/* PGS_OPT_* */
	SourceOptionCheck check;
	int64		min;			/* PGS_CHECK_INT */
	int64		max;
	void		(*custom) (DefElem *def);	/* PGS_CHECK_CUSTOM */
} SourceOption;

#define PGS_OPT_INT(name, where, min, max) \
	{name, where, PGS_CHECK_INT, min, max, NULL}
#define PGS_OPT_CUSTOM(name, where, fn) \
	{name, where, PGS_CHECK_CUSTOM, 0, 0, fn}
/* the format options (header is not one of them: only where there are headers) */
#define PGS_OPT_FORMAT_OPTIONS \
	{"format", PGS_OPT_TABLE, PGS_CHECK_FORMAT}, \
	{"delimiter", PGS_OPT_TABLE, PGS_CHECK_FORMAT}, \
	{"quote", PGS_OPT_TABLE, PGS_CHECK_FORMAT}, \
	{"escape", PGS_OPT_TABLE, PGS_CHECK_FORMAT}, \
	{"null", PGS_OPT_TABLE, PGS_CHECK_FORMAT}
/* every stream takes them (engine/eventtime.c): in every source's table */
#define PGS_OPT_EVENT_TIME_OPTIONS \
	{"event_time", PGS_OPT_TABLE, PGS_CHECK_EVENT_TIME}, \
	{"watermark", PGS_OPT_TABLE, PGS_CHECK_EVENT_TIME}

/*
 * How an option's context is named in messages ("invalid option \"x\" for
 * a rate stream"); NULL: "foreign-data wrapper \"<name>\" in this context".
 */
typedef struct SourceContexts
{
	const char *wrapper;
	const char *server;
	const char *mapping;
	const char *table;
	const char *column;
} SourceContexts;

typedef struct SourceRoutine
{
	const char *name;			/* the FDW's handler is <name>_fdw_handler */
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
	/*
	 * Shares (optional: a source without it cannot be read by a view with
	 * parallelism > 1). A share's batch read from start to end while the
	 * position became now (the other shares' batches): now with the
	 * batch's moves, or NULL if the batch read what another one consumed.
	 */
	Jsonb	   *(*merge_share) (Jsonb *now, Jsonb *start, Jsonb *end);

	/*
	 * Options (the kit's validator). Each option is looked up in the table
	 * (ended by an entry with a NULL name) and checked; one that is not
	 * there goes to other_option, which says whether it is valid (and
	 * checks it); else it is refused, with the table's options for the
	 * context as the hint. Then validate, if any, checks the whole list:
	 * options that need one another.
	 */
	const SourceOption *options;
	SourceContexts contexts;
	/* only superusers may set a server's options (they may grant USAGE) */
	bool		superuser_servers;
	bool		(*other_option) (DefElem *def, Oid catalog);
	void		(*validate) (List *options, Oid catalog);

	/*
	 * INSERT and COPY into the foreign table (optional: without them, the
	 * table takes neither): a state for a statement's rows, one row, and
	 * the statement's end.
	 */
	void	   *(*insert_begin) (ResultRelInfo *rinfo, EState *estate);
	void		(*insert_row) (void *state, TupleTableSlot *slot);
	void		(*insert_end) (void *state);
	/*
	 * UPDATE and DELETE are refused when planned, "<contexts.table> takes
	 * only INSERT" (else PostgreSQL refuses them when they start, as for
	 * any foreign table without them)
	 */
	bool		insert_only;
	/* IMPORT FOREIGN SCHEMA (optional) */
	List	   *(*import_schema) (ImportForeignSchemaStmt *stmt, Oid serverid);

	/* at load, in _PG_init (optional) */
	void		(*init) (void);
	/* the managers' clean-up, in a transaction, every second (optional) */
	void		(*gc) (void);

	/*
	 * Relations were dropped: forget what the source kept of them
	 * (optional). Called by the sql_drop event trigger, as superuser:
	 * pg_event_trigger_dropped_objects() lists them.
	 */
	void		(*dropped) (void);

	/*
	 * The source keeps inserted rows with all their columns (a dropped
	 * column's place too): a column of its tables may not be dropped.
	 */
	bool		keeps_rows;

	/*
	 * May role have rel read for it, by a continuous view it owns (CREATE
	 * MATERIALIZED VIEW, ALTER ... OWNER TO)? An error if not (optional).
	 */
	void		(*check_reader) (Relation rel, Oid role);

	/*
	 * May a continuous view owned by owner write its rows into rel, its
	 * sink (given as name)? An error if not (optional).
	 */
	void		(*check_sink) (Relation rel, const char *name, Oid owner);
} SourceRoutine;

/* in sources/source.c */
extern const SourceRoutine *pgs_source_for_relation(Oid relid);
extern bool pgs_is_stream_relation(Oid relid);
extern SourceBatch *pgs_current_batch(Oid relid);
extern Datum pgs_source_handler(const SourceRoutine *src);
extern Datum pgs_source_validator(const SourceRoutine *src, FunctionCallInfo fcinfo);
extern void pgs_sources_init(void (*wake) (Oid dboid));
extern void pgs_source_wake_database(Oid dboid);
extern void pgs_sources_gc(void);
extern void pgs_sources_dropped(void);
extern void pgs_source_check_reader(Oid relid, Oid role);
extern void pgs_source_check_sink(Relation rel, const char *name, Oid owner);

/* in sources/stream.c */
extern const SourceRoutine stream_source;

/* in sources/rate.c */
extern const SourceRoutine rate_source;

/* in sources/kafka/reader.c */
extern const SourceRoutine kafka_source;

/* in sources/kafka/outbox.c: exactly-once sinks */
extern bool pgs_kafka_sink_exactly_once(Oid relid);
extern void pgs_kafka_outbox_flush(Oid view);

/* in sources/file/ */
extern const SourceRoutine file_source;

/* in sources/socket.c */
extern const SourceRoutine socket_source;

#endif							/* PGS_SOURCES_H */
