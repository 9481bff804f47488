/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The worker of one continuous query: the micro-batch loop.
 *
 * Each batch is one transaction (engine/batch.c). Between batches the
 * worker holds no snapshot and no transaction, and sleeps on its latch:
 * a backend that commits rows into a stream sets the latches of the
 * workers of its database, so new input is processed at once; sources
 * that cannot signal (rate) say when their next input is due; and the
 * wait is bounded by pg_stream.poll_interval.
 *
 * Triggers: the default and "continuous" run a batch as soon as input is
 * there (at most max_batch_rows each); an interval runs a batch at most
 * once per interval; "manual" runs none (only REFRESH does).
 *
 * Locks. A batch locks what its view reads, deepest first, and then the
 * view, in the order DROP ... CASCADE takes them (engine/batch.c). Beyond
 * that, so that a user's DDL never loses a deadlock to a worker, the
 * worker waits for a lock at most half of deadlock_timeout (before the
 * deadlock detector runs), then gives up the batch and tries again
 * shortly; that is not counted as a failure, unless it keeps happening
 * (LOCK_WAITS_MAX in a row: a NOWAIT in the view's own query, say).
 *
 * A batch that fails is rolled back whole, so its input stays unconsumed.
 * It is tried again after 1 s, 2 s, 4 s ...; after pg_stream.retry_limit
 * failed tries the query is marked failed with its last error and the
 * worker exits. stream.start() clears that and the manager starts a new
 * worker, which begins with the same input.
 *
 * A view with parallelism = N has N workers, each reading its share of
 * the input and committing its own batches (engine/parallel.c). A batch
 * that finds another one read the same input first (a serialization
 * failure) is read again at once, and not counted as a failure.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "meta/meta.h"
#include "engine/cq.h"
#include "engine/engine.h"
#include "sources/sources.h"
#include "bgw/bgw.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

static Oid	my_viewid = InvalidOid;
static int	my_share = 0;		/* parallelism > 1: the share it reads */
static int	my_nshares = 1;		/* of how many (engine/parallel.c) */

/* loop state: static, so not clobbered by the longjmp of an error */
static int	failures = 0;		/* failed tries of the current batch */
static int	outages = 0;		/* tries that found the source away */
static int	lock_waits = 0;		/* tries in a row that gave up on a lock */
static bool outbox_check = true;	/* look at the outbox before the next batch */

#define LOCK_WAITS_MAX 600		/* a minute of 100 ms waits */

static void reload_config(void);

/* free the query's slot: the manager takes a new one for a new worker */
static void
worker_detach(int code, Datum arg)
{
	CqSlot	   *s;

	pgs_slots_lock(true);
	for (int i = 0; i < pgs_slot_count(); i++)
	{
		s = pgs_slot_at(i);
		if (s->dboid == MyDatabaseId && s->viewid == my_viewid && s->pid == MyProcPid)
			memset(s, 0, sizeof(CqSlot));
	}
	pgs_slots_unlock();
}

/*
 * Record the error of a failed batch; mark the query failed if final.
 * Called in the error handler: its own errors (a lock it cannot get, ...)
 * are logged, not raised.
 */
static void
record_failure(const char *message, bool final)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		meta_cq_record_error(my_viewid, message, final);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("pg_stream: could not record the failure of continuous query %u: %s",
						my_viewid, edata->message)));
	}
	PG_END_TRY();
}

/*
 * Sleep until a moment, whatever wakes the latch (inserts do), but
 * answering SIGTERM and SIGHUP at once. A changed trigger takes effect
 * after the current interval.
 */
static void
wait_until(TimestampTz until)
{
	for (;;)
	{
		long		secs;
		int			usecs;

		CHECK_FOR_INTERRUPTS();
		if (GetCurrentTimestamp() >= until)
			return;
		TimestampDifference(GetCurrentTimestamp(), until, &secs, &usecs);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(secs * 1000 + usecs / 1000, 1), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		reload_config();
	}
}

/*
 * Sleep until input arrives: an insert sets the latch, a kafka stream's
 * descriptor becomes readable (librdkafka queued a message), or timeout_ms
 * pass.
 */
static void
wait_for_input(BatchWait *wait, long timeout_ms)
{
	WaitEventSet *set;
	WaitEvent	event;

	if (wait->nfds == 0)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		return;
	}
	set = CreateWaitEventSet(CurrentMemoryContext, wait->nfds + 2);
	AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	for (int i = 0; i < wait->nfds; i++)
		AddWaitEventToSet(set, WL_SOCKET_READABLE, wait->fds[i], NULL, NULL);
	(void) WaitEventSetWait(set, timeout_ms, &event, 1, PG_WAIT_EXTENSION);
	FreeWaitEventSet(set);
	ResetLatch(MyLatch);
}

/* wait for a lock at most half of deadlock_timeout (see the top) */
static void
set_lock_timeout(void)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%d", Max(DeadlockTimeout / 2, 1));
	SetConfigOption("lock_timeout", buf, PGC_SUSET, PGC_S_OVERRIDE);
}

/* on SIGHUP: reread the configuration (deadlock_timeout may change) */
static void
reload_config(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
		set_lock_timeout();
	}
}

/*
 * pg_stat_activity's query of the worker: "pg_stream batch of <view>",
 * the view by its name now (it may have been renamed or dropped).
 */
static void
report_batch_activity(void)
{
	char		activity[NAMEDATALEN * 2 + 64];
	char	   *name = get_rel_name(my_viewid);
	char	   *nsp = name ? get_namespace_name(get_rel_namespace(my_viewid)) : NULL;

	if (name && nsp && my_nshares > 1)
		snprintf(activity, sizeof(activity), "pg_stream batch of %s, share %d of %d",
				 quote_qualified_identifier(nsp, name), my_share, my_nshares);
	else if (name && nsp)
		snprintf(activity, sizeof(activity), "pg_stream batch of %s",
				 quote_qualified_identifier(nsp, name));
	else
		snprintf(activity, sizeof(activity), "pg_stream batch of view %u", my_viewid);
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
pgs_worker_main(Datum arg)
{
	Oid			dboid;
	MemoryContext loopcxt;
	TimestampTz last_start = 0;
	CqSlot	   *slot;

	my_viewid = DatumGetObjectId(arg);
	memcpy(&dboid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	memcpy(&my_share, MyBgworkerEntry->bgw_extra + sizeof(Oid), sizeof(int));
	memcpy(&my_nshares, MyBgworkerEntry->bgw_extra + sizeof(Oid) + sizeof(int), sizeof(int));

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	pgstat_report_appname("pg_stream worker");

	slot = pgs_slot_claim(dboid, my_viewid, my_share, my_nshares, MyProcPid, MyLatch);
	if (slot == NULL)
	{
		ereport(LOG,
				(errmsg("pg_stream: no free query slot for continuous query %u", my_viewid),
				 errhint("Raise pg_stream.max_queries.")));
		proc_exit(1);
	}
	before_shmem_exit(worker_detach, (Datum) 0);

	loopcxt = AllocSetContextCreate(TopMemoryContext, "pg_stream worker loop",
									ALLOCSET_DEFAULT_SIZES);
	set_lock_timeout();
	pgs_force_read_committed();

	for (;;)
	{
		BatchResult result = BATCH_EMPTY;
		BatchWait	wait = {-1, 0};
		int64		wait_ms;
		CqOptions	opts;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		reload_config();

		memset(&opts, 0, sizeof(opts));
		last_start = GetCurrentTimestamp();
		MemoryContextSwitchTo(loopcxt);
		PG_TRY();
		{
			/*
			 * An exactly-once kafka sink's messages wait in the outbox
			 * (sources/kafka/outbox.c): what a crash or an outage left is
			 * delivered before the next batch runs, and each batch's after
			 * it commits. While Kafka is away this fails, and the worker
			 * waits as for an unreachable source.
			 */
			if (outbox_check)
				pgs_kafka_outbox_flush(my_viewid);
			outbox_check = false;
			SetCurrentStatementStartTimestamp();
			StartTransactionCommand();
			report_batch_activity();
			/* first the extension, as DROP EXTENSION locks it first */
			if (!pgs_lock_extension())
				result = BATCH_GONE;
			else if (my_nshares > 1)
				result = pgs_run_share_batch(my_viewid, my_share, my_nshares, &wait, &opts);
			else
				result = pgs_run_batch(my_viewid, true, INPUT_READ, &wait, &opts);
			CommitTransactionCommand();
			/* (a REFRESH may have filled the outbox too) */
			if (result != BATCH_GONE && opts.sink_outbox)
				pgs_kafka_outbox_flush(my_viewid);
			if (failures > 0)
				pgs_slot_set_tries(slot, 0);
			failures = 0;
			lock_waits = 0;
			if (outages > 0)
			{
				outages = 0;
				pgs_slot_set_waiting(slot, false);
				record_failure(NULL, false);
				ereport(LOG,
						(errmsg("pg_stream: the source of continuous query %u is back", my_viewid)));
			}
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(loopcxt);
			edata = CopyErrorData();
			FlushErrorState();
			AbortCurrentTransaction();
			outbox_check = true;
			result = BATCH_EMPTY;
			wait.nfds = 0;
			if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE &&
				++lock_waits < LOCK_WAITS_MAX)
			{
				/* someone (DROP, ALTER, a REFRESH) holds a lock: later */
				ereport(DEBUG1,
						(errmsg("pg_stream: batch of continuous query %u waits for a lock: %s",
								my_viewid, edata->message)));
				wait.ms = 100;
			}
			else if (edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE &&
					 my_nshares > 1 && ++lock_waits < LOCK_WAITS_MAX)
			{
				/* another share's batch, or a REFRESH, took this input: read again */
				ereport(DEBUG1,
						(errmsg("pg_stream: batch of continuous query %u, share %d, reads again: %s",
								my_viewid, my_share, edata->message)));
				wait.ms = 1;
			}
			else if (edata->sqlerrcode == ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION)
			{
				/*
				 * The source is away (a broker down): not the query's fault,
				 * so it waits, however long, trying again with back-off.
				 */
				lock_waits = 0;
				if (outages++ == 0)
					pgs_slot_set_waiting(slot, true);
				if (outages == 1 || outages % 20 == 0)
					ereport(LOG,
							(errmsg("pg_stream: continuous query %u waits for its source: %s",
									my_viewid, edata->message)));
				record_failure(psprintf("waiting for the source: %s", edata->message), false);
				wait.ms = 500L * (1 << Min(outages - 1, 5));
			}
			else
			{
				lock_waits = 0;
				/* the source is back, and the query fails on its own */
				if (outages > 0)
				{
					outages = 0;
					pgs_slot_set_waiting(slot, false);
				}
				failures++;
				pgs_slot_set_tries(slot, failures);
				ereport(LOG,
						(errmsg("pg_stream: batch of continuous query %u failed (try %d of %d): %s",
								my_viewid, failures, pgs_retry_limit, edata->message)));
				record_failure(edata->message, failures >= pgs_retry_limit);
				if (failures >= pgs_retry_limit)
					proc_exit(0);
				wait.ms = 1000L * (1 << Min(failures - 1, 6));
			}
		}
		PG_END_TRY();
		pgstat_report_activity(STATE_IDLE, NULL);
		pgstat_report_stat(false);
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loopcxt);

		if (result == BATCH_GONE)
			proc_exit(0);
		wait_ms = wait.ms;

		/* when may the next batch start? */
		if (failures > 0 || lock_waits > 0 || outages > 0)
		{
			/* a back-off: inserts (which set the latch) do not cut it short */
			wait_until(TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms));
			continue;
		}
		else if (opts.trigger == TRIGGER_INTERVAL)
		{
			/* at most one batch per interval, however often woken */
			wait_until(TimestampTzPlusMilliseconds(last_start, opts.trigger_interval_ms));
			continue;
		}
		else if (result == BATCH_DONE && wait_ms == 0)
			continue;			/* more input is waiting */
		else if (wait_ms >= 0)
			timeout = Min(wait_ms, pgs_poll_interval_ms);
		else
			timeout = pgs_poll_interval_ms;

		wait_for_input(&wait, Max(timeout, 1));
	}
}
