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

/*
 * Start the work of view viewid. A batch (is_batch) reads its sources in
 * one phase of it, which sets reading; a lag or a mark reads them all
 * the time it is pushed.
 */
void
pgs_batchrun_push(BatchRun *run, Oid viewid, bool is_batch)
{
	Assert(run != NULL && run != current_run && OidIsValid(viewid));
	memset(run, 0, sizeof(*run));
	run->viewid = viewid;
	run->is_batch = is_batch;
	run->reading = !is_batch;
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

/*
 * The view whose sources are being read, or InvalidOid: outside that --
 * a plain SELECT, even one that user code runs inside a batch -- a bad
 * record is a warning, and a source reads with the user's credentials.
 */
Oid
pgs_batchrun_view(void)
{
	return current_run && current_run->reading ? current_run->viewid : InvalidOid;
}

/*
 * Whose credentials (user mappings) a source uses: the owner of the view
 * being run, or whoever runs the statement (a plain SELECT).
 */
Oid
pgs_batchrun_user(void)
{
	Oid			viewid = pgs_batchrun_view();

	return OidIsValid(viewid) ? pgs_rel_owner(viewid) : GetUserId();
}

/*
 * Whether unit part of the input (a kafka partition) is in the share the
 * current batch reads: always, but for a worker of a view with
 * parallelism > 1, which reads the parts p with p % nshares = share.
 */
bool
pgs_batchrun_owns(int64 part)
{
	if (current_run == NULL || !current_run->reading || current_run->nshares <= 1)
		return true;
	return part % current_run->nshares == current_run->share;
}
