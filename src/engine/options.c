/*-------------------------------------------------------------------------
 *
 * options.c
 *	  Options of continuous views: output_mode, trigger, max_batch_rows,
 *	  and the sinks (sink, sink_function, sink_function_per_row,
 *	  notify_channel; checked against the view in sinks/sink.c),
 *	  watermark, the delay of event time for this query, and retention,
 *	  how long the rows of final windows stay (engine/retention.c), and
 *	  parallelism, how many workers share the input (engine/parallel.c).
 *
 * Users give them like storage parameters: CREATE MATERIALIZED VIEW ...
 * WITH (trigger = '5 seconds'), ALTER MATERIALIZED VIEW ... SET / RESET.
 * They cannot live in the view's reloptions: PostgreSQL validates heap
 * reloptions against a fixed table, and an extension-defined heap
 * reloption makes every CREATE TABLE fail ("not found in parse table").
 * So ddl.c takes them out of the statement and stores them in
 * stream.cq.options, a text[] of "name=value" like pg_class.reloptions.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "engine/cq.h"
#include "engine/engine.h"

#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "utils/array.h"
#include "datatype/timestamp.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

/* The options a view may be given (the rest go to PostgreSQL) */
static const char *const cq_option_names[] = {
	"output_mode", "trigger", "max_batch_rows", "sink", "sink_function",
	"sink_function_per_row", "notify_channel", "watermark", "retention", "parallelism", NULL
};

bool
pgs_is_cq_option(const char *name)
{
	for (int i = 0; cq_option_names[i]; i++)
		if (strcmp(name, cq_option_names[i]) == 0)
			return true;
	return false;
}

static CqOutputMode
parse_output_mode(const char *value)
{
	if (pg_strcasecmp(value, "append") == 0)
		return OUTPUT_APPEND;
	if (pg_strcasecmp(value, "update") == 0)
		return OUTPUT_UPDATE;
	if (pg_strcasecmp(value, "complete") == 0)
		return OUTPUT_COMPLETE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for option \"output_mode\": \"%s\"", value),
			 errhint("Valid values are \"append\", \"update\" and \"complete\".")));
	return OUTPUT_DEFAULT;		/* keep compiler quiet */
}

/*
 * trigger: "default" (as data arrives), "continuous", "manual", or an
 * interval such as '5 seconds'. Sets *ms for an interval.
 */
static CqTriggerKind
parse_trigger(const char *value, int64 *ms)
{
	Interval   *iv;
	int64		usecs;

	*ms = 0;
	if (pg_strcasecmp(value, "default") == 0)
		return TRIGGER_DEFAULT;
	if (pg_strcasecmp(value, "continuous") == 0)
		return TRIGGER_CONTINUOUS;
	if (pg_strcasecmp(value, "manual") == 0)
		return TRIGGER_MANUAL;

	iv = pgs_interval_or_null(value);
	if (iv == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for option \"trigger\": \"%s\"", value),
				 errhint("Valid values are an interval such as '5 seconds', \"continuous\", \"manual\" and \"default\".")));

	usecs = iv->time + (int64) iv->day * USECS_PER_DAY +
		(int64) iv->month * DAYS_PER_MONTH * USECS_PER_DAY;
	if (usecs <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trigger interval must be positive: \"%s\"", value)));
	*ms = Max(usecs / 1000, 1);
	return TRIGGER_INTERVAL;
}

/* Options from a list of DefElem (reloptions, as untransformRelOptions) */
void
pgs_parse_options(List *reloptions, CqOptions *opts)
{
	ListCell   *lc;

	memset(opts, 0, sizeof(*opts));
	opts->max_batch_rows = pgs_default_max_batch_rows;
	opts->parallelism = 1;

	foreach(lc, reloptions)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "output_mode") == 0)
			opts->output_mode = parse_output_mode(defGetString(def));
		else if (strcmp(def->defname, "trigger") == 0)
			opts->trigger = parse_trigger(defGetString(def),
										  &opts->trigger_interval_ms);
		else if (strcmp(def->defname, "max_batch_rows") == 0)
			opts->max_batch_rows = pgs_defel_int64(def, 1, PG_INT32_MAX,
											ERRCODE_INVALID_PARAMETER_VALUE);
		else if (strcmp(def->defname, "parallelism") == 0)
			opts->parallelism = pgs_defel_int64(def, 1, PGS_MAX_PARALLELISM,
												ERRCODE_INVALID_PARAMETER_VALUE);
		else if (strcmp(def->defname, "sink") == 0)
			opts->sink = defGetString(def);
		else if (strcmp(def->defname, "sink_function") == 0)
			opts->sink_function = defGetString(def);
		else if (strcmp(def->defname, "sink_function_per_row") == 0)
			opts->sink_function_per_row = defGetString(def);
		else if (strcmp(def->defname, "notify_channel") == 0)
			opts->notify_channel = defGetString(def);
		else if (strcmp(def->defname, "watermark") == 0)
		{
			opts->watermark_usecs = pgs_interval_option_usecs("watermark", defGetString(def), 0,
															  ERRCODE_INVALID_PARAMETER_VALUE);
			opts->has_watermark = true;
		}
		else if (strcmp(def->defname, "retention") == 0)
		{
			/* checked against the query by pgs_retention_check */
			opts->retention_usecs = pgs_interval_option_usecs("retention", defGetString(def),
															  PG_INT64_MIN,
															  ERRCODE_INVALID_PARAMETER_VALUE);
			if (opts->retention_usecs < 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"retention\" must not be negative: \"%s\"",
								defGetString(def)),
						 errdetail("Rows are deleted only once their window is final, when the watermark has passed its end: a retention cut before that would delete windows still open."),
						 errhint("Give '0 seconds' or more.")));
			opts->has_retention = true;
		}
	}
}

/* The stored options (a text[] of name=value) as DefElems */
List *
pgs_options_from_array(Datum array)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *s = TextDatumGetCString(elems[i]);
		char	   *eq = strchr(s, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		result = lappend(result, makeDefElem(s, (Node *) makeString(eq + 1), -1));
	}
	return result;
}

/* DefElems as a text[] of name=value (validated first) */
Datum
pgs_options_to_array(List *options)
{
	CqOptions	check;
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(options), 1));
	ListCell   *lc;
	int			n = 0;

	pgs_parse_options(options, &check);
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		char	   *s = psprintf("%s=%s", def->defname, defGetString(def));

		elems[n++] = CStringGetTextDatum(s);
	}
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* existing options with SET (values) or RESET (names) applied */
List *
pgs_options_merge(List *existing, List *changes, bool reset)
{
	List	   *result = NIL;
	ListCell   *lc,
			   *lc2;

	foreach(lc, existing)
	{
		DefElem    *old = lfirst_node(DefElem, lc);
		bool		changed = false;

		foreach(lc2, changes)
			if (strcmp(lfirst_node(DefElem, lc2)->defname, old->defname) == 0)
				changed = true;
		if (!changed)
			result = lappend(result, old);
	}
	if (!reset)
		foreach(lc, changes)
		{
			DefElem    *def = lfirst_node(DefElem, lc);

			result = lappend(result, makeDefElem(def->defname,
												 (Node *) makeString(defGetString(def)), -1));
		}
	return result;
}
