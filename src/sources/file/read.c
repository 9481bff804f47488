/*-------------------------------------------------------------------------
 *
 * read.c
 *	  Reading a batch of a file stream from its position (the source
 *	  routine file_source): first the clean-up of the files every view has
 *	  read, then the records of the files not read yet.
 *
 * Records. Each line is a record (json: one object per line; csv: a
 * record may go on over lines inside a quoted field; text: the line);
 * blank lines are skipped in json and csv. A csv file with header 'true'
 * starts with a header line, skipped. Columns with the option meta take
 * the file's name ('filename') or the record's line number ('line').
 *
 * Records hold their exact bytes: one with a NUL byte (or invalid text)
 * is a bad record, and its dead letter shows the bytes as bytea's hex
 * output (formats/decode.c).
 *
 * A file under a name done but of another inode or birth time (or whose
 * bytes read differ) is a new file (renamed over it, or deleted and
 * created again), read from its start; bytes appended to a file after it
 * was read are read (from where it ended), and a file done keeps its
 * place in the done list until they are, however soon a batch stops; a
 * file that shrank was rewritten: read again from its start, with a
 * warning; a file replaced while half read is read from its start, with
 * a warning (the rest of the old file is gone). The done list keeps only
 * files still in the directory. Inodes and birth times are compared only
 * in the directory they were taken in ("dir", with its birth time: a
 * fresh volume mounted at the same path has the same root inode):
 * restored into another cluster, or with the files copied elsewhere,
 * files are matched by name, size and fingerprint, and take their new
 * identities. An idle worker over an unchanged directory only stat()s it
 * (see the idle cache at file_read).
 *
 * A share of a view with parallelism > 1 matches every file with the
 * position as one worker does (so the entries of files gone go, and
 * identities in a copied directory are taken, whoever reads them), but
 * reads only its own (file_owned; see "Shares" in position.c), and leaves
 * the others' entries as it found them.
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
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "meta/meta.h"
#include "formats/formats.h"
#include "sources/sources.h"
#include "sources/file/file_int.h"

#include <stdio.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define FILE_IDLE_POLL_MS 250	/* how often an idle stream looks again */

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
	DoneFile   *d = file_find_done(p, f->name);

	if (d == NULL || (d->ino != 0 && d->ino != f->ino) ||
		(d->btime != 0 && f->btime != 0 && d->btime != f->btime) || d->size < f->size)
		return false;
	return t == NULL || (d->btime != 0 && f->btime != 0) ||
		file_fingerprint_matches(t, f, d->fp, d->size);
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

static void
clean_files(FileTable *t, FileEntry *files, int nfiles, FilePos *mine)
{
	List	   *others = NIL;
	bool		own_write = false;
	ListCell   *lc;

	foreach(lc, meta_positions_of_stream(t->relid))
	{
		PositionRow *row = lfirst(lc);
		FilePos    *p = palloc(sizeof(FilePos));

		/* a position of this transaction is not committed yet */
		if (TransactionIdIsCurrentTransactionId(row->xmin))
			own_write = true;
		file_position_parse(row->position, p);
		others = lappend(others, p);
	}
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
			else if (file_put_in_place(path, t->archive, name, WARNING, &gone) != NULL)
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
	int64		line;			/* of its first line, from 1 (parquet: its row) */
	char	   *text;			/* NULL: a Parquet row */
	int			len;
	int64		row;			/* parquet: of those read of its file */
} FileRecord;

/*
 * The next record of f into rec (without its line end); false at the end.
 * *bytes and *lines advance by what it took. A csv record goes on over
 * line ends inside quotes.
 */
bool
file_next_record(FILE *f, FileTable *t, StringInfo rec, int64 *bytes, int64 *lines)
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
bool
file_blank(const char *s, int len)
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
	PqFile	  **pqs;			/* parquet: per file name */
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
	if (r->text == NULL)
		pq_decode_row(fd->pqs[r->file], r->row, values, nulls);
	else
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
	if (r->text == NULL)
	{
		char	   *where = psprintf("row " INT64_FORMAT " of Parquet file \"%s\"",
									 r->line, fd->names[r->file]);

		appendStringInfo(&pos, ", \"row\": " INT64_FORMAT "}", r->line);
		pgs_dead_letter(fd->t->relid, fd->t->what, pgs_jsonb_from_cstring(pos.data),
						where, where, strlen(where), error);
		return;
	}
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
	bool		in_progress;	/* its entry in progress stays until read */
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
	int			nprog_kept = 0;

	*ntodo = 0;
	p->done = NULL;
	p->ndone = p->alloc = 0;
	p->prog = NULL;
	p->nprog = p->prog_alloc = 0;
	p->has_dir = true;
	p->dir_dev = (int64) dirst->st_dev;
	p->dir_ino = (int64) dirst->st_ino;
	p->dir_btime = dirbtime;
	for (int i = 0; i < nfiles; i++)
	{
		FileEntry  *f = &files[i];
		DoneFile   *d;
		ProgFile   *pf;

		if (f->name == NULL)
			continue;			/* cleaned */
		pf = file_find_prog(&old, f->name);
		if (pf)
		{
			FileTodo	first_todo = {f, pf->offset, pf->line, -1, true};
			bool		replaced = same_dir && !same_inode(f, pf->ino, pf->btime);
			bool		owned = file_owned(f->name);

			/* kept as it is until its share reads it */
			file_add_prog(p, pf->name, pf->ino, pf->btime, pf->fp, pf->offset, pf->line);
			nprog_kept++;
			if (!replaced && f->size < pf->offset)
			{
				if (owned)
					ereport(WARNING,
						(errcode(ERRCODE_WARNING),
						 errmsg("%s: file \"%s\" was truncated before it was read to its end",
								t->what, f->name),
						 errdetail("It had at least " INT64_FORMAT " bytes and has " INT64_FORMAT " now; it is read again from its start.",
								   pf->offset, f->size)));
				first_todo.offset = first_todo.line = 0;
			}
			else if (replaced || (owned && !(same_dir && pf->btime != 0 && f->btime != 0) &&
								  !file_fingerprint_matches(t, f, pf->fp, pf->offset)))
			{
				if (owned)
					ereport(WARNING,
						(errcode(ERRCODE_WARNING),
						 errmsg("%s: file \"%s\" was replaced before it was read to its end",
								t->what, f->name),
						 errdetail("The rest of the file it replaced, after byte " INT64_FORMAT ", is lost; the new file is read from its start.",
								   pf->offset)));
				first_todo.offset = first_todo.line = 0;
			}
			/* first in the order */
			memmove(&todo[nprog_kept], &todo[nprog_kept - 1],
					sizeof(FileTodo) * (*ntodo - (nprog_kept - 1)));
			todo[nprog_kept - 1] = first_todo;
			(*ntodo)++;
			continue;
		}
		/*
		 * Birth times are compared like inodes, only in the directory they
		 * were taken in; elsewhere (a copy) only the bytes tell a file of a
		 * name done from another: compared when it is bigger (else the
		 * rest would be taken as appended) and, in a directory new to the
		 * position (once), when it has the size read.
		 */
		d = file_find_done(&old, f->name);
		if (d == NULL || (same_dir && !same_inode(f, d->ino, d->btime)) ||
			(d->size >= 0 && (f->size > d->size || (!same_dir && f->size == d->size)) &&
			 !(same_dir && d->btime != 0 && f->btime != 0) &&
			 !file_fingerprint_matches(t, f, d->fp, d->size)))
		{
			/* new, or a new file under the name of one read */
			todo[(*ntodo)++] = (FileTodo) {f, 0, 0, -1, false};
			changed |= (d != NULL);
			continue;
		}
		if (d->size < 0 || d->lines < 0)
		{
			/* an older position: the name was all it knew */
			(void) file_add_done(p, f->name, f->ino, f->size, Max(d->lines, 0), f->btime, 0);
			changed = true;
		}
		else if (f->size == d->size)
		{
			(void) file_add_done(p, f->name, f->ino, d->size, d->lines, f->btime, d->fp);
			changed |= (d->ino != f->ino || d->btime != f->btime);
		}
		else if (f->size > d->size)
		{
			/* appended to after it was read: the new bytes */
			todo[(*ntodo)++] = (FileTodo) {f, d->size, d->lines,
				file_add_done(p, f->name, f->ino, d->size, d->lines, f->btime, d->fp), false};
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
			todo[(*ntodo)++] = (FileTodo) {f, 0, 0, -1, false};
			changed = true;
		}
		ndone_kept++;
	}
	/* done files no longer there are forgotten; so is a file in progress */
	if (ndone_kept != old.ndone)
		changed = true;
	if (nprog_kept != old.nprog)
		changed = true;
	return changed;
}

/*------------------------------------------------------------------------
 * Parquet: by row group
 *------------------------------------------------------------------------
 *
 * A Parquet file is read a row group at a time (formats/parquet.c): its
 * "offset" in the position is the first byte of the next row group to
 * read (its first column chunk), and "line" the rows read before it; a
 * file done has offset its size. So a batch stops between row groups
 * (max_batch_rows is reached once a row group has taken the batch to it
 * or past), and after a crash the next batch goes on at the first row
 * group not read, its bytes before unchanged (the fingerprint). A file
 * whose structure is bad (a corrupt footer, page or codec stream), or
 * that uses what is not supported (a codec, an encoding), is one dead
 * letter, at the row group that failed, and
 * the rest of it is skipped -- or, with on_error 'stop', fails the batch; a value that
 * does not convert is a bad record of its own (a row's dead letter). A
 * bad file counts as one record read, and bad: a batch that read only
 * bad files still records its position (an empty batch would not, and
 * the next would send the same dead letters again).
 */
typedef struct PqTry
{
	FileTable  *t;
	int			fd;
	int64		size;
	const char *path;
	PqFile	   *pq;
	int			rg;
} PqTry;

static void
pq_try_open(void *arg)
{
	PqTry	   *pt = arg;

	pt->pq = pq_open(pt->fd, pt->size, pt->path, pt->t->desc, pt->t->dec.data);
}

static void
pq_try_read(void *arg)
{
	PqTry	   *pt = arg;

	pq_read_row_group(pt->pq, pt->rg);
}

/*
 * A file that cannot be read -- its structure bad, or a codec or an
 * encoding not supported -- is a dead letter, or fails the batch
 * (stop).
 */
static void
pq_bad_file(FileTable *t, const char *name, int rg, ErrorData *edata)
{
	StringInfoData pos;
	char	   *where;

	if ((edata->sqlerrcode != ERRCODE_DATA_CORRUPTED &&
		 edata->sqlerrcode != ERRCODE_FEATURE_NOT_SUPPORTED) || t->on_error_stop)
		ReThrowError(edata);
	initStringInfo(&pos);
	appendStringInfoString(&pos, "{\"file\": ");
	escape_json(&pos, name);
	appendStringInfo(&pos, ", \"row_group\": %d}", rg);
	where = psprintf("row group %d of Parquet file \"%s\"", rg, name);
	pgs_dead_letter(t->relid, t->what, pgs_jsonb_from_cstring(pos.data), where,
					where, strlen(where), edata->message);
	FreeErrorData(edata);
}

/*
 * The row groups of Parquet file f from byte *offset on (0: its start)
 * into fd's records, until max_rows; *offset and *line advance. Returns
 * whether it stopped before the file's end (*offset the next row group).
 */
static bool
read_parquet(FileTable *t, FileDecode *fd, FILE *f, const char *path, int64 size,
			 int fileno_in_batch, int64 *offset, int64 *line, int64 *nrecs,
			 int64 *alloc, int64 max_rows, int64 *nbad)
{
	PqTry		pt = {t, fileno(f), size, path, NULL, 0};
	ErrorData  *edata;
	int			nrg;
	int			rg = 0;

	fd->pqs[fileno_in_batch] = NULL;
	edata = pgs_try(pq_try_open, &pt);
	if (edata)
	{
		pq_bad_file(t, fd->names[fileno_in_batch], 0, edata);
		(*nbad)++;
		*offset = size;
		return false;
	}
	fd->pqs[fileno_in_batch] = pt.pq;
	nrg = pq_row_groups(pt.pq);
	/* the first row group not read */
	if (*offset > 0)
		while (rg < nrg && pq_row_group_start(pt.pq, rg) < *offset)
			rg++;
	for (; rg < nrg; rg++)
	{
		int64		before = pq_rows_read(pt.pq);
		int64		got;

		if (max_rows >= 0 && *nrecs >= max_rows)
		{
			*offset = pq_row_group_start(pt.pq, rg);
			return true;
		}
		pt.rg = rg;
		edata = pgs_try(pq_try_read, &pt);
		if (edata)
		{
			pq_bad_file(t, fd->names[fileno_in_batch], rg, edata);
			(*nbad)++;
			break;
		}
		got = pq_rows_read(pt.pq) - before;
		if (*nrecs + got > *alloc)
		{
			*alloc = Max(*alloc * 2, *nrecs + got);
			fd->recs = repalloc_huge(fd->recs, sizeof(FileRecord) * *alloc);
		}
		for (int64 r = 0; r < got; r++)
		{
			FileRecord *rec = &fd->recs[(*nrecs)++];

			rec->file = fileno_in_batch;
			rec->line = ++(*line);
			rec->text = NULL;
			rec->len = 0;
			rec->row = before + r;
		}
	}
	*offset = size;
	return false;
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
	int64		nbad_files = 0;	/* parquet: files of a bad structure */
	int			taken = 0;
	bool		more = false;
	StringInfoData rec;

	if (position)
		file_check_reader(t, pgs_batchrun_user());
	batch->start_position = position;
	batch->wait_ms = FILE_IDLE_POLL_MS;
	file_stat_dir(t, &dirst);
	if (position && t->clean == CLEAN_OFF &&
		idle_hit(t, file_position_gen(position), &dirst))
	{
		/* nothing came since the last full look */
		batch->rows = tuplestore_begin_heap(false, false, work_mem);
		batch->end_position = position;
		return;
	}
	looked_at = GetCurrentTimestamp();
	file_position_parse(position, &p);
	files = file_list_files(t, &nfiles);
	if (position && t->clean != CLEAN_OFF)
		clean_files(t, files, nfiles, &p);
	/*
	 * A share that owns no file of the directory (of a view with
	 * parallelism > 1) holds none of its input: it does not hold the
	 * watermark back (engine/parallel.c) until a file falls to it.
	 */
	batch->no_share = true;
	for (int i = 0; i < nfiles && batch->no_share; i++)
		if (files[i].name != NULL && file_owned(files[i].name))
			batch->no_share = false;
	todo = palloc(sizeof(FileTodo) * (nfiles + 1));
	changed = reconcile(t, &p, &dirst, file_dir_btime(t->dir), files, nfiles, todo, &ntodo);

	fd.t = t;
	fd.names = palloc(sizeof(char *) * (ntodo + 1));
	fd.pqs = palloc0(sizeof(PqFile *) * (ntodo + 1));
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

		/* a view with parallelism: another share's file */
		if (!file_owned(fe->name))
			continue;
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
		if (t->dec.format == PGS_FORMAT_PARQUET)
		{
			/* a Parquet file done that grew was rewritten: read it whole */
			if (todo[i].done >= 0)
			{
				ereport(WARNING,
						(errcode(ERRCODE_WARNING),
						 errmsg("%s: Parquet file \"%s\" changed after it was read",
								t->what, fe->name),
						 errdetail("It is read again from its start.")));
				offset = line = 0;
			}
			cut = read_parquet(t, &fd, f, path, now.size, taken - 1, &offset, &line,
							   &nrecs, &alloc, max_rows, &nbad_files);
		}
		for (; t->dec.format != PGS_FORMAT_PARQUET;)
		{
			int64		first_line;

			if (max_rows >= 0 && nrecs >= max_rows)
			{
				cut = true;
				break;
			}
			first_line = line + 1;
			if (!file_next_record(f, t, &rec, &offset, &line))
				break;
			if (t->dec.header && first_line == 1)
				continue;
			if (t->dec.format != PGS_FORMAT_TEXT && file_blank(rec.data, rec.len))
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
		if (cut && t->dec.format != PGS_FORMAT_PARQUET && getc_unlocked(f) == EOF)
			cut = false;
		/*
		 * The bytes tell the file next time where there is no birth time,
		 * and also where there is: in a copy of the directory (restored
		 * elsewhere), birth times are new, and only the bytes are the same.
		 */
		fp = file_fingerprint(fileno(f), offset);
		FreeFile(f);
		changed = true;
		if (todo[i].in_progress)
		{
			/* the file in progress, if it was, is not */
			ProgFile   *pf = file_find_prog(&p, fe->name);

			if (pf)
				pf->name = NULL;
		}
		if (cut)
		{
			/*
			 * An appended file done keeps its done entry (as read before);
			 * the next batch goes on from the position's file, by name.
			 */
			file_add_prog(&p, fe->name, fe->ino, fe->btime, fp, offset, line);
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
			(void) file_add_done(&p, fe->name, fe->ino, offset, line, fe->btime, fp);
	}

	batch->chunks = tuplestore_begin_heap(false, false, work_mem);
	batch->rows_bad = pgs_decode_batch(t->desc, nrecs, decode_record, bad_record, &fd,
									   t->on_error_stop, batch->chunks);
	batch->rows_bad += nbad_files;
	batch->nrows = nrecs + nbad_files;
	batch->end_position = position == NULL ? NULL :
		changed ? file_position_jsonb(&p) : position;
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

	file_check_reader(t, pgs_batchrun_user());
	return file_position_jsonb(&p);
}

/* the files there now */
static Jsonb *
file_mark(Relation rel)
{
	FileTable  *t = file_table(rel);
	int			n;
	FileEntry  *files = file_list_files(t, &n);
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

	file_position_parse(position, &p);
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
				f.ino = file_jsonb_elem_int64(&e);
			else if (field == 2)
				f.size = file_jsonb_elem_int64(&e);
			else if (field == 3)
				f.btime = Max(file_jsonb_elem_int64(&e), 0);
			field++;
			continue;
		}
		if (!(tok == WJB_END_ARRAY && depth-- == 2) || f.name == NULL)
			continue;
		if (read_to_end(NULL, &p, &f))
			continue;
		{
			ProgFile   *pf = file_find_prog(&p, f.name);

			if (pf && same_inode(&f, pf->ino, pf->btime) && pf->offset >= f.size)
				continue;
		}
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
	.options = file_options,
	.contexts = {
		.server = "a file server",
		.table = "a file stream",
		.column = "a column of a file stream",
	},
	.validate = file_validate,
	.insert_begin = file_insert_begin,
	.insert_row = file_insert_row,
	.insert_end = file_insert_end,
	.insert_only = true,
	.import_schema = file_ImportForeignSchema,
	.check_reader = file_check_view_reader,
	.check_sink = file_check_sink,
	.merge_share = file_merge_share,
};
