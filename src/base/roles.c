/*-------------------------------------------------------------------------
 *
 * roles.c
 *	  Whose privileges pg_stream runs with, and who may see what it monitors.
 *
 * The bottom layer (base/): every other unit may call it, it calls
 * none of them.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/syscache.h"

/*
 * Internal bookkeeping (stream.cq, positions, progress, state tables) is
 * done as the bootstrap superuser, whoever the session user is: a role
 * that may create a continuous view need not be granted the extension's
 * tables. Its SQL then resolves names with search_path = pg_catalog,
 * pg_temp only, so no operator or function a user created can be picked
 * up and run as superuser. An error restores the user and the setting
 * with the (sub)transaction's abort.
 */
void
pgs_become_superuser(PgsUser *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   saved->sec_context | SECURITY_LOCAL_USERID_CHANGE);
	saved->nestlevel = NewGUCNestLevel();
	saved->user_code = false;
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_SUSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/*
 * Run as the owner of relation relid (a view), under
 * SECURITY_RESTRICTED_OPERATION, as REFRESH MATERIALIZED VIEW runs its
 * query: what user code does to GUCs is undone by pgs_restore_user. The
 * search_path is the database's default (as in the worker, whatever the
 * session set), for the names in user functions and sink functions.
 */
void
pgs_become_owner(Oid relid, PgsUser *saved)
{
	GetUserIdAndSecContext(&saved->userid, &saved->sec_context);
	SetUserIdAndSecContext(pgs_rel_owner(relid),
						   saved->sec_context | SECURITY_RESTRICTED_OPERATION);
	saved->nestlevel = NewGUCNestLevel();
	saved->user_code = true;
	/* the default search_path, not the bookkeeping's (user functions, sinks) */
	(void) set_config_option("search_path", GetConfigOptionResetString("search_path"),
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

void
pgs_restore_user(PgsUser *saved)
{
	AtEOXact_GUC(!saved->user_code, saved->nestlevel);
	SetUserIdAndSecContext(saved->userid, saved->sec_context);
}

Oid
pgs_rel_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * What the current user may see of view relid's monitoring rows, as
 * pg_stat_activity decides: everything with the privileges of its owner
 * (owner, members, superusers); the row but not what may quote the data
 * (errors, positions, dead letters) as a member of pg_read_all_stats;
 * nothing otherwise. The one rule for stream.queries, stream.progress,
 * stream.errors' row security (through stream._may_see) and the C
 * functions behind them.
 */
static void
monitor_rights(Oid relid, bool *owner_member, bool *visible)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	*owner_member = *visible = false;
	if (!HeapTupleIsValid(tuple))
		return;
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	*owner_member = has_privs_of_role(GetUserId(), owner);
	*visible = *owner_member || has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

bool
pgs_may_monitor(Oid relid)
{
	bool		owner_member,
				visible;

	monitor_rights(relid, &owner_member, &visible);
	return visible;
}

/* and everything of it: its errors, positions, the plan of its batches */
bool
pgs_may_monitor_all(Oid relid)
{
	bool		owner_member,
				visible;

	monitor_rights(relid, &owner_member, &visible);
	return owner_member;
}

/* stream._may_see(view, OUT owner_member, OUT visible) */
PG_FUNCTION_INFO_V1(stream_may_see);
Datum
stream_may_see(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bool		owner_member,
				visible;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	monitor_rights(PG_GETARG_OID(0), &owner_member, &visible);
	values[0] = BoolGetDatum(owner_member);
	values[1] = BoolGetDatum(visible);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

