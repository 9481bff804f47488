/*-------------------------------------------------------------------------
 *
 * pg_stream.c
 *	  Module entry point: the wiring of the units, nothing else.
 *
 * pg_stream must be in shared_preload_libraries: it needs shared memory
 * for its workers' slots, and a launcher background worker started with
 * the postmaster. Each unit has one init function; _PG_init calls them,
 * bottom layer first (see pg_stream.h for the layers).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_stream.h"

#include "bgw/bgw.h"
#include "base/base.h"
#include "ddl.h"
#include "engine/engine.h"
#include "miscadmin.h"
#include "sources/sources.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_stream must be loaded via shared_preload_libraries"),
				 errhint("Add pg_stream to shared_preload_libraries in postgresql.conf and restart the server.")));

	pgs_guc_init();
	pgs_shmem_init();
	pgs_progress_init();
	pgs_ddl_init();
	pgs_sources_init(pgs_wake_database);
	pgs_register_launcher();
}
