/*-------------------------------------------------------------------------
 *
 * rate.c
 *	  The "rate" source: Spark's rate source, for demos and load.
 *
 * A rate stream has the columns (ts timestamptz, value bigint) and makes
 * rows_per_second rows every second. It is fully determined by its start
 * time, so it is replayable: row i has value i and
 * ts = start + i / rows_per_second. A position is {"start": microseconds
 * since the PostgreSQL epoch, "next": the next value}; a query's start is
 * the moment it was created. Rows due by "now" are read, at most
 * max_batch_rows at a time.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "sources/sources.h"

#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#define RATE_MAX 100000000		/* rows per second */

static int64
rate_rows_per_second(Oid relid)
{
	ForeignTable *ft = GetForeignTable(relid);
	ListCell   *lc;

	foreach(lc, ft->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "rows_per_second") == 0)
			return pgs_defel_int64(def, 1, RATE_MAX, ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE);
	}
	return 1;
}

/* Column numbers of ts and value (0 if absent); other columns stay NULL */
static void
rate_columns(Relation rel, AttrNumber *ts_col, AttrNumber *value_col)
{
	TupleDesc	desc = RelationGetDescr(rel);

	*ts_col = *value_col = 0;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (strcmp(NameStr(att->attname), "ts") == 0 &&
			att->atttypid == TIMESTAMPTZOID)
			*ts_col = i + 1;
		else if (strcmp(NameStr(att->attname), "value") == 0 &&
				 att->atttypid == INT8OID)
			*value_col = i + 1;
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_COLUMN_NAME),
					 errmsg("rate stream \"%s\" has an unexpected column \"%s\" of type %s",
							RelationGetRelationName(rel), NameStr(att->attname),
							format_type_be(att->atttypid)),
					 errhint("A rate stream has the columns ts timestamptz and value bigint.")));
	}
}

static Jsonb *
rate_position(int64 start, int64 next)
{
	char		buf[128];

	snprintf(buf, sizeof(buf), "{\"start\": " INT64_FORMAT ", \"next\": " INT64_FORMAT "}",
			 start, next);
	return pgs_jsonb_from_cstring(buf);
}

static Jsonb *
rate_initial_position(Relation rel)
{
	AttrNumber	a,
				b;

	rate_columns(rel, &a, &b);
	return rate_position(GetCurrentTimestamp(), 0);
}

/* number of rows due by now: row i is due at start + i / rps */
static int64
rate_due(int64 start, int64 rps, TimestampTz now)
{
	if (now < start)
		return 0;
	return (int64) (((__int128) (now - start) * rps) / USECS_PER_SEC) + 1;
}

static void
rate_read(Relation rel, Jsonb *position, int64 max_rows, SourceBatch *batch)
{
	int64		rps = rate_rows_per_second(RelationGetRelid(rel));
	TimestampTz now = GetCurrentTimestamp();
	int64		start,
				next,
				due,
				n;
	AttrNumber	ts_col,
				value_col;
	TupleTableSlot *slot;

	rate_columns(rel, &ts_col, &value_col);
	if (position)
	{
		start = pgs_jsonb_get_int64(position, "start", now);
		next = pgs_jsonb_get_int64(position, "next", 0);
	}
	else
	{
		/* bounded read: the last second */
		start = now - USECS_PER_SEC;
		next = 0;
	}
	due = rate_due(start, rps, now);
	n = Max(due - next, 0);
	if (max_rows >= 0 && n > max_rows)
		n = max_rows;

	batch->rows = tuplestore_begin_heap(false, false, work_mem);
	slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
	for (int64 i = next; i < next + n; i++)
	{
		ExecClearTuple(slot);
		memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
		if (ts_col)
		{
			slot->tts_values[ts_col - 1] =
				TimestampTzGetDatum(start + (int64) (((__int128) i * USECS_PER_SEC) / rps));
			slot->tts_isnull[ts_col - 1] = false;
		}
		if (value_col)
		{
			slot->tts_values[value_col - 1] = Int64GetDatum(i);
			slot->tts_isnull[value_col - 1] = false;
		}
		ExecStoreVirtualTuple(slot);
		tuplestore_puttupleslot(batch->rows, slot);
	}
	ExecDropSingleTupleTableSlot(slot);

	batch->nrows = n;
	batch->start_position = position;
	batch->end_position = position ? rate_position(start, next + n) : NULL;
	batch->more = (next + n < due);
	if (next + n >= due)
	{
		/* time until the next row is due */
		TimestampTz at = start + (int64) (((__int128) (next + n) * USECS_PER_SEC) / rps);

		/* rows come in ticks of at least 100 ms, not a batch per row */
		batch->wait_ms = Max((at - now) / 1000, 100);
	}
	else
		batch->wait_ms = 0;
}

static int64
rate_lag(Relation rel, Jsonb *position)
{
	int64		rps = rate_rows_per_second(RelationGetRelid(rel));
	TimestampTz now = GetCurrentTimestamp();
	int64		start = pgs_jsonb_get_int64(position, "start", now);
	int64		next = pgs_jsonb_get_int64(position, "next", 0);

	return Max(rate_due(start, rps, now) - next, 0);
}

/* the input available now: the rows due by now, for a given start */
static Jsonb *
rate_mark(Relation rel)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), "{\"at\": " INT64_FORMAT "}", GetCurrentTimestamp());
	return pgs_jsonb_from_cstring(buf);
}

static bool
rate_reached(Relation rel, Jsonb *position, Jsonb *mark)
{
	int64		rps = rate_rows_per_second(RelationGetRelid(rel));
	int64		at = pgs_jsonb_get_int64(mark, "at", 0);
	int64		start = pgs_jsonb_get_int64(position, "start", at);
	int64		next = pgs_jsonb_get_int64(position, "next", 0);

	return next >= rate_due(start, rps, at);
}

static const SourceOption rate_options[] = {
	PGS_OPT_INT("rows_per_second", PGS_OPT_TABLE, 1, RATE_MAX),
	PGS_OPT_EVENT_TIME_OPTIONS,
	{NULL}
};

const SourceRoutine rate_source = {
	.name = "rate",
	.initial_position = rate_initial_position,
	.read = rate_read,
	.lag = rate_lag,
	.cleanup = NULL,
	.mark = rate_mark,
	.reached = rate_reached,
	.options = rate_options,
	.contexts = {.table = "a rate stream"},
};
