/*-------------------------------------------------------------------------
 *
 * conf.c
 *	  Kafka options, librdkafka properties (who may set what), the clients.
 *
 * Connections. A backend keeps one librdkafka consumer (and, for INSERT,
 * one producer) per server and user, configured from the server's options
 * (brokers, and librdkafka properties by their names) and the user
 * mapping's (credentials, tuning). Which properties a role that is not a
 * superuser may set, and why the rule is checked again whenever a client
 * is made, is the note atop "librdkafka properties" below. Option values
 * never appear in messages.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "formats/formats.h"
#include "formats/avro.h"
#include "sources/sources.h"
#include "sources/kafka/kafka_int.h"

#include <ctype.h>
#include <malloc.h>

#include <librdkafka/rdkafka.h>

#include "access/reloptions.h"
#include "access/xact.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/*------------------------------------------------------------------------
 * Options
 *------------------------------------------------------------------------
 */
static const char *const meta_names[] = {"", "partition", "offset", "timestamp", "key", "topic",
"headers"};

static KafkaMeta
parse_meta(const char *v)
{
	for (int i = 1; i < lengthof(meta_names); i++)
		if (strcmp(v, meta_names[i]) == 0)
			return (KafkaMeta) i;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"meta\": \"%s\"", v),
			 errhint("Valid values are partition, offset, timestamp, key, topic and headers.")));
	return META_NONE;
}

/* '0-3,7': is partition p in it? (NULL: all) ; also validates */
bool
kafka_partition_selected(const char *spec, int32 p)
{
	const char *s = spec;

	if (spec == NULL)
		return true;
	while (*s)
	{
		char	   *end;
		long		lo,
					hi;

		lo = strtol(s, &end, 10);
		if (end == s || lo < 0)
			goto bad;
		hi = lo;
		s = end;
		if (*s == '-')
		{
			s++;
			hi = strtol(s, &end, 10);
			if (end == s || hi < lo)
				goto bad;
			s = end;
		}
		if (p >= lo && p <= hi)
			return true;
		if (*s == ',')
			s++;
		else if (*s)
			goto bad;
	}
	return false;
bad:
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"partitions\": \"%s\"", spec),
			 errhint("Give partition numbers and ranges, such as '0-3,7'.")));
	return false;
}

typedef struct StartTime
{
	const char *text;
	TimestampTz t;
} StartTime;

static void
start_time_in(void *arg)
{
	StartTime  *st = arg;

	st->t = DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(st->text),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/*
 * earliest, latest, an offset, or a time (a timestamptz beginning with its
 * year: not 'now' or 'today', which would mean another time at each use)
 */
static void
parse_start_offset(const char *v, bool *latest, int64 *offset, bool *at_time, TimestampTz *t)
{
	*latest = false;
	*offset = -1;
	*at_time = false;
	if (strcmp(v, "earliest") == 0)
		return;
	if (strcmp(v, "latest") == 0)
	{
		*latest = true;
		return;
	}
	{
		char	   *end;
		long long	n = strtoll(v, &end, 10);
		StartTime	st = {v, 0};
		ErrorData  *edata;

		if (end != v && *end == '\0' && n >= 0)
		{
			*offset = n;
			return;
		}
		edata = (v[0] >= '0' && v[0] <= '9' && end - v >= 4) ? pgs_try(start_time_in, &st) : NULL;
		if (end == v || end - v < 4 || edata || TIMESTAMP_NOT_FINITE(st.t))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"start_offset\": \"%s\"", v),
					 errhint("Valid values are earliest, latest, an offset (a number) and a time, as in '2026-12-01 10:00:00+00'.")));
		*at_time = true;
		*t = st.t;
	}
}

KafkaTable *
kafka_table(Relation rel)
{
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));
	KafkaTable *kt = palloc0(sizeof(KafkaTable));
	TupleDesc	desc = RelationGetDescr(rel);
	ListCell   *lc;
	bool	   *data;
	List	   *dec_options;

	kt->relid = RelationGetRelid(rel);
	kt->serverid = ft->serverid;
	kt->relname = pstrdup(RelationGetRelationName(rel));
	kt->start_offset = -1;
	kt->exactly_once = true;
	kt->progress_topic = KAFKA_DEFAULT_PROGRESS_TOPIC;
	dec_options = list_copy(ft->options);
	foreach(lc, dec_options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		char	   *v = defGetString(def);

		if (strcmp(def->defname, "topic") == 0)
			kt->topic = v;
		else if (strcmp(def->defname, "partitions") == 0)
			kt->partitions = v;
		else if (strcmp(def->defname, "start_offset") == 0)
			parse_start_offset(v, &kt->start_latest, &kt->start_offset, &kt->start_at_time,
							   &kt->start_time);
		else if (strcmp(def->defname, "on_error") == 0)
			kt->on_error_stop = pgs_on_error_stop(def);
		else if (strcmp(def->defname, "delivery") == 0)
			kt->exactly_once = kafka_parse_delivery(v);
		else if (strcmp(def->defname, "progress_topic") == 0)
			kt->progress_topic = v;
		else if (strcmp(def->defname, "format") == 0 && strcmp(v, "avro") == 0)
			kt->avro = true;
		else if (strcmp(def->defname, "avro_schema") == 0)
			kt->avro_schema = v;
		else
			continue;
		/* pg_stream's own options, not the decoder's */
		dec_options = foreach_delete_current(dec_options, lc);
	}
	if (kt->topic == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("kafka stream \"%s\" has no option \"topic\"", kt->relname)));

	kt->desc = desc;
	kt->meta = palloc0(sizeof(KafkaMeta) * desc->natts);
	data = palloc0(sizeof(bool) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		if (TupleDescAttr(desc, i)->attisdropped)
			continue;
		foreach(lc, GetForeignColumnOptions(kt->relid, i + 1))
		{
			DefElem    *def = lfirst_node(DefElem, lc);

			if (strcmp(def->defname, "meta") == 0)
				kt->meta[i] = parse_meta(defGetString(def));
		}
		if (kt->meta[i] == META_HEADERS && TupleDescAttr(desc, i)->atttypid != JSONBOID)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("kafka stream \"%s\": column \"%s\" with meta 'headers' must be of type jsonb",
							kt->relname, NameStr(TupleDescAttr(desc, i)->attname))));
		data[i] = (kt->meta[i] == META_NONE);
	}
	pgs_decoder_init(&kt->dec, desc, data, dec_options, PGS_FORMAT_JSON,
					 psprintf("kafka stream \"%s\"", kt->relname));
	if (kt->dec.format == PGS_FORMAT_PARQUET)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("kafka stream \"%s\": format parquet is for file streams only",
						kt->relname)));
	if (kt->avro)
		kt->registry = kafka_server_registry(kt->serverid);
	else if (kt->avro_schema)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("kafka stream \"%s\" has option \"avro_schema\" but not format avro", kt->relname)));
	return kt;
}

/*------------------------------------------------------------------------
 * Clients (consumers, producers), one of each per server and user in a backend
 *------------------------------------------------------------------------
 */
typedef struct KafkaClient
{
	rd_kafka_type_t type;		/* consumer or producer */
	Oid			serverid;
	Oid			userid;
	rd_kafka_t *rk;
	struct KafkaClient *next;
} KafkaClient;

static KafkaClient *clients = NULL;
static bool clients_stale = false;

/*
 * Handles in use (a read, an INSERT, an IMPORT under way) are never
 * destroyed under their user: stale ones go when none is busy. Reset at
 * the end of each transaction.
 */
int			kafka_busy = 0;
int			kafka_inserts_open = 0;

static void
kafka_xact_callback(XactEvent event, void *arg)
{
	kafka_busy = 0;
	kafka_inserts_open = 0;
	/* a session does not keep fetching for a REFRESH that is over */
	if (!pgs_am_worker() &&
		(event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		 event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT))
		kafka_readers_unassign();
}

/* a server or user mapping changed: make new clients at the next use */
static void
clients_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	clients_stale = true;
	kafka_readers_mark_stale();
}

/*------------------------------------------------------------------------
 * librdkafka properties: who may set what
 *------------------------------------------------------------------------
 *
 * A server's and a user mapping's options are librdkafka properties, and
 * librdkafka does more with some of them than talk to a broker: it loads
 * shared libraries (plugin.library.paths, ssl.providers,
 * ssl.engine.location), reads files of the server (ssl.*.location), runs a
 * shell command (sasl.kerberos.kinit.cmd, into which it substitutes the
 * values of other properties, %{sasl.kerberos.principal} among them) or
 * fetches URLs (OAUTHBEARER's OIDC). Whoever sets those runs code as the
 * server's OS user. No list of the dangerous ones can be known complete
 * (each librdkafka release adds properties), so the rule is the other way
 * round: a role that is not a superuser may set only the properties of
 * user_props below, credentials and client tuning, each with the values
 * it may take; everything else needs a superuser.
 *
 * The rule holds twice. The validator checks it as the role that runs
 * CREATE/ALTER SERVER or USER MAPPING. And every time a client is made
 * from the catalogs (kafka_client_conf), each object is checked again as if
 * written by a role that is not a superuser, unless every role that can
 * write it is a superuser: a server owned by a superuser, and on it
 * PUBLIC's or a superuser's user mapping (a user mapping can also be
 * written by its user). So options stored before this rule existed, or
 * with the validator taken off the wrapper, cannot run anything either;
 * the validator cannot tell whose user mapping it checks, so a superuser
 * who writes a restricted property into an ordinary role's user mapping
 * sees it refused at use.
 *
 * Two rules bind superusers too. Values librdkafka substitutes into the
 * kinit command (the properties sasl.kerberos.*, and any %{property} of a
 * custom command) may hold only letters, digits and . _ - / @ : + and not
 * begin with '-': they are pasted into a shell command line unquoted. A
 * superuser who needs more writes sasl.kerberos.kinit.cmd itself. And a
 * user mapping never names the brokers: it holds credentials, it does not
 * choose where the backend connects.
 *
 * GSSAPI is librdkafka's default SASL mechanism, so a role that turns on
 * SASL without naming a mechanism would get kinit run: a client whose
 * SASL protocol or GSSAPI mechanism comes from an object a role that is
 * not a superuser may have written is refused.
 */
typedef enum PropKind
{
	PROP_SECRET,				/* a credential: any value, never shown */
	PROP_NAME,					/* an identifier: letters, digits, . _ - */
	PROP_INT,					/* a whole number from min to max */
	PROP_BOOL,					/* true or false */
	PROP_CHOICE					/* one of choices */
} PropKind;

typedef struct KafkaProp
{
	const char *name;
	PropKind	kind;
	int64		min;
	int64		max;
	const char *const *choices;
} KafkaProp;

static const char *const protocols[] = {"plaintext", "ssl", "sasl_plaintext", "sasl_ssl", NULL};

/* not GSSAPI (runs kinit), not OAUTHBEARER (its OIDC fetches URLs) */
static const char *const mechanisms[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", NULL};
static const char *const families[] = {"any", "v4", "v6", NULL};
static const char *const isolation_levels[] = {"read_committed", "read_uncommitted", NULL};
static const char *const acks_values[] = {"all", "-1", "0", "1", NULL};
static const char *const codecs[] = {"none", "gzip", "snappy", "lz4", "zstd", NULL};
static const char *const partitioners[] = {"random", "consistent", "consistent_random", "murmur2",
	"murmur2_random", "fnv1a", "fnv1a_random", NULL};

#define KAFKA_MB (INT64CONST(1024) * 1024)

/*
 * What a role that is not a superuser may set (librdkafka 2.0.2's
 * CONFIGURATION.md), with bounds within librdkafka's ranges that keep a
 * client's memory and waits reasonable. The README's Kafka section lists
 * the same.
 */
static const KafkaProp user_props[] = {
	/* credentials */
	{"sasl.username", PROP_SECRET},
	{"sasl.password", PROP_SECRET},
	{"ssl.key.password", PROP_SECRET},
	{"ssl.key.pem", PROP_SECRET},
	{"ssl.certificate.pem", PROP_SECRET},
	{"ssl.ca.pem", PROP_SECRET},
	{"sasl.oauthbearer.client.id", PROP_SECRET},
	{"sasl.oauthbearer.client.secret", PROP_SECRET},
	/* how to connect */
	{"security.protocol", PROP_CHOICE, 0, 0, protocols},
	{"sasl.mechanism", PROP_CHOICE, 0, 0, mechanisms},
	{"sasl.mechanisms", PROP_CHOICE, 0, 0, mechanisms},
	{"broker.address.family", PROP_CHOICE, 0, 0, families},
	{"client.id", PROP_NAME},
	{"client.rack", PROP_NAME},
	{"socket.timeout.ms", PROP_INT, 10, 300000},
	{"socket.connection.setup.timeout.ms", PROP_INT, 1000, 300000},
	{"socket.keepalive.enable", PROP_BOOL},
	{"socket.nagle.disable", PROP_BOOL},
	{"connections.max.idle.ms", PROP_INT, 0, 86400000},
	{"reconnect.backoff.ms", PROP_INT, 0, 60000},
	{"reconnect.backoff.max.ms", PROP_INT, 0, 60000},
	{"topic.metadata.refresh.interval.ms", PROP_INT, -1, 3600000},
	{"metadata.max.age.ms", PROP_INT, 1, 86400000},
	{"message.max.bytes", PROP_INT, 1000, 64 * KAFKA_MB},
	{"receive.message.max.bytes", PROP_INT, 1000, 100000000},
	/* reading */
	{"fetch.wait.max.ms", PROP_INT, 0, 5000},
	{"fetch.min.bytes", PROP_INT, 1, 16 * KAFKA_MB},
	{"fetch.max.bytes", PROP_INT, 1, 64 * KAFKA_MB},
	{"fetch.message.max.bytes", PROP_INT, 1, 64 * KAFKA_MB},
	{"max.partition.fetch.bytes", PROP_INT, 1, 64 * KAFKA_MB},
	{"fetch.error.backoff.ms", PROP_INT, 0, 60000},
	{"queued.min.messages", PROP_INT, 1, 10000000},
	{"queued.max.messages.kbytes", PROP_INT, 1, 65536},
	{"check.crcs", PROP_BOOL},
	{"isolation.level", PROP_CHOICE, 0, 0, isolation_levels},
	/* producing (INSERT, sinks) */
	{"acks", PROP_CHOICE, 0, 0, acks_values},
	{"request.required.acks", PROP_CHOICE, 0, 0, acks_values},
	{"linger.ms", PROP_INT, 0, 60000},
	{"queue.buffering.max.ms", PROP_INT, 0, 60000},
	{"batch.num.messages", PROP_INT, 1, 1000000},
	{"batch.size", PROP_INT, 1, 64 * KAFKA_MB},
	{"queue.buffering.max.messages", PROP_INT, 1, 10000000},
	{"queue.buffering.max.kbytes", PROP_INT, 1, 1048576},
	{"compression.codec", PROP_CHOICE, 0, 0, codecs},
	{"compression.type", PROP_CHOICE, 0, 0, codecs},
	{"compression.level", PROP_INT, -1, 12},
	{"message.timeout.ms", PROP_INT, 1, 300000},
	{"delivery.timeout.ms", PROP_INT, 1, 300000},
	{"request.timeout.ms", PROP_INT, 1, 300000},
	{"retries", PROP_INT, 0, PG_INT32_MAX},
	{"message.send.max.retries", PROP_INT, 0, PG_INT32_MAX},
	{"retry.backoff.ms", PROP_INT, 1, 60000},
	{"enable.idempotence", PROP_BOOL},
	{"partitioner", PROP_CHOICE, 0, 0, partitioners},
	{"sticky.partitioning.linger.ms", PROP_INT, 0, 60000},
	{NULL}
};

/* where the backend connects: the server's, never a user mapping's */
static const char *const broker_props[] = {"brokers", "bootstrap.servers", "metadata.broker.list", NULL};

/* substituted into the default sasl.kerberos.kinit.cmd, or used beside it */
static const char *const kinit_props[] = {"sasl.kerberos.principal", "sasl.kerberos.keytab",
	"sasl.kerberos.service.name", NULL};

#define PROP_NAME_MAX 255		/* client.id, client.rack */
/* what client.id, client.rack and topic names are made of */
#define KAFKA_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
#define KINIT_VALUE_MAX 1024	/* a principal or a keytab's path */

static bool
in_list(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/* the property name librdkafka knows our option by */
static const char *
rdkafka_name(const char *option)
{
	return strcmp(option, "brokers") == 0 ? "bootstrap.servers" : option;
}

/*
 * A value librdkafka pastes, unquoted, into the kinit shell command: a
 * principal (primary/instance@REALM) or a path, nothing a shell or kinit's
 * option parser reads as more.
 */
static void
check_kinit_value(const char *name, const char *value)
{
	size_t		len = strlen(value);
	bool		ok = len <= KINIT_VALUE_MAX && value[0] != '-';

	for (size_t i = 0; ok && i < len; i++)
		ok = isascii((unsigned char) value[i]) &&
			(isalnum((unsigned char) value[i]) || strchr("._-/@:+", value[i]) != NULL);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for librdkafka property \"%s\"", name),
				 errdetail("librdkafka substitutes it into the shell command of \"sasl.kerberos.kinit.cmd\", so it may hold only letters, digits and the characters . _ - / @ : +, may not begin with \"-\" and has at most %d bytes.",
						   KINIT_VALUE_MAX),
				 errhint("A superuser who needs other values sets \"sasl.kerberos.kinit.cmd\" itself.")));
}

/* "a, b or c" */
static char *
choice_list(const char *const *choices)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; choices[i]; i++)
		appendStringInfo(&buf, "%s%s", i == 0 ? "" : choices[i + 1] ? ", " : " or ", choices[i]);
	return buf.data;
}

/* value fits what a role that is not a superuser may give p (it is never shown) */
static void
check_user_value(const KafkaProp *p, const char *value)
{
	const char *detail = NULL;
	size_t		len = strlen(value);

	switch (p->kind)
	{
		case PROP_SECRET:
			return;
		case PROP_NAME:
			if (len == 0 || len > PROP_NAME_MAX ||
				strspn(value, KAFKA_NAME_CHARS) != len)
				detail = psprintf("A role that is not a superuser may set it to letters, digits and the characters . _ - (1 to %d bytes).",
								  PROP_NAME_MAX);
			break;
		case PROP_INT:
			{
				char	   *end;
				long long	n;

				errno = 0;
				n = strtoll(value, &end, 10);
				if (end == value || *end != '\0' || errno != 0 || n < p->min || n > p->max)
					detail = psprintf("A role that is not a superuser may set it to a whole number from " INT64_FORMAT " to " INT64_FORMAT ".",
									  p->min, p->max);
				break;
			}
		case PROP_BOOL:
			if (pg_strcasecmp(value, "true") != 0 && pg_strcasecmp(value, "false") != 0)
				detail = pstrdup("A role that is not a superuser may set it to true or false.");
			break;
		case PROP_CHOICE:
			{
				bool		found = false;

				/* librdkafka reads enumerations without case, mechanisms with it */
				for (int i = 0; p->choices[i]; i++)
					found |= (p->choices == mechanisms ? strcmp(value, p->choices[i]) == 0 :
							  pg_strcasecmp(value, p->choices[i]) == 0);
				if (!found)
					detail = psprintf("A role that is not a superuser may set it to %s.",
									  choice_list(p->choices));
				break;
			}
	}
	if (detail)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for librdkafka property \"%s\"", p->name),
				 errdetail_internal("%s", detail)));
}

/*
 * May this option of a server or user mapping (catalog) be set? trusted:
 * by a superuser. source names the object when a client is being made
 * from the catalogs (NULL in the validator).
 */
static void
check_property(const char *name, const char *value, Oid catalog, bool trusted,
			   const char *source)
{
	const KafkaProp *p;

	if (in_list(name, broker_props))
	{
		if (catalog == UserMappingRelationId)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("a user mapping may not set librdkafka property \"%s\"", name),
					 errdetail("The brokers a backend connects to are the server's: a user mapping holds credentials and cannot redirect the connection."),
					 errhint("Set the brokers on the server, with option \"brokers\".")));
		return;
	}
	if (in_list(name, kinit_props))
		check_kinit_value(name, value);
	if (trusted)
		return;
	for (p = user_props; p->name; p++)
		if (strcmp(name, p->name) == 0)
			break;
	if (p->name == NULL)
	{
		if (source)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only a superuser may set librdkafka property \"%s\"", name),
					 errdetail("It is set in %s, which a role that is not a superuser can write.", source),
					 errhint("Set it on a server owned by a superuser, or remove it.")));
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may set librdkafka property \"%s\"", name),
				 errdetail("A role that is not a superuser may set only credentials and client tuning properties, which make librdkafka load no code, run no command, read no file of the server and connect nowhere else."),
				 errhint("The properties it may set are listed in the Kafka section of pg_stream's README.")));
	}
	check_user_value(p, value);
}

/* set a property; the value is never shown (it may be a secret) */
static bool
conf_try(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	char		errstr[512];

	return rd_kafka_conf_set(conf, name, value, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK;
}

static void
conf_refused(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
			 errmsg("invalid librdkafka property \"%s\"", name),
			 errdetail("librdkafka does not accept this property or its value.")));
}

/* set it, or fail (conf is then let go) */
void
kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	if (!conf_try(conf, name, value))
	{
		rd_kafka_conf_destroy(conf);
		conf_refused(name);
	}
}

/* set it, or fail (the caller lets conf go) */
static void
conf_put(rd_kafka_conf_t *conf, const char *name, const char *value)
{
	if (!conf_try(conf, name, value))
		conf_refused(name);
}

/* a property's value as librdkafka holds it (its default if unset), or NULL */
static char *
conf_value(rd_kafka_conf_t *conf, const char *name)
{
	size_t		size = 0;
	char	   *buf;

	if (rd_kafka_conf_get(conf, name, NULL, &size) != RD_KAFKA_CONF_OK)
		return NULL;
	buf = palloc0(size + 1);
	if (rd_kafka_conf_get(conf, name, buf, &size) != RD_KAFKA_CONF_OK)
		return NULL;
	return buf;
}

/* which objects chose the SASL protocol and mechanism */
typedef struct SaslChoice
{
	bool		protocol_untrusted;
	bool		mechanism_untrusted;
} SaslChoice;

/* the options of one object, checked, into conf */
static void
conf_apply(rd_kafka_conf_t *conf, List *options, Oid catalog, bool trusted,
		   const char *source, SaslChoice *sasl)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		char	   *value = defGetString(def);

		if (strcmp(def->defname, "schema_registry") == 0)
			continue;			/* pg_stream's (registry.c), not librdkafka's */
		check_property(def->defname, value, catalog, trusted, source);
		if (strcmp(def->defname, "security.protocol") == 0)
			sasl->protocol_untrusted = !trusted;
		else if (strcmp(def->defname, "sasl.mechanism") == 0 ||
				 strcmp(def->defname, "sasl.mechanisms") == 0)
			sasl->mechanism_untrusted = !trusted;
		conf_put(conf, rdkafka_name(def->defname), value);
	}
}

/*
 * The kinit command runs when librdkafka makes a client that speaks SASL
 * with GSSAPI: then its protocol and mechanism must be a superuser's
 * choice, and every value the command is rendered with must be plain.
 * librdkafka's template syntax is %{property}.
 */
static void
check_kinit(rd_kafka_conf_t *conf, const SaslChoice *sasl)
{
	char	   *protocol = conf_value(conf, "security.protocol");
	char	   *mechanism = conf_value(conf, "sasl.mechanisms");
	char	   *cmd;
	char	   *s;

	/* unreadable counts as the worst: SASL, GSSAPI */
	if ((protocol != NULL && pg_strncasecmp(protocol, "sasl_", 5) != 0) ||
		(mechanism != NULL && pg_strcasecmp(mechanism, "GSSAPI") != 0))
		return;
	if (sasl->protocol_untrusted || sasl->mechanism_untrusted)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may make a kafka client authenticate with GSSAPI"),
				 errdetail("The SASL protocol or mechanism is set in an object a role that is not a superuser can write, and with GSSAPI (librdkafka's default mechanism) librdkafka runs the command of \"sasl.kerberos.kinit.cmd\"."),
				 errhint("Set \"sasl.mechanism\" to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.")));
	cmd = conf_value(conf, "sasl.kerberos.kinit.cmd");
	for (s = cmd ? strstr(cmd, "%{") : NULL; s; s = strstr(s, "%{"))
	{
		char	   *end = strchr(s + 2, '}');
		char	   *name;
		char	   *value;

		if (end == NULL)
			break;				/* librdkafka refuses the template */
		name = pnstrdup(s + 2, end - s - 2);
		value = conf_value(conf, name);
		/* unknown or unset: librdkafka cannot render the command, runs none */
		if (value != NULL)
			check_kinit_value(name, value);
		s = end + 1;
	}
}

/* the user mapping of user (or PUBLIC) on the server, or NIL; *umuser: whose */
static List *
user_mapping_options(Oid userid, Oid serverid, Oid *umuser)
{
	HeapTuple	tp;
	List	   *options = NIL;

	*umuser = userid;
	tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(userid),
						 ObjectIdGetDatum(serverid));
	if (!HeapTupleIsValid(tp))
	{
		*umuser = InvalidOid;
		tp = SearchSysCache2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							 ObjectIdGetDatum(serverid));
	}
	if (HeapTupleIsValid(tp))
	{
		bool		isnull;
		Datum		d = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp,
										Anum_pg_user_mapping_umoptions, &isnull);

		if (!isnull)
			options = untransformRelOptions(d);
		ReleaseSysCache(tp);
	}
	return options;
}

/*
 * A client's configuration: our defaults (and the pairs of property names
 * and values in more, up to a NULL), then the server's options, then the
 * user mapping's, which win; each object checked as its possible writers
 * are allowed (see above).
 */
rd_kafka_conf_t *
kafka_client_conf(Oid serverid, Oid userid, const char *const *more)
{
	ForeignServer *server = GetForeignServer(serverid);
	bool		server_trusted = superuser_arg(server->owner);
	Oid			umuser;
	List	   *umoptions = user_mapping_options(userid, serverid, &umuser);
	bool		um_trusted = server_trusted && (!OidIsValid(umuser) || superuser_arg(umuser));
	SaslChoice	sasl = {false, false};
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	PG_TRY();
	{
		conf_put(conf, "client.id", "pg_stream");
		conf_put(conf, "log_level", "4");
		for (; *more; more += 2)
			conf_put(conf, more[0], more[1]);
		conf_apply(conf, server->options, ForeignServerRelationId, server_trusted,
				   psprintf("server \"%s\"", server->servername), &sasl);
		conf_apply(conf, umoptions, UserMappingRelationId, um_trusted,
				   psprintf("the user mapping for %s on server \"%s\"",
							OidIsValid(umuser) ? quote_identifier(GetUserNameFromId(umuser, false)) : "PUBLIC",
							server->servername), &sasl);
		check_kinit(conf, &sasl);
	}
	PG_CATCH();
	{
		rd_kafka_conf_destroy(conf);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return conf;
}

void
kafka_register_callbacks(void)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, clients_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, clients_invalidate, (Datum) 0);
		/* who is a superuser decides which options are taken (kafka_client_conf) */
		CacheRegisterSyscacheCallback(AUTHOID, clients_invalidate, (Datum) 0);
		RegisterXactCallback(kafka_xact_callback, NULL);
		registered = true;
	}
}

/* stale handles go when none is in use */
void
kafka_drop_stale_clients(void)
{
	if (!clients_stale || kafka_busy > 0)
		return;
	while (clients)
	{
		KafkaClient *next = clients->next;

		rd_kafka_destroy(clients->rk);
		pfree(clients);
		clients = next;
	}
	clients_stale = false;
}

/* the backend's client of this type for the server and user, or NULL */
rd_kafka_t *
kafka_find_client(rd_kafka_type_t type, Oid serverid, Oid userid)
{
	kafka_register_callbacks();
	kafka_drop_stale_clients();
	for (KafkaClient *c = clients; c; c = c->next)
		if (c->type == type && c->serverid == serverid && c->userid == userid)
			return c->rk;
	return NULL;
}

/*
 * Before a process's first librdkafka client: keep freed memory instead of
 * handing it back to the kernel at once. librdkafka's broker thread
 * allocates each fetched message (and each fetch response's buffer) in
 * its own malloc arena, and the backend frees them all there when the
 * batch that took them is decoded. With glibc's defaults the arena's top
 * is given back (MADV_DONTNEED) as soon as 128 kB of it is free, so the
 * broker thread page-faults the same pages in again for the next batch:
 * a third of its time on a backlog (perf). Now up to 2 x KAFKA_MALLOC_KEEP
 * of free memory stays with the process, an arena grows by
 * KAFKA_MALLOC_KEEP / 2 at a time (address space: pages are touched only
 * when used), and only allocations of KAFKA_MALLOC_KEEP or more go to
 * mmap. The cost: a process that reads Kafka keeps its largest batch's
 * memory (max_batch_rows messages, and queued.max.messages.kbytes
 * prefetched) after the batch, which the next batch reuses.
 */
#define KAFKA_MALLOC_KEEP (32 * 1024 * 1024)

void
kafka_tune_malloc(void)
{
	static bool done = false;

	if (done)
		return;
	done = true;
	(void) mallopt(M_MMAP_THRESHOLD, KAFKA_MALLOC_KEEP);
	(void) mallopt(M_TRIM_THRESHOLD, 2 * KAFKA_MALLOC_KEEP);
	(void) mallopt(M_TOP_PAD, KAFKA_MALLOC_KEEP / 2);
}

/* a new client from conf (which it takes), kept for the next uses */
rd_kafka_t *
kafka_new_client(rd_kafka_type_t type, Oid serverid, Oid userid, rd_kafka_conf_t *conf)
{
	char		errstr[512];
	rd_kafka_t *rk;
	KafkaClient *c;

	kafka_tune_malloc();
	rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	if (rk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not create a Kafka %s: %s",
						type == RD_KAFKA_CONSUMER ? "consumer" : "producer", errstr)));
	c = MemoryContextAlloc(TopMemoryContext, sizeof(KafkaClient));
	c->type = type;
	c->serverid = serverid;
	c->userid = userid;
	c->rk = rk;
	c->next = clients;
	clients = c;
	return rk;
}

/*
 * A consumer's defaults. A fetch waits at most 10 ms at the broker for a
 * message; the prefetched messages of a reader (reader.c) are bounded to
 * 16 MB, so a worker's memory stays small whatever the topic holds.
 *
 * queued.min.messages stays librdkafka's (100,000), though librdkafka 2.0
 * counts it over the reader's one queue, not per partition, and pauses a
 * partition that finds it exceeded (200 ms and more) after most full
 * batches over a backlog of small messages: at 10,000,000 a worker's
 * RssAnon over such a backlog grew from 87 MB to about 160 MB, past the
 * 100 MB a worker may use. A REFRESH waits the pauses out (reader.c).
 */
const char *const kafka_consumer_defaults[] = {
	"group.id", "pg_stream",
	"fetch.wait.max.ms", "10",
	"queued.max.messages.kbytes", "16384",
	NULL
};

rd_kafka_t *
kafka_consumer(Oid serverid)
{
	Oid			userid = pgs_batchrun_user();
	rd_kafka_t *rk = kafka_find_client(RD_KAFKA_CONSUMER, serverid, userid);
	rd_kafka_conf_t *conf;

	if (rk)
		return rk;
	conf = kafka_client_conf(serverid, userid, kafka_consumer_defaults);
	/* what the reading depends on, whatever the options say */
	kafka_conf_set(conf, "enable.auto.commit", "false");
	kafka_conf_set(conf, "enable.auto.offset.store", "false");
	kafka_conf_set(conf, "enable.partition.eof", "true");
	rk = kafka_new_client(RD_KAFKA_CONSUMER, serverid, userid, conf);
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

/*------------------------------------------------------------------------
 * The FDW: its options (the kit's validator)
 *------------------------------------------------------------------------
 */
/*
 * schema_registry: a server's, set by a superuser (registry.c says why),
 * an http:// or https:// URL
 */
static void
check_registry_option(DefElem *def, Oid catalog, bool trusted)
{
	if (catalog != ForeignServerRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("option \"schema_registry\" is a server's, not a user mapping's")));
	if (!trusted)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only a superuser may set option \"schema_registry\""),
				 errdetail("pg_stream's HTTP client connects wherever the URL says, so a role that is not a superuser cannot choose it."),
				 errhint("Ask a superuser to create the server with the registry and grant USAGE on it.")));
	kafka_check_registry_url(defGetString(def));
}

/* a server's or user mapping's options: librdkafka properties */
static void
validate_properties(List *options, Oid catalog)
{
	bool		trusted = superuser();
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	ListCell   *lc;

	PG_TRY();
	{
		DefElem    *kinit_cmd = NULL;

		/* each checked before librdkafka sees it: some act when set */
		foreach(lc, options)
		{
			DefElem    *def = lfirst_node(DefElem, lc);

			if (strcmp(def->defname, "schema_registry") == 0)
			{
				check_registry_option(def, catalog, trusted);
				continue;
			}
			check_property(def->defname, defGetString(def), catalog, trusted, NULL);
			conf_put(conf, rdkafka_name(def->defname), defGetString(def));
			if (strcmp(def->defname, "sasl.kerberos.kinit.cmd") == 0)
				kinit_cmd = def;
		}
		/* a custom kinit command's %{property} values given beside it */
		if (kinit_cmd)
		{
			char	   *cmd = defGetString(kinit_cmd);

			foreach(lc, options)
			{
				DefElem    *def = lfirst_node(DefElem, lc);

				if (strstr(cmd, psprintf("%%{%s}", def->defname)))
					check_kinit_value(def->defname, defGetString(def));
			}
		}
	}
	PG_FINALLY();
	{
		rd_kafka_conf_destroy(conf);
	}
	PG_END_TRY();
}

/*
 * A topic name as Kafka allows it: letters, digits, . _ - (at most 249
 * bytes). The name also goes into stream.errors' positions as JSON.
 */
static void
check_topic(DefElem *def)
{
	const char *topic = defGetString(def);
	size_t		len = strlen(topic);

	if (len == 0 || len > 249 || strcmp(topic, ".") == 0 || strcmp(topic, "..") == 0 ||
		strspn(topic, KAFKA_NAME_CHARS) != len)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"%s\": \"%s\"", def->defname, topic),
				 errdetail("A Kafka topic name has 1 to 249 letters, digits and the characters . _ -.")));
}

/* a sink's delivery: exactly_once (the outbox, outbox.c) or at_least_once */
bool
kafka_parse_delivery(const char *v)
{
	if (strcmp(v, "exactly_once") == 0)
		return true;
	if (strcmp(v, "at_least_once") == 0)
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"delivery\": \"%s\"", v),
			 errhint("Valid values are exactly_once (the default) and at_least_once.")));
	return false;
}

static void
check_delivery(DefElem *def)
{
	(void) kafka_parse_delivery(defGetString(def));
}

static void
check_partitions(DefElem *def)
{
	/* -1 is in no range: all of it is parsed */
	(void) kafka_partition_selected(defGetString(def), -1);
}

static void
check_start_offset(DefElem *def)
{
	bool		l;
	int64		o;
	bool		at;
	TimestampTz t;

	parse_start_offset(defGetString(def), &l, &o, &at, &t);
}

/* json, csv, text, or avro (Kafka's alone) */
static void
check_format(DefElem *def)
{
	const char *v = defGetString(def);

	if (strcmp(v, "avro") != 0 && strcmp(v, "json") != 0 && strcmp(v, "csv") != 0 &&
		strcmp(v, "text") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"format\": \"%s\"", v),
				 errhint("Valid values are json, csv, text and avro.")));
}

static void
check_avro_schema(DefElem *def)
{
	pgs_avro_check_schema(defGetString(def), "a kafka stream");
}

static void
check_meta(DefElem *def)
{
	(void) parse_meta(defGetString(def));
}

/* a table's and a column's options (the kit's validator, sources/source.c) */
const SourceOption kafka_options[] = {
	PGS_OPT_CUSTOM("topic", PGS_OPT_TABLE, check_topic),
	PGS_OPT_CUSTOM("format", PGS_OPT_TABLE, check_format),
	{"delimiter", PGS_OPT_TABLE, PGS_CHECK_FORMAT},
	{"quote", PGS_OPT_TABLE, PGS_CHECK_FORMAT},
	{"escape", PGS_OPT_TABLE, PGS_CHECK_FORMAT},
	{"null", PGS_OPT_TABLE, PGS_CHECK_FORMAT},
	PGS_OPT_CUSTOM("avro_schema", PGS_OPT_TABLE, check_avro_schema),
	PGS_OPT_CUSTOM("partitions", PGS_OPT_TABLE, check_partitions),
	PGS_OPT_CUSTOM("start_offset", PGS_OPT_TABLE, check_start_offset),
	{"on_error", PGS_OPT_TABLE, PGS_CHECK_ON_ERROR},
	PGS_OPT_EVENT_TIME_OPTIONS,
	PGS_OPT_CUSTOM("delivery", PGS_OPT_TABLE, check_delivery),
	PGS_OPT_CUSTOM("progress_topic", PGS_OPT_TABLE, check_topic),
	PGS_OPT_CUSTOM("meta", PGS_OPT_COLUMN, check_meta),
	{NULL}
};

/*
 * A server's and a user mapping's options are librdkafka properties, by
 * their names: all taken here, and checked together by kafka_validate
 * (one configuration, and a kinit command's properties beside it).
 */
bool
kafka_other_option(DefElem *def, Oid catalog)
{
	return catalog == ForeignServerRelationId || catalog == UserMappingRelationId;
}

void
kafka_validate(List *options, Oid catalog)
{
	ListCell   *lc;
	bool		has_brokers = false;
	bool		has_topic = false;

	if (catalog == ForeignServerRelationId || catalog == UserMappingRelationId)
	{
		validate_properties(options, catalog);
		foreach(lc, options)
			has_brokers |= (strcmp(lfirst_node(DefElem, lc)->defname, "brokers") == 0);
		if (catalog == ForeignServerRelationId && !has_brokers)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("a kafka server needs option \"brokers\""),
					 errhint("Give the bootstrap brokers, as in OPTIONS (brokers 'host1:9092,host2:9092').")));
	}
	if (catalog == ForeignTableRelationId)
	{
		foreach(lc, options)
			has_topic |= (strcmp(lfirst_node(DefElem, lc)->defname, "topic") == 0);
		if (!has_topic)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("a kafka stream needs option \"topic\"")));
	}
}
