/*-------------------------------------------------------------------------
 *
 * chain.c
 *	  A continuous view read by another continuous view as a stream of its
 *	  output rows (views on views).
 *
 * CREATE MATERIALIZED VIEW v2 AS SELECT ... FROM v1, with v1 a continuous
 * view in append mode, makes v2 a continuous view over v1's new rows:
 *
 *	- v1 gets an output stream: a stream foreign table of pg_stream's own,
 *	  stream."<v1>_out", with v1's columns, recorded in v1's row of
 *	  stream.cq (output_stream) and dropped with v1 (an internal
 *	  dependency). It is made when the first view reading v1 is created.
 *	  From then on every batch of v1 inserts its new rows into it, in the
 *	  batch's transaction (sinks/sink.c, beside v1's own sink), so the
 *	  rows are there exactly when v1's batch commits; a batch replayed
 *	  after a crash was never committed, nor were its rows.
 *	- v2's query reads v1 through that stream: every time the query is
 *	  analysed (CREATE, each batch) the range-table entry of v1 is made a
 *	  scan of the output stream, so v2 has positions in it, reads each of
 *	  v1's batches once, in its own transactions, and the stream's buffer
 *	  is cleaned once every reader has read it -- everything a stream
 *	  does. v2's definition keeps naming v1, so PostgreSQL records that
 *	  v2 depends on v1 (DROP v1 needs CASCADE), and pg_dump writes v2 as
 *	  it was written; the output stream and v1's stream.cq row are dumped
 *	  with the rest, and a restored chain goes on.
 *	- v2's owner needs SELECT on v1 (checked whenever the query is
 *	  analysed, as the owner); the output stream itself is pg_stream's,
 *	  written and read only for the views.
 *	- Event time: when v1 groups by a window over event time (tumble or
 *	  a column of hop), its window column is the output stream's event
 *	  time, with a watermark delay of 0: v1 writes a window once the
 *	  watermark has passed its end, and every window of a start in the
 *	  same batch, so a later batch's windows all start after the earlier
 *	  ones and v2 never sees a late row. v2's watermark is then the latest
 *	  window start v1 has written, which trails v1's own watermark by at
 *	  most a window. A view without aggregation of one stream that passes
 *	  on its event time gives it to v2 with that stream's delay; a join
 *	  or a union of several streams, session windows and other views give
 *	  v2 no event time (a join's match, or a lagging stream's row, would
 *	  be late by v2's watermark though v1 had it in time).
 *	- v1 in update or complete mode is refused: its rows change, and a
 *	  stream only appends. Its changelog is there for who wants it:
 *	  v1's sink = 'a stream' gets its changed rows each batch.
 *
 * v2 reads v1's rows written after v2 was created, as a view created over
 * a stream reads the rows that arrive from then on. The output stream is
 * made by the analysis of the first query that reads v1 (CREATE, or the
 * first REFRESH of a view created WITH NO DATA), and kept while v1 lives.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "meta/meta.h"
#include "sources/sources.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* v1's output stream, or InvalidOid (v1 a continuous view) */
static Oid
output_stream_of(Oid v1)
{
	CqMeta		row;
	PgsUser		saved;
	bool		found;

	pgs_become_superuser(&saved);
	found = meta_cq_get(v1, &row);
	pgs_restore_user(&saved);
	return found ? row.output_stream : InvalidOid;
}

/*
 * The event time v1's rows carry: the view column (0 if none) and the
 * watermark's delay.
 */
static AttrNumber
output_event_time(CqDef *cq, int64 *delay)
{
	ListCell   *lc;

	*delay = 0;
	if (cq->is_agg)
	{
		if (cq->window_key < 0 || cq->session_col)
			return 0;
		return cq->key_viewcols[cq->window_key];
	}

	/*
	 * Only a view of one stream writes each row in the batch that read it,
	 * so that the stream's delay bounds how late v2 sees it. A join writes
	 * a match when its second side arrives, up to the join's bound after
	 * the first (an outer join's NULL-padded row later still); a union of
	 * streams writes each stream's rows as they come, one stream lagging
	 * behind another, where its own watermark is the least of theirs. Over
	 * either, v2's watermark (the latest written, minus a delay) would
	 * judge late rows that v1 had in time. So do the shares of a view
	 * with parallelism > 1 (engine/parallel.c): each writes the rows it
	 * read, one share behind another, under the least of their times.
	 */
	if (cq->join != NULL || list_length(cq->streams) != 1 || cq->opts.parallelism > 1)
		return 0;
	foreach(lc, cq->wm_streams)
		*delay = Max(*delay, ((CqTime *) lfirst(lc))->delay);
	foreach(lc, cq->query->targetList)
	{
		TargetEntry *tle = lfirst(lc);
		Oid			relid;
		AttrNumber	attno;
		ListCell   *lt;

		if (tle->resjunk || !pgs_stream_column_of(cq->query, (Node *) tle->expr,
												  &relid, &attno))
			continue;
		foreach(lt, cq->wm_streams)
		{
			CqTime	   *t = lfirst(lt);

			if (t->relid == relid && t->attno == attno)
				return tle->resno;
		}
	}
	return 0;
}

/* make v1's output stream (as the extension's superuser) */
static Oid
create_output_stream(Oid v1, CqDef *cq)
{
	Relation	rel = table_open(v1, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	Oid			nsp = get_namespace_oid(PG_STREAM_SCHEMA, false);
	char	   *name = ChooseRelationName(RelationGetRelationName(rel), NULL, "out",
										  nsp, false);
	StringInfoData sql;
	AttrNumber	et;
	int64		delay;
	Oid			relid;
	ObjectAddress dep,
				ref;
	int			n = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE FOREIGN TABLE %s (",
					 quote_qualified_identifier(PG_STREAM_SCHEMA, name));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			elog(ERROR, "continuous view \"%s\" has a dropped column",
				 RelationGetRelationName(rel));
		appendStringInfo(&sql, "%s%s %s", n++ ? ", " : "",
						 quote_identifier(NameStr(att->attname)),
						 format_type_extended(att->atttypid, att->atttypmod,
											  FORMAT_TYPE_TYPEMOD_GIVEN |
											  FORMAT_TYPE_FORCE_QUALIFY));
		if (OidIsValid(att->attcollation) && att->attcollation != DEFAULT_COLLATION_OID)
			appendStringInfo(&sql, " COLLATE %s", generate_collation_name(att->attcollation));
	}
	appendStringInfoString(&sql, ") SERVER stream");
	et = output_event_time(cq, &delay);
	if (et > 0)
	{
		Interval   *iv = palloc0(sizeof(Interval));

		iv->time = delay;
		appendStringInfo(&sql, " OPTIONS (event_time %s, watermark %s)",
						 quote_literal_cstr(NameStr(TupleDescAttr(desc, et - 1)->attname)),
						 quote_literal_cstr(DatumGetCString(DirectFunctionCall1(interval_out,
																				IntervalPGetDatum(iv)))));
	}
	table_close(rel, NoLock);

	SPI_connect();
	if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create the output stream of \"%s\"", get_rel_name(v1));
	SPI_finish();
	CommandCounterIncrement();
	relid = get_relname_relid(name, nsp);
	ObjectAddressSet(dep, RelationRelationId, relid);
	ObjectAddressSet(ref, RelationRelationId, v1);
	recordDependencyOn(&dep, &ref, DEPENDENCY_INTERNAL);
	meta_cq_set_output_stream(v1, relid);
	CommandCounterIncrement();
	return relid;
}

/*
 * The stream that range-table entry rte, a continuous view read by
 * another one, stands for; made if missing. A view not in append mode is
 * refused, or with refused given, sets it and gives InvalidOid.
 */
static Oid
chain_source(RangeTblEntry *rte, bool *refused)
{
	Oid			v1 = rte->relid;
	Oid			out;
	CqDef	   *cq;
	AclResult	acl;

	acl = pg_class_aclcheck(v1, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_MATVIEW, get_rel_name(v1));
	out = output_stream_of(v1);
	if (OidIsValid(out))
	{
		/* kept until this reader commits (see pgs_chain_check_options) */
		LockRelationOid(out, AccessShareLock);
		return out;
	}

	/* one CREATE at a time makes it, between v1's batches */
	LockRelationOid(v1, ShareUpdateExclusiveLock);
	out = output_stream_of(v1);
	if (OidIsValid(out))
		return out;
	cq = pgs_load_cq(v1, pgs_cq_options(v1));
	if (cq->mode != OUTPUT_APPEND && refused)
	{
		*refused = true;
		return InvalidOid;
	}
	/* (its hint's sink is refused there: engine/reagg.c) */
	if (cq->stage_update)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a continuous view cannot read continuous view \"%s\", in update mode",
						get_rel_name(v1)),
				 errdetail("A view read as a stream gives its new rows, and the rows of a query over an aggregation without a window are retracted and replaced."),
				 errhint("Group the inner aggregation of \"%s\" by a window over event time, for a view in append mode. For a copy of its rows as they are now, CREATE TABLE ... AS SELECT.",
						 get_rel_name(v1))));
	if (cq->mode != OUTPUT_APPEND)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a continuous view cannot read continuous view \"%s\", in %s mode",
						get_rel_name(v1), cq->mode == OUTPUT_COMPLETE ? "complete" : "update"),
				 errdetail("A view read as a stream gives its new rows, and only a view in append mode has rows that never change."),
				 errhint("Give \"%s\" output_mode 'append' (windows over event time), or read its changelog: ALTER MATERIALIZED VIEW %s SET (sink = 'a_stream') and read that stream. For a copy of its rows as they are now, CREATE TABLE ... AS SELECT.",
						 get_rel_name(v1), get_rel_name(v1))));
	{
		PgsUser		saved;

		pgs_become_superuser(&saved);
		out = create_output_stream(v1, cq);
		pgs_restore_user(&saved);
	}
	return out;
}

typedef struct ChainWalk
{
	bool	   *refused;		/* not NULL: set it instead of refusing */
	Oid			reader;			/* valid: the views of a started view */
} ChainWalk;

/*
 * Does started view reader read v1 as a stream: has it a position in v1's
 * output stream? A continuous view started before continuous views were
 * read as streams (0.1, or before this view's output stream was made)
 * read v1 as a table, a stream joined with it, and still does.
 */
static bool
reads_as_stream(Oid reader, Oid out)
{
	ListCell   *lc;

	foreach(lc, meta_positions_of_stream(out))
		if (((PositionRow *) lfirst(lc))->view == reader)
			return true;
	return false;
}

static bool
chain_walker(Node *node, void *ctx)
{
	ChainWalk  *w = ctx;

	if (node == NULL)
		return false;
	if (IsA(node, RangeTblEntry))
	{
		RangeTblEntry *rte = (RangeTblEntry *) node;

		/* (not a rule's OLD and NEW, which name the view itself) */
		if (rte->rtekind == RTE_RELATION && rte->relkind == RELKIND_MATVIEW &&
			rte->inFromCl && meta_cq_exists(rte->relid))
		{
			Oid			out;

			if (OidIsValid(w->reader))
			{
				out = output_stream_of(rte->relid);
				if (!OidIsValid(out) || !reads_as_stream(w->reader, out))
					return false;	/* read as a table, as it always was */
			}
			out = chain_source(rte, w->refused);
			if (!OidIsValid(out))
				return true;	/* a view that cannot be read: *refused */
			/* v1's SELECT was checked above: the stream is ours */
			rte->relid = out;
			rte->relkind = RELKIND_FOREIGN_TABLE;
			rte->requiredPerms = 0;
			rte->checkAsUser = InvalidOid;
		}
		return false;
	}
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, chain_walker, ctx,
								 QTW_EXAMINE_RTES_BEFORE);
	return expression_tree_walker(node, chain_walker, ctx);
}

/*
 * In query (rewritten), read each continuous view as its output stream,
 * made if it is missing (the first view to read it).
 */
void
pgs_chain_rewrite(Query *query)
{
	ChainWalk	w = {NULL, InvalidOid};

	(void) chain_walker((Node *) query, &w);
}

/*
 * As pgs_chain_rewrite, but false (query half rewritten, to be thrown
 * away) when it reads a view in update or complete mode, instead of the
 * refusal: for the first REFRESH of a materialized view defined WITH NO
 * DATA before the view it reads was started -- as pg_dump restores an
 * ordinary materialized view over a continuous view of any mode, which
 * stays the ordinary one it was (0.1 made every such view ordinary).
 */
bool
pgs_chain_rewrite_readable(Query *query)
{
	bool		refused = false;
	ChainWalk	w = {&refused, InvalidOid};

	(void) chain_walker((Node *) query, &w);
	return !refused;
}

/*
 * The query of continuous view reader. Started (a batch, ALTER, a
 * restored view's first REFRESH): the continuous views it has positions
 * in the output streams of become those streams; the others it reads as
 * tables, as when it was started (a view of 0.1 joining a stream with a
 * continuous view keeps doing so). Not started yet (the first REFRESH of
 * a view created WITH NO DATA): as pgs_chain_rewrite.
 */
void
pgs_chain_rewrite_view(Query *query, Oid reader)
{
	ChainWalk	w = {NULL, InvalidOid};

	Assert(OidIsValid(reader));
	if (meta_cq_exists(reader))
		w.reader = reader;
	(void) chain_walker((Node *) query, &w);
}

/*
 * New options of view (cq, analysed with them): a view others read stays
 * in append mode, since they read its new rows as final. Once no view
 * reads it any more (none has positions in its output stream), another
 * mode drops the output stream, which its batches would otherwise write
 * for nobody, and a reader's CREATE makes it again, refusing the mode
 * then: a reader's CREATE finding the stream does not analyse the view.
 */
void
pgs_chain_check_options(Oid view, CqDef *cq)
{
	Oid			out;
	List	   *readers;
	ObjectAddress obj;
	PgsUser		saved;

	if (cq->mode == OUTPUT_APPEND)
	{
		ListCell   *lc;

		/* the shares of a view of one stream: see output_event_time */
		if (cq->is_agg || cq->opts.parallelism <= 1)
			return;
		out = output_stream_of(view);
		if (!OidIsValid(out))
			return;
		foreach(lc, GetForeignTable(out)->options)
			if (strcmp(((DefElem *) lfirst(lc))->defname, "event_time") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("continuous view \"%s\" gives the views that read it event time: its parallelism stays 1",
								get_rel_name(view)),
						 errdetail("Its shares would write their rows one share behind another, and its readers' watermark would drop the lagging share's rows."),
						 errhint("Create another view of the same query with parallelism.")));
		return;
	}
	out = output_stream_of(view);
	if (!OidIsValid(out))
		return;
	/*
	 * No reader is being created meanwhile (chain_source locks the
	 * stream), and those committed while this waited are seen.
	 */
	LockRelationOid(out, AccessExclusiveLock);
	PushActiveSnapshot(GetLatestSnapshot());
	readers = meta_positions_of_stream(out);
	PopActiveSnapshot();
	if (readers != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("continuous view \"%s\" has been read by other continuous views: its output mode stays append",
						get_rel_name(view)),
				 errdetail("They read its new rows as a stream, and rows in update or complete mode change."),
				 errhint("Create another view in that mode, or drop the views that read this one first.")));
	pgs_become_superuser(&saved);
	meta_cq_set_output_stream(view, InvalidOid);
	/* the view's internal dependent, made an object of its own first */
	deleteDependencyRecordsForClass(RelationRelationId, out, RelationRelationId,
									DEPENDENCY_INTERNAL);
	CommandCounterIncrement();
	ObjectAddressSet(obj, RelationRelationId, out);
	performDeletion(&obj, DROP_RESTRICT, PERFORM_DELETION_INTERNAL);
	CommandCounterIncrement();
	pgs_restore_user(&saved);
}
