/*-------------------------------------------------------------------------
 *
 * batchrun.c
 *	  The stack of batch contexts (see batchrun.h).
 *
 * The only process state that travels between units: a pointer to the
 * innermost BatchRun, which lives on its pusher's stack frame. A run is
 * popped under the PG_FINALLY of the code that pushed it, so an error
 * never leaves a run that points into a freed frame.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"

#include "miscadmin.h"

static BatchRun *current_run = NULL;

/* Start the work of view viewid (InvalidOid: none, e.g. a plain SELECT) */
void
pgs_batchrun_push(BatchRun *run, Oid viewid, bool is_batch)
{
	Assert(run != NULL && run != current_run);
	memset(run, 0, sizeof(*run));
	run->viewid = viewid;
	run->is_batch = is_batch;
	run->outer = current_run;
	current_run = run;
}

void
pgs_batchrun_pop(BatchRun *run)
{
	Assert(current_run == run);
	current_run = run->outer;
}

BatchRun *
pgs_batchrun_current(void)
{
	return current_run;
}

/* the view whose work is being done, or InvalidOid */
Oid
pgs_batchrun_view(void)
{
	return current_run ? current_run->viewid : InvalidOid;
}

/*
 * Whose credentials (user mappings) a source uses: the owner of the view
 * being run, or whoever runs the statement (a plain SELECT).
 */
Oid
pgs_batchrun_user(void)
{
	return current_run && OidIsValid(current_run->viewid)
		? pgs_rel_owner(current_run->viewid) : GetUserId();
}
