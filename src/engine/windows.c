/*-------------------------------------------------------------------------
 *
 * windows.c
 *	  Event-time windows: stream.tumble().
 *
 * stream.tumble(ts, size [, origin]) is the start of the tumbling window of
 * the given size that holds ts; windows are aligned on origin (default
 * 2000-01-01 00:00 UTC), and window end = start + size. Used in GROUP BY.
 * Sizes are fixed durations: months and years vary in length and are
 * refused.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_stream.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(stream_tumble_tstz);
PG_FUNCTION_INFO_V1(stream_tumble_ts);

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

static int64
window_start(int64 ts, int64 size, int64 origin)
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
	PG_RETURN_TIMESTAMPTZ(window_start(ts, size, origin));
}

Datum
stream_tumble_ts(PG_FUNCTION_ARGS)
{
	Timestamp	ts = PG_GETARG_TIMESTAMP(0);
	int64		size = pgs_window_size_usecs(PG_GETARG_INTERVAL_P(1));
	Timestamp	origin = PG_GETARG_TIMESTAMP(2);

	if (TIMESTAMP_NOT_FINITE(ts))
		PG_RETURN_TIMESTAMP(ts);
	PG_RETURN_TIMESTAMP(window_start(ts, size, origin));
}
