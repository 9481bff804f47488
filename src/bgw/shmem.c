/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  Shared memory of pg_stream: the launcher's latch, one entry per
 *	  database manager, one slot per continuous query.
 *
 * A query's slot says which worker runs it (pid, latch) or why none does
 * (note: "waiting for a background worker slot", ...); a view with
 * parallelism = N has N slots, one per share (engine/parallel.c). It is only a
 * rendezvous: everything durable lives in tables. After a crash the
 * shared memory is new and empty, and the launcher, the managers and the
 * workers fill it again.
 *
 * A database can be paused: a backend about to DROP, rename or copy it
 * (CREATE DATABASE ... TEMPLATE), which PostgreSQL refuses while another
 * session is connected to it, pauses it for the statement (ddl.c). Its
 * manager sees that, stops its workers and exits, and the launcher starts
 * none until the pause is lifted, when the statement ends, however it
 * ends (or the backend exits).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "bgw/bgw.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#define MAX_MANAGERS 128

typedef struct ManagerEntry
{
	Oid			dboid;
	Latch	   *latch;
} ManagerEntry;

/* a database paused by the backend pid (see the top of the file) */
typedef struct PausedEntry
{
	Oid			dboid;
	int			pid;
} PausedEntry;

typedef struct PgsShared
{
	LWLock	   *lock;
	Latch	   *launcher_latch;
	bool		launcher_rescan;	/* look at every database again now */
	ManagerEntry managers[MAX_MANAGERS];
	PausedEntry paused[MAX_MANAGERS];
	int			nslots;
	CqSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} PgsShared;

static PgsShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static Size
shared_size(void)
{
	return add_size(offsetof(PgsShared, slots),
					mul_size(sizeof(CqSlot), pgs_max_queries));
}

static void
pgs_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("pg_stream", 1);
}

static void
pgs_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("pg_stream", shared_size(), &found);
	if (!found)
	{
		memset(shared, 0, shared_size());
		shared->lock = &(GetNamedLWLockTranche("pg_stream"))->lock;
		shared->nslots = pgs_max_queries;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
pgs_shmem_init(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pgs_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pgs_shmem_startup;
}

/* the slot of a query's share; with create, take a free one (NULL if none) */
static CqSlot *
slot_find_locked(Oid dboid, Oid viewid, int share, bool create)
{
	CqSlot	   *free_slot = NULL;

	for (int i = 0; i < shared->nslots; i++)
	{
		CqSlot	   *s = &shared->slots[i];

		if (s->viewid == viewid && s->dboid == dboid && s->share == share)
			return s;
		if (free_slot == NULL && !OidIsValid(s->viewid))
			free_slot = s;
	}
	if (create && free_slot)
	{
		memset(free_slot, 0, sizeof(CqSlot));
		free_slot->dboid = dboid;
		free_slot->viewid = viewid;
		free_slot->share = share;
		return free_slot;
	}
	return NULL;
}

/*
 * A worker takes the slot of its query, in one go: a slot created without
 * a pid looks free of workers to pgs_slot_note, which may clear it.
 */
CqSlot *
pgs_slot_claim(Oid dboid, Oid viewid, int share, int nshares, int pid, Latch *latch)
{
	CqSlot	   *s;

	Assert(OidIsValid(dboid) && OidIsValid(viewid) && pid > 0);
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	s = slot_find_locked(dboid, viewid, share, true);
	if (s)
	{
		s->nshares = nshares;
		s->pid = pid;
		s->latch = latch;
		s->waiting = false;
		s->tries = 0;
		s->note[0] = '\0';
	}
	LWLockRelease(shared->lock);
	return s;
}

void
pgs_slot_note(Oid dboid, Oid viewid, int share, const char *note)
{
	CqSlot	   *s;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	s = slot_find_locked(dboid, viewid, share, note != NULL);
	if (s && note)
		strlcpy(s->note, note, sizeof(s->note));
	else if (s && s->pid == 0)
		memset(s, 0, sizeof(CqSlot));	/* nothing to say, nobody there */
	else if (s)
		s->note[0] = '\0';
	LWLockRelease(shared->lock);
}

/* a worker says whether it waits for its source (stream.queries shows it) */
void
pgs_slot_set_waiting(CqSlot *slot, bool waiting)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	slot->waiting = waiting;
	LWLockRelease(shared->lock);
}

/* how many times in a row the worker's batch has failed (0: it went through) */
void
pgs_slot_set_tries(CqSlot *slot, int tries)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	slot->tries = tries;
	LWLockRelease(shared->lock);
}

/*
 * The manager takes the query's slot before it starts a worker, which then
 * claims it (pgs_slot_claim): a worker is never started to find every slot
 * taken by the others started with it. False if no slot is free.
 */
bool
pgs_slot_reserve(Oid dboid, Oid viewid, int share, int nshares)
{
	CqSlot	   *s;

	Assert(OidIsValid(dboid) && OidIsValid(viewid));
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	s = slot_find_locked(dboid, viewid, share, true);
	if (s)
	{
		s->nshares = nshares;
		s->note[0] = '\0';
	}
	LWLockRelease(shared->lock);
	return s != NULL;
}

/* a manager exits: free the slots of its database that no worker took */
void
pgs_slots_release_unclaimed(Oid dboid)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < shared->nslots; i++)
	{
		CqSlot	   *s = &shared->slots[i];

		if (s->dboid == dboid && s->pid == 0)
			memset(s, 0, sizeof(CqSlot));
	}
	LWLockRelease(shared->lock);
}

/* wake every worker of a database: a stream of theirs may have new rows */
void
pgs_wake_database(Oid dboid)
{
	Assert(OidIsValid(dboid));
	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < shared->nslots; i++)
	{
		CqSlot	   *s = &shared->slots[i];

		if (s->dboid == dboid && s->latch)
			SetLatch(s->latch);
	}
	LWLockRelease(shared->lock);
}

void
pgs_wake_manager(Oid dboid)
{
	bool		found = false;

	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < MAX_MANAGERS; i++)
		if (shared->managers[i].dboid == dboid && shared->managers[i].latch)
		{
			SetLatch(shared->managers[i].latch);
			found = true;
		}
	LWLockRelease(shared->lock);
	if (!found)
		pgs_wake_launcher();
}

bool
pgs_launcher_rescan_requested(void)
{
	bool		r;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	r = shared->launcher_rescan;
	shared->launcher_rescan = false;
	LWLockRelease(shared->lock);
	return r;
}

void
pgs_wake_launcher(void)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->launcher_rescan = true;
	if (shared->launcher_latch)
		SetLatch(shared->launcher_latch);
	LWLockRelease(shared->lock);
}

Latch	  **
pgs_launcher_latch(void)
{
	return &shared->launcher_latch;
}

/*
 * Attach (or detach) the manager of a database. Attaching fails if the
 * database has a manager already: checked and taken under one lock, so
 * two managers started at once cannot both run.
 */
bool
pgs_set_manager(Oid dboid, Latch *latch, bool attach)
{
	ManagerEntry *free_entry = NULL;
	bool		ok = !attach;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MAX_MANAGERS; i++)
	{
		ManagerEntry *m = &shared->managers[i];

		if (m->dboid == dboid)
		{
			if (!attach)
			{
				m->dboid = InvalidOid;
				m->latch = NULL;
			}
			free_entry = NULL;
			attach = false;		/* taken already */
			break;
		}
		if (free_entry == NULL && !OidIsValid(m->dboid))
			free_entry = m;
	}
	if (attach && free_entry)
	{
		free_entry->dboid = dboid;
		free_entry->latch = latch;
		ok = true;
	}
	LWLockRelease(shared->lock);
	return ok;
}

bool
pgs_manager_running(Oid dboid)
{
	bool		found = false;

	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < MAX_MANAGERS; i++)
		if (shared->managers[i].dboid == dboid)
			found = true;
	LWLockRelease(shared->lock);
	return found;
}

int
pgs_slot_count(void)
{
	return shared->nslots;
}

CqSlot *
pgs_slot_at(int i)
{
	Assert(i >= 0 && i < pgs_slot_count());
	return &shared->slots[i];
}

/* callers of pgs_slot_at hold this */
void
pgs_slots_lock(bool exclusive)
{
	LWLockAcquire(shared->lock, exclusive ? LW_EXCLUSIVE : LW_SHARED);
}

void
pgs_slots_unlock(void)
{
	LWLockRelease(shared->lock);
}

/*------------------------------------------------------------------------
 * Paused databases
 *------------------------------------------------------------------------
 */
static bool pause_exit_callback = false;

/* lift the pauses this backend holds: dboid's, or all */
static void
resume_mine(Oid dboid)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MAX_MANAGERS; i++)
	{
		PausedEntry *p = &shared->paused[i];

		if (p->pid == MyProcPid && (!OidIsValid(dboid) || p->dboid == dboid))
		{
			p->dboid = InvalidOid;
			p->pid = 0;
		}
	}
	LWLockRelease(shared->lock);
}

static void
resume_at_exit(int code, Datum arg)
{
	resume_mine(InvalidOid);
}

/*
 * Pause database dboid for this backend: its manager is woken, and exits
 * with its workers. False if the table of pauses is full (nothing paused).
 */
bool
pgs_pause_database(Oid dboid)
{
	PausedEntry *free_entry = NULL;

	Assert(OidIsValid(dboid));
	if (shared == NULL)
		return false;
	if (!pause_exit_callback)
	{
		before_shmem_exit(resume_at_exit, (Datum) 0);
		pause_exit_callback = true;
	}
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < MAX_MANAGERS && free_entry == NULL; i++)
		if (!OidIsValid(shared->paused[i].dboid))
			free_entry = &shared->paused[i];
	if (free_entry)
	{
		free_entry->dboid = dboid;
		free_entry->pid = MyProcPid;
	}
	for (int i = 0; free_entry && i < MAX_MANAGERS; i++)
		if (shared->managers[i].dboid == dboid && shared->managers[i].latch)
			SetLatch(shared->managers[i].latch);
	LWLockRelease(shared->lock);
	return free_entry != NULL;
}

/* lift this backend's pause of dboid; the launcher looks again at once */
void
pgs_resume_database(Oid dboid)
{
	if (shared == NULL)
		return;
	resume_mine(dboid);
	pgs_wake_launcher();
}

bool
pgs_database_paused(Oid dboid)
{
	bool		paused = false;

	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < MAX_MANAGERS; i++)
		if (shared->paused[i].dboid == dboid)
			paused = true;
	LWLockRelease(shared->lock);
	return paused;
}
