/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The extension's settings (GUCs).
 *
 * The variables live in the bottom layer so that the units reading them
 * (the workers, the batch) need not call up into the module's entry
 * point; _PG_init calls pgs_guc_init. Also: a PostgreSQL setting changed
 * for one step only (pgs_guc_set_saved).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"

#include <limits.h>

#include "utils/guc.h"

int			pgs_max_queries = 64;
int			pgs_retry_limit = 3;
int			pgs_poll_interval_ms = 1000;
int			pgs_progress_batches = 100;
int			pgs_default_max_batch_rows = 100000;
int			pgs_refresh_batch_memory_kb = 16384;

void
pgs_guc_init(void)
{
	DefineCustomIntVariable("pg_stream.max_queries",
							"Maximum number of continuous queries in the cluster.",
							"Sizes the shared memory of the workers' slots.",
							&pgs_max_queries, 64, 1, 10000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_stream.retry_limit",
							"Failed tries of a batch before its query is marked failed.",
							NULL,
							&pgs_retry_limit, 3, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_stream.poll_interval",
							"Longest wait of an idle worker before it looks for input again.",
							"Workers are woken at once when rows are committed into a stream; "
							"this bounds the wait for sources that cannot signal.",
							&pgs_poll_interval_ms, 1000, 10, 60000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_stream.progress_batches",
							"Batches kept per query in stream.progress.",
							NULL,
							&pgs_progress_batches, 100, 1, 100000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_stream.max_batch_rows",
							"Default largest batch of a continuous query, in input rows.",
							"A view's max_batch_rows option overrides it.",
							&pgs_default_max_batch_rows, 100000, 1, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pg_stream.refresh_batch_memory",
							"Memory a REFRESH's batch over a Kafka backlog may fill with its rows, "
							"past max_batch_rows.",
							"The batch reads max_batch_rows messages at a time, and reads more while "
							"the rows it decoded take less than this; 0: max_batch_rows, as a worker's.",
							&pgs_refresh_batch_memory_kb, 16384, 0, MAX_KILOBYTES,
							PGC_USERSET, GUC_UNIT_KB, NULL, NULL, NULL);
	MarkGUCPrefixReserved("pg_stream");
}

/*
 * Set a PostgreSQL setting for one step only, as the session would: undone
 * by AtEOXact_GUC(true, level) with the level of a NewGUCNestLevel() taken
 * before, or on an error by the (sub)transaction's abort.
 */
void
pgs_guc_set_saved(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}
