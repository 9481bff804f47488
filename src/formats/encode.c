/*-------------------------------------------------------------------------
 *
 * encode.c
 *	  Rows into records: what INSERT into a kafka or file foreign table
 *	  writes, in the table's format.
 *
 *	  json	 {"column": value, ...} spaced like PostgreSQL's json output;
 *			 numbers and booleans as JSON numbers and booleans, json and
 *			 jsonb columns as they are, everything else as a string.
 *	  csv	 the fields in column order, quoted where needed, with the
 *			 decoder's delimiter, quote and null.
 *	  text	 the one data column.
 *
 * Only the data columns are written (a kafka key or partition column, a
 * file's name and line are not part of the record), so what a stream
 * decodes is what its INSERT encoded.
 *
 *-------------------------------------------------------------------------
 */
#include "formats/formats.h"

#include "catalog/pg_type.h"
#include "utils/json.h"
#include "utils/lsyscache.h"

void
pgs_encoder_init(PgsEncoder *e, PgsDecoder *d)
{
	Assert(e != NULL && d != NULL && d->desc != NULL);
	e->d = d;
	e->outfuncs = palloc0(sizeof(FmgrInfo) * d->desc->natts);
	for (int i = 0; i < d->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(d->desc, i);
		Oid			outfunc;
		bool		varlena;

		if (att->attisdropped)
			continue;
		getTypeOutputInfo(att->atttypid, &outfunc, &varlena);
		fmgr_info(outfunc, &e->outfuncs[i]);
	}
}

static bool
json_number_type(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return true;
		default:
			return false;
	}
}

static void
csv_field(PgsDecoder *d, StringInfo buf, const char *v)
{
	bool		quote = (*v == '\0' || strcmp(v, d->null_string) == 0);

	for (const char *c = v; *c && !quote; c++)
		quote = (*c == d->delimiter || *c == d->quote || *c == d->escape ||
				 *c == '\r' || *c == '\n');
	if (!quote)
	{
		appendStringInfoString(buf, v);
		return;
	}
	appendStringInfoChar(buf, d->quote);
	for (const char *c = v; *c; c++)
	{
		if (*c == d->quote || *c == d->escape)
			appendStringInfoChar(buf, d->escape);
		appendStringInfoChar(buf, *c);
	}
	appendStringInfoChar(buf, d->quote);
}

/* the record of the row in slot (all attributes deformed) into buf */
void
pgs_encode_row(PgsEncoder *e, TupleTableSlot *slot, StringInfo buf)
{
	PgsDecoder *d = e->d;
	bool		first = true;

	Assert(e != NULL && e->d != NULL && slot != NULL);
	resetStringInfo(buf);
	if (d->format == PGS_FORMAT_JSON)
		appendStringInfoChar(buf, '{');
	for (int i = 0; i < d->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(d->desc, i);
		char	   *v;

		if (!d->data[i])
			continue;
		v = slot->tts_isnull[i] ? NULL :
			OutputFunctionCall(&e->outfuncs[i], slot->tts_values[i]);
		if (d->format == PGS_FORMAT_TEXT)
		{
			if (v)
				appendStringInfoString(buf, v);
			continue;
		}
		if (!first)
		{
			if (d->format == PGS_FORMAT_JSON)
				appendStringInfoString(buf, ", ");
			else
				appendStringInfoChar(buf, d->delimiter);
		}
		first = false;
		if (d->format == PGS_FORMAT_CSV)
		{
			if (v)
				csv_field(d, buf, v);
			else
				appendStringInfoString(buf, d->null_string);
			continue;
		}
		escape_json(buf, NameStr(att->attname));
		appendStringInfoString(buf, ": ");
		if (v == NULL)
			appendStringInfoString(buf, "null");
		else if (att->atttypid == BOOLOID)
			appendStringInfoString(buf, strcmp(v, "t") == 0 ? "true" : "false");
		else if (att->atttypid == JSONOID || att->atttypid == JSONBOID ||
				 (json_number_type(att->atttypid) && strspn(v, "0123456789+-.eE") == strlen(v)))
			appendStringInfoString(buf, v);
		else
			escape_json(buf, v);
	}
	if (d->format == PGS_FORMAT_JSON)
		appendStringInfoChar(buf, '}');
}
