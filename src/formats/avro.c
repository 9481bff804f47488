/*-------------------------------------------------------------------------
 *
 * avro.c
 *	  Avro binary records to rows and back, through libavro (Debian's 1.11).
 *
 * A table reads Avro with a reader schema and writes it with a writer
 * schema, both "the table's": the option avro_schema when it is given,
 * otherwise one made from the columns (pgs_avro_columns_schema). Each
 * record is decoded with the schema it was written with (the registry's,
 * or avro_schema itself), resolved to the table's by Avro's rules:
 *
 *	- with avro_schema, libavro's resolved writer maps the writer's record
 *	  onto the reader's: fields the writer has and the reader lacks are
 *	  skipped, int -> long -> float -> double and string <-> bytes are
 *	  promoted, unions are matched by branch. libavro 1.11 cannot fill a
 *	  reader field the writer lacks (it refuses the pair), so the reader we
 *	  give it holds only the fields both have, and the others take the
 *	  "default" of avro_schema here (no default: the record is bad);
 *	- without it, the reader is the writer's own schema (each field typed
 *	  as written), projected onto the columns by name; a column the writer
 *	  lacks reads NULL. A value is converted to its column's type here
 *	  (int into bigint, enum into text, a record into jsonb).
 *
 * libavro knows no logical types, so they are read from the schema's JSON
 * for the top-level fields (directly or as a union's non-null branch):
 * decimal (bytes or fixed) -> numeric, date -> date, timestamp-millis and
 * timestamp-micros -> timestamptz. Nested values render as JSON, with
 * their logical types' underlying values.
 *
 * Hostile records. libavro allocates what a record's lengths say before
 * it reads the bytes (a string of 2^60 bytes, an array of 2^60 items), and
 * recurses as deep as the data goes in a recursive schema. So libavro
 * allocates through us (avro_set_allocator) against a budget of a few
 * times the record's size while a record is decoded; schemas that refer
 * to themselves, that nest deeper than PGS_AVRO_MAX_DEPTH, or that have
 * arrays of items of no bytes (where a count alone could loop for ever)
 * are refused. So a record's work and memory are bounded by its length.
 *
 *-------------------------------------------------------------------------
 */
#include "formats/avro.h"

#include <math.h>

#include <avro.h>

#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/float.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#define PGS_AVRO_MAX_DEPTH 32	/* schemas nest at most this deep */
#define PGS_AVRO_WRITERS 32		/* writers' schemas a table keeps resolved */
#define UNIX_TO_PG_DAYS (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)

/*------------------------------------------------------------------------
 * libavro's memory: malloc, within a budget while a record is decoded
 *------------------------------------------------------------------------
 */
static bool budget_on = false;
static size_t budget_left = 0;

static void *
avro_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	if (nsize == 0)
	{
		free(ptr);
		if (budget_on)
			budget_left += osize;
		return NULL;
	}
	if (budget_on && nsize > osize)
	{
		if (nsize - osize > budget_left)
			return NULL;		/* libavro reports ENOMEM: a bad record */
		budget_left -= nsize - osize;
	}
	else if (budget_on)
		budget_left += osize - nsize;
	return realloc(ptr, nsize);
}

static void
avro_init(void)
{
	static bool done = false;

	if (!done)
	{
		avro_set_allocator(avro_alloc, NULL);
		done = true;
	}
}

/*------------------------------------------------------------------------
 * Schemas: their JSON, their top-level fields, what is refused
 *------------------------------------------------------------------------
 */
typedef enum AvroLogical
{
	LT_NONE,
	LT_DECIMAL,
	LT_DATE,
	LT_TS_MILLIS,
	LT_TS_MICROS
} AvroLogical;

/* a top-level field of a record schema, from its JSON */
typedef struct FieldInfo
{
	char	   *name;
	char	   *type_json;		/* the field's type, as JSON */
	char	   *default_json;	/* its default, or NULL */
	AvroLogical logical;		/* of the type, or of a union's non-null branch */
	int			scale;
	int			col;			/* the column it fills, or -1 */
} FieldInfo;

struct PgsAvroSchema
{
	uint64		serial;			/* which it is, for the tables' resolved writers */
	avro_schema_t schema;
	char	   *json;			/* malloc'd */
};

static char *
jsonb_value_text(JsonbValue *v)
{
	if (v->type == jbvBinary)
		return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
	return JsonbToCString(NULL, &JsonbValueToJsonb(v)->root, 0);
}

static bool
jsonb_key(JsonbContainer *c, const char *key, JsonbValue *out)
{
	return JsonContainerIsObject(c) &&
		getKeyJsonValueFromContainer(c, key, strlen(key), out) != NULL;
}

static char *
jsonb_key_string(JsonbContainer *c, const char *key)
{
	JsonbValue	v;

	if (!jsonb_key(c, key, &v) || v.type != jbvString)
		return NULL;
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* the logical type of a field's type (or of a union's one non-null branch) */
static void
type_logical(JsonbValue *type, FieldInfo *f)
{
	JsonbValue	t = *type;
	char	   *lt;

	if (t.type == jbvBinary && JsonContainerIsArray(t.val.binary.data))
	{
		JsonbContainer *arr = t.val.binary.data;
		int			n = JsonContainerSize(arr);
		JsonbValue *branch = NULL;

		for (int i = 0; i < n; i++)
		{
			JsonbValue *b = getIthJsonbValueFromContainer(arr, i);

			if (b->type == jbvString && b->val.string.len == 4 &&
				strncmp(b->val.string.val, "null", 4) == 0)
				continue;
			if (branch)
				return;			/* a union of several types: no logical type */
			branch = b;
		}
		if (branch == NULL)
			return;
		t = *branch;
	}
	if (t.type != jbvBinary || !JsonContainerIsObject(t.val.binary.data))
		return;
	lt = jsonb_key_string(t.val.binary.data, "logicalType");
	if (lt == NULL)
		return;
	if (strcmp(lt, "decimal") == 0)
	{
		JsonbValue	s;

		f->logical = LT_DECIMAL;
		f->scale = 0;
		if (jsonb_key(t.val.binary.data, "scale", &s) && s.type == jbvNumeric)
			f->scale = DatumGetInt32(DirectFunctionCall1(numeric_int4,
														 NumericGetDatum(s.val.numeric)));
		if (f->scale < 0 || f->scale > 1000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the Avro decimal of field \"%s\" has an invalid scale", f->name)));
	}
	else if (strcmp(lt, "date") == 0)
		f->logical = LT_DATE;
	else if (strcmp(lt, "timestamp-millis") == 0 || strcmp(lt, "local-timestamp-millis") == 0)
		f->logical = LT_TS_MILLIS;
	else if (strcmp(lt, "timestamp-micros") == 0 || strcmp(lt, "local-timestamp-micros") == 0)
		f->logical = LT_TS_MICROS;
}

/* the top-level fields of a record schema's JSON (*n of them) */
static FieldInfo *
schema_fields(const char *json, int *n, char **name, char **ns)
{
	Jsonb	   *jb = pgs_jsonb_from_cstring(json);
	JsonbValue	fields;
	FieldInfo  *fi;

	*n = 0;
	if (!JB_ROOT_IS_OBJECT(jb) || !jsonb_key(&jb->root, "fields", &fields) ||
		fields.type != jbvBinary || !JsonContainerIsArray(fields.val.binary.data))
		return NULL;
	if (name)
		*name = jsonb_key_string(&jb->root, "name");
	if (ns)
		*ns = jsonb_key_string(&jb->root, "namespace");
	*n = JsonContainerSize(fields.val.binary.data);
	fi = palloc0(sizeof(FieldInfo) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		JsonbValue *f = getIthJsonbValueFromContainer(fields.val.binary.data, i);
		JsonbValue	v;

		fi[i].col = -1;
		if (f->type != jbvBinary || !JsonContainerIsObject(f->val.binary.data))
			continue;
		fi[i].name = jsonb_key_string(f->val.binary.data, "name");
		if (jsonb_key(f->val.binary.data, "type", &v))
		{
			fi[i].type_json = jsonb_value_text(&v);
			type_logical(&v, &fi[i]);
		}
		if (jsonb_key(f->val.binary.data, "default", &v))
			fi[i].default_json = jsonb_value_text(&v);
	}
	return fi;
}

/* does a value of this schema take no bytes at all? */
static bool
zero_size(avro_schema_t s, int depth)
{
	if (depth > PGS_AVRO_MAX_DEPTH)
		return false;
	switch (avro_typeof(s))
	{
		case AVRO_NULL:
			return true;
		case AVRO_FIXED:
			return avro_schema_fixed_size(s) == 0;
		case AVRO_RECORD:
			for (size_t i = 0; i < avro_schema_record_size(s); i++)
				if (!zero_size(avro_schema_record_field_get_by_index(s, i), depth + 1))
					return false;
			return true;
		case AVRO_LINK:
			return zero_size(avro_schema_link_target(s), depth + 1);
		default:
			return false;
	}
}

/* NULL if s is safe to decode with (see the header), else why not */
static const char *
schema_refused(avro_schema_t s, avro_schema_t *path, int depth)
{
	const char *why = NULL;

	if (depth >= PGS_AVRO_MAX_DEPTH)
		return psprintf("it nests deeper than %d levels", PGS_AVRO_MAX_DEPTH);
	if (is_avro_link(s))
	{
		avro_schema_t target = avro_schema_link_target(s);

		for (int i = 0; i < depth; i++)
			if (path[i] == target)
				return pstrdup("it is recursive (a type that contains itself)");
		return schema_refused(target, path, depth);
	}
	path[depth] = s;
	switch (avro_typeof(s))
	{
		case AVRO_RECORD:
			for (size_t i = 0; !why && i < avro_schema_record_size(s); i++)
				why = schema_refused(avro_schema_record_field_get_by_index(s, i), path, depth + 1);
			break;
		case AVRO_UNION:
			for (size_t i = 0; !why && i < avro_schema_union_size(s); i++)
				why = schema_refused(avro_schema_union_branch(s, i), path, depth + 1);
			break;
		case AVRO_ARRAY:
			if (zero_size(avro_schema_array_items(s), 0))
				return pstrdup("it has an array of items that take no bytes");
			why = schema_refused(avro_schema_array_items(s), path, depth + 1);
			break;
		case AVRO_MAP:
			why = schema_refused(avro_schema_map_values(s), path, depth + 1);
			break;
		default:
			break;
	}
	return why;
}

static uint64 serials = 0;

/* a schema from its JSON, or NULL and *error */
PgsAvroSchema *
pgs_avro_schema_parse(const char *json, char **error)
{
	avro_schema_t s;
	avro_schema_t path[PGS_AVRO_MAX_DEPTH + 1];
	const char *why;
	PgsAvroSchema *ps;

	avro_init();
	if (strlen(json) > PGS_AVRO_SCHEMA_MAX)
	{
		*error = psprintf("the schema is longer than %d bytes", PGS_AVRO_SCHEMA_MAX);
		return NULL;
	}
	if (avro_schema_from_json_length(json, strlen(json), &s) != 0)
	{
		*error = psprintf("the Avro schema is malformed: %s", avro_strerror());
		return NULL;
	}
	why = schema_refused(s, path, 0);
	if (why == NULL && avro_typeof(s) != AVRO_RECORD)
		why = "it is not a record";
	if (why)
	{
		avro_schema_decref(s);
		*error = psprintf("the Avro schema is not supported: %s", why);
		return NULL;
	}
	ps = malloc(sizeof(PgsAvroSchema));
	if (ps == NULL || (ps->json = strdup(json)) == NULL)
	{
		free(ps);
		avro_schema_decref(s);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	ps->schema = s;
	ps->serial = ++serials;
	return ps;
}

void
pgs_avro_schema_free(PgsAvroSchema *s)
{
	if (s == NULL)
		return;
	avro_schema_decref(s->schema);
	free(s->json);
	free(s);
}

/* option avro_schema: a record schema we can decode with, or an error */
void
pgs_avro_check_schema(const char *json, const char *what)
{
	char	   *error = NULL;
	PgsAvroSchema *s = pgs_avro_schema_parse(json, &error);

	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"avro_schema\" of %s", what),
				 errdetail_internal("%c%s.", pg_toupper((unsigned char) error[0]), error + 1),
				 errhint("Give the JSON of an Avro record schema, as in '{\"type\": \"record\", \"name\": \"e\", \"fields\": [{\"name\": \"id\", \"type\": \"long\"}]}'.")));
	pgs_avro_schema_free(s);
}

/*------------------------------------------------------------------------
 * The schema made from the columns
 *------------------------------------------------------------------------
 */
static const char *
column_type(Form_pg_attribute att)
{
	switch (att->atttypid)
	{
		case BOOLOID:
			return "\"boolean\"";
		case INT2OID:
		case INT4OID:
			return "\"int\"";
		case INT8OID:
			return "\"long\"";
		case FLOAT4OID:
			return "\"float\"";
		case FLOAT8OID:
			return "\"double\"";
		case BYTEAOID:
			return "\"bytes\"";
		case DATEOID:
			return "{\"type\": \"int\", \"logicalType\": \"date\"}";
		case TIMESTAMPOID:
			return "{\"type\": \"long\", \"logicalType\": \"local-timestamp-micros\"}";
		case TIMESTAMPTZOID:
			return "{\"type\": \"long\", \"logicalType\": \"timestamp-micros\"}";
		case NUMERICOID:
			if (att->atttypmod >= (int32) VARHDRSZ)
			{
				int32		tm = att->atttypmod - VARHDRSZ;

				/* numeric(p, s) with 0 <= s <= p; anything else as a string */
				if (((tm & 0x7ff) ^ 1024) - 1024 >= 0)
					return psprintf("{\"type\": \"bytes\", \"logicalType\": \"decimal\", \"precision\": %d, \"scale\": %d}",
									(tm >> 16) & 0xffff, ((tm & 0x7ff) ^ 1024) - 1024);
			}
			return "\"string\"";
		default:
			return "\"string\"";
	}
}

/* an Avro name: letters, digits, _ (not first a digit) */
static char *
avro_name(const char *s)
{
	char	   *n = psprintf("_%s", s);

	for (char *c = n; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			  (*c >= '0' && *c <= '9') || *c == '_'))
			*c = '_';
	return (n[1] >= '0' && n[1] <= '9') || n[1] == '\0' ? n : n + 1;
}

/*
 * The record schema of the data columns: a nullable column is the union
 * ["null", T] with default null. Columns whose names are not Avro names
 * are refused (a field of another name would not match them).
 */
char *
pgs_avro_columns_schema(TupleDesc desc, bool *data, const char *name)
{
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"type\": \"record\", \"name\": \"%s\", \"namespace\": \"pg_stream\", \"fields\": [",
					 avro_name(name));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *attname = NameStr(att->attname);

		if (!data[i] || att->attisdropped)
			continue;
		if (strcmp(avro_name(attname), attname) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("column \"%s\" is not a valid Avro field name", attname),
					 errhint("Rename it to letters, digits and _, or give the table option \"avro_schema\".")));
		appendStringInfo(&buf, "%s{\"name\": \"%s\", \"type\": ", first ? "" : ", ", attname);
		if (att->attnotnull)
			appendStringInfo(&buf, "%s}", column_type(att));
		else
			appendStringInfo(&buf, "[\"null\", %s], \"default\": null}", column_type(att));
		first = false;
	}
	appendStringInfoString(&buf, "]}");
	return buf.data;
}

/*------------------------------------------------------------------------
 * A table's side
 *------------------------------------------------------------------------
 */
/* a writer's schema, resolved to the table's */
typedef struct AvroWriter
{
	uint64		serial;			/* the writer's schema's: the key */
	PgsAvroSchema *writer;		/* only while it is resolved */
	char	   *error;			/* the pair does not resolve: why */
	avro_schema_t reader;		/* what the record is read into */
	avro_value_iface_t *reader_iface;
	avro_value_t reader_value;
	avro_value_iface_t *resolved_iface; /* NULL: read as written */
	avro_value_t resolved_value;
	int			nfields;
	FieldInfo  *fields;			/* of reader, in its order */
	int			nmissing;
	FieldInfo  *missing;		/* the table's fields the writer lacks */
} AvroWriter;

struct PgsAvroTable
{
	MemoryContext cxt;
	TupleDesc	desc;
	bool	   *data;
	FmgrInfo   *infuncs;
	Oid		   *ioparams;
	FmgrInfo   *outfuncs;
	char	   *what;
	char	   *reader_json;	/* avro_schema, or NULL */
	int			nfields;
	FieldInfo  *fields;			/* of the table's schema */
	PgsAvroSchema *schema;		/* the table's: what INSERT writes */
	avro_value_iface_t *out_iface;
	avro_value_t out_value;
	int			nwriters;
	AvroWriter	writers[PGS_AVRO_WRITERS];
};

/* the column a field of this name fills: the same name, else case aside */
static int
field_column(PgsAvroTable *t, const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < t->desc->natts; i++)
		if (t->data[i] && strcmp(NameStr(TupleDescAttr(t->desc, i)->attname), name) == 0)
			return i;
	for (int i = 0; i < t->desc->natts; i++)
		if (t->data[i] && pg_strcasecmp(NameStr(TupleDescAttr(t->desc, i)->attname), name) == 0)
			return i;
	return -1;
}

PgsAvroTable *
pgs_avro_table(TupleDesc desc, bool *data, const char *reader_json, const char *name,
			   const char *what)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "pg_stream avro",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	PgsAvroTable *t = palloc0(sizeof(PgsAvroTable));
	char	   *json;
	char	   *error = NULL;

	t->cxt = cxt;
	t->desc = CreateTupleDescCopyConstr(desc);	/* NOT NULL: not a union with null */
	t->data = palloc(sizeof(bool) * desc->natts);
	memcpy(t->data, data, sizeof(bool) * desc->natts);
	t->what = pstrdup(what);
	t->infuncs = palloc0(sizeof(FmgrInfo) * desc->natts);
	t->outfuncs = palloc0(sizeof(FmgrInfo) * desc->natts);
	t->ioparams = palloc0(sizeof(Oid) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			f;
		bool		varlena;

		if (att->attisdropped)
		{
			t->data[i] = false;
			continue;
		}
		getTypeInputInfo(att->atttypid, &f, &t->ioparams[i]);
		fmgr_info_cxt(f, &t->infuncs[i], cxt);
		getTypeOutputInfo(att->atttypid, &f, &varlena);
		fmgr_info_cxt(f, &t->outfuncs[i], cxt);
	}
	t->reader_json = reader_json ? pstrdup(reader_json) : NULL;
	json = reader_json ? t->reader_json : pgs_avro_columns_schema(t->desc, t->data, name);
	t->fields = schema_fields(json, &t->nfields, NULL, NULL);
	for (int i = 0; i < t->nfields; i++)
		t->fields[i].col = field_column(t, t->fields[i].name);
	MemoryContextSwitchTo(old);

	t->schema = pgs_avro_schema_parse(json, &error);
	if (t->schema == NULL)
	{
		MemoryContextDelete(cxt);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("%s: %s", what, error)));
	}
	t->out_iface = avro_generic_class_from_schema(t->schema->schema);
	if (t->out_iface == NULL || avro_generic_value_new(t->out_iface, &t->out_value) != 0)
		elog(ERROR, "libavro could not make a value: %s", avro_strerror());
	return t;
}

static void
writer_free(AvroWriter *w)
{
	if (w->resolved_iface)
	{
		avro_value_decref(&w->resolved_value);
		avro_value_iface_decref(w->resolved_iface);
	}
	if (w->reader_iface)
	{
		avro_value_decref(&w->reader_value);
		avro_value_iface_decref(w->reader_iface);
	}
	if (w->reader)
		avro_schema_decref(w->reader);
	memset(w, 0, sizeof(AvroWriter));
}

void
pgs_avro_table_free(PgsAvroTable *t)
{
	for (int i = 0; i < t->nwriters; i++)
		writer_free(&t->writers[i]);
	avro_value_decref(&t->out_value);
	avro_value_iface_decref(t->out_iface);
	pgs_avro_schema_free(t->schema);
	MemoryContextDelete(t->cxt);
}

const char *
pgs_avro_table_schema(PgsAvroTable *t)
{
	return t->schema->json;
}

PgsAvroSchema *
pgs_avro_table_own(PgsAvroTable *t)
{
	return t->schema;
}

/*
 * The reader for records of writer w: the table's avro_schema without the
 * fields w lacks (those take their defaults), resolved by libavro; or,
 * without avro_schema, w's own schema.
 */
static void
writer_resolve(PgsAvroTable *t, AvroWriter *w)
{
	int			nw;
	char	   *wname = NULL;
	char	   *wns = NULL;
	FieldInfo  *wf = schema_fields(w->writer->json, &nw, &wname, &wns);
	MemoryContext old = MemoryContextSwitchTo(t->cxt);

	if (t->reader_json == NULL)
	{
		w->reader = avro_schema_incref(w->writer->schema);
		w->nfields = nw;
		w->fields = palloc0(sizeof(FieldInfo) * Max(nw, 1));
		memcpy(w->fields, wf, sizeof(FieldInfo) * nw);
		for (int i = 0; i < nw; i++)
			w->fields[i].col = field_column(t, wf[i].name);
	}
	else
	{
		StringInfoData buf;
		char	   *rname = NULL;
		char	   *rns = NULL;
		int			nr;
		FieldInfo  *rf = schema_fields(t->reader_json, &nr, &rname, &rns);

		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"type\": \"record\", \"name\": ");
		escape_json(&buf, rname ? rname : "r");
		if (rns)
		{
			appendStringInfoString(&buf, ", \"namespace\": ");
			escape_json(&buf, rns);
		}
		appendStringInfoString(&buf, ", \"fields\": [");
		w->fields = palloc0(sizeof(FieldInfo) * Max(nr, 1));
		w->missing = palloc0(sizeof(FieldInfo) * Max(nr, 1));
		for (int i = 0; i < nr; i++)
		{
			bool		found = false;

			for (int j = 0; j < nw && !found; j++)
				found = wf[j].name && rf[i].name && strcmp(wf[j].name, rf[i].name) == 0;
			rf[i].col = t->fields[i].col;
			if (!found)
			{
				if (rf[i].default_json == NULL && w->error == NULL)
					w->error = psprintf("the writer's schema has no field \"%s\", and the table's schema gives it no default",
										rf[i].name);
				w->missing[w->nmissing++] = rf[i];
				continue;
			}
			appendStringInfo(&buf, "%s{\"name\": ", w->nfields ? ", " : "");
			escape_json(&buf, rf[i].name);
			appendStringInfo(&buf, ", \"type\": %s}", rf[i].type_json);
			w->fields[w->nfields++] = rf[i];
		}
		appendStringInfoString(&buf, "]}");
		if (w->error == NULL)
		{
			avro_schema_t r;

			if (avro_schema_from_json_length(buf.data, buf.len, &r) != 0)
				w->error = psprintf("the table's schema cannot be narrowed to the writer's fields: %s",
									avro_strerror());
			else
			{
				w->reader = r;
				w->resolved_iface = avro_resolved_writer_new(w->writer->schema, r);
				if (w->resolved_iface == NULL)
					w->error = psprintf("the writer's schema does not resolve to the table's: %s",
										avro_strerror());
			}
		}
	}
	MemoryContextSwitchTo(old);
	if (w->error)
		return;
	w->reader_iface = avro_generic_class_from_schema(w->reader);
	if (w->reader_iface == NULL || avro_generic_value_new(w->reader_iface, &w->reader_value) != 0)
		elog(ERROR, "libavro could not make a value: %s", avro_strerror());
	if (w->resolved_iface)
	{
		if (avro_resolved_writer_new_value(w->resolved_iface, &w->resolved_value) != 0)
			elog(ERROR, "libavro could not make a value: %s", avro_strerror());
		avro_resolved_writer_set_dest(&w->resolved_value, &w->reader_value);
	}
}

static AvroWriter *
table_writer(PgsAvroTable *t, PgsAvroSchema *writer)
{
	AvroWriter *w;

	for (int i = 0; i < t->nwriters; i++)
		if (t->writers[i].serial == writer->serial)
			return &t->writers[i];
	if (t->nwriters == PGS_AVRO_WRITERS)
	{
		/* the oldest goes */
		writer_free(&t->writers[0]);
		memmove(&t->writers[0], &t->writers[1], sizeof(AvroWriter) * (PGS_AVRO_WRITERS - 1));
		t->nwriters--;
	}
	w = &t->writers[t->nwriters];
	memset(w, 0, sizeof(AvroWriter));
	w->writer = writer;
	w->serial = writer->serial;
	PG_TRY();
	{
		writer_resolve(t, w);
	}
	PG_CATCH();
	{
		writer_free(w);
		PG_RE_THROW();
	}
	PG_END_TRY();
	t->nwriters++;
	return w;
}

/*------------------------------------------------------------------------
 * Decoding: Avro values into columns
 *------------------------------------------------------------------------
 */
static void
bad_value(const char *col, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid Avro value for column \"%s\": %s", col, what)));
}

/* an Avro string: exactly its bytes, no NUL, valid in the database's encoding */
static char *
value_string(avro_value_t *v, const char *col)
{
	const char *s;
	size_t		size;

	if (avro_value_get_string(v, &s, &size) != 0 || s == NULL || size == 0)
		bad_value(col, avro_strerror());
	if (strlen(s) != size - 1)
		bad_value(col, "the string contains a NUL byte");
	(void) pg_verifymbstr(s, size - 1, false);
	return pstrdup(s);
}

/* two's complement big-endian unscaled bytes, and a scale: the number's text */
static char *
decimal_text(const unsigned char *b, size_t len, int scale, const char *col)
{
	uint128		x = 0;			/* unsigned: |-2^127| fits */
	bool		neg;
	char		digits[64];
	int			nd = 0;
	StringInfoData buf;

	if (len == 0)
		return pstrdup("0");
	if (len > 16)
		bad_value(col, "a decimal of more than 16 bytes (38 digits)");
	neg = (b[0] & 0x80) != 0;
	for (size_t i = 0; i < len; i++)
		x = (x << 8) | (uint128) (neg ? (unsigned char) ~b[i] : b[i]);
	/* |x| = ~x + 1 for a negative number: digits of ~x, plus one */
	if (neg)
		x = x + 1;
	do
	{
		digits[nd++] = '0' + (int) (x % 10);
		x /= 10;
	} while (x > 0);
	while (nd <= scale)
		digits[nd++] = '0';
	initStringInfo(&buf);
	if (neg)
		appendStringInfoChar(&buf, '-');
	for (int i = nd - 1; i >= 0; i--)
	{
		appendStringInfoChar(&buf, digits[i]);
		if (i == scale && scale > 0)
			appendStringInfoChar(&buf, '.');
	}
	return buf.data;
}

static void
bytes_hex(StringInfo buf, const unsigned char *b, size_t len)
{
	static const char hex[] = "0123456789abcdef";

	appendStringInfoString(buf, "\\x");
	for (size_t i = 0; i < len; i++)
	{
		appendStringInfoChar(buf, hex[b[i] >> 4]);
		appendStringInfoChar(buf, hex[b[i] & 15]);
	}
}

static void
json_double(StringInfo buf, double d)
{
	if (isnan(d) || isinf(d))
		escape_json(buf, isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity");
	else
		appendStringInfoString(buf, float8out_internal(d));
}

/* a nested value as JSON (unions as their branch, bytes as \x hex) */
static void
value_json(avro_value_t *v, StringInfo buf, const char *col, int depth)
{
	avro_value_t child;
	int32_t		i32;
	int64_t		i64;
	float		f;
	double		d;
	int			b;
	const void *bytes;
	size_t		size;
	const char *name;

	if (depth > PGS_AVRO_MAX_DEPTH)
		bad_value(col, "nested too deep");
	switch (avro_value_get_type(v))
	{
		case AVRO_NULL:
			appendStringInfoString(buf, "null");
			break;
		case AVRO_BOOLEAN:
			avro_value_get_boolean(v, &b);
			appendStringInfoString(buf, b ? "true" : "false");
			break;
		case AVRO_INT32:
			avro_value_get_int(v, &i32);
			appendStringInfo(buf, "%d", i32);
			break;
		case AVRO_INT64:
			avro_value_get_long(v, &i64);
			appendStringInfo(buf, INT64_FORMAT, (int64) i64);
			break;
		case AVRO_FLOAT:
			avro_value_get_float(v, &f);
			json_double(buf, f);
			break;
		case AVRO_DOUBLE:
			avro_value_get_double(v, &d);
			json_double(buf, d);
			break;
		case AVRO_STRING:
			escape_json(buf, value_string(v, col));
			break;
		case AVRO_BYTES:
		case AVRO_FIXED:
			{
				StringInfoData h;

				if (avro_value_get_type(v) == AVRO_BYTES)
					avro_value_get_bytes(v, &bytes, &size);
				else
					avro_value_get_fixed(v, &bytes, &size);
				initStringInfo(&h);
				bytes_hex(&h, bytes, size);
				escape_json(buf, h.data);
				break;
			}
		case AVRO_ENUM:
			avro_value_get_enum(v, &b);
			name = avro_schema_enum_get(avro_value_get_schema(v), b);
			escape_json(buf, name ? name : "");
			break;
		case AVRO_UNION:
			if (avro_value_get_current_branch(v, &child) != 0)
				bad_value(col, avro_strerror());
			value_json(&child, buf, col, depth + 1);
			break;
		case AVRO_RECORD:
		case AVRO_MAP:
			avro_value_get_size(v, &size);
			appendStringInfoChar(buf, '{');
			for (size_t i = 0; i < size; i++)
			{
				avro_value_get_by_index(v, i, &child, &name);
				if (i > 0)
					appendStringInfoString(buf, ", ");
				escape_json(buf, name);
				appendStringInfoString(buf, ": ");
				value_json(&child, buf, col, depth + 1);
			}
			appendStringInfoChar(buf, '}');
			break;
		case AVRO_ARRAY:
			avro_value_get_size(v, &size);
			appendStringInfoChar(buf, '[');
			for (size_t i = 0; i < size; i++)
			{
				avro_value_get_by_index(v, i, &child, NULL);
				if (i > 0)
					appendStringInfoString(buf, ", ");
				value_json(&child, buf, col, depth + 1);
			}
			appendStringInfoChar(buf, ']');
			break;
		default:
			bad_value(col, "an Avro type that is not supported");
	}
}

static Datum
column_input(PgsAvroTable *t, int col, char *s)
{
	return InputFunctionCall(&t->infuncs[col], s, t->ioparams[col],
							 TupleDescAttr(t->desc, col)->atttypmod);
}

static Datum
timestamp_datum(PgsAvroTable *t, int col, int64 v, bool millis)
{
	Form_pg_attribute att = TupleDescAttr(t->desc, col);
	int64		us;
	TimestampTz ts;

	if (millis ? pg_mul_s64_overflow(v, 1000, &us) : (us = v, false))
		bad_value(NameStr(att->attname), "the timestamp is out of range");
	if (pg_sub_s64_overflow(us, UNIX_TO_PG_DAYS * USECS_PER_DAY, &ts) || !IS_VALID_TIMESTAMP(ts))
		bad_value(NameStr(att->attname), "the timestamp is out of range");
	if (att->atttypid == TIMESTAMPTZOID || att->atttypid == TIMESTAMPOID)
		return TimestampTzGetDatum(ts);
	return column_input(t, col, (char *) timestamptz_to_str(ts));
}

/* an int or long into an integer column, within its range */
static Datum
integer_datum(PgsAvroTable *t, int col, int64 v)
{
	Form_pg_attribute att = TupleDescAttr(t->desc, col);

	switch (att->atttypid)
	{
		case INT8OID:
			return Int64GetDatum(v);
		case INT4OID:
			if (v < PG_INT32_MIN || v > PG_INT32_MAX)
				bad_value(NameStr(att->attname), "the integer is out of range for type integer");
			return Int32GetDatum((int32) v);
		case INT2OID:
			if (v < PG_INT16_MIN || v > PG_INT16_MAX)
				bad_value(NameStr(att->attname), "the integer is out of range for type smallint");
			return Int16GetDatum((int16) v);
		default:
			return column_input(t, col, psprintf(INT64_FORMAT, v));
	}
}

/* the value of a top-level field f into its column */
static Datum
value_datum(PgsAvroTable *t, const FieldInfo *f, avro_value_t *v, bool *isnull)
{
	int			col = f->col;
	Form_pg_attribute att = TupleDescAttr(t->desc, col);
	const char *cname = NameStr(att->attname);
	avro_value_t branch;
	int32_t		i32;
	int64_t		i64;
	float		fl;
	double		d;
	int			b;
	const void *bytes;
	size_t		size;

	*isnull = false;
	while (avro_value_get_type(v) == AVRO_UNION)
	{
		if (avro_value_get_current_branch(v, &branch) != 0)
			bad_value(cname, avro_strerror());
		*v = branch;
	}
	switch (avro_value_get_type(v))
	{
		case AVRO_NULL:
			*isnull = true;
			return (Datum) 0;
		case AVRO_BOOLEAN:
			avro_value_get_boolean(v, &b);
			if (att->atttypid == BOOLOID)
				return BoolGetDatum(b != 0);
			return column_input(t, col, b ? "true" : "false");
		case AVRO_INT32:
			avro_value_get_int(v, &i32);
			if (f->logical == LT_DATE)
			{
				int64		days = (int64) i32 - UNIX_TO_PG_DAYS;

				if (!IS_VALID_DATE(days))
					bad_value(cname, "the date is out of range");
				if (att->atttypid == DATEOID)
					return DateADTGetDatum((DateADT) days);
				return column_input(t, col,
									DatumGetCString(DirectFunctionCall1(date_out, DateADTGetDatum((DateADT) days))));
			}
			return integer_datum(t, col, i32);
		case AVRO_INT64:
			avro_value_get_long(v, &i64);
			if (f->logical == LT_TS_MILLIS || f->logical == LT_TS_MICROS)
				return timestamp_datum(t, col, i64, f->logical == LT_TS_MILLIS);
			return integer_datum(t, col, i64);
		case AVRO_FLOAT:
		case AVRO_DOUBLE:
			if (avro_value_get_type(v) == AVRO_FLOAT)
			{
				avro_value_get_float(v, &fl);
				d = fl;
			}
			else
				avro_value_get_double(v, &d);
			if (att->atttypid == FLOAT8OID)
				return Float8GetDatum(d);
			if (att->atttypid == FLOAT4OID)
				return Float4GetDatum((float4) d);
			return column_input(t, col, float8out_internal(d));
		case AVRO_STRING:
			if (att->atttypid == TEXTOID)
			{
				const char *str;
				size_t		size;

				/* the common case, without textin's copy */
				if (avro_value_get_string(v, &str, &size) != 0 || str == NULL || size == 0)
					bad_value(cname, avro_strerror());
				if (strlen(str) != size - 1)
					bad_value(cname, "the string contains a NUL byte");
				(void) pg_verifymbstr(str, size - 1, false);
				return PointerGetDatum(cstring_to_text_with_len(str, size - 1));
			}
			return column_input(t, col, value_string(v, cname));
		case AVRO_BYTES:
		case AVRO_FIXED:
			if (avro_value_get_type(v) == AVRO_BYTES)
				avro_value_get_bytes(v, &bytes, &size);
			else
				avro_value_get_fixed(v, &bytes, &size);
			if (f->logical == LT_DECIMAL)
				return column_input(t, col, decimal_text(bytes, size, f->scale, cname));
			if (att->atttypid == BYTEAOID)
			{
				bytea	   *r = palloc(VARHDRSZ + size);

				SET_VARSIZE(r, VARHDRSZ + size);
				memcpy(VARDATA(r), bytes, size);
				return PointerGetDatum(r);
			}
			{
				StringInfoData h;

				initStringInfo(&h);
				bytes_hex(&h, bytes, size);
				return column_input(t, col, h.data);
			}
		case AVRO_ENUM:
			{
				const char *name;

				avro_value_get_enum(v, &b);
				name = avro_schema_enum_get(avro_value_get_schema(v), b);
				if (name == NULL)
					bad_value(cname, "the enum symbol is out of range");
				return column_input(t, col, pstrdup(name));
			}
		default:
			{
				StringInfoData buf;

				initStringInfo(&buf);
				value_json(v, &buf, cname, 0);
				return column_input(t, col, buf.data);
			}
	}
}

/* a field's default (JSON, as Avro's schemas write it) into its column */
static Datum
default_datum(PgsAvroTable *t, const FieldInfo *f, bool *isnull)
{
	Jsonb	   *jb = pgs_jsonb_from_cstring(f->default_json);
	JsonbValue	v;

	*isnull = false;
	if (JB_ROOT_IS_SCALAR(jb))
	{
		v = *getIthJsonbValueFromContainer(&jb->root, 0);
		switch (v.type)
		{
			case jbvNull:
				*isnull = true;
				return (Datum) 0;
			case jbvString:
				return column_input(t, f->col, pnstrdup(v.val.string.val, v.val.string.len));
			case jbvBool:
				return column_input(t, f->col, v.val.boolean ? "true" : "false");
			case jbvNumeric:
				if (f->logical == LT_DATE || f->logical == LT_TS_MILLIS || f->logical == LT_TS_MICROS)
				{
					int64		n = DatumGetInt64(DirectFunctionCall1(numeric_int8,
																	  NumericGetDatum(v.val.numeric)));

					if (f->logical == LT_DATE)
						return column_input(t, f->col,
											DatumGetCString(DirectFunctionCall1(date_out,
																				DateADTGetDatum((DateADT) (n - UNIX_TO_PG_DAYS)))));
					return timestamp_datum(t, f->col, n, f->logical == LT_TS_MILLIS);
				}
				return column_input(t, f->col,
									DatumGetCString(DirectFunctionCall1(numeric_out,
																		NumericGetDatum(v.val.numeric))));
			default:
				break;
		}
	}
	return column_input(t, f->col, f->default_json);
}

static avro_reader_t memory_reader = NULL;

/*
 * One record (exactly len bytes, written with schema writer) into the data
 * columns of values/nulls (the caller has set them NULL). A record that
 * does not decode is an ERROR (a bad record).
 */
void
pgs_avro_decode(PgsAvroTable *t, PgsAvroSchema *writer, const char *buf, size_t len,
				Datum *values, bool *nulls)
{
	AvroWriter *w = table_writer(t, writer);
	avro_reader_t reader;
	int			rc;
	avro_value_t *target;

	if (w->error)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("%s", w->error)));
	target = w->resolved_iface ? &w->resolved_value : &w->reader_value;
	/* libavro's read sets every field and empties arrays and maps first: no
	 * reset, which would free and make again every union's branch */
	if (w->resolved_iface)
		avro_value_reset(&w->reader_value);
	/* one memory reader, pointed at each record */
	if (memory_reader == NULL)
	{
		memory_reader = avro_reader_memory(buf, len);
		if (memory_reader == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	else
		avro_reader_memory_set_source(memory_reader, buf, len);
	reader = memory_reader;
	/* what the record's lengths may make libavro allocate */
	budget_left = 16 * len + 65536;
	budget_on = true;
	avro_set_error("%s", "");	/* libavro prefixes what is there */
	rc = avro_value_read(reader, target);
	budget_on = false;
	if (rc != 0)
	{
		char	   *msg = pstrdup(avro_strerror());

		/* a half-read value is not read into again */
		avro_value_reset(&w->reader_value);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("the Avro record is malformed: %s", rc == ENOMEM ? "a length in it is larger than the record" : msg)));
	}
	for (int i = 0; i < w->nfields; i++)
	{
		avro_value_t fv;

		if (w->fields[i].col < 0)
			continue;
		if (avro_value_get_by_index(&w->reader_value, i, &fv, NULL) != 0)
			elog(ERROR, "libavro has no field %d: %s", i, avro_strerror());
		values[w->fields[i].col] = value_datum(t, &w->fields[i], &fv, &nulls[w->fields[i].col]);
	}
	for (int i = 0; i < w->nmissing; i++)
		if (w->missing[i].col >= 0)
			values[w->missing[i].col] = default_datum(t, &w->missing[i], &nulls[w->missing[i].col]);
}

/*------------------------------------------------------------------------
 * Encoding: a row into an Avro record of the table's schema
 *------------------------------------------------------------------------
 */
static void
encode_error(const char *field, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("cannot encode field \"%s\" in Avro: %s", field, what)));
}

static void
check_avro(int rc, const char *field)
{
	if (rc != 0)
		encode_error(field, avro_strerror());
}

/* a decimal's unscaled value as big-endian two's complement, fewest bytes */
static void
numeric_decimal(Datum num, int scale, const char *field, unsigned char *out, size_t *len)
{
	Datum		r = DirectFunctionCall2(numeric_round, num, Int32GetDatum(scale));
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, r));
	bool		neg = (*s == '-');
	int128		x = 0;
	int			digits = 0;
	unsigned char be[16];
	int			start;

	if (strcmp(s, "NaN") == 0 || strstr(s, "Infinity"))
		encode_error(field, "a decimal cannot be NaN or infinite");
	for (char *c = s + neg; *c; c++)
	{
		if (*c == '.')
			continue;
		if (++digits > 38)
			encode_error(field, "a decimal of more than 38 digits");
		x = x * 10 + (*c - '0');
	}
	if (neg)
		x = -x;
	for (int i = 15; i >= 0; i--)
	{
		be[i] = (unsigned char) (x & 0xff);
		x >>= 8;
	}
	/* drop leading bytes that only repeat the sign */
	for (start = 0; start < 15; start++)
		if (!((be[start] == 0 && !(be[start + 1] & 0x80)) ||
			  (be[start] == 0xff && (be[start + 1] & 0x80))))
			break;
	*len = 16 - start;
	memcpy(out, be + start, *len);
}

static void json_to_value(avro_value_t *v, JsonbValue *jv, const char *field, int depth);

/* a JSON scalar as text (numbers, strings, booleans) */
static char *
json_scalar_text(JsonbValue *jv)
{
	if (jv->type == jbvString)
		return pnstrdup(jv->val.string.val, jv->val.string.len);
	if (jv->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(jv->val.numeric)));
	if (jv->type == jbvBool)
		return pstrdup(jv->val.boolean ? "true" : "false");
	return NULL;
}

static void
text_to_primitive(avro_value_t *v, const char *s, const char *field)
{
	char	   *end;

	switch (avro_value_get_type(v))
	{
		case AVRO_BOOLEAN:
			{
				bool		b;

				if (!parse_bool(s, &b))
					encode_error(field, "not a boolean");
				check_avro(avro_value_set_boolean(v, b), field);
				break;
			}
		case AVRO_INT32:
			check_avro(avro_value_set_int(v, pg_strtoint32(s)), field);
			break;
		case AVRO_INT64:
			check_avro(avro_value_set_long(v, pg_strtoint64(s)), field);
			break;
		case AVRO_FLOAT:
		case AVRO_DOUBLE:
			{
				double		d = float8in_internal((char *) s, &end, "double precision", s);

				if (avro_value_get_type(v) == AVRO_FLOAT)
					check_avro(avro_value_set_float(v, (float) d), field);
				else
					check_avro(avro_value_set_double(v, d), field);
				break;
			}
		case AVRO_STRING:
			check_avro(avro_value_set_string(v, s), field);
			break;
		case AVRO_BYTES:
			check_avro(avro_value_set_bytes(v, (void *) s, strlen(s)), field);
			break;
		case AVRO_ENUM:
			{
				int			i = avro_schema_enum_get_by_name(avro_value_get_schema(v), s);

				if (i < 0)
					encode_error(field, psprintf("\"%s\" is not a symbol of the enum", s));
				check_avro(avro_value_set_enum(v, i), field);
				break;
			}
		default:
			encode_error(field, "a value of this type cannot be given as text");
	}
}

/* the union's branch for a null (or, not null, its first other branch) */
static void
union_branch(avro_value_t *v, bool null, avro_value_t *branch, const char *field)
{
	avro_schema_t s = avro_value_get_schema(v);

	for (size_t i = 0; i < avro_schema_union_size(s); i++)
		if ((avro_typeof(avro_schema_union_branch(s, i)) == AVRO_NULL) == null)
		{
			check_avro(avro_value_set_branch(v, i, branch), field);
			return;
		}
	encode_error(field, null ? "the value is NULL and the schema's type is not nullable" :
				 "the union has no branch but null");
}

static void
json_to_value(avro_value_t *v, JsonbValue *jv, const char *field, int depth)
{
	avro_value_t child;

	if (depth > PGS_AVRO_MAX_DEPTH)
		encode_error(field, "nested too deep");
	if (avro_value_get_type(v) == AVRO_UNION)
	{
		union_branch(v, jv->type == jbvNull, &child, field);
		json_to_value(&child, jv, field, depth + 1);
		return;
	}
	if (jv->type == jbvNull)
	{
		if (avro_value_get_type(v) != AVRO_NULL)
			encode_error(field, "a JSON null where the schema has no null");
		check_avro(avro_value_set_null(v), field);
		return;
	}
	switch (avro_value_get_type(v))
	{
		case AVRO_RECORD:
			{
				size_t		n;

				if (jv->type != jbvBinary || !JsonContainerIsObject(jv->val.binary.data))
					encode_error(field, "a record needs a JSON object");
				avro_value_get_size(v, &n);
				for (size_t i = 0; i < n; i++)
				{
					const char *name;
					JsonbValue	fv;

					avro_value_get_by_index(v, i, &child, &name);
					if (!jsonb_key(jv->val.binary.data, name, &fv))
						fv.type = jbvNull;
					json_to_value(&child, &fv, field, depth + 1);
				}
				break;
			}
		case AVRO_ARRAY:
		case AVRO_MAP:
			{
				bool		array = avro_value_get_type(v) == AVRO_ARRAY;
				JsonbIterator *it;
				JsonbValue	e;
				JsonbIteratorToken tok;
				char	   *key = NULL;

				if (jv->type != jbvBinary ||
					(array ? !JsonContainerIsArray(jv->val.binary.data) :
					 !JsonContainerIsObject(jv->val.binary.data)))
					encode_error(field, array ? "an array needs a JSON array" : "a map needs a JSON object");
				it = JsonbIteratorInit(jv->val.binary.data);
				while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
				{
					if (tok == WJB_KEY)
						key = pnstrdup(e.val.string.val, e.val.string.len);
					else if (tok == WJB_ELEM || tok == WJB_VALUE)
					{
						if (array)
							check_avro(avro_value_append(v, &child, NULL), field);
						else
							check_avro(avro_value_add(v, key, &child, NULL, NULL), field);
						json_to_value(&child, &e, field, depth + 1);
					}
				}
				break;
			}
		case AVRO_NULL:
			encode_error(field, "a value where the schema has null");
			break;
		case AVRO_FIXED:
			encode_error(field, "a fixed inside a JSON value is not supported");
			break;
		default:
			{
				char	   *s = json_scalar_text(jv);

				if (s == NULL)
					encode_error(field, "a JSON object or array where the schema has a primitive type");
				text_to_primitive(v, s, field);
			}
	}
}

/* a whole jsonb document (its root, scalar or not) into v */
static void
jsonb_to_value(avro_value_t *v, Jsonb *jb, const char *field)
{
	JsonbValue	jv;

	if (JB_ROOT_IS_SCALAR(jb))
		jv = *getIthJsonbValueFromContainer(&jb->root, 0);
	else
	{
		jv.type = jbvBinary;
		jv.val.binary.data = &jb->root;
		jv.val.binary.len = VARSIZE(jb) - VARHDRSZ;
	}
	json_to_value(v, &jv, field, 0);
}

/* column col of slot into top-level field v (of FieldInfo f) */
static void
datum_to_value(PgsAvroTable *t, const FieldInfo *f, avro_value_t *v, TupleTableSlot *slot)
{
	int			col = f->col;
	bool		isnull = col < 0 || slot->tts_isnull[col];
	Datum		d = col < 0 ? (Datum) 0 : slot->tts_values[col];
	Oid			typid = col < 0 ? InvalidOid : TupleDescAttr(t->desc, col)->atttypid;
	avro_value_t branch;
	char	   *s;

	if (col < 0 && f->default_json)
	{
		/* a field no column gives: its default */
		jsonb_to_value(v, pgs_jsonb_from_cstring(f->default_json), f->name);
		return;
	}
	if (avro_value_get_type(v) == AVRO_UNION)
	{
		union_branch(v, isnull, &branch, f->name);
		*v = branch;
	}
	if (isnull)
	{
		if (avro_value_get_type(v) != AVRO_NULL)
			encode_error(f->name, col < 0 ? "no column gives it, it has no default and it is not nullable" :
						 "the value is NULL and the schema's type is not nullable");
		check_avro(avro_value_set_null(v), f->name);
		return;
	}
	switch (avro_value_get_type(v))
	{
		case AVRO_INT32:
			if (f->logical == LT_DATE && typid == DATEOID)
			{
				check_avro(avro_value_set_int(v, DatumGetDateADT(d) + UNIX_TO_PG_DAYS), f->name);
				return;
			}
			if (typid == INT4OID || typid == INT2OID)
			{
				check_avro(avro_value_set_int(v, typid == INT4OID ? DatumGetInt32(d) : DatumGetInt16(d)), f->name);
				return;
			}
			break;
		case AVRO_INT64:
			if ((f->logical == LT_TS_MICROS || f->logical == LT_TS_MILLIS) &&
				(typid == TIMESTAMPTZOID || typid == TIMESTAMPOID))
			{
				int64		us = DatumGetTimestampTz(d);

				if (TIMESTAMP_NOT_FINITE(us))
					encode_error(f->name, "an infinite timestamp");
				us += UNIX_TO_PG_DAYS * USECS_PER_DAY;
				if (f->logical == LT_TS_MILLIS)
					us = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
				check_avro(avro_value_set_long(v, us), f->name);
				return;
			}
			if (typid == INT8OID)
			{
				check_avro(avro_value_set_long(v, DatumGetInt64(d)), f->name);
				return;
			}
			break;
		case AVRO_BYTES:
		case AVRO_FIXED:
			if (f->logical == LT_DECIMAL)
			{
				unsigned char b[16];
				size_t		len;
				Datum		num = typid == NUMERICOID ? d :
					DirectFunctionCall3(numeric_in,
										CStringGetDatum(OutputFunctionCall(&t->outfuncs[col], d)),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

				numeric_decimal(num, f->scale, f->name, b, &len);
				if (avro_value_get_type(v) == AVRO_BYTES)
					check_avro(avro_value_set_bytes(v, b, len), f->name);
				else
				{
					size_t		size = avro_schema_fixed_size(avro_value_get_schema(v));
					unsigned char fx[16];

					if (size < len || size > 16)
						encode_error(f->name, "the decimal does not fit the fixed size");
					memset(fx, (b[0] & 0x80) ? 0xff : 0, size);
					memcpy(fx + size - len, b, len);
					check_avro(avro_value_set_fixed(v, fx, size), f->name);
				}
				return;
			}
			if (typid == BYTEAOID)
			{
				bytea	   *b = DatumGetByteaPP(d);
				size_t		len = VARSIZE_ANY_EXHDR(b);

				if (avro_value_get_type(v) == AVRO_BYTES)
					check_avro(avro_value_set_bytes(v, VARDATA_ANY(b), len), f->name);
				else if (len != avro_schema_fixed_size(avro_value_get_schema(v)))
					encode_error(f->name, "the bytes are not of the fixed size");
				else
					check_avro(avro_value_set_fixed(v, VARDATA_ANY(b), len), f->name);
				return;
			}
			break;
		case AVRO_RECORD:
		case AVRO_ARRAY:
		case AVRO_MAP:
			{
				jsonb_to_value(v, typid == JSONBOID ? DatumGetJsonbP(d) :
							   pgs_jsonb_from_cstring(OutputFunctionCall(&t->outfuncs[col], d)),
							   f->name);
				return;
			}
		default:
			break;
	}
	s = OutputFunctionCall(&t->outfuncs[col], d);
	if (typid == BOOLOID)
		s = strcmp(s, "t") == 0 ? "true" : "false";
	text_to_primitive(v, s, f->name);
}

/* the row in slot (all attributes deformed) as an Avro record into out */
void
pgs_avro_encode(PgsAvroTable *t, TupleTableSlot *slot, StringInfo out)
{
	avro_writer_t writer;
	size_t		size;

	avro_value_reset(&t->out_value);
	for (int i = 0; i < t->nfields; i++)
	{
		avro_value_t fv;

		if (avro_value_get_by_index(&t->out_value, i, &fv, NULL) != 0)
			elog(ERROR, "libavro has no field %d: %s", i, avro_strerror());
		datum_to_value(t, &t->fields[i], &fv, slot);
	}
	if (avro_value_sizeof(&t->out_value, &size) != 0)
		encode_error("(record)", avro_strerror());
	enlargeStringInfo(out, size);
	writer = avro_writer_memory(out->data + out->len, size);
	if (avro_value_write(writer, &t->out_value) != 0)
	{
		avro_writer_free(writer);
		encode_error("(record)", avro_strerror());
	}
	avro_writer_free(writer);
	out->len += size;
	out->data[out->len] = '\0';
}
