/*-------------------------------------------------------------------------
 *
 * file_int.h
 *	  What the parts of the "file" source share, and only they.
 *
 * The "file" source: a directory of files, each read exactly once, in
 * modification-time order (Spark's file source); and INSERT, which
 * writes files there. Its parts, in src/sources/file/:
 *
 *	fdw.c		the foreign-data wrapper: a table's options and their
 *				checks, the rights to its files
 *	dir.c		the directory: its files, and what tells one from another
 *	position.c	positions: what has been read, stored with each batch
 *	read.c		reading a batch (the source routine file_source), and the
 *				clean-up of the files every view has read
 *	write.c		INSERT, and so the file sink: new files renamed into place
 *				at commit
 *	import.c	IMPORT FOREIGN SCHEMA
 *
 * Other units see only file_source (sources/sources.h); the FDW's
 * handler and validator are the kit's (sources/source.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_FILE_INT_H
#define PGS_FILE_INT_H

#include "base/base.h"
#include "formats/formats.h"
#include "sources/sources.h"

#include <stdio.h>
#include <time.h>
#include <sys/stat.h>

#include "foreign/fdwapi.h"
#include "utils/relcache.h"

/* in fdw.c: a file stream foreign table, as its options say */
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
	int			compression;	/* parquet: the codec written */
	uint64		options_hash;	/* of the table's options (the idle cache) */
	TupleDesc	desc;
	FileMeta   *meta;
	PgsDecoder	dec;
} FileTable;

extern FileTable *file_table(Relation rel);
extern void file_check_server_files_role(Oid roleid, Oid needed, const char *action,
										 const char *detail);
extern void file_check_reader(FileTable *t, Oid role);
extern void file_check_view_reader(Relation rel, Oid role);
extern void file_check_sink(Relation rel, const char *name, Oid owner);
extern const SourceOption file_options[];
extern void file_validate(List *options, Oid catalog);

/* in dir.c: a file of the directory */
typedef struct FileEntry
{
	char	   *name;
	struct timespec mtime;
	int64		ino;
	int64		btime;			/* birth time, ns since 1970; 0: not known */
	int64		size;
} FileEntry;

extern bool file_in_progress_name(const char *name);
extern bool file_stat(int fd, const char *path, FileEntry *fe);
extern int64 file_dir_btime(const char *path);
extern uint64 file_fingerprint(int fd, int64 offset);
extern bool file_fingerprint_matches(FileTable *t, FileEntry *f, uint64 fp,
									 int64 offset);
extern void file_stat_dir(FileTable *t, struct stat *st);
extern FileEntry *file_list_files(FileTable *t, int *n);

/* in position.c: a position, parsed (its jsonb is described there) */
typedef struct DoneFile
{
	char	   *name;
	int64		ino;			/* 0: unknown (an older position) */
	int64		size;			/* bytes read; -1: unknown */
	int64		lines;
	int64		btime;			/* 0: unknown */
	uint64		fp;				/* 0: none */
} DoneFile;

/* a file being read: how far */
typedef struct ProgFile
{
	char	   *name;
	int64		ino;
	int64		btime;			/* 0: unknown */
	uint64		fp;				/* 0: unknown */
	int64		offset;
	int64		line;
} ProgFile;

typedef struct FilePos
{
	DoneFile   *done;			/* sorted by name */
	int			ndone;
	int			alloc;
	bool		has_dir;
	int64		dir_dev;
	int64		dir_ino;
	int64		dir_btime;		/* 0: unknown */
	ProgFile   *prog;			/* the files being read (a name NULL: gone) */
	int			nprog;
	int			prog_alloc;
	uint64		gen;			/* 0: none */
} FilePos;

extern DoneFile *file_find_done(FilePos *p, const char *name);
extern int	file_add_done(FilePos *p, const char *name, int64 ino, int64 size,
						  int64 lines, int64 btime, uint64 fp);
extern ProgFile *file_find_prog(FilePos *p, const char *name);
extern void file_add_prog(FilePos *p, const char *name, int64 ino, int64 btime,
						  uint64 fp, int64 offset, int64 line);
extern Jsonb *file_merge_share(Jsonb *now, Jsonb *start, Jsonb *end);
extern bool file_owned(const char *name);
extern int64 file_jsonb_elem_int64(JsonbValue *v);
extern uint64 file_position_gen(Jsonb *jb);
extern void file_position_parse(Jsonb *jb, FilePos *p);
extern Jsonb *file_position_jsonb(FilePos *p);

/* in read.c */
extern bool file_next_record(FILE *f, FileTable *t, StringInfo rec,
							 int64 *bytes, int64 *lines);
extern bool file_blank(const char *s, int len);

/* in write.c */
extern char *file_put_in_place(const char *tmp, const char *dir,
							   const char *base, int elevel, bool *gone);
extern void *file_insert_begin(ResultRelInfo *rinfo, EState *estate);
extern void file_insert_row(void *state, TupleTableSlot *slot);
extern void file_insert_end(void *state);

/* in import.c */
extern List *file_ImportForeignSchema(ImportForeignSchemaStmt *stmt,
									  Oid serverOid);

#endif							/* PGS_FILE_INT_H */
