/*-------------------------------------------------------------------------
 *
 * decode.c
 *	  Records (a Kafka message, a line of a file or a socket) into rows of
 *	  a stream's foreign table: json, csv and text, shared by the sources.
 *
 * A decoder fills the table's data columns -- every column that is not
 * dropped and not filled by the source itself (Kafka's meta columns, a
 * file's name and line) -- straight into the declared types:
 *
 *	  json	 one object per record; a top-level key names a column (keys
 *			 without a column are skipped, a repeated key's last value
 *			 wins, as in jsonb). PostgreSQL's JSON parser with callbacks:
 *			 whole numbers go into integer columns and strings into text
 *			 columns directly, anything else through the type's input
 *			 function (an object or array as its JSON text).
 *	  csv	 fields in column order, with the options delimiter, quote,
 *			 escape and null as in COPY ... (FORMAT csv); a quoted field
 *			 may hold the delimiter, newlines and doubled quotes.
 *	  text	 the whole record into the one data column.
 *
 * A record that does not decode is a bad record: pgs_decode_batch decodes
 * a batch in one subtransaction, and only if that fails again record by
 * record, each in its own, to send the bad ones to stream.errors
 * (pgs_dead_letter) while the others go on.
 *
 * The error of a value that does not convert names where it was: the
 * column, and the JSON key or the CSV field ("column "n" (JSON key "n"):
 * invalid input syntax for type integer: "two""), in stream.errors and in
 * the error of on_error 'stop'. Catching each conversion's error to add
 * that would cost the fast path a setjmp a value; instead each conversion
 * first notes where it is in decoding_at (a few stores) and clears it
 * after, and pgs_decode_batch words the error of a record that failed
 * from it; so an error that is not a value's (a JSON syntax error, a NUL
 * byte, a CSV quote left open) names nothing.
 *
 * A dead letter's payload is the record's text; a record holding a NUL
 * byte or text invalid in the database's encoding is shown as bytea's hex
 * output of its exact bytes ('\x616200...'), which text can hold.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "meta/meta.h"
#include "formats/formats.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PgsFormat
pgs_parse_format(const char *v)
{
	if (strcmp(v, "json") == 0)
		return PGS_FORMAT_JSON;
	if (strcmp(v, "csv") == 0)
		return PGS_FORMAT_CSV;
	if (strcmp(v, "text") == 0)
		return PGS_FORMAT_TEXT;
	if (strcmp(v, "parquet") == 0)
		return PGS_FORMAT_PARQUET;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"format\": \"%s\"", v),
			 errhint("Valid values are json, csv, text and parquet (files only).")));
	return PGS_FORMAT_JSON;
}

static char
single_byte_option(DefElem *def)
{
	char	   *v = defGetString(def);

	if (strlen(v) != 1 || IS_HIGHBIT_SET(v[0]) || v[0] == '\n' || v[0] == '\r')
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("option \"%s\" must be a single one-byte character other than a newline",
						def->defname)));
	return v[0];
}

/*
 * Whether def is one of the format options (format, and csv's delimiter,
 * quote, escape, null, and header where the source has headers); it is
 * validated on the way.
 */
bool
pgs_format_option(DefElem *def, bool with_header)
{
	if (strcmp(def->defname, "format") == 0)
		(void) pgs_parse_format(defGetString(def));
	else if (strcmp(def->defname, "delimiter") == 0 ||
			 strcmp(def->defname, "quote") == 0 ||
			 strcmp(def->defname, "escape") == 0)
		(void) single_byte_option(def);
	else if (strcmp(def->defname, "null") == 0)
		(void) defGetString(def);
	else if (with_header && strcmp(def->defname, "header") == 0)
		(void) defGetBoolean(def);
	else
		return false;
	return true;
}

/* option on_error: true for 'stop', false for 'dead_letter' (the default) */
bool
pgs_on_error_stop(DefElem *def)
{
	char	   *v = defGetString(def);

	if (strcmp(v, "stop") != 0 && strcmp(v, "dead_letter") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"on_error\": \"%s\"", v),
				 errhint("Valid values are dead_letter (the default) and stop.")));
	return strcmp(v, "stop") == 0;
}

/*
 * The format options among options (default_format if none is given), into
 * d: format, and csv's delimiter, quote, escape, null and header.
 */
void
pgs_decoder_options(PgsDecoder *d, List *options, PgsFormat default_format,
					const char *what)
{
	ListCell   *lc;

	d->format = default_format;
	d->delimiter = ',';
	d->quote = '"';
	d->escape = 0;
	d->null_string = "";
	d->header = false;
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "format") == 0)
			d->format = pgs_parse_format(defGetString(def));
		else if (strcmp(def->defname, "delimiter") == 0)
			d->delimiter = single_byte_option(def);
		else if (strcmp(def->defname, "quote") == 0)
			d->quote = single_byte_option(def);
		else if (strcmp(def->defname, "escape") == 0)
			d->escape = single_byte_option(def);
		else if (strcmp(def->defname, "null") == 0)
			d->null_string = defGetString(def);
		else if (strcmp(def->defname, "header") == 0)
			d->header = defGetBoolean(def);
	}
	if (d->escape == 0)
		d->escape = d->quote;
	if (d->delimiter == d->quote)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("%s: the CSV delimiter and quote must differ", what)));
}

/*
 * A decoder for the columns of desc whose data[] is true, with the format
 * options among options (default_format if none is given).
 */
void
pgs_decoder_init(PgsDecoder *d, TupleDesc desc, bool *data, List *options,
				 PgsFormat default_format, const char *what)
{
	memset(d, 0, sizeof(PgsDecoder));
	d->desc = desc;
	d->data = data;
	pgs_decoder_options(d, options, default_format, what);
	d->infuncs = palloc0(sizeof(FmgrInfo) * desc->natts);
	d->ioparams = palloc0(sizeof(Oid) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			infunc;

		if (att->attisdropped)
		{
			data[i] = false;
			continue;
		}
		if (data[i])
			d->ndata++;
		getTypeInputInfo(att->atttypid, &infunc, &d->ioparams[i]);
		fmgr_info(infunc, &d->infuncs[i]);
	}
	if (d->format == PGS_FORMAT_TEXT && d->ndata != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("%s has format text, so it needs exactly one data column", what)));
}

/* where a value is taken from, for its error (see the header) */
typedef enum DecodingFrom
{
	FROM_COLUMN,				/* a text record, or a source's own column */
	FROM_JSON_KEY,
	FROM_CSV_FIELD,
} DecodingFrom;

static struct
{
	PgsDecoder *d;				/* NULL: not in a value */
	int			col;
	DecodingFrom from;
	int			field;			/* a CSV field's number, from 1 */
}			decoding_at;

static inline void
decoding_value(PgsDecoder *d, int col, DecodingFrom from, int field)
{
	decoding_at.d = d;
	decoding_at.col = col;
	decoding_at.from = from;
	decoding_at.field = field;
}

static inline Datum
decoder_input(PgsDecoder *d, int col, char *s)
{
	return InputFunctionCall(&d->infuncs[col], s, d->ioparams[col],
							 TupleDescAttr(d->desc, col)->atttypmod);
}

/* a column the source fills itself (Kafka's meta columns, a file's name) */
Datum
pgs_decoder_input(PgsDecoder *d, int col, char *s)
{
	Datum		v;

	decoding_value(d, col, FROM_COLUMN, 0);
	v = decoder_input(d, col, s);
	decoding_at.d = NULL;
	return v;
}

/*
 * The message of a record's error, with where the value was if it was a
 * value's; palloc'd.
 */
static char *
located_message(const char *message)
{
	PgsDecoder *d = decoding_at.d;
	const char *col;

	if (d == NULL)
		return pstrdup(message);
	col = NameStr(TupleDescAttr(d->desc, decoding_at.col)->attname);
	switch (decoding_at.from)
	{
		case FROM_JSON_KEY:
			return psprintf("column \"%s\" (JSON key \"%s\"): %s", col, col, message);
		case FROM_CSV_FIELD:
			return psprintf("column \"%s\" (CSV field %d): %s", col, decoding_at.field,
							message);
		case FROM_COLUMN:
			break;
	}
	return psprintf("column \"%s\": %s", col, message);
}

/*------------------------------------------------------------------------
 * json
 *------------------------------------------------------------------------
 */
static int
column_by_name(PgsDecoder *d, const char *name)
{
	for (int i = 0; i < d->desc->natts; i++)
		if (d->data[i] && strcmp(NameStr(TupleDescAttr(d->desc, i)->attname), name) == 0)
			return i;
	return -1;
}

typedef struct JsonDecodeState
{
	PgsDecoder *d;
	JsonLexContext *lex;
	Datum	   *values;
	bool	   *nulls;
	int			depth;
	int			col;			/* column of the current top-level key, or -1 */
	char	   *nested_start;	/* where its object or array value starts */
	bool		not_object;
} JsonDecodeState;

/*
 * An ISO 8601 date-time with an explicit zone, as most producers write
 * event times -- 2026-01-01T00:03:17Z, 2026-01-01 00:03:17.25+02:00 --
 * into a timestamptz without timestamptz_in's general parser (which takes
 * a good part of a record's decoding time). Anything else, or any field
 * out of its plain range, returns false and goes through timestamptz_in,
 * so the result is the same either way.
 */
static inline int
digits(const char *p, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

static bool
fast_timestamptz(const char *s, TimestampTz *result)
{
	int			y = digits(s, 4),
				mo,
				d,
				h,
				mi,
				sec;
	int64		frac = 0;
	int			offset = 0;		/* seconds east of UTC */
	const char *p;
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (y < 1 || s[4] != '-' || (mo = digits(s + 5, 2)) < 1 || mo > 12 || s[7] != '-' ||
		(d = digits(s + 8, 2)) < 1 ||
		d > mdays[mo - 1] + (mo == 2 && isleap(y)) ||
		(s[10] != 'T' && s[10] != ' ') ||
		(h = digits(s + 11, 2)) < 0 || h > 23 || s[13] != ':' ||
		(mi = digits(s + 14, 2)) < 0 || mi > 59 || s[16] != ':' ||
		(sec = digits(s + 17, 2)) < 0 || sec > 59)
		return false;
	p = s + 19;
	if (*p == '.')
	{
		int			n = 0;

		p++;
		while (isdigit((unsigned char) p[n]))
			n++;
		if (n < 1 || n > 6)
			return false;
		frac = digits(p, n);
		for (int i = n; i < 6; i++)
			frac *= 10;
		p += n;
	}
	if (*p == 'Z' && p[1] == '\0')
		offset = 0;
	else if ((*p == '+' || *p == '-') && p[1] != '\0')
	{
		int			oh = digits(p + 1, 2),
					om = 0;
		const char *q = p + 3;

		if (oh < 0 || oh > 15)
			return false;
		if (*q == ':')
			q++;
		if (*q != '\0')
		{
			if ((om = digits(q, 2)) < 0 || om > 59 || q[2] != '\0')
				return false;
		}
		offset = (oh * 60 + om) * 60 * (*p == '-' ? -1 : 1);
	}
	else
		return false;
	*result = ((int64) (date2j(y, mo, d) - POSTGRES_EPOCH_JDATE)) * USECS_PER_DAY +
		(((int64) h * 60 + mi) * 60 + sec - offset) * USECS_PER_SEC + frac;
	return true;
}

static void
json_set(JsonDecodeState *st, char *text, JsonTokenType tokentype)
{
	PgsDecoder *d = st->d;
	int			col = st->col;
	Oid			typid = TupleDescAttr(d->desc, col)->atttypid;
	TimestampTz ts;

	st->col = -1;
	if (tokentype == JSON_TOKEN_NULL)
	{
		st->nulls[col] = true;
		return;
	}
	decoding_value(d, col, FROM_JSON_KEY, 0);
	st->nulls[col] = false;
	if (tokentype == JSON_TOKEN_NUMBER && typid == INT4OID)
		st->values[col] = Int32GetDatum(pg_strtoint32(text));
	else if (tokentype == JSON_TOKEN_NUMBER && typid == INT8OID)
		st->values[col] = Int64GetDatum(pg_strtoint64(text));
	else if (tokentype == JSON_TOKEN_STRING && typid == TEXTOID)
		st->values[col] = CStringGetTextDatum(text);
	else if (tokentype == JSON_TOKEN_STRING && typid == TIMESTAMPTZOID &&
			 TupleDescAttr(d->desc, col)->atttypmod < 0 && fast_timestamptz(text, &ts))
		st->values[col] = TimestampTzGetDatum(ts);
	else if (tokentype == JSON_TOKEN_STRING && (typid == JSONOID || typid == JSONBOID))
	{
		StringInfoData quoted;

		initStringInfo(&quoted);
		escape_json(&quoted, text);
		st->values[col] = decoder_input(d, col, quoted.data);
	}
	else
		st->values[col] = decoder_input(d, col, text);
	decoding_at.d = NULL;
}

static void
json_struct_start(void *state)
{
	JsonDecodeState *st = state;

	if (st->depth >= PGS_JSON_MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("JSON nested deeper than %d levels", PGS_JSON_MAX_DEPTH)));
	if (st->depth == 0 && st->lex->token_type != JSON_TOKEN_OBJECT_START)
		st->not_object = true;
	if (st->depth == 1 && st->col >= 0)
		st->nested_start = st->lex->token_start;
	st->depth++;
}

static void
json_struct_end(void *state)
{
	JsonDecodeState *st = state;

	st->depth--;
	if (st->depth == 1 && st->col >= 0 && st->nested_start)
	{
		/* its JSON text: the parser has just read past the closing bracket */
		char	   *text = pnstrdup(st->nested_start,
									st->lex->prev_token_terminator - st->nested_start);

		st->nested_start = NULL;
		json_set(st, text, JSON_TOKEN_OBJECT_START);
	}
}

static void
json_field(void *state, char *fname, bool isnull)
{
	JsonDecodeState *st = state;

	if (st->depth == 1)
		st->col = column_by_name(st->d, fname);
}

static void
json_scalar(void *state, char *token, JsonTokenType tokentype)
{
	JsonDecodeState *st = state;

	if (st->depth == 0)
		st->not_object = true;
	else if (st->depth == 1 && st->col >= 0)
		json_set(st, token, tokentype);
}

/*
 * The fast path, for what most streams carry: a flat object whose values
 * are strings without escapes, numbers, true, false or null. The record is
 * checked whole first (the keys are matched to columns in place, nothing
 * is copied), then its values are converted left to right, as the parser
 * below would. Anything else -- an escape, a nested value, a syntax error
 * -- returns false before any value is set, and the record goes through
 * PostgreSQL's parser, which decides and words the errors.
 */
#define FLAT_MAX_FIELDS 64

typedef struct FlatField
{
	int			col;
	JsonTokenType type;
	const char *p;				/* the value (a string's without its quotes) */
	int			len;
} FlatField;

static inline const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* the bytes a flat string stops at: 1 a quote, 2 an escape or control, 4 high */
static const uint8 flat_stop[256] = {
	[0 ... 0x1f] = 2,
	['"'] = 1,
	['\\'] = 2,
	[0x80 ... 0xff] = 4,
};

/*
 * A string without escapes: p at the opening quote; NULL if not one.
 * *high is set if it holds a byte above 0x7f (the record's encoding is
 * then checked; in ASCII there is nothing to check).
 */
static const char *
flat_string(const char *p, const char *end, const char **s, int *len, bool *high)
{
	const char *q = ++p;

	/* one table lookup a byte, the ordinary ones passed without a branch */
	for (; q < end; q++)
	{
		uint8		stop = flat_stop[(unsigned char) *q];

		if (likely(stop == 0))
			continue;
		if (stop == 1)
			break;
		if (stop == 2)
			return NULL;
		*high = true;
	}
	if (q >= end)
		return NULL;
	*s = p;
	*len = q - p;
	return q + 1;
}

/* a JSON number; NULL if not one */
static const char *
flat_number(const char *p, const char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p >= end || !isdigit((unsigned char) *p))
		return NULL;
	if (*p == '0')
		p++;
	else
		while (p < end && isdigit((unsigned char) *p))
			p++;
	if (p < end && *p == '.')
	{
		p++;
		if (p >= end || !isdigit((unsigned char) *p))
			return NULL;
		while (p < end && isdigit((unsigned char) *p))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E'))
	{
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || !isdigit((unsigned char) *p))
			return NULL;
		while (p < end && isdigit((unsigned char) *p))
			p++;
	}
	/* a number runs into the next token only through a delimiter */
	if (p < end && !(*p == ',' || *p == '}' || *p == ' ' || *p == '\t' ||
					 *p == '\n' || *p == '\r'))
		return NULL;
	return p;
}

/*
 * The column of the n-th key, name[0..len): records of a stream mostly
 * carry their keys in one order, so the n-th key of the last record is
 * tried first (one comparison instead of one per column).
 */
static int
column_by_name_n(PgsDecoder *d, int n, const char *name, int len)
{
	int			found = -1;

	/* (a zeroed cache, keylen 0, matches no key: no column name is empty) */
	if (n < lengthof(d->keycol) && len > 0 && d->keylen[n] == len &&
		d->keycol[n] >= 0 && d->keycol[n] < d->desc->natts && d->data[d->keycol[n]] &&
		memcmp(NameStr(TupleDescAttr(d->desc, d->keycol[n])->attname), name, len) == 0)
		return d->keycol[n];
	for (int i = 0; i < d->desc->natts; i++)
	{
		const char *att = NameStr(TupleDescAttr(d->desc, i)->attname);

		if (d->data[i] && strncmp(att, name, len) == 0 && att[len] == '\0')
		{
			found = i;
			break;
		}
	}
	if (n < lengthof(d->keycol))
	{
		d->keycol[n] = found;
		d->keylen[n] = len;
	}
	return found;
}

static bool
decode_flat_json(PgsDecoder *d, char *rec, int len, Datum *values, bool *nulls)
{
	const char *p = rec;
	const char *end = rec + len;
	FlatField	f[FLAT_MAX_FIELDS];
	int			n = 0;
	JsonDecodeState st = {0};
	bool		high = false;

	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return false;
	p = skip_ws(p + 1, end);
	if (p < end && *p == '}')
		p++;
	else
		for (;;)
		{
			const char *key;
			int			keylen;

			if (n == FLAT_MAX_FIELDS || p >= end || *p != '"' ||
				(p = flat_string(p, end, &key, &keylen, &high)) == NULL)
				return false;
			p = skip_ws(p, end);
			if (p >= end || *p != ':')
				return false;
			p = skip_ws(p + 1, end);
			if (p >= end)
				return false;
			f[n].col = column_by_name_n(d, n, key, keylen);
			f[n].p = p;
			if (*p == '"')
			{
				f[n].type = JSON_TOKEN_STRING;
				if ((p = flat_string(p, end, &f[n].p, &f[n].len, &high)) == NULL)
					return false;
			}
			else if (*p == '-' || isdigit((unsigned char) *p))
			{
				f[n].type = JSON_TOKEN_NUMBER;
				if ((p = flat_number(p, end)) == NULL)
					return false;
				f[n].len = p - f[n].p;
			}
			else if (end - p >= 4 && memcmp(p, "true", 4) == 0)
				f[n].type = JSON_TOKEN_TRUE, f[n].len = 4, p += 4;
			else if (end - p >= 5 && memcmp(p, "false", 5) == 0)
				f[n].type = JSON_TOKEN_FALSE, f[n].len = 5, p += 5;
			else if (end - p >= 4 && memcmp(p, "null", 4) == 0)
				f[n].type = JSON_TOKEN_NULL, f[n].len = 4, p += 4;
			else
				return false;	/* nested, or not JSON */
			n++;
			p = skip_ws(p, end);
			if (p < end && *p == ',')
			{
				p = skip_ws(p + 1, end);
				continue;
			}
			if (p < end && *p == '}')
			{
				p++;
				break;
			}
			return false;
		}
	if (skip_ws(p, end) != end)
		return false;

	/*
	 * A record that got here holds no NUL byte (not in a string, not
	 * between tokens), and is checked for its encoding only if it holds a
	 * byte that is not ASCII: what pgs_decode_record checks first of the
	 * others.
	 */
	if (high)
		(void) pg_verifymbstr(rec, len, false);

	st.d = d;
	st.values = values;
	st.nulls = nulls;
	for (int i = 0; i < n; i++)
	{
		char		buf[64];
		char	   *text;

		if (f[i].col < 0)
			continue;
		if (f[i].type == JSON_TOKEN_STRING &&
			TupleDescAttr(d->desc, f[i].col)->atttypid == TEXTOID)
		{
			/* as json_set would, without the copy to terminate it */
			values[f[i].col] = PointerGetDatum(cstring_to_text_with_len(f[i].p, f[i].len));
			nulls[f[i].col] = false;
			continue;
		}
		if (f[i].type == JSON_TOKEN_NUMBER && f[i].len <= 9 &&
			TupleDescAttr(d->desc, f[i].col)->atttypid == INT4OID)
		{
			/*
			 * Up to 9 digits (with a sign: 8) fit an int4 whatever they
			 * are: converted here, as pg_strtoint32 would; a fraction or
			 * an exponent goes on to json_set (which refuses it).
			 */
			const char *q = f[i].p;
			const char *qend = q + f[i].len;
			bool		neg = (*q == '-');
			int32		v = 0;

			for (q += neg; q < qend && isdigit((unsigned char) *q); q++)
				v = v * 10 + (*q - '0');
			if (q == qend)
			{
				values[f[i].col] = Int32GetDatum(neg ? -v : v);
				nulls[f[i].col] = false;
				continue;
			}
		}
		st.col = f[i].col;
		if (f[i].len < sizeof(buf))
		{
			memcpy(buf, f[i].p, f[i].len);
			buf[f[i].len] = '\0';
			text = buf;
		}
		else
			text = pnstrdup(f[i].p, f[i].len);
		json_set(&st, text, f[i].type);
	}
	return true;
}

static void
decode_json(PgsDecoder *d, char *rec, int len, Datum *values, bool *nulls)
{
	JsonDecodeState st = {0};
	JsonSemAction sem = {0};
	JsonParseErrorType err;

	st.d = d;
	st.values = values;
	st.nulls = nulls;
	st.col = -1;
	st.lex = makeJsonLexContextCstringLen(rec, len, GetDatabaseEncoding(), true);
	sem.semstate = &st;
	sem.object_start = json_struct_start;
	sem.object_end = json_struct_end;
	sem.array_start = json_struct_start;
	sem.array_end = json_struct_end;
	sem.object_field_start = json_field;
	sem.scalar = json_scalar;
	err = pg_parse_json(st.lex, &sem);
	if (err != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type json"),
				 errdetail("%s", json_errdetail(err, st.lex))));
	if (st.not_object)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("a JSON record must be an object")));
}

/*------------------------------------------------------------------------
 * csv
 *------------------------------------------------------------------------
 */

/*
 * The fields of one CSV record, as palloc'd strings (NULL for a null
 * field), into fields; returns their number.
 */
int
pgs_csv_fields(PgsDecoder *d, const char *s, char ***fields)
{
	int			n = 0;
	int			alloc = 8;
	StringInfoData field;

	*fields = palloc(sizeof(char *) * alloc);
	initStringInfo(&field);
	for (;;)
	{
		bool		quoted = false;

		resetStringInfo(&field);
		if (*s == d->quote)
		{
			quoted = true;
			s++;
			for (;;)
			{
				if (*s == '\0')
					ereport(ERROR,
							(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
							 errmsg("unterminated quoted CSV field")));
				if (*s == d->escape && (s[1] == d->quote ||
										(d->escape != d->quote && s[1] == d->escape)))
				{
					appendStringInfoChar(&field, s[1]);
					s += 2;
				}
				else if (*s == d->quote)
				{
					s++;
					break;
				}
				else
					appendStringInfoChar(&field, *s++);
			}
		}
		else
			while (*s && *s != d->delimiter && *s != '\n' && *s != '\r')
				appendStringInfoChar(&field, *s++);

		if (n == alloc)
		{
			alloc *= 2;
			*fields = repalloc(*fields, sizeof(char *) * alloc);
		}
		(*fields)[n++] = (!quoted && strcmp(field.data, d->null_string) == 0) ?
			NULL : pstrdup(field.data);
		if (*s == d->delimiter)
		{
			s++;
			continue;
		}
		if (*s == '\r')
			s++;
		if (*s == '\n')
			s++;
		if (*s != '\0')
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("unexpected character after a quoted CSV field")));
		break;
	}
	pfree(field.data);
	return n;
}

static void
decode_csv(PgsDecoder *d, char *rec, Datum *values, bool *nulls)
{
	char	  **fields;
	int			n = pgs_csv_fields(d, rec, &fields);
	int			col = 0;

	for (int f = 0; f < n; f++)
	{
		/* the next data column */
		while (col < d->desc->natts && !d->data[col])
			col++;
		if (col >= d->desc->natts)
			ereport(ERROR,
					(errcode(ERRCODE_BAD_COPY_FILE_FORMAT),
					 errmsg("extra data after the last expected CSV field")));
		nulls[col] = (fields[f] == NULL);
		if (fields[f])
		{
			decoding_value(d, col, FROM_CSV_FIELD, f + 1);
			values[col] = decoder_input(d, col, fields[f]);
			decoding_at.d = NULL;
		}
		col++;
	}
}

/*
 * The data columns of one record into values/nulls (the caller has set
 * every column NULL, and fills the others). rec is NUL-terminated, len
 * bytes long; a record holding a NUL byte or invalid text is bad.
 */
static void decode_record_checked(PgsDecoder *d, char *rec, int len, Datum *values,
								  bool *nulls);

void
pgs_decode_record(PgsDecoder *d, char *rec, int len, Datum *values, bool *nulls)
{
	Assert(d != NULL && d->desc != NULL && len >= 0);
	decoding_at.d = NULL;
	/* a flat JSON object: checked as it is read (decode_flat_json) */
	if (d->format == PGS_FORMAT_JSON && decode_flat_json(d, rec, len, values, nulls))
	{
		decoding_at.d = NULL;
		return;
	}
	decode_record_checked(d, rec, len, values, nulls);
}

/*
 * pgs_decode_record of len bytes at rec that need not be NUL-terminated
 * (a Kafka message's payload, in librdkafka's buffer): the fast path reads
 * them where they are, and only a record that leaves it is copied, to be
 * NUL-terminated for the others. rec may be NULL if len is 0.
 */
void
pgs_decode_bytes(PgsDecoder *d, const char *rec, int len, Datum *values, bool *nulls)
{
	char	   *copy;

	Assert(d != NULL && d->desc != NULL && len >= 0);
	decoding_at.d = NULL;
	if (d->format == PGS_FORMAT_JSON && len > 0 &&
		decode_flat_json(d, (char *) rec, len, values, nulls))
	{
		decoding_at.d = NULL;
		return;
	}
	/* all len bytes (not pnstrdup's up to a NUL: the check below sees it) */
	copy = palloc(len + 1);
	if (len > 0)
		memcpy(copy, rec, len);
	copy[len] = '\0';
	decode_record_checked(d, copy, len, values, nulls);
}

/* a record that is not a flat JSON object: NUL-terminated, as above */
static void
decode_record_checked(PgsDecoder *d, char *rec, int len, Datum *values, bool *nulls)
{
	if (strlen(rec) != len)
		ereport(ERROR,
				(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
				 errmsg("the record contains a NUL byte")));
	(void) pg_verifymbstr(rec, len, false);
	switch (d->format)
	{
		case PGS_FORMAT_JSON:
			decode_json(d, rec, len, values, nulls);
			break;
		case PGS_FORMAT_CSV:
			decode_csv(d, rec, values, nulls);
			break;
		case PGS_FORMAT_TEXT:
			for (int i = 0; i < d->desc->natts; i++)
				if (d->data[i])
				{
					decoding_value(d, i, FROM_COLUMN, 0);
					values[i] = decoder_input(d, i, rec);
					nulls[i] = false;
				}
			break;
		case PGS_FORMAT_PARQUET:
			/* a file's rows, not records (formats/parquet.c) */
			elog(ERROR, "a Parquet row is not a record");
			break;
	}
	decoding_at.d = NULL;
}

/*------------------------------------------------------------------------
 * A batch of records, with dead letters
 *------------------------------------------------------------------------
 */

/* a bad value or a record too big or deep is a bad record; a cancel is not */
static bool
is_data_error(ErrorData *edata)
{
	return ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_DATA_EXCEPTION ||
		ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_PROGRAM_LIMIT_EXCEEDED ||
		edata->sqlerrcode == ERRCODE_BAD_COPY_FILE_FORMAT;
}

/*
 * Records [from, to) as rows. The first pass, over the whole batch, packs
 * each row straight into chunks (formats/tuple.c) as it is decoded: one
 * copy of a row, and a palloc per chunk, not per row. The pass record by
 * record that singles out bad ones keeps each good row on its own (rows[])
 * instead, and packs them once it is over.
 */
#define DECODE_CHUNK_BYTES (32 * 1024)
#define DECODE_CHUNK_ALLOC (DECODE_CHUNK_BYTES + 4096)	/* room for the last row */
#define DECODE_RESET_ROWS 64

typedef struct DecodeRange
{
	PgsDecodeFn decode;
	void	   *arg;
	TupleTableSlot *slot;
	MemoryContext rowcxt;		/* a row's work, reset after each */
	MemoryContext cxt;			/* the rows and chunks */
	TuplePacker *packer;		/* the first pass: rows into chunks */
	List	   *chunks;			/* the chunks filled (bytea, in cxt) */
	MinimalTuple *rows;			/* the record-by-record pass */
	int64		from;
	int64		to;
} DecodeRange;

/* the packer's chunk into r->chunks, and a new one (in r->cxt) */
static void
decode_chunk_done(DecodeRange *r)
{
	MemoryContext old = MemoryContextSwitchTo(r->cxt);

	if (r->packer->nrows > 0)
	{
		r->chunks = lappend(r->chunks, tuple_pack_bytea(r->packer));
		initStringInfo(&r->packer->buf);
		enlargeStringInfo(&r->packer->buf, DECODE_CHUNK_ALLOC);
		tuple_pack_reset(r->packer);
	}
	MemoryContextSwitchTo(old);
}

static void
decode_range(void *p)
{
	DecodeRange *r = p;
	TupleTableSlot *slot = r->slot;
	MemoryContext old = MemoryContextSwitchTo(r->rowcxt);

	for (int64 i = r->from; i < r->to; i++)
	{
		ExecClearTuple(slot);
		memset(slot->tts_isnull, true, sizeof(bool) * slot->tts_tupleDescriptor->natts);
		decoding_at.d = NULL;
		r->decode(r->arg, i, slot->tts_values, slot->tts_isnull);
		if (r->packer)
		{
			/* chunks of about DECODE_CHUNK_BYTES: done once past it */
			if (!tuple_pack_values(r->packer, slot->tts_tupleDescriptor,
								   slot->tts_values, slot->tts_isnull))
			{
				bool		shouldFree;

				ExecStoreVirtualTuple(slot);
				tuple_pack_add(r->packer, tuple_pack_prepare(slot, &shouldFree));
			}
			if (r->packer->buf.len >= DECODE_CHUNK_BYTES)
				decode_chunk_done(r);
			/* a row's work is small: freed every DECODE_RESET_ROWS rows */
			if ((i - r->from) % DECODE_RESET_ROWS == DECODE_RESET_ROWS - 1 ||
				MemoryContextMemAllocated(r->rowcxt, false) > 64 * 1024)
				MemoryContextReset(r->rowcxt);
		}
		else
		{
			ExecStoreVirtualTuple(slot);
			MemoryContextSwitchTo(r->cxt);
			r->rows[i] = ExecCopySlotMinimalTuple(slot);
			MemoryContextSwitchTo(r->rowcxt);
			MemoryContextReset(r->rowcxt);
		}
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->rowcxt);
}

/*
 * Decode records 0..n-1 (decode(arg, i, values, nulls) fills a row whose
 * columns start NULL) into chunks of packed rows (formats/tuple.c), put
 * in order into the tuplestore chunks (of tuple_chunk_desc()): all of
 * them in one subtransaction; if one fails, again one by one to single
 * out the bad ones, which go to bad(arg, i, error) -- unless stop, when
 * the first bad record fails the batch. The rows are kept in memory until
 * the subtransactions are over (a tuplestore's temp files belong to the
 * subtransaction that creates them). Returns the number of bad records.
 */
static int64
decode_batch(TupleDesc desc, int64 n, PgsDecodeFn decode, PgsBadFn bad,
			 void *arg, bool stop, Tuplestorestate **chunks, int limit_kb, int64 *kb_put)
{
	DecodeRange r = {0};
	TuplePacker packer;
	ErrorData  *edata;
	int64		nbad = 0;
	ListCell   *lc;
	TupleDesc	cdesc;

	r.decode = decode;
	r.arg = arg;
	r.slot = MakeSingleTupleTableSlot(desc, &TTSOpsVirtual);
	r.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "pg_stream decode",
									 ALLOCSET_DEFAULT_SIZES);
	r.cxt = CurrentMemoryContext;
	tuple_pack_init(&packer);
	enlargeStringInfo(&packer.buf, DECODE_CHUNK_ALLOC);
	r.packer = &packer;
	r.from = 0;
	r.to = n;
	edata = n > 0 ? pgs_try(decode_range, &r) : NULL;
	if (edata)
	{
		/* only a bad value is a bad record: a cancel is a cancel */
		if (!is_data_error(edata))
			ReThrowError(edata);
		if (stop)
		{
			edata->message = located_message(edata->message);
			ReThrowError(edata);
		}
		FreeErrorData(edata);
		MemoryContextReset(r.rowcxt);
		foreach(lc, r.chunks)
			pfree(lfirst(lc));
		list_free(r.chunks);
		r.chunks = NIL;
		r.packer = NULL;
		r.rows = palloc0(sizeof(MinimalTuple) * n);
		for (int64 i = 0; i < n; i++)
		{
			r.from = i;
			r.to = i + 1;
			edata = pgs_try(decode_range, &r);
			MemoryContextReset(r.rowcxt);
			if (edata == NULL)
				continue;
			if (!is_data_error(edata))
				ReThrowError(edata);
			bad(arg, i, located_message(edata->message));
			FreeErrorData(edata);
			nbad++;
		}
		/* the good rows, packed */
		tuple_pack_reset(&packer);
		r.packer = &packer;
		for (int64 i = 0; i < n; i++)
			if (r.rows[i])
			{
				tuple_pack_add(&packer, r.rows[i]);
				if (packer.buf.len >= DECODE_CHUNK_BYTES)
					decode_chunk_done(&r);
				pfree(r.rows[i]);
			}
		pfree(r.rows);
	}
	decode_chunk_done(&r);
	if (*chunks == NULL || kb_put)
	{
		/* in memory: room for every chunk (and the tuplestore's overhead) */
		int64		kb = 0;

		foreach(lc, r.chunks)
			kb += (VARSIZE(lfirst(lc)) + 1024) / 1024 + 1;
		/* (and for the chunks of the records decoded after these, up to limit_kb) */
		if (*chunks == NULL)
			*chunks = tuplestore_begin_heap(false, false,
											(int) Min(Max(Max(kb, (int64) limit_kb + kb), work_mem),
													  MAX_KILOBYTES));
		if (kb_put)
			*kb_put += kb;
	}
	cdesc = tuple_chunk_desc();
	foreach(lc, r.chunks)
	{
		Datum		chunk = PointerGetDatum(lfirst(lc));
		bool		isnull = false;

		tuplestore_putvalues(*chunks, cdesc, &chunk, &isnull);
		pfree(lfirst(lc));
	}
	list_free(r.chunks);
	FreeTupleDesc(cdesc);
	pfree(packer.buf.data);
	if (packer.scratch)
		pfree(packer.scratch);
	ExecDropSingleTupleTableSlot(r.slot);
	MemoryContextDelete(r.rowcxt);
	return nbad;
}

int64
pgs_decode_batch(TupleDesc desc, int64 n, PgsDecodeFn decode, PgsBadFn bad,
				 void *arg, bool stop, Tuplestorestate *chunks)
{
	Assert(chunks != NULL);
	return decode_batch(desc, n, decode, bad, arg, stop, &chunks, 0, NULL);
}

/*
 * pgs_decode_batch into a tuplestore of its own, sized to keep the chunks
 * in memory: for a source whose records were all in memory already (a
 * Kafka batch's messages, held until their rows are decoded), for which a
 * tuplestore spilling past work_mem would only write the rows to a
 * temporary file to read them back once. Sets *nbad.
 */
Tuplestorestate *
pgs_decode_batch_in_memory(TupleDesc desc, int64 n, PgsDecodeFn decode, PgsBadFn bad,
						   void *arg, bool stop, int64 *nbad)
{
	Tuplestorestate *chunks = NULL;

	*nbad = decode_batch(desc, n, decode, bad, arg, stop, &chunks, 0, NULL);
	return chunks;
}

/*
 * pgs_decode_batch_in_memory for a batch decoded in parts (a Kafka
 * REFRESH's batch over a backlog, each part's messages freed once their
 * rows are): the first call (*chunks NULL) makes the tuplestore, with
 * room in memory for its own chunks and limit_kb more; each adds the
 * kilobytes of the chunks it put to *kb. Returns the bad records.
 */
int64
pgs_decode_batch_in_memory_part(TupleDesc desc, int64 n, PgsDecodeFn decode, PgsBadFn bad,
								void *arg, bool stop, Tuplestorestate **chunks,
								int limit_kb, int64 *kb)
{
	Assert(chunks != NULL && kb != NULL);
	return decode_batch(desc, n, decode, bad, arg, stop, chunks, limit_kb, kb);
}

/*
 * A record that did not decode: a dead letter in stream.errors for the
 * view being run, with where it was (position) and its payload; a plain
 * SELECT writes nothing and warns (where: the same, in words).
 */
void
pgs_dead_letter(Oid relid, const char *what, Jsonb *position, const char *where,
				const char *payload, size_t len, const char *error)
{
	Oid			viewid = pgs_batchrun_view();
	char	   *text = pnstrdup(payload ? payload : "", payload ? len : 0);

	Assert(OidIsValid(relid) && what != NULL && error != NULL);
	if (!OidIsValid(viewid))
	{
		ereport(WARNING,
				(errmsg("%s: skipped the record at %s: %s", what, where, error)));
		return;
	}
	/* a payload that is not valid text is shown escaped */
	if (strlen(text) != len || !pg_verifymbstr(text, len, true))
		text = DatumGetCString(DirectFunctionCall1(byteaout,
												   PointerGetDatum(cstring_to_text_with_len(payload, len))));
	meta_error_insert(relid, viewid, position, text, error);
}
