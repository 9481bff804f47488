/*-------------------------------------------------------------------------
 *
 * parallel.c
 *	  Views with parallelism = N: N workers, each reading a share of the
 *	  input, batches committed share by share.
 *
 * What runs in parallel, and what does not. The worker of share s of N
 * reads its share of each stream (a kafka stream: the partitions p with
 * p % N = s, sources/kafka/share.c; a file stream: the files whose name
 * hashes to s, sources/file/position.c) and decodes it into the batch without
 * the view's lock, holding only AccessShareLock on it (a DROP waits; the
 * other shares and a REFRESH do not), and runs the query over it (the
 * partial aggregation) into a tuplestore (engine/batch.c, batch_prerun).
 * Then it takes the view's ExclusiveLock, a new snapshot, the view's row
 * and positions as the other shares left them, and runs the rest of the
 * batch -- the merge with the state, the windows made final, the sink,
 * the bookkeeping -- as a batch of one worker does, and commits. So the
 * shares' reads, decoding and queries overlap, and their merges are
 * serialized:
 * a group several shares touch is merged by one batch at a time, each
 * seeing the state the one before committed, and no two batches ever
 * wait for each other's row locks (no deadlock can arise between them).
 * The other way, per-share partial states combined when the view is
 * read, would have made the view a query over N states instead of a
 * table; the README's Design decisions says what was measured.
 *
 * Exactly-once per share and for the view: a share's new position is its
 * moves put into the position found under the lock (the source's
 * merge_share), refused if another batch moved the same part meanwhile
 * (a REFRESH, or a worker of an older division still finishing); the
 * batch then fails with a serialization failure, rolls back (its dead
 * letters too) and is read again. The view's row is read again under the
 * lock too: options changed since the read (an ALTER) give the batch up
 * the same way, and a parallelism changed ends the worker, and the
 * manager starts the new division's workers.
 *
 * Event time: the view's watermark is the least of the shares' (Spark's
 * global watermark, the least of its inputs'), so that no share's rows
 * are late because another share reads ahead. Each stream's position row
 * keeps the latest event time each share has read
 * (share_max_event_times, one element per share); while a share has read
 * none, the stream's watermark does not move. A re-division starts them
 * again (the watermark stays where it was: it never goes back). A
 * REFRESH reads every share at once, and counts its latest event time
 * for each. A share that holds none of a stream's input (a topic with
 * fewer partitions than shares; a directory none of whose files' names
 * hash to the share) would hold the watermark back forever: its time is
 * 'infinity', which the least passes over, until a partition added to the
 * topic (a file) falls to it and it reads a row.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "sources/sources.h"
#include "sinks/sinks.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "utils/lsyscache.h"

/* the event time of a share that holds none of a stream's input */
#define SHARE_NONE PG_INT64_MAX	/* DT_NOEND: 'infinity' */

/* parallelism > 1 must suit the query; checked at CREATE and ALTER */
void
pgs_parallel_check(CqDef *cq, const char *viewname)
{
	int			n = cq->opts.parallelism;
	ListCell   *lc;

	if (n <= 1)
		return;
	foreach(lc, cq->streams)
	{
		Oid			relid = lfirst_oid(lc);
		const SourceRoutine *src = pgs_source_for_relation(relid);

		if (src == NULL || src->merge_share == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("option \"parallelism\" cannot be greater than 1 for continuous view \"%s\"",
							viewname),
					 errdetail("\"%s\" is %s; only kafka and file streams are divided into shares (their partitions, their files).",
							   get_rel_name(relid), src ? src->contexts.table : "not a stream"),
					 src && strcmp(src->name, "stream") == 0 ?
					 errhint("Rows inserted into a stream have no partitions to divide: insert them into a kafka topic with several partitions, or give parallelism = 1.") :
					 errhint("Give parallelism = 1.")));
	}
	if (cq->join)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("option \"parallelism\" cannot be greater than 1 for continuous view \"%s\"",
						viewname),
				 errdetail("The view joins two streams."),
				 errhint("Give parallelism = 1, or join in one view and aggregate in another one with parallelism.")));
	if (pgs_sink_has_outbox(cq->opts.sink))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("option \"parallelism\" cannot be greater than 1 for continuous view \"%s\"",
						viewname),
				 errdetail("Its sink is an exactly-once kafka stream, whose messages one worker delivers in order."),
				 errhint("Give parallelism = 1, or a sink with delivery 'at_least_once'.")));
	if (n > pgs_max_queries)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"parallelism\" is %d, more than pg_stream.max_queries (%d)",
						n, pgs_max_queries),
				 errdetail("Each share's worker takes a query slot."),
				 errhint("Raise pg_stream.max_queries, or give a smaller parallelism.")));
}

/*
 * A batch of share share of nshares (-1: all of them, a REFRESH) read up
 * to event time m: the latest event time of each share it read. Times
 * taken with another division start again.
 */
void
pgs_share_times_update(BatchStream *s, int share, int nshares, int64 m)
{
	if (nshares <= 1)
	{
		s->nshare_times = 0;	/* one worker: the stream's latest is enough */
		return;
	}
	if (s->nshare_times != nshares)
	{
		s->nshare_times = nshares;
		s->share_times = palloc0(sizeof(int64) * nshares);
		s->share_known = palloc0(sizeof(bool) * nshares);
	}
	for (int i = 0; i < nshares; i++)
		if ((share < 0 || i == share) &&
			(!s->share_known[i] || m > s->share_times[i] || s->share_times[i] == SHARE_NONE))
		{
			s->share_times[i] = m;
			s->share_known[i] = true;
		}
}

/*
 * A batch of share share of nshares found the share holds none of the
 * stream's input: the share does not hold its watermark back.
 */
void
pgs_share_times_none(BatchStream *s, int share, int nshares)
{
	if (nshares <= 1 || share < 0)
		return;
	if (s->nshare_times != nshares)
	{
		s->nshare_times = nshares;
		s->share_times = palloc0(sizeof(int64) * nshares);
		s->share_known = palloc0(sizeof(bool) * nshares);
	}
	s->share_times[share] = SHARE_NONE;
	s->share_known[share] = true;
}

/* of how many of streams share share of nshares holds no input */
int
pgs_shares_none(List *streams, int share, int nshares)
{
	ListCell   *lc;
	int			n = 0;

	if (nshares <= 1 || share < 0)
		return 0;
	foreach(lc, streams)
	{
		BatchStream *s = lfirst(lc);

		if (s->nshare_times == nshares && s->share_known[share] &&
			s->share_times[share] == SHARE_NONE)
			n++;
	}
	return n;
}

/*
 * The event time a stream's watermark follows with nshares shares: the
 * least of the shares' latest, passing over the shares that hold no
 * input (false while one has none); with one share, the stream's latest.
 */
bool
pgs_share_times_least(const BatchStream *s, int nshares, int64 *least)
{
	if (nshares <= 1)
	{
		*least = s->max_time;
		return s->has_max_time;
	}
	if (s->nshare_times != nshares)
		return false;
	*least = SHARE_NONE;
	for (int i = 0; i < nshares; i++)
	{
		if (!s->share_known[i])
			return false;
		*least = Min(*least, s->share_times[i]);
	}
	return *least != SHARE_NONE;	/* (no share holds any input) */
}
