/*-------------------------------------------------------------------------
 *
 * dir.c
 *	  The directory of a file stream: its files, oldest first, and what
 *	  tells one file from another (inode, birth time, fingerprint).
 *
 * Files. A stream reads the regular files of its directory ("path") whose
 * names match "pattern" (a glob, default *). Names that start with "." or
 * end with ".tmp" are files still being written: they are skipped until
 * they are renamed, so files must be moved in atomically (write
 * .name or name.tmp, then mv). Files are taken in order of modification
 * time, then name, at most max_files_per_batch per batch.
 *
 * Files are known by inode and birth time, not only by name: inode
 * numbers are reused (ext4 gives a freed one to the next file created),
 * so where the file system gives no birth time (statx) a fingerprint of
 * the bytes read (a hash of the last 64 before the offset) stands in for
 * it; the fingerprint is kept always, as in a copy of the directory only
 * the bytes are the same. Positions (position.c) keep these identities.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "sources/file/file_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/hashfn.h"
#include "storage/fd.h"

/*------------------------------------------------------------------------
 * The directory
 *------------------------------------------------------------------------
 */
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

bool
file_in_progress_name(const char *name)
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
bool
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
int64
file_dir_btime(const char *path)
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

uint64
file_fingerprint(int fd, int64 offset)
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
bool
file_fingerprint_matches(FileTable *t, FileEntry *f, uint64 fp, int64 offset)
{
	int			fd;
	FileEntry	now;
	bool		same;

	if (fp == 0)
		return true;
	fd = OpenTransientFile(psprintf("%s/%s", t->dir, f->name), O_RDONLY | PG_BINARY);
	if (fd < 0)
		return false;
	same = file_stat(fd, NULL, &now) && now.ino == f->ino && file_fingerprint(fd, offset) == fp;
	CloseTransientFile(fd);
	return same;
}

void
file_stat_dir(FileTable *t, struct stat *st)
{
	if (stat(t->dir, st) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("%s: could not open directory \"%s\": %m", t->what, t->dir)));
}

/* the stream's files now, oldest first */
FileEntry *
file_list_files(FileTable *t, int *n)
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

		if (file_in_progress_name(de->d_name) ||
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
