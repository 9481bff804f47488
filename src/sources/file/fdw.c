/*-------------------------------------------------------------------------
 *
 * fdw.c
 *	  The "file" foreign-data wrapper: a file stream's options and their
 *	  checks (the kit's validator, sources/source.c, runs them), and the
 *	  rights to its files.
 *
 * Reading server files needs pg_read_server_files (or superuser), like
 * COPY FROM a file; deleting, archiving or writing files needs
 * pg_write_server_files too. A continuous view reads as its owner, so the
 * owner's rights are checked when the view is created (not only when a
 * batch runs, as the bootstrap superuser does the bookkeeping).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "formats/formats.h"
#include "sources/sources.h"
#include "sources/file/file_int.h"

#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "commands/defrem.h"
#include "common/hashfn.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/acl.h"

static FileMeta
parse_meta(const char *v)
{
	if (strcmp(v, "filename") == 0)
		return FMETA_FILENAME;
	if (strcmp(v, "line") == 0)
		return FMETA_LINE;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"meta\": \"%s\"", v),
			 errhint("Valid values are filename and line.")));
	return FMETA_NONE;
}

static FileClean
parse_clean(const char *v)
{
	if (strcmp(v, "off") == 0)
		return CLEAN_OFF;
	if (strcmp(v, "delete") == 0)
		return CLEAN_DELETE;
	if (strcmp(v, "archive") == 0)
		return CLEAN_ARCHIVE;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"clean\": \"%s\"", v),
			 errhint("Valid values are off, delete and archive.")));
	return CLEAN_OFF;
}

/*
 * Refuse roleid without the privileges of role needed (pg_read_server_files
 * or pg_write_server_files) to do action ("read the files of ..."), as
 * COPY with a file does. One check for every file-stream path here (the
 * current user setting options or writing, a view's owner reading or
 * writing a file sink), so that they give the same error.
 */
void
file_check_server_files_role(Oid roleid, Oid needed, const char *action,
							const char *detail)
{
	if (has_privs_of_role(roleid, needed))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("role \"%s\" may not %s", GetUserNameFromId(roleid, false), action),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint("Only roles with privileges of the \"%s\" role may, as for COPY with a file: grant it to role \"%s\", or act as a role that has it.",
					 GetUserNameFromId(needed, false), GetUserNameFromId(roleid, false))));
}

/*
 * Whether role may have the files of t read for it (by a continuous view
 * it owns): pg_read_server_files, and pg_write_server_files with clean.
 * Checked at CREATE MATERIALIZED VIEW and ALTER ... OWNER TO for the
 * view's owner (file_check_view_reader), not only when a batch runs, so a
 * view that could never run is not created.
 */
void
file_check_reader(FileTable *t, Oid role)
{
	const char *detail = "A continuous view over a file stream runs with its owner's privileges.";

	file_check_server_files_role(role, ROLE_PG_READ_SERVER_FILES,
								 psprintf("read the files of %s", t->what), detail);
	if (t->clean != CLEAN_OFF)
		file_check_server_files_role(role, ROLE_PG_WRITE_SERVER_FILES,
									 psprintf("delete or move the files of %s", t->what), detail);
}

FileTable *
file_table(Relation rel)
{
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));
	FileTable  *t = palloc0(sizeof(FileTable));
	TupleDesc	desc = RelationGetDescr(rel);
	bool	   *data = palloc0(sizeof(bool) * desc->natts);
	ListCell   *lc;

	t->relid = RelationGetRelid(rel);
	t->relname = pstrdup(RelationGetRelationName(rel));
	t->what = psprintf("file stream \"%s\"", t->relname);
	t->pattern = "*";
	t->max_files = -1;
	t->compression = pq_parse_compression("snappy");
	foreach(lc, ft->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "path") == 0)
			t->dir = defGetString(def);
		else if (strcmp(def->defname, "pattern") == 0)
			t->pattern = defGetString(def);
		else if (strcmp(def->defname, "max_files_per_batch") == 0)
			t->max_files = pgs_defel_int64(def, 1, INT_MAX, ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE);
		else if (strcmp(def->defname, "clean") == 0)
			t->clean = parse_clean(defGetString(def));
		else if (strcmp(def->defname, "archive_path") == 0)
			t->archive = defGetString(def);
		else if (strcmp(def->defname, "on_error") == 0)
			t->on_error_stop = pgs_on_error_stop(def);
		else if (strcmp(def->defname, "compression") == 0)
			t->compression = pq_parse_compression(defGetString(def));
		/* "name=value;" of each option, in order */
		t->options_hash = hash_bytes_extended((const unsigned char *) def->defname,
											  strlen(def->defname), t->options_hash);
		t->options_hash = hash_bytes_extended((const unsigned char *) defGetString(def),
											  strlen(defGetString(def)), t->options_hash + 1);
	}
	if (t->dir == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("%s has no option \"path\"", t->what)));
	t->desc = desc;
	t->meta = palloc0(sizeof(FileMeta) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		if (TupleDescAttr(desc, i)->attisdropped)
			continue;
		foreach(lc, GetForeignColumnOptions(t->relid, i + 1))
		{
			DefElem    *def = lfirst_node(DefElem, lc);

			if (strcmp(def->defname, "meta") == 0)
				t->meta[i] = parse_meta(defGetString(def));
		}
		data[i] = (t->meta[i] == FMETA_NONE);
	}
	pgs_decoder_init(&t->dec, desc, data, ft->options, PGS_FORMAT_JSON, t->what);
	return t;
}

/*
 * The kit's check_reader (src/ddl.c): refuse a continuous view owned by
 * role over file stream rel that role may not read (CREATE MATERIALIZED
 * VIEW, ALTER ... OWNER TO).
 */
void
file_check_view_reader(Relation rel, Oid role)
{
	file_check_reader(file_table(rel), role);
}

/*
 * The kit's check_sink (sinks/sink.c): a view owned by owner may write
 * its rows into file table rel, its sink given as name, only if owner may
 * write server files.
 */
void
file_check_sink(Relation rel, const char *name, Oid owner)
{
	file_check_server_files_role(owner, ROLE_PG_WRITE_SERVER_FILES,
								 psprintf("use file table \"%s\" as the sink of a continuous view", name),
								 "A file sink writes files on the server, as the view's owner.");
}

/*------------------------------------------------------------------------
 * Options (the kit's validator, sources/source.c)
 *------------------------------------------------------------------------
 */
/* compression: the codec of the Parquet files INSERT and a sink write */
static void
check_compression(DefElem *def)
{
	(void) pq_parse_compression(defGetString(def));
}

/* path and archive_path: absolute, and only for who may read server files */
static void
check_path(DefElem *def)
{
	char	   *v = defGetString(def);

	file_check_server_files_role(GetUserId(), ROLE_PG_READ_SERVER_FILES,
								 psprintf("set option \"%s\"", def->defname), NULL);
	if (!is_absolute_path(v))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"%s\" must be an absolute path: \"%s\"",
						def->defname, v)));
}

static void
check_pattern(DefElem *def)
{
	char	   *v = defGetString(def);

	if (strchr(v, '/'))
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"pattern\" matches file names, not paths: \"%s\"", v)));
}

static void
check_clean(DefElem *def)
{
	(void) parse_clean(defGetString(def));
}

static void
check_meta(DefElem *def)
{
	(void) parse_meta(defGetString(def));
}

const SourceOption file_options[] = {
	PGS_OPT_CUSTOM("path", PGS_OPT_TABLE, check_path),
	PGS_OPT_CUSTOM("pattern", PGS_OPT_TABLE, check_pattern),
	PGS_OPT_FORMAT_OPTIONS,
	{"header", PGS_OPT_TABLE, PGS_CHECK_FORMAT},
	PGS_OPT_INT("max_files_per_batch", PGS_OPT_TABLE, 1, INT_MAX),
	PGS_OPT_CUSTOM("clean", PGS_OPT_TABLE, check_clean),
	PGS_OPT_CUSTOM("archive_path", PGS_OPT_TABLE, check_path),
	{"on_error", PGS_OPT_TABLE, PGS_CHECK_ON_ERROR},
	PGS_OPT_CUSTOM("compression", PGS_OPT_TABLE, check_compression),
	PGS_OPT_EVENT_TIME_OPTIONS,
	PGS_OPT_CUSTOM("meta", PGS_OPT_COLUMN, check_meta),
	{NULL}
};

/* a table's options that need one another */
void
file_validate(List *options, Oid catalog)
{
	ListCell   *lc;
	bool		has_path = false;
	FileClean	clean = CLEAN_OFF;
	bool		has_archive = false;

	if (catalog != ForeignTableRelationId)
		return;
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		has_path |= (strcmp(def->defname, "path") == 0);
		has_archive |= (strcmp(def->defname, "archive_path") == 0);
		if (strcmp(def->defname, "clean") == 0)
			clean = parse_clean(defGetString(def));
	}
	if (!has_path)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a file stream needs option \"path\""),
				 errhint("Give the directory to watch, as in OPTIONS (path '/data/incoming').")));
	if (clean == CLEAN_ARCHIVE && !has_archive)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("option clean 'archive' needs option \"archive_path\"")));
	if (clean != CLEAN_OFF)
		file_check_server_files_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES,
									 "delete or move the files of a file stream", NULL);
}
