/*-------------------------------------------------------------------------
 *
 * sink.c
 *	  Where a batch's output goes besides the view (Spark's sinks): the
 *	  view options sink, sink_function, sink_function_per_row and
 *	  notify_channel.
 *
 *	  sink = 'a table'		 the output rows are written there;
 *	  sink = 'a stream'		 a foreign table of ours that takes INSERT:
 *							 a stream (the rows feed the views reading it,
 *							 in the same transaction: a chain of views is
 *							 exactly-once), a kafka topic (one message a
 *							 row), a file directory (one file a batch);
 *	  sink = 'notify'		 NOTIFY, one JSON object per row, on the
 *							 channel notify_channel (default: the view's
 *							 name): LISTEN in psql is a console;
 *							 {"batch_id": b, "row": i, "data": {...}}:
 *							 PostgreSQL folds identical payloads of a
 *							 transaction into one, so the batch and the
 *							 row's number make each row's its own;
 *	  sink_function			 f(batch_id bigint, rows) once per batch
 *							 (foreachBatch), rows a jsonb array of objects
 *							 or an array of a composite type;
 *	  sink_function_per_row	 f(batch_id bigint, row) for each row
 *							 (foreach), row jsonb or a composite type.
 *
 * What "the output rows" are follows the output mode: append, the new
 * rows; update, the rows the batch changed (a table sink is upserted on
 * the view's group keys, which needs a unique index on them there, and
 * loses the groups that HAVING takes out of the view; other sinks get the
 * changed rows as a changelog); complete, every row of the view, each
 * batch (a table sink is replaced).
 *
 * Everything runs in the batch's transaction, as the view's owner, from
 * SQL over the batch's rows (an ephemeral named relation, as a trigger's
 * transition table): a table or stream sink changes with the view or not
 * at all, so it is exactly-once. Kafka, files and functions with effects
 * outside PostgreSQL see a batch again if it is replayed after a crash:
 * at-least-once (a file sink rewrites the same file name, so it ends
 * exactly-once; NOTIFY is sent only at commit).
 *
 * Columns go by name: each column of the view needs a column of the same
 * name in the sink, of a type its values can be assigned to.
 *
 * The SQL built here runs as the view's owner with the owner's default
 * search_path, which may hold schemas others can create in: so every name
 * in it is qualified -- relations and functions by their schema,
 * pg_catalog's functions and types as pg_catalog.x, and operators as
 * OPERATOR(schema.op), the equality of a key's type found in its type
 * cache -- and an object of the same name earlier in the search_path is
 * never the one called.
 *
 * A file sink writes files on the server, as COPY TO a file does: the
 * view's owner needs the privileges of pg_write_server_files, checked
 * when the sink is set (CREATE, ALTER ... SET (sink = ...)), not only
 * when the first batch runs.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "sources/sources.h"
#include "engine/cq.h"
#include "sinks/sinks.h"

#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_operator.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#define SINK_ROWS "pgs_sink_rows"
#define SINK_DELETED "pgs_sink_deleted"
#define NOTIFY_MAX_PAYLOAD 8000

bool
pgs_has_sink(CqDef *cq)
{
	return cq->opts.sink || cq->opts.sink_function || cq->opts.sink_function_per_row;
}

/* a table (upserted, replaced), not a foreign table (appended to) */
static bool
is_plain_table(char relkind)
{
	return relkind == RELKIND_RELATION || relkind == RELKIND_PARTITIONED_TABLE;
}

static bool
is_notify(const char *sink)
{
	return sink && strcmp(sink, "notify") == 0;
}

/* the view's column names, quoted, with a prefix ("r.") and separator */
static char *
column_list(TupleDesc desc, const char *prefix)
{
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		appendStringInfo(&buf, "%s%s%s", first ? "" : ", ", prefix,
						 quote_identifier(NameStr(att->attname)));
		first = false;
	}
	return buf.data;
}

/* the view's group keys, quoted */
static char *
key_list(CqDef *cq, TupleDesc vdesc)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; k < cq->nkeys; k++)
		appendStringInfo(&buf, "%s%s", k ? ", " : "",
						 quote_identifier(NameStr(TupleDescAttr(vdesc, cq->key_viewcols[k] - 1)->attname)));
	return buf.data;
}

static char *
qualified_rel_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

/* a unique index of the sink on exactly these columns (any order) */
static bool
has_unique_index_on(Relation rel, List *attnums)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;

	foreach(lc, indexes)
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index ind;
		bool		match;

		if (!HeapTupleIsValid(tup))
			continue;
		ind = (Form_pg_index) GETSTRUCT(tup);
		match = ind->indisunique && ind->indnkeyatts == list_length(attnums) &&
			heap_attisnull(tup, Anum_pg_index_indpred, NULL) &&
			heap_attisnull(tup, Anum_pg_index_indexprs, NULL);
		for (int k = 0; match && k < ind->indnkeyatts; k++)
			match = list_member_int(attnums, ind->indkey.values[k]);
		ReleaseSysCache(tup);
		if (match)
			return true;
	}
	return false;
}

/* a sink relation: checked against the view, returned qualified */
static char *
check_sink_relation(Oid viewid, CqDef *cq, const char *name)
{
	List	   *names = stringToQualifiedNameList(name);
	Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList(names), AccessShareLock, false);
	Relation	rel = table_open(relid, AccessShareLock);
	Relation	vrel = table_open(viewid, AccessShareLock);
	TupleDesc	vdesc = RelationGetDescr(vrel);
	char		kind = rel->rd_rel->relkind;
	bool		is_table = is_plain_table(kind);
	List	   *keyatts = NIL;
	AclMode		needed = ACL_INSERT;

	if (relid == viewid)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a continuous view cannot be its own sink")));
	if (!is_table && !(kind == RELKIND_FOREIGN_TABLE && pgs_is_stream_relation(relid) &&
					   GetFdwRoutineForRelation(rel, false)->ExecForeignInsert != NULL))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" cannot be the sink of a continuous view", name),
				 errhint("A sink is a table, a stream, a kafka or file foreign table, or 'notify'.")));
	for (int i = 0; i < vdesc->natts; i++)
	{
		Form_pg_attribute vatt = TupleDescAttr(vdesc, i);
		AttrNumber	a;
		Oid			stype;

		if (vatt->attisdropped)
			continue;
		a = get_attnum(relid, NameStr(vatt->attname));
		if (a == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("sink \"%s\" has no column \"%s\"", name, NameStr(vatt->attname)),
					 errhint("The sink takes the view's columns by name.")));
		stype = TupleDescAttr(RelationGetDescr(rel), a - 1)->atttypid;
		if (!can_coerce_type(1, &vatt->atttypid, &stype, COERCION_ASSIGNMENT))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of sink \"%s\" is of type %s, which the view's %s cannot be assigned to",
							NameStr(vatt->attname), name, format_type_be(stype),
							format_type_be(vatt->atttypid))));
		for (int k = 0; k < cq->nkeys; k++)
			if (cq->key_viewcols[k] == i + 1)
				keyatts = lappend_int(keyatts, a);
	}
	if (is_table && cq->is_agg && cq->mode == OUTPUT_UPDATE)
	{
		if (cq->nkeys > 0 && !has_unique_index_on(rel, keyatts))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("table \"%s\" needs a unique index on the view's group keys to be an update-mode sink", name),
					 errdetail("In update mode a table sink is upserted on the group keys."),
					 errhint("CREATE UNIQUE INDEX ON %s (%s) NULLS NOT DISTINCT, or use a stream as the sink for a changelog.",
							 name, key_list(cq, vdesc))));
		needed |= ACL_UPDATE | ACL_SELECT | ACL_DELETE;
	}
	if (is_table && cq->mode == OUTPUT_COMPLETE)
		needed |= ACL_DELETE;
	/* the sink is written as the view's owner (who may be given it later) */
	if (pg_class_aclcheck(relid, pgs_rel_owner(viewid), needed) != ACLCHECK_OK)
	{
		if (pgs_rel_owner(viewid) == GetUserId())
			aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(kind), name);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not write sink \"%s\" of continuous view \"%s\"",
						GetUserNameFromId(pgs_rel_owner(viewid), false), name,
						get_rel_name(viewid)),
				 errdetail("A view's sink is written with its owner's privileges.")));
	}
	if (kind == RELKIND_FOREIGN_TABLE)
		pgs_source_check_sink(rel, name, pgs_rel_owner(viewid));

	{
		ObjectAddress view = {RelationRelationId, viewid, 0};
		ObjectAddress sink = {RelationRelationId, relid, 0};

		recordDependencyOn(&view, &sink, DEPENDENCY_NORMAL);
	}
	table_close(vrel, AccessShareLock);
	table_close(rel, AccessShareLock);
	return qualified_rel_name(relid);
}

/* a sink function: f(bigint, rows) or, per row, f(bigint, row) */
static char *
check_sink_function(Oid viewid, const char *name, bool per_row)
{
	Oid			fn = DatumGetObjectId(DirectFunctionCall1(strchr(name, '(') ? regprocedurein : regprocin,
														  CStringGetDatum(name)));
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	Oid			argtype;
	Oid			rowtype;
	bool		ok;
	const char *option = per_row ? "sink_function_per_row" : "sink_function";

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	argtype = proc->pronargs == 2 ? proc->proargtypes.values[1] : InvalidOid;
	rowtype = per_row ? argtype : get_element_type(argtype);
	ok = proc->pronargs == 2 && proc->proargtypes.values[0] == INT8OID &&
		proc->prokind == PROKIND_FUNCTION && !proc->proretset &&
		(argtype == JSONBOID || (OidIsValid(rowtype) && type_is_rowtype(rowtype)));
	ReleaseSysCache(tup);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("function %s cannot be a %s", format_procedure(fn), option),
				 per_row ?
				 errhint("It takes (batch_id bigint, row jsonb) or (batch_id bigint, row <a composite type>).") :
				 errhint("It takes (batch_id bigint, rows jsonb) or (batch_id bigint, rows <a composite type>[]).")));
	if (pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		aclcheck_error(ACLCHECK_NO_PRIV, OBJECT_FUNCTION, get_func_name(fn));
	if (argtype != JSONBOID)
	{
		/* rows are cast to the type by position: the same number of columns */
		TupleDesc	td = lookup_rowtype_tupdesc(rowtype, -1);
		Relation	vrel = table_open(viewid, AccessShareLock);
		int			n1 = 0,
					n2 = 0;

		for (int i = 0; i < td->natts; i++)
			n1 += !TupleDescAttr(td, i)->attisdropped;
		for (int i = 0; i < RelationGetDescr(vrel)->natts; i++)
			n2 += !TupleDescAttr(RelationGetDescr(vrel), i)->attisdropped;
		ReleaseTupleDesc(td);
		table_close(vrel, AccessShareLock);
		if (n1 != n2)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("type %s of the rows of %s has %d columns, the view %d",
							format_type_be(rowtype), option, n1, n2)));
	}
	{
		ObjectAddress view = {RelationRelationId, viewid, 0};
		ObjectAddress func = {ProcedureRelationId, fn, 0};

		recordDependencyOn(&view, &func, DEPENDENCY_NORMAL);
	}
	return format_procedure_qualified(fn);
}

/*
 * Check the sink options of view viewid against it, and make the view
 * depend on its sink and functions (DROP TABLE of a sink needs CASCADE);
 * returns the options with names qualified, as they are stored.
 */
List *
pgs_sink_check(Oid viewid, CqDef *cq, List *options)
{
	List	   *result = NIL;
	ListCell   *lc;
	bool		notify = false;
	bool		channel = false;

	deleteDependencyRecordsForClass(RelationRelationId, viewid, RelationRelationId,
									DEPENDENCY_NORMAL);
	deleteDependencyRecordsForClass(RelationRelationId, viewid, ProcedureRelationId,
									DEPENDENCY_NORMAL);
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		char	   *v = defGetString(def);

		if (strcmp(def->defname, "sink") == 0)
		{
			notify = is_notify(v);
			if (!notify)
				v = check_sink_relation(viewid, cq, v);
		}
		else if (strcmp(def->defname, "sink_function") == 0)
			v = check_sink_function(viewid, v, false);
		else if (strcmp(def->defname, "sink_function_per_row") == 0)
			v = check_sink_function(viewid, v, true);
		else if (strcmp(def->defname, "notify_channel") == 0)
		{
			channel = true;
			if (*v == '\0' || strlen(v) >= NAMEDATALEN)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid value for option \"notify_channel\": \"%s\"", v),
						 errhint("A channel is a name of up to %d bytes.", NAMEDATALEN - 1)));
		}
		result = lappend(result, makeDefElem(def->defname, (Node *) makeString(v), -1));
	}
	if (channel && !notify)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"notify_channel\" needs sink = 'notify'")));
	return result;
}

/*------------------------------------------------------------------------
 * A batch's delivery
 *------------------------------------------------------------------------
 */
static void
register_rows(const char *name, Oid viewid, Tuplestorestate *ts)
{
	EphemeralNamedRelation enr = palloc0(sizeof(EphemeralNamedRelationData));

	tuplestore_rescan(ts);
	enr->md.name = (char *) name;
	enr->md.reliddesc = viewid;
	enr->md.tupdesc = NULL;
	enr->md.enrtype = ENR_NAMED_TUPLESTORE;
	enr->md.enrtuples = tuplestore_tuple_count(ts);
	enr->reldata = ts;
	if (SPI_register_relation(enr) != SPI_OK_REL_REGISTER)
		elog(ERROR, "could not register the rows of a sink");
}

static void
run(const char *sql, int nargs, Oid *argtypes, Datum *args, int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, argtypes, args, NULL, false, 0);

	if (rc != expected)
		elog(ERROR, "sink statement failed (%s): %s", SPI_result_code_string(rc), sql);
}

/* OPERATOR(schema.=), the default equality of type typid */
static char *
qualified_equality(Oid typid)
{
	TypeCacheEntry *tc = lookup_type_cache(typid, TYPECACHE_EQ_OPR);
	HeapTuple	tup;
	char	   *result;

	if (!OidIsValid(tc->eq_opr))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify an equality operator for type %s",
						format_type_be(typid))));
	tup = SearchSysCache1(OPEROID, ObjectIdGetDatum(tc->eq_opr));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for operator %u", tc->eq_opr);
	result = psprintf("OPERATOR(%s.%s)",
					  quote_identifier(get_namespace_name(((Form_pg_operator) GETSTRUCT(tup))->oprnamespace)),
					  NameStr(((Form_pg_operator) GETSTRUCT(tup))->oprname));
	ReleaseSysCache(tup);
	return result;
}

/* the rows into the sink relation; returns how many it took */
/*
 * Whether sink (a view's option, or NULL) is a kafka table with delivery
 * 'exactly_once', whose messages wait in the outbox for the view's worker
 * (sources/kafka/outbox.c).
 */
bool
pgs_sink_has_outbox(const char *sink)
{
	Oid			relid;

	if (sink == NULL || is_notify(sink))
		return false;
	/*
	 * (locked till the transaction ends: a batch that found the sink
	 * at-least-once delivers to it so, as no ALTER FOREIGN TABLE can change
	 * its delivery meanwhile; engine/batch.c, batch_open)
	 */
	relid = RangeVarGetRelid(makeRangeVarFromNameList(stringToQualifiedNameList(sink)),
							 AccessShareLock, true);
	return OidIsValid(relid) && pgs_kafka_sink_exactly_once(relid);
}

static int64
deliver_to_relation(CqDef *cq, TupleDesc vdesc, const char *src, bool have_deleted)
{
	int64		sent;
	Oid			relid = DatumGetObjectId(DirectFunctionCall1(regclassin, CStringGetDatum(cq->opts.sink)));
	char	   *sink = qualified_rel_name(relid);
	bool		is_table = is_plain_table(get_rel_relkind(relid));
	char	   *cols = column_list(vdesc, "");
	char	   *rcols = column_list(vdesc, "r.");
	StringInfoData sql;

	initStringInfo(&sql);
	if (is_table && cq->mode == OUTPUT_COMPLETE)
		run(psprintf("DELETE FROM %s", sink), 0, NULL, NULL, SPI_OK_DELETE);
	appendStringInfo(&sql, "INSERT INTO %s AS t (%s) SELECT %s FROM %s r",
					 sink, cols, rcols, src);
	if (is_table && cq->is_agg && cq->mode == OUTPUT_UPDATE && cq->nkeys > 0)
	{
		bool		first = true;

		appendStringInfo(&sql, " ON CONFLICT (%s) DO ", key_list(cq, vdesc));
		for (int i = 0; i < vdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(vdesc, i);
			bool		key = false;
			const char *c = quote_identifier(NameStr(att->attname));

			for (int k = 0; k < cq->nkeys; k++)
				key |= (cq->key_viewcols[k] == i + 1);
			if (att->attisdropped || key)
				continue;
			appendStringInfo(&sql, "%s%s = EXCLUDED.%s", first ? "UPDATE SET " : ", ", c, c);
			first = false;
		}
		if (first)
			appendStringInfoString(&sql, "NOTHING");
	}
	run(sql.data, 0, NULL, NULL, SPI_OK_INSERT);
	sent = (int64) SPI_processed;

	if (is_table && have_deleted)
	{
		/* groups HAVING took out of the view leave the sink too */
		resetStringInfo(&sql);
		appendStringInfo(&sql, "DELETE FROM %s t USING %s d WHERE ", sink, SINK_DELETED);
		for (int k = 0; k < cq->nkeys; k++)
		{
			const char *name = NameStr(TupleDescAttr(vdesc, cq->key_viewcols[k] - 1)->attname);
			const char *c = quote_identifier(name);
			Oid			stype = get_atttype(relid, get_attnum(relid, name));

			/* t.c IS NOT DISTINCT FROM d.c, with the equality named */
			appendStringInfo(&sql, "%s(t.%s %s d.%s::%s OR (t.%s IS NULL AND d.%s IS NULL))",
							 k ? " AND " : "", c, qualified_equality(stype), c,
							 format_type_be_qualified(stype), c, c);
		}
		run(sql.data, 0, NULL, NULL, SPI_OK_DELETE);
	}
	return sent;
}

static void
deliver_to_function(const char *fname, bool per_row, int64 batch_id, TupleDesc vdesc,
					const char *src)
{
	Oid			fn = DatumGetObjectId(DirectFunctionCall1(regprocedurein, CStringGetDatum(fname)));
	Oid			argtypes[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(batch_id)};
	Oid		   *fargs;
	int			nargs;
	char	   *rowexpr;
	char	   *f = quote_qualified_identifier(get_namespace_name(get_func_namespace(fn)),
											   get_func_name(fn));

	(void) get_func_signature(fn, &fargs, &nargs);
	if (fargs[1] == JSONBOID)
		rowexpr = "pg_catalog.to_jsonb(r)";
	else
		rowexpr = psprintf("ROW(%s)::%s", column_list(vdesc, "r."),
						   format_type_be_qualified(per_row ? fargs[1] : get_element_type(fargs[1])));
	if (per_row)
		run(psprintf("SELECT %s($1, %s) FROM %s r", f, rowexpr, src),
			1, argtypes, args, SPI_OK_SELECT);
	else if (fargs[1] == JSONBOID)
		run(psprintf("SELECT %s($1, coalesce((SELECT pg_catalog.jsonb_agg(%s) FROM %s r), '[]'::pg_catalog.jsonb))",
					 f, rowexpr, src),
			1, argtypes, args, SPI_OK_SELECT);
	else
		run(psprintf("SELECT %s($1, ARRAY(SELECT %s FROM %s r))", f, rowexpr, src),
			1, argtypes, args, SPI_OK_SELECT);
}

/*
 * NOTIFY each row, as {"batch_id": b, "row": i, "data": <the row as
 * jsonb>} (i from 1, in the order of the batch's rows): no two payloads of
 * a batch are the same, so PostgreSQL folds none. A payload must be
 * shorter than NOTIFY_MAX_PAYLOAD bytes; a row too long for that is sent
 * as {"batch_id": b, "row": i, "data": null, "data_bytes": n}, so that a
 * listener still sees every row and knows it has to read that one from
 * the view, and a warning says how many there were.
 */
static void
deliver_notify(CqDef *cq, int64 batch_id, const char *src)
{
	Oid			argtypes[2] = {TEXTOID, INT8OID};
	Datum		args[2];
	const char *channel = cq->opts.notify_channel;
	int64		too_long;
	bool		isnull;

	if (channel == NULL)
		channel = get_rel_name(cq->viewid);
	args[0] = CStringGetTextDatum(channel);
	args[1] = Int64GetDatum(batch_id);
	run(psprintf("SELECT pg_catalog.count(*) FILTER (WHERE n.long), "
				 "pg_catalog.count(pg_catalog.pg_notify($1, CASE WHEN n.long "
				 "THEN pg_catalog.format('{\"batch_id\": %%s, \"row\": %%s, \"data\": null, \"data_bytes\": %%s}', "
				 "$2, n.i, pg_catalog.octet_length(n.d)) ELSE n.p END) IS NULL) "
				 "FROM (SELECT m.i, m.d, m.p, "
				 "pg_catalog.octet_length(m.p) OPERATOR(pg_catalog.>=) %d AS long "
				 "FROM (SELECT r.i, r.d, pg_catalog.format('{\"batch_id\": %%s, \"row\": %%s, \"data\": %%s}', $2, r.i, r.d) AS p "
				 "FROM (SELECT pg_catalog.row_number() OVER () AS i, "
				 "pg_catalog.to_jsonb(r)::pg_catalog.text AS d FROM %s r) r) m) n",
				 NOTIFY_MAX_PAYLOAD, src),
		2, argtypes, args, SPI_OK_SELECT);
	too_long = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (too_long > 0)
		ereport(WARNING,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("continuous view %s: " INT64_FORMAT " rows too long for a notification on channel \"%s\" were sent without their data",
						cq->viewname, too_long, channel),
				 errdetail("A notification's payload is shorter than %d bytes.", NOTIFY_MAX_PAYLOAD),
				 errhint("Their payload has \"data\": null and \"data_bytes\"; read those rows from the view.")));
}

/*
 * Deliver a batch's output: rows (the new or changed rows of the view's
 * row type; NULL in complete mode: the whole view) and, in update mode,
 * deleted (rows of groups HAVING took out of the view, for their keys).
 * Runs as the view's owner, in the batch's transaction. Returns how many
 * rows were sent (in complete mode, the view's).
 */
int64
pgs_sink_deliver(CqDef *cq, int64 batch_id, Tuplestorestate *rows, Tuplestorestate *deleted)
{
	Relation	vrel = table_open(cq->viewid, AccessShareLock);
	TupleDesc	vdesc = RelationGetDescr(vrel);
	const char *src = rows ? SINK_ROWS : cq->viewname;
	bool		have_deleted = deleted && tuplestore_tuple_count(deleted) > 0;
	int64		sent = -1;		/* rows a sink relation took */

	Assert(cq != NULL && batch_id > 0);
	SPI_connect();
	if (rows)
		register_rows(SINK_ROWS, cq->viewid, rows);
	if (have_deleted)
		register_rows(SINK_DELETED, cq->viewid, deleted);
	if (cq->opts.sink && is_notify(cq->opts.sink))
		deliver_notify(cq, batch_id, src);
	else if (cq->opts.sink)
	{
		/* a file sink names its files after the batch (sources/file/write.c) */
		BatchRun   *run = pgs_batchrun_current();

		Assert(run != NULL && run->is_batch && run->viewid == cq->viewid &&
			   run->batch_id == batch_id);
		run->in_sink = true;
		run->sink_files = 0;
		sent = deliver_to_relation(cq, vdesc, src, have_deleted);
		run->in_sink = false;
	}
	if (cq->opts.sink_function)
		deliver_to_function(cq->opts.sink_function, false, batch_id, vdesc, src);
	if (cq->opts.sink_function_per_row)
		deliver_to_function(cq->opts.sink_function_per_row, true, batch_id, vdesc, src);
	if (rows)
		sent = tuplestore_tuple_count(rows);
	else if (sent < 0)
	{
		/* the whole view went to a notify or a function sink: count it */
		bool		isnull;

		run(psprintf("SELECT count(*) FROM %s", cq->viewname), 0, NULL, NULL, SPI_OK_SELECT);
		sent = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
										   &isnull));
	}
	SPI_finish();
	table_close(vrel, AccessShareLock);
	return sent;
}
