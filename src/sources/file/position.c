/*-------------------------------------------------------------------------
 *
 * position.c
 *	  Positions of a file stream: what has been read, stored with each
 *	  batch.
 *
 * A position is {"dir": [device, inode, birth time], "done": [[name,
 * inode, bytes, lines, btime, fp], ...], "file": name, "ino": inode,
 * "btime": b, "fp": f, "offset": bytes, "line": n, "reading": [[name,
 * inode, btime, "fp", offset, line], ...], "gen": "hex"} (see
 * "Positions"; ids only where known): the files read to their end, and
 * the file being read with how far (a large file is split over batches
 * at a record boundary, at most max_batch_rows records a batch); with
 * parallelism > 1, a file in progress per share (the others in
 * "reading"; see "Shares" below). It is stored with the batch, so a file
 * is read exactly once across crashes.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "sources/file/file_int.h"

#include "common/hashfn.h"

#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

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
 * file_fingerprint()); each only when known (a done entry's ids are told apart
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
 *
 * Files in progress: "file" and its keys are the first (by name), as a
 * position of one worker has always had its one file in progress;
 * "reading" holds the others, every id written (0, "0": unknown). One
 * worker has at most one, so a position written before shares existed,
 * or by one worker since, has no "reading"; one left by shares (several
 * files half read) is read on by one worker file by file.
 */
static int
done_cmp(const void *a, const void *b)
{
	return strcmp(((const DoneFile *) a)->name, ((const DoneFile *) b)->name);
}

DoneFile *
file_find_done(FilePos *p, const char *name)
{
	DoneFile	key = {(char *) name};

	if (p->ndone == 0)
		return NULL;
	return bsearch(&key, p->done, p->ndone, sizeof(DoneFile), done_cmp);
}

/* the new entry's index */
int
file_add_done(FilePos *p, const char *name, int64 ino, int64 size,
			  int64 lines, int64 btime, uint64 fp)
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

/* by name, the gone ones (NULL) last */
static int
prog_cmp(const void *a, const void *b)
{
	const char *x = ((const ProgFile *) a)->name;
	const char *y = ((const ProgFile *) b)->name;

	if (x == NULL || y == NULL)
		return (x == NULL) - (y == NULL);
	return strcmp(x, y);
}

ProgFile *
file_find_prog(FilePos *p, const char *name)
{
	for (int i = 0; i < p->nprog; i++)
		if (p->prog[i].name && strcmp(p->prog[i].name, name) == 0)
			return &p->prog[i];
	return NULL;
}

void
file_add_prog(FilePos *p, const char *name, int64 ino, int64 btime,
			  uint64 fp, int64 offset, int64 line)
{
	if (p->nprog == p->prog_alloc)
	{
		p->prog_alloc = Max(4, p->prog_alloc * 2);
		p->prog = p->prog ? repalloc(p->prog, sizeof(ProgFile) * p->prog_alloc) :
			palloc(sizeof(ProgFile) * p->prog_alloc);
	}
	p->prog[p->nprog++] = (ProgFile) {(char *) name, ino, btime, fp, offset, line};
}

static char *
jsonb_string(Jsonb *jb, const char *key)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&jb->root, key, strlen(key), NULL);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

int64
file_jsonb_elem_int64(JsonbValue *v)
{
	if (v == NULL || v->type != jbvNumeric)
		return -1;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
}

/* the position's "gen", without reading the rest (a key look-up) */
uint64
file_position_gen(Jsonb *jb)
{
	char	   *s = jb ? jsonb_string(jb, "gen") : NULL;

	return s ? strtou64(s, NULL, 16) : 0;
}

void
file_position_parse(Jsonb *jb, FilePos *p)
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
				(void) file_add_done(p, d.name, d.ino, d.size, d.lines, d.btime, d.fp);
			else if (tok == WJB_ELEM && depth == 1 && e.type == jbvString)
				(void) file_add_done(p, pnstrdup(e.val.string.val, e.val.string.len), 0, -1, -1, 0, 0);
			else if (tok == WJB_ELEM && depth == 2)
			{
				if (field == 0 && e.type == jbvString)
					d.name = pnstrdup(e.val.string.val, e.val.string.len);
				else if (field == 1)
					d.ino = Max(file_jsonb_elem_int64(&e), 0);
				else if (field == 2)
					d.size = file_jsonb_elem_int64(&e);
				else if (field == 3)
					d.lines = file_jsonb_elem_int64(&e);
				else if (field >= 4 && e.type == jbvString)
					d.fp = strtou64(pnstrdup(e.val.string.val, e.val.string.len), NULL, 16);
				else if (field >= 4)
					d.btime = Max(file_jsonb_elem_int64(&e), 0);
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
					p->dir_dev = file_jsonb_elem_int64(&e);
				else if (k == 1)
					p->dir_ino = file_jsonb_elem_int64(&e);
				else if (k == 2)
					p->dir_btime = Max(file_jsonb_elem_int64(&e), 0);
				k++;
			}
		p->has_dir = (k >= 2);
	}
	{
		char	   *file = jsonb_string(jb, "file");
		char	   *fp = jsonb_string(jb, "fp");

		if (file)
			file_add_prog(p, file, pgs_jsonb_get_int64(jb, "ino", 0),
						  pgs_jsonb_get_int64(jb, "btime", 0),
						  fp ? strtou64(fp, NULL, 16) : 0,
						  pgs_jsonb_get_int64(jb, "offset", 0),
						  pgs_jsonb_get_int64(jb, "line", 0));
	}
	/* the other files in progress: [name, ino, btime, "fp", offset, line] */
	v = getKeyJsonValueFromContainer(&jb->root, "reading", 7, NULL);
	if (v && v->type == jbvBinary)
	{
		JsonbIterator *it = JsonbIteratorInit(v->val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;
		int			depth = 0;
		int			field = 0;
		ProgFile	f = {0};

		while ((tok = JsonbIteratorNext(&it, &e, false)) != WJB_DONE)
		{
			if (tok == WJB_BEGIN_ARRAY && ++depth == 2)
			{
				field = 0;
				memset(&f, 0, sizeof(f));
			}
			else if (tok == WJB_END_ARRAY && depth-- == 2 && f.name &&
					 file_find_prog(p, f.name) == NULL)
				file_add_prog(p, f.name, f.ino, f.btime, f.fp, f.offset, f.line);
			else if (tok == WJB_ELEM && depth == 2)
			{
				if (field == 0 && e.type == jbvString)
					f.name = pnstrdup(e.val.string.val, e.val.string.len);
				else if (field == 1)
					f.ino = Max(file_jsonb_elem_int64(&e), 0);
				else if (field == 2)
					f.btime = Max(file_jsonb_elem_int64(&e), 0);
				else if (field == 3 && e.type == jbvString)
					f.fp = strtou64(pnstrdup(e.val.string.val, e.val.string.len), NULL, 16);
				else if (field == 4)
					f.offset = Max(file_jsonb_elem_int64(&e), 0);
				else if (field == 5)
					f.line = Max(file_jsonb_elem_int64(&e), 0);
				field++;
			}
		}
	}
	p->gen = file_position_gen(jb);
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
Jsonb *
file_position_jsonb(FilePos *p)
{
	StringInfoData buf;
	int			nprog = 0;

	if (p->ndone > 1)
		qsort(p->done, p->ndone, sizeof(DoneFile), done_cmp);
	if (p->nprog > 1)
		qsort(p->prog, p->nprog, sizeof(ProgFile), prog_cmp);
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
	for (int i = 0; i < p->nprog; i++)
	{
		ProgFile   *f = &p->prog[i];

		if (f->name == NULL)
			continue;
		if (nprog++ == 0)
		{
			/* the first as one file of one worker has always been */
			appendStringInfoString(&buf, ", \"file\": ");
			escape_json(&buf, f->name);
			appendStringInfo(&buf, ", \"ino\": " INT64_FORMAT, f->ino);
			if (f->btime != 0)
				appendStringInfo(&buf, ", \"btime\": " INT64_FORMAT, f->btime);
			if (f->fp != 0)
				appendStringInfo(&buf, ", \"fp\": \"%" INT64_MODIFIER "x\"", f->fp);
			appendStringInfo(&buf, ", \"offset\": " INT64_FORMAT ", \"line\": " INT64_FORMAT,
							 f->offset, f->line);
			continue;
		}
		appendStringInfoString(&buf, nprog == 2 ? ", \"reading\": [[" : ", [");
		escape_json(&buf, f->name);
		appendStringInfo(&buf, ", " INT64_FORMAT ", " INT64_FORMAT ", \"%" INT64_MODIFIER "x\", "
						 INT64_FORMAT ", " INT64_FORMAT "]",
						 f->ino, f->btime, f->fp, f->offset, f->line);
	}
	if (nprog > 1)
		appendStringInfoChar(&buf, ']');
	appendStringInfo(&buf, ", \"gen\": \"%016" INT64_MODIFIER "x\"}", p->gen);
	return pgs_jsonb_from_cstring(buf.data);
}

/*------------------------------------------------------------------------
 * Shares: a view with parallelism > 1
 *------------------------------------------------------------------------
 *
 * Share s of N reads the files whose name hashes to s (hash_bytes of the
 * name, mod N): a file is read by one share, whole, however many batches
 * it takes, and a division into another N finds each file where it is in
 * the one position of the view and stream: done (to some size), in
 * progress (to some offset: "file" and the others in "reading"), or not
 * there. A position of one worker has at most one file in progress, as
 * ever (so one written before shares reads as it did).
 *
 * A share's batch reads from the position as it was then (start), without
 * the view's lock; under it the position may have moved (now). Its moves
 * are the files whose state (the done entry and the entry in progress,
 * each or neither) differs between start and end; each must stand in now
 * as in start, else another batch (a REFRESH, a worker of an older
 * division) read it meanwhile, and the batch is given up (NULL) and read
 * again. The merge is now with the moved files as in end. A share also
 * moves files it does not read: the entries of files gone are forgotten
 * (another share may have forgotten them first: that is no conflict),
 * identities taken in a new directory (two shares doing so at once: the
 * second reads again, from the new identities).
 *------------------------------------------------------------------------
 */
bool
file_owned(const char *name)
{
	return pgs_batchrun_owns((int64) hash_bytes((const unsigned char *) name,
												strlen(name)));
}

static bool
same_done(DoneFile *a, DoneFile *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a->ino == b->ino && a->size == b->size && a->lines == b->lines &&
		a->btime == b->btime && a->fp == b->fp;
}

static bool
same_prog(ProgFile *a, ProgFile *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return a->ino == b->ino && a->btime == b->btime && a->fp == b->fp &&
		a->offset == b->offset && a->line == b->line;
}

static bool
same_state(FilePos *a, FilePos *b, const char *name)
{
	return same_done(file_find_done(a, name), file_find_done(b, name)) &&
		same_prog(file_find_prog(a, name), file_find_prog(b, name));
}

static bool
name_in(List *names, const char *name)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(lfirst(lc), name) == 0)
			return true;
	return false;
}

static bool
absent(FilePos *p, const char *name)
{
	return file_find_done(p, name) == NULL && file_find_prog(p, name) == NULL;
}

/*
 * name moved from start to end: it must stand in now as in start. Only a
 * file forgotten (gone from the directory, or truncated, to be read from
 * its start) may be forgotten in now already: the same state that another
 * batch reached by reading the same bytes would count them twice.
 */
static bool
move_ok(FilePos *now, FilePos *start, FilePos *end, const char *name,
		List **moved)
{
	if (name_in(*moved, name) || same_state(start, end, name))
		return true;
	if (!same_state(now, start, name) && !(absent(end, name) && absent(now, name)))
		return false;
	*moved = lappend(*moved, (char *) name);
	return true;
}

Jsonb *
file_merge_share(Jsonb *now, Jsonb *start, Jsonb *end)
{
	FilePos		n,
				s,
				e,
				m;
	List	   *moved = NIL;
	bool		dir_moved;

	file_position_parse(now, &n);
	file_position_parse(start, &s);
	file_position_parse(end, &e);
	for (int i = 0; i < s.ndone; i++)
		if (!move_ok(&n, &s, &e, s.done[i].name, &moved))
			return NULL;
	for (int i = 0; i < e.ndone; i++)
		if (!move_ok(&n, &s, &e, e.done[i].name, &moved))
			return NULL;
	for (int i = 0; i < s.nprog; i++)
		if (!move_ok(&n, &s, &e, s.prog[i].name, &moved))
			return NULL;
	for (int i = 0; i < e.nprog; i++)
		if (!move_ok(&n, &s, &e, e.prog[i].name, &moved))
			return NULL;
	dir_moved = e.has_dir != s.has_dir || e.dir_dev != s.dir_dev ||
		e.dir_ino != s.dir_ino || e.dir_btime != s.dir_btime;
	if (moved == NIL && !dir_moved)
		return now;

	memset(&m, 0, sizeof(m));
	m.has_dir = dir_moved ? e.has_dir : n.has_dir;
	m.dir_dev = dir_moved ? e.dir_dev : n.dir_dev;
	m.dir_ino = dir_moved ? e.dir_ino : n.dir_ino;
	m.dir_btime = dir_moved ? e.dir_btime : n.dir_btime;
	for (int i = 0; i < n.ndone; i++)
		if (!name_in(moved, n.done[i].name))
			(void) file_add_done(&m, n.done[i].name, n.done[i].ino, n.done[i].size,
								 n.done[i].lines, n.done[i].btime, n.done[i].fp);
	for (int i = 0; i < e.ndone; i++)
		if (name_in(moved, e.done[i].name))
			(void) file_add_done(&m, e.done[i].name, e.done[i].ino, e.done[i].size,
								 e.done[i].lines, e.done[i].btime, e.done[i].fp);
	for (int i = 0; i < n.nprog; i++)
		if (!name_in(moved, n.prog[i].name))
			file_add_prog(&m, n.prog[i].name, n.prog[i].ino, n.prog[i].btime,
						  n.prog[i].fp, n.prog[i].offset, n.prog[i].line);
	for (int i = 0; i < e.nprog; i++)
		if (name_in(moved, e.prog[i].name))
			file_add_prog(&m, e.prog[i].name, e.prog[i].ino, e.prog[i].btime,
						  e.prog[i].fp, e.prog[i].offset, e.prog[i].line);
	return file_position_jsonb(&m);
}
