/*-------------------------------------------------------------------------
 *
 * base.h
 *	  The bottom layer: what every unit of pg_stream may use.
 *
 * Nothing here calls up into another unit. Role switching, the settings,
 * subtransactions, jsonb and option helpers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_BASE_H
#define PGS_BASE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "nodes/parsenodes.h"
#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/palloc.h"

#define PG_STREAM_SCHEMA "stream"

/*
 * in base/roles.c: running as the extension's superuser. The catalog
 * tables of schema stream are not the users'; a user's query, though,
 * always runs with its view owner's privileges (engine/batch.c).
 */
typedef struct PgsUser
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;		/* of the search_path setting */
	bool		user_code;		/* as a view's owner: drop its GUC changes */
} PgsUser;
extern void pgs_become_superuser(PgsUser *saved);
extern void pgs_become_owner(Oid relid, PgsUser *saved);
extern void pgs_restore_user(PgsUser *saved);
extern Oid	pgs_rel_owner(Oid relid);
extern bool pgs_may_monitor(Oid relid);
extern bool pgs_may_monitor_all(Oid relid);

/* in base/guc.c */
extern int	pgs_max_queries;
extern int	pgs_retry_limit;
extern int	pgs_poll_interval_ms;
extern int	pgs_progress_batches;
extern int	pgs_default_max_batch_rows;
extern int	pgs_refresh_batch_memory_kb;
extern void pgs_guc_init(void);
extern void pgs_guc_set_saved(const char *name, const char *value);

/* in base/util.c */
extern ErrorData *pgs_try(void (*fn) (void *), void *arg);
extern List *pgs_spi_oids(MemoryContext cxt);
extern void pgs_force_read_committed(void);
extern bool pgs_am_worker(void);
extern bool pgs_lock_extension(void);
extern char *pgs_installed_version(void);
extern bool pgs_catalog_current(void);
extern void pgs_check_catalog(void);
extern Jsonb *pgs_jsonb_from_cstring(const char *text);
extern int64 pgs_jsonb_get_int64(Jsonb *jb, const char *key, int64 dflt);
extern void pgs_reject_unknown_option(const char *option, const char *const *valid,
									  const char *what);
extern int64 pgs_defel_int64(DefElem *def, int64 min, int64 max, int errcode_bad);
extern Interval *pgs_interval_or_null(const char *value);
extern int64 pgs_interval_option_usecs(const char *name, const char *value,
									   int64 min_usecs, int errcode_bad);
extern bool pgs_event_time_option(DefElem *def);
extern bool pgs_view_populated(Oid relid);

#endif							/* PGS_BASE_H */
