/*-------------------------------------------------------------------------
 *
 * infer.c
 *	  Column names and types from sample records, for IMPORT FOREIGN
 *	  SCHEMA (Spark's schema inference).
 *
 * JSON: one column per top-level key, in the order keys first appear
 * (jsonb would sort them), read with PostgreSQL's JSON parser. CSV: one
 * column per header field. Types come from the values seen: bigint
 * (whole numbers), numeric (other numbers), boolean, timestamptz (ISO
 * 8601 date-times), jsonb (JSON objects and arrays), else text; a column
 * whose values disagree is text, one seen only NULL is text.
 *
 *-------------------------------------------------------------------------
 */
#include "formats/formats.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

static const char *const sample_type_names[] = {
	"text", "boolean", "bigint", "numeric", "timestamptz", "jsonb", "text"
};

static bool
looks_like_timestamp(const char *v, int len)
{
	/* 2026-01-01T00:00:00 or 2026-01-01 00:00:00, then anything */
	static const char pattern[] = "dddd-dd-ddXdd:dd";

	if (len < (int) strlen(pattern))
		return false;
	for (int i = 0; pattern[i]; i++)
	{
		char		c = v[i];

		if (pattern[i] == 'd' ? !isdigit((unsigned char) c) :
			pattern[i] == 'X' ? (c != 'T' && c != ' ') : c != pattern[i])
			return false;
	}
	return true;
}

static PgsSampleType
merge_types(PgsSampleType a, PgsSampleType b)
{
	if (a == ST_NULL)
		return b;
	if (b == ST_NULL || a == b)
		return a;
	if ((a == ST_INT && b == ST_NUMERIC) || (a == ST_NUMERIC && b == ST_INT))
		return ST_NUMERIC;
	return ST_TEXT;
}

static bool
is_number(const char *v)
{
	char	   *end;

	if (*v == '\0' || isspace((unsigned char) *v))
		return false;
	(void) strtod(v, &end);
	return *end == '\0' && strspn(v, "+-0123456789.eE") == strlen(v);
}

static PgsSampleType
number_type(const char *v)
{
	return (strspn(v, "-0123456789") == strlen(v) && strlen(v) < 19) ? ST_INT : ST_NUMERIC;
}

/* the key of this name in keys, added (as yet untyped) if new */
PgsSampleKey *
pgs_sample_key(List **keys, const char *name)
{
	ListCell   *lc;
	PgsSampleKey *k;

	foreach(lc, *keys)
		if (strcmp(((PgsSampleKey *) lfirst(lc))->name, name) == 0)
			return lfirst(lc);
	k = palloc0(sizeof(PgsSampleKey));
	k->name = pstrdup(name);
	k->type = ST_NULL;
	*keys = lappend(*keys, k);
	return k;
}

/* a value in text form (a CSV field; NULL for a null one) */
void
pgs_sample_text(PgsSampleKey *k, const char *v)
{
	PgsSampleType t;

	if (v == NULL)
		t = ST_NULL;
	else if (is_number(v))
		t = number_type(v);
	else if (pg_strcasecmp(v, "true") == 0 || pg_strcasecmp(v, "false") == 0)
		t = ST_BOOL;
	else if (looks_like_timestamp(v, strlen(v)))
		t = ST_TIMESTAMPTZ;
	else
		t = ST_TEXT;
	k->type = merge_types(k->type, t);
}

typedef struct SampleState
{
	List	  **keys;
	int			depth;
	PgsSampleKey *cur;			/* the top-level key whose value comes next */
} SampleState;

static void
sample_seen(SampleState *st, PgsSampleType t)
{
	if (st->cur)
		st->cur->type = merge_types(st->cur->type, t);
	st->cur = NULL;
}

static void
sample_struct_start(void *state)
{
	SampleState *st = state;

	if (st->depth >= PGS_JSON_MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("JSON nested deeper than %d levels", PGS_JSON_MAX_DEPTH)));
	if (st->depth == 1)
		sample_seen(st, ST_JSONB);
	st->depth++;
}

static void
sample_struct_end(void *state)
{
	((SampleState *) state)->depth--;
}

static void
sample_field(void *state, char *fname, bool isnull)
{
	SampleState *st = state;

	if (st->depth == 1)
		st->cur = pgs_sample_key(st->keys, fname);
}

static void
sample_scalar(void *state, char *token, JsonTokenType tokentype)
{
	SampleState *st = state;

	if (st->depth != 1)
		return;
	switch (tokentype)
	{
		case JSON_TOKEN_STRING:
			sample_seen(st, looks_like_timestamp(token, strlen(token)) ? ST_TIMESTAMPTZ : ST_TEXT);
			break;
		case JSON_TOKEN_NUMBER:
			sample_seen(st, number_type(token));
			break;
		case JSON_TOKEN_TRUE:
		case JSON_TOKEN_FALSE:
			sample_seen(st, ST_BOOL);
			break;
		default:
			sample_seen(st, ST_NULL);
			break;
	}
}

/* one JSON record into the keys seen; false if it is not a JSON object */
bool
pgs_sample_json(const char *rec, size_t len, List **keys)
{
	List	   *seen = *keys;
	SampleState st = {&seen, 0, NULL};
	JsonSemAction sem = {0};
	JsonLexContext *lex;

	if (strlen(rec) != len || rec[strspn(rec, " \t\r\n")] != '{' ||
		!pg_verifymbstr(rec, len, true))
		return false;
	sem.semstate = &st;
	sem.object_start = sample_struct_start;
	sem.object_end = sample_struct_end;
	sem.array_start = sample_struct_start;
	sem.array_end = sample_struct_end;
	sem.object_field_start = sample_field;
	sem.scalar = sample_scalar;
	lex = makeJsonLexContextCstringLen((char *) rec, len, GetDatabaseEncoding(), true);
	if (pg_parse_json(lex, &sem) != JSON_SUCCESS)
		return false;			/* not JSON (the keys before the fault stay) */
	*keys = seen;
	return true;
}

/*
 * "name type, ..." for the keys into sql; keys that cannot be column names
 * are left out, with a notice. Returns the number of columns.
 */
int
pgs_sample_columns(StringInfo sql, List *keys, const char *what)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, keys)
	{
		PgsSampleKey *k = lfirst(lc);

		if (k->name[0] == '\0' || strlen(k->name) >= NAMEDATALEN)
		{
			ereport(NOTICE,
					(errmsg("%s: key \"%.40s\" cannot be a column name, left out",
							what, k->name)));
			continue;
		}
		appendStringInfo(sql, "%s%s %s", n ? ", " : "",
						 quote_identifier(k->name), sample_type_names[k->type]);
		n++;
	}
	return n;
}
