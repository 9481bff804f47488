/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  SQL surface: CREATE / REFRESH / ALTER MATERIALIZED VIEW over a
 *	  stream, stream.start(), stream.stop(), stream.purge(), the refusal
 *	  of DELETE and TRUNCATE of a continuous view, and the clean-up of dropped
 *	  objects.
 *
 * PostgreSQL's grammar cannot be extended, so a continuous query is
 * spelled CREATE MATERIALIZED VIEW over a stream. The ProcessUtility hook
 * recognises it (the rewritten query reads a stream foreign table, maybe
 * through plain views) and then:
 *
 *	1. analyses the query (engine/analyze.c): refuses what cannot be
 *	   maintained, before anything is created;
 *	2. lets PostgreSQL create the materialized view WITH NO DATA (so the
 *	   view, its rule, its dependencies on the streams and tables, and
 *	   its options are all ordinary catalog entries), then marks it
 *	   populated: a continuous view starts empty and follows the input
 *	   that arrives after it was created;
 *	3. for an aggregation, creates the state table stream."state_<oid>"
 *	   (group keys + one column per aggregate state) and the unique
 *	   indexes (NULLS NOT DISTINCT) on the group keys of both tables; for
 *	   an append view, the copy of its rows stream."rows_<oid>";
 *	4. records the query and its starting positions (holding each stream's
 *	   clean-up lock until commit, see sources/stream.c), and wakes the
 *	   database's manager at commit, which starts the worker.
 *
 * REFRESH MATERIALIZED VIEW of a continuous view runs batches in the
 * caller's transaction (engine/batch.c). DROP needs no hook: the state
 * table depends on the view (DEPENDENCY_INTERNAL) and the sql_drop event
 * trigger forgets the query's rows; its worker notices at its next batch.
 *
 * pg_dump and restore. An explicit CREATE MATERIALIZED VIEW ... WITH NO
 * DATA only defines the view: steps 3 and 4 wait for its first REFRESH,
 * which starts it from the input available then. That is what a dump
 * holds: the view WITH NO DATA, the contents of stream.* (config tables
 * of the extension), the state and row tables as ordinary tables, the
 * view's indexes, and at the end REFRESH MATERIALIZED VIEW. A view not
 * yet populated that has its row in stream.cq is therefore a restored
 * one, and its REFRESH adopts what was restored (adopt_cq): the tables
 * become the view's again, the sources renumber their positions for this
 * database (sources/stream.c), the view's rows are rebuilt from the
 * state or row table, and batches resume where the dumped ones ended.
 *
 * DROP DATABASE and ALTER DATABASE ... RENAME need the database to have
 * no other session, and its manager and workers are sessions of it. So
 * for the statement's duration the database is paused (bgw/shmem.c): its
 * manager stops its workers and exits, and the launcher starts none;
 * PostgreSQL waits up to 5 s for them to leave. When the statement ends,
 * done or failed (a user still connected), the pause is lifted and the
 * launcher starts the manager again, which starts the views again. Only
 * for a role that could run the statement (the database's owner, with
 * CREATEDB for a rename, or a superuser): anyone else's fails at
 * PostgreSQL's own check, and must not stop the views in the meantime.
 * CREATE DATABASE ... TEMPLATE is not paused: the copy would hold the
 * same views, enabled, and both would deliver to the same Kafka topics
 * and file directories. Stop the views (stream.stop) to copy a database.
 *
 * What \d+ says of a continuous view: its COMMENT, which pg_stream sets
 * when the view starts ("pg_stream continuous view: output_mode update,
 * trigger default, no sink") if it has none, and keeps up to date on
 * ALTER ... SET / RESET while it is pg_stream's (it starts with
 * "pg_stream continuous view: "): a comment the user set (COMMENT ON) is
 * never overwritten, and COMMENT ON ... IS NULL gives the view back to
 * pg_stream's at the next ALTER. Anyone may read comments, as anyone may
 * read the view's definition (pg_matviews), which names the same sink. A comment is dumped and restored with the
 * view, so a restored view keeps whichever it had.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "meta/meta.h"
#include "sources/sources.h"
#include "engine/cq.h"
#include "engine/engine.h"
#include "sinks/sinks.h"
#include "bgw/bgw.h"
#include "ddl.h"

#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_authid.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/comment.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/tablecmds.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/analyze.h"
#include "parser/parse_relation.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/utility.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/ruleutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(stream_start);
PG_FUNCTION_INFO_V1(stream_stop);
PG_FUNCTION_INFO_V1(stream_on_drop);
PG_FUNCTION_INFO_V1(stream_worker_status);
PG_FUNCTION_INFO_V1(stream_slots_free);
PG_FUNCTION_INFO_V1(stream_purge);

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static post_parse_analyze_hook_type prev_post_parse_analyze = NULL;

/* at commit: wake this database's manager (and its workers) */
static bool wake_at_commit = false;
static bool wake_launcher_at_commit = false;

static void
ddl_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT)
	{
		if (wake_at_commit)
		{
			pgs_wake_manager(MyDatabaseId);
			pgs_wake_database(MyDatabaseId);
		}
		if (wake_launcher_at_commit)
			pgs_wake_launcher();
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		wake_at_commit = wake_launcher_at_commit = false;
}

static bool
extension_loaded(void)
{
	return !creating_extension &&
		OidIsValid(get_extension_oid("pg_stream", true));
}

void
pgs_check_cq_owner(Oid viewid)
{
	if (!pg_class_ownercheck(viewid, GetUserId()))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_MATVIEW, get_rel_name(viewid));
}

static void
run_sql(const char *sql)
{
	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "could not run: %s", sql);
}

/*------------------------------------------------------------------------
 * CREATE MATERIALIZED VIEW over a stream
 *------------------------------------------------------------------------
 */

/* pg_class.relispopulated = true: the view is empty, but valid */
static void
mark_populated(Oid relid)
{
	Relation	pgrel = table_open(RelationRelationId, RowExclusiveLock);
	HeapTuple	tuple = SearchSysCacheCopy1(RELOID, ObjectIdGetDatum(relid));

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	((Form_pg_class) GETSTRUCT(tuple))->relispopulated = true;
	CatalogTupleUpdate(pgrel, &tuple->t_self, tuple);
	heap_freetuple(tuple);
	table_close(pgrel, RowExclusiveLock);
	CommandCounterIncrement();
}

static char *
column_list(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) ? ", " : "",
						 quote_identifier(strVal(lfirst(lc))));
	return buf.data;
}

/*
 * A name for a new table of view viewid in schema stream: <prefix>_<oid>,
 * or with a suffix if a restored table has that name already (a restore
 * keeps the names, which hold the OIDs of the dumped database).
 */
static void
free_table_name(char *name, const char *prefix, Oid viewid)
{
	Oid			nsp = get_namespace_oid(PG_STREAM_SCHEMA, false);

	snprintf(name, NAMEDATALEN, "%s_%u", prefix, viewid);
	for (int i = 2; OidIsValid(get_relname_relid(name, nsp)); i++)
		snprintf(name, NAMEDATALEN, "%s_%u_%d", prefix, viewid, i);
}

/* a table of the view's, dropped with it */
static void
depend_on_view(Oid relid, Oid viewid)
{
	ObjectAddress dep,
				ref;

	ObjectAddressSet(dep, RelationRelationId, relid);
	ObjectAddressSet(ref, RelationRelationId, viewid);
	recordDependencyOn(&dep, &ref, DEPENDENCY_INTERNAL);
}

/*
 * An aggregation updates each touched group's row in the view and in the
 * state once per batch: with this much room left on each page, updates
 * stay on their page (HOT), and write no index entry. Less leaves pages
 * full after a batch that touches many groups; more wastes space.
 */
#define PGS_STATE_FILLFACTOR 70

/* whether the relation's WITH options set a fillfactor (the user's) */
static bool
has_fillfactor(Oid relid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		isnull;
	Datum		d;
	ListCell   *lc;
	bool		found = false;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	d = SysCacheGetAttr(RELOID, tup, Anum_pg_class_reloptions, &isnull);
	if (!isnull)
		foreach(lc, untransformRelOptions(d))
			found |= (strcmp(((DefElem *) lfirst(lc))->defname, "fillfactor") == 0);
	ReleaseSysCache(tup);
	return found;
}

/*
 * The state table of an aggregation: the group keys, then each
 * aggregate's state, then the tid of the group's row in the view, with a
 * unique index on the keys; and the same unique index on the view's key
 * columns. Both leave room on their pages for updates (fillfactor).
 */
static Oid
create_state(CqDef *cq, Oid viewid)
{
	StringInfoData sql;
	Relation	vrel = table_open(viewid, AccessShareLock);
	TupleDesc	vdesc = RelationGetDescr(vrel);
	char	   *viewname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(vrel)),
													  RelationGetRelationName(vrel));
	char		statename[NAMEDATALEN];
	List	   *statekeys = NIL;
	List	   *viewkeys = NIL;
	ListCell   *lc;
	Oid			staterel;

	free_table_name(statename, "state", viewid);
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE stream.%s (", quote_identifier(statename));
	for (int k = 0; k < cq->nkeys; k++)
	{
		char		colname[32];
		Oid			type;
		int32		typmod;
		Oid			coll;

		/* under a query over the aggregation, the keys are not the view's columns */
		if (cq->stage_query)
		{
			TargetEntry *tle = get_tle_by_resno(cq->query->targetList, cq->key_viewcols[k]);

			type = exprType((Node *) tle->expr);
			typmod = exprTypmod((Node *) tle->expr);
			coll = exprCollation((Node *) tle->expr);
		}
		else
		{
			Form_pg_attribute att = TupleDescAttr(vdesc, cq->key_viewcols[k] - 1);

			type = att->atttypid;
			typmod = att->atttypmod;
			coll = att->attcollation;
			viewkeys = lappend(viewkeys, makeString(pstrdup(NameStr(att->attname))));
		}
		snprintf(colname, sizeof(colname), "k%d", k + 1);
		appendStringInfo(&sql, "%s%s %s", k ? ", " : "", colname,
						 format_type_with_typemod(type, typmod));
		if (OidIsValid(coll))
			appendStringInfo(&sql, " COLLATE %s", generate_collation_name(coll));
		statekeys = lappend(statekeys, makeString(pstrdup(colname)));
	}
	foreach(lc, cq->aggs)
	{
		CqAgg	   *a = lfirst(lc);
		int			i = foreach_current_index(lc);

		appendStringInfo(&sql, "%ss%d %s", (cq->nkeys + i) ? ", " : "", i + 1,
						 format_type_be(a->statetype));
	}
	/* where the group's view row is (engine/merge.c) */
	appendStringInfo(&sql, "%s_pgs_row tid) WITH (fillfactor = %d)",
					 (cq->nkeys + list_length(cq->aggs)) ? ", " : "", PGS_STATE_FILLFACTOR);
	/* CREATE INDEX refuses a relation this session has open */
	table_close(vrel, NoLock);

	SPI_connect();
	run_sql(sql.data);
	if (cq->nkeys > 0)
	{
		resetStringInfo(&sql);
		appendStringInfo(&sql, "CREATE UNIQUE INDEX ON stream.%s (%s) NULLS NOT DISTINCT",
						 quote_identifier(statename), column_list(statekeys));
		run_sql(sql.data);
		if (!cq->stage_query)
		{
			resetStringInfo(&sql);
			appendStringInfo(&sql, "CREATE UNIQUE INDEX ON %s (%s) NULLS NOT DISTINCT",
							 viewname, column_list(viewkeys));
			run_sql(sql.data);
		}
	}
	if (!has_fillfactor(viewid))
		run_sql(psprintf("ALTER MATERIALIZED VIEW %s SET (fillfactor = %d)", viewname,
						 PGS_STATE_FILLFACTOR));
	/* final windows are found by their start (the unique index serves the first key) */
	if (cq->window_key > 0)
		run_sql(psprintf("CREATE INDEX ON stream.%s (k%d)", quote_identifier(statename),
						 cq->window_key + 1));
	/* a session window's sessions by key and by end (engine/session.c) */
	foreach(lc, pgs_session_indexes(cq, quote_identifier(statename)))
		run_sql(lfirst(lc));
	SPI_finish();
	CommandCounterIncrement();

	staterel = get_relname_relid(statename, get_namespace_oid(PG_STREAM_SCHEMA, false));
	depend_on_view(staterel, viewid);
	return staterel;
}

/*
 * The copy of a view's final rows: the view's columns, nothing else. All
 * the rows of a view without aggregation; the rows of an aggregation's
 * windows that were final when their state was evicted. pg_dump never
 * dumps a materialized view's rows, only its query; this is where a
 * restore finds them.
 */
static Oid
create_rows_copy(Oid viewid)
{
	char		name[NAMEDATALEN];
	Oid			relid;

	free_table_name(name, "rows", viewid);
	SPI_connect();
	run_sql(psprintf("CREATE TABLE stream.%s (LIKE %s)", quote_identifier(name),
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(viewid)),
												get_rel_name(viewid))));
	SPI_finish();
	CommandCounterIncrement();
	relid = get_relname_relid(name, get_namespace_oid(PG_STREAM_SCHEMA, false));
	depend_on_view(relid, viewid);
	return relid;
}

/*
 * A query over an aggregation without a window computed by deltas
 * (engine/reagg_delta.c): its outer state, one row per outer group, takes
 * the place of the copy of the rows (which such a view would keep empty:
 * a restore computes its rows from the inner state).
 */
static Oid
create_outer_state(CqDef *cq, Oid viewid)
{
	char		name[NAMEDATALEN];
	Oid			relid;
	ListCell   *lc;

	free_table_name(name, "outer", viewid);
	SPI_connect();
	foreach(lc, pgs_delta_state_sql(cq->stage_delta,
									psprintf("stream.%s", quote_identifier(name)),
									PGS_STATE_FILLFACTOR))
		run_sql(lfirst(lc));
	SPI_finish();
	CommandCounterIncrement();
	relid = get_relname_relid(name, get_namespace_oid(PG_STREAM_SCHEMA, false));
	depend_on_view(relid, viewid);
	return relid;
}

/*
 * With the option retention, the indexes on the window column of the view
 * and of its copy that a batch finds old windows by (engine/retention.c),
 * unless they have one already (the view's unique index when the window
 * is its first key, or those a restore re-created). As the extension's
 * superuser, once the view has its row in stream.cq.
 */
static void
create_retention_indexes(CqDef *cq, Oid viewid)
{
	CqMeta		row;
	char	   *sql;

	if (!cq->opts.has_retention || !meta_cq_get(viewid, &row))
		return;
	SPI_connect();
	if ((sql = pgs_retention_index_sql(cq, viewid)) != NULL)
		run_sql(sql);
	if (OidIsValid(row.rows_table) &&
		(sql = pgs_retention_index_sql(cq, row.rows_table)) != NULL)
		run_sql(sql);
	SPI_finish();
	CommandCounterIncrement();
}

/*
 * The keys each DISTINCT filter has seen (engine/dedup.c), a table a
 * filter: its key columns, when each key expires and the keys' hash, with
 * an index on the hash (the filter compares the keys of the rows it
 * finds) and one on expiry.
 */
static List *
create_seen(CqDef *cq, Oid viewid)
{
	List	   *relids = NIL;
	ListCell   *lc;

	foreach(lc, cq->dedups)
	{
		CqDedup    *d = lfirst(lc);
		StringInfoData sql;
		char		name[NAMEDATALEN];
		Oid			relid;

		free_table_name(name, "seen", viewid);
		initStringInfo(&sql);
		appendStringInfo(&sql, "CREATE TABLE stream.%s (", quote_identifier(name));
		for (int k = 0; k < d->nkeys; k++)
		{
			char		colname[32];

			snprintf(colname, sizeof(colname), "k%d", k + 1);
			appendStringInfo(&sql, "%s %s", colname,
							 format_type_with_typemod(d->keytypes[k], d->keytypmods[k]));
			if (OidIsValid(d->keycolls[k]))
				appendStringInfo(&sql, " COLLATE %s", generate_collation_name(d->keycolls[k]));
			appendStringInfoString(&sql, ", ");
		}
		/* microseconds, as the event time's; the keys' hash (engine/dedup.c) */
		appendStringInfoString(&sql, "_pgs_expires bigint, _pgs_hash bigint NOT NULL)");
		SPI_connect();
		run_sql(sql.data);
		/* by the hash, not the keys: a key of any size can be found */
		run_sql(psprintf("CREATE INDEX ON stream.%s (_pgs_hash)", quote_identifier(name)));
		run_sql(psprintf("CREATE INDEX ON stream.%s (_pgs_expires)", quote_identifier(name)));
		SPI_finish();
		CommandCounterIncrement();
		relid = get_relname_relid(name, get_namespace_oid(PG_STREAM_SCHEMA, false));
		depend_on_view(relid, viewid);
		relids = lappend_oid(relids, relid);
	}
	return relids;
}

/* the column list of an index on cols, into l unless there already */
static List *
add_key_index(List *l, TupleDesc desc, int ncols, AttrNumber *cols)
{
	StringInfoData s;
	ListCell   *lc;

	if (ncols == 0)
		return l;
	initStringInfo(&s);
	for (int i = 0; i < ncols; i++)
		appendStringInfo(&s, "%s%s", i ? ", " : "",
						 quote_identifier(NameStr(TupleDescAttr(desc, cols[i] - 1)->attname)));
	foreach(lc, l)
		if (strcmp(lfirst(lc), s.data) == 0)
			return l;
	return lappend(l, s.data);
}

/*
 * The state of side k of a join of streams (engine/join.c): the stream's
 * columns, when each row expires (indexed: the expired rows are found by
 * a range scan), and whether it has matched; indexed too on the join's
 * key columns with each other side, if it has any (a batch reads the
 * state by key).
 */
static void
create_join_state(Oid viewid, CqJoin *j, int k)
{
	CqJoinSide *side = &j->side[k];
	StringInfoData sql;
	List	   *keyidx = NIL;
	Relation	rel = table_open(side->relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	char		name[NAMEDATALEN];
	Oid			relid;
	ListCell   *lc;

	free_table_name(name, "join", viewid);
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE stream.%s (", quote_identifier(name));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&sql, "%s %s", quote_identifier(NameStr(att->attname)),
						 format_type_with_typemod(att->atttypid, att->atttypmod));
		if (OidIsValid(att->attcollation))
			appendStringInfo(&sql, " COLLATE %s", generate_collation_name(att->attcollation));
		appendStringInfoString(&sql, ", ");
	}
	appendStringInfo(&sql, "_pgs_expires %s, _pgs_matched boolean NOT NULL DEFAULT false%s)",
					 side->ts_typid == TIMESTAMPOID ? "timestamp" : "timestamptz",
	/* a stacked join's (engine/join.c): the padded sides its row matched */
					 j->stacked ? ", _pgs_matched_to integer NOT NULL DEFAULT 0" : "");

	/*
	 * The indexes a batch probes with another side's keys (engine/join.c):
	 * one for each side it has keys with, alike ones once; a self-join's
	 * one state serves both sides, so its other side's keys too.
	 */
	for (int t = 0; t < j->nsides; t++)
		keyidx = add_key_index(keyidx, desc, side->npkeys[t], side->pkeys[t]);
	if (j->self)
		keyidx = add_key_index(keyidx, desc, j->side[1].npkeys[0], j->side[1].pkeys[0]);
	table_close(rel, AccessShareLock);

	SPI_connect();
	run_sql(sql.data);
	/*
	 * eviction and the NULL-padded rows of outer joins go by expiry; rows
	 * that never expire (NULL) are never looked for there
	 */
	run_sql(psprintf("CREATE INDEX ON stream.%s (_pgs_expires) WHERE _pgs_expires IS NOT NULL",
					 quote_identifier(name)));
	foreach(lc, keyidx)
		run_sql(psprintf("CREATE INDEX ON stream.%s (%s)", quote_identifier(name),
						 (char *) lfirst(lc)));
	CommandCounterIncrement();
	relid = get_relname_relid(name, get_namespace_oid(PG_STREAM_SCHEMA, false));
	meta_position_set_join_state(viewid, side->relid, relid);
	SPI_finish();
	depend_on_view(relid, viewid);
}

/*
 * The state of a stream read beside a windowed aggregation
 * (engine/stage_side.c): its rows of the windows not final yet, packed a
 * window's rows at a time (up to about a page) into one row of arrays,
 * a column per stream column that stage 2 reads, and the event time
 * (each of the stream column's type, as an array), after _pgs_from, the least event time of the row's rows,
 * indexed: the rows are taken by a range scan of it when their window
 * is final. A packed row stays under the page (toast_tuple_target), so
 * it is neither compressed nor moved out of line. It is the stream's
 * join_state.
 */
static void
create_side_state(Oid viewid, CqStageSide *side)
{
	char		name[NAMEDATALEN];
	Oid			relid;
	Relation	rel = table_open(side->relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData sql;

	free_table_name(name, "side", viewid);
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE TABLE stream.%s (_pgs_from %s", quote_identifier(name),
					 side->ts_typid == TIMESTAMPOID ? "timestamp" : "timestamptz");
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			arr;

		if (att->attisdropped || !pgs_stage_side_keeps(side, i + 1))
			continue;
		arr = get_array_type(att->atttypid);
		if (!OidIsValid(arr))
		{
			/*
			 * a type without an array type (an array): its values in
			 * binary (send), as bytea (engine/stage_side.c side_cols)
			 */
			Oid			fn;
			Oid			ioparam;
			bool		varlena;

			/* (errors if it has no send or receive function) */
			getTypeBinaryOutputInfo(att->atttypid, &fn, &varlena);
			getTypeBinaryInputInfo(att->atttypid, &fn, &ioparam);
			appendStringInfo(&sql, ", %s bytea[]", quote_identifier(NameStr(att->attname)));
			continue;
		}
		appendStringInfo(&sql, ", %s %s", quote_identifier(NameStr(att->attname)),
						 format_type_with_typemod(arr, att->atttypmod));
		if (OidIsValid(att->attcollation))
			appendStringInfo(&sql, " COLLATE %s", generate_collation_name(att->attcollation));
	}
	appendStringInfoString(&sql, ") WITH (toast_tuple_target = 8160)");
	table_close(rel, AccessShareLock);
	SPI_connect();
	run_sql(sql.data);
	run_sql(psprintf("CREATE INDEX ON stream.%s (_pgs_from)", quote_identifier(name)));
	CommandCounterIncrement();
	relid = get_relname_relid(name, get_namespace_oid(PG_STREAM_SCHEMA, false));
	meta_position_set_join_state(viewid, side->relid, relid);
	SPI_finish();
	depend_on_view(relid, viewid);
}

static void
record_cq(CqDef *cq, Oid viewid, Oid staterel, Oid rowsrel, List *seenrels, List *options)
{
	ListCell   *lc;
	BatchRun	run;

	/* the sources make their initial positions in SPI's memory */
	SPI_connect();
	meta_cq_insert(viewid, staterel, rowsrel,
				   DatumGetArrayTypeP(pgs_options_to_array(options)), seenrels);
	pgs_batchrun_push(&run, viewid, false);	/* sources use the owner's credentials */
	PG_TRY();
	{
	foreach(lc, cq->streams)
	{
		Oid			relid = lfirst_oid(lc);
		Relation	rel = table_open(relid, AccessShareLock);
		const SourceRoutine *src = pgs_source_for_relation(relid);

		if (src->add_reader)
			src->add_reader(relid);
		meta_position_insert(viewid, relid, src->initial_position(rel));
		table_close(rel, NoLock);
	}
	}
	PG_FINALLY();
	{
		pgs_batchrun_pop(&run);
	}
	PG_END_TRY();
	SPI_finish();
	CommandCounterIncrement();
}

/* split DefElems into ours and PostgreSQL's */
static void
split_options(List *options, List **ours, List **theirs)
{
	ListCell   *lc;

	*ours = *theirs = NIL;
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (pgs_is_cq_option(def->defname))
			*ours = lappend(*ours, def);
		else
			*theirs = lappend(*theirs, def);
	}
}

static void start_cq(CqDef *cq, Oid viewid, List *cqoptions);

/*
 * A query over a windowed aggregation (engine/stage.c) runs in append
 * mode only: its options say so, at CREATE and after an ALTER ... RESET
 * (output_mode), or stream.queries would show the mode of an aggregation
 * with a state, update.
 */
static List *
stage_mode_option(CqDef *cq, List *options)
{
	if (cq->stage_query && !cq->stage_update && cq->opts.output_mode == OUTPUT_DEFAULT)
		options = lappend(options, makeDefElem("output_mode",
											   (Node *) makeString("append"), -1));
	return options;
}

/* the first of the options' names given, and its value; NULL if none */
static DefElem *
first_option(List *options, const char *const *names)
{
	for (int i = 0; names[i]; i++)
	{
		ListCell   *lc;

		foreach(lc, options)
			if (strcmp(lfirst_node(DefElem, lc)->defname, names[i]) == 0)
				return lfirst_node(DefElem, lc);
	}
	return NULL;
}

/* pg_stream's comment of a continuous view (see the top of the file) */
#define CQ_COMMENT_PREFIX "pg_stream continuous view: "

static char *
cq_comment(CqDef *cq, List *options)
{
	static const char *const trigger[] = {"trigger", NULL};
	static const char *const sinks[] = {"sink", "sink_function", "sink_function_per_row",
	"notify_channel", NULL};
	static const char *const modes[] = {"default", "append", "update", "complete"};
	DefElem    *t = first_option(options, trigger);
	DefElem    *sk = first_option(options, sinks);

	return psprintf(CQ_COMMENT_PREFIX "output_mode %s, trigger %s, %s",
					modes[cq->mode], t ? defGetString(t) : "default",
					sk ? psprintf("%s %s", sk->defname, defGetString(sk)) : "no sink");
}

/*
 * The view's comment, if it has none or pg_stream's (it starts as
 * cq_comment's do): a comment a user wrote is never replaced. Not a
 * comparison with the comment the old options make, which would need the
 * query analysed under them, and an ALTER that repairs options that no
 * longer suit the query (its stream lost its watermark) would fail.
 */
static void
update_cq_comment(Oid viewid, const char *new)
{
	char	   *current = GetComment(viewid, RelationRelationId, 0);

	if (current == NULL || strncmp(current, CQ_COMMENT_PREFIX, strlen(CQ_COMMENT_PREFIX)) == 0)
		CreateComments(viewid, RelationRelationId, 0, new);
}

static bool
create_cq(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
		  ProcessUtilityContext context, ParamListInfo params,
		  QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	CreateTableAsStmt *stmt = (CreateTableAsStmt *) pstmt->utilityStmt;
	Query	   *query;
	List	   *rewritten;
	Query	   *rq;
	CqOptions	opts;
	CqDef	   *cq;
	PlannedStmt *plan;
	PlannedStmt *newpstmt;
	Oid			viewid;
	List	   *cqoptions;
	bool		define_only;

	if (stmt->objtype != OBJECT_MATVIEW || !IsA(stmt->query, Query))
		return false;
	query = (Query *) stmt->query;
	rewritten = QueryRewrite(copyObject(query));
	if (list_length(rewritten) != 1)
		return false;
	rq = linitial(rewritten);
	if (stmt->if_not_exists &&
		OidIsValid(RangeVarGetRelid(stmt->into->rel, NoLock, true)))
		return false;			/* PostgreSQL says it exists */
	pgs_chain_rewrite(rq);		/* continuous views read as streams */
	if (pgs_query_streams(rq) == NIL)
		return false;			/* an ordinary materialized view */
	pgs_check_catalog();

	/* our options are ours; the others (fillfactor, ...) PostgreSQL's */
	stmt = copyObject(stmt);
	split_options(stmt->into->options, &cqoptions, &stmt->into->options);
	define_only = stmt->into->skipData;
	if (define_only && cqoptions != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("option \"%s\" cannot be given to a continuous view created WITH NO DATA",
						linitial_node(DefElem, cqoptions)->defname),
				 errdetail("WITH NO DATA only defines the view; its first REFRESH MATERIALIZED VIEW starts it."),
				 errhint("Set the options with ALTER MATERIALIZED VIEW ... SET after that REFRESH, or create the view WITH DATA.")));

	/* analyse and plan once: refuse what cannot be maintained */
	pgs_parse_options(cqoptions, &opts);
	cq = pgs_analyze_cq(rq, InvalidOid, &opts, true);
	if (opts.has_retention)
		pgs_retention_check(cq, "option \"retention\"");
	pgs_parallel_check(cq, stmt->into->rel->relname);
	plan = pgs_plan_batch(cq);
	/* reading the streams and tables needs their SELECT privilege */
	ExecCheckRTPerms(plan->rtable, true);

	/* create the materialized view, empty */
	stmt->into->skipData = true;
	newpstmt = copyObject(pstmt);
	newpstmt->utilityStmt = (Node *) stmt;
	if (prev_ProcessUtility)
		prev_ProcessUtility(newpstmt, queryString, false, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(newpstmt, queryString, false, context, params,
								queryEnv, dest, qc);
	CommandCounterIncrement();
	/* where it was created (a lookup by name could find a temp table) */
	viewid = get_relname_relid(stmt->into->rel->relname,
							   RangeVarGetCreationNamespace(stmt->into->rel));
	if (!OidIsValid(viewid))
		elog(ERROR, "materialized view \"%s\" not found after its creation",
			 stmt->into->rel->relname);
	if (!define_only)
		start_cq(cq, viewid, cqoptions);
	return true;
}

/*
 * Start the continuous query of materialized view viewid, created and
 * empty: its tables, its row in stream.cq, its positions at the input
 * available now; then populated.
 */
static void
start_cq(CqDef *cq, Oid viewid, List *cqoptions)
{
	Oid			staterel = InvalidOid;
	Oid			rowsrel = InvalidOid;
	PgsUser		saved;
	ListCell   *lc;

	mark_populated(viewid);
	cqoptions = stage_mode_option(cq, cqoptions);
	/* as the creator: its privileges on the sink count */
	cqoptions = pgs_sink_check(viewid, cq, cqoptions);
	update_cq_comment(viewid, cq_comment(cq, cqoptions));
	pgs_become_superuser(&saved);
	if (cq->is_agg)
		staterel = create_state(cq, viewid);
	rowsrel = cq->stage_delta ? create_outer_state(cq, viewid) : create_rows_copy(viewid);
	record_cq(cq, viewid, staterel, rowsrel, create_seen(cq, viewid), cqoptions);
	create_retention_indexes(cq, viewid);
	if (cq->join)
	{
		/* (a self-join's sides share one state) */
		for (int k = 0; k < (cq->join->self ? 1 : cq->join->nsides); k++)
			create_join_state(viewid, cq->join, k);
	}
	foreach(lc, cq->stage_sides)
		create_side_state(viewid, lfirst(lc));
	pgs_restore_user(&saved);

	/* a global aggregate has its row from the start (count = 0, ...) */
	if (cq->is_agg && cq->nkeys == 0)
	{
		BatchWait	wait;

		pgs_run_batch(viewid, false, INPUT_NONE, &wait, NULL);
		CommandCounterIncrement();
	}
	/* a query over an aggregation, over none of its groups (count = 0, ...) */
	if (cq->stage_update)
	{
		cq->viewid = viewid;
		cq->state_relid = staterel;
		cq->rows_relid = rowsrel;
		PushActiveSnapshot(GetTransactionSnapshot());
		(void) pgs_reagg_write(cq);
		PopActiveSnapshot();
		CommandCounterIncrement();
	}
	wake_at_commit = true;
}

/*
 * A restored view read by other views (engine/chain.c): the restored
 * chunks of its output stream are renumbered now, for its readers, as
 * their first REFRESH would (they are all done at once), since from this
 * view's first batch on it writes new ones there, whose transaction ids
 * the renumbering must not take for the dumped cluster's.
 */
static void
restore_output_stream(Oid viewid)
{
	CqMeta		row;
	List	   *readers;
	Relation	rel;

	if (!meta_cq_get(viewid, &row) || !OidIsValid(row.output_stream))
		return;
	readers = meta_positions_of_stream(row.output_stream);
	if (readers == NIL)
		return;
	rel = table_open(row.output_stream, AccessShareLock);
	pgs_source_for_relation(row.output_stream)->restore(rel,
														((PositionRow *) linitial(readers))->view);
	table_close(rel, NoLock);
}

/*
 * A restored continuous view (see the header): make its tables its own
 * again, let each source renumber the positions, fill the view from the
 * state or row table, and mark it populated. Its REFRESH then goes on
 * with the input the dump held and what came since.
 */
static void
adopt_cq(Oid viewid)
{
	List	   *tables = NIL;
	List	   *streams = NIL;
	ListCell   *lc;
	PgsUser		saved;

	pgs_become_superuser(&saved);
	tables = meta_cq_tables(viewid);
	streams = meta_position_streams(viewid);

	foreach(lc, tables)
	{
		Oid			relid = lfirst_oid(lc);

		if (get_rel_namespace(relid) != get_namespace_oid(PG_STREAM_SCHEMA, false))
			elog(ERROR, "table \"%s\" of continuous view \"%s\" is not in schema stream",
				 get_rel_name(relid), get_rel_name(viewid));
		depend_on_view(relid, viewid);
	}
	foreach(lc, streams)
	{
		Oid			relid = lfirst_oid(lc);
		const SourceRoutine *src = pgs_source_for_relation(relid);
		Relation	rel;

		if (src == NULL || src->restore == NULL)
			continue;
		rel = table_open(relid, AccessShareLock);
		src->restore(rel, viewid);
		table_close(rel, NoLock);
	}
	restore_output_stream(viewid);
	CommandCounterIncrement();
	pgs_restore_user(&saved);

	pgs_rebuild_view(viewid);
	mark_populated(viewid);
	ereport(NOTICE,
			(errmsg("continuous view \"%s\" restored: it resumes where it was dumped",
					get_rel_name(viewid))));
	wake_at_commit = true;
}

/*
 * REFRESH of a materialized view over a stream that is not populated:
 * defined WITH NO DATA (start it now), or restored (adopt it). False if
 * it is neither (an ordinary materialized view, or populated).
 */
static bool
refresh_unpopulated(Oid relid, bool skipData)
{
	Relation	rel;
	Query	   *query;
	List	   *rewritten;

	if (get_rel_relkind(relid) != RELKIND_MATVIEW || pgs_view_populated(relid))
		return false;
	/* over a stream, maybe through views */
	rel = table_open(relid, AccessShareLock);
	query = copyObject(get_view_query(rel));
	table_close(rel, NoLock);
	AcquireRewriteLocks(query, true, false);
	rewritten = QueryRewrite(query);
	if (list_length(rewritten) != 1)
		return false;
	if (meta_cq_exists(relid))
		pgs_chain_rewrite_view(linitial(rewritten), relid); /* restored */
	else if (!pgs_chain_rewrite_readable(linitial(rewritten)))
		return false;			/* restored over an update-mode view */
	if (pgs_query_streams(linitial(rewritten)) == NIL)
		return false;
	pgs_check_cq_owner(relid);
	if (skipData)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("REFRESH MATERIALIZED VIEW ... WITH NO DATA is not supported for continuous view \"%s\"",
						get_rel_name(relid))));
	/* one at a time, and no batch meanwhile */
	LockRelationOid(relid, ExclusiveLock);
	if (pgs_view_populated(relid))
		return true;
	if (meta_cq_exists(relid))
		adopt_cq(relid);
	else
	{
		/* analysed, planned and checked as its owner, as CREATE did */
		CqDef	   *cq;
		PgsUser		saved;

		pgs_become_owner(relid, &saved);
		cq = pgs_load_cq(relid, NIL);
		ExecCheckRTPerms(pgs_plan_batch(cq)->rtable, true);
		pgs_restore_user(&saved);
		start_cq(cq, relid, NIL);
	}
	return true;
}

/*------------------------------------------------------------------------
 * The hook
 *------------------------------------------------------------------------
 */
static bool
has_cq_option(List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (pgs_is_cq_option(def->defname))
			return true;
	}
	return false;
}

static void
reject_cq_options(List *options, const char *what)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (pgs_is_cq_option(def->defname))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("option \"%s\" is only valid for a continuous view", def->defname),
					 errdetail("%s is not a materialized view over a stream.", what)));
	}
}

/*
 * A view that keeps stream relid's rows as a stream read beside a
 * windowed aggregation (engine/stage_side.c: its state, side_<view>, has
 * the stream's columns as they were at CREATE), the first created, or
 * InvalidOid.
 */
static Oid
side_reader(Oid relid)
{
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, meta_positions_of_stream(relid))
	{
		PositionRow *pos = lfirst(lc);
		char	   *name;

		if (!OidIsValid(pos->join_state) || (name = get_rel_name(pos->join_state)) == NULL)
			continue;
		if (strncmp(name, "side_", 5) == 0 && (!OidIsValid(found) || pos->view < found))
			found = pos->view;
	}
	return found;
}

/* ALTER FOREIGN TABLE on a stream: a column's type may not change */
static void
check_alter_stream(AlterTableStmt *stmt, Oid relid)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		Oid			side;

		/* a side's state has the stream's columns, and holds rows of them */
		if ((cmd->subtype == AT_AddColumn || cmd->subtype == AT_DropColumn) &&
			OidIsValid(side = side_reader(relid)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot add or drop a column of stream \"%s\" while continuous view \"%s\" joins it with a windowed aggregation",
							get_rel_name(relid), get_rel_name(side)),
					 errdetail("The view keeps the stream's rows of the open windows, with the stream's columns."),
					 errhint("Drop the view first, or create a new stream.")));

		if (cmd->subtype == AT_AlterColumnType)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change the type of a column of stream \"%s\"",
							get_rel_name(relid)),
					 errdetail("Rows already in the stream are stored with the old type."),
					 errhint("Add a new column, or create a new stream.")));
		/*
		 * Rows kept in stream.buffer hold a dropped column's place, which
		 * a dump and restore (that leaves dropped columns out) would shift.
		 */
		if (cmd->subtype == AT_DropColumn &&
			pgs_source_for_relation(relid)->keeps_rows)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot drop a column of stream \"%s\"", get_rel_name(relid)),
					 errdetail("Rows kept in the stream are stored with all its columns."),
					 errhint("Stop reading the column in the views, or create a new stream.")));
	}
}

/*
 * ALTER MATERIALIZED VIEW ... SET / RESET (...) with options of ours:
 * apply them to stream.cq.options and take them out of the statement.
 * Returns the statement to pass on to PostgreSQL, or NULL if nothing is
 * left of it.
 */
static AlterTableStmt *
alter_cq_options(AlterTableStmt *stmt, Oid relid)
{
	ListCell   *lc;
	List	   *cmds = NIL;
	List	   *options = NIL;
	bool		touched = false;
	PgsUser		saved;
	CqDef	   *cq;

	stmt = copyObject(stmt);
	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);
		List	   *ours,
				   *theirs;

		if (cmd->subtype != AT_SetRelOptions && cmd->subtype != AT_ResetRelOptions)
		{
			cmds = lappend(cmds, cmd);
			continue;
		}
		split_options((List *) cmd->def, &ours, &theirs);
		if (ours != NIL)
		{
			if (!meta_cq_exists(relid))
				reject_cq_options(ours, psprintf("\"%s\"", get_rel_name(relid)));
			if (!touched)
			{
				pgs_check_cq_owner(relid);
				/* waits for a running batch; blocks the next one */
				LockRelationOid(relid, ShareUpdateExclusiveLock);
				pgs_become_superuser(&saved);
				options = pgs_cq_options(relid);
				pgs_restore_user(&saved);
				touched = true;
			}
			options = pgs_options_merge(options, ours,
										cmd->subtype == AT_ResetRelOptions);
		}
		if (theirs != NIL)
		{
			cmd->def = (Node *) theirs;
			cmds = lappend(cmds, cmd);
		}
	}
	if (touched)
	{
		/* the new options must suit the query (output mode, sink, ...) */
		cq = pgs_load_cq(relid, options);
		pgs_chain_check_options(relid, cq);
		if (cq->opts.has_retention)
			pgs_retention_check(cq, "option \"retention\"");
		options = stage_mode_option(cq, options);
		options = pgs_sink_check(relid, cq, options);
		{
			CqDef	   *newcq = pgs_load_cq(relid, options);

			pgs_parallel_check(newcq, cq->viewname);
			pgs_check_append_padded(newcq);
		}
		meta_cq_set_options(relid, DatumGetArrayTypeP(pgs_options_to_array(options)));
		update_cq_comment(relid, cq_comment(cq, options));
		pgs_become_superuser(&saved);
		create_retention_indexes(cq, relid);
		pgs_restore_user(&saved);
		wake_at_commit = true;
	}
	stmt->cmds = cmds;
	return cmds != NIL ? stmt : NULL;
}

static bool
changes_owner(AlterTableStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->cmds)
		if (lfirst_node(AlterTableCmd, lc)->subtype == AT_ChangeOwner)
			return true;
	return false;
}

/*
 * ALTER MATERIALIZED VIEW ... OWNER TO: the query runs as its owner, so
 * the new owner must pass what CREATE checks of the creator for reading
 * its streams (a file stream's pg_read_server_files) and for its sink (a
 * file sink's pg_write_server_files). Checked after the change, which an
 * error undoes.
 */
static void
check_new_owner(Oid viewid)
{
	Oid			owner;
	CqDef	   *cq;
	List	   *options;
	ListCell   *lc;
	PgsUser		saved;

	CommandCounterIncrement();
	owner = pgs_rel_owner(viewid);
	pgs_become_superuser(&saved);
	options = pgs_cq_options(viewid);
	pgs_restore_user(&saved);
	cq = pgs_load_cq(viewid, options);
	foreach(lc, cq->streams)
		pgs_source_check_reader(lfirst_oid(lc), owner);
	(void) pgs_sink_check(viewid, cq, options);
}

/* REASSIGN OWNED ... TO role: check_new_owner for each view role owns now */
static void
check_views_of_new_owner(Oid role)
{
	List	   *views;
	ListCell   *lc;

	CommandCounterIncrement();
	views = meta_cq_views_owned_by(role);
	foreach(lc, views)
		check_new_owner(lfirst_oid(lc));
}

/* whether role has CREATEDB (dbcommands.c's check is static) */
static bool
role_createdb(Oid role)
{
	HeapTuple	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(role));
	bool		result = false;

	if (HeapTupleIsValid(tup))
	{
		result = ((Form_pg_authid) GETSTRUCT(tup))->rolcreatedb;
		ReleaseSysCache(tup);
	}
	return result;
}

/*
 * The database a DROP or a rename empties of its sessions, if the user
 * may run the statement; else InvalidOid.
 */
static Oid
database_to_empty(Node *parsetree)
{
	const char *name = NULL;
	Oid			dboid;

	if (IsA(parsetree, DropdbStmt))
		name = ((DropdbStmt *) parsetree)->dbname;
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		name = ((RenameStmt *) parsetree)->subname;
	if (name == NULL || !IsTransactionState())
		return InvalidOid;
	dboid = get_database_oid(name, true);
	if (!OidIsValid(dboid) || dboid == MyDatabaseId ||
		!pg_database_ownercheck(dboid, GetUserId()))
		return InvalidOid;
	/* a rename needs CREATEDB too (PostgreSQL's RenameDatabase) */
	if (IsA(parsetree, RenameStmt) && !superuser() &&
		!role_createdb(GetUserId()))
		return InvalidOid;
	return dboid;
}

/* run the statement with database dboid paused (see the top of the file) */
static void
run_with_database_paused(Oid dboid, PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	bool		paused = pgs_pause_database(dboid);

	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		if (paused)
			pgs_resume_database(dboid);
	}
	PG_END_TRY();
}

/*
 * DELETE and TRUNCATE of a continuous view are refused (PostgreSQL refuses
 * any change to a materialized view's rows; TRUNCATE says it is not a
 * table): say how its old rows do go.
 */
static void
refuse_cq_change(Oid relid, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("cannot %s continuous view \"%s\"", what, get_rel_name(relid)),
			 errdetail("Its rows are the output of its query, changed only by its batches."),
			 errhint("To delete the rows of old windows, set the option retention (ALTER MATERIALIZED VIEW ... SET (retention = '7 days')) or call stream.purge(view, before).")));
}

/* DELETE FROM a continuous view, also in WITH: refused with the hint above */
static void
refuse_cq_delete(Query *query)
{
	ListCell   *lc;

	if (query->commandType == CMD_DELETE && query->resultRelation > 0)
	{
		RangeTblEntry *rte = rt_fetch(query->resultRelation, query->rtable);

		/* a catalog lookup only for a materialized view */
		if (rte->relkind == RELKIND_MATVIEW && IsTransactionState() &&
			extension_loaded() && meta_cq_exists(rte->relid))
			refuse_cq_change(rte->relid, "delete from");
	}
	foreach(lc, query->cteList)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, lc);

		if (IsA(cte->ctequery, Query))
			refuse_cq_delete((Query *) cte->ctequery);
	}
}

static void
pgs_post_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (prev_post_parse_analyze)
		prev_post_parse_analyze(pstate, query, jstate);
	refuse_cq_delete(query);
}

static void
pgs_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	NodeTag		tag = nodeTag(parsetree);
	bool		loaded;
	Oid			new_owner_of = InvalidOid;
	Oid			new_owner_role = InvalidOid;
	Oid			emptied_db;

	/* in any database, with pg_stream or not: the one emptied may have it */
	emptied_db = database_to_empty(parsetree);
	if (OidIsValid(emptied_db))
	{
		run_with_database_paused(emptied_db, pstmt, queryString, readOnlyTree, context,
								 params, queryEnv, dest, qc);
		return;
	}

	/*
	 * Look at the catalogs only for the statements handled here, and only
	 * in a valid transaction (not for the ROLLBACK of a failed one).
	 */
	loaded = (tag == T_CreateTableAsStmt || tag == T_RefreshMatViewStmt ||
			  tag == T_AlterTableStmt || tag == T_CreateStmt ||
			  tag == T_ReassignOwnedStmt || tag == T_TruncateStmt) &&
		IsTransactionState() && extension_loaded();

	if (loaded)
	{
		switch (nodeTag(parsetree))
		{
			case T_CreateTableAsStmt:
				if (create_cq(pstmt, queryString, readOnlyTree, context, params,
							  queryEnv, dest, qc))
					return;
				if (has_cq_option(((CreateTableAsStmt *) parsetree)->into->options))
					reject_cq_options(((CreateTableAsStmt *) parsetree)->into->options,
									  "The query");
				break;
			case T_RefreshMatViewStmt:
				{
					RefreshMatViewStmt *stmt = (RefreshMatViewStmt *) parsetree;
					Oid			relid = RangeVarGetRelidExtended(stmt->relation, NoLock, 0,
																 NULL, NULL);

					if (refresh_unpopulated(relid, stmt->skipData))
					{
						pgs_refresh(relid);
						/* the manager cleans what it consumed (sources/stream.c) */
						wake_at_commit = true;
						if (qc)
							SetQueryCompletion(qc, CMDTAG_REFRESH_MATERIALIZED_VIEW, 0);
						return;
					}
					if (meta_cq_exists(relid))
					{
						pgs_check_cq_owner(relid);
						if (stmt->skipData)
							ereport(ERROR,
									(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
									 errmsg("REFRESH MATERIALIZED VIEW ... WITH NO DATA is not supported for continuous view \"%s\"",
											get_rel_name(relid)),
									 errhint("Use stream.stop() to stop it, or DROP MATERIALIZED VIEW.")));
						pgs_refresh(relid);
						/* the manager cleans what it consumed (sources/stream.c) */
						wake_at_commit = true;
						if (qc)
							SetQueryCompletion(qc, CMDTAG_REFRESH_MATERIALIZED_VIEW, 0);
						return;
					}
				}
				break;
			case T_AlterTableStmt:
				{
					AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
					Oid			relid = RangeVarGetRelid(stmt->relation, NoLock,
														 stmt->missing_ok);
					AlterTableStmt *rest;

					if (!OidIsValid(relid))
						break;
					if (pgs_is_stream_relation(relid))
					{
						check_alter_stream(stmt, relid);
						break;
					}
					if (changes_owner(stmt) && meta_cq_exists(relid))
						new_owner_of = relid;
					rest = alter_cq_options(stmt, relid);
					if (rest == NULL)
						return;
					if (rest->cmds != stmt->cmds)
					{
						pstmt = copyObject(pstmt);
						pstmt->utilityStmt = (Node *) rest;
						readOnlyTree = false;
					}
				}
				break;
			case T_CreateStmt:
				reject_cq_options(((CreateStmt *) parsetree)->options, "A table");
				break;
			case T_ReassignOwnedStmt:
				new_owner_role = get_rolespec_oid(((ReassignOwnedStmt *) parsetree)->newrole, false);
				break;
			case T_TruncateStmt:
				{
					ListCell   *lc;

					foreach(lc, ((TruncateStmt *) parsetree)->relations)
					{
						Oid			relid = RangeVarGetRelid(lfirst_node(RangeVar, lc),
															 NoLock, true);

						if (OidIsValid(relid) && get_rel_relkind(relid) == RELKIND_MATVIEW &&
							meta_cq_exists(relid))
							refuse_cq_change(relid, "truncate");
					}
				}
				break;
			default:
				break;
		}
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	/* a new database to manage, or its views may run again (an UPDATE) */
	if ((IsA(parsetree, CreateExtensionStmt) &&
		 strcmp(((CreateExtensionStmt *) parsetree)->extname, "pg_stream") == 0) ||
		(IsA(parsetree, AlterExtensionStmt) &&
		 strcmp(((AlterExtensionStmt *) parsetree)->extname, "pg_stream") == 0))
		wake_launcher_at_commit = true;
	if (OidIsValid(new_owner_of))
		check_new_owner(new_owner_of);
	if (OidIsValid(new_owner_role))
		check_views_of_new_owner(new_owner_role);
}

void
pgs_ddl_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = pgs_ProcessUtility;
	prev_post_parse_analyze = post_parse_analyze_hook;
	post_parse_analyze_hook = pgs_post_parse_analyze;
	RegisterXactCallback(ddl_xact_callback, NULL);
}

/*------------------------------------------------------------------------
 * SQL-callable functions
 *------------------------------------------------------------------------
 */
static void
check_cq(Oid viewid)
{
	if (!meta_cq_exists(viewid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a continuous view", get_rel_name(viewid)),
				 errhint("A continuous view is a materialized view over a stream.")));
	pgs_check_cq_owner(viewid);
}

static void
set_enabled(Oid viewid, bool enabled)
{
	check_cq(viewid);
	meta_cq_set_enabled(viewid, enabled);
	wake_at_commit = true;
}

Datum
stream_start(PG_FUNCTION_ARGS)
{
	set_enabled(PG_GETARG_OID(0), true);
	PG_RETURN_VOID();
}

Datum
stream_stop(PG_FUNCTION_ARGS)
{
	set_enabled(PG_GETARG_OID(0), false);
	PG_RETURN_VOID();
}

/*
 * stream.purge(view, before): delete the rows of the windows that ended
 * before `before`, now, in this transaction (engine/batch.c, pgs_purge).
 * Only the view's owner may, as for ALTER and REFRESH.
 */
Datum
stream_purge(PG_FUNCTION_ARGS)
{
	Oid			viewid = PG_GETARG_OID(0);

	/* it writes the view's heap directly, which no executor check guards */
	PreventCommandIfReadOnly("stream.purge()");
	check_cq(viewid);
	PG_RETURN_INT64(pgs_purge(viewid, PG_GETARG_TIMESTAMPTZ(1)));
}

/*
 * sql_drop event trigger: forget dropped continuous views and streams.
 */
Datum
stream_on_drop(PG_FUNCTION_ARGS)
{
	Oid			nsp;
	PgsUser		saved;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "stream._on_drop() must be called as an event trigger");
	nsp = get_namespace_oid(PG_STREAM_SCHEMA, true);
	/* DROP EXTENSION: the tables are gone already */
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("cq", nsp)))
		PG_RETURN_NULL();
	/*
	 * ALTER EXTENSION ... UPDATE drops objects of its own (views it makes
	 * again), before the tables of the new version exist: none is a
	 * stream or a view of the bookkeeping's.
	 */
	if (creating_extension)
		PG_RETURN_NULL();

	pgs_become_superuser(&saved);
	meta_forget_dropped();
	pgs_sources_dropped();
	pgs_restore_user(&saved);
	wake_at_commit = true;
	PG_RETURN_NULL();
}

/* stream._slots_free(): query slots free in the cluster */
Datum
stream_slots_free(PG_FUNCTION_ARGS)
{
	int			n = 0;

	pgs_slots_lock(false);
	for (int i = 0; i < pgs_slot_count(); i++)
		if (!OidIsValid(pgs_slot_at(i)->viewid))
			n++;
	pgs_slots_unlock();
	PG_RETURN_INT32(n);
}

/* stream._worker_status(): the slots of this database */
Datum
stream_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CqSlot	   *slots = palloc(sizeof(CqSlot) * pgs_slot_count());
	int			n = 0;

	InitMaterializedSRF(fcinfo, 0);
	/* copied under the lock; the catalogs are read after it */
	pgs_slots_lock(false);
	for (int i = 0; i < pgs_slot_count(); i++)
	{
		CqSlot	   *s = pgs_slot_at(i);

		if (s->dboid == MyDatabaseId && OidIsValid(s->viewid))
			slots[n++] = *s;
	}
	pgs_slots_unlock();
	for (int i = 0; i < n; i++)
	{
		CqSlot	   *s = &slots[i];
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		/* only the views the caller may monitor, like stream.queries */
		if (!pgs_may_monitor(s->viewid))
			continue;
		values[0] = ObjectIdGetDatum(s->viewid);
		values[1] = Int32GetDatum(s->pid);
		nulls[1] = (s->pid == 0);
		values[2] = CStringGetTextDatum(s->note);
		nulls[2] = (s->note[0] == '\0');
		values[3] = BoolGetDatum(s->pid != 0 && s->waiting);
		values[4] = Int32GetDatum(s->pid != 0 ? s->tries : 0);
		/* parallelism > 1: the share of the input its worker reads */
		values[5] = Int32GetDatum(s->share);
		nulls[5] = (s->nshares <= 1);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
