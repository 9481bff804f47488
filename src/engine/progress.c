/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  The progress of a running REFRESH of a continuous view, for other
 *	  sessions to see (stream.refresh_progress).
 *
 * A REFRESH runs its batches in the caller's transaction, so nothing it
 * writes to stream.batch_log is visible to anyone else before it commits;
 * pg_stat_activity shows only its statement. Like PostgreSQL's
 * pg_stat_progress_* views, each backend has a slot in shared memory,
 * indexed by its backend id, that only it writes: the view it refreshes,
 * when it began, the batches done and the rows its batches have read so
 * far (counted as each batch has read its sources, before it runs the
 * query over them). PostgreSQL's own progress reporting cannot be used:
 * its commands are a fixed list (VACUUM, COPY, ...), with no room for an
 * extension's.
 *
 * No lock: the one writer bumps the slot's change count before and after
 * each change (odd while it writes), and a reader copies the slot until
 * it finds the same even count on both sides of its copy, as
 * pgstat_read_current_status does. A backend clears its slot when the
 * REFRESH ends, fails, or the backend exits.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "engine/engine.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/backendid.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(stream_refresh_progress);

typedef struct RefreshSlot
{
	pg_atomic_uint32 changecount;
	int			pid;
	Oid			dboid;
	Oid			viewid;			/* InvalidOid: no REFRESH runs */
	TimestampTz started;
	int64		batches;
	int64		rows_read;
} RefreshSlot;

static RefreshSlot *slots = NULL;
static int	nslots = 0;
static RefreshSlot *my_slot = NULL; /* while this backend refreshes */
static bool exit_callback = false;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
progress_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(mul_size(sizeof(RefreshSlot), MaxBackends));
}

static void
progress_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	nslots = MaxBackends;
	slots = ShmemInitStruct("pg_stream refresh progress",
							mul_size(sizeof(RefreshSlot), nslots), &found);
	if (!found)
	{
		memset(slots, 0, mul_size(sizeof(RefreshSlot), nslots));
		for (int i = 0; i < nslots; i++)
			pg_atomic_init_u32(&slots[i].changecount, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

void
pgs_progress_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = progress_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = progress_shmem_startup;
}

/* the writer's bracket around a change of its slot */
static void
write_begin(RefreshSlot *s)
{
	pg_atomic_fetch_add_u32(&s->changecount, 1);
	pg_write_barrier();
}

static void
write_end(RefreshSlot *s)
{
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&s->changecount, 1);
}

static void
clear_at_exit(int code, Datum arg)
{
	pgs_progress_end();
}

/* this backend begins a REFRESH of viewid */
void
pgs_progress_begin(Oid viewid)
{
	RefreshSlot *s;

	if (slots == NULL || MyBackendId == InvalidBackendId || MyBackendId > nslots)
		return;
	if (!exit_callback)
	{
		before_shmem_exit(clear_at_exit, (Datum) 0);
		exit_callback = true;
	}
	s = &slots[MyBackendId - 1];
	write_begin(s);
	s->pid = MyProcPid;
	s->dboid = MyDatabaseId;
	s->viewid = viewid;
	s->started = GetCurrentTimestamp();
	s->batches = 0;
	s->rows_read = 0;
	write_end(s);
	my_slot = s;
}

/* a batch of the REFRESH has read rows rows; or (batch_done) is done */
void
pgs_progress_batch(int64 rows, bool batch_done)
{
	if (my_slot == NULL)
		return;
	write_begin(my_slot);
	my_slot->rows_read += rows;
	if (batch_done)
		my_slot->batches++;
	write_end(my_slot);
}

/* the REFRESH is over (done or failed) */
void
pgs_progress_end(void)
{
	if (my_slot == NULL)
		return;
	write_begin(my_slot);
	my_slot->viewid = InvalidOid;
	my_slot->pid = 0;
	write_end(my_slot);
	my_slot = NULL;
}

/* a consistent copy of slot i (see the top of the file) */
static void
read_slot(int i, RefreshSlot *copy)
{
	RefreshSlot *s = &slots[i];

	for (;;)
	{
		uint32		before = pg_atomic_read_u32(&s->changecount);
		uint32		after;

		pg_read_barrier();
		memcpy(copy, s, sizeof(RefreshSlot));
		pg_read_barrier();
		after = pg_atomic_read_u32(&s->changecount);
		if (before == after && (before & 1) == 0)
			return;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * stream._refresh_progress(): the REFRESHes of continuous views running
 * in this database, of the views the caller may monitor (as
 * stream.refresh_progress, through stream._may_see, and the other
 * monitoring views).
 */
Datum
stream_refresh_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; slots != NULL && i < nslots; i++)
	{
		RefreshSlot s;
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		read_slot(i, &s);
		if (!OidIsValid(s.viewid) || s.dboid != MyDatabaseId)
			continue;
		/* only the views the caller may monitor, like stream.queries */
		if (!pgs_may_monitor(s.viewid))
			continue;
		values[0] = Int32GetDatum(s.pid);
		values[1] = ObjectIdGetDatum(s.viewid);
		values[2] = TimestampTzGetDatum(s.started);
		values[3] = Int64GetDatum(s.batches);
		values[4] = Int64GetDatum(s.rows_read);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
