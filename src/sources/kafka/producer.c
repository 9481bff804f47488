/*-------------------------------------------------------------------------
 *
 * producer.c
 *	  INSERT into a kafka stream: one message per row (the kit's INSERT,
 *	  sources/source.c, calls kafka_insert_begin, _row and _end).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "formats/formats.h"
#include "sources/sources.h"
#include "sources/kafka/kafka_int.h"

#include <librdkafka/rdkafka.h>

#include "executor/executor.h"
#include "foreign/fdwapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

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
 * So delivery is at-least-once. A batch's delivery to a sink with
 * delivery 'exactly_once' appends the messages to the outbox instead
 * (outbox.c).
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
	rd_kafka_t *rk = kafka_find_client(RD_KAFKA_PRODUCER, serverid, userid);
	rd_kafka_conf_t *conf;
	static const char *const producer_defaults[] = {"linger.ms", "5", NULL};

	if (rk)
		return rk;
	conf = kafka_client_conf(serverid, userid, producer_defaults);
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
	return kafka_new_client(RD_KAFKA_PRODUCER, serverid, userid, conf);
}

typedef struct KafkaInsertState
{
	KafkaTable *kt;
	rd_kafka_t *rk;
	PgsEncoder	enc;
	StringInfoData buf;
	MemoryContext rowcxt;
	int64		sent;
	KafkaOutbox *outbox;		/* an exactly-once sink's batch: no producing */
} KafkaInsertState;

/* the statement's end: every message delivered, or an error */
void
kafka_insert_end(void *state)
{
	KafkaInsertState *st = state;
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	TimestampTz start = GetCurrentTimestamp();

	if (st->outbox)
	{
		kafka_outbox_end(st->outbox);
		return;
	}
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
	kafka_inserts_open = Max(kafka_inserts_open - 1, 0);
	if (kafka_inserts_open == 0)
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

void
kafka_insert_row(void *state, TupleTableSlot *slot)
{
	KafkaInsertState *st = state;
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
	if (st->outbox)
	{
		kafka_outbox_add(st->outbox, key, st->buf.data, st->buf.len, partition);
		st->sent++;
		MemoryContextSwitchTo(old);
		MemoryContextReset(st->rowcxt);
		return;
	}
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
}

void *
kafka_insert_begin(ResultRelInfo *rinfo, EState *estate)
{
	KafkaInsertState *st = palloc0(sizeof(KafkaInsertState));
	Relation	rel = rinfo->ri_RelationDesc;

	st->kt = kafka_table(rel);
	st->outbox = kafka_outbox_begin(st->kt);
	pgs_encoder_init(&st->enc, &st->kt->dec);
	initStringInfo(&st->buf);
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "kafka insert", ALLOCSET_DEFAULT_SIZES);
	if (st->outbox)
		return st;
	st->rk = kafka_producer(st->kt->serverid);
	/* one generation per statement, even over several partitions' inserts */
	if (kafka_inserts_open++ == 0)
	{
		insert_gen++;
		delivery_failures = 0;
		delivery_error = RD_KAFKA_RESP_ERR_NO_ERROR;
		kafka_busy++;
	}
	return st;
}
