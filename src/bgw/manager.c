/*-------------------------------------------------------------------------
 *
 * manager.c
 *	  The manager of one database: keeps a worker running for every
 *	  enabled continuous query.
 *
 * Every second, or when woken (a query created, started or stopped), it
 * reads stream.cq and
 *	- starts a worker for each enabled, not failed query that has none,
 *	  after a back-off if that query's worker died recently; a query with
 *	  parallelism = N gets N, one per share of its input
 *	  (engine/parallel.c), and when N changes, its workers are stopped
 *	  and the new division's started;
 *	- says so in the query's slot, and in the log once, when no
 *	  background worker slot is free (stream.queries shows the note), and
 *	  tries again later; when all pg_stream.max_queries slots are taken,
 *	  it starts no worker, logs that once, and stream.queries shows it;
 *	- terminates the workers of queries that were stopped or dropped;
 *	- deletes the rows of INSERT-fed streams that every view reading them
 *	  has consumed (a REFRESH wakes it when it commits), and of streams
 *	  that no view reads.
 * It exits when the extension is not installed in its database, or when
 * the database is paused (a DROP DATABASE, a rename or a copy of it
 * waits for every session to leave it: bgw/shmem.c), after terminating
 * its workers.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "meta/meta.h"
#include "sources/sources.h"
#include "bgw/bgw.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

typedef struct Managed
{
	Oid			viewid;
	int			share;			/* of its input, 0 if it has one worker */
	int			nshares;		/* its view's parallelism, as last started */
	char		name[NAMEDATALEN * 2 + 4];	/* for the log */
	BackgroundWorkerHandle *handle;
	TimestampTz restart_at;		/* back-off after a death */
	int			deaths;
	bool		seen;			/* enabled in the last scan */
	bool		logged_no_slot;
	bool		logged_no_query_slot;
} Managed;

static Managed *managed = NULL;
static int	nmanaged = 0;

static Managed *
managed_get(Oid viewid, int share)
{
	for (int i = 0; i < nmanaged; i++)
		if (managed[i].viewid == viewid && managed[i].share == share)
			return &managed[i];
	managed = managed ? repalloc(managed, sizeof(Managed) * (nmanaged + 1))
		: MemoryContextAlloc(TopMemoryContext, sizeof(Managed));
	memset(&managed[nmanaged], 0, sizeof(Managed));
	managed[nmanaged].viewid = viewid;
	managed[nmanaged].share = share;
	managed[nmanaged].nshares = 1;
	return &managed[nmanaged++];
}

static bool
worker_alive(Managed *m)
{
	pid_t		pid;

	if (m->handle == NULL)
		return false;
	return GetBackgroundWorkerPid(m->handle, &pid) != BGWH_STOPPED;
}

bool
pgs_start_worker(Oid dboid, Oid viewid, int share, int nshares,
				 BackgroundWorkerHandle **handle)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_stream");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgs_worker_main");
	if (nshares > 1)
		snprintf(worker.bgw_name, BGW_MAXLEN, "pg_stream worker %u share %d of %d",
				 viewid, share, nshares);
	else
		snprintf(worker.bgw_name, BGW_MAXLEN, "pg_stream worker %u", viewid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_stream worker");
	worker.bgw_main_arg = ObjectIdGetDatum(viewid);
	memcpy(worker.bgw_extra, &dboid, sizeof(Oid));
	memcpy(worker.bgw_extra + sizeof(Oid), &share, sizeof(int));
	memcpy(worker.bgw_extra + sizeof(Oid) + sizeof(int), &nshares, sizeof(int));
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, handle);
}

static void
terminate_all(void)
{
	for (int i = 0; i < nmanaged; i++)
		if (managed[i].handle)
			TerminateBackgroundWorker(managed[i].handle);
}

static void
manager_detach(int code, Datum arg)
{
	pgs_set_manager(MyDatabaseId, NULL, false);
	/* the query slots it took for workers that never claimed them */
	pgs_slots_release_unclaimed(MyDatabaseId);
}

void
pgs_manager_main(Datum arg)
{
	Oid			dboid = DatumGetObjectId(arg);

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	if (pgs_database_paused(dboid))
		proc_exit(0);			/* started just before the pause */
	if (!pgs_set_manager(dboid, MyLatch, true))
		proc_exit(0);			/* another one beat us to it */
	before_shmem_exit(manager_detach, (Datum) 0);
	pgstat_report_appname("pg_stream manager");
	pgs_force_read_committed();
	/* it runs no user code: its SQL resolves names in pg_catalog only */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);

	for (;;)
	{
		TimestampTz now;
		bool		have_ext;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		/* a DROP DATABASE (or a rename, a copy) waits for us to leave */
		if (pgs_database_paused(dboid))
		{
			terminate_all();
			proc_exit(0);
		}

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		have_ext = pgs_lock_extension();
		PushActiveSnapshot(GetTransactionSnapshot());
		if (have_ext)
		{
			/* a restored view waits for its first REFRESH (ddl.c) */
			List	   *views = meta_cq_runnable();
			ListCell   *lc;

			for (int i = 0; i < nmanaged; i++)
				managed[i].seen = false;
			foreach(lc, views)
			{
				CqName	   *v = lfirst(lc);

				for (int share = 0; share < v->parallelism; share++)
				{
					Managed    *m = managed_get(v->view, share);

					m->seen = true;
					strlcpy(m->name, v->name ? v->name : "?", sizeof(m->name));
					if (m->nshares != v->parallelism)
					{
						/*
						 * Divided anew: the old division's worker goes (a
						 * batch of it that commits first is safe: the
						 * positions are per partition, engine/parallel.c),
						 * and this share's starts at once.
						 */
						if (m->handle)
						{
							TerminateBackgroundWorker(m->handle);
							pfree(m->handle);
							m->handle = NULL;
						}
						m->nshares = v->parallelism;
						m->deaths = 0;
						m->restart_at = 0;
					}
				}
			}
			pgs_sources_gc();
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
		pgstat_report_activity(STATE_IDLE, NULL);

		if (!have_ext)
		{
			terminate_all();
			proc_exit(0);
		}

		now = GetCurrentTimestamp();
		for (int i = 0; i < nmanaged; i++)
		{
			Managed    *m = &managed[i];

			if (!m->seen)
			{
				/* stopped, failed or dropped */
				if (m->handle)
				{
					TerminateBackgroundWorker(m->handle);
					pfree(m->handle);
					m->handle = NULL;
				}
				pgs_slot_note(dboid, m->viewid, m->share, NULL);
				m->deaths = 0;
				continue;
			}
			if (worker_alive(m))
				continue;
			if (m->handle)
			{
				/* it died: try again after a back-off */
				pfree(m->handle);
				m->handle = NULL;
				m->deaths++;
				m->restart_at = TimestampTzPlusMilliseconds(now,
															Min(1000 * (1 << Min(m->deaths - 1, 6)), 60000));
			}
			if (now < m->restart_at)
				continue;
			/*
			 * All pg_stream.max_queries slots taken: a worker could not
			 * run. stream.queries says so (stream._slots_free); try again
			 * at the next round.
			 */
			if (!pgs_slot_reserve(dboid, m->viewid, m->share, m->nshares))
			{
				if (!m->logged_no_query_slot)
					ereport(LOG,
							(errmsg("pg_stream: no query slot for continuous view \"%s\"; it will start when one frees",
									m->name),
							 errhint("Raise pg_stream.max_queries.")));
				m->logged_no_query_slot = true;
				continue;
			}
			m->logged_no_query_slot = false;
			if (pgs_start_worker(dboid, m->viewid, m->share, m->nshares, &m->handle))
				m->logged_no_slot = false;
			else
			{
				m->handle = NULL;
				pgs_slot_note(dboid, m->viewid, m->share,
							  "waiting for a background worker slot (max_worker_processes)");
				if (!m->logged_no_slot)
					ereport(LOG,
							(errmsg("pg_stream: no background worker slot for continuous view \"%s\"; it will start when one frees",
									m->name),
							 errhint("Raise max_worker_processes.")));
				m->logged_no_slot = true;
			}
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
