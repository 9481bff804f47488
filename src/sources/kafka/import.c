/*-------------------------------------------------------------------------
 *
 * import.c
 *	  IMPORT FOREIGN SCHEMA from a kafka server: a table per topic.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "formats/formats.h"
#include "sources/kafka/kafka_int.h"

#include <librdkafka/rdkafka.h>

#include "foreign/foreign.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

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

List *
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
