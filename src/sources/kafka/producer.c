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
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/*------------------------------------------------------------------------
 * INSERT: one message per row
 *------------------------------------------------------------------------
 *
 * Each row becomes a message in the table's format (a JSON object of the
 * non-meta columns by default; avro through registry.c); a column with
 * meta 'key' gives the message's key, one with meta 'partition' its
 * partition (else the producer's partitioner chooses, by key), one with
 * meta 'headers' (a JSON object) its headers. Messages are sent as the
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

static void
header_add(rd_kafka_headers_t *hdrs, const char *name, JsonbValue *v)
{
	char	   *text = NULL;

	switch (v->type)
	{
		case jbvNull:
			break;
		case jbvString:
			text = pnstrdup(v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			text = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
			break;
		case jbvBool:
			text = v->val.boolean ? "true" : "false";
			break;
		default:
			rd_kafka_headers_destroy(hdrs);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the value of header \"%s\" is not a string, number, boolean or null", name),
					 errhint("A name that has several values takes an array of them.")));
	}
	rd_kafka_header_add(hdrs, name, -1, text, text ? (ssize_t) strlen(text) : 0);
}

/*
 * The headers of the row's meta 'headers' column (a JSON object; an array
 * value gives one header per element), or NULL
 */
static rd_kafka_headers_t *
row_headers(KafkaTable *kt, TupleTableSlot *slot)
{
	rd_kafka_headers_t *hdrs = NULL;

	for (int i = 0; i < kt->desc->natts; i++)
	{
		Jsonb	   *jb;
		JsonbIterator *it;
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *name = NULL;
		bool		in_array = false;

		if (kt->meta[i] != META_HEADERS || slot->tts_isnull[i])
			continue;
		jb = DatumGetJsonbP(slot->tts_values[i]);
		if (!JB_ROOT_IS_OBJECT(jb))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the headers column \"%s\" is not a JSON object",
							NameStr(TupleDescAttr(kt->desc, i)->attname))));
		if (hdrs == NULL)
			hdrs = rd_kafka_headers_new(8);
		it = JsonbIteratorInit(&jb->root);
		while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				name = pnstrdup(v.val.string.val, v.val.string.len);
			else if (tok == WJB_BEGIN_ARRAY && name)
				in_array = true;
			else if (tok == WJB_END_ARRAY)
				in_array = false;
			else if ((tok == WJB_VALUE && !in_array) || (tok == WJB_ELEM && in_array))
				header_add(hdrs, name, &v);
			else if (tok == WJB_BEGIN_OBJECT && name)
			{
				rd_kafka_headers_destroy(hdrs);
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("the value of header \"%s\" is not a string, number, boolean or null", name)));
			}
		}
	}
	return hdrs;
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
	rd_kafka_headers_t *hdrs = NULL;

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
	if (kt->avro)
		kafka_avro_encode(kt, slot, &st->buf);
	else
		pgs_encode_row(&st->enc, slot, &st->buf);
	if (st->outbox)
	{
		hdrs = row_headers(kt, slot);
		kafka_outbox_add(st->outbox, key, st->buf.data, st->buf.len, partition, hdrs);
		if (hdrs)
			rd_kafka_headers_destroy(hdrs);
		st->sent++;
		MemoryContextSwitchTo(old);
		MemoryContextReset(st->rowcxt);
		return;
	}
	for (;;)
	{
		/* made again at each try: a message produced takes them */
		hdrs = row_headers(kt, slot);
		err = rd_kafka_producev(st->rk,
								RD_KAFKA_V_HEADERS(hdrs),
								RD_KAFKA_V_TOPIC(kt->topic),
								RD_KAFKA_V_PARTITION(partition),
								RD_KAFKA_V_VALUE(st->buf.data, st->buf.len),
								RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
								RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
								RD_KAFKA_V_OPAQUE((void *) (uintptr_t) insert_gen),
								RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			hdrs = NULL;
		else if (hdrs)
			rd_kafka_headers_destroy(hdrs);
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
