/*-------------------------------------------------------------------------
 *
 * socket.c
 *	  The "socket" source: lines read from a TCP server (Spark's socket
 *	  source), for demos such as `nc -lk 9999`.
 *
 * The process running a view's batches (its worker, or the backend of a
 * REFRESH) connects to the server's host and port as a client and keeps
 * the connection. A batch takes the complete lines that have arrived (at
 * most max_batch_rows), without waiting; a line still arriving stays for
 * the next batch. Each line is a record in the table's format (text by
 * default: one text column).
 *
 * A socket cannot be replayed: lines taken by a batch that then fails, or
 * that arrive while nobody is connected, are lost. The socket source is
 * at-most-once. The position only counts the lines read.
 *
 * When the server is absent, refuses, or closes the connection, the
 * batch fails with "could not connect", which the worker reports in
 * stream.queries and retries with back-off (bgw/worker.c); the lines that
 * arrived before a close are processed first, over as many batches as
 * they need: the connection is opened again only once they are taken.
 *
 * The bytes received are split into lines as they arrive (take_bytes),
 * so that what the buffer holds stays bounded whatever the peer sends:
 * complete lines (a batch stops receiving at SOCKET_BATCH_BYTES), and the
 * line still arriving, of at most max_line_length bytes. A line that grows
 * longer is cut there: its first SOCKET_LONG_PREFIX bytes (whole
 * characters) stay as a record that is marked too long, and the rest of
 * it, up to its newline, is dropped as it arrives. A line that a closed
 * connection cut off (no newline) is marked cut off. Both become dead
 * letters, or fail the batch under on_error 'stop', through the decoder's
 * usual path: a record that does not decode. A line is copied out of the
 * buffer with its exact length (it may hold a NUL byte, which makes it a
 * bad record, and its dead letter must hold its bytes, not a C string's).
 * A buffer that grew for a large batch is given back once it is drained.
 *
 * Opening connections from the server is for superusers: only they may
 * set a socket server's host and port; they may then grant USAGE on it.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "formats/formats.h"
#include "sources/sources.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "catalog/pg_foreign_server.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define SOCKET_CONNECT_TIMEOUT_MS 5000
#define SOCKET_IDLE_POLL_MS 100
#define SOCKET_SELECT_WAIT_MS 100	/* a plain SELECT reads what comes in this long */
#define SOCKET_RECV_BYTES 65536		/* one recv() */
#define SOCKET_BATCH_BYTES (64 * 1024 * 1024)	/* a batch stops receiving here */
#define SOCKET_BUF_KEEP (1024 * 1024)	/* a drained buffer larger than this is given back */
#define SOCKET_LONG_PREFIX 1024		/* what a dead letter keeps of a too-long line */
#define SOCKET_MAX_LINE_DEFAULT (1024 * 1024)
#define SOCKET_MAX_LINE_MAX (64 * 1024 * 1024)

/* what is wrong with a line, known before it is decoded */
#define LINE_OK 0
#define LINE_TOO_LONG 1			/* cut at max_line_length */
#define LINE_CUT_OFF 2			/* the connection closed before its newline */

/* a line of the buffer that is marked (too long, cut off), by its offset */
typedef struct SocketMark
{
	int			offset;
	int			kind;
} SocketMark;

typedef struct SocketConn
{
	Oid			relid;
	char	   *host;
	char	   *port;
	int			fd;
	StringInfoData buf;			/* received, not yet taken: lines, each
								 * ending with a newline, then the line
								 * still arriving, from line_start */
	int			line_start;
	bool		skipping;		/* dropping the rest of a too-long line */
	bool		eof;			/* the peer closed; buf still has lines */
	SocketMark *marks;			/* marked lines of buf, in order */
	int			nmarks;
	int			maxmarks;
	int64		lines;			/* taken since the connection opened */
	struct SocketConn *next;
} SocketConn;

static SocketConn *conns = NULL;

typedef struct SocketTable
{
	Oid			relid;
	char	   *what;
	char	   *host;
	char	   *port;
	bool		on_error_stop;
	int			max_line;		/* max_line_length */
	PgsDecoder	dec;
} SocketTable;

static SocketTable *
socket_table(Relation rel)
{
	ForeignTable *ft = GetForeignTable(RelationGetRelid(rel));
	ForeignServer *server = GetForeignServer(ft->serverid);
	SocketTable *t = palloc0(sizeof(SocketTable));
	TupleDesc	desc = RelationGetDescr(rel);
	bool	   *data = palloc(sizeof(bool) * desc->natts);
	ListCell   *lc;

	t->relid = RelationGetRelid(rel);
	t->what = psprintf("socket stream \"%s\"", RelationGetRelationName(rel));
	foreach(lc, server->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "host") == 0)
			t->host = defGetString(def);
		else if (strcmp(def->defname, "port") == 0)
			t->port = defGetString(def);
	}
	if (t->host == NULL || t->port == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("%s: server \"%s\" needs options \"host\" and \"port\"",
						t->what, server->servername)));
	t->max_line = SOCKET_MAX_LINE_DEFAULT;
	foreach(lc, ft->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "on_error") == 0)
			t->on_error_stop = pgs_on_error_stop(def);
		else if (strcmp(def->defname, "max_line_length") == 0)
			t->max_line = pgs_defel_int64(def, 1, SOCKET_MAX_LINE_MAX,
										  ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE);
	}
	for (int i = 0; i < desc->natts; i++)
		data[i] = true;
	pgs_decoder_init(&t->dec, desc, data, ft->options, PGS_FORMAT_TEXT, t->what);
	if (t->dec.format == PGS_FORMAT_PARQUET)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
				 errmsg("%s: format parquet is for file streams only", t->what)));
	return t;
}

static void
conn_close(SocketConn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void
connect_failed(SocketTable *t, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_FDW_UNABLE_TO_ESTABLISH_CONNECTION),
			 errmsg("%s: could not connect to %s:%s: %s", t->what, t->host, t->port, why)));
}

/* a new connection, or an error saying why not */
static int
socket_connect(SocketTable *t)
{
	struct addrinfo hints = {0};
	struct addrinfo *addrs;
	int			rc;
	int			fd;
	int			err = 0;
	socklen_t	errlen = sizeof(err);
	TimestampTz start = GetCurrentTimestamp();

	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(t->host, t->port, &hints, &addrs);
	if (rc != 0)
		connect_failed(t, gai_strerror(rc));
	fd = socket(addrs->ai_family, addrs->ai_socktype, addrs->ai_protocol);
	if (fd < 0)
	{
		freeaddrinfo(addrs);
		connect_failed(t, strerror(errno));
	}
	(void) fcntl(fd, F_SETFL, O_NONBLOCK);
	(void) fcntl(fd, F_SETFD, FD_CLOEXEC);
	rc = connect(fd, addrs->ai_addr, addrs->ai_addrlen);
	freeaddrinfo(addrs);
	if (rc != 0 && errno != EINPROGRESS)
	{
		err = errno;
		close(fd);
		connect_failed(t, strerror(err));
	}
	while (rc != 0)
	{
		struct pollfd pfd = {fd, POLLOUT, 0};

		rc = poll(&pfd, 1, 100);
		if (rc > 0)
			break;
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(), SOCKET_CONNECT_TIMEOUT_MS))
		{
			close(fd);
			connect_failed(t, "timed out");
		}
		rc = -1;
		CHECK_FOR_INTERRUPTS();
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 || err != 0)
	{
		close(fd);
		connect_failed(t, strerror(err ? err : errno));
	}
	return fd;
}

static SocketConn *
socket_conn(SocketTable *t)
{
	SocketConn *c;

	for (c = conns; c; c = c->next)
		if (c->relid == t->relid)
			break;
	if (c && c->fd >= 0 && (strcmp(c->host, t->host) != 0 || strcmp(c->port, t->port) != 0))
		conn_close(c);			/* the server's options changed */
	if (c == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		c = palloc0(sizeof(SocketConn));
		c->relid = t->relid;
		c->fd = -1;
		initStringInfo(&c->buf);
		c->next = conns;
		conns = c;
		MemoryContextSwitchTo(old);
	}
	if (c->fd < 0 && !c->eof)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		if (c->host)
			pfree(c->host);
		if (c->port)
			pfree(c->port);
		c->host = pstrdup(t->host);
		c->port = pstrdup(t->port);
		MemoryContextSwitchTo(old);
		resetStringInfo(&c->buf);
		c->line_start = 0;
		c->skipping = false;
		c->nmarks = 0;
		c->lines = 0;
		c->fd = socket_connect(t);
	}
	return c;
}

static void
mark_line(SocketConn *c, int offset, int kind)
{
	if (c->nmarks == c->maxmarks)
	{
		c->maxmarks = Max(16, c->maxmarks * 2);
		c->marks = c->marks ?
			repalloc(c->marks, sizeof(SocketMark) * c->maxmarks) :
			MemoryContextAlloc(TopMemoryContext, sizeof(SocketMark) * c->maxmarks);
	}
	c->marks[c->nmarks].offset = offset;
	c->marks[c->nmarks].kind = kind;
	c->nmarks++;
}

/*
 * The length of the first n bytes of s cut back to a character boundary
 * (a NUL counts as one byte: the line may hold one), at most limit.
 */
static int
clip_to_chars(const char *s, int n, int limit)
{
	int			len = 0;

	while (len < n)
	{
		int			l = s[len] == '\0' ? 1 : pg_mblen(s + len);

		/* a character cut off at n (or at limit) is left out whole */
		if (len + l > Min(limit, n))
			break;
		len += l;
	}
	return len;
}

/*
 * End the line still arriving here: it becomes a complete line of the
 * buffer, marked kind; a too-long one keeps only its first bytes.
 */
static void
end_line_marked(SocketConn *c, int kind)
{
	int			len = c->buf.len - c->line_start;

	if (kind == LINE_TOO_LONG)
		len = clip_to_chars(c->buf.data + c->line_start, len, SOCKET_LONG_PREFIX);
	c->buf.len = c->line_start + len;
	appendStringInfoChar(&c->buf, '\n');
	mark_line(c, c->line_start, kind);
	c->line_start = c->buf.len;
}

/*
 * n received bytes into the buffer, line by line: a line still arriving
 * is held up to max_line_length bytes (one more for a \r before its
 * newline); past that it is ended as too long and the rest of it dropped.
 */
static void
take_bytes(SocketTable *t, SocketConn *c, const char *data, int n)
{
	const char *end = data + n;

	while (data < end)
	{
		const char *nl = memchr(data, '\n', end - data);
		int			seg = nl ? nl - data : end - data;	/* without the newline */
		int			have = c->buf.len - c->line_start;
		int			room = t->max_line + 1 - have;	/* bytes the line may still take */

		if (c->skipping)
		{
			/* the rest of a line already reported too long */
			if (nl == NULL)
				return;
			c->skipping = false;
			data = nl + 1;
			continue;
		}
		if (seg <= room)
		{
			appendBinaryStringInfo(&c->buf, data, nl ? seg + 1 : seg);
			if (nl)
				c->line_start = c->buf.len;
			have += seg;
			/* max_line_length + 1 bytes are a line only if the last is a \r */
			if (have == t->max_line + 1 &&
				!(c->buf.data[c->buf.len - (nl ? 2 : 1)] == '\r'))
			{
				if (nl)
				{
					/* complete but too long: end it again, marked */
					c->buf.len--;
					c->line_start = c->buf.len - have;
					end_line_marked(c, LINE_TOO_LONG);
				}
				else
				{
					end_line_marked(c, LINE_TOO_LONG);
					c->skipping = true;
				}
			}
			data = nl ? nl + 1 : end;
			continue;
		}
		/* too long: keep what it may hold, report it, drop the rest */
		appendBinaryStringInfo(&c->buf, data, Max(room, 0));
		end_line_marked(c, LINE_TOO_LONG);
		if (nl)
			data = nl + 1;
		else
		{
			c->skipping = true;
			return;
		}
	}
}

/*
 * What has arrived, into c->buf, without waiting longer than wait_ms;
 * false if the server closed the connection (a line it cut off is then
 * ended, marked cut off).
 */
static bool
socket_receive(SocketTable *t, SocketConn *c, int wait_ms)
{
	TimestampTz start = GetCurrentTimestamp();
	static char chunk[SOCKET_RECV_BYTES];

	for (;;)
	{
		ssize_t		n;

		n = recv(c->fd, chunk, sizeof(chunk), 0);
		if (n > 0)
		{
			take_bytes(t, c, chunk, n);
			if (c->buf.len > SOCKET_BATCH_BYTES)
				return true;	/* enough for a batch */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		{
			if (n < 0)
				ereport(LOG,
						(errmsg("%s: connection to %s:%s lost: %m", t->what, t->host, t->port)));
			/* a line without its newline is not a record: say so */
			if (c->buf.len > c->line_start && !c->skipping)
				end_line_marked(c, LINE_CUT_OFF);
			return false;
		}
		if (wait_ms <= 0 ||
			TimestampDifferenceExceeds(start, GetCurrentTimestamp(), wait_ms))
			return true;
		{
			struct pollfd pfd = {c->fd, POLLIN, 0};

			(void) poll(&pfd, 1, 10);
			CHECK_FOR_INTERRUPTS();
		}
	}
}

typedef struct SocketDecode
{
	SocketTable *t;
	char	  **lines;
	int		   *lens;
	char	   *kinds;			/* LINE_OK, LINE_TOO_LONG, LINE_CUT_OFF */
	int64		first;			/* number of the first line */
} SocketDecode;

static void
decode_line(void *arg, int64 i, Datum *values, bool *nulls)
{
	SocketDecode *sd = arg;

	if (sd->kinds[i] == LINE_TOO_LONG)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("line longer than max_line_length (%d bytes): its first %d bytes are kept, the rest was skipped",
						sd->t->max_line, sd->lens[i])));
	if (sd->kinds[i] == LINE_CUT_OFF)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("line cut off: the connection closed before its newline")));
	pgs_decode_record(&sd->t->dec, sd->lines[i], sd->lens[i], values, nulls);
}

static void
bad_line(void *arg, int64 i, const char *error)
{
	SocketDecode *sd = arg;
	SocketTable *t = sd->t;
	StringInfoData pos;

	initStringInfo(&pos);
	appendStringInfoString(&pos, "{\"host\": ");
	escape_json(&pos, t->host);
	appendStringInfoString(&pos, ", \"port\": ");
	escape_json(&pos, t->port);
	appendStringInfo(&pos, ", \"line\": " INT64_FORMAT "}", sd->first + i);
	pgs_dead_letter(t->relid, t->what, pgs_jsonb_from_cstring(pos.data),
					psprintf("line " INT64_FORMAT " from %s:%s", sd->first + i, t->host, t->port),
					sd->lines[i], sd->lens[i], error);
}

/*
 * The first bytes of the buffer, up to p, are taken: move the rest to the
 * front, with its marks, and give back a buffer a large batch grew.
 */
static void
drop_taken(SocketConn *c, char *p)
{
	int			taken = p - c->buf.data;
	int			m = 0;

	while (m < c->nmarks && c->marks[m].offset < taken)
		m++;
	c->nmarks -= m;
	for (int k = 0; k < c->nmarks; k++)
	{
		c->marks[k] = c->marks[k + m];
		c->marks[k].offset -= taken;
	}
	c->buf.len -= taken;
	c->line_start -= taken;
	memmove(c->buf.data, p, c->buf.len);
	c->buf.data[c->buf.len] = '\0';
	if (c->buf.maxlen > SOCKET_BUF_KEEP && c->buf.len < c->buf.maxlen / 4)
	{
		int			size = Max(c->buf.len + 1, SOCKET_RECV_BYTES);
		char	   *data = MemoryContextAlloc(TopMemoryContext, size);

		memcpy(data, c->buf.data, c->buf.len + 1);
		pfree(c->buf.data);
		c->buf.data = data;
		c->buf.maxlen = size;
	}
}

static void
socket_read(Relation rel, Jsonb *position, int64 max_rows, SourceBatch *batch)
{
	SocketTable *t = socket_table(rel);
	SocketConn *c = socket_conn(t);
	SocketDecode sd;
	int64		n = 0;
	int64		alloc = 256;
	int			m = 0;
	char	   *p;
	char	   *end;

	/* a plain SELECT takes what comes for a moment, on a connection of its own */
	if (c->fd >= 0 && !socket_receive(t, c, position ? 0 : SOCKET_SELECT_WAIT_MS))
	{
		ereport(LOG,
				(errmsg("%s: %s:%s closed the connection", t->what, t->host, t->port)));
		conn_close(c);
		c->eof = true;			/* the lines it sent are taken first */
	}
	sd.t = t;
	sd.lines = palloc(sizeof(char *) * alloc);
	sd.lens = palloc(sizeof(int) * alloc);
	sd.kinds = palloc(sizeof(char) * alloc);
	sd.first = c->lines + 1;
	p = c->buf.data;
	end = c->buf.data + c->line_start;	/* the complete lines */
	while (p < end && (max_rows < 0 || n < max_rows))
	{
		char	   *nl = memchr(p, '\n', end - p);
		int			len = nl - p;

		if (n == alloc)
		{
			alloc *= 2;
			sd.lines = repalloc(sd.lines, sizeof(char *) * alloc);
			sd.lens = repalloc(sd.lens, sizeof(int) * alloc);
			sd.kinds = repalloc(sd.kinds, sizeof(char) * alloc);
		}
		sd.kinds[n] = LINE_OK;
		if (m < c->nmarks && c->marks[m].offset == p - c->buf.data)
			sd.kinds[n] = c->marks[m++].kind;
		if (len > 0 && p[len - 1] == '\r' && sd.kinds[n] == LINE_OK)
			len--;
		/* its exact bytes: a NUL inside must not shorten it */
		sd.lines[n] = palloc(len + 1);
		memcpy(sd.lines[n], p, len);
		sd.lines[n][len] = '\0';
		sd.lens[n] = len;
		n++;
		p = nl + 1;
	}
	/* the rest stays for the next batch */
	c->lines += n;
	drop_taken(c, p);
	if (c->eof && c->line_start == 0)
	{
		/* all taken: the next batch connects again */
		c->eof = false;
		resetStringInfo(&c->buf);
	}
	if (position == NULL)
	{
		conn_close(c);
		c->eof = false;
	}

	batch->chunks = tuplestore_begin_heap(false, false, work_mem);
	batch->rows_bad = pgs_decode_batch(RelationGetDescr(rel), n, decode_line, bad_line, &sd,
									   t->on_error_stop, batch->chunks);
	batch->nrows = n;
	batch->start_position = position;
	batch->end_position = position ?
		pgs_jsonb_from_cstring(psprintf("{\"lines\": " INT64_FORMAT "}",
										pgs_jsonb_get_int64(position, "lines", 0) + n)) : NULL;
	batch->more = c->line_start > 0;
	batch->wait_ms = batch->more ? 0 : SOCKET_IDLE_POLL_MS;
}

static Jsonb *
socket_initial_position(Relation rel)
{
	(void) socket_table(rel);	/* checks the options */
	return pgs_jsonb_from_cstring("{\"lines\": 0}");
}

/* a socket has no end to reach: REFRESH takes what is there, once */
static Jsonb *
socket_mark(Relation rel)
{
	return pgs_jsonb_from_cstring("{}");
}

static bool
socket_reached(Relation rel, Jsonb *position, Jsonb *mark)
{
	return true;
}

/*
 * A socket server needs both its options (only superusers set them: see
 * superuser_servers).
 */
static void
socket_validate(List *options, Oid catalog)
{
	bool		host = false,
				port = false;
	ListCell   *lc;

	if (catalog != ForeignServerRelationId)
		return;
	foreach(lc, options)
	{
		host |= (strcmp(lfirst_node(DefElem, lc)->defname, "host") == 0);
		port |= (strcmp(lfirst_node(DefElem, lc)->defname, "port") == 0);
	}
	if (!host || !port)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a socket server needs options \"host\" and \"port\""),
				 errhint("As in OPTIONS (host '127.0.0.1', port '9999').")));
}

static const SourceOption socket_options[] = {
	{"host", PGS_OPT_SERVER, PGS_CHECK_NONEMPTY},
	PGS_OPT_INT("port", PGS_OPT_SERVER, 1, 65535),
	PGS_OPT_FORMAT_OPTIONS,
	{"on_error", PGS_OPT_TABLE, PGS_CHECK_ON_ERROR},
	PGS_OPT_EVENT_TIME_OPTIONS,
	PGS_OPT_INT("max_line_length", PGS_OPT_TABLE, 1, SOCKET_MAX_LINE_MAX),
	{NULL}
};

const SourceRoutine socket_source = {
	.name = "socket",
	.initial_position = socket_initial_position,
	.read = socket_read,
	.mark = socket_mark,
	.reached = socket_reached,
	.options = socket_options,
	.contexts = {
		.server = "a socket server",
		.table = "a socket stream",
	},
	.superuser_servers = true,
	.validate = socket_validate,
};
