/*-------------------------------------------------------------------------
 *
 * outbox.c
 *	  Exactly-once Kafka sinks: an outbox committed with the batch, then
 *	  produced in a Kafka transaction that records the batch.
 *
 * A view whose sink is a kafka table with delivery 'exactly_once' (the
 * default) does not produce from its batch. The batch's INSERT into the
 * sink (sinks/sink.c) encodes each row as INSERT always does (the
 * table's format, its key, partition and headers columns), but appends
 * the message to chunks of stream.outbox, in the batch's transaction: the
 * messages are committed with the view, its state and its positions, or
 * not at all, and a batch run again after a crash makes its messages
 * again only if it made none that were committed.
 *
 * The view's worker then delivers the outbox (pgs_kafka_outbox_flush), in
 * order, with librdkafka's transactional producer. Its transactional.id
 * is the view's own, pg_stream-<system identifier>-<database>-<view>-
 * <its creation time>, so a worker started after a crash fences the one
 * before and aborts its open transaction. One Kafka transaction holds the messages of one or
 * more whole batches and a record, in the progress topic (the table's
 * option progress_topic, partition 0), whose key is the transactional id
 * and whose value names the last batch in it. Once Kafka has committed
 * it, a PostgreSQL transaction deletes those batches' chunks and notes
 * the batch and the offset of its record in stream.sink_progress.
 *
 * Either commit can be lost in a crash. Kafka's without PostgreSQL's:
 * the chunks are still there, so before it produces anything a worker
 * that starts (or whose producer failed) reads the progress topic, as a
 * read_committed consumer, from the offset stream.sink_progress names to
 * its end, and takes the last batch its records name as delivered.
 * PostgreSQL's without Kafka's: the transaction was aborted (by the
 * fencing, or by its timeout) and nothing of it reaches read_committed
 * consumers, and the chunks are delivered again. The record is what
 * makes this exact: it is in the same Kafka transaction as the messages,
 * so Kafka holds both or neither.
 *
 * The details that keep this exact:
 * - The recovery reads up to the partition's high watermark, not only to
 *   where a read_committed consumer's end is (the last stable offset,
 *   which another view's open transaction on the shared topic holds
 *   back): a record of ours may lie past it.
 * - After any error of a delivery the producer is made again, so that
 *   initializing the transactional id (which completes or aborts the
 *   transaction Kafka was ending) comes before the topic is read.
 * - The transactional id holds the view's creation time too: a view made
 *   again under a reused OID is not taken for the old one, whose records
 *   a compacted progress topic keeps. A record naming a batch past the
 *   view's committed batches is ignored, with a warning.
 * - A batch's messages go to one kafka table (one transaction, one
 *   record): a batch that writes to a second exactly-once kafka table (a
 *   partitioned sink of kafka tables, a trigger) fails.
 * - A message Kafka refuses (too large, a partition the topic lacks) is
 *   the batch's failure, as for INSERT; only the brokers' absence makes
 *   the worker wait. The chunks of a sink that is dropped go with it.
 *
 * A consumer sees each message once with isolation.level
 * read_committed, librdkafka's default (the Java client's default is
 * read_uncommitted, which also sees aborted transactions' messages).
 * While Kafka cannot be reached, the worker waits as for an unreachable
 * source, and runs no new batch until its outbox is delivered: the outbox
 * holds at most what was produced while it tried (and what REFRESH adds).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "meta/meta.h"
#include "sources/sources.h"
#include "sources/kafka/kafka_int.h"

#include <librdkafka/rdkafka.h>

#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define OUTBOX_CHUNK_BYTES (1024 * 1024)	/* a chunk's messages, about */
#define OUTBOX_FLUSH_BYTES (64 * 1024 * 1024)	/* one Kafka transaction's */

/*------------------------------------------------------------------------
 * Writing, in the batch
 *------------------------------------------------------------------------
 */
struct KafkaOutbox
{
	Oid			view;
	int64		batch_id;
	Oid			sink;
	int32		nmsgs;
	StringInfoData buf;
};

/* a batch's chunks are numbered across its statements, in one transaction */
static Oid	seq_view = InvalidOid;
static int64 seq_batch = 0;
static LocalTransactionId seq_lxid = InvalidLocalTransactionId;
static Oid	seq_sink = InvalidOid;
static int32 seq_next = 0;

/*
 * The outbox this INSERT into kafka table kt appends to, or NULL if it
 * produces: only a batch's delivery to its sink with delivery
 * 'exactly_once' goes through the outbox.
 */
KafkaOutbox *
kafka_outbox_begin(KafkaTable *kt)
{
	BatchRun   *run = pgs_batchrun_current();
	KafkaOutbox *ob;

	if (run == NULL || !run->is_batch || !run->in_sink || !kt->exactly_once)
		return NULL;
	Assert(run->batch_id > 0);
	ob = palloc0(sizeof(KafkaOutbox));
	ob->view = run->viewid;
	ob->batch_id = run->batch_id;
	ob->sink = kt->relid;
	initStringInfo(&ob->buf);
	if (seq_view != ob->view || seq_batch != ob->batch_id || seq_lxid != MyProc->lxid)
	{
		seq_view = ob->view;
		seq_batch = ob->batch_id;
		seq_lxid = MyProc->lxid;
		seq_sink = ob->sink;
		seq_next = 0;
	}
	else if (seq_sink != ob->sink)
	{
		/*
		 * One Kafka transaction per batch goes to one table's topic: a
		 * partitioned sink of kafka tables, or a trigger of the sink that
		 * inserts into another, would deliver part of a batch.
		 */
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the batch of continuous view \"%s\" writes to two exactly-once kafka sinks, \"%s\" and \"%s\"",
						get_rel_name(ob->view), get_rel_name(seq_sink), get_rel_name(ob->sink)),
				 errhint("An exactly-once kafka sink is one kafka table; give the others delivery 'at_least_once'.")));
	}
	return ob;
}

static void
outbox_write_chunk(KafkaOutbox *ob)
{
	bytea	   *b;

	if (ob->nmsgs == 0)
		return;
	b = palloc(VARHDRSZ + ob->buf.len);
	SET_VARSIZE(b, VARHDRSZ + ob->buf.len);
	memcpy(VARDATA(b), ob->buf.data, ob->buf.len);
	meta_outbox_insert(ob->view, ob->batch_id, seq_next++, ob->sink, ob->nmsgs, b);
	pfree(b);
	resetStringInfo(&ob->buf);
	ob->nmsgs = 0;
}

static void
put_int32(StringInfo buf, int32 v)
{
	uint32		n = pg_hton32((uint32) v);

	appendBinaryStringInfo(buf, (char *) &n, 4);
}

/*
 * One message: key (NULL: none), value, partition (-1: the
 * partitioner's), headers (NULL: none; a meta 'headers' column's).
 */
void
kafka_outbox_add(KafkaOutbox *ob, const char *key, const char *value, int len,
				 int32 partition, rd_kafka_headers_t *hdrs)
{
	int			klen = key ? strlen(key) : -1;
	size_t		nh = hdrs ? rd_kafka_header_cnt(hdrs) : 0;

	put_int32(&ob->buf, klen);
	if (key)
		appendBinaryStringInfo(&ob->buf, key, klen);
	put_int32(&ob->buf, len);
	appendBinaryStringInfo(&ob->buf, value, len);
	put_int32(&ob->buf, partition);
	put_int32(&ob->buf, (int32) nh);
	for (size_t i = 0; i < nh; i++)
	{
		const char *name;
		const void *v;
		size_t		vlen;

		if (rd_kafka_header_get_all(hdrs, i, &name, &v, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR)
			elog(ERROR, "could not read header %zu of a message", i);
		put_int32(&ob->buf, (int32) strlen(name));
		appendBinaryStringInfoNT(&ob->buf, name, strlen(name));
		put_int32(&ob->buf, v ? (int32) vlen : -1);
		if (v)
			appendBinaryStringInfoNT(&ob->buf, v, vlen);
	}
	ob->nmsgs++;
	if (ob->buf.len >= OUTBOX_CHUNK_BYTES)
		outbox_write_chunk(ob);
}

/* the statement's end: the last chunk */
void
kafka_outbox_end(KafkaOutbox *ob)
{
	outbox_write_chunk(ob);
}

/*------------------------------------------------------------------------
 * Delivering, in the view's worker
 *------------------------------------------------------------------------
 */

/* the worker's transactional producer: one view, one server */
static rd_kafka_t *txn_rk = NULL;
static Oid	txn_view = InvalidOid;
static Oid	txn_server = InvalidOid;
static Oid	txn_user = InvalidOid;
static bool need_recovery = true;

/* delivery reports: failures, and where the progress record went */
static int64 txn_failures = 0;
static rd_kafka_resp_err_t txn_error = RD_KAFKA_RESP_ERR_NO_ERROR;
static int64 progress_offset = -1;
static char progress_marker;	/* the progress record's opaque */

static void
txn_delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	if (m->err)
	{
		txn_failures++;
		txn_error = m->err;
	}
	else if (m->_private == &progress_marker)
		progress_offset = m->offset;
}

/*
 * The view's transactional id: the cluster, the database, the view and
 * its creation time, so that a view made again under a reused OID is not
 * taken for the old one (the progress records of a dropped view stay in
 * a compacted topic).
 */
static char *
transactional_id(Oid view)
{
	TimestampTz created = 0;

	(void) meta_cq_created_at(view, &created);
	return psprintf("pg_stream-" UINT64_FORMAT "-%u-%u-" INT64_FORMAT, GetSystemIdentifier(),
					MyDatabaseId, view, (int64) created);
}

/* a server, user mapping or role changed: the producer is made again */
static bool txn_stale = false;

static void
txn_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	txn_stale = true;
}

static void
txn_destroy(void)
{
	if (txn_rk)
		rd_kafka_destroy(txn_rk);
	txn_rk = NULL;
	txn_view = txn_server = txn_user = InvalidOid;
	need_recovery = true;
}

/*
 * Whether a Kafka error means the brokers are away (the worker waits as
 * for an unreachable source, however long) rather than that Kafka refuses
 * what was sent (a message too large, a partition that is not there: the
 * view fails after its tries, as an INSERT would).
 */
static bool
kafka_outage(rd_kafka_resp_err_t err)
{
	switch (err)
	{
		case RD_KAFKA_RESP_ERR__TRANSPORT:
		case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
		case RD_KAFKA_RESP_ERR__TIMED_OUT:
		case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
		case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
		case RD_KAFKA_RESP_ERR__RESOLVE:
		case RD_KAFKA_RESP_ERR__WAIT_COORD:
		case RD_KAFKA_RESP_ERR__STATE:
		case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
		case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
		case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
		case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
		case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
		case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
		case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
		case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
		case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
			return true;
		default:
			return false;
	}
}

/* a Kafka error: an outage (the worker waits) or the batch's failure */
static void
txn_fail(const char *what, rd_kafka_error_t *error)
{
	char	   *msg = pstrdup(rd_kafka_error_string(error));
	/* fenced, say, or a message Kafka refused: not the brokers' absence */
	bool		fatal = rd_kafka_error_is_fatal(error) ||
		(txn_failures > 0 && !kafka_outage(txn_error));

	rd_kafka_error_destroy(error);
	/* the outcome of a transaction may be unknown: recover before the next */
	txn_destroy();
	ereport(ERROR,
			(errcode(fatal ? ERRCODE_FDW_ERROR : ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("kafka sink: could not %s: %s", what, msg)));
}

static rd_kafka_t *
txn_producer(Oid view, Oid serverid, Oid userid)
{
	static const char *const no_defaults[] = {NULL};
	rd_kafka_conf_t *conf;
	char		errstr[512];
	rd_kafka_error_t *error;

	static bool registered = false;

	if (!registered)
	{
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, txn_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(USERMAPPINGOID, txn_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, txn_invalidate, (Datum) 0);
		registered = true;
	}
	if (txn_rk && !txn_stale && txn_view == view && txn_server == serverid && txn_user == userid)
		return txn_rk;
	txn_destroy();
	txn_stale = false;
	conf = kafka_client_conf(serverid, userid, no_defaults);
	/* what the exactness depends on, whatever the options say */
	kafka_conf_set(conf, "transactional.id", transactional_id(view));
	kafka_conf_set(conf, "enable.idempotence", "true");
	kafka_conf_set(conf, "transaction.timeout.ms", "60000");
	kafka_conf_set(conf, "message.timeout.ms", "60000");
	rd_kafka_conf_set_dr_msg_cb(conf, txn_delivery_report);
	txn_rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (txn_rk == NULL)
		rd_kafka_conf_destroy(conf);
	if (txn_rk == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not create a Kafka producer: %s", errstr)));
	txn_view = view;
	txn_server = serverid;
	txn_user = userid;
	/* fences the producer of the worker before, and ends its transaction */
	error = rd_kafka_init_transactions(txn_rk, KAFKA_TIMEOUT_MS * 3);
	if (error)
		txn_fail("initialize its transactions", error);
	return txn_rk;
}

/*
 * Recovery: the last batch the progress topic says Kafka holds for this
 * view, reading from offset from (or the start) to the end of what is
 * committed. Returns 0 if no record names one.
 */
static int64
progress_last_batch(KafkaTable *kt, Oid userid, const char *txnid, int64 from,
					int64 *offset)
{
	rd_kafka_conf_t *conf = kafka_client_conf(kt->serverid, userid, kafka_consumer_defaults);
	char		errstr[512];
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *assign;
	int64		last = 0;
	size_t		idlen = strlen(txnid);
	TimestampTz start = GetCurrentTimestamp();
	volatile bool done = false;
	int64		low = 0,
				high = 0;
	rd_kafka_resp_err_t err;

	/*
	 * The end of what is written, committed or not: a read_committed
	 * consumer's end is the last stable offset, which another view's open
	 * transaction holds back, and a record of ours may lie beyond it.
	 * Read until the committed records reach this end.
	 */
	{
		rd_kafka_conf_t *uconf = kafka_client_conf(kt->serverid, userid, kafka_consumer_defaults);
		rd_kafka_t *urk;

		kafka_conf_set(uconf, "isolation.level", "read_uncommitted");
		urk = rd_kafka_new(RD_KAFKA_CONSUMER, uconf, errstr, sizeof(errstr));
		if (urk == NULL)
		{
			rd_kafka_conf_destroy(uconf);
			rd_kafka_conf_destroy(conf);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("could not create a Kafka consumer: %s", errstr)));
		}
		err = rd_kafka_query_watermark_offsets(urk, kt->progress_topic, 0, &low, &high,
											   KAFKA_TIMEOUT_MS);
		rd_kafka_destroy(urk);
		if (err)
		{
			rd_kafka_conf_destroy(conf);
			ereport(ERROR,
					(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
					 errmsg("kafka sink: could not read the offsets of progress topic \"%s\": %s",
							kt->progress_topic, rd_kafka_err2str(err)),
					 errhint("The topic must exist, with a partition 0.")));
		}
	}
	if (from >= high)
	{
		rd_kafka_conf_destroy(conf);
		return 0;				/* nothing after what is known */
	}

	kafka_conf_set(conf, "isolation.level", "read_committed");
	kafka_conf_set(conf, "enable.partition.eof", "true");
	kafka_conf_set(conf, "enable.auto.commit", "false");
	kafka_conf_set(conf, "auto.offset.reset", "earliest");
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
	{
		rd_kafka_conf_destroy(conf);
		ereport(ERROR,
				(errcode(ERRCODE_FDW_ERROR),
				 errmsg("could not create a Kafka consumer: %s", errstr)));
	}
	PG_TRY();
	{
		assign = rd_kafka_topic_partition_list_new(1);
		rd_kafka_topic_partition_list_add(assign, kt->progress_topic, 0)->offset =
			from >= 0 ? from : RD_KAFKA_OFFSET_BEGINNING;
		if (rd_kafka_assign(rk, assign) != RD_KAFKA_RESP_ERR_NO_ERROR)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_ERROR),
					 errmsg("kafka sink: could not read progress topic \"%s\"",
							kt->progress_topic)));
		rd_kafka_topic_partition_list_destroy(assign);
		while (!done)
		{
			rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);

			CHECK_FOR_INTERRUPTS();
			if (m == NULL)
			{
				if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), KAFKA_TIMEOUT_MS))
					ereport(ERROR,
							(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
							 errmsg("kafka sink: progress topic \"%s\" could not be read to its end",
									kt->progress_topic),
							 errhint("The topic must exist, with a partition 0.")));
				continue;
			}
			if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			{
				/* the committed end; past an open transaction, wait */
				if (m->offset >= high)
					done = true;
			}
			else if (m->err)
			{
				char	   *msg = pstrdup(rd_kafka_message_errstr(m));

				rd_kafka_message_destroy(m);
				ereport(ERROR,
						(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
						 errmsg("kafka sink: could not read progress topic \"%s\": %s",
								kt->progress_topic, msg)));
			}
			else if (m->key_len == idlen && memcmp(m->key, txnid, idlen) == 0 && m->len > 0)
			{
				/* {"batch": N, ...}, as this file writes it; else nothing */
				char	   *text = pnstrdup(m->payload, m->len);
				char	   *at = strstr(text, "{\"batch\": ");
				int64		b = at == text ? strtoll(at + 10, NULL, 10) : 0;

				if (b > last)
				{
					last = b;
					*offset = m->offset;
				}
			}
			if (!m->err)
			{
				/* progress: the time allowed starts again */
				start = GetCurrentTimestamp();
				if (m->offset + 1 >= high)
					done = true;
			}
			if (m)
				rd_kafka_message_destroy(m);
		}
	}
	PG_FINALLY();
	{
		rd_kafka_consumer_close(rk);
		rd_kafka_destroy(rk);
	}
	PG_END_TRY();
	return last;
}

static int32
get_int32(const char **p, const char *end)
{
	uint32		n;

	if (end - *p < 4)
		elog(ERROR, "a chunk of stream.outbox is cut short");
	memcpy(&n, *p, 4);
	*p += 4;
	return (int32) pg_ntoh32(n);
}

/* produce the messages of one chunk in the open transaction */
static void
produce_chunk(rd_kafka_t *rk, KafkaTable *kt, OutboxChunk *c)
{
	const char *p = VARDATA_ANY(c->messages);
	const char *end = p + VARSIZE_ANY_EXHDR(c->messages);

	for (int i = 0; i < c->nmsgs; i++)
	{
		int32		klen = get_int32(&p, end);
		const char *key = p;
		int32		vlen;
		const char *value;
		int32		partition;
		int32		nh;
		rd_kafka_headers_t *hdrs;
		const void *kptr;
		size_t		ksize;
		rd_kafka_resp_err_t err;

		if (klen < -1 || end - p < Max(klen, 0))
			elog(ERROR, "a chunk of stream.outbox is cut short");
		kptr = klen >= 0 ? key : NULL;
		ksize = klen >= 0 ? (size_t) klen : 0;
		p += ksize;
		vlen = get_int32(&p, end);
		if (vlen < 0 || end - p < vlen)
			elog(ERROR, "a chunk of stream.outbox is cut short");
		value = p;
		p += vlen;
		partition = get_int32(&p, end);
		nh = get_int32(&p, end);
		if (nh < 0)
			elog(ERROR, "a chunk of stream.outbox is cut short");
		hdrs = nh > 0 ? rd_kafka_headers_new(nh) : NULL;
		for (int h = 0; h < nh; h++)
		{
			int32		nlen = get_int32(&p, end);
			const char *name = p;
			int32		hvlen;

			if (nlen < 0 || end - p < nlen)
				elog(ERROR, "a chunk of stream.outbox is cut short");
			p += nlen;
			hvlen = get_int32(&p, end);
			if (hvlen < -1 || end - p < Max(hvlen, 0))
				elog(ERROR, "a chunk of stream.outbox is cut short");
			rd_kafka_header_add(hdrs, name, nlen, hvlen >= 0 ? p : NULL, Max(hvlen, 0));
			p += Max(hvlen, 0);
		}
		for (;;)
		{
			/* a message produced takes the headers; a copy for each try */
			rd_kafka_headers_t *h = hdrs ? rd_kafka_headers_copy(hdrs) : NULL;

			err = rd_kafka_producev(rk,
									RD_KAFKA_V_HEADERS(h),
									RD_KAFKA_V_TOPIC(kt->topic),
									RD_KAFKA_V_PARTITION(partition),
									RD_KAFKA_V_VALUE((void *) value, vlen),
									RD_KAFKA_V_KEY(kptr, ksize),
									RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
									RD_KAFKA_V_END);
			if (err != RD_KAFKA_RESP_ERR_NO_ERROR && h)
				rd_kafka_headers_destroy(h);
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
				break;
			rd_kafka_poll(rk, 100);
			CHECK_FOR_INTERRUPTS();
		}
		if (hdrs)
			rd_kafka_headers_destroy(hdrs);
		if (err)
			ereport(ERROR,
					(errcode(kafka_outage(err) ? ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION :
							 ERRCODE_FDW_ERROR),
					 errmsg("kafka sink \"%s\": could not produce to topic \"%s\": %s",
							kt->relname, kt->topic, rd_kafka_err2str(err)),
					 kafka_outage(err) ? 0 :
					 errhint("The batch's messages wait in stream.outbox; a superuser can delete them there (DELETE FROM stream.outbox WHERE view = ...) to give them up.")));
		rd_kafka_poll(rk, 0);
	}
	if (p != end)
		elog(ERROR, "a chunk of stream.outbox has bytes after its messages");
}

/*
 * Deliver what the outbox of view holds, as the view's owner; in a
 * transaction of the caller's, with the bookkeeping's user. Returns the
 * messages produced.
 */
static int64
kafka_outbox_deliver(Oid view)
{
	List	   *chunks = meta_outbox_chunks(view, OUTBOX_FLUSH_BYTES);
	int64		delivered = 0;
	int64		known_offset = -1;
	int64		last_batch = 0;
	int64		produced = 0;
	Oid			sink;
	Oid			owner = pgs_rel_owner(view);
	Relation	rel;
	KafkaTable *kt;
	rd_kafka_t *rk;
	char	   *txnid = transactional_id(view);
	ListCell   *lc;
	rd_kafka_error_t *error;
	StringInfoData record;

	if (chunks == NIL)
		return 0;
	/* the leading chunks' sink (the view's, unless it changed) */
	sink = ((OutboxChunk *) linitial(chunks))->sink;
	rel = table_open(sink, AccessShareLock);
	kt = kafka_table(rel);
	table_close(rel, AccessShareLock);
	rk = txn_producer(view, kt->serverid, owner);

	(void) meta_sink_progress(view, &delivered, &known_offset);
	if (need_recovery)
	{
		int64		offset = known_offset;
		int64		last = progress_last_batch(kt, owner, txnid, known_offset, &offset);
		CqMeta		row;

		/* a record naming a batch the view never committed is not ours */
		if (last > 0 && meta_cq_get(view, &row) && last > row.batches)
		{
			ereport(WARNING,
					(errmsg("kafka sink of continuous view %u: progress topic \"%s\" names batch " INT64_FORMAT ", past the view's " INT64_FORMAT ": ignored",
							view, kt->progress_topic, last, row.batches)));
			last = 0;
		}
		if (last > delivered)
		{
			ereport(LOG,
					(errmsg("pg_stream: the kafka sink of continuous view %u has its batches up to " INT64_FORMAT " already: they are not sent again",
							view, last)));
			meta_outbox_delivered(view, last, offset);
			delivered = last;
			known_offset = offset;
			CommandCounterIncrement();
		}
		need_recovery = false;
	}
	/* what Kafka had (recovery) is not sent again */
	while (chunks != NIL && ((OutboxChunk *) linitial(chunks))->batch_id <= delivered)
		chunks = list_delete_first(chunks);
	if (chunks == NIL)
		return 0;
	if (((OutboxChunk *) linitial(chunks))->sink != sink)
	{
		/* the next sink's, in the next transaction; none of these again */
		meta_outbox_delivered(view, delivered, Max(known_offset, 0));
		return 1;
	}

	txn_failures = 0;
	txn_error = RD_KAFKA_RESP_ERR_NO_ERROR;
	progress_offset = -1;
	error = rd_kafka_begin_transaction(rk);
	if (error)
		txn_fail("begin a transaction", error);
	foreach(lc, chunks)
	{
		OutboxChunk *c = lfirst(lc);

		if (c->sink != sink)
			break;
		produce_chunk(rk, kt, c);
		produced += c->nmsgs;
		last_batch = c->batch_id;
	}
	initStringInfo(&record);
	appendStringInfo(&record, "{\"batch\": " INT64_FORMAT ", \"view\": %u, \"database\": %u}",
					 last_batch, view, MyDatabaseId);
	if (rd_kafka_producev(rk,
						  RD_KAFKA_V_TOPIC(kt->progress_topic),
						  RD_KAFKA_V_PARTITION(0),
						  RD_KAFKA_V_KEY(txnid, strlen(txnid)),
						  RD_KAFKA_V_VALUE(record.data, record.len),
						  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
						  RD_KAFKA_V_OPAQUE(&progress_marker),
						  RD_KAFKA_V_END) != RD_KAFKA_RESP_ERR_NO_ERROR)
		txn_fail("produce to the progress topic",
				 rd_kafka_error_new(RD_KAFKA_RESP_ERR__FAIL, "produce failed"));
	/* flushes every message, then commits: Kafka holds them all or none */
	error = rd_kafka_commit_transaction(rk, KAFKA_TIMEOUT_MS * 3);
	if (error)
	{
		if (rd_kafka_error_txn_requires_abort(error))
		{
			rd_kafka_error_t *aerr = rd_kafka_abort_transaction(rk, KAFKA_TIMEOUT_MS);

			if (aerr)
				rd_kafka_error_destroy(aerr);
		}
		txn_fail("commit a transaction", error);
	}
	if (txn_failures > 0 || progress_offset < 0)
	{
		/* cannot be after a commit; but never guess */
		txn_destroy();
		ereport(ERROR,
				(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
				 errmsg("kafka sink \"%s\": a committed transaction reported no offset for its progress record: %s",
						kt->relname, rd_kafka_err2str(txn_error))));
	}
	meta_outbox_delivered(view, last_batch, progress_offset);
	return produced;
}

/*
 * The worker's step after a batch (bgw/worker.c, through the sinks):
 * deliver the view's outbox in transactions of its own. An error leaves
 * the producer to be made again, with recovery first.
 */
void
pgs_kafka_outbox_flush(Oid view)
{
	PG_TRY();
	{
		for (;;)
		{
			int64		n;
			PgsUser		saved;

			StartTransactionCommand();
			PushActiveSnapshot(GetTransactionSnapshot());
			if (!pgs_lock_extension())
			{
				PopActiveSnapshot();
				CommitTransactionCommand();
				break;
			}
			pgs_become_superuser(&saved);
			n = kafka_outbox_deliver(view);
			pgs_restore_user(&saved);
			PopActiveSnapshot();
			CommitTransactionCommand();
			if (n == 0)
				break;
		}
	}
	PG_CATCH();
	{
		/*
		 * Whatever Kafka or PostgreSQL kept, the next try reads it first,
		 * with a new producer: its initialization waits for the markers of
		 * a transaction Kafka has committed, before the topic is read.
		 */
		txn_destroy();
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* whether relation relid is a kafka table that, as a sink, goes through the outbox */
bool
pgs_kafka_sink_exactly_once(Oid relid)
{
	ListCell   *lc;

	if (pgs_source_for_relation(relid) != &kafka_source)
		return false;
	foreach(lc, GetForeignTable(relid)->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "delivery") == 0)
			return kafka_parse_delivery(defGetString(def));
	}
	return true;
}
