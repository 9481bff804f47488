/*-------------------------------------------------------------------------
 *
 * bgw.h
 *	  The launcher, the per-database managers and the per-query workers.
 *
 * bgw/ is above the engine: a worker runs batches.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_BGW_H
#define PGS_BGW_H

#include "base/base.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"

/* in bgw/shmem.c: shared state of workers */
typedef struct CqSlot
{
	Oid			dboid;
	Oid			viewid;
	int			share;			/* its share of the input (parallelism > 1), or 0 */
	int			nshares;		/* of how many, as its worker is started (0, 1: all) */
	pid_t		pid;			/* worker, or 0 */
	Latch	   *latch;
	bool		waiting;		/* its worker waits for an unreachable source */
	int			tries;			/* failed tries of the batch it retries, or 0 */
	char		note[128];		/* why not running, if so */
} CqSlot;

extern void pgs_shmem_init(void);
extern CqSlot *pgs_slot_claim(Oid dboid, Oid viewid, int share, int nshares,
							  int pid, Latch *latch);
extern void pgs_slot_note(Oid dboid, Oid viewid, int share, const char *note);
extern void pgs_slot_set_waiting(CqSlot *slot, bool waiting);
extern void pgs_slot_set_tries(CqSlot *slot, int tries);
extern bool pgs_slot_reserve(Oid dboid, Oid viewid, int share, int nshares);
extern void pgs_slots_release_unclaimed(Oid dboid);
extern void pgs_wake_database(Oid dboid);
extern void pgs_wake_manager(Oid dboid);
extern void pgs_wake_launcher(void);
extern bool pgs_launcher_rescan_requested(void);
extern Latch **pgs_launcher_latch(void);
extern bool pgs_set_manager(Oid dboid, Latch *latch, bool attach);
extern bool pgs_manager_running(Oid dboid);
extern bool pgs_pause_database(Oid dboid);
extern void pgs_resume_database(Oid dboid);
extern bool pgs_database_paused(Oid dboid);
extern int	pgs_slot_count(void);
extern CqSlot *pgs_slot_at(int i);
extern void pgs_slots_lock(bool exclusive);
extern void pgs_slots_unlock(void);

/* in bgw/launcher.c, bgw/manager.c, bgw/worker.c */
extern void pgs_register_launcher(void);
PGDLLEXPORT void pgs_launcher_main(Datum arg);
PGDLLEXPORT void pgs_manager_main(Datum arg);
PGDLLEXPORT void pgs_worker_main(Datum arg);
extern bool pgs_start_manager(Oid dboid);
extern bool pgs_start_worker(Oid dboid, Oid viewid, int share, int nshares,
							 BackgroundWorkerHandle **handle);

#endif							/* PGS_BGW_H */
