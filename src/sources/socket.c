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
 * arrived before a close are processed first.
 *
 * Opening connections from the server is for superusers: only they may
 * set a socket server's host and port; they may then grant USAGE on it.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_stream.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access/reloptions.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "commands/defrem.h"
#include "foreign/fdwapi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(socket_fdw_handler);
PG_FUNCTION_INFO_V1(socket_fdw_validator);

#define SOCKET_CONNECT_TIMEOUT_MS 5000
#define SOCKET_IDLE_POLL_MS 100
#define SOCKET_SELECT_WAIT_MS 100	/* a plain SELECT reads what comes in this long */

static const char *const server_opts[] = {"host", "port", NULL};
static const char *const table_opts[] = {"format", "delimiter", "quote", "escape", "null",
"on_error", "event_time", "watermark", NULL};

typedef struct SocketConn
{
	Oid			relid;
	char	   *host;
	char	   *port;
	int			fd;
	StringInfoData buf;			/* received, not yet taken */
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
	foreach(lc, ft->options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);

		if (strcmp(def->defname, "on_error") == 0)
			t->on_error_stop = pgs_on_error_stop(def);
	}
	for (int i = 0; i < desc->natts; i++)
		data[i] = true;
	pgs_decoder_init(&t->dec, desc, data, ft->options, PGS_FORMAT_TEXT, t->what);
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
	if (c->fd < 0)
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
		c->lines = 0;
		c->fd = socket_connect(t);
	}
	return c;
}

/*
 * What has arrived, into c->buf, without waiting longer than wait_ms;
 * false if the server closed the connection.
 */
static bool
socket_receive(SocketTable *t, SocketConn *c, int wait_ms)
{
	TimestampTz start = GetCurrentTimestamp();

	for (;;)
	{
		ssize_t		n;

		enlargeStringInfo(&c->buf, 65536);
		n = recv(c->fd, c->buf.data + c->buf.len, 65536, 0);
		if (n > 0)
		{
			c->buf.len += n;
			c->buf.data[c->buf.len] = '\0';
			if (c->buf.len > 64 * 1024 * 1024)
				return true;	/* enough for a batch */
			continue;
		}
		if (n == 0)
			return false;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
		{
			ereport(LOG,
					(errmsg("%s: connection to %s:%s lost: %m", t->what, t->host, t->port)));
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
	int64		first;			/* number of the first line */
} SocketDecode;

static void
decode_line(void *arg, int64 i, Datum *values, bool *nulls)
{
	SocketDecode *sd = arg;

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

static void
socket_read(Relation rel, Jsonb *position, int64 max_rows, SourceBatch *batch)
{
	SocketTable *t = socket_table(rel);
	SocketConn *c = socket_conn(t);
	bool		open;
	SocketDecode sd;
	int64		n = 0;
	int64		alloc = 256;
	char	   *p;
	char	   *end;

	/* a plain SELECT takes what comes for a moment, on a connection of its own */
	open = socket_receive(t, c, position ? 0 : SOCKET_SELECT_WAIT_MS);
	sd.t = t;
	sd.lines = palloc(sizeof(char *) * alloc);
	sd.lens = palloc(sizeof(int) * alloc);
	sd.first = c->lines + 1;
	p = c->buf.data;
	end = c->buf.data + c->buf.len;
	while (p < end && (max_rows < 0 || n < max_rows))
	{
		char	   *nl = memchr(p, '\n', end - p);
		int			len;

		if (nl == NULL && open)
			break;				/* still arriving */
		len = nl ? nl - p : end - p;
		if (n == alloc)
		{
			alloc *= 2;
			sd.lines = repalloc(sd.lines, sizeof(char *) * alloc);
			sd.lens = repalloc(sd.lens, sizeof(int) * alloc);
		}
		if (len > 0 && p[len - 1] == '\r')
			len--;
		sd.lines[n] = pnstrdup(p, len);
		sd.lens[n] = len;
		n++;
		p = nl ? nl + 1 : end;
	}
	/* the rest stays for the next batch */
	c->lines += n;
	c->buf.len = end - p;
	memmove(c->buf.data, p, c->buf.len);
	c->buf.data[c->buf.len] = '\0';
	if (!open)
	{
		ereport(LOG,
				(errmsg("%s: %s:%s closed the connection", t->what, t->host, t->port)));
		conn_close(c);
	}
	else if (position == NULL)
		conn_close(c);

	batch->rows = tuplestore_begin_heap(false, false, work_mem);
	batch->rows_bad = pgs_decode_batch(RelationGetDescr(rel), n, decode_line, bad_line, &sd,
									   t->on_error_stop, batch->rows);
	batch->nrows = n;
	batch->start_position = position;
	batch->end_position = position ?
		pgs_jsonb_from_cstring(psprintf("{\"lines\": " INT64_FORMAT "}",
										pgs_jsonb_get_int64(position, "lines", 0) + n)) : NULL;
	batch->more = (c->fd >= 0 && memchr(c->buf.data, '\n', c->buf.len) != NULL);
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

const SourceRoutine socket_source = {
	.name = "socket",
	.initial_position = socket_initial_position,
	.read = socket_read,
	.mark = socket_mark,
	.reached = socket_reached,
};

Datum
socket_fdw_handler(PG_FUNCTION_ARGS)
{
	FdwRoutine *routine = makeNode(FdwRoutine);

	pgs_fdw_scan_routines(routine);
	PG_RETURN_POINTER(routine);
}

Datum
socket_fdw_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst_node(DefElem, lc);
		char	   *v = defGetString(def);

		if (catalog == ForeignServerRelationId)
		{
			if (!superuser())
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("only a superuser may set the options of a socket server"),
						 errhint("A superuser can create the server and grant USAGE on it.")));
			if (strcmp(def->defname, "port") == 0)
				(void) pgs_defel_int64(def, 1, 65535, ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE);
			else if (strcmp(def->defname, "host") == 0)
			{
				if (*v == '\0')
					ereport(ERROR,
							(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
							 errmsg("option \"host\" must not be empty")));
			}
			else
				pgs_reject_unknown_option(def->defname, server_opts, "a socket server");
		}
		else if (catalog == ForeignTableRelationId)
		{
			if (strcmp(def->defname, "on_error") == 0)
				(void) pgs_on_error_stop(def);
			else if (!pgs_format_option(def, false) && !pgs_event_time_option(def))
				pgs_reject_unknown_option(def->defname, table_opts, "a socket stream");
		}
		else
			pgs_reject_unknown_option(def->defname, NULL,
									  "foreign-data wrapper \"socket\" in this context");
	}
	if (catalog == ForeignServerRelationId)
	{
		bool		host = false,
					port = false;

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
	PG_RETURN_VOID();
}
