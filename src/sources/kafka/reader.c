/*-------------------------------------------------------------------------
 *
 * reader.c
 *	  The "kafka" source: a topic read through librdkafka, in micro-batches.
 *
 * Positions. A position is the next offset to read in each partition,
 * {"0": 1200, "1": 1187, ...}, stored in stream.positions in the batch's
 * transaction with the view's changes. Nothing is committed to Kafka (no
 * consumer group): the position in PostgreSQL is the truth, so a crash at
 * any moment leaves the view and its position together, and the next
 * batch reads from exactly where the last committed one ended. A position
 * also passes the offsets that hold no message (the markers of Kafka
 * transactions: see reader_take), kept by a batch that read none.
 *
 * A batch asks for each partition's end (its high watermark) first and
 * reads up to there, at most max_batch_rows messages in all (a REFRESH's
 * batch reads on, that many at a time, up to pg_stream.refresh_batch_memory
 * of rows: kafka_read_view); a partition
 * not in the position yet (a new query, or a partition added since) starts
 * at start_offset (a time there is asked of the broker: offsets-for-times).
 *
 * Decoding. Each message becomes a row of the foreign table: json (keys
 * matched to column names), csv (fields in column order), text (the
 * whole message into the one data column), converted with the columns'
 * input functions, or avro (registry.c and formats/avro.c); columns with
 * the option meta take the message's partition, offset, timestamp, key,
 * topic or headers. With a schema registry, the schemas of a batch's
 * messages are fetched before any is decoded, so that a registry away
 * fails the batch (the view waits) instead of marking messages bad. A message that does not
 * decode goes to stream.errors with its partition, offset and payload,
 * and the batch goes on (on_error 'stop' fails the batch instead). The
 * whole batch is decoded in one subtransaction; only if that fails is it
 * decoded again message by message, each in its own, to find the bad ones.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "base/batchrun.h"
#include "formats/formats.h"
#include "sources/sources.h"
#include "sources/kafka/kafka_int.h"

#include <fcntl.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define KAFKA_LAG_TIMEOUT_MS 1000	/* stream.queries does not wait longer for the lag */

/*
 * A batch whose queue runs empty while the broker holds at least
 * KAFKA_FILL_BACKLOG more of its messages waits for them, up to
 * KAFKA_FILL_WAIT_MS in all (kafka_read_view).
 */
#define KAFKA_FILL_BACKLOG 1024
#define KAFKA_FILL_WAIT_MS 20
/* a REFRESH's batch waits up to this for each fetch, with no limit in all */
#define KAFKA_REFRESH_FILL_WAIT_MS 200
/* ... and one read in parts, waits that bring nothing up to this in a row */
#define KAFKA_REFRESH_FRUITLESS_MS 1000

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

		/* (a worker of a view with parallelism > 1: its share's only) */
		if (kafka_partition_selected(kt->partitions, p) && pgs_batchrun_owns(p))
			parts = lappend_int(parts, p);
	}
	rd_kafka_metadata_destroy(md);
	list_sort(parts, list_int_cmp);
	return parts;
}

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

/*
 * start_offset a time: in each partition of times (which it takes), the
 * first offset whose timestamp is at or after it, or the end if none is
 * (librdkafka answers -1 then).
 */
static void
start_at_times(rd_kafka_t *rk, KafkaTable *kt, PartPos *pp, int n,
			   rd_kafka_topic_partition_list_t *times, int timeout_ms)
{
	rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(rk, times, timeout_ms);

	for (int i = 0; !err && i < times->cnt; i++)
	{
		rd_kafka_topic_partition_t *tp = &times->elems[i];

		if (tp->err)
		{
			err = tp->err;
			break;
		}
		for (int j = 0; j < n; j++)
			if (pp[j].partition == tp->partition)
				pp[j].next = tp->offset < 0 ? pp[j].high :
					Max(Min(tp->offset, pp[j].high), pp[j].low);
	}
	rd_kafka_topic_partition_list_destroy(times);
	if (err)
		kafka_fail(kt, "could not find the offsets of start_offset's time", err);
}

/* each partition's watermarks, and where a batch starts in it */
static PartPos *
partition_positions(rd_kafka_t *rk, KafkaTable *kt, Jsonb *position, int *n,
					int timeout_ms)
{
	List	   *parts = topic_partitions(rk, kt, timeout_ms);
	PartPos    *pp = palloc0(sizeof(PartPos) * Max(list_length(parts), 1));
	ListCell   *lc;
	rd_kafka_topic_partition_list_t *times = NULL;

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
		if (p->next < 0 && kt->start_at_time)
		{
			/* not read yet, from a time: asked for all of them below */
			if (times == NULL)
				times = rd_kafka_topic_partition_list_new(*n);
			rd_kafka_topic_partition_list_add(times, kt->topic, p->partition)->offset =
				(int64) (kt->start_time / 1000) +
				(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
			continue;
		}
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
	if (times)
		start_at_times(rk, kt, pp, *n, times, timeout_ms);
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

/*
 * A message's headers as a JSON object: each name to its value as a
 * string (a header without a value to null), and a name that comes more
 * than once to the array of its values, in order. A value that is not
 * text (a NUL byte, invalid in the database's encoding) makes the message
 * bad: it is not guessed at.
 */
typedef struct Header
{
	const char *name;
	const void *value;
	size_t		size;
	size_t		index;			/* its place in the message */
} Header;

/* by name, then in the message's order */
static int
header_cmp(const void *a, const void *b)
{
	const Header *x = a;
	const Header *y = b;
	int			c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->index < y->index ? -1 : x->index > y->index ? 1 : 0;
}

static Datum
headers_jsonb(rd_kafka_message_t *m)
{
	rd_kafka_headers_t *hdrs = NULL;
	StringInfoData buf;
	size_t		n = 0;
	Header	   *h = NULL;

	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs)
		n = rd_kafka_header_cnt(hdrs);
	if (n > 0)
		h = palloc(sizeof(Header) * n);
	for (size_t i = 0; i < n; i++)
	{
		if (rd_kafka_header_get_all(hdrs, i, &h[i].name, &h[i].value, &h[i].size) != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			n = i;
			break;
		}
		h[i].index = i;
	}
	/* sorted, so that a name's values are together: n log n for any count */
	if (n > 1)
		qsort(h, n, sizeof(Header), header_cmp);
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (size_t i = 0; i < n;)
	{
		size_t		count = 1;

		while (i + count < n && strcmp(h[i + count].name, h[i].name) == 0)
			count++;
		(void) pg_verifymbstr(h[i].name, strlen(h[i].name), false);
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, h[i].name);
		appendStringInfoString(&buf, count > 1 ? ": [" : ": ");
		for (size_t k = i; k < i + count; k++)
		{
			if (k > i)
				appendStringInfoString(&buf, ", ");
			if (h[k].value == NULL)
			{
				appendStringInfoString(&buf, "null");
				continue;
			}
			if (memchr(h[k].value, '\0', h[k].size))
				ereport(ERROR,
						(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
						 errmsg("the value of header \"%s\" contains a NUL byte", h[k].name)));
			(void) pg_verifymbstr(h[k].value, h[k].size, false);
			escape_json(&buf, pnstrdup(h[k].value, h[k].size));
		}
		if (count > 1)
			appendStringInfoChar(&buf, ']');
		i += count;
	}
	appendStringInfoChar(&buf, '}');
	return JsonbPGetDatum(pgs_jsonb_from_cstring(buf.data));
}

/* message i as a row of the foreign table: its meta columns, then the data */
static void
decode_message(void *arg, int64 i, Datum *values, bool *nulls)
{
	KafkaDecode *kd = arg;
	KafkaTable *kt = kd->kt;
	rd_kafka_message_t *m = kd->msgs[i];

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
			case META_HEADERS:
				values[c] = headers_jsonb(m);
				nulls[c] = false;
				break;
		}
	}
	if (kt->avro)
		kafka_avro_decode(kt, m, values, nulls);
	else
		/* exactly len bytes (a NUL in them is the decoder's to refuse) */
		pgs_decode_bytes(&kt->dec, m->payload, m->payload ? (int) m->len : 0, values, nulls);
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

	/* the registry away fails the batch here, not its messages */
	kafka_avro_prefetch(kt, msgs, n);
	/* (the messages are in memory until their rows are: so are the rows) */
	batch->chunks = pgs_decode_batch_in_memory(kt->desc, n, decode_message, bad_message,
											   &kd, kt->on_error_stop, &batch->rows_bad);
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

void
kafka_readers_unassign(void)
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
void
kafka_readers_mark_stale(void)
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

	kafka_register_callbacks();
	kafka_drop_stale_clients();
	for (r = readers; r; r = r->next)
		if (r->relid == kt->relid && r->serverid == kt->serverid && r->userid == userid)
		{
			if (!r->stale)
				return r;
			reader_destroy(r);
			break;
		}

	conf = kafka_client_conf(kt->serverid, userid, kafka_consumer_defaults);
	/* what the reading depends on, whatever the options say */
	kafka_conf_set(conf, "enable.auto.commit", "false");
	kafka_conf_set(conf, "enable.auto.offset.store", "false");
	/* the ends, which say where the records that are no messages end */
	kafka_conf_set(conf, "enable.partition.eof", "true");
	/* offsets gone from the topic: tell us (a WARNING), do not skip silently */
	kafka_conf_set(conf, "auto.offset.reset", "error");
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
	kafka_tune_malloc();
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
 * the reader must be assigned again (offsets gone from the topic), *moved
 * when a partition's next offset passed records that are no messages.
 *
 * A topic written by transactional producers (pg_stream's exactly-once
 * sink among them) holds, after each transaction's messages, a marker
 * that takes an offset but reaches no consumer, and read_committed
 * drops the messages of aborted transactions: the last message's offset
 * + 1 stands before them, so the lag would never be 0 and a REFRESH
 * would wait for a message that never comes. librdkafka's end of
 * partition event (enable.partition.eof) carries its fetch position when
 * it reached the end (the last stable offset, for read_committed), which
 * is past them; it follows the partition's messages before it in the
 * queue, so every message before that offset was taken already.
 */
static int
reader_take(KafkaReader *r, KafkaTable *kt, rd_kafka_message_t **msgs, int max,
			int timeout_ms, bool *lost, bool *moved)
{
	rd_kafka_message_t *got[1024];
	ssize_t		n;
	int			taken = 0;
	int			last = 0;		/* messages come in runs of one partition */

	n = rd_kafka_consume_batch_queue(r->queue, timeout_ms, got, Min(max, lengthof(got)));
	if (n < 0)
		kafka_fail(kt, "could not read", rd_kafka_last_error());
	for (int j = 0; j < n; j++)
	{
		rd_kafka_message_t *m = got[j];
		PartPos    *p = NULL;

		if (last < r->nparts && r->parts[last].partition == m->partition)
			p = &r->parts[last];
		else
			for (int i = 0; i < r->nparts; i++)
				if (r->parts[i].partition == m->partition)
				{
					p = &r->parts[i];
					last = i;
				}
		if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
		{
			/* the next batch starts where the broker still has messages */
			*lost = true;
			m->err = 0;
			p = NULL;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		{
			if (p && !*lost && m->offset > p->next)
			{
				p->next = m->offset;
				*moved = true;
			}
			rd_kafka_message_destroy(m);
			continue;
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

/*
 * How many messages the broker has past what the reader delivered, as
 * librdkafka last heard (the high watermark of its latest fetch response,
 * kept locally: no request). A transaction's commit marker and messages
 * of open transactions count too, so this is an upper bound.
 */
static int64
reader_backlog(KafkaReader *r, KafkaTable *kt)
{
	int64		backlog = 0;

	for (int i = 0; i < r->nparts; i++)
	{
		int64		lo,
					hi;

		if (rd_kafka_get_watermark_offsets(r->rk, kt->topic, r->parts[i].partition,
										   &lo, &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
			hi > r->parts[i].next)
			backlog += hi - r->parts[i].next;
	}
	return backlog;
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
	int64		nmsgs = 0;		/* messages held (of the part being read) */
	int64		done = 0;		/* messages of the parts decoded before it */
	int64		alloc = 1024;
	rd_kafka_message_t **msgs = palloc(sizeof(rd_kafka_message_t *) * alloc);
	bool		lost = false;
	bool		moved = false;
	bool		fresh = false;
	PartPos    *pp;

	/*
	 * A REFRESH's batch reads in parts of max_rows messages while the rows
	 * of the parts before take less than pg_stream.refresh_batch_memory
	 * (see below); a worker's is one part.
	 */
	bool		in_parts = !pgs_am_worker() && max_rows > 0 && pgs_refresh_batch_memory_kb > 0;
	int64		kb = 0;			/* of the rows decoded, in all */
	int64		part_kb = 0;	/* of the largest part's */
	bool		full = false;	/* the last part took max_rows */

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
		bool		passed;
		bool		filling = true;
		double		fill_waited_ms = 0;
		double		fruitless_ms = 0;

		for (;;)
		{
			while (max_rows < 0 || nmsgs < max_rows)
			{
				int			want = max_rows < 0 ? 1024 : (int) Min(1024, max_rows - nmsgs);
				int			n;

				if (nmsgs + want > alloc)
				{
					alloc *= 2;
					msgs = repalloc(msgs, sizeof(rd_kafka_message_t *) * alloc);
				}
				n = reader_take(r, kt, msgs + nmsgs, want, 0, &lost, &moved);
				nmsgs += n;
				if (n == 0 && done + nmsgs > 0 && !lost && filling &&
					reader_backlog(r, kt) >= KAFKA_FILL_BACKLOG)
				{
					/*
					 * The queue is empty but the broker has a backlog that
					 * librdkafka is fetching: wait for it, so that a batch
					 * that catches up is a full one (each batch pays its
					 * merge and commit once, whatever its size). A wait
					 * that brings nothing ends the batch as before; so does
					 * KAFKA_FILL_WAIT_MS of waiting in all, in a worker,
					 * whose batch's first messages become visible only when
					 * it commits. A REFRESH has no such limit (only each
					 * wait's, KAFKA_REFRESH_FILL_WAIT_MS: a fetch of 16
					 * partitions' messages takes librdkafka longer than 20
					 * ms on a loaded machine): nothing it reads is visible
					 * before its transaction ends, and it reads the backlog
					 * anyway, so a batch it ends early only adds a batch's
					 * fixed cost and a merge of the same groups again.
					 */
					instr_time	t0,
								t1;

					/* (a REFRESH may wait here many times: let it be cancelled) */
					CHECK_FOR_INTERRUPTS();
					INSTR_TIME_SET_CURRENT(t0);
					n = reader_take(r, kt, msgs + nmsgs, want,
									pgs_am_worker() ?
									Max(1, KAFKA_FILL_WAIT_MS - (int) fill_waited_ms) :
									KAFKA_REFRESH_FILL_WAIT_MS, &lost,
									&moved);
					INSTR_TIME_SET_CURRENT(t1);
					INSTR_TIME_SUBTRACT(t1, t0);
					fill_waited_ms += INSTR_TIME_GET_MILLISEC(t1);
					fruitless_ms = n > 0 ? 0 : fruitless_ms + INSTR_TIME_GET_MILLISEC(t1);
					/*
					 * A REFRESH's batch in parts (below) goes on waiting while
					 * the backlog is there, up to KAFKA_REFRESH_FRUITLESS_MS
					 * of waits that bring nothing in a row: librdkafka pauses
					 * fetching for longer than a wait, past its
					 * queued.min.messages, and the next batch would only wait
					 * for the same messages (a backlog that never comes, an
					 * open transaction's, ends it).
					 */
					if (pgs_am_worker())
						filling = n > 0 && fill_waited_ms < KAFKA_FILL_WAIT_MS;
					else
						filling = n > 0 || (in_parts && fruitless_ms < KAFKA_REFRESH_FRUITLESS_MS);
					nmsgs += n;
					continue;
				}
				if (lost || (n == 0 && done + nmsgs > 0))
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
				passed = false;
				n = reader_take(r, kt, msgs, want, 100, &lost, &passed);
				nmsgs += n;
				if (passed)
				{
					/* past a marker: maybe at the end now, ask again */
					moved = true;
					asked = false;
				}
				if (n > 0 || lost || passed)
					last_progress = GetCurrentTimestamp();
				else if (TimestampDifferenceExceeds(last_progress, GetCurrentTimestamp(), KAFKA_TIMEOUT_MS))
					no_message_error(kt);
			}
			if (!in_parts)
			{
				decode_messages(kt, msgs, nmsgs, batch);
				break;
			}

			/*
			 * A REFRESH's batch in parts. Its rows are all in one transaction
			 * with the batches before and after it (the user's), so a batch
			 * that reads on past max_rows changes nothing of what is committed
			 * together; it saves the merges into the state that each batch
			 * pays for the same groups again (and a batch's fixed cost).
			 * librdkafka's messages are held one part at a time (max_rows of
			 * them, as in a worker's batch): the rows they decode to are what
			 * grows, packed, up to pg_stream.refresh_batch_memory; the batch
			 * reads another part if one as large as the largest yet still
			 * fits, and the queue holds more (a part that stops short of
			 * max_rows found it empty: the batch ends with it, as any does).
			 */
			{
				int64		before = kb;
				int64		nbad;

				kafka_avro_prefetch(kt, msgs, nmsgs);
				{
					KafkaDecode kd = {kt, msgs};

					nbad = pgs_decode_batch_in_memory_part(kt->desc, nmsgs, decode_message,
														   bad_message, &kd, kt->on_error_stop,
														   &batch->chunks,
														   pgs_refresh_batch_memory_kb, &kb);
				}
				batch->rows_bad += nbad;
				part_kb = Max(part_kb, kb - before);
				for (int64 i = 0; i < nmsgs; i++)
					rd_kafka_message_destroy(msgs[i]);
				done += nmsgs;
				full = (nmsgs >= max_rows);
				if (lost || !full || kb + part_kb > pgs_refresh_batch_memory_kb)
				{
					nmsgs = 0;
					break;
				}
				nmsgs = 0;
				CHECK_FOR_INTERRUPTS();
			}
		}
	}
	PG_FINALLY();
	{
		for (int64 i = 0; i < nmsgs; i++)
			rd_kafka_message_destroy(msgs[i]);
		kafka_busy--;
	}
	PG_END_TRY();
	if (in_parts)
	{
		nmsgs = done;
		elog(DEBUG1, "kafka stream \"%s\": a batch of " INT64_FORMAT " messages, " INT64_FORMAT " kB of rows",
			 kt->relname, done, kb);
	}

	/* the reader's offsets are the batch's end */
	pp = palloc(sizeof(PartPos) * Max(r->nparts, 1));
	memcpy(pp, r->parts, sizeof(PartPos) * r->nparts);
	batch->nrows = nmsgs;
	batch->start_position = position;
	batch->end_position = positions_to_jsonb(pp, r->nparts, position);
	if (lost)
		r->assigned = false;
	batch->more = lost || (in_parts ? full : (max_rows >= 0 && nmsgs >= max_rows));
	/*
	 * Without messages, the position still moves past markers (above),
	 * and names the partitions it did not yet (a new view, a partition
	 * added), at their start: kept, the next batch finds the reader where
	 * the position says, instead of assigning again (each assignment
	 * ends in an end-of-partition event, which would wake the worker).
	 */
	for (int i = 0; i < r->nparts && !lost; i++)
		if (pp[i].next >= 0 && position_offset(position, pp[i].partition) != pp[i].next)
			moved = true;
	batch->moved = moved && !lost;
	batch->wait_ms = batch->more ? 0 : -1;
	batch->has_wait_fd = !batch->more;
	batch->wait_fd = r->wake[0];
	/* (a share of a topic with fewer partitions than shares: share.c) */
	batch->no_share = (r->nparts == 0);
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
	.merge_share = kafka_merge_share,
	.options = kafka_options,
	.contexts = {
		.table = "a kafka stream",
		.column = "a column of a kafka stream",
	},
	.other_option = kafka_other_option,
	.validate = kafka_validate,
	.insert_begin = kafka_insert_begin,
	.insert_row = kafka_insert_row,
	.insert_end = kafka_insert_end,
	.import_schema = kafka_ImportForeignSchema,
};
