/*-------------------------------------------------------------------------
 *
 * share.c
 *	  A kafka stream read by a view with parallelism > 1: the shares of
 *	  its partitions, and how a share's batch meets the position the
 *	  other shares have moved meanwhile.
 *
 * A view with parallelism = N runs N workers; the worker of share s reads
 * the partitions p with p % N = s (a partition added later too), as the
 * topic's metadata lists them (reader.c asks pgs_batchrun_owns). The
 * position stays one row per view and stream, {"partition": next offset},
 * so that re-dividing the shares (ALTER ... SET (parallelism = M)) moves
 * nothing: each partition's offset is where it is, whoever reads it next.
 *
 * A share reads without the view's lock (engine/batch.c), from the
 * position as it was then; it commits under the lock, where the position
 * may have moved in the other shares' partitions. kafka_merge_share puts
 * the share's moves into the position found there: every partition the
 * batch moved must still stand where the batch started it, else another
 * batch (a REFRESH, the worker of an older division) read the same
 * messages, and the batch is given up (NULL) and read again.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "sources/kafka/kafka_int.h"

#include "lib/stringinfo.h"
#include "utils/jsonb.h"

#define NO_OFFSET (-2)			/* a partition not in a position */

/* the partitions of a position and their offsets (integers only) */
static List *
position_keys(Jsonb *position)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	List	   *keys = NIL;

	if (position == NULL)
		return NIL;
	it = JsonbIteratorInit(&position->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY)
			keys = lappend(keys, pnstrdup(v.val.string.val, v.val.string.len));
	return keys;
}

static bool
key_in(List *keys, const char *key)
{
	ListCell   *lc;

	foreach(lc, keys)
		if (strcmp(lfirst(lc), key) == 0)
			return true;
	return false;
}

static int64
offset_in(Jsonb *position, const char *key)
{
	return position ? pgs_jsonb_get_int64(position, key, NO_OFFSET) : NO_OFFSET;
}

Jsonb *
kafka_merge_share(Jsonb *now, Jsonb *start, Jsonb *end)
{
	List	   *moved = NIL;
	List	   *keys;
	ListCell   *lc;
	StringInfoData buf;
	bool		first = true;

	/* the partitions the batch moved, each where the batch found it */
	foreach(lc, position_keys(end))
	{
		char	   *key = lfirst(lc);
		int64		from = offset_in(start, key);

		if (offset_in(end, key) == from)
			continue;
		if (offset_in(now, key) != from)
			return NULL;		/* read by another batch meanwhile */
		moved = lappend(moved, key);
	}
	if (moved == NIL)
		return now;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	keys = position_keys(now);
	foreach(lc, moved)
		if (!key_in(keys, lfirst(lc)))
			keys = lappend(keys, lfirst(lc));
	foreach(lc, keys)
	{
		char	   *key = lfirst(lc);
		int64		off = key_in(moved, key) ? offset_in(end, key) : offset_in(now, key);

		if (off == NO_OFFSET)
			continue;
		appendStringInfo(&buf, "%s\"%s\": " INT64_FORMAT, first ? "" : ", ", key, off);
		first = false;
	}
	appendStringInfoChar(&buf, '}');
	return pgs_jsonb_from_cstring(buf.data);
}
