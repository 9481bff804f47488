/*-------------------------------------------------------------------------
 *
 * position.c
 *	  Positions of a file stream: what has been read, stored with each
 *	  batch.
 *
 * A position is {"dir": [device, inode, birth time], "done": [[name,
 * inode, bytes, lines, btime, fp], ...], "file": name, "ino": inode,
 * "btime": b, "fp": f, "offset": bytes, "line": n, "gen": "hex"} (see
 * "Positions"; ids only where known): the files read to their end, and
 * the file being read with how far (a large file is split over batches
 * at a record boundary, at most max_batch_rows records a batch). It is
 * stored with the batch, so a file is read exactly once across crashes.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "sources/file/file_int.h"

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
	p->file = jsonb_string(jb, "file");
	p->file_ino = pgs_jsonb_get_int64(jb, "ino", 0);
	p->file_btime = pgs_jsonb_get_int64(jb, "btime", 0);
	{
		char	   *fp = jsonb_string(jb, "fp");

		p->file_fp = fp ? strtou64(fp, NULL, 16) : 0;
	}
	p->offset = pgs_jsonb_get_int64(jb, "offset", 0);
	p->line = pgs_jsonb_get_int64(jb, "line", 0);
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
