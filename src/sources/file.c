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
 * Files are known by inode and birth time, not only by name: inode
 * numbers are reused (ext4 gives a freed one to the next file created),
 * so where the file system gives no birth time (statx) a fingerprint of
 * the bytes read (a hash of the last 64 before the offset) stands in for
 * it; the fingerprint is kept always, as in a copy of the directory only
 * the bytes are the same. A position is {"dir": [device, inode, birth
 * time], "done": [[name, inode, bytes, lines, btime, fp], ...], "file":
 * name, "ino": inode, "btime": b, "fp": f, "offset": bytes, "line": n,
 * "gen": "hex"} (see "Positions"; ids only where known): the
 * files read to their end, and the file being read with how far (a large
 * file is split over batches at a record boundary, at most max_batch_rows
 * records a batch). It is stored with the batch, so a file is read exactly
 * once across crashes. A file under a name done but of another inode or
 * birth time (or whose bytes read differ) is a new file (renamed over it,
 * or deleted and created again), read from its start; bytes appended to a
 * file after it was read are read (from where it ended), and a file done
 * keeps its place in the done list until they are, however soon a batch
 * stops; a file that shrank was rewritten: read again from its start,
 * with a warning; a file replaced while half read is read from its start,
 * with a warning (the rest of the old file is gone). The done list keeps
 * only files still in the directory. Inodes and birth times are compared
 * only in the directory they were taken in ("dir", with its birth time: a
 * fresh volume mounted at the same path has the same root inode):
 * restored into another cluster, or with the files copied elsewhere,
 * files are matched by name, size and fingerprint, and take their new
 * identities. An idle
 * worker over an unchanged directory only stat()s it (see the idle cache
 * at file_read).
 *
 * Records hold their exact bytes: one with a NUL byte (or invalid text)
 * is a bad record, and its dead letter shows the bytes as bytea's hex
 * output (formats/decode.c).
 *
 * Clean-up ("clean" delete or archive to "archive_path") happens only
 * once every view reading the stream has read the file in a committed
 * batch: a batch first cleans the files that all committed positions
 * list as done (never those marked done by its own transaction), so a
 * crash can never lose a file that a view has not read. The file is
 * looked at again just before it goes: one that grew since the listing
 * stays, to be read on. An archived file never replaces one already in
 * "archive_path": it takes the name <stem>-2.<ext>, -3, ... as sink files
 * do.
 *
 * INSERT writes each statement's rows as one new file in the table's
 * format, under a hidden temporary name, renamed into place once the
 * transaction has committed -- never over an existing file -- and removed
 * if it aborts; a process that died leaves its temporary files to the
 * next write to the directory (see "INSERT" below for names and recovery).
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
#include "base/batchrun.h"
#include "formats/formats.h"
#include "sources/sources.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdio.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/reloptions.h"
#include "access/table.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

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
	uint64		options_hash;	/* of the table's options (the idle cache) */
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

/*
 * Refuse roleid without the privileges of role needed (pg_read_server_files
 * or pg_write_server_files) to do action ("read the files of ..."), as
 * COPY with a file does. One check for every file-stream path here (the
 * current user setting options or writing, a view's owner reading), so
 * that they give the same error; exported for the file sink (sinks/).
 */
void
pgs_check_server_files_role(Oid roleid, Oid needed, const char *action,
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

static FileTable *file_table(Relation rel);

/*
 * Whether role may have the files of t read for it (by a continuous view
 * it owns): pg_read_server_files, and pg_write_server_files with clean.
 * Checked at CREATE MATERIALIZED VIEW and ALTER ... OWNER TO for the
 * view's owner (pgs_file_check_reader), not only when a batch runs, so a
 * view that could never run is not created.
 */
static void
check_reader(FileTable *t, Oid role)
{
	const char *detail = "A continuous view over a file stream runs with its owner's privileges.";

	pgs_check_server_files_role(role, ROLE_PG_READ_SERVER_FILES,
								psprintf("read the files of %s", t->what), detail);
	if (t->clean != CLEAN_OFF)
		pgs_check_server_files_role(role, ROLE_PG_WRITE_SERVER_FILES,
									psprintf("delete or move the files of %s", t->what), detail);
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
 * For src/ddl.c: refuse a continuous view owned by role over file stream
 * relid that role may not read (CREATE MATERIALIZED VIEW, ALTER ... OWNER
 * TO). Other streams pass.
 */
void
pgs_file_check_reader(Oid relid, Oid role)
{
	Relation	rel;

	if (pgs_source_for_relation(relid) != &file_source)
		return;
	rel = table_open(relid, AccessShareLock);
	check_reader(file_table(rel), role);
	table_close(rel, NoLock);
}

/*------------------------------------------------------------------------
 * The directory
 *------------------------------------------------------------------------
 */
typedef struct FileEntry
{
	char	   *name;
	struct timespec mtime;
	int64		ino;
	int64		btime;			/* birth time, ns since 1970; 0: not known */
	int64		size;
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

/*
 * statx can fail where stat works: ENOSYS on kernels before 4.11 (or
 * under some emulations), EPERM where a seccomp profile refuses a system
 * call it does not know. Were that taken for "no such file", every file
 * would look gone and the stream would silently read nothing; so stat()
 * stands in, without birth times (fingerprints tell files apart then),
 * and statx is not tried again by this process.
 */
static bool statx_unusable = false;

#ifdef STATX_BTIME
/* whether statx failed with errno for want of statx itself */
static bool
statx_refused(void)
{
	if (errno != ENOSYS && errno != EPERM)
		return false;
	statx_unusable = true;
	return true;
}
#endif

/*
 * A file's identity, size and times: of the open file fd, or else of
 * path. Inode numbers are reused (ext4 gives a freed one to the next file
 * created), so the birth time goes with the inode where the file system
 * reports it (statx). False if it is not there (errno says why) or not a
 * regular file (errno 0: it is there, so not gone).
 */
static bool
file_stat(int fd, const char *path, FileEntry *fe)
{
	struct stat st;

#ifdef STATX_BTIME
	if (!statx_unusable)
	{
		struct statx sx;

		if (statx(fd >= 0 ? fd : AT_FDCWD, fd >= 0 ? "" : path, fd >= 0 ? AT_EMPTY_PATH : 0,
				  STATX_BASIC_STATS | STATX_BTIME, &sx) == 0)
		{
			if (!S_ISREG(sx.stx_mode))
			{
				errno = 0;
				return false;
			}
			fe->mtime.tv_sec = sx.stx_mtime.tv_sec;
			fe->mtime.tv_nsec = sx.stx_mtime.tv_nsec;
			fe->ino = (int64) sx.stx_ino;
			fe->size = (int64) sx.stx_size;
			fe->btime = 0;
			if (sx.stx_mask & STATX_BTIME)
				fe->btime = Max((int64) sx.stx_btime.tv_sec * 1000000000 + sx.stx_btime.tv_nsec, 1);
			return true;
		}
		if (!statx_refused())
			return false;
		ereport(LOG,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("statx is not available (%m): files are told apart without birth times")));
	}
#endif
	if ((fd >= 0 ? fstat(fd, &st) : stat(path, &st)) != 0)
		return false;
	if (!S_ISREG(st.st_mode))
	{
		errno = 0;
		return false;
	}
	fe->mtime = st.st_mtim;
	fe->ino = (int64) st.st_ino;
	fe->size = (int64) st.st_size;
	fe->btime = 0;
	return true;
}

/*
 * The birth time of directory path, ns since 1970; 0: not known. With
 * its device and inode it tells the directory the inodes of a position
 * were taken in from another at the same path: a fresh file system
 * mounted there has the same root inode (2 on ext4), and device numbers
 * repeat across machines.
 */
static int64
dir_btime(const char *path)
{
#ifdef STATX_BTIME
	struct statx sx;

	if (statx_unusable)
		return 0;
	if (statx(AT_FDCWD, path, 0, STATX_BTIME, &sx) != 0)
	{
		(void) statx_refused();
		return 0;
	}
	if (sx.stx_mask & STATX_BTIME)
		return Max((int64) sx.stx_btime.tv_sec * 1000000000 + sx.stx_btime.tv_nsec, 1);
#endif
	return 0;
}

/*
 * Where there is no birth time, a fingerprint tells a file from another
 * on the same inode number: a hash of the FILE_FP_BYTES bytes before
 * offset (fewer at a file's start). 0: nothing to tell (offset 0, or not
 * readable).
 */
#define FILE_FP_BYTES 64

static uint64
fingerprint(int fd, int64 offset)
{
	char		buf[FILE_FP_BYTES];
	int			n = (int) Min(offset, FILE_FP_BYTES);
	uint64		h;

	if (n <= 0 || pg_pread(fd, buf, n, offset - n) != n)
		return 0;
	h = hash_bytes_extended((const unsigned char *) buf, n, 0);
	return h != 0 ? h : 1;
}

/*
 * Whether f (listed in t's directory) still holds, before offset, the
 * bytes of fingerprint fp: the same file, grown or not, rather than a new
 * one that took its name and inode number. Without a fingerprint, yes.
 */
static bool
fingerprint_matches(FileTable *t, FileEntry *f, uint64 fp, int64 offset)
{
	int			fd;
	FileEntry	now;
	bool		same;

	if (fp == 0)
		return true;
	fd = OpenTransientFile(psprintf("%s/%s", t->dir, f->name), O_RDONLY | PG_BINARY);
	if (fd < 0)
		return false;
	same = file_stat(fd, NULL, &now) && now.ino == f->ino && fingerprint(fd, offset) == fp;
	CloseTransientFile(fd);
	return same;
}

static void
stat_dir(FileTable *t, struct stat *st)
{
	if (stat(t->dir, st) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("%s: could not open directory \"%s\": %m", t->what, t->dir)));
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
		char	   *path;

		if (in_progress_name(de->d_name) ||
			fnmatch(t->pattern, de->d_name, FNM_PERIOD) != 0)
			continue;
		if (*n == alloc)
		{
			alloc *= 2;
			files = repalloc_huge(files, sizeof(FileEntry) * alloc);
		}
		path = psprintf("%s/%s", t->dir, de->d_name);
		if (!file_stat(-1, path, &files[*n]))
			continue;			/* gone meanwhile, or not a file */
		pfree(path);
		files[*n].name = pstrdup(de->d_name);
		(*n)++;
	}
	FreeDir(dir);
	qsort(files, *n, sizeof(FileEntry), entry_cmp);
	return files;
}

/*------------------------------------------------------------------------
 * Positions
 *------------------------------------------------------------------------
 *
 * {"dir": [device, inode, btime], "done": [[name, inode, bytes, lines,
 *	btime, fp], ...], "file": name, "ino": inode, "btime": b, "fp": f,
 *	"offset": bytes, "line": n, "gen": "hex"}
 *
 * The ids tell a file from a later one on the same inode number: its birth
 * time (a number, ns since 1970) where the file system gives one, and the
 * fingerprint of its bytes before "bytes" or "offset" (a hex string, see
 * fingerprint()); each only when known (a done entry's ids are told apart
 * by type; older positions have one or none: then the name and inode are
 * all that is compared). The birth time is compared like the inode, in the
 * same directory only; the fingerprint before bytes beyond those read are
 * taken as appended, before a file in progress is resumed and before a
 * file is cleaned (it costs a read) -- where the birth times tell, in the
 * same directory, it is not read -- and, in another directory, for a file
 * of the size read.
 *
 * "dir" is the directory's identity when the inodes were taken (its birth
 * time where known; two elements in older positions): in another
 * directory (a restore into another cluster, a copy of the files, path
 * changed, a fresh volume mounted at the same path) inode numbers mean
 * nothing, so files are matched by name, size and fingerprint there, and
 * take their new inodes. "gen" is random, new with each
 * changed position: a position of the same gen is the same position (see
 * the idle cache). Positions of older versions ("done" a list of names,
 * no inodes) are read too: a name alone matches the file of that name.
 */
typedef struct DoneFile
{
	char	   *name;
	int64		ino;			/* 0: unknown (an older position) */
	int64		size;			/* bytes read; -1: unknown */
	int64		lines;
	int64		btime;			/* 0: unknown */
	uint64		fp;				/* 0: none */
} DoneFile;

typedef struct FilePos
{
	DoneFile   *done;			/* sorted by name */
	int			ndone;
	int			alloc;
	bool		has_dir;
	int64		dir_dev;
	int64		dir_ino;
	int64		dir_btime;		/* 0: unknown */
	char	   *file;			/* being read, or NULL */
	int64		file_ino;
	int64		file_btime;
	uint64		file_fp;
	int64		offset;
	int64		line;
	uint64		gen;			/* 0: none */
} FilePos;

static int
done_cmp(const void *a, const void *b)
{
	return strcmp(((const DoneFile *) a)->name, ((const DoneFile *) b)->name);
}

static DoneFile *
find_done(FilePos *p, const char *name)
{
	DoneFile	key = {(char *) name};

	if (p->ndone == 0)
		return NULL;
	return bsearch(&key, p->done, p->ndone, sizeof(DoneFile), done_cmp);
}

/* the new entry's index */
static int
add_done(FilePos *p, const char *name, int64 ino, int64 size, int64 lines,
		 int64 btime, uint64 fp)
{
	if (p->ndone == p->alloc)
	{
		p->alloc = Max(64, p->alloc * 2);
		p->done = p->done ? repalloc_huge(p->done, sizeof(DoneFile) * p->alloc) :
			palloc(sizeof(DoneFile) * p->alloc);
	}
	p->done[p->ndone].name = (char *) name;
	p->done[p->ndone].ino = ino;
	p->done[p->ndone].size = size;
	p->done[p->ndone].lines = lines;
	p->done[p->ndone].btime = btime;
	p->done[p->ndone].fp = fp;
	return p->ndone++;
}

static char *
jsonb_string(Jsonb *jb, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

static int64
jsonb_elem_int64(JsonbValue *v)
{
	if (v == NULL || v->type != jbvNumeric)
		return -1;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
}

/* the position's "gen", without reading the rest (a key look-up) */
static uint64
position_gen(Jsonb *jb)
{
	char	   *s = jb ? jsonb_string(jb, "gen") : NULL;

	return s ? strtou64(s, NULL, 16) : 0;
}

static void
position_parse(Jsonb *jb, FilePos *p)
{
	JsonbValue *v;

	memset(p, 0, sizeof(FilePos));
	if (jb == NULL)
		return;
	v = getKeyJsonValueFromContainer(&jb->root, "done", 4, NULL);
	if (v && v->type == jbvBinary)
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;
		int			depth = 0;
		int			field = 0;
		DoneFile	d = {0};

		while ((tok = JsonbIteratorNext(&it, &e, false)) != WJB_DONE)
		{
			if (tok == WJB_BEGIN_ARRAY && ++depth == 2)
			{
				field = 0;
				memset(&d, 0, sizeof(d));
				d.size = -1;
			}
			else if (tok == WJB_END_ARRAY && depth-- == 2 && d.name)
				(void) add_done(p, d.name, d.ino, d.size, d.lines, d.btime, d.fp);
			else if (tok == WJB_ELEM && depth == 1 && e.type == jbvString)
				(void) add_done(p, pnstrdup(e.val.string.val, e.val.string.len), 0, -1, -1, 0, 0);
			else if (tok == WJB_ELEM && depth == 2)
			{
				if (field == 0 && e.type == jbvString)
					d.name = pnstrdup(e.val.string.val, e.val.string.len);
				else if (field == 1)
					d.ino = Max(jsonb_elem_int64(&e), 0);
				else if (field == 2)
					d.size = jsonb_elem_int64(&e);
				else if (field == 3)
					d.lines = jsonb_elem_int64(&e);
				else if (field >= 4 && e.type == jbvString)
					d.fp = strtou64(pnstrdup(e.val.string.val, e.val.string.len), NULL, 16);
				else if (field >= 4)
					d.btime = Max(jsonb_elem_int64(&e), 0);
				field++;
			}
		}
		if (p->ndone > 1)
			qsort(p->done, p->ndone, sizeof(DoneFile), done_cmp);
	}
	v = getKeyJsonValueFromContainer(&jb->root, "dir", 3, NULL);
	if (v && v->type == jbvBinary)
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;
		int			k = 0;

		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
			if (tok == WJB_ELEM)
			{
				if (k == 0)
					p->dir_dev = jsonb_elem_int64(&e);
				else if (k == 1)
					p->dir_ino = jsonb_elem_int64(&e);
				else if (k == 2)
					p->dir_btime = Max(jsonb_elem_int64(&e), 0);
				k++;
			}
		p->has_dir = (k >= 2);
	}
	p->file = jsonb_string(jb, "file");
	p->file_ino = pgs_jsonb_get_int64(jb, "ino", 0);
	p->file_btime = pgs_jsonb_get_int64(jb, "btime", 0);
	{
		char	   *fp = jsonb_string(jb, "fp");

		p->file_fp = fp ? strtou64(fp, NULL, 16) : 0;
	}
	p->offset = pgs_jsonb_get_int64(jb, "offset", 0);
	p->line = pgs_jsonb_get_int64(jb, "line", 0);
	p->gen = position_gen(jb);
}

static uint64
new_gen(void)
{
	uint64		gen = 0;

	while (gen == 0)
		if (!pg_strong_random(&gen, sizeof(gen)))
			elog(ERROR, "could not generate a random number");
	return gen;
}

/* p as jsonb, with a new gen */
static Jsonb *
position_jsonb(FilePos *p)
{
	StringInfoData buf;

	if (p->ndone > 1)
		qsort(p->done, p->ndone, sizeof(DoneFile), done_cmp);
	p->gen = new_gen();
	initStringInfo(&buf);
	if (p->has_dir && p->dir_btime != 0)
		appendStringInfo(&buf, "{\"dir\": [" INT64_FORMAT ", " INT64_FORMAT ", " INT64_FORMAT "], ",
						 p->dir_dev, p->dir_ino, p->dir_btime);
	else if (p->has_dir)
		appendStringInfo(&buf, "{\"dir\": [" INT64_FORMAT ", " INT64_FORMAT "], ",
						 p->dir_dev, p->dir_ino);
	else
		appendStringInfoChar(&buf, '{');
	appendStringInfoString(&buf, "\"done\": [");
	for (int i = 0; i < p->ndone; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		appendStringInfoChar(&buf, '[');
		escape_json(&buf, p->done[i].name);
		appendStringInfo(&buf, ", " INT64_FORMAT ", " INT64_FORMAT ", " INT64_FORMAT,
						 p->done[i].ino, p->done[i].size, p->done[i].lines);
		/* the ids only when known: the list grows with every file done */
		if (p->done[i].btime != 0)
			appendStringInfo(&buf, ", " INT64_FORMAT, p->done[i].btime);
		if (p->done[i].fp != 0)
			appendStringInfo(&buf, ", \"%" INT64_MODIFIER "x\"", p->done[i].fp);
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoChar(&buf, ']');
	if (p->file)
	{
		appendStringInfoString(&buf, ", \"file\": ");
		escape_json(&buf, p->file);
		appendStringInfo(&buf, ", \"ino\": " INT64_FORMAT, p->file_ino);
		if (p->file_btime != 0)
			appendStringInfo(&buf, ", \"btime\": " INT64_FORMAT, p->file_btime);
		if (p->file_fp != 0)
			appendStringInfo(&buf, ", \"fp\": \"%" INT64_MODIFIER "x\"", p->file_fp);
		appendStringInfo(&buf, ", \"offset\": " INT64_FORMAT ", \"line\": " INT64_FORMAT,
						 p->offset, p->line);
	}
	appendStringInfo(&buf, ", \"gen\": \"%016" INT64_MODIFIER "x\"}", p->gen);
	return pgs_jsonb_from_cstring(buf.data);
}

/*------------------------------------------------------------------------
 * Clean-up: files every view has read, in committed batches
 *------------------------------------------------------------------------
 */
/*
 * Whether position p has read file f to its end: the same name, the same
 * inode and birth time (where known) and every byte. With t, where only
 * a fingerprint tells the file from a new one on the same inode number,
 * the bytes are read to compare it too.
 */
static bool
read_to_end(FileTable *t, FilePos *p, FileEntry *f)
{
	DoneFile   *d = find_done(p, f->name);

	if (d == NULL || (d->ino != 0 && d->ino != f->ino) ||
		(d->btime != 0 && f->btime != 0 && d->btime != f->btime) || d->size < f->size)
		return false;
	return t == NULL || (d->btime != 0 && f->btime != 0) ||
		fingerprint_matches(t, f, d->fp, d->size);
}

/* read_to_end for mine and every position of others */
static bool
all_read_to_end(FileTable *t, FilePos *mine, List *others, FileEntry *f)
{
	ListCell   *lc;

	if (!read_to_end(t, mine, f))
		return false;
	foreach(lc, others)
		if (!read_to_end(t, lfirst(lc), f))
			return false;
	return true;
}

static char *put_in_place(const char *tmp, const char *dir, const char *base,
						  int elevel, bool *gone);

static void
clean_files(FileTable *t, FileEntry *files, int nfiles, FilePos *mine)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(t->relid)};
	List	   *others = NIL;
	PgsUser		saved;
	bool		own_write = false;
	MemoryContext cxt = CurrentMemoryContext;

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
		char	   *name = files[i].name;
		char	   *path;
		FileEntry	now;
		bool		gone = false;

		/* first without reading a byte: most files wait for a view */
		if (!all_read_to_end(NULL, mine, others, &files[i]))
			continue;

		/*
		 * The listing is some time old (the positions were read since):
		 * bytes appended meanwhile would be removed unread. So again, as
		 * close to the removal as can be, and with the fingerprint; a file
		 * that grew stays, and this batch reads the new bytes.
		 */
		path = psprintf("%s/%s", t->dir, name);
		errno = 0;
		if (!file_stat(-1, path, &now))
			gone = (errno == ENOENT);
		else
		{
			now.name = name;
			if (!all_read_to_end(t, mine, others, &now))
			{
				files[i] = now;
				continue;
			}
			if (t->clean == CLEAN_DELETE)
			{
				if (unlink(path) == 0 || errno == ENOENT)
					gone = true;
				else
					ereport(WARNING,
							(errcode_for_file_access(),
							 errmsg("%s: could not delete \"%s\": %m", t->what, path)));
			}
			/* never over a file archived before under the same name */
			else if (put_in_place(path, t->archive, name, WARNING, &gone) != NULL)
				gone = true;
		}
		/* gone: no longer listed, so no longer done (its name may come again) */
		if (gone)
			files[i].name = NULL;
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

/* only spaces and line ends: all len bytes (a NUL is not blank) */
static bool
blank(const char *s, int len)
{
	for (int i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
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
 * The idle cache. An idle worker asks every FILE_IDLE_POLL_MS for more;
 * listing and stat()ing a directory of many files done, and parsing a
 * position that lists them all, each time would cost in proportion to
 * the files done. So a full look that found nothing to read remembers,
 * in this process, the position's gen and the directory's identity and
 * times: while they are the same, nothing came (a file added, removed or
 * renamed changes the directory's modification time), and the next poll
 * only stat()s the directory. A directory changed less than
 * FILE_RACY_MS before the look is not remembered (its times are coarse:
 * a change in the same tick would go unseen); bytes appended to a file
 * read to its end change the file, not the directory, so a full look is
 * made at least every FILE_RESCAN_MS, and at every REFRESH (the cache is
 * the worker's only). The table's options are part of the entry: another
 * pattern, path, format or max_files_per_batch (ALTER FOREIGN TABLE) may
 * find files to read in the same directory.
 */
#define FILE_RACY_MS 1000
#define FILE_RESCAN_MS 60000
#define FILE_IDLE_CACHE_MAX 1024

typedef struct IdleEntry
{
	uint64		gen;			/* key */
	Oid			relid;
	uint64		options_hash;
	dev_t		dev;
	ino_t		ino;
	struct timespec mtime;
	struct timespec ctime;
	TimestampTz looked_at;
} IdleEntry;

static HTAB *idle_cache = NULL;

static bool
idle_same(IdleEntry *e, FileTable *t, struct stat *st)
{
	return e->relid == t->relid && e->options_hash == t->options_hash &&
		e->dev == st->st_dev && e->ino == st->st_ino &&
		e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
		e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec &&
		!TimestampDifferenceExceeds(e->looked_at, GetCurrentTimestamp(), FILE_RESCAN_MS);
}

static bool
idle_hit(FileTable *t, uint64 gen, struct stat *st)
{
	IdleEntry  *e;

	if (idle_cache == NULL || gen == 0 || !IsBackgroundWorker)
		return false;
	e = hash_search(idle_cache, &gen, HASH_FIND, NULL);
	return e != NULL && idle_same(e, t, st);
}

static void
idle_remember(FileTable *t, uint64 gen, struct stat *st, TimestampTz looked_at)
{
	IdleEntry  *e;
	bool		found;
	struct timespec now;

	if (gen == 0 || !IsBackgroundWorker)
		return;
	/* changed too lately to tell a later change by its times */
	clock_gettime(CLOCK_REALTIME, &now);
	if ((int64) (now.tv_sec - st->st_mtim.tv_sec) * 1000 +
		(now.tv_nsec - st->st_mtim.tv_nsec) / 1000000 < FILE_RACY_MS ||
		(int64) (now.tv_sec - st->st_ctim.tv_sec) * 1000 +
		(now.tv_nsec - st->st_ctim.tv_nsec) / 1000000 < FILE_RACY_MS)
		return;
	if (idle_cache && hash_get_num_entries(idle_cache) >= FILE_IDLE_CACHE_MAX)
	{
		hash_destroy(idle_cache);
		idle_cache = NULL;
	}
	if (idle_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(IdleEntry);
		ctl.hcxt = TopMemoryContext;
		idle_cache = hash_create("pg_stream idle file streams", 64, &ctl,
								 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(idle_cache, &gen, HASH_ENTER, &found);
	e->relid = t->relid;
	e->options_hash = t->options_hash;
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	e->mtime = st->st_mtim;
	e->ctime = st->st_ctim;
	e->looked_at = looked_at;
}

/* a file to read in this batch, and from where */
typedef struct FileTodo
{
	FileEntry  *fe;
	int64		offset;
	int64		line;
	int			done;			/* its entry in the new done list, or -1 */
} FileTodo;

/* whether f can be the file of inode ino and birth time btime (0: not known) */
static bool
same_inode(FileEntry *f, int64 ino, int64 btime)
{
	return (ino == 0 || ino == f->ino) &&
		(btime == 0 || f->btime == 0 || btime == f->btime);
}

/*
 * Match the directory's files with position p: the files to read, in
 * order (the file in progress first), into todo; p's done list becomes
 * the files done still there, with their identities. A file is the same
 * file as one done, or as the one in progress, when it has the same name,
 * inode and birth time (or, in another directory than the inodes were
 * taken in, the same name), and, where only a fingerprint is known, the
 * same bytes before those read; then bytes beyond those read were
 * appended and are read; fewer bytes than read means it was truncated (or
 * rewritten): it is read again from its start, with a warning. Another
 * file under a name done is a new file, read from its start; one under
 * the name of the file in progress replaced it: the rest of the old file
 * is lost, with a warning.
 *
 * A file done that grew stays in the done list with the bytes read so far
 * (the todo's "done"; the read updates it): a batch may stop before it
 * (max_files_per_batch, max_batch_rows, a file replaced meanwhile), and
 * the next must go on from there, not read it again. Returns whether p
 * changed.
 */
static bool
reconcile(FileTable *t, FilePos *p, struct stat *dirst, int64 dirbtime,
		  FileEntry *files, int nfiles, FileTodo *todo, int *ntodo)
{
	bool		same_dir = p->has_dir && p->dir_dev == (int64) dirst->st_dev &&
		p->dir_ino == (int64) dirst->st_ino &&
		(p->dir_btime == 0 || dirbtime == 0 || p->dir_btime == dirbtime);
	FilePos		old = *p;
	bool		changed = !same_dir || p->gen == 0 || (p->dir_btime == 0 && dirbtime != 0);
	int			ndone_kept = 0;
	bool		in_progress_found = false;

	*ntodo = 0;
	p->done = NULL;
	p->ndone = p->alloc = 0;
	p->has_dir = true;
	p->dir_dev = (int64) dirst->st_dev;
	p->dir_ino = (int64) dirst->st_ino;
	p->dir_btime = dirbtime;
	for (int i = 0; i < nfiles; i++)
	{
		FileEntry  *f = &files[i];
		DoneFile   *d;

		if (f->name == NULL)
			continue;			/* cleaned */
		if (old.file && strcmp(f->name, old.file) == 0)
		{
			FileTodo	first_todo = {f, old.offset, old.line, -1};
			bool		replaced = same_dir && !same_inode(f, old.file_ino, old.file_btime);

			if (!replaced && f->size < old.offset)
			{
				ereport(WARNING,
						(errcode(ERRCODE_WARNING),
						 errmsg("%s: file \"%s\" was truncated before it was read to its end",
								t->what, f->name),
						 errdetail("It had at least " INT64_FORMAT " bytes and has " INT64_FORMAT " now; it is read again from its start.",
								   old.offset, f->size)));
				first_todo.offset = first_todo.line = 0;
			}
			else if (replaced || (!(same_dir && old.file_btime != 0 && f->btime != 0) &&
								  !fingerprint_matches(t, f, old.file_fp, old.offset)))
			{
				ereport(WARNING,
						(errcode(ERRCODE_WARNING),
						 errmsg("%s: file \"%s\" was replaced before it was read to its end",
								t->what, f->name),
						 errdetail("The rest of the file it replaced, after byte " INT64_FORMAT ", is lost; the new file is read from its start.",
								   old.offset)));
				first_todo.offset = first_todo.line = 0;
			}
			/* first in the order */
			memmove(&todo[1], &todo[0], sizeof(FileTodo) * (*ntodo));
			todo[0] = first_todo;
			(*ntodo)++;
			in_progress_found = true;
			continue;
		}
		/*
		 * Birth times are compared like inodes, only in the directory they
		 * were taken in; elsewhere (a copy) only the bytes tell a file of a
		 * name done from another: compared when it is bigger (else the
		 * rest would be taken as appended) and, in a directory new to the
		 * position (once), when it has the size read.
		 */
		d = find_done(&old, f->name);
		if (d == NULL || (same_dir && !same_inode(f, d->ino, d->btime)) ||
			(d->size >= 0 && (f->size > d->size || (!same_dir && f->size == d->size)) &&
			 !(same_dir && d->btime != 0 && f->btime != 0) &&
			 !fingerprint_matches(t, f, d->fp, d->size)))
		{
			/* new, or a new file under the name of one read */
			todo[(*ntodo)++] = (FileTodo) {f, 0, 0, -1};
			changed |= (d != NULL);
			continue;
		}
		if (d->size < 0 || d->lines < 0)
		{
			/* an older position: the name was all it knew */
			(void) add_done(p, f->name, f->ino, f->size, Max(d->lines, 0), f->btime, 0);
			changed = true;
		}
		else if (f->size == d->size)
		{
			(void) add_done(p, f->name, f->ino, d->size, d->lines, f->btime, d->fp);
			changed |= (d->ino != f->ino || d->btime != f->btime);
		}
		else if (f->size > d->size)
		{
			/* appended to after it was read: the new bytes */
			todo[(*ntodo)++] = (FileTodo) {f, d->size, d->lines,
				add_done(p, f->name, f->ino, d->size, d->lines, f->btime, d->fp)};
			changed = true;
		}
		else
		{
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("%s: file \"%s\" was truncated after it was read",
							t->what, f->name),
					 errdetail("It had " INT64_FORMAT " bytes when read and has " INT64_FORMAT " now; it is read again from its start.",
							   d->size, f->size)));
			todo[(*ntodo)++] = (FileTodo) {f, 0, 0, -1};
			changed = true;
		}
		ndone_kept++;
	}
	/* done files no longer there are forgotten; so is a file in progress */
	if (ndone_kept != old.ndone)
		changed = true;
	if (old.file && !in_progress_found)
	{
		p->file = NULL;
		changed = true;
	}
	return changed;
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
	struct stat dirst;
	TimestampTz looked_at;
	int			nfiles;
	FileEntry  *files;
	FileTodo   *todo;
	int			ntodo;
	bool		changed;
	FileDecode	fd;
	int64		nrecs = 0;
	int64		alloc = 1024;
	int			taken = 0;
	bool		more = false;
	StringInfoData rec;

	if (position)
		check_reader(t, pgs_batchrun_user());
	batch->start_position = position;
	batch->wait_ms = FILE_IDLE_POLL_MS;
	stat_dir(t, &dirst);
	if (position && t->clean == CLEAN_OFF &&
		idle_hit(t, position_gen(position), &dirst))
	{
		/* nothing came since the last full look */
		batch->rows = tuplestore_begin_heap(false, false, work_mem);
		batch->end_position = position;
		return;
	}
	looked_at = GetCurrentTimestamp();
	position_parse(position, &p);
	files = list_files(t, &nfiles);
	if (position && t->clean != CLEAN_OFF)
		clean_files(t, files, nfiles, &p);
	todo = palloc(sizeof(FileTodo) * (nfiles + 1));
	changed = reconcile(t, &p, &dirst, dir_btime(t->dir), files, nfiles, todo, &ntodo);

	fd.t = t;
	fd.names = palloc(sizeof(char *) * (ntodo + 1));
	fd.recs = palloc(sizeof(FileRecord) * alloc);
	initStringInfo(&rec);
	for (int i = 0; i < ntodo; i++)
	{
		FileEntry  *fe = todo[i].fe;
		char	   *path = psprintf("%s/%s", t->dir, fe->name);
		int64		offset = todo[i].offset;
		int64		line = todo[i].line;
		FILE	   *f;
		FileEntry	now;
		bool		cut = false;
		uint64		fp = 0;

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
		if (!file_stat(fileno(f), NULL, &now) || !same_inode(fe, now.ino, now.btime))
		{
			/*
			 * Replaced since the listing: the next batch looks again (the
			 * files not reached keep what was read of them in p).
			 */
			FreeFile(f);
			more = true;
			break;
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
			if (t->dec.format != PGS_FORMAT_TEXT && blank(rec.data, rec.len))
				continue;
			if (nrecs == alloc)
			{
				alloc *= 2;
				fd.recs = repalloc_huge(fd.recs, sizeof(FileRecord) * alloc);
			}
			fd.recs[nrecs].file = taken - 1;
			fd.recs[nrecs].line = first_line;
			/* the exact bytes: a record may hold a NUL (a bad record then) */
			fd.recs[nrecs].text = palloc(rec.len + 1);
			memcpy(fd.recs[nrecs].text, rec.data, rec.len + 1);
			fd.recs[nrecs].len = rec.len;
			nrecs++;
		}
		/* a file cut at max_rows may still be at its end */
		if (cut && getc_unlocked(f) == EOF)
			cut = false;
		/*
		 * The bytes tell the file next time where there is no birth time,
		 * and also where there is: in a copy of the directory (restored
		 * elsewhere), birth times are new, and only the bytes are the same.
		 */
		fp = fingerprint(fileno(f), offset);
		FreeFile(f);
		changed = true;
		p.file = NULL;			/* the file in progress, if it was, is not */
		if (cut)
		{
			/*
			 * An appended file done keeps its done entry (as read before);
			 * the next batch goes on from the position's file, by name.
			 */
			p.file = fe->name;
			p.file_ino = fe->ino;
			p.file_btime = fe->btime;
			p.file_fp = fp;
			p.offset = offset;
			p.line = line;
			more = true;
			break;
		}
		if (todo[i].done >= 0)
		{
			DoneFile   *d = &p.done[todo[i].done];

			d->size = offset;
			d->lines = line;
			d->fp = fp;
		}
		else
			(void) add_done(&p, fe->name, fe->ino, offset, line, fe->btime, fp);
	}

	batch->rows = tuplestore_begin_heap(false, false, work_mem);
	batch->rows_bad = pgs_decode_batch(t->desc, nrecs, decode_record, bad_record, &fd,
									   t->on_error_stop, batch->rows);
	batch->nrows = nrecs;
	batch->end_position = position == NULL ? NULL :
		changed ? position_jsonb(&p) : position;
	batch->more = more;
	batch->wait_ms = more ? 0 : FILE_IDLE_POLL_MS;
	if (position && !changed && t->clean == CLEAN_OFF)
		idle_remember(t, p.gen, &dirst, looked_at);
}

static Jsonb *
file_initial_position(Relation rel)
{
	FileTable  *t = file_table(rel);	/* checks the options */
	FilePos		p = {0};

	check_reader(t, pgs_batchrun_user());
	return position_jsonb(&p);
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
		appendStringInfoChar(&buf, '[');
		escape_json(&buf, files[i].name);
		appendStringInfo(&buf, ", " INT64_FORMAT ", " INT64_FORMAT,
						 files[i].ino, files[i].size);
		if (files[i].btime != 0)
			appendStringInfo(&buf, ", " INT64_FORMAT, files[i].btime);
		appendStringInfoChar(&buf, ']');
	}
	appendStringInfoString(&buf, "]}");
	return pgs_jsonb_from_cstring(buf.data);
}

/*
 * Every file of the mark is read to the size it had, or gone, or replaced
 * (the file of the mark is gone then).
 */
static bool
file_reached(Relation rel, Jsonb *position, Jsonb *mark)
{
	FileTable  *t = file_table(rel);
	FilePos		p;
	JsonbValue *v = getKeyJsonValueFromContainer(&mark->root, "files", 5, NULL);
	JsonbIterator *it;
	JsonbValue	e;
	JsonbIteratorToken tok;
	int			depth = 0;
	int			field = 0;
	FileEntry	f = {0};

	position_parse(position, &p);
	if (v == NULL || v->type != jbvBinary)
		return true;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &e, false)) != WJB_DONE)
	{
		FileEntry	now;

		if (tok == WJB_BEGIN_ARRAY && ++depth == 2)
		{
			field = 0;
			memset(&f, 0, sizeof(f));
			continue;
		}
		if (tok == WJB_ELEM && depth == 2)
		{
			if (field == 0 && e.type == jbvString)
				f.name = pnstrdup(e.val.string.val, e.val.string.len);
			else if (field == 1)
				f.ino = jsonb_elem_int64(&e);
			else if (field == 2)
				f.size = jsonb_elem_int64(&e);
			else if (field == 3)
				f.btime = Max(jsonb_elem_int64(&e), 0);
			field++;
			continue;
		}
		if (!(tok == WJB_END_ARRAY && depth-- == 2) || f.name == NULL)
			continue;
		if (read_to_end(NULL, &p, &f))
			continue;
		if (p.file && strcmp(p.file, f.name) == 0 && same_inode(&f, p.file_ino, p.file_btime) &&
			p.offset >= f.size)
			continue;
		/* the file of the mark, not another on its inode number */
		if (file_stat(-1, psprintf("%s/%s", t->dir, f.name), &now) &&
			same_inode(&now, f.ino, f.btime) && now.ino == f.ino)
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
 *
 * Each file is written as .pg_stream-<system id>-<full xid>-<name>.tmp in
 * the table's directory, fsync'd with the directory before the commit,
 * and renamed to <name> once the commit is durable: a file appears only
 * for a committed transaction, and a reader never sees a partial one. The
 * rename never replaces a file (renameat2 RENAME_NOREPLACE, or link() and
 * unlink() where the file system lacks it): if <name> exists the file
 * becomes <stem>-2.<ext>, -3, ... A backend that dies between the commit
 * and the rename, or with the transaction open (kill -9, a crash), leaves
 * its temporary file behind: the first write of each process to a
 * directory finishes those (recover_dir) -- renamed into place if their
 * transaction committed, removed if it did not. The system identifier
 * keeps a cluster from judging another's files by its own transactions.
 * The xid is flushed to WAL before the first file is named after it (see
 * make_xid_durable): else a crash could hand it out again, and recovery
 * would take an orphan of a transaction that never committed for one of
 * the transaction that got its xid next.
 *
 * <name> is part-<full xid>-<n>.<ext> for an INSERT, and for the batch
 * of a continuous view delivered to the table (sink), <schema>.<view>-
 * <batch id>-<view oid>-<created>.<ext>: schema and view names keep only
 * A-Z, a-z, 0-9 and _ as they are and write other bytes as %XX (so no
 * name reaches out of the directory), cut at FILE_NAME_PART bytes; the
 * view's OID and its creation time (microseconds since 1970, from
 * stream.cq) make the name unique across schemas and re-creations of a
 * view of the same name, whose batch ids start again.
 */
#define FILE_TMP_PREFIX ".pg_stream-"
#define FILE_NAME_PART 48		/* bytes of an encoded schema or view name */
#define FILE_MAX_SUFFIX 1000

typedef struct PendingFile
{
	char	   *tmp;			/* its path */
	char	   *dir;
	char	   *base;			/* the name it is to have */
	bool		created;		/* by this backend: only then is it removed */
	SubTransactionId subid;
	struct PendingFile *next;
} PendingFile;

static PendingFile *pending_files = NULL;
static bool file_callbacks_registered = false;
static Oid	sink_view = InvalidOid;
static int64 sink_batch = 0;
static Oid	sink_created_view = InvalidOid;	/* sink_created is of this view */
static int64 sink_created = 0;
static int	files_in_sink = 0;		/* files written for this sink batch */
static int	files_in_xact = 0;
static List *recovered_dirs = NIL;	/* directories recover_dir has looked at */

/*
 * The batch whose output INSERTs into file tables write now (sinks/):
 * view viewid's batch batch_id, or none (InvalidOid).
 */
void
pgs_file_sink_prefix(Oid viewid, int64 batch_id)
{
	sink_view = viewid;
	sink_batch = batch_id;
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

/* from to to, unless to exists (errno EEXIST then) */
static bool
rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return true;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return false;
	/* a file system without RENAME_NOREPLACE: link() fails if to exists */
	if (link(from, to) != 0)
		return false;
	(void) unlink(from);
	return true;
}

/*
 * Rename tmp to dir/base, or to the first free dir/<stem>-<k>.<ext>; never
 * over an existing file. The new path, or NULL: reported at elevel, or
 * tmp gone (put in place by another process meanwhile; *gone is set then,
 * where gone is given).
 */
static char *
put_in_place(const char *tmp, const char *dir, const char *base, int elevel, bool *gone)
{
	const char *dot = strrchr(base, '.');
	int			stem = dot ? (int) (dot - base) : (int) strlen(base);

	for (int k = 1; k <= FILE_MAX_SUFFIX; k++)
	{
		char	   *final = k == 1 ? psprintf("%s/%s", dir, base) :
			psprintf("%s/%.*s-%d%s", dir, stem, base, k, dot ? dot : "");
		struct stat a,
					b;

		if (rename_noreplace(tmp, final))
			return final;
		if (errno == ENOENT)
		{
			struct stat st;

			/* tmp gone, or else dir missing: that one is reported */
			if (lstat(tmp, &st) != 0 && errno == ENOENT)
			{
				if (gone)
					*gone = true;
				return NULL;
			}
			errno = ENOENT;
		}
		if (errno != EEXIST)
		{
			ereport(elevel,
					(errcode_for_file_access(),
					 errmsg("could not rename file \"%s\" to \"%s\": %m", tmp, final)));
			return NULL;
		}
		/* the same file already (linked by another process, not unlinked yet) */
		if (stat(tmp, &a) == 0 && stat(final, &b) == 0 &&
			a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		{
			(void) unlink(tmp);
			return final;
		}
	}
	ereport(elevel,
			(errcode(ERRCODE_DUPLICATE_FILE),
			 errmsg("could not find a free name for file \"%s/%s\"", dir, base),
			 errdetail("The names up to suffix -%d are taken; the file stays as \"%s\".",
					   FILE_MAX_SUFFIX, tmp)));
	return NULL;
}

/*
 * Whether full transaction id fxid of this cluster committed: 1, 0, or -1
 * when it is still running or too old (or new) to tell.
 */
static int
xid_committed(uint64 fxid)
{
	uint64		next = U64FromFullTransactionId(ReadNextFullTransactionId());
	TransactionId xid = (TransactionId) (fxid & 0xFFFFFFFF);
	int			result = -1;

	if (fxid >= next || next - fxid >= (UINT64CONST(1) << 31) ||
		!TransactionIdIsNormal(xid) || TransactionIdIsInProgress(xid))
		return -1;
	LWLockAcquire(XactTruncationLock, LW_SHARED);
	if (!TransactionIdPrecedes(xid, ShmemVariableCache->oldestClogXid))
		result = TransactionIdDidCommit(xid) ? 1 : 0;
	LWLockRelease(XactTruncationLock);
	return result;
}

/*
 * The temporary files of transactions of this cluster that are over,
 * left in dir by a process that died: put in place if their transaction
 * committed, removed if not. Once a process per directory.
 */
static void
recover_dir(const char *dir)
{
	MemoryContext old;
	DIR		   *d;
	struct dirent *de;
	char	   *sysid = psprintf(UINT64_FORMAT "-", GetSystemIdentifier());
	ListCell   *lc;

	foreach(lc, recovered_dirs)
		if (strcmp(lfirst(lc), dir) == 0)
			return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	recovered_dirs = lappend(recovered_dirs, pstrdup(dir));
	MemoryContextSwitchTo(old);
	if ((d = AllocateDir(dir)) == NULL)
		return;					/* the write that follows reports it */
	while ((de = ReadDir(d, dir)) != NULL)
	{
		const char *p = de->d_name;
		size_t		len = strlen(p);
		char	   *end;
		uint64		fxid;
		char	   *base;
		char	   *tmp;
		int			committed;

		if (strncmp(p, FILE_TMP_PREFIX, strlen(FILE_TMP_PREFIX)) != 0 ||
			len < 4 || strcmp(p + len - 4, ".tmp") != 0)
			continue;
		p += strlen(FILE_TMP_PREFIX);
		if (strncmp(p, sysid, strlen(sysid)) != 0)
			continue;			/* another cluster's, or an older version's */
		p += strlen(sysid);
		errno = 0;
		fxid = strtou64(p, &end, 10);
		if (errno != 0 || end == p || *end != '-' || end[1] == '.' || end[1] == '\0')
			continue;
		base = pnstrdup(end + 1, strlen(end + 1) - 4);
		if (*base == '\0' || in_progress_name(base))
			continue;
		if ((committed = xid_committed(fxid)) < 0)
			continue;
		tmp = psprintf("%s/%s", dir, de->d_name);
		if (committed)
		{
			char	   *final = put_in_place(tmp, dir, base, WARNING, NULL);

			if (final)
				ereport(LOG,
						(errmsg("put file \"%s\" of committed transaction " UINT64_FORMAT " in place, after its backend died",
								final, fxid)));
		}
		else if (unlink(tmp) == 0)
			ereport(LOG,
					(errmsg("removed file \"%s\" of transaction " UINT64_FORMAT ", which did not commit",
							tmp, fxid)));
	}
	FreeDir(d);
	fsync_dir(dir);
}

static void
free_pending(PendingFile *pf)
{
	pfree(pf->tmp);
	pfree(pf->dir);
	pfree(pf->base);
	pfree(pf);
}

/*
 * Before the commit, the files and their directories are made durable
 * (a failure aborts the transaction); once it has committed, they are
 * renamed into place (a failure is only reported then: recover_dir puts
 * them in place later). At an abort, they are removed.
 */
static void
file_xact_callback(XactEvent event, void *arg)
{
	PendingFile *pf;

	if (pending_files == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			for (pf = pending_files; pf; pf = pf->next)
				fsync_dir(pf->dir);
			return;
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot prepare a transaction that has written to a file stream")));
			return;
		case XACT_EVENT_COMMIT:
			for (pf = pending_files; pf; pf = pf->next)
				(void) put_in_place(pf->tmp, pf->dir, pf->base, WARNING, NULL);
			for (pf = pending_files; pf; pf = pf->next)
				fsync_dir(pf->dir);
			break;
		case XACT_EVENT_ABORT:
			for (pf = pending_files; pf; pf = pf->next)
				if (pf->created)
					(void) unlink(pf->tmp);
			break;
		default:
			return;
	}
	while (pending_files)
	{
		pf = pending_files->next;
		free_pending(pending_files);
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
			if (pf->created)
				(void) unlink(pf->tmp);
			*link = pf->next;
			free_pending(pf);
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
	MemoryContext rowcxt;
} FileInsertState;

static const char *
format_ext(PgsFormat f)
{
	return f == PGS_FORMAT_JSON ? "json" : f == PGS_FORMAT_CSV ? "csv" : "txt";
}

/* name as part of a file name: A-Z a-z 0-9 _ kept, other bytes %XX; at most max bytes */
static void
append_name_part(StringInfo buf, const char *name, int max)
{
	int			start = buf->len;

	for (const unsigned char *s = (const unsigned char *) name; *s; s++)
	{
		bool		plain = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			(*s >= '0' && *s <= '9') || *s == '_';

		if (buf->len - start + (plain ? 1 : 3) > max)
			break;
		if (plain)
			appendStringInfoChar(buf, (char) *s);
		else
			appendStringInfo(buf, "%%%02X", *s);
	}
}

/* when view viewid was created, in microseconds since 1970 (stream.cq) */
static int64
view_created(Oid viewid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(viewid)};
	PgsUser		saved;
	bool		isnull = true;
	TimestampTz created = 0;

	if (sink_created_view == viewid)
		return sink_created;
	pgs_become_superuser(&saved);
	SPI_connect();
	if (SPI_execute_with_args("SELECT created_at FROM stream.cq WHERE view = $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read stream.cq");
	if (SPI_processed == 1)
		created = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	pgs_restore_user(&saved);
	if (isnull)
		elog(ERROR, "continuous view %u has no row in stream.cq", viewid);
	sink_created_view = viewid;
	sink_created = created +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
	return sink_created;
}

/* the name the file of this statement is to have */
static char *
output_name(FileTable *t)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (OidIsValid(sink_view))
	{
		append_name_part(&buf, get_namespace_name(get_rel_namespace(sink_view)), FILE_NAME_PART);
		appendStringInfoChar(&buf, '.');
		append_name_part(&buf, get_rel_name(sink_view), FILE_NAME_PART);
		appendStringInfo(&buf, "-" INT64_FORMAT "-%u-" INT64_FORMAT,
						 sink_batch, sink_view, view_created(sink_view));
		if (++files_in_sink > 1)
			appendStringInfo(&buf, "-%d", files_in_sink);
	}
	else
		appendStringInfo(&buf, "part-" UINT64_FORMAT "-%d",
						 U64FromFullTransactionId(GetTopFullTransactionId()), files_in_xact);
	appendStringInfo(&buf, ".%s", format_ext(t->dec.format));
	return buf.data;
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

/*
 * A file is named after its transaction's xid, and recover_dir judges it
 * by whether that xid committed; so the xid must be in durable WAL before
 * the file exists. Nothing else guarantees it: an INSERT into a file
 * table writes no WAL of its own, and a sink batch's is usually not
 * flushed yet. After a crash, nextXid is rebuilt from the checkpoint and
 * the WAL replayed: an xid that never reached WAL is handed out again,
 * and once that other transaction committed, the orphan would be put in
 * place (rows that never committed delivered). A transactional logical
 * message carries the xid in its record header (it assigns one; replay
 * advances nextXid past it), at any wal_level; once per transaction.
 */
static void
make_xid_durable(void)
{
	static FullTransactionId logged = {0};
	FullTransactionId fxid = GetTopFullTransactionId();

	if (FullTransactionIdEquals(fxid, logged))
		return;
	XLogFlush(LogLogicalMessage("pg_stream", "", 0, true));
	logged = fxid;
}

static void
file_open_output(FileInsertState *st)
{
	FileTable  *t = st->t;
	PendingFile *pf;
	char	   *base;

	if (!file_callbacks_registered)
	{
		RegisterXactCallback(file_xact_callback, NULL);
		RegisterSubXactCallback(file_subxact_callback, NULL);
		file_callbacks_registered = true;
	}
	recover_dir(t->dir);
	make_xid_durable();
	files_in_xact++;
	base = output_name(t);
	st->tmp = psprintf("%s/" FILE_TMP_PREFIX UINT64_FORMAT "-" UINT64_FORMAT "-%s.tmp",
					   t->dir, GetSystemIdentifier(),
					   U64FromFullTransactionId(GetTopFullTransactionId()), base);
	/* known to the transaction before the file exists: an abort removes it */
	pf = MemoryContextAllocZero(TopMemoryContext, sizeof(PendingFile));
	pf->tmp = MemoryContextStrdup(TopMemoryContext, st->tmp);
	pf->dir = MemoryContextStrdup(TopMemoryContext, t->dir);
	pf->base = MemoryContextStrdup(TopMemoryContext, base);
	pf->subid = GetCurrentSubTransactionId();
	pf->next = pending_files;
	pending_files = pf;
	st->fd = OpenTransientFile(st->tmp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY);
	if (st->fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("%s: could not create file \"%s\": %m", t->what, st->tmp)));
	/* ours now; before this, an EEXIST would have an abort remove another's file */
	pf->created = true;
}

static TupleTableSlot *
file_ExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
					   TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	FileInsertState *st = rinfo->ri_FdwState;
	MemoryContext old;

	/*
	 * In st's context, not the row's: st->tmp names the file in the errors
	 * of later writes and of the end, after rowcxt has been reset.
	 */
	if (st->fd < 0)
	{
		old = MemoryContextSwitchTo(GetMemoryChunkContext(st));
		file_open_output(st);
		MemoryContextSwitchTo(old);
	}
	old = MemoryContextSwitchTo(st->rowcxt);
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

	st->t = file_table(rinfo->ri_RelationDesc);
	pgs_check_server_files_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES,
								psprintf("write the files of %s", st->t->what), NULL);
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

	pgs_check_server_files_role(GetUserId(), ROLE_PG_READ_SERVER_FILES,
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
			if (t.dec.format == PGS_FORMAT_JSON && !blank(rec.data, rec.len))
				(void) pgs_sample_json(rec.data, rec.len, &keys);
			if (t.dec.format != PGS_FORMAT_CSV || blank(rec.data, rec.len))
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
				pgs_check_server_files_role(GetUserId(), ROLE_PG_READ_SERVER_FILES,
											psprintf("set option \"%s\"", def->defname), NULL);
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
			pgs_check_server_files_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES,
										"delete or move the files of a file stream", NULL);
	}
	PG_RETURN_VOID();
}
