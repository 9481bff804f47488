/*-------------------------------------------------------------------------
 *
 * file.c
 *	  The "file" source: a directory of files, each read exactly once, in
 *	  modification-time order (Spark's file source); and INSERT, which
 *	  writes files there.
 *
 * Files. A stream reads the regular files of its directory ("path") whose
 * names match "pattern" (a glob, default *). Names that start with "." or
 * end with ".tmp" are files still being written: they are skipped until
 * they are renamed, so files must be moved in atomically (write
 * .name or name.tmp, then mv). Files are taken in order of modification
 * time, then name, at most max_files_per_batch per batch.
 *
 * Records. Each line is a record (json: one object per line; csv: a
 * record may go on over lines inside a quoted field; text: the line);
 * blank lines are skipped in json and csv. A csv file with header 'true'
 * starts with a header line, skipped. Columns with the option meta take
 * the file's name ('filename') or the record's line number ('line').
 *
 * Positions. A position is {"done": [names], "file": name, "offset":
 * bytes, "line": n}: the files read to their end, and the file being read
 * with how far (a large file is split over batches at a record boundary,
 * at most max_batch_rows records a batch). It is stored with the batch, so
 * a file is read exactly once across crashes. The done list keeps only
 * names still in the directory: a name that leaves it and comes back is a
 * new file.
 *
 * Clean-up ("clean" delete or archive to "archive_path") happens only
 * once every view reading the stream has read the file in a committed
 * batch: a batch first cleans the files that all committed positions
 * list as done (never those marked done by its own transaction), so a
 * crash can never lose a file that a view has not read.
 *
 * INSERT writes each statement's rows as one new file in the table's
 * format, written under a hidden name and renamed into place when the
 * transaction commits (removed if it aborts), so readers never see a
 * partial file. The file is part-<transaction id>-<n>.<format>; as the
 * sink of a continuous view, <view>-<batch id>.<format>, so a batch that
 * is replayed after a crash rewrites the same file instead of adding one.
 *
 * Reading server files needs pg_read_server_files (or superuser), like
 * COPY FROM a file; deleting, archiving or writing files needs
 * pg_write_server_files too.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_stream.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/reloptions.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(file_fdw_handler);
PG_FUNCTION_INFO_V1(file_fdw_validator);

#define FILE_IDLE_POLL_MS 250	/* how often an idle stream looks again */
#define FILE_IMPORT_SAMPLE 100	/* records sampled by IMPORT FOREIGN SCHEMA */

typedef enum FileMeta
{
	FMETA_NONE,
	FMETA_FILENAME,
	FMETA_LINE
} FileMeta;

typedef enum FileClean
{
	CLEAN_OFF,
	CLEAN_DELETE,
	CLEAN_ARCHIVE
} FileClean;

typedef struct FileTable
{
	Oid			relid;
	char	   *relname;
	char	   *what;			/* file stream "name", for messages */
	char	   *dir;
	char	   *pattern;
	int64		max_files;
	FileClean	clean;
	char	   *archive;
	bool		on_error_stop;
	TupleDesc	desc;
	FileMeta   *meta;
	PgsDecoder	dec;
} FileTable;

static const char *const table_opts[] = {"path", "pattern", "format", "delimiter", "quote",
	"escape", "null", "header", "max_files_per_batch", "clean", "archive_path", "on_error", "event_time", "watermark", NULL};
static const char *const column_opts[] = {"meta", NULL};

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

static void
check_server_files_role(Oid role, const char *what)
{
	if (!has_privs_of_role(GetUserId(), role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", what),
				 errhint("Only roles with privileges of the \"%s\" role may, as for COPY with a file.",
						 GetUserNameFromId(role, false))));
}

static FileTable *
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

/*------------------------------------------------------------------------
 * The directory
 *------------------------------------------------------------------------
 */
typedef struct FileEntry
{
	char	   *name;
	struct timespec mtime;
} FileEntry;

static int
entry_cmp(const void *a, const void *b)
{
	const FileEntry *x = a;
	const FileEntry *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

static bool
in_progress_name(const char *name)
{
	size_t		len = strlen(name);

	return name[0] == '.' || (len >= 4 && strcmp(name + len - 4, ".tmp") == 0);
}

/* the stream's files now, oldest first */
static FileEntry *
list_files(FileTable *t, int *n)
{
	DIR		   *dir = AllocateDir(t->dir);
	struct dirent *de;
	int			alloc = 64;
	FileEntry  *files = palloc(sizeof(FileEntry) * alloc);

	*n = 0;
	if (dir == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("%s: could not open directory \"%s\": %m", t->what, t->dir)));
	while ((de = ReadDir(dir, t->dir)) != NULL)
	{
		struct stat st;
		char	   *path;

		if (in_progress_name(de->d_name) ||
			fnmatch(t->pattern, de->d_name, FNM_PERIOD) != 0)
			continue;
		path = psprintf("%s/%s", t->dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;			/* gone meanwhile, or not a file */
		if (*n == alloc)
		{
			alloc *= 2;
			files = repalloc(files, sizeof(FileEntry) * alloc);
		}
		files[*n].name = pstrdup(de->d_name);
		files[*n].mtime = st.st_mtim;
		(*n)++;
	}
	FreeDir(dir);
	qsort(files, *n, sizeof(FileEntry), entry_cmp);
	return files;
}

/*------------------------------------------------------------------------
 * Positions
 *------------------------------------------------------------------------
 */
typedef struct FilePos
{
	HTAB	   *done;			/* names read to their end */
	char	   *file;			/* being read, or NULL */
	int64		offset;
	int64		line;
} FilePos;

typedef struct DoneEntry
{
	char		name[MAXPGPATH];
} DoneEntry;

static HTAB *
done_set(void)
{
	HASHCTL		ctl;

	ctl.keysize = MAXPGPATH;
	ctl.entrysize = sizeof(DoneEntry);
	ctl.hcxt = CurrentMemoryContext;
	return hash_create("pg_stream files done", 256, &ctl,
					   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

static bool
is_done(FilePos *p, const char *name)
{
	return strlen(name) < MAXPGPATH && hash_search(p->done, name, HASH_FIND, NULL) != NULL;
}

static void
set_done(FilePos *p, const char *name, bool done)
{
	if (strlen(name) >= MAXPGPATH)
		elog(ERROR, "file name too long: \"%s\"", name);
	(void) hash_search(p->done, name, done ? HASH_ENTER : HASH_REMOVE, NULL);
}

static char *
jsonb_string(Jsonb *jb, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static void
position_parse(Jsonb *jb, FilePos *p)
{
	JsonbValue *v;

	memset(p, 0, sizeof(FilePos));
	p->done = done_set();
	p->line = 0;
	if (jb == NULL)
		return;
	v = getKeyJsonValueFromContainer(&jb->root, "done", 4, NULL);
	if (v && v->type == jbvBinary)
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
			if (tok == WJB_ELEM && e.type == jbvString)
				set_done(p, pnstrdup(e.val.string.val, e.val.string.len), true);
	}
	p->file = jsonb_string(jb, "file");
	p->offset = pgs_jsonb_get_int64(jb, "offset", 0);
	p->line = pgs_jsonb_get_int64(jb, "line", 0);
}

static Jsonb *
position_jsonb(FilePos *p)
{
	StringInfoData buf;
	HASH_SEQ_STATUS seq;
	DoneEntry  *e;
	char	  **names = palloc(sizeof(char *) * (hash_get_num_entries(p->done) + 1));
	int			n = 0;

	hash_seq_init(&seq, p->done);
	while ((e = hash_seq_search(&seq)) != NULL)
		names[n++] = e->name;
	qsort(names, n, sizeof(char *), pg_qsort_strcmp);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"done\": [");
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, names[i]);
	}
	appendStringInfoChar(&buf, ']');
	if (p->file)
	{
		appendStringInfoString(&buf, ", \"file\": ");
		escape_json(&buf, p->file);
		appendStringInfo(&buf, ", \"offset\": " INT64_FORMAT ", \"line\": " INT64_FORMAT,
						 p->offset, p->line);
	}
	appendStringInfoChar(&buf, '}');
	return pgs_jsonb_from_cstring(buf.data);
}

/*------------------------------------------------------------------------
 * Clean-up: files every view has read, in committed batches
 *------------------------------------------------------------------------
 */
static void
clean_files(FileTable *t, FileEntry *files, int nfiles, FilePos *mine)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(t->relid)};
	List	   *others = NIL;
	PgsUser		saved;
	bool		own_write = false;
	MemoryContext cxt = CurrentMemoryContext;
	ListCell   *lc;

	pgs_become_superuser(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT position, xmin FROM stream.positions WHERE stream = $1",
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read stream.positions");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		pos = SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull);
		TransactionId xmin = DatumGetTransactionId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		MemoryContext old;
		FilePos    *p;

		/* a position of this transaction is not committed yet */
		if (TransactionIdIsCurrentTransactionId(xmin))
			own_write = true;
		old = MemoryContextSwitchTo(cxt);
		p = palloc(sizeof(FilePos));
		position_parse(DatumGetJsonbPCopy(pos), p);
		others = lappend(others, p);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	pgs_restore_user(&saved);
	if (own_write)
		return;

	for (int i = 0; i < nfiles; i++)
	{
		const char *name = files[i].name;
		char	   *path;
		bool		all = is_done(mine, name);

		foreach(lc, others)
			all = all && is_done(lfirst(lc), name);
		if (!all)
			continue;
		path = psprintf("%s/%s", t->dir, name);
		if (t->clean == CLEAN_DELETE ? unlink(path) != 0 :
			rename(path, psprintf("%s/%s", t->archive, name)) != 0)
		{
			if (errno != ENOENT)
			{
				ereport(WARNING,
						(errcode_for_file_access(),
						 errmsg("%s: could not %s \"%s\": %m", t->what,
								t->clean == CLEAN_DELETE ? "delete" : "archive", path)));
				continue;
			}
		}
		/* gone: no longer listed as done (its name may come again) */
		files[i].name = NULL;
		set_done(mine, name, false);
	}
}

/*------------------------------------------------------------------------
 * Reading records
 *------------------------------------------------------------------------
 */
typedef struct FileRecord
{
	int			file;			/* index in the batch's file names */
	int64		line;			/* of its first line, from 1 */
	char	   *text;
	int			len;
} FileRecord;

/*
 * The next record of f into rec (without its line end); false at the end.
 * *bytes and *lines advance by what it took. A csv record goes on over
 * line ends inside quotes.
 */
static bool
next_record(FILE *f, FileTable *t, StringInfo rec, int64 *bytes, int64 *lines)
{
	bool		csv = (t->dec.format == PGS_FORMAT_CSV);
	bool		in_quotes = false;
	int			c;

	resetStringInfo(rec);
	while ((c = getc_unlocked(f)) != EOF)
	{
		(*bytes)++;
		if (c == '\n')
		{
			(*lines)++;
			if (!in_quotes)
				break;
		}
		else if (csv && c == t->dec.quote && (!in_quotes || t->dec.escape == t->dec.quote))
			in_quotes = !in_quotes;
		else if (csv && in_quotes && c == t->dec.escape)
		{
			/* an escaped character inside quotes */
			appendStringInfoChar(rec, (char) c);
			c = getc_unlocked(f);
			if (c == EOF)
				break;
			(*bytes)++;
			if (c == '\n')
				(*lines)++;
		}
		appendStringInfoChar(rec, (char) c);
	}
	if (ferror(f))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("%s: could not read a file: %m", t->what)));
	if (c == EOF && rec->len == 0)
		return false;
	if (c == '\n' && rec->len > 0 && rec->data[rec->len - 1] == '\r')
		rec->data[--rec->len] = '\0';
	return true;
}

static bool
blank(const char *s)
{
	return s[strspn(s, " \t\r\n")] == '\0';
}

typedef struct FileDecode
{
	FileTable  *t;
	char	  **names;
	FileRecord *recs;
} FileDecode;

static void
decode_record(void *arg, int64 i, Datum *values, bool *nulls)
{
	FileDecode *fd = arg;
	FileTable  *t = fd->t;
	FileRecord *r = &fd->recs[i];

	for (int c = 0; c < t->desc->natts; c++)
	{
		if (t->meta[c] == FMETA_FILENAME)
			values[c] = pgs_decoder_input(&t->dec, c, fd->names[r->file]);
		else if (t->meta[c] == FMETA_LINE)
			values[c] = pgs_decoder_input(&t->dec, c, psprintf(INT64_FORMAT, r->line));
		else
			continue;
		nulls[c] = false;
	}
	pgs_decode_record(&t->dec, r->text, r->len, values, nulls);
}

static void
bad_record(void *arg, int64 i, const char *error)
{
	FileDecode *fd = arg;
	FileRecord *r = &fd->recs[i];
	StringInfoData pos;

	initStringInfo(&pos);
	appendStringInfoString(&pos, "{\"file\": ");
	escape_json(&pos, fd->names[r->file]);
	appendStringInfo(&pos, ", \"line\": " INT64_FORMAT "}", r->line);
	pgs_dead_letter(fd->t->relid, fd->t->what, pgs_jsonb_from_cstring(pos.data),
					psprintf("line " INT64_FORMAT " of file \"%s\"", r->line, fd->names[r->file]),
					r->text, r->len, error);
}

/*
 * Read a batch: with a position, the file in progress, then files not
 * done, oldest first; without one (a plain SELECT), every file now.
 */
static void
file_read(Relation rel, Jsonb *position, int64 max_rows, SourceBatch *batch)
{
	FileTable  *t = file_table(rel);
	FilePos		p;
	int			nfiles;
	FileEntry  *files;
	FileEntry **order;
	int			norder = 0;
	FileDecode	fd;
	int64		nrecs = 0;
	int64		alloc = 1024;
	int			taken = 0;
	bool		more = false;
	StringInfoData rec;
	HTAB	   *present;

	if (position)
		check_server_files_role(ROLE_PG_READ_SERVER_FILES, "read the files of a file stream");
	position_parse(position, &p);
	files = list_files(t, &nfiles);
	if (position && t->clean != CLEAN_OFF)
		clean_files(t, files, nfiles, &p);

	/* done names no longer in the directory are forgotten */
	present = done_set();
	for (int i = 0; i < nfiles; i++)
		if (files[i].name && strlen(files[i].name) < MAXPGPATH)
			(void) hash_search(present, files[i].name, HASH_ENTER, NULL);
	{
		HASH_SEQ_STATUS seq;
		DoneEntry  *e;
		List	   *gone = NIL;
		ListCell   *lc;

		hash_seq_init(&seq, p.done);
		while ((e = hash_seq_search(&seq)) != NULL)
			if (hash_search(present, e->name, HASH_FIND, NULL) == NULL)
				gone = lappend(gone, pstrdup(e->name));
		foreach(lc, gone)
			set_done(&p, lfirst(lc), false);
	}
	if (p.file && hash_search(present, p.file, HASH_FIND, NULL) == NULL)
		p.file = NULL;			/* removed half-read: nothing more to read */

	/* the order: the file in progress first */
	order = palloc(sizeof(FileEntry *) * (nfiles + 1));
	for (int i = 0; i < nfiles; i++)
		if (files[i].name && p.file && strcmp(files[i].name, p.file) == 0)
			order[norder++] = &files[i];
	for (int i = 0; i < nfiles; i++)
		if (files[i].name && !is_done(&p, files[i].name) &&
			!(p.file && strcmp(files[i].name, p.file) == 0))
			order[norder++] = &files[i];

	fd.t = t;
	fd.names = palloc(sizeof(char *) * (norder + 1));
	fd.recs = palloc(sizeof(FileRecord) * alloc);
	initStringInfo(&rec);
	for (int i = 0; i < norder; i++)
	{
		FileEntry  *fe = order[i];
		char	   *path = psprintf("%s/%s", t->dir, fe->name);
		bool		resumed = (p.file && strcmp(fe->name, p.file) == 0);
		int64		offset = resumed ? p.offset : 0;
		int64		line = resumed ? p.line : 0;
		FILE	   *f;
		bool		cut = false;

		if ((t->max_files > 0 && taken >= t->max_files) ||
			(max_rows >= 0 && nrecs >= max_rows))
		{
			more = true;
			break;
		}
		f = AllocateFile(path, "r");
		if (f == NULL)
		{
			if (errno == ENOENT)
				continue;		/* gone since the listing */
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("%s: could not open file \"%s\": %m", t->what, path)));
		}
		if (offset > 0 && fseeko(f, offset, SEEK_SET) != 0)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("%s: could not seek in file \"%s\": %m", t->what, path)));
		fd.names[taken++] = fe->name;
		for (;;)
		{
			int64		first_line;

			if (max_rows >= 0 && nrecs >= max_rows)
			{
				cut = true;
				break;
			}
			first_line = line + 1;
			if (!next_record(f, t, &rec, &offset, &line))
				break;
			if (t->dec.header && first_line == 1)
				continue;
			if (t->dec.format != PGS_FORMAT_TEXT && blank(rec.data))
				continue;
			if (nrecs == alloc)
			{
				alloc *= 2;
				fd.recs = repalloc_huge(fd.recs, sizeof(FileRecord) * alloc);
			}
			fd.recs[nrecs].file = taken - 1;
			fd.recs[nrecs].line = first_line;
			fd.recs[nrecs].text = pnstrdup(rec.data, rec.len);
			fd.recs[nrecs].len = rec.len;
			nrecs++;
		}
		/* a file cut at max_rows may still be at its end */
		if (cut && getc_unlocked(f) == EOF)
			cut = false;
		FreeFile(f);
		if (cut)
		{
			p.file = fe->name;
			p.offset = offset;
			p.line = line;
			more = true;
			break;
		}
		p.file = NULL;
		set_done(&p, fe->name, true);
	}

	batch->rows = tuplestore_begin_heap(false, false, work_mem);
	batch->rows_bad = pgs_decode_batch(t->desc, nrecs, decode_record, bad_record, &fd,
									   t->on_error_stop, batch->rows);
	batch->nrows = nrecs;
	batch->start_position = position;
	batch->end_position = position ? position_jsonb(&p) : NULL;
	batch->more = more;
	batch->wait_ms = more ? 0 : FILE_IDLE_POLL_MS;
}

static Jsonb *
file_initial_position(Relation rel)
{
	(void) file_table(rel);		/* checks the options */
	check_server_files_role(ROLE_PG_READ_SERVER_FILES, "read the files of a file stream");
	return pgs_jsonb_from_cstring("{\"done\": []}");
}

/* the files there now */
static Jsonb *
file_mark(Relation rel)
{
	FileTable  *t = file_table(rel);
	int			n;
	FileEntry  *files = list_files(t, &n);
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"files\": [");
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, files[i].name);
	}
	appendStringInfoString(&buf, "]}");
	return pgs_jsonb_from_cstring(buf.data);
}

/* every file of the mark is done, or gone */
static bool
file_reached(Relation rel, Jsonb *position, Jsonb *mark)
{
	FileTable  *t = file_table(rel);
	FilePos		p;
	JsonbValue *v = getKeyJsonValueFromContainer(&mark->root, "files", 5, NULL);
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;

	position_parse(position, &p);
	if (v == NULL || v->type != jbvBinary)
		return true;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
	{
		char	   *name;
		struct stat st;

		if (tok != WJB_ELEM || e.type != jbvString)
			continue;
		name = pnstrdup(e.val.string.val, e.val.string.len);
		if (!is_done(&p, name) &&
			stat(psprintf("%s/%s", t->dir, name), &st) == 0)
			return false;
	}
	return true;
}

const SourceRoutine file_source = {
	.name = "file",
	.initial_position = file_initial_position,
	.read = file_read,
	.mark = file_mark,
	.reached = file_reached,
};

/*------------------------------------------------------------------------
 * INSERT: one new file per statement, renamed into place at commit
 *------------------------------------------------------------------------
 */
typedef struct PendingFile
{
	char	   *tmp;
	char	   *final;
	SubTransactionId subid;
	struct PendingFile *next;
} PendingFile;

static PendingFile *pending_files = NULL;
static bool file_callbacks_registered = false;
static char *sink_file_prefix = NULL;
static int	files_in_sink = 0;		/* files written under sink_file_prefix */
static int	files_in_xact = 0;

/* the name INSERTs into file tables use while a view's sink runs (sinks/) */
void
pgs_file_sink_prefix(const char *prefix)
{
	if (sink_file_prefix)
		pfree(sink_file_prefix);
	sink_file_prefix = prefix ? MemoryContextStrdup(TopMemoryContext, prefix) : NULL;
	files_in_sink = 0;
}

static void
fsync_dir(const char *dir)
{
	int			fd = OpenTransientFile(dir, O_RDONLY);

	if (fd >= 0)
	{
		(void) pg_fsync(fd);
		CloseTransientFile(fd);
	}
}

/*
 * Before the commit, the files are renamed into place (a failure aborts
 * the transaction); at an abort, they are removed.
 */
static void
file_xact_callback(XactEvent event, void *arg)
{
	PendingFile *pf;

	if (event == XACT_EVENT_PRE_COMMIT)
	{
		for (pf = pending_files; pf; pf = pf->next)
			if (rename(pf->tmp, pf->final) != 0)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not rename file \"%s\" to \"%s\": %m",
								pf->tmp, pf->final)));
		for (pf = pending_files; pf; pf = pf->next)
		{
			char	   *dir = pstrdup(pf->final);

			*strrchr(dir, '/') = '\0';
			fsync_dir(dir);
		}
	}
	else if (event == XACT_EVENT_ABORT)
	{
		for (pf = pending_files; pf; pf = pf->next)
			(void) unlink(pf->tmp);
	}
	else
		return;
	while (pending_files)
	{
		pf = pending_files->next;
		pfree(pending_files->tmp);
		pfree(pending_files->final);
		pfree(pending_files);
		pending_files = pf;
	}
	files_in_xact = 0;
}

static void
file_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	PendingFile **link = &pending_files;

	while (*link)
	{
		PendingFile *pf = *link;

		if (pf->subid == mySubid && event == SUBXACT_EVENT_ABORT_SUB)
		{
			(void) unlink(pf->tmp);
			*link = pf->next;
			pfree(pf->tmp);
			pfree(pf->final);
			pfree(pf);
			continue;
		}
		if (pf->subid == mySubid && event == SUBXACT_EVENT_COMMIT_SUB)
			pf->subid = parentSubid;
		link = &pf->next;
	}
}

typedef struct FileInsertState
{
	FileTable  *t;
	PgsEncoder	enc;
	StringInfoData rec;
	StringInfoData out;			/* written when it grows past 64 kB */
	int			fd;				/* -1 until the first row */
	char	   *tmp;
	char	   *final;
	MemoryContext rowcxt;
} FileInsertState;

static const char *
format_ext(PgsFormat f)
{
	return f == PGS_FORMAT_JSON ? "json" : f == PGS_FORMAT_CSV ? "csv" : "txt";
}

static void
file_flush(FileInsertState *st)
{
	char	   *p = st->out.data;
	int			left = st->out.len;

	while (left > 0)
	{
		ssize_t		n = write(st->fd, p, left);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write file \"%s\": %m", st->tmp)));
		}
		p += n;
		left -= n;
	}
	resetStringInfo(&st->out);
}

static void
file_open_output(FileInsertState *st)
{
	FileTable  *t = st->t;
	PendingFile *pf;

	if (!file_callbacks_registered)
	{
		RegisterXactCallback(file_xact_callback, NULL);
		RegisterSubXactCallback(file_subxact_callback, NULL);
		file_callbacks_registered = true;
	}
	files_in_xact++;
	if (sink_file_prefix)
		st->final = psprintf("%s/%s%s.%s", t->dir, sink_file_prefix,
							 ++files_in_sink > 1 ? psprintf("-%d", files_in_sink) : "",
							 format_ext(t->dec.format));
	else
		st->final = psprintf("%s/part-%u-%d.%s", t->dir, GetTopTransactionId(),
							 files_in_xact, format_ext(t->dec.format));
	st->tmp = psprintf("%s/.pg_stream-%d-%u-%d.tmp", t->dir, MyProcPid,
					   GetTopTransactionId(), files_in_xact);
	/* known to the transaction before the file exists: an abort removes it */
	pf = MemoryContextAllocZero(TopMemoryContext, sizeof(PendingFile));
	pf->tmp = MemoryContextStrdup(TopMemoryContext, st->tmp);
	pf->final = MemoryContextStrdup(TopMemoryContext, st->final);
	pf->subid = GetCurrentSubTransactionId();
	pf->next = pending_files;
	pending_files = pf;
	st->fd = OpenTransientFile(st->tmp, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	if (st->fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("%s: could not create file \"%s\": %m", t->what, st->tmp)));
}

static TupleTableSlot *
file_ExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
					   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	FileInsertState *st = rinfo->ri_FdwState;
	MemoryContext old = MemoryContextSwitchTo(st->rowcxt);

	if (st->fd < 0)
		file_open_output(st);
	slot_getallattrs(slot);
	pgs_encode_row(&st->enc, slot, &st->rec);
	appendBinaryStringInfo(&st->out, st->rec.data, st->rec.len);
	appendStringInfoChar(&st->out, '\n');
	if (st->out.len >= 65536)
		file_flush(st);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rowcxt);
	return slot;
}

static void
file_begin_insert(ResultRelInfo *rinfo)
{
	FileInsertState *st = palloc0(sizeof(FileInsertState));

	check_server_files_role(ROLE_PG_WRITE_SERVER_FILES, "write the files of a file stream");
	st->t = file_table(rinfo->ri_RelationDesc);
	pgs_encoder_init(&st->enc, &st->t->dec);
	initStringInfo(&st->rec);
	initStringInfo(&st->out);
	st->fd = -1;
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "file insert", ALLOCSET_DEFAULT_SIZES);
	rinfo->ri_FdwState = st;
}

static void
file_end_insert(ResultRelInfo *rinfo)
{
	FileInsertState *st = rinfo->ri_FdwState;

	if (st == NULL || st->fd < 0)
		return;
	file_flush(st);
	if (pg_fsync(st->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", st->tmp)));
	CloseTransientFile(st->fd);
	st->fd = -1;
}

static void
file_BeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						List *fdw_private, int subplan_index, int eflags)
{
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	file_begin_insert(rinfo);
}

static void
file_EndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	file_end_insert(rinfo);
}

static void
file_BeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	file_begin_insert(rinfo);
}

static void
file_EndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	file_end_insert(rinfo);
}

static List *
file_PlanForeignModify(PlannerInfo *root, ModifyTable *plan,
					   Index resultRelation, int subplan_index)
{
	if (plan->operation != CMD_INSERT)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a file stream takes only INSERT")));
	return NIL;
}

static int
file_IsForeignRelUpdatable(Relation rel)
{
	return 1 << CMD_INSERT;
}

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
 * gets one column "line".
 */
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

static List *
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

	check_server_files_role(ROLE_PG_READ_SERVER_FILES, "read the files of a file stream");
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

	files = list_files(&t, &nfiles);
	initStringInfo(&rec);
	for (int i = 0; i < nfiles && nsampled < FILE_IMPORT_SAMPLE; i++)
	{
		FILE	   *f = AllocateFile(psprintf("%s/%s", t.dir, files[i].name), "r");
		int64		bytes = 0,
					lines = 0;
		bool		first = true;

		if (f == NULL)
			continue;
		while (nsampled < FILE_IMPORT_SAMPLE && next_record(f, &t, &rec, &bytes, &lines))
		{
			bool		header = (t.dec.header && first);
			ErrorData  *edata;

			first = false;
			nsampled++;
			if (t.dec.format == PGS_FORMAT_JSON && !blank(rec.data))
				(void) pgs_sample_json(rec.data, rec.len, &keys);
			if (t.dec.format != PGS_FORMAT_CSV || blank(rec.data))
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
	if (t.dec.format != PGS_FORMAT_TEXT)
		ncols = pgs_sample_columns(&sql, keys, t.what);
	if (ncols == 0 && t.dec.format != PGS_FORMAT_TEXT)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_TABLE_NOT_FOUND),
				 errmsg("%s: no %s records to infer columns from", t.what,
						t.dec.format == PGS_FORMAT_JSON ? "JSON" : "CSV"),
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

/*------------------------------------------------------------------------
 * The FDW
 *------------------------------------------------------------------------
 */
Datum
file_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	pgs_fdw_scan_routines(routine);
	routine->PlanForeignModify = file_PlanForeignModify;
	routine->BeginForeignModify = file_BeginForeignModify;
	routine->ExecForeignInsert = file_ExecForeignInsert;
	routine->EndForeignModify = file_EndForeignModify;
	routine->BeginForeignInsert = file_BeginForeignInsert;
	routine->EndForeignInsert = file_EndForeignInsert;
	routine->IsForeignRelUpdatable = file_IsForeignRelUpdatable;
	routine->ImportForeignSchema = file_ImportForeignSchema;
	PG_RETURN_POINTER(routine);
}

Datum
file_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *lc;
	bool		has_path = false;
	FileClean	clean = CLEAN_OFF;
	bool		has_archive = false;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		char	   *v = defGetString(def);

		if (catalog == ForeignTableRelationId)
		{
			if (strcmp(def->defname, "path") == 0 ||
				strcmp(def->defname, "archive_path") == 0)
			{
				check_server_files_role(ROLE_PG_READ_SERVER_FILES,
										psprintf("set option \"%s\"", def->defname));
				if (!is_absolute_path(v))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("option \"%s\" must be an absolute path: \"%s\"",
									def->defname, v)));
				has_path |= (strcmp(def->defname, "path") == 0);
				has_archive |= (strcmp(def->defname, "archive_path") == 0);
			}
			else if (strcmp(def->defname, "pattern") == 0)
			{
				if (strchr(v, '/'))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("option \"pattern\" matches file names, not paths: \"%s\"", v)));
			}
			else if (strcmp(def->defname, "max_files_per_batch") == 0)
				(void) pgs_defel_int64(def, 1, INT_MAX, ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE);
			else if (strcmp(def->defname, "clean") == 0)
				clean = parse_clean(v);
			else if (strcmp(def->defname, "on_error") == 0)
				(void) pgs_on_error_stop(def);
			else if (!pgs_format_option(def, true) && !pgs_event_time_option(def))
				pgs_reject_unknown_option(def->defname, table_opts, "a file stream");
		}
		else if (catalog == AttributeRelationId)
		{
			if (strcmp(def->defname, "meta") == 0)
				(void) parse_meta(v);
			else
				pgs_reject_unknown_option(def->defname, column_opts, "a column of a file stream");
		}
		else
			pgs_reject_unknown_option(def->defname, NULL,
									  catalog == ForeignServerRelationId ?
									  "a file server" :
									  "foreign-data wrapper \"file\" in this context");
	}
	if (catalog == ForeignTableRelationId)
	{
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
			check_server_files_role(ROLE_PG_WRITE_SERVER_FILES,
									"delete or move the files of a file stream");
	}
	PG_RETURN_VOID();
}
