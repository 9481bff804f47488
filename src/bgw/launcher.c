/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The launcher: one per cluster, started with the postmaster.
 *
 * It is connected to no database (it reads the shared catalog
 * pg_database only) and starts a manager (manager.c) for every database
 * that accepts connections and has none. A manager exits at once if its
 * database does not have the extension; the launcher then tries that
 * database again only every LAUNCHER_NAPTIME, or when woken (by CREATE
 * EXTENSION pg_stream, or by a backend that needs a manager).
 *
 * It starts none for a database paused by a DROP, a rename or a copy of
 * it (shmem.c) until the pause is lifted, which wakes it.
 *
 * After a crash the postmaster restarts the launcher, which restarts the
 * managers, which restart the workers: recovery needs no manual step.
 *
 *-------------------------------------------------------------------------
 */
#include "bgw/bgw.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define LAUNCHER_NAPTIME_MS 10000

void
pgs_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_stream");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgs_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_stream launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_stream launcher");
	RegisterBackgroundWorker(&worker);
}

bool
pgs_start_manager(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "pg_stream");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "pgs_manager_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "pg_stream manager %u", dboid);
	snprintf(worker.bgw_type, BGW_MAXLEN, "pg_stream manager");
	worker.bgw_main_arg = ObjectIdGetDatum(dboid);
	worker.bgw_notify_pid = 0;
	return RegisterDynamicBackgroundWorker(&worker, &handle);
}

typedef struct DbProbe
{
	Oid			dboid;
	TimestampTz started_at;
} DbProbe;

void
pgs_launcher_main(Datum arg)
{
	DbProbe    *probes = NULL;
	int			nprobes = 0;
	MemoryContext cxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	*pgs_launcher_latch() = MyLatch;
	cxt = AllocSetContextCreate(TopMemoryContext, "pg_stream launcher",
								ALLOCSET_DEFAULT_SIZES);
	elog(LOG, "pg_stream launcher started");

	for (;;)
	{
		List	   *dbs = NIL;
		ListCell   *lc;
		TimestampTz now;
		Relation	rel;
		TableScanDesc scan;
		HeapTuple	tup;
		MemoryContext old;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* the databases that accept connections */
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		rel = table_open(DatabaseRelationId, AccessShareLock);
		scan = table_beginscan_catalog(rel, 0, NULL);
		while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		{
			Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);

			if (db->datallowconn && !db->datistemplate)
			{
				old = MemoryContextSwitchTo(cxt);
				dbs = lappend_oid(dbs, db->oid);
				MemoryContextSwitchTo(old);
			}
		}
		table_endscan(scan);
		table_close(rel, AccessShareLock);
		PopActiveSnapshot();
		CommitTransactionCommand();

		/* start a manager where none runs and none was tried lately */
		now = GetCurrentTimestamp();
		foreach(lc, dbs)
		{
			Oid			dboid = lfirst_oid(lc);
			DbProbe    *p = NULL;

			if (pgs_manager_running(dboid) || pgs_database_paused(dboid))
				continue;
			for (int i = 0; i < nprobes; i++)
				if (probes[i].dboid == dboid)
					p = &probes[i];
			if (p && !TimestampDifferenceExceeds(p->started_at, now, LAUNCHER_NAPTIME_MS))
				continue;
			if (p == NULL)
			{
				old = MemoryContextSwitchTo(TopMemoryContext);
				probes = probes ? repalloc(probes, sizeof(DbProbe) * (nprobes + 1))
					: palloc(sizeof(DbProbe));
				MemoryContextSwitchTo(old);
				p = &probes[nprobes++];
				p->dboid = dboid;
			}
			p->started_at = now;
			if (!pgs_start_manager(dboid))
				ereport(LOG,
						(errmsg("pg_stream: no background worker slot for the manager of database %u", dboid),
						 errhint("Raise max_worker_processes.")));
		}
		MemoryContextReset(cxt);

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 LAUNCHER_NAPTIME_MS / 2, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		/* asked to look again now (CREATE EXTENSION, a new query) */
		if (pgs_launcher_rescan_requested())
			for (int i = 0; i < nprobes; i++)
				probes[i].started_at = 0;
	}
}
