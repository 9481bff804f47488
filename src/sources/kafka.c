/*-------------------------------------------------------------------------
 *
 * kafka.c
 *	  The "kafka" source: a topic read through librdkafka, in micro-batches.
 *
 * Positions. A position is the next offset to read in each partition,
 * {"0": 1200, "1": 1187, ...}, stored in stream.positions in the batch's
 * transaction with the view's changes. Nothing is committed to Kafka (no
 * consumer group): the position in PostgreSQL is the truth, so a crash at
 * any moment leaves the view and its position together, and the next
 * batch reads from exactly where the last committed one ended.
 *
 * A batch asks for each partition's end (its high watermark) first and
 * reads up to there, at most max_batch_rows messages in all; a partition
 * not in the position yet (a new query, or a partition added since) starts
 * at start_offset.
 *
 * Decoding. Each message becomes a row of the foreign table: json (keys
 * matched to column names), csv (fields in column order) or text (the
 * whole message into the one data column), converted with the columns'
 * input functions; columns with the option meta take the message's
 * partition, offset, timestamp, key or topic. A message that does not
 * decode goes to stream.errors with its partition, offset and payload,
 * and the batch goes on (on_error 'stop' fails the batch instead). The
 * whole batch is decoded in one subtransaction; only if that fails is it
 * decoded again message by message, each in its own, to find the bad ones.
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
#include "sources/sources.h"

#include <ctype.h>
#include <fcntl.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "access/reloptions.h"
#include "access/xact.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_type.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(kafka_fdw_handler);
PG_FUNCTION_INFO_V1(kafka_fdw_validator);

#define KAFKA_TIMEOUT_MS 10000	/* a broker that answers nothing for this long fails the batch */
#define KAFKA_LAG_TIMEOUT_MS 1000	/* stream.queries does not wait longer for the lag */

typedef enum KafkaMeta
{
	META_NONE,
	META_PARTITION,
	META_OFFSET,
	META_TIMESTAMP,
	META_KEY,
	META_TOPIC
} KafkaMeta;

static const char *const meta_names[] = {"", "partition", "offset", "timestamp", "key", "topic"};

/* a kafka foreign table, as a batch needs it */
typedef struct KafkaTable
{
	Oid			relid;
	Oid			serverid;
	char	   *relname;
	char	   *topic;
	char	   *partitions;		/* '0-3,7', or NULL for all */
	bool		start_latest;
	int64		start_offset;	/* a number, or -1 for earliest */
	bool		on_error_stop;
	TupleDesc	desc;
	KafkaMeta  *meta;			/* per attribute */
	PgsDecoder	dec;			/* of the columns without meta */
} KafkaTable;

/*------------------------------------------------------------------------
 * Options
 *------------------------------------------------------------------------
 */
static const char *const table_opts[] = {"topic", "format", "delimiter", "quote", "escape", "null",
	"partitions", "start_offset", "on_error", "event_time", "watermark", NULL};
static const char *const column_opts[] = {"meta", NULL};

static KafkaMeta
parse_meta(const char *v)
{
	for (int i = 1; i < lengthof(meta_names); i++)
		if (strcmp(v, meta_names[i]) == 0)
			return (KafkaMeta) i;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"meta\": \"%s\"", v),
			 errhint("Valid values are partition, offset, timestamp, key and topic.")));
	return META_NONE;
}

/* '0-3,7': is partition p in it? (NULL: all) ; also validates */
static bool
partition_selected(const char *spec, int32 p)
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

static void
parse_start_offset(const char *v, bool *latest, int64 *offset)
{
	*latest = false;
	*offset = -1;
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

		if (end == v || *end != '\0' || n < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid value for option \"start_offset\": \"%s\"", v),
					 errhint("Valid values are earliest, latest and an offset (a number).")));
		*offset = n;
	}
}

static KafkaTable *
kafka_table(Relation rel)
{
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));
	KafkaTable *kt = palloc0(sizeof(KafkaTable));
	TupleDesc	desc = RelationGetDescr(rel);
	ListCell   *lc;
	bool	   *data;

	kt->relid = RelationGetRelid(rel);
	kt->serverid = ft->serverid;
	kt->relname = pstrdup(RelationGetRelationName(rel));
	kt->start_offset = -1;
	foreach(lc, ft->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		char	   *v = defGetString(def);

		if (strcmp(def->defname, "topic") == 0)
			kt->topic = v;
		else if (strcmp(def->defname, "partitions") == 0)
			kt->partitions = v;
		else if (strcmp(def->defname, "start_offset") == 0)
			parse_start_offset(v, &kt->start_latest, &kt->start_offset);
		else if (strcmp(def->defname, "on_error") == 0)
			kt->on_error_stop = pgs_on_error_stop(def);
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
		data[i] = (kt->meta[i] == META_NONE);
	}
	pgs_decoder_init(&kt->dec, desc, data, ft->options, PGS_FORMAT_JSON,
					 psprintf("kafka stream \"%s\"", kt->relname));
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
static int	kafka_busy = 0;
static int	inserts_open = 0;

static void readers_unassign(void);

static void
kafka_xact_callback(XactEvent event, void *arg)
{
	kafka_busy = 0;
	inserts_open = 0;
	/* a session does not keep fetching for a REFRESH that is over */
	if (!pgs_am_worker() &&
		(event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		 event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT))
		readers_unassign();
}

/* a server or user mapping changed: make new clients at the next use */
static void readers_mark_stale(void);

static void
clients_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	clients_stale = true;
	readers_mark_stale();
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
 * from the catalogs (client_conf), each object is checked again as if
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
static void
conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
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
static rd_kafka_conf_t *
client_conf(Oid serverid, Oid userid, const char *const *more)
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

static void
register_callbacks(void)
{
	static bool registered = false;

	if (!registered)
	{
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, clients_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, clients_invalidate, (Datum) 0);
		/* who is a superuser decides which options are taken (client_conf) */
		CacheRegisterSyscacheCallback(AUTHOID, clients_invalidate, (Datum) 0);
		RegisterXactCallback(kafka_xact_callback, NULL);
		registered = true;
	}
}

/* stale handles go when none is in use */
static void
drop_stale_clients(void)
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
static rd_kafka_t *
find_client(rd_kafka_type_t type, Oid serverid, Oid userid)
{
	register_callbacks();
	drop_stale_clients();
	for (KafkaClient *c = clients; c; c = c->next)
		if (c->type == type && c->serverid == serverid && c->userid == userid)
			return c->rk;
	return NULL;
}

/* a new client from conf (which it takes), kept for the next uses */
static rd_kafka_t *
new_client(rd_kafka_type_t type, Oid serverid, Oid userid, rd_kafka_conf_t *conf)
{
	char		errstr[512];
	rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
	KafkaClient *c;

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
 * message; the prefetched messages of a reader (below) are bounded to
 * 16 MB, so a worker's memory stays small whatever the topic holds.
 */
static const char *const consumer_defaults[] = {
	"group.id", "pg_stream",
	"fetch.wait.max.ms", "10",
	"queued.max.messages.kbytes", "16384",
	NULL
};

static rd_kafka_t *
kafka_consumer(Oid serverid)
{
	Oid			userid = pgs_batchrun_user();
	rd_kafka_t *rk = find_client(RD_KAFKA_CONSUMER, serverid, userid);
	rd_kafka_conf_t *conf;

	if (rk)
		return rk;
	conf = client_conf(serverid, userid, consumer_defaults);
	/* what the reading depends on, whatever the options say */
	conf_set(conf, "enable.auto.commit", "false");
	conf_set(conf, "enable.auto.offset.store", "false");
	conf_set(conf, "enable.partition.eof", "true");
	rk = new_client(RD_KAFKA_CONSUMER, serverid, userid, conf);
	rd_kafka_poll_set_consumer(rk);
	return rk;
}

static void
kafka_fail(KafkaTable *kt, const char *what, rd_kafka_resp_err_t err)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("kafka stream \"%s\": %s of topic \"%s\": %s",
					kt->relname, what, kt->topic, rd_kafka_err2str(err))));
}

/* the partitions of the topic that the table reads, ascending */
static List *
topic_partitions(rd_kafka_t *rk, KafkaTable *kt, int timeout_ms)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, kt->topic, NULL);
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	List	   *parts = NIL;

	err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
	rd_kafka_topic_destroy(rkt);
	if (err)
		kafka_fail(kt, "could not read the metadata", err);
	if (md->topic_cnt != 1 || md->topics[0].err)
	{
		err = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
		rd_kafka_metadata_destroy(md);
		kafka_fail(kt, "could not read the metadata", err);
	}
	for (int i = 0; i < md->topics[0].partition_cnt; i++)
	{
		int32		p = md->topics[0].partitions[i].id;

		if (partition_selected(kt->partitions, p))
			parts = lappend_int(parts, p);
	}
	rd_kafka_metadata_destroy(md);
	list_sort(parts, list_int_cmp);
	return parts;
}

/*------------------------------------------------------------------------
 * Positions: the next offset of each partition
 *------------------------------------------------------------------------
 */
typedef struct PartPos
{
	int32		partition;
	int64		next;			/* next offset to read, or -1 if unknown */
	int64		low;
	int64		high;			/* end of the partition when the batch began */
} PartPos;

static int64
position_offset(Jsonb *position, int32 partition)
{
	char		key[16];

	snprintf(key, sizeof(key), "%d", partition);
	return position ? pgs_jsonb_get_int64(position, key, -1) : -1;
}

/* the new position: pp's offsets, and old's for the partitions not in pp */
static Jsonb *
positions_to_jsonb(PartPos *pp, int n, Jsonb *old)
{
	StringInfoData buf;
	bool		first = true;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int i = 0; i < n; i++)
	{
		if (pp[i].next < 0)
			continue;
		appendStringInfo(&buf, "%s\"%d\": " INT64_FORMAT, first ? "" : ", ",
						 pp[i].partition, pp[i].next);
		first = false;
	}
	if (old)
	{
		JsonbIterator *it = JsonbIteratorInit(&old->root);
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *key = NULL;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				key = pnstrdup(v.val.string.val, v.val.string.len);
			else if (tok == WJB_VALUE && key && v.type == jbvNumeric)
			{
				int32		p = pg_strtoint32(key);
				bool		found = false;

				for (int i = 0; i < n; i++)
					found |= (pp[i].partition == p);
				if (!found)
				{
					appendStringInfo(&buf, "%s\"%d\": %s", first ? "" : ", ", p,
									 DatumGetCString(DirectFunctionCall1(numeric_out,
																		 NumericGetDatum(v.val.numeric))));
					first = false;
				}
			}
		}
	}
	appendStringInfoChar(&buf, '}');
	return pgs_jsonb_from_cstring(buf.data);
}

/* each partition's watermarks, and where a batch starts in it */
static PartPos *
partition_positions(rd_kafka_t *rk, KafkaTable *kt, Jsonb *position, int *n,
					int timeout_ms)
{
	List	   *parts = topic_partitions(rk, kt, timeout_ms);
	PartPos    *pp = palloc0(sizeof(PartPos) * Max(list_length(parts), 1));
	ListCell   *lc;

	*n = list_length(parts);
	foreach(lc, parts)
	{
		PartPos    *p = &pp[foreach_current_index(lc)];
		rd_kafka_resp_err_t err;

		p->partition = lfirst_int(lc);
		err = rd_kafka_query_watermark_offsets(rk, kt->topic, p->partition,
											   &p->low, &p->high, timeout_ms);
		if (err)
			kafka_fail(kt, psprintf("could not read the offsets of partition %d", p->partition), err);
		p->next = position_offset(position, p->partition);
		if (p->next < 0)
		{
			/* not read yet: where start_offset says */
			if (kt->start_offset >= 0)
				p->next = kt->start_offset;
			else
				p->next = p->low;
		}
		if (p->next < p->low)
		{
			ereport(WARNING,
					(errmsg("kafka stream \"%s\": offsets " INT64_FORMAT " to " INT64_FORMAT " of partition %d are gone from the topic",
							kt->relname, p->next, p->low - 1, p->partition),
					 errdetail("The broker deleted them (retention) before they were read.")));
			p->next = p->low;
		}
		if (p->next > p->high)
			p->next = p->high;
	}
	return pp;
}

/*------------------------------------------------------------------------
 * Decoding
 *------------------------------------------------------------------------
 */
/* the messages of a batch, being decoded */
typedef struct KafkaDecode
{
	KafkaTable *kt;
	rd_kafka_message_t **msgs;
} KafkaDecode;

/* message i as a row of the foreign table: its meta columns, then the data */
static void
decode_message(void *arg, int64 i, Datum *values, bool *nulls)
{
	KafkaDecode *kd = arg;
	KafkaTable *kt = kd->kt;
	rd_kafka_message_t *m = kd->msgs[i];
	char	   *payload = palloc(m->len + 1);

	/* exactly len bytes (a NUL in them is the decoder's to refuse) */
	if (m->payload)
		memcpy(payload, m->payload, m->len);
	payload[m->payload ? m->len : 0] = '\0';

	for (int c = 0; c < kt->desc->natts; c++)
	{
		rd_kafka_timestamp_type_t tstype;
		int64		ts;

		switch (kt->meta[c])
		{
			case META_NONE:
				break;
			case META_PARTITION:
				values[c] = pgs_decoder_input(&kt->dec, c, psprintf("%d", m->partition));
				nulls[c] = false;
				break;
			case META_OFFSET:
				values[c] = pgs_decoder_input(&kt->dec, c, psprintf(INT64_FORMAT, (int64) m->offset));
				nulls[c] = false;
				break;
			case META_TIMESTAMP:
				ts = rd_kafka_message_timestamp(m, &tstype);
				if (tstype != RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
				{
					TimestampTz t;

					/* milliseconds since the Unix epoch */
					if (ts < 0 || ts > INT64CONST(9000000000000000) / 1000)
						ereport(ERROR,
								(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
								 errmsg("message timestamp " INT64_FORMAT " is out of range", ts)));
					t = (TimestampTz) ts * 1000 -
						((POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
					values[c] = pgs_decoder_input(&kt->dec, c, (char *) timestamptz_to_str(t));
					nulls[c] = false;
				}
				break;
			case META_KEY:
				if (m->key)
				{
					if (memchr(m->key, '\0', m->key_len))
						ereport(ERROR,
								(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
								 errmsg("the message key contains a NUL byte")));
					(void) pg_verifymbstr(m->key, m->key_len, false);
					values[c] = pgs_decoder_input(&kt->dec, c, pnstrdup(m->key, m->key_len));
					nulls[c] = false;
				}
				break;
			case META_TOPIC:
				values[c] = pgs_decoder_input(&kt->dec, c, kt->topic);
				nulls[c] = false;
				break;
		}
	}
	pgs_decode_record(&kt->dec, payload, m->len, values, nulls);
}

/* a message that did not decode: a dead letter in stream.errors */
static void
bad_message(void *arg, int64 i, const char *error)
{
	KafkaDecode *kd = arg;
	KafkaTable *kt = kd->kt;
	rd_kafka_message_t *m = kd->msgs[i];

	pgs_dead_letter(kt->relid, psprintf("kafka stream \"%s\"", kt->relname),
					pgs_jsonb_from_cstring(psprintf("{\"topic\": \"%s\", \"partition\": %d, \"offset\": " INT64_FORMAT "}",
													kt->topic, m->partition, (int64) m->offset)),
					psprintf("offset " INT64_FORMAT " of partition %d", (int64) m->offset, m->partition),
					m->payload, m->payload ? m->len : 0, error);
}

/* a batch's messages, decoded into its rows */
static void
decode_messages(KafkaTable *kt, rd_kafka_message_t **msgs, int64 n, SourceBatch *batch)
{
	KafkaDecode kd = {kt, msgs};

	batch->rows = tuplestore_begin_heap(false, false, work_mem);
	batch->rows_bad = pgs_decode_batch(kt->desc, n, decode_message, bad_message,
									   &kd, kt->on_error_stop, batch->rows);
}

static void
no_message_error(KafkaTable *kt)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("kafka stream \"%s\": no message from topic \"%s\" for %d s",
					kt->relname, kt->topic, KAFKA_TIMEOUT_MS / 1000)));
}

/*------------------------------------------------------------------------
 * Readers: a view's consumer of a stream, assigned from batch to batch
 *------------------------------------------------------------------------
 *
 * The batches of a view read a stream through a consumer of their own (one
 * per stream foreign table in a process), whose partitions stay assigned
 * from one batch to the next, at the offsets where the last batch ended.
 * So librdkafka fetches the next messages while a batch runs; a batch
 * that finds messages waiting asks the broker nothing; and librdkafka
 * writes to a pipe when a message comes into its empty queue, which wakes
 * the worker at once (Kafka itself wakes nobody). When librdkafka reports
 * that it lost every broker, the next batch asks the broker again, which
 * fails while it is away: the query then waits for its source.
 *
 * The position in stream.positions stays the truth: a batch first checks
 * that the consumer stands where the position says (the last batch
 * committed), and otherwise -- the batch rolled back, a REFRESH in another
 * session moved the view on, the table's options changed, the topic has
 * new partitions -- assigns the partitions again at the position, which
 * drops whatever was prefetched. Outside a worker, the partitions are
 * unassigned when the transaction ends: a session does not keep fetching
 * after its REFRESH.
 */
#define KAFKA_PARTITIONS_CHECK_MS 5000	/* how often a reader looks for new partitions */

typedef struct KafkaReader
{
	Oid			relid;
	Oid			serverid;
	Oid			userid;
	rd_kafka_t *rk;
	rd_kafka_queue_t *queue;	/* its consumer queue */
	int			wake[2];		/* librdkafka writes to [1] when a message is queued */
	bool		stale;			/* its server or user mapping changed */
	bool		down;			/* librdkafka reported all brokers down */
	bool		assigned;
	char	   *topic;			/* what is assigned: the topic, */
	char	   *partitions;		/* the option partitions, */
	int			nparts;
	PartPos    *parts;			/* each partition, with the next offset it delivers */
	TimestampTz checked;		/* when the topic's partitions were last listed */
	struct KafkaReader *next;
} KafkaReader;

static KafkaReader *readers = NULL;

static void
reader_forget(KafkaReader *r)
{
	r->assigned = false;
	if (r->topic)
		pfree(r->topic);
	if (r->partitions)
		pfree(r->partitions);
	if (r->parts)
		pfree(r->parts);
	r->topic = r->partitions = NULL;
	r->parts = NULL;
	r->nparts = 0;
}

static void
readers_unassign(void)
{
	for (KafkaReader *r = readers; r; r = r->next)
		if (r->assigned)
		{
			(void) rd_kafka_assign(r->rk, NULL);
			reader_forget(r);
		}
}

/*
 * A server or user mapping changed: each reader is made again when its
 * stream is read next (not before: another stream's batch may be waiting
 * on its pipe).
 */
static void
readers_mark_stale(void)
{
	for (KafkaReader *r = readers; r; r = r->next)
		r->stale = true;
}

static void
reader_destroy(KafkaReader *r)
{
	KafkaReader **prev = &readers;

	while (*prev != r)
		prev = &(*prev)->next;
	*prev = r->next;
	reader_forget(r);
	rd_kafka_queue_destroy(r->queue);
	rd_kafka_destroy(r->rk);
	close(r->wake[0]);
	close(r->wake[1]);
	pfree(r);
}

/* librdkafka's errors (served as a batch takes messages) */
static void
reader_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	KafkaReader *r = opaque;

	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || rd_kafka_fatal_error(rk, NULL, 0))
		r->down = true;
}

/* the process's reader of the stream */
static KafkaReader *
kafka_reader(KafkaTable *kt)
{
	Oid			userid = pgs_batchrun_user();
	KafkaReader *r;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char		errstr[512];
	int			wake[2];

	register_callbacks();
	drop_stale_clients();
	for (r = readers; r; r = r->next)
		if (r->relid == kt->relid && r->serverid == kt->serverid && r->userid == userid)
		{
			if (!r->stale)
				return r;
			reader_destroy(r);
			break;
		}

	conf = client_conf(kt->serverid, userid, consumer_defaults);
	/* what the reading depends on, whatever the options say */
	conf_set(conf, "enable.auto.commit", "false");
	conf_set(conf, "enable.auto.offset.store", "false");
	conf_set(conf, "enable.partition.eof", "false");
	/* offsets gone from the topic: tell us (a WARNING), do not skip silently */
	conf_set(conf, "auto.offset.reset", "error");
	r = MemoryContextAllocZero(TopMemoryContext, sizeof(KafkaReader));
	rd_kafka_conf_set_opaque(conf, r);
	rd_kafka_conf_set_error_cb(conf, reader_error);
	if (pipe2(wake, O_NONBLOCK | O_CLOEXEC) != 0)
	{
		pfree(r);
		rd_kafka_conf_destroy(conf);
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create a pipe: %m")));
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
	{
		pfree(r);
		close(wake[0]);
		close(wake[1]);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not create a Kafka consumer: %s", errstr)));
	}
	rd_kafka_poll_set_consumer(rk);
	r->relid = kt->relid;
	r->serverid = kt->serverid;
	r->userid = userid;
	r->rk = rk;
	r->queue = rd_kafka_queue_get_consumer(rk);
	r->wake[0] = wake[0];
	r->wake[1] = wake[1];
	rd_kafka_queue_io_event_enable(r->queue, wake[1], "m", 1);
	r->next = readers;
	readers = r;
	return r;
}

/* does the reader stand where position says, on the partitions kt reads? */
static bool
reader_at(KafkaReader *r, KafkaTable *kt, Jsonb *position)
{
	if (!r->assigned || strcmp(r->topic, kt->topic) != 0 ||
		strcmp(r->partitions, kt->partitions ? kt->partitions : "") != 0)
		return false;
	for (int i = 0; i < r->nparts; i++)
		if (position_offset(position, r->parts[i].partition) != r->parts[i].next)
			return false;
	if (TimestampDifferenceExceeds(r->checked, GetCurrentTimestamp(), KAFKA_PARTITIONS_CHECK_MS))
	{
		/* a partition added to the topic is read from the next batch on */
		List	   *parts = topic_partitions(r->rk, kt, KAFKA_TIMEOUT_MS);
		bool		same = list_length(parts) == r->nparts;

		for (int i = 0; same && i < r->nparts; i++)
			same = list_nth_int(parts, i) == r->parts[i].partition;
		if (!same)
			return false;
		r->checked = GetCurrentTimestamp();
	}
	return true;
}

/* assign the partitions kt reads at position (asking the broker) */
static void
reader_assign(KafkaReader *r, KafkaTable *kt, Jsonb *position)
{
	int			n;
	PartPos    *pp;
	rd_kafka_topic_partition_list_t *assign;
	rd_kafka_resp_err_t err;
	MemoryContext old;

	/* drop the old assignment and what it prefetched */
	(void) rd_kafka_assign(r->rk, NULL);
	reader_forget(r);
	pp = partition_positions(r->rk, kt, position, &n, KAFKA_TIMEOUT_MS);
	assign = rd_kafka_topic_partition_list_new(Max(n, 1));
	for (int i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(assign, kt->topic, pp[i].partition)->offset = pp[i].next;
	err = rd_kafka_assign(r->rk, assign);
	rd_kafka_topic_partition_list_destroy(assign);
	if (err)
		kafka_fail(kt, "could not assign the partitions", err);

	old = MemoryContextSwitchTo(TopMemoryContext);
	r->topic = pstrdup(kt->topic);
	r->partitions = pstrdup(kt->partitions ? kt->partitions : "");
	r->nparts = n;
	r->parts = palloc(sizeof(PartPos) * Max(n, 1));
	memcpy(r->parts, pp, sizeof(PartPos) * n);
	MemoryContextSwitchTo(old);
	r->checked = GetCurrentTimestamp();
	r->assigned = true;
}

/* is any message of the reader's partitions at the broker, not delivered yet? */
static bool
reader_behind(KafkaReader *r, KafkaTable *kt)
{
	for (int i = 0; i < r->nparts; i++)
	{
		int64		lo,
					hi;
		rd_kafka_resp_err_t err;

		err = rd_kafka_query_watermark_offsets(r->rk, kt->topic, r->parts[i].partition,
											   &lo, &hi, KAFKA_TIMEOUT_MS);
		if (err)
			kafka_fail(kt, psprintf("could not read the offsets of partition %d",
									r->parts[i].partition), err);
		if (r->parts[i].next < hi)
			return true;
	}
	return false;
}

/*
 * Take up to max messages from the reader's queue into msgs, waiting at
 * most timeout_ms for the first one. Returns how many; *lost is set when
 * the reader must be assigned again (offsets gone from the topic).
 */
static int
reader_take(KafkaReader *r, KafkaTable *kt, rd_kafka_message_t **msgs, int max,
			int timeout_ms, bool *lost)
{
	rd_kafka_message_t *got[1024];
	ssize_t		n;
	int			taken = 0;

	n = rd_kafka_consume_batch_queue(r->queue, timeout_ms, got, Min(max, lengthof(got)));
	if (n < 0)
		kafka_fail(kt, "could not read", rd_kafka_last_error());
	for (int j = 0; j < n; j++)
	{
		rd_kafka_message_t *m = got[j];
		PartPos    *p = NULL;

		for (int i = 0; i < r->nparts; i++)
			if (r->parts[i].partition == m->partition)
				p = &r->parts[i];
		if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
		{
			/* the next batch starts where the broker still has messages */
			*lost = true;
			m->err = 0;
			p = NULL;
		}
		if (m->err)
		{
			char	   *msg = pstrdup(rd_kafka_message_errstr(m));

			for (int k = j; k < n; k++)
				rd_kafka_message_destroy(got[k]);
			for (int k = 0; k < taken; k++)
				rd_kafka_message_destroy(msgs[k]);
			r->assigned = false;
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("kafka stream \"%s\": could not read topic \"%s\": %s",
							kt->relname, kt->topic, msg)));
		}
		if (p == NULL || m->offset < p->next || *lost)
		{
			/* not ours (any more), or read already */
			rd_kafka_message_destroy(m);
			continue;
		}
		msgs[taken++] = m;
		p->next = m->offset + 1;
	}
	return taken;
}

/* forget that the pipe was written to: the queue is looked at next */
static void
reader_drain_wake(KafkaReader *r)
{
	char		buf[64];

	while (read(r->wake[0], buf, sizeof(buf)) > 0)
		;
}

/*
 * A batch of a view: the messages after position, at most max_rows, from
 * the reader. In a worker, a batch that finds none queued ends at once and
 * the worker waits on the pipe; elsewhere (a REFRESH, which must not stop
 * short of its mark) it asks the broker whether any are there, and if so
 * waits for them.
 */
static void
kafka_read_view(KafkaTable *kt, Jsonb *position, int64 max_rows, SourceBatch *batch)
{
	KafkaReader *r = kafka_reader(kt);
	int64		nmsgs = 0;
	int64		alloc = 1024;
	rd_kafka_message_t **msgs = palloc(sizeof(rd_kafka_message_t *) * alloc);
	bool		lost = false;
	bool		fresh = false;
	PartPos    *pp;

	reader_drain_wake(r);
	if (r->down)
	{
		/* librdkafka lost every broker since: ask again, from the position */
		r->down = false;
		r->assigned = false;
	}
	if (!reader_at(r, kt, position))
	{
		reader_assign(r, kt, position);
		fresh = true;
	}
	kafka_busy++;
	PG_TRY();
	{
		TimestampTz last_progress = GetCurrentTimestamp();
		bool		asked = false;

		while (max_rows < 0 || nmsgs < max_rows)
		{
			int			want = max_rows < 0 ? 1024 : (int) Min(1024, max_rows - nmsgs);
			int			n;

			if (nmsgs + want > alloc)
			{
				alloc *= 2;
				msgs = repalloc(msgs, sizeof(rd_kafka_message_t *) * alloc);
			}
			n = reader_take(r, kt, msgs + nmsgs, want, 0, &lost);
			nmsgs += n;
			if (lost || (n == 0 && nmsgs > 0))
				break;			/* the queue is empty: that is the batch */
			if (n > 0)
				continue;
			/*
			 * Nothing queued: a worker waits on the pipe, unless the
			 * partitions were just assigned (a batch that failed must
			 * fail again, not pass for an empty one).
			 */
			if (pgs_am_worker() && !fresh)
				break;
			if (!asked)
			{
				asked = true;
				if (!reader_behind(r, kt))
					break;
			}
			CHECK_FOR_INTERRUPTS();
			n = reader_take(r, kt, msgs, want, 100, &lost);
			nmsgs += n;
			if (n > 0 || lost)
				last_progress = GetCurrentTimestamp();
			else if (TimestampDifferenceExceeds(last_progress, GetCurrentTimestamp(), KAFKA_TIMEOUT_MS))
				no_message_error(kt);
		}
		decode_messages(kt, msgs, nmsgs, batch);
	}
	PG_FINALLY();
	{
		for (int64 i = 0; i < nmsgs; i++)
			rd_kafka_message_destroy(msgs[i]);
		kafka_busy--;
	}
	PG_END_TRY();

	/* the reader's offsets are the batch's end */
	pp = palloc(sizeof(PartPos) * Max(r->nparts, 1));
	memcpy(pp, r->parts, sizeof(PartPos) * r->nparts);
	batch->nrows = nmsgs;
	batch->start_position = position;
	batch->end_position = positions_to_jsonb(pp, r->nparts, position);
	if (lost)
		r->assigned = false;
	batch->more = lost || (max_rows >= 0 && nmsgs >= max_rows);
	batch->wait_ms = batch->more ? 0 : -1;
	batch->has_wait_fd = !batch->more;
	batch->wait_fd = r->wake[0];
}

/*------------------------------------------------------------------------
 * The source
 *------------------------------------------------------------------------
 */

/* a new query: earliest (nothing read), latest (the ends now) or a number */
static Jsonb *
kafka_initial_position(Relation rel)
{
	KafkaTable *kt = kafka_table(rel);
	rd_kafka_t *rk;
	PartPos    *pp;
	int			n;

	if (!kt->start_latest)
		return pgs_jsonb_from_cstring("{}");
	rk = kafka_consumer(kt->serverid);
	pp = partition_positions(rk, kt, NULL, &n, KAFKA_TIMEOUT_MS);
	for (int i = 0; i < n; i++)
		pp[i].next = pp[i].high;
	return positions_to_jsonb(pp, n, NULL);
}

/*
 * A read of what the topic holds now (a SELECT of the foreign table, not
 * a view's batch): each partition up to its end when the read began, with
 * the backend's consumer, unassigned afterwards.
 */
static void
kafka_read_now(KafkaTable *kt, int64 max_rows, SourceBatch *batch)
{
	rd_kafka_t *rk = kafka_consumer(kt->serverid);
	int			nparts;
	PartPos    *pp = partition_positions(rk, kt, NULL, &nparts, KAFKA_TIMEOUT_MS);
	rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(Max(nparts, 1));
	int			pending = 0;
	int64		nmsgs = 0;
	int64		alloc = 1024;
	rd_kafka_message_t **msgs = palloc(sizeof(rd_kafka_message_t *) * alloc);
	rd_kafka_resp_err_t err;
	bool		cut = false;
	TimestampTz last_progress = GetCurrentTimestamp();

	if (kt->start_latest)
	{
		/* a 'latest' stream: nothing yet */
		for (int i = 0; i < nparts; i++)
			pp[i].next = pp[i].high;
	}
	for (int i = 0; i < nparts; i++)
		if (pp[i].next < pp[i].high)
		{
			rd_kafka_topic_partition_list_add(assign, kt->topic, pp[i].partition)->offset = pp[i].next;
			pending++;
		}

	if (pending > 0)
	{
		err = rd_kafka_assign(rk, assign);
		if (err)
		{
			rd_kafka_topic_partition_list_destroy(assign);
			kafka_fail(kt, "could not assign the partitions", err);
		}
	}
	kafka_busy++;
	PG_TRY();
	{
		while (pending > 0)
		{
			rd_kafka_message_t *m;
			PartPos    *p = NULL;

			if (max_rows >= 0 && nmsgs >= max_rows)
			{
				cut = true;
				break;
			}
			CHECK_FOR_INTERRUPTS();
			m = rd_kafka_consumer_poll(rk, 100);
			if (m == NULL)
			{
				if (TimestampDifferenceExceeds(last_progress, GetCurrentTimestamp(), KAFKA_TIMEOUT_MS))
					no_message_error(kt);
				continue;
			}
			last_progress = GetCurrentTimestamp();
			for (int i = 0; i < nparts; i++)
				if (pp[i].partition == m->partition)
					p = &pp[i];
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			{
				/* at the end: whatever it said at the start, nothing more now */
				if (p && p->next < p->high)
				{
					p->high = p->next;
					pending--;
				}
				rd_kafka_message_destroy(m);
				continue;
			}
			if (m->err)
			{
				char	   *msg = pstrdup(rd_kafka_message_errstr(m));

				rd_kafka_message_destroy(m);
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
						 errmsg("kafka stream \"%s\": could not read topic \"%s\": %s",
								kt->relname, kt->topic, msg)));
			}
			if (p == NULL || m->offset < p->next || p->next >= p->high)
			{
				/* not ours, read already, or past the batch's end */
				rd_kafka_message_destroy(m);
				continue;
			}
			if (nmsgs == alloc)
			{
				alloc *= 2;
				msgs = repalloc(msgs, sizeof(rd_kafka_message_t *) * alloc);
			}
			msgs[nmsgs++] = m;
			p->next = m->offset + 1;
			if (p->next >= p->high)
				pending--;
		}
		decode_messages(kt, msgs, nmsgs, batch);
	}
	PG_FINALLY();
	{
		for (int64 i = 0; i < nmsgs; i++)
			rd_kafka_message_destroy(msgs[i]);
		rd_kafka_assign(rk, NULL);
		rd_kafka_topic_partition_list_destroy(assign);
		kafka_busy--;
	}
	PG_END_TRY();

	batch->nrows = nmsgs;
	batch->more = cut;
	batch->wait_ms = -1;
}

static void
kafka_read(Relation rel, Jsonb *position, int64 max_rows, SourceBatch *batch)
{
	KafkaTable *kt = kafka_table(rel);

	if (position)
		kafka_read_view(kt, position, max_rows, batch);
	else
		kafka_read_now(kt, max_rows, batch);
}

typedef struct KafkaLag
{
	KafkaTable *kt;
	Jsonb	   *position;
	int64		lag;
} KafkaLag;

static void
kafka_lag_of(void *arg)
{
	KafkaLag   *l = arg;
	int			n;
	PartPos    *pp = partition_positions(kafka_consumer(l->kt->serverid), l->kt, l->position,
										 &n, KAFKA_LAG_TIMEOUT_MS);

	for (int i = 0; i < n; i++)
		l->lag += pp[i].high - pp[i].next;
}

static int64
kafka_lag(Relation rel, Jsonb *position)
{
	KafkaLag	l = {kafka_table(rel), position, 0};
	ErrorData  *edata = pgs_try(kafka_lag_of, &l);

	/*
	 * The broker away, or options refused when the client is made, make the
	 * lag unknown, not stream.queries fail
	 */
	if (edata == NULL)
		return l.lag;
	if (edata->sqlerrcode != ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION &&
		edata->sqlerrcode != ERRCODE_INSUFFICIENT_PRIVILEGE &&
		edata->sqlerrcode != ERRCODE_FDW_INVALID_OPTION_NAME &&
		edata->sqlerrcode != ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE)
		ReThrowError(edata);
	FreeErrorData(edata);
	return -1;
}

/* the input available now: every partition's end */
static Jsonb *
kafka_mark(Relation rel)
{
	KafkaTable *kt = kafka_table(rel);
	int			n;
	PartPos    *pp = partition_positions(kafka_consumer(kt->serverid), kt, NULL, &n,
									  KAFKA_TIMEOUT_MS);

	for (int i = 0; i < n; i++)
		pp[i].next = pp[i].high;
	return positions_to_jsonb(pp, n, NULL);
}

static bool
kafka_reached(Relation rel, Jsonb *position, Jsonb *mark)
{
	KafkaTable *kt = kafka_table(rel);
	int			n;
	PartPos    *pp = partition_positions(kafka_consumer(kt->serverid), kt, position, &n,
									  KAFKA_TIMEOUT_MS);

	for (int i = 0; i < n; i++)
		if (pp[i].next < position_offset(mark, pp[i].partition))
			return false;
	return true;
}

const SourceRoutine kafka_source = {
	.name = "kafka",
	.initial_position = kafka_initial_position,
	.read = kafka_read,
	.lag = kafka_lag,
	.mark = kafka_mark,
	.reached = kafka_reached,
};

/*------------------------------------------------------------------------
 * INSERT: one message per row
 *------------------------------------------------------------------------
 *
 * Each row becomes a message in the table's format (a JSON object of the
 * non-meta columns by default); a column with meta 'key' gives the
 * message's key, one with meta 'partition' its partition (else the
 * producer's partitioner chooses, by key). Messages are sent as the
 * statement runs, and the statement ends once the brokers have
 * acknowledged every one of them (or fails). Kafka does not take part in
 * the PostgreSQL transaction: a transaction that rolls back afterwards
 * does not take its messages back, and a retried one sends them again.
 * So delivery is at-least-once.
 */
/*
 * Delivery reports (called from rd_kafka_poll/flush, in this thread). Each
 * message carries the generation of the INSERT statement that sent it: a
 * report for an earlier, failed statement counts for nothing.
 */
static uint64 insert_gen = 0;
static int64 delivery_failures = 0;
static rd_kafka_resp_err_t delivery_error = RD_KAFKA_RESP_ERR_NO_ERROR;

static void
delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	if (m->err && (uintptr_t) m->_private == insert_gen)
	{
		delivery_failures++;
		delivery_error = m->err;
	}
}

static rd_kafka_t *
kafka_producer(Oid serverid)
{
	Oid			userid = GetUserId();	/* who inserts */
	rd_kafka_t *rk = find_client(RD_KAFKA_PRODUCER, serverid, userid);
	rd_kafka_conf_t *conf;
	static const char *const producer_defaults[] = {"linger.ms", "5", NULL};

	if (rk)
		return rk;
	conf = client_conf(serverid, userid, producer_defaults);
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
	return new_client(RD_KAFKA_PRODUCER, serverid, userid, conf);
}

typedef struct KafkaInsertState
{
	KafkaTable *kt;
	rd_kafka_t *rk;
	PgsEncoder	enc;
	StringInfoData buf;
	MemoryContext rowcxt;
	int64		sent;
} KafkaInsertState;

static void
kafka_deliver(KafkaInsertState *st)
{
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	TimestampTz start = GetCurrentTimestamp();

	/* wait for the reports, cancellably */
	while (rd_kafka_outq_len(st->rk) > 0)
	{
		CHECK_FOR_INTERRUPTS();
		(void) rd_kafka_flush(st->rk, 100);
		if (rd_kafka_outq_len(st->rk) > 0 &&
			TimestampDifferenceExceeds(start, GetCurrentTimestamp(), KAFKA_TIMEOUT_MS * 3))
		{
			err = RD_KAFKA_RESP_ERR__TIMED_OUT;
			break;
		}
	}
	inserts_open = Max(inserts_open - 1, 0);
	if (inserts_open == 0)
		kafka_busy = Max(kafka_busy - 1, 0);
	if (err || delivery_failures > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("kafka stream \"%s\": %lld of " INT64_FORMAT " messages to topic \"%s\" were not delivered: %s",
						st->kt->relname,
						(long long) (err ? rd_kafka_outq_len(st->rk) : delivery_failures),
						st->sent, st->kt->topic,
						rd_kafka_err2str(err ? err : delivery_error))));
}

static TupleTableSlot *
kafka_ExecForeignInsert(EState *estate, ResultRelInfo *rinfo,
						TupleTableSlot *slot, TupleTableSlot *planSlot)
{
	KafkaInsertState *st = rinfo->ri_FdwState;
	KafkaTable *kt = st->kt;
	MemoryContext old = MemoryContextSwitchTo(st->rowcxt);
	char	   *key = NULL;
	int32		partition = RD_KAFKA_PARTITION_UA;
	rd_kafka_resp_err_t err;

	slot_getallattrs(slot);
	for (int i = 0; i < kt->desc->natts; i++)
	{
		if (slot->tts_isnull[i])
			continue;
		if (kt->meta[i] == META_KEY)
			key = OutputFunctionCall(&st->enc.outfuncs[i], slot->tts_values[i]);
		else if (kt->meta[i] == META_PARTITION)
			partition = pg_strtoint32(OutputFunctionCall(&st->enc.outfuncs[i], slot->tts_values[i]));
	}
	pgs_encode_row(&st->enc, slot, &st->buf);
	for (;;)
	{
		err = rd_kafka_producev(st->rk,
								RD_KAFKA_V_TOPIC(kt->topic),
								RD_KAFKA_V_PARTITION(partition),
								RD_KAFKA_V_VALUE(st->buf.data, st->buf.len),
								RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
								RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
								RD_KAFKA_V_OPAQUE((void *) (uintptr_t) insert_gen),
								RD_KAFKA_V_END);
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		/* the local queue is full: let deliveries drain it */
		rd_kafka_poll(st->rk, 100);
		CHECK_FOR_INTERRUPTS();
	}
	if (err)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("kafka stream \"%s\": could not produce to topic \"%s\": %s",
						kt->relname, kt->topic, rd_kafka_err2str(err))));
	st->sent++;
	rd_kafka_poll(st->rk, 0);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rowcxt);
	return slot;
}

static void
kafka_begin_insert(ResultRelInfo *rinfo)
{
	KafkaInsertState *st = palloc0(sizeof(KafkaInsertState));
	Relation	rel = rinfo->ri_RelationDesc;

	st->kt = kafka_table(rel);
	st->rk = kafka_producer(st->kt->serverid);
	pgs_encoder_init(&st->enc, &st->kt->dec);
	initStringInfo(&st->buf);
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "kafka insert", ALLOCSET_DEFAULT_SIZES);
	/* one generation per statement, even over several partitions' inserts */
	if (inserts_open++ == 0)
	{
		insert_gen++;
		delivery_failures = 0;
		delivery_error = RD_KAFKA_RESP_ERR_NO_ERROR;
		kafka_busy++;
	}
	rinfo->ri_FdwState = st;
}

static void
kafka_BeginForeignModify(ModifyTableState *mtstate, ResultRelInfo *rinfo,
						 List *fdw_private, int subplan_index, int eflags)
{
	if (eflags & EXEC_FLAG_EXPLAIN_ONLY)
		return;
	kafka_begin_insert(rinfo);
}

static void
kafka_EndForeignModify(EState *estate, ResultRelInfo *rinfo)
{
	if (rinfo->ri_FdwState)
		kafka_deliver(rinfo->ri_FdwState);
}

static void
kafka_BeginForeignInsert(ModifyTableState *mtstate, ResultRelInfo *rinfo)
{
	kafka_begin_insert(rinfo);
}

static void
kafka_EndForeignInsert(EState *estate, ResultRelInfo *rinfo)
{
	kafka_deliver(rinfo->ri_FdwState);
}

static List *
kafka_PlanForeignModify(PlannerInfo *root, ModifyTable *plan,
						Index resultRelation, int subplan_index)
{
	return NIL;
}

static int
kafka_IsForeignRelUpdatable(Relation rel)
{
	return (1 << CMD_INSERT);
}

/*------------------------------------------------------------------------
 * IMPORT FOREIGN SCHEMA: a table per topic, columns from sample messages
 *------------------------------------------------------------------------
 *
 * IMPORT FOREIGN SCHEMA <any name> [LIMIT TO (topics) | EXCEPT (topics)]
 * FROM SERVER s INTO schema reads up to IMPORT_SAMPLE messages of each
 * topic (from the start of its partitions) and makes one column per JSON
 * key, in the order keys first appear, typed by the values seen: bigint
 * (whole numbers), numeric (other numbers), boolean, timestamptz (strings
 * in ISO 8601 date-time form), jsonb (objects and arrays), else text; a
 * key whose values disagree is text. A topic whose sample holds no JSON
 * object gets one column "value" of format text. Kafka has no schemas:
 * the remote schema's name is ignored.
 */
#define IMPORT_SAMPLE 100

/* up to IMPORT_SAMPLE messages of a topic, from the start of its partitions */
static List *
sample_topic(rd_kafka_t *rk, const char *topic, const rd_kafka_metadata_topic_t *mt,
			 bool *any_json, int *nsampled)
{
	rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(Max(mt->partition_cnt, 1));
	List	   *keys = NIL;
	int			pending = 0;
	TimestampTz start = GetCurrentTimestamp();

	*any_json = false;
	*nsampled = 0;
	for (int i = 0; i < mt->partition_cnt; i++)
	{
		int64		lo,
					hi;

		if (rd_kafka_query_watermark_offsets(rk, topic, mt->partitions[i].id, &lo, &hi,
											 KAFKA_TIMEOUT_MS) == 0 && lo < hi)
		{
			rd_kafka_topic_partition_list_add(assign, topic, mt->partitions[i].id)->offset = lo;
			pending++;
		}
	}
	if (pending > 0 && rd_kafka_assign(rk, assign) == 0)
	{
		PG_TRY();
		{
			while (pending > 0 && *nsampled < IMPORT_SAMPLE &&
				   !TimestampDifferenceExceeds(start, GetCurrentTimestamp(), KAFKA_TIMEOUT_MS))
			{
				rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

				CHECK_FOR_INTERRUPTS();
				if (m == NULL)
					continue;
				if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
					pending--;
				else if (m->err == 0)
				{
					size_t		len = m->len;
					char	   *payload = palloc(len + 1);

					/* the message is let go before anything can fail */
					memcpy(payload, m->payload ? m->payload : "", m->payload ? len : 0);
					payload[len] = '\0';
					rd_kafka_message_destroy(m);
					m = NULL;
					(*nsampled)++;
					*any_json |= pgs_sample_json(payload, len, &keys);
					pfree(payload);
				}
				if (m)
					rd_kafka_message_destroy(m);
			}
		}
		PG_FINALLY();
		{
			rd_kafka_assign(rk, NULL);
		}
		PG_END_TRY();
	}
	rd_kafka_topic_partition_list_destroy(assign);
	return keys;
}

static List *
kafka_ImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	rd_kafka_t *rk = kafka_consumer(serverOid);
	const struct rd_kafka_metadata *md;
	rd_kafka_resp_err_t err;
	List	   *commands = NIL;
	ForeignServer *server = GetForeignServer(serverOid);

	err = rd_kafka_metadata(rk, 1, NULL, &md, KAFKA_TIMEOUT_MS);
	if (err)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("could not list the topics of server \"%s\": %s",
						server->servername, rd_kafka_err2str(err))));
	PG_TRY();
	{
		for (int t = 0; t < md->topic_cnt; t++)
		{
			const rd_kafka_metadata_topic_t *mt = &md->topics[t];
			const char *topic = mt->topic;
			bool		listed = false;
			bool		any_json;
			int			nsampled;
			int			ncols;
			List	   *keys;
			ListCell   *lc;
			StringInfoData sql;

			if (mt->err || strncmp(topic, "__", 2) == 0)
				continue;		/* Kafka's own topics */
			foreach(lc, stmt->table_list)
				listed |= (strcmp(((RangeVar *) lfirst(lc))->relname, topic) == 0);
			if ((stmt->list_type == FDW_IMPORT_SCHEMA_LIMIT_TO && !listed) ||
				(stmt->list_type == FDW_IMPORT_SCHEMA_EXCEPT && listed))
				continue;

			keys = sample_topic(rk, topic, mt, &any_json, &nsampled);
			initStringInfo(&sql);
			appendStringInfo(&sql, "CREATE FOREIGN TABLE %s (", quote_identifier(topic));
			ncols = sql.len;
			if (any_json &&
				pgs_sample_columns(&sql, keys, psprintf("kafka topic \"%s\"", topic)) > 0)
				appendStringInfo(&sql, ") SERVER %s OPTIONS (topic %s, format 'json')",
								 quote_identifier(server->servername), quote_literal_cstr(topic));
			else
			{
				sql.len = ncols;	/* no JSON key: one text column */
				sql.data[ncols] = '\0';
				appendStringInfo(&sql, "value text) SERVER %s OPTIONS (topic %s, format 'text')",
								 quote_identifier(server->servername), quote_literal_cstr(topic));
			}
			ereport(DEBUG1,
					(errmsg("kafka topic \"%s\": %d messages sampled", topic, nsampled)));
			commands = lappend(commands, sql.data);
		}
	}
	PG_FINALLY();
	{
		rd_kafka_metadata_destroy(md);
	}
	PG_END_TRY();
	return commands;
}

/*------------------------------------------------------------------------
 * The FDW
 *------------------------------------------------------------------------
 */
Datum
kafka_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	pgs_fdw_scan_routines(routine);
	routine->PlanForeignModify = kafka_PlanForeignModify;
	routine->BeginForeignModify = kafka_BeginForeignModify;
	routine->ExecForeignInsert = kafka_ExecForeignInsert;
	routine->EndForeignModify = kafka_EndForeignModify;
	routine->BeginForeignInsert = kafka_BeginForeignInsert;
	routine->EndForeignInsert = kafka_EndForeignInsert;
	routine->IsForeignRelUpdatable = kafka_IsForeignRelUpdatable;
	routine->ImportForeignSchema = kafka_ImportForeignSchema;
	PG_RETURN_POINTER(routine);
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
check_topic(const char *topic)
{
	size_t		len = strlen(topic);

	if (len == 0 || len > 249 || strcmp(topic, ".") == 0 || strcmp(topic, "..") == 0 ||
		strspn(topic, KAFKA_NAME_CHARS) != len)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("invalid value for option \"topic\": \"%s\"", topic),
				 errdetail("A Kafka topic name has 1 to 249 letters, digits and the characters . _ -.")));
}

Datum
kafka_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
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
		PG_RETURN_VOID();
	}
	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		char	   *v = defGetString(def);

		if (catalog == ForeignTableRelationId)
		{
			if (strcmp(def->defname, "topic") == 0)
			{
				check_topic(v);
				has_topic = true;
			}
			else if (pgs_format_option(def, false))
				;
			else if (strcmp(def->defname, "partitions") == 0)
				(void) partition_selected(v, -1);	/* -1 is in no range: all of it is parsed */
			else if (strcmp(def->defname, "start_offset") == 0)
			{
				bool		l;
				int64		o;

				parse_start_offset(v, &l, &o);
			}
			else if (strcmp(def->defname, "on_error") == 0)
				(void) pgs_on_error_stop(def);
			else if (!pgs_event_time_option(def))
				pgs_reject_unknown_option(def->defname, table_opts, "a kafka stream");
		}
		else if (catalog == AttributeRelationId)
		{
			if (strcmp(def->defname, "meta") == 0)
				(void) parse_meta(v);
			else
				pgs_reject_unknown_option(def->defname, column_opts, "a column of a kafka stream");
		}
		else
			pgs_reject_unknown_option(def->defname, NULL,
									  "foreign-data wrapper \"kafka\" in this context");
	}
	if (catalog == ForeignTableRelationId && !has_topic)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a kafka stream needs option \"topic\"")));
	PG_RETURN_VOID();
}
