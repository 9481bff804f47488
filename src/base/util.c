/*-------------------------------------------------------------------------
 *
 * util.c
 *	  Helpers every unit uses: subtransactions, SPI results, jsonb, options,
 *	  whether a view is populated.
 *
 * The bottom layer (base/): every other unit may call it, it calls
 * none of them.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "postmaster/bgworker.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

/*
 * Run fn(arg) in a subtransaction: NULL if it succeeded; else its error,
 * the subtransaction rolled back and the error state flushed, for the
 * caller to rethrow (ReThrowError) or to handle.
 */
ErrorData *
pgs_try(void (*fn) (void *), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return edata;
}

Jsonb *
pgs_jsonb_from_cstring(const char *text)
{
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* Integer member "key" of a jsonb object, or dflt */
int64
pgs_jsonb_get_int64(Jsonb *jb, const char *key, int64 dflt)
{
	JsonbValue	k;
	JsonbValue *v;

	if (jb == NULL)
		return dflt;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	if (v == NULL || v->type != jbvNumeric)
		return dflt;
	return DatumGetInt64(DirectFunctionCall1(numeric_int8,
											 NumericGetDatum(v->val.numeric)));
}

/*
 * The OIDs of the first column of the last SPI result, as a list in cxt
 * (outside SPI's memory, which SPI_finish frees).
 */
List *
pgs_spi_oids(MemoryContext cxt)
{
	List	   *result = NIL;

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		result = lappend_oid(result, DatumGetObjectId(d));
		MemoryContextSwitchTo(old);
	}
	return result;
}

/*
 * Background workers run their transactions in READ COMMITTED whatever
 * default_transaction_isolation says: the clean-up relies on each
 * statement taking a fresh snapshot after its lock.
 */
void
pgs_force_read_committed(void)
{
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
}

/*
 * Whether the extension is there in this database; if so it is locked
 * against DROP EXTENSION until the transaction ends. DROP locks the
 * extension before its tables and its streams and views; the background
 * workers take this lock first in each of their transactions, so they
 * take the rest in the order DROP does and the two never deadlock (the
 * manager did: it read stream.cq, then cleaned stream.buffer, while the
 * DROP held the buffer and waited for stream.cq).
 */
bool
pgs_lock_extension(void)
{
	Oid			ext = get_extension_oid("pg_stream", true);

	if (!OidIsValid(ext))
		return false;
	LockDatabaseObject(ExtensionRelationId, ext, 0, AccessShareLock);
	/* dropped while this waited (the lock took in its invalidations) */
	if (!OidIsValid(get_extension_oid("pg_stream", true)))
		return false;
	if (!pgs_catalog_current())
	{
		/* once per process: a manager is started again every 10 s */
		static bool said = false;

		if (!said)
			ereport(LOG,
					(errmsg("pg_stream: database \"%s\" has version %s of the extension, but the library is version %s: its continuous views wait",
							get_database_name(MyDatabaseId), pgs_installed_version(),
							PGS_VERSION),
					 errhint("Run ALTER EXTENSION pg_stream UPDATE in that database.")));
		said = true;
		return false;
	}
	return true;
}

/*
 * The version of the extension installed in this database (its install
 * scripts' version, pg_extension.extversion), or NULL if it is not.
 */
char *
pgs_installed_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("pg_stream"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * Whether the bookkeeping tables and functions in this database are the
 * ones this library was built for (the extension's version is the
 * library's). The C code reads and writes stream.cq, stream.buffer and
 * the others column by column: over the tables of an older version it
 * would read past their ends. Between installing a new library and
 * ALTER EXTENSION pg_stream UPDATE, the workers wait and every entry
 * point that touches those tables refuses (pgs_check_catalog). Checked
 * once per transaction, unless ALTER EXTENSION runs in it.
 */
bool
pgs_catalog_current(void)
{
	static LocalTransactionId checked = InvalidLocalTransactionId;
	char	   *version;
	bool		current;

	if (checked == MyProc->lxid && !creating_extension)
		return true;
	version = pgs_installed_version();
	current = version == NULL || strcmp(version, PGS_VERSION) == 0;
	if (current && !creating_extension)
		checked = MyProc->lxid;
	return current;
}

/* ERROR unless the extension's objects here are this library's version */
void
pgs_check_catalog(void)
{
	if (!pgs_catalog_current())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_stream's objects in this database are version %s, but its library is version %s",
						pgs_installed_version(), PGS_VERSION),
				 errhint("Run ALTER EXTENSION pg_stream UPDATE.")));
}

/*
 * Whether this process is a continuous query's worker (bgw/worker.c), as
 * its background worker entry says: a fact of the process, not a flag
 * another module sets.
 */
bool
pgs_am_worker(void)
{
	return MyBgworkerEntry != NULL &&
		strcmp(MyBgworkerEntry->bgw_function_name, "pgs_worker_main") == 0;
}

/*------------------------------------------------------------------------
 * Options
 *------------------------------------------------------------------------
 */

/*
 * Unknown option: the error every validator gives, with the valid names.
 */
void
pgs_reject_unknown_option(const char *option, const char *const *valid,
						  const char *what)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; valid && valid[i]; i++)
		appendStringInfo(&buf, "%s%s", i > 0 ? ", " : "", valid[i]);

	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid option \"%s\" for %s", option, what),
			 buf.len > 0
			 ? errhint("Valid options in this context are: %s.", buf.data)
			 : errhint("There are no valid options in this context.")));
}

/*
 * An integer option, given as a number (WITH (x = 10)) or a string (as
 * stored, or WITH (x = '10')), within [min, max]; errcode_bad is the
 * error's SQLSTATE (an FDW option validator has its own).
 */
int64
pgs_defel_int64(DefElem *def, int64 min, int64 max, int errcode_bad)
{
	char	   *s = defGetString(def);
	char	   *end;
	long long	v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		ereport(ERROR,
				(errcode(errcode_bad),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->defname, s),
				 errhint("\"%s\" is an integer from " INT64_FORMAT " to " INT64_FORMAT ".",
						 def->defname, min, max)));
	return v;
}


/*
 * An interval written as text, or NULL if it is not one. interval_in
 * reports its own error; callers give theirs, with the valid forms.
 * Catching it without a subtransaction is safe: interval_in only
 * allocates memory and holds no lock, buffer or other resource.
 */
Interval *
pgs_interval_or_null(const char *value)
{
	Interval   *iv = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		iv = DatumGetIntervalP(DirectFunctionCall3(interval_in,
												   CStringGetDatum(value),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		iv = NULL;
	}
	PG_END_TRY();
	return iv;
}

/*
 * An interval option as microseconds: fixed durations only (months vary
 * in length), at least min_usecs.
 */
int64
pgs_interval_option_usecs(const char *name, const char *value, int64 min_usecs,
						  int errcode_bad)
{
	Interval   *iv = pgs_interval_or_null(value);
	int64		usecs;

	if (iv == NULL)
		ereport(ERROR,
				(errcode(errcode_bad),
				 errmsg("invalid value for option \"%s\": \"%s\"", name, value),
				 errhint("Give an interval, such as '10 minutes'.")));
	if (iv->month != 0)
		ereport(ERROR,
				(errcode(errcode_bad),
				 errmsg("option \"%s\" must not contain months or years: \"%s\"", name, value),
				 errhint("Months and years vary in length; use days, such as '30 days'.")));
	usecs = iv->time + (int64) iv->day * USECS_PER_DAY;
	if (usecs < min_usecs)
		ereport(ERROR,
				(errcode(errcode_bad),
				 errmsg("option \"%s\" must not be negative: \"%s\"", name, value)));
	return usecs;
}

/*
 * Table options event_time and watermark, valid on every kind of stream:
 * true if def is one of them (and valid). Whether the column exists and
 * is a timestamp is checked when a view reads the stream.
 */
bool
pgs_event_time_option(DefElem *def)
{
	if (strcmp(def->defname, "event_time") == 0)
	{
		if (*defGetString(def) == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("option \"event_time\" must name a column")));
		return true;
	}
	if (strcmp(def->defname, "watermark") == 0)
	{
		(void) pgs_interval_option_usecs("watermark", defGetString(def), 0,
										 ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE);
		return true;
	}
	return false;
}

/* pg_class.relispopulated of relation relid */
bool
pgs_view_populated(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	bool		populated;

	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	populated = ((Form_pg_class) GETSTRUCT(tuple))->relispopulated;
	ReleaseSysCache(tuple);
	return populated;
}
