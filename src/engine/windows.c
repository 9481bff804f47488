/*-------------------------------------------------------------------------
 *
 * windows.c
 *	  Event-time windows: stream.tumble() and stream.hop().
 *
 * stream.tumble(ts, size [, origin]) is the start of the tumbling window of
 * the given size that holds ts; windows are aligned on origin (default
 * 2000-01-01 00:00 UTC), and window end = start + size. Used in GROUP BY.
 *
 * stream.hop(ts, size, slide [, origin]) returns the start of every
 * sliding window that holds ts: windows of the given size starting every
 * slide (aligned on origin), oldest first. A window holds ts when
 * start <= ts < start + size, so ts belongs to size / slide windows when
 * slide divides size, and to none when it falls in the gap between two
 * windows of a slide longer than their size. Used in FROM:
 *	  FROM s, stream.hop(s.ts, '10 minutes', '5 minutes') AS w(window_start)
 *
 * Sizes are fixed durations: months and years vary in length and are
 * refused. An infinite ts is its own window.
 *
 *-------------------------------------------------------------------------
 */
#include "engine/engine.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(stream_tumble_tstz);
PG_FUNCTION_INFO_V1(stream_tumble_ts);
PG_FUNCTION_INFO_V1(stream_hop);

int64
pgs_window_size_usecs(Interval *size)
{
	int64		usecs;

	if (size->month != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("window size must not contain months or years"),
				 errhint("Months and years vary in length; use days, such as '30 days'.")));
	usecs = size->time + (int64) size->day * USECS_PER_DAY;
	if (usecs <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window size must be positive")));
	return usecs;
}

int64
pgs_window_start(int64 ts, int64 size, int64 origin)
{
	int64		delta = ts - origin;
	int64		q = delta / size;

	if (delta % size < 0)
		q--;					/* floor, also before the origin */
	return origin + q * size;
}

Datum
stream_tumble_tstz(PG_FUNCTION_ARGS)
{
	TimestampTz ts = PG_GETARG_TIMESTAMPTZ(0);
	int64		size = pgs_window_size_usecs(PG_GETARG_INTERVAL_P(1));
	TimestampTz origin = PG_GETARG_TIMESTAMPTZ(2);

	if (TIMESTAMP_NOT_FINITE(ts))
		PG_RETURN_TIMESTAMPTZ(ts);
	PG_RETURN_TIMESTAMPTZ(pgs_window_start(ts, size, origin));
}

Datum
stream_tumble_ts(PG_FUNCTION_ARGS)
{
	Timestamp	ts = PG_GETARG_TIMESTAMP(0);
	int64		size = pgs_window_size_usecs(PG_GETARG_INTERVAL_P(1));
	Timestamp	origin = PG_GETARG_TIMESTAMP(2);

	if (TIMESTAMP_NOT_FINITE(ts))
		PG_RETURN_TIMESTAMP(ts);
	PG_RETURN_TIMESTAMP(pgs_window_start(ts, size, origin));
}

/*
 * stream.hop(ts, size, slide, origin): timestamptz and timestamp alike
 * (both are microseconds; the SQL declarations give the types).
 */
typedef struct HopState
{
	int64		next;			/* start of the next window to return */
	int64		last;			/* start of the last one */
	int64		slide;			/* 0: return one infinite ts */
} HopState;

Datum
stream_hop(PG_FUNCTION_ARGS)
{
	FuncCallContext *fctx;
	HopState   *st;

	if (SRF_IS_FIRSTCALL())
	{
		int64		ts = PG_GETARG_INT64(0);
		int64		size = pgs_window_size_usecs(PG_GETARG_INTERVAL_P(1));
		int64		slide = pgs_window_size_usecs(PG_GETARG_INTERVAL_P(2));
		int64		origin = PG_GETARG_INT64(3);
		MemoryContext old;

		fctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(fctx->multi_call_memory_ctx);
		st = palloc(sizeof(HopState));
		st->slide = slide;
		if (TIMESTAMP_NOT_FINITE(ts))
		{
			st->next = st->last = ts;
			st->slide = 0;
		}
		else
		{
			/* the latest start at or before ts, back to the earliest after ts - size */
			st->last = pgs_window_start(ts, slide, origin);
			st->next = pgs_window_start(ts - size, slide, origin) + slide;
		}
		fctx->user_fctx = st;
		MemoryContextSwitchTo(old);
	}
	fctx = SRF_PERCALL_SETUP();
	st = fctx->user_fctx;
	if (st->next <= st->last)
	{
		int64		start = st->next;

		if (st->slide == 0)
		{
			/* returned once */
			st->next = 1;
			st->last = 0;
		}
		else
			st->next += st->slide;
		SRF_RETURN_NEXT(fctx, Int64GetDatum(start));
	}
	SRF_RETURN_DONE(fctx);
}
