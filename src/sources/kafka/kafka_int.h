/*-------------------------------------------------------------------------
 *
 * kafka_int.h
 *	  What the files of the kafka source share, and nothing else.
 *
 * The kafka source is seven files, which include this header (nothing else
 * does): conf.c (options and their checks, who may set which librdkafka
 * property, the clients and their configurations), reader.c (positions,
 * decoding, the readers, the source routine), producer.c (INSERT),
 * outbox.c (exactly-once sinks), share.c (the shares of a view with
 * parallelism > 1), registry.c (format 'avro': the schema
 * registry, over HTTP) and import.c (IMPORT FOREIGN SCHEMA). The FDW's
 * handler and validator are the kit's (sources/source.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_KAFKA_INT_H
#define PGS_KAFKA_INT_H

#include "formats/formats.h"
#include "sources/sources.h"

#include <librdkafka/rdkafka.h>

#include "nodes/parsenodes.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#define KAFKA_TIMEOUT_MS 10000	/* a broker that answers nothing for this long fails the batch */
#define KAFKA_DEFAULT_PROGRESS_TOPIC "pg_stream-progress"

typedef enum KafkaMeta
{
	META_NONE,
	META_PARTITION,
	META_OFFSET,
	META_TIMESTAMP,
	META_KEY,
	META_TOPIC,
	META_HEADERS
} KafkaMeta;

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
	bool		start_at_time;	/* start_offset is a time: */
	TimestampTz start_time;		/* the first offset at or after it */
	bool		on_error_stop;
	bool		exactly_once;	/* as a sink: delivery (outbox.c) */
	char	   *progress_topic; /* where its deliveries are recorded */
	TupleDesc	desc;
	KafkaMeta  *meta;			/* per attribute */
	PgsDecoder	dec;			/* of the columns without meta */
	bool		avro;			/* format 'avro' (dec is then only for meta columns) */
	char	   *avro_schema;	/* option avro_schema, or NULL */
	char	   *registry;		/* the server's schema_registry, or NULL */
	void	   *avro_table;		/* registry.c's, once looked up in this batch */
} KafkaTable;

/* in conf.c: options */
extern KafkaTable *kafka_table(Relation rel);
extern bool kafka_partition_selected(const char *spec, int32 p);

/* share.c */
extern Jsonb *kafka_merge_share(Jsonb *now, Jsonb *start, Jsonb *end);
extern bool kafka_parse_delivery(const char *value);
extern const SourceOption kafka_options[];
extern bool kafka_other_option(DefElem *def, Oid catalog);
extern void kafka_validate(List *options, Oid catalog);

/* in conf.c: clients, one of each per server and user in a backend */
extern int	kafka_busy;			/* reads, INSERTs, IMPORTs under way */
extern int	kafka_inserts_open;	/* INSERTs begun, not yet delivered */
extern const char *const kafka_consumer_defaults[];
extern rd_kafka_conf_t *kafka_client_conf(Oid serverid, Oid userid, const char *const *more);
extern void kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value);
extern void kafka_register_callbacks(void);
extern void kafka_drop_stale_clients(void);
extern rd_kafka_t *kafka_find_client(rd_kafka_type_t type, Oid serverid, Oid userid);
extern void kafka_tune_malloc(void);
extern rd_kafka_t *kafka_new_client(rd_kafka_type_t type, Oid serverid, Oid userid,
									rd_kafka_conf_t *conf);
extern rd_kafka_t *kafka_consumer(Oid serverid);

/* in reader.c: the readers, told by conf.c's callbacks */
extern void kafka_readers_unassign(void);
extern void kafka_readers_mark_stale(void);

/* in producer.c: INSERT */
extern void *kafka_insert_begin(ResultRelInfo *rinfo, EState *estate);
extern void kafka_insert_row(void *state, TupleTableSlot *slot);
extern void kafka_insert_end(void *state);

/* in outbox.c: exactly-once sinks */
typedef struct KafkaOutbox KafkaOutbox;
extern KafkaOutbox *kafka_outbox_begin(KafkaTable *kt);
extern void kafka_outbox_add(KafkaOutbox *ob, const char *key, const char *value, int len,
							 int32 partition, rd_kafka_headers_t *hdrs);
extern void kafka_outbox_end(KafkaOutbox *ob);

/* in registry.c: format 'avro', and the schema registry */
extern void kafka_check_registry_url(const char *url);
extern char *kafka_server_registry(Oid serverid);
extern void kafka_avro_prefetch(KafkaTable *kt, rd_kafka_message_t **msgs, int64 n);
extern void kafka_avro_decode(KafkaTable *kt, rd_kafka_message_t *m, Datum *values, bool *nulls);
extern void kafka_avro_encode(KafkaTable *kt, TupleTableSlot *slot, StringInfo buf);

/* in import.c */
extern List *kafka_ImportForeignSchema(ImportForeignSchemaStmt *stmt, Oid serverOid);

#endif							/* PGS_KAFKA_INT_H */
