/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  A Confluent-style schema registry, over HTTP (libcurl): the writers'
 *	  schemas of format 'avro' messages, and the table's, registered.
 *
 * Wire format. A message is the magic byte 0, the schema's id (4 bytes,
 * big-endian), then the Avro binary record. The id is looked up with GET
 * {registry}/schemas/ids/{id} (answer {"schema": "<the schema's JSON>"})
 * once per process: the cache keeps up to REGISTRY_CACHE ids (the oldest
 * goes first), and also the ids the registry said it does not know (a
 * 404), so that a topic full of them does not ask again for each.
 *
 * Failures. A registry that cannot be reached, or answers anything but
 * the schema or a 404, is a source outage: the error has the code of an
 * unreachable source (ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION), so a
 * view's worker waits and tries again with back-off, and the batch reads
 * the same messages when the registry is back. The decoder marks a
 * message bad only for errors of the data exception class (formats/
 * decode.c), so an outage met while decoding fails the batch too; but the
 * schemas of a batch are fetched before its messages are decoded
 * (kafka_avro_prefetch), so that it fails at once, not after decoding the
 * whole batch and trying again message by message. A message without the
 * magic byte, too short, or with an id the registry does not know is a
 * bad message (stream.errors).
 *
 * Writing. INSERT and sinks register the table's schema under the
 * subject "<topic>-value" (POST {registry}/subjects/{subject}/versions,
 * body {"schema": "..."}, answer {"id": N}) once per process and schema,
 * and put that id before each record.
 *
 * Who may point a server at a registry. The option schema_registry is
 * not on the allowlist of server options (README, Security): only a
 * superuser sets it, since an HTTP client that a role aims anywhere is a
 * way into the server's network (the registry's answers are not shown,
 * but timings and errors are). It is checked again at use: a server not
 * owned by a superuser is refused, like the other properties off the
 * allowlist. Only http and https, no redirects, bounded answers and
 * timeouts.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "formats/formats.h"
#include "formats/avro.h"
#include "sources/sources.h"
#include "sources/kafka/kafka_int.h"

#include <curl/curl.h>

#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#define REGISTRY_CACHE 1000			/* schema ids kept per process */
#define REGISTRY_SUBJECTS 64		/* registered schemas kept per process */
#define REGISTRY_MAX_ANSWER (4 * 1024 * 1024)
#define REGISTRY_URL_MAX 1024
#define REGISTRY_CONNECT_MS 5000
#define REGISTRY_TIMEOUT_MS 10000

/*------------------------------------------------------------------------
 * The option
 *------------------------------------------------------------------------
 */
/*
 * 'http://host[:port][/path]': no credentials, query or fragment, nothing
 * but printable ASCII. A trailing '/' is dropped where it is used.
 */
void
kafka_check_registry_url(const char *url)
{
	size_t		len = strlen(url);
	const char *host;
	const char *detail = NULL;

	if (pg_strncasecmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (pg_strncasecmp(url, "https://", 8) == 0)
		host = url + 8;
	else
		host = NULL;
	if (host == NULL)
		detail = "Only http:// and https:// URLs are taken.";
	else if (len > REGISTRY_URL_MAX)
		detail = psprintf("It is longer than %d bytes.", REGISTRY_URL_MAX);
	else if (*host == '\0' || *host == '/' || *host == ':')
		detail = "It has no host.";
	else
	{
		for (const char *c = url; *c && !detail; c++)
			if (*c <= ' ' || *c >= 127 || *c == '?' || *c == '#' || *c == '@' || *c == '\\')
				detail = "It may hold no spaces, credentials (@), query (?) or fragment (#).";
	}
	if (detail)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"schema_registry\""),
				 errdetail_internal("%s", detail),
				 errhint("Give the registry's base URL, as in 'http://registry:8081'.")));
}

/* the server's registry (NULL: none), checked as its writers may set it */
char *
kafka_server_registry(Oid serverid)
{
	ForeignServer *server = GetForeignServer(serverid);
	ListCell   *lc;

	foreach(lc, server->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "schema_registry") == 0)
		{
			char	   *url = pstrdup(defGetString(def));
			size_t		len;

			if (!superuser_arg(server->owner))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("only a superuser may set option \"schema_registry\""),
						 errdetail("It is set on server \"%s\", which a role that is not a superuser owns.",
								   server->servername),
						 errhint("Set it on a server owned by a superuser.")));
			kafka_check_registry_url(url);
			len = strlen(url);
			while (len > 0 && url[len - 1] == '/')
				url[--len] = '\0';
			return url;
		}
	}
	return NULL;
}

/*------------------------------------------------------------------------
 * HTTP
 *------------------------------------------------------------------------
 */
typedef struct HttpAnswer
{
	char	   *data;			/* malloc'd: libcurl calls us outside ereport's reach */
	size_t		len;
	bool		too_long;
} HttpAnswer;

static size_t
http_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	HttpAnswer *a = arg;
	size_t		n = size * nmemb;
	char	   *p;

	if (a->len + n > REGISTRY_MAX_ANSWER)
	{
		a->too_long = true;
		return 0;
	}
	p = realloc(a->data, a->len + n + 1);
	if (p == NULL)
		return 0;
	a->data = p;
	memcpy(a->data + a->len, ptr, n);
	a->len += n;
	a->data[a->len] = '\0';
	return n;
}

/* a query cancelled, or the server shutting down: libcurl stops */
static int
http_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	return InterruptPending ? 1 : 0;
}

static void
registry_outage(const char *server, const char *what, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("the schema registry of server \"%s\" could not %s: %s", server, what, why)));
}

/*
 * GET (body NULL) or POST url; returns the HTTP status and the answer
 * (palloc'd) in *answer. Not reaching the registry is an outage.
 */
static long
http_call(const char *server, const char *what, const char *url, const char *body,
		  char **answer)
{
	static bool curl_ready = false;
	CURL	   *curl;
	CURLcode	rc;
	HttpAnswer	a = {NULL, 0, false};
	struct curl_slist *headers = NULL;
	char		errbuf[CURL_ERROR_SIZE];
	long		status = 0;

	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			registry_outage(server, what, "libcurl could not start");
		curl_ready = true;
	}
	curl = curl_easy_init();
	if (curl == NULL)
		registry_outage(server, what, "libcurl could not start");
	errbuf[0] = '\0';
	headers = curl_slist_append(headers, "Accept: application/vnd.schemaregistry.v1+json, application/json");
	if (body)
		headers = curl_slist_append(headers, "Content-Type: application/vnd.schemaregistry.v1+json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) REGISTRY_CONNECT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) REGISTRY_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, http_progress);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, http_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_NETRC, (long) CURL_NETRC_IGNORED);
	if (body)
	{
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
	}
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	*answer = pstrdup(a.data ? a.data : "");
	free(a.data);
	CHECK_FOR_INTERRUPTS();
	if (a.too_long)
		registry_outage(server, what, psprintf("its answer is longer than %d bytes", REGISTRY_MAX_ANSWER));
	if (rc != CURLE_OK)
		registry_outage(server, what, errbuf[0] ? errbuf : curl_easy_strerror(rc));
	return status;
}

/* the string or number under key in a JSON object answer, or NULL */
static char *
answer_field(const char *answer, const char *key)
{
	Jsonb	   *jb;
	JsonbValue	v;

	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(answer)));
	if (!JB_ROOT_IS_OBJECT(jb) ||
		getKeyJsonValueFromContainer(&jb->root, key, strlen(key), &v) == NULL)
		return NULL;
	if (v.type == jbvString)
		return pnstrdup(v.val.string.val, v.val.string.len);
	if (v.type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v.val.numeric)));
	return NULL;
}

typedef struct AnswerField
{
	const char *answer;
	const char *key;
	char	   *value;
} AnswerField;

static void
answer_field_try(void *arg)
{
	AnswerField *f = arg;

	f->value = answer_field(f->answer, f->key);
}

/* answer_field, NULL for an answer that is not JSON */
static char *
answer_field_safe(const char *answer, const char *key)
{
	AnswerField f = {answer, key, NULL};
	ErrorData  *edata = pgs_try(answer_field_try, &f);

	if (edata)
	{
		FreeErrorData(edata);
		return NULL;
	}
	return f.value;
}

/*------------------------------------------------------------------------
 * Writers' schemas, by id
 *------------------------------------------------------------------------
 */
typedef struct RegistrySchema
{
	char	   *url;			/* the registry's */
	int32		id;
	PgsAvroSchema *schema;		/* NULL: not there, or not usable (error) */
	char	   *error;
} RegistrySchema;

static RegistrySchema cache[REGISTRY_CACHE];
static int	ncached = 0;

static RegistrySchema *
cache_find(const char *url, int32 id)
{
	for (int i = 0; i < ncached; i++)
		if (cache[i].id == id && strcmp(cache[i].url, url) == 0)
			return &cache[i];
	return NULL;
}

/* the schema of id (fetched if need be), or NULL and *error */
static PgsAvroSchema *
registry_schema(KafkaTable *kt, int32 id, char **error)
{
	RegistrySchema *rs = cache_find(kt->registry, id);
	char	   *answer;
	long		status;
	char	   *json = NULL;
	char	   *err = NULL;
	PgsAvroSchema *schema = NULL;

	if (rs == NULL)
	{
		char	   *server = GetForeignServer(kt->serverid)->servername;
		char	   *what = psprintf("give schema %d", id);
		char	   *type;

		status = http_call(server, what,
						   psprintf("%s/schemas/ids/%d", kt->registry, id), NULL, &answer);
		if (status == 404)
			err = psprintf("schema id %d is not in the schema registry", id);
		else if (status != 200)
			registry_outage(server, what, psprintf("it answered HTTP status %ld", status));
		else if ((json = answer_field_safe(answer, "schema")) == NULL)
			registry_outage(server, what, "its answer has no \"schema\"");
		else if ((type = answer_field_safe(answer, "schemaType")) != NULL && strcmp(type, "AVRO") != 0)
			err = psprintf("schema id %d is not an Avro schema (it is %s)", id, type);
		else
		{
			schema = pgs_avro_schema_parse(json, &err);
			if (schema == NULL)
				err = psprintf("schema id %d: %s", id, err);
		}

		if (ncached == REGISTRY_CACHE)
		{
			/* the oldest goes */
			free(cache[0].url);
			free(cache[0].error);
			pgs_avro_schema_free(cache[0].schema);
			memmove(&cache[0], &cache[1], sizeof(RegistrySchema) * (REGISTRY_CACHE - 1));
			ncached--;
		}
		rs = &cache[ncached];
		rs->url = strdup(kt->registry);
		rs->id = id;
		rs->schema = schema;
		rs->error = err ? strdup(err) : NULL;
		if (rs->url == NULL || (err && rs->error == NULL))
		{
			free(rs->url);
			free(rs->error);
			pgs_avro_schema_free(schema);
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
		}
		ncached++;
	}
	if (rs->schema == NULL)
		*error = rs->error ? rs->error : "the schema is not usable";
	return rs->schema;
}

/* a message's wire header: its schema id, or false (and why) */
static bool
wire_id(rd_kafka_message_t *m, int32 *id, const char **why)
{
	const unsigned char *p = m->payload;

	if (p == NULL || m->len < 5)
	{
		*why = "the message is shorter than the 5 bytes of the schema registry's header";
		return false;
	}
	if (p[0] != 0)
	{
		*why = psprintf("the message begins with byte %d, not the schema registry's magic byte 0", p[0]);
		return false;
	}
	*id = (int32) (((uint32) p[1] << 24) | ((uint32) p[2] << 16) | ((uint32) p[3] << 8) | p[4]);
	return true;
}

/*
 * Before a batch's messages are decoded: the schema of every id in them,
 * in the cache. Fails (an outage) if the registry cannot be asked.
 */
void
kafka_avro_prefetch(KafkaTable *kt, rd_kafka_message_t **msgs, int64 n)
{
	int32		last = -1;

	if (!kt->avro || kt->registry == NULL)
		return;
	for (int64 i = 0; i < n; i++)
	{
		int32		id;
		const char *why;
		char	   *error;

		if (wire_id(msgs[i], &id, &why) && id != last)
		{
			(void) registry_schema(kt, id, &error);
			last = id;
		}
	}
}

/* the table's Avro side, kept per table while its schema stays the same */
typedef struct AvroCached
{
	Oid			relid;
	char	   *signature;		/* malloc'd: table_signature() */
	PgsAvroTable *t;
} AvroCached;

#define AVRO_TABLES 64
static AvroCached tables[AVRO_TABLES];
static int	ntables = 0;

/* what the table's Avro side is made of: its columns, and avro_schema */
static char *
table_signature(KafkaTable *kt)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < kt->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(kt->desc, i);

		appendStringInfo(&buf, "%s %u %d %d %d %d,", NameStr(att->attname), att->atttypid,
						 att->atttypmod, att->attisdropped, att->attnotnull, kt->dec.data[i]);
	}
	appendStringInfo(&buf, "|%s", kt->avro_schema ? kt->avro_schema : "");
	return buf.data;
}

static PgsAvroTable *
kafka_avro_table(KafkaTable *kt)
{
	char	   *sig;
	AvroCached *c = NULL;

	/* a KafkaTable lives for a batch or a statement: looked up once */
	if (kt->avro_table)
		return kt->avro_table;
	sig = table_signature(kt);
	for (int i = 0; i < ntables; i++)
		if (tables[i].relid == kt->relid)
			c = &tables[i];
	if (c && strcmp(c->signature, sig) == 0)
		return kt->avro_table = c->t;
	if (c)
	{
		pgs_avro_table_free(c->t);
		free(c->signature);
		*c = tables[--ntables];
	}
	if (ntables == AVRO_TABLES)
	{
		pgs_avro_table_free(tables[0].t);
		free(tables[0].signature);
		tables[0] = tables[--ntables];
	}
	c = &tables[ntables];
	c->t = pgs_avro_table(kt->desc, kt->dec.data, kt->avro_schema, kt->relname,
						  psprintf("kafka stream \"%s\"", kt->relname));
	c->signature = strdup(sig);
	if (c->signature == NULL)
	{
		pgs_avro_table_free(c->t);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	c->relid = kt->relid;
	ntables++;
	return kt->avro_table = c->t;
}

/* message m's payload (a record) into the data columns; an ERROR if bad */
void
kafka_avro_decode(KafkaTable *kt, rd_kafka_message_t *m, Datum *values, bool *nulls)
{
	PgsAvroTable *t = kafka_avro_table(kt);
	PgsAvroSchema *writer;
	const char *why;
	char	   *error;
	int32		id;

	if (kt->registry == NULL)
	{
		if (kt->avro_schema == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("kafka stream \"%s\" has format avro, no option \"avro_schema\" and no schema registry",
							kt->relname)));
		writer = pgs_avro_table_own(t);
		pgs_avro_decode(t, writer, m->payload ? m->payload : "", m->payload ? m->len : 0,
						values, nulls);
		return;
	}
	if (!wire_id(m, &id, &why))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("%s", why)));
	writer = registry_schema(kt, id, &error);
	if (writer == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("%s", error)));
	pgs_avro_decode(t, writer, (char *) m->payload + 5, m->len - 5, values, nulls);
}

/*------------------------------------------------------------------------
 * Registering the table's schema (INSERT, sinks)
 *------------------------------------------------------------------------
 */
typedef struct Registered
{
	char	   *key;			/* malloc'd: url, subject, schema */
	int32		id;
} Registered;

static Registered registered[REGISTRY_SUBJECTS];
static int	nregistered = 0;

static int32
registry_register(KafkaTable *kt, const char *schema)
{
	char	   *server = GetForeignServer(kt->serverid)->servername;
	char	   *subject = psprintf("%s-value", kt->topic);
	char	   *key = psprintf("%s %s %s", kt->registry, subject, schema);
	StringInfoData body;
	char	   *answer;
	char	   *id;
	long		status;
	char	   *what = psprintf("register the schema of subject \"%s\"", subject);

	for (int i = 0; i < nregistered; i++)
		if (strcmp(registered[i].key, key) == 0)
			return registered[i].id;
	initStringInfo(&body);
	appendStringInfoString(&body, "{\"schema\": ");
	escape_json(&body, schema);
	appendStringInfoChar(&body, '}');
	/* a topic name is letters, digits, . _ -: nothing to escape in the path */
	status = http_call(server, what, psprintf("%s/subjects/%s/versions", kt->registry, subject),
					   body.data, &answer);
	if (status != 200)
	{
		char	   *message = answer_field_safe(answer, "message");

		ereport(ERROR,
				(errcode(status == 409 || status == 422 ? ERRCODE_FDW_ERROR :
						 ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("the schema registry of server \"%s\" could not %s: it answered HTTP status %ld",
						server, what, status),
				 message ? errdetail("The registry says: %s", message) : 0));
	}
	id = answer_field_safe(answer, "id");
	if (id == NULL)
		registry_outage(server, what, "its answer has no \"id\"");
	if (nregistered == REGISTRY_SUBJECTS)
	{
		free(registered[0].key);
		memmove(&registered[0], &registered[1], sizeof(Registered) * (REGISTRY_SUBJECTS - 1));
		nregistered--;
	}
	registered[nregistered].key = strdup(key);
	if (registered[nregistered].key == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	registered[nregistered].id = pg_strtoint32(id);
	return registered[nregistered++].id;
}

/*
 * The row in slot as a message payload into buf: with a registry, the
 * header of the table's registered schema and the record; else the record.
 */
void
kafka_avro_encode(KafkaTable *kt, TupleTableSlot *slot, StringInfo buf)
{
	PgsAvroTable *t = kafka_avro_table(kt);

	resetStringInfo(buf);
	if (kt->registry)
	{
		int32		id = registry_register(kt, pgs_avro_table_schema(t));

		appendStringInfoChar(buf, 0);
		appendStringInfoChar(buf, (char) ((uint32) id >> 24));
		appendStringInfoChar(buf, (char) ((uint32) id >> 16));
		appendStringInfoChar(buf, (char) ((uint32) id >> 8));
		appendStringInfoChar(buf, (char) id);
	}
	else if (kt->avro_schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("kafka stream \"%s\" has format avro, no option \"avro_schema\" and no schema registry",
						kt->relname)));
	pgs_avro_encode(t, slot, buf);
}
