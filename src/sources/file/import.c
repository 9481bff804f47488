/*-------------------------------------------------------------------------
 *
 * import.c
 *	  IMPORT FOREIGN SCHEMA for file streams: one table for a directory,
 *	  its columns inferred from sample records (see below).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "formats/formats.h"
#include "sources/sources.h"
#include "sources/file/file_int.h"

#include <stdio.h>

#include "catalog/pg_authid.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#define FILE_IMPORT_SAMPLE 100	/* records sampled by IMPORT FOREIGN SCHEMA */

/*------------------------------------------------------------------------
 * IMPORT FOREIGN SCHEMA: one table for the directory, columns from samples
 *------------------------------------------------------------------------
 *
 * IMPORT FOREIGN SCHEMA "/the/directory" FROM SERVER s INTO schema
 * [OPTIONS (format 'csv', header 'true', pattern '*.csv', ...)] makes one
 * foreign table, named after the directory (LIMIT TO (name) names it),
 * with the given options; its columns come from up to FILE_IMPORT_SAMPLE
 * records of its oldest files: json keys, or csv header fields (csv
 * without a header: c1, c2, ...), typed as formats/infer.c says; text
 * gets one column "line". Parquet: the top-level fields of the schemas of
 * its oldest files (up to FILE_IMPORT_PARQUET_FILES), in order, typed as
 * formats/parquet.c maps them (a nested field: jsonb); files that are not
 * Parquet are skipped, with a notice.
 */
#define FILE_IMPORT_PARQUET_FILES 10

typedef struct PqSchema
{
	int			fd;
	int64		size;
	const char *path;
	List	   *names;
	List	   *types;
} PqSchema;

static void
pq_schema(void *arg)
{
	PqSchema   *s = arg;

	pq_schema_columns(s->fd, s->size, s->path, &s->names, &s->types);
}

/* the columns of the Parquet files of t into sql; how many */
static int
parquet_columns(FileTable *t, FileEntry *files, int nfiles, StringInfo sql)
{
	PqSchema	s = {0};
	int			n = 0;
	ListCell   *ln,
			   *lt;

	for (int i = 0; i < nfiles && i < FILE_IMPORT_PARQUET_FILES; i++)
	{
		char	   *path = psprintf("%s/%s", t->dir, files[i].name);
		FILE	   *f = AllocateFile(path, "r");
		ErrorData  *edata;

		if (f == NULL)
			continue;
		s.fd = fileno(f);
		s.size = files[i].size;
		s.path = path;
		if ((edata = pgs_try(pq_schema, &s)) != NULL)
		{
			ereport(NOTICE,
					(errmsg("%s: file \"%s\" skipped: %s", t->what, files[i].name,
							edata->message)));
			FreeErrorData(edata);
		}
		FreeFile(f);
	}
	forboth(ln, s.names, lt, s.types)
	{
		char	   *name = lfirst(ln);

		if (name[0] == '\0' || strlen(name) >= NAMEDATALEN)
		{
			ereport(NOTICE,
					(errmsg("%s: field \"%.40s\" cannot be a column name, left out",
							t->what, name)));
			continue;
		}
		appendStringInfo(sql, "%s%s %s", n ? ", " : "", quote_identifier(name),
						 (char *) lfirst(lt));
		n++;
	}
	return n;
}
typedef struct CsvSplit
{
	PgsDecoder *d;
	const char *rec;
	char	  **fields;
	int			n;
} CsvSplit;

static void
csv_split(void *arg)
{
	CsvSplit   *s = arg;

	s->n = pgs_csv_fields(s->d, s->rec, &s->fields);
}

List *
file_ImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	FileTable	t = {0};
	char	   *tabname;
	List	   *keys = NIL;
	int			nfiles;
	FileEntry  *files;
	int			nsampled = 0;
	StringInfoData sql;
	StringInfoData rec;
	ListCell   *lc;
	int			ncols;
	CsvSplit	split = {&t.dec};

	file_check_server_files_role(GetUserId(), ROLE_PG_READ_SERVER_FILES,
								 psprintf("read the files of directory \"%s\"", stmt->remote_schema), NULL);
	t.dir = stmt->remote_schema;
	t.what = psprintf("directory \"%s\"", t.dir);
	t.pattern = "*";
	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "pattern") == 0)
			t.pattern = defGetString(def);
	}
	pgs_decoder_options(&t.dec, stmt->options, PGS_FORMAT_JSON, t.what);
	tabname = strrchr(t.dir, '/') ? strrchr(t.dir, '/') + 1 : t.dir;
	if (stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO && list_length(stmt->table_list) == 1)
		tabname = ((RangeVar *) linitial(stmt->table_list))->relname;
	if (*tabname == '\0')
		tabname = "files";

	files = file_list_files(&t, &nfiles);
	initStringInfo(&rec);
	for (int i = 0; i < nfiles && nsampled < FILE_IMPORT_SAMPLE &&
		 t.dec.format != PGS_FORMAT_PARQUET; i++)
	{
		FILE	   *f = AllocateFile(psprintf("%s/%s", t.dir, files[i].name), "r");
		int64		bytes = 0,
					lines = 0;
		bool		first = true;

		if (f == NULL)
			continue;
		while (nsampled < FILE_IMPORT_SAMPLE && file_next_record(f, &t, &rec, &bytes, &lines))
		{
			bool		header = (t.dec.header && first);
			ErrorData  *edata;

			first = false;
			nsampled++;
			if (t.dec.format == PGS_FORMAT_JSON && !file_blank(rec.data, rec.len))
				(void) pgs_sample_json(rec.data, rec.len, &keys);
			if (t.dec.format != PGS_FORMAT_CSV || file_blank(rec.data, rec.len))
				continue;
			split.rec = rec.data;
			if ((edata = pgs_try(csv_split, &split)) != NULL)
			{
				FreeErrorData(edata);	/* a bad record tells nothing */
				continue;
			}
			/* header fields name the columns; without a header: c1, c2, ... */
			for (int k = 0; k < split.n; k++)
			{
				if (header)
					(void) pgs_sample_key(&keys, split.fields[k] ? split.fields[k] : "");
				else if (!t.dec.header)
					pgs_sample_text(pgs_sample_key(&keys, psprintf("c%d", k + 1)), split.fields[k]);
				else if (k < list_length(keys))
					pgs_sample_text(list_nth(keys, k), split.fields[k]);
			}
		}
		FreeFile(f);
	}

	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE FOREIGN TABLE %s (", quote_identifier(tabname));
	ncols = 0;
	if (t.dec.format == PGS_FORMAT_PARQUET)
		ncols = parquet_columns(&t, files, nfiles, &sql);
	else if (t.dec.format != PGS_FORMAT_TEXT)
		ncols = pgs_sample_columns(&sql, keys, t.what);
	if (ncols == 0 && t.dec.format != PGS_FORMAT_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
				 errmsg("%s: no %s records to infer columns from", t.what,
						t.dec.format == PGS_FORMAT_JSON ? "JSON" :
						t.dec.format == PGS_FORMAT_PARQUET ? "Parquet" : "CSV"),
				 errhint("Put sample files there first, or create the foreign table by hand.")));
	if (ncols == 0)
		appendStringInfoString(&sql, "line text");
	appendStringInfo(&sql, ") SERVER %s OPTIONS (path %s",
					 quote_identifier(server->servername), quote_literal_cstr(t.dir));
	foreach(lc, stmt->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		appendStringInfo(&sql, ", %s %s", quote_identifier(def->defname),
						 quote_literal_cstr(defGetString(def)));
	}
	appendStringInfoChar(&sql, ')');
	ereport(DEBUG1, (errmsg("%s: %d records sampled", t.what, nsampled)));
	return list_make1(sql.data);
}
