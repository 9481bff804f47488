/*-------------------------------------------------------------------------
 *
 * write.c
 *	  INSERT into a file stream, and so the file sink: one new file per
 *	  statement, renamed into place at commit, and the recovery of the
 *	  files of a process that died.
 *
 * INSERT writes each statement's rows as one new file in the table's
 * format, under a hidden temporary name, renamed into place once the
 * transaction has committed -- never over an existing file -- and removed
 * if it aborts; a process that died leaves its temporary files to the
 * next write to the directory (see "INSERT" below for names and recovery).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "meta/meta.h"
#include "formats/formats.h"
#include "sources/sources.h"
#include "sources/file/file_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "foreign/fdwapi.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

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
static Oid	sink_created_view = InvalidOid;	/* sink_created is of this view */
static int64 sink_created = 0;
static int	files_in_xact = 0;
static List *recovered_dirs = NIL;	/* directories recover_dir has looked at */

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
char *
file_put_in_place(const char *tmp, const char *dir, const char *base, int elevel, bool *gone)
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
		if (*base == '\0' || file_in_progress_name(base))
			continue;
		if ((committed = xid_committed(fxid)) < 0)
			continue;
		tmp = psprintf("%s/%s", dir, de->d_name);
		if (committed)
		{
			char	   *final = file_put_in_place(tmp, dir, base, WARNING, NULL);

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
				(void) file_put_in_place(pf->tmp, pf->dir, pf->base, WARNING, NULL);
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
	PqWriter   *pq;				/* parquet: the rows, written at the end */
} FileInsertState;

static const char *
format_ext(PgsFormat f)
{
	return f == PGS_FORMAT_JSON ? "json" : f == PGS_FORMAT_CSV ? "csv" :
		f == PGS_FORMAT_PARQUET ? "parquet" : "txt";
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
	TimestampTz created = 0;

	if (sink_created_view == viewid)
		return sink_created;
	if (!meta_cq_created_at(viewid, &created))
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
	BatchRun   *run = pgs_batchrun_current();

	initStringInfo(&buf);
	/* a batch's output, delivered to its sink (sinks/sink.c) */
	if (run != NULL && run->in_sink)
	{
		Oid			view = run->viewid;

		append_name_part(&buf, get_namespace_name(get_rel_namespace(view)), FILE_NAME_PART);
		appendStringInfoChar(&buf, '.');
		append_name_part(&buf, get_rel_name(view), FILE_NAME_PART);
		appendStringInfo(&buf, "-" INT64_FORMAT "-%u-" INT64_FORMAT,
						 run->batch_id, view, view_created(view));
		if (++run->sink_files > 1)
			appendStringInfo(&buf, "-%d", run->sink_files);
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

void
file_insert_row(void *state, TupleTableSlot *slot)
{
	FileInsertState *st = state;
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
	if (st->pq)
	{
		/* one row group, written whole at the end */
		pq_writer_add(st->pq, slot);
		MemoryContextSwitchTo(old);
		MemoryContextReset(st->rowcxt);
		return;
	}
	pgs_encode_row(&st->enc, slot, &st->rec);
	appendBinaryStringInfo(&st->out, st->rec.data, st->rec.len);
	appendStringInfoChar(&st->out, '\n');
	if (st->out.len >= 65536)
		file_flush(st);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rowcxt);
}

void *
file_insert_begin(ResultRelInfo *rinfo, EState *estate)
{
	FileInsertState *st = palloc0(sizeof(FileInsertState));

	st->t = file_table(rinfo->ri_RelationDesc);
	file_check_server_files_role(GetUserId(), ROLE_PG_WRITE_SERVER_FILES,
								 psprintf("write the files of %s", st->t->what), NULL);
	if (st->t->dec.format == PGS_FORMAT_PARQUET)
		st->pq = pq_writer_begin(st->t->desc, st->t->dec.data, st->t->compression);
	else
		pgs_encoder_init(&st->enc, &st->t->dec);
	initStringInfo(&st->rec);
	initStringInfo(&st->out);
	st->fd = -1;
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "file insert", ALLOCSET_DEFAULT_SIZES);
	return st;
}

void
file_insert_end(void *state)
{
	FileInsertState *st = state;

	if (st->fd < 0)
		return;
	if (st->pq)
		pq_writer_finish(st->pq, &st->out);
	file_flush(st);
	if (pg_fsync(st->fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", st->tmp)));
	CloseTransientFile(st->fd);
	st->fd = -1;
}
