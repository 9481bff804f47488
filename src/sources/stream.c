/*-------------------------------------------------------------------------
 *
 * stream.c
 *	  The "stream" source: a foreign table fed by INSERT and COPY.
 *
 * Storage. Rows inserted into a stream are packed (formats/tuple.c) into
 * chunks of ~8 kB, each stored as one row of stream.buffer together with
 * the stream's OID, the inserting transaction's full transaction id and
 * the chunk's number in its backend (a transaction's rows are read in the
 * order they were inserted: by xid, then by that number).
 * The chunk is an ordinary heap tuple written in the inserting
 * transaction, so the insert is exactly as durable and transactional as
 * an INSERT into a table: a rolled-back transaction's chunks are dead.
 *
 * Positions. The hard case is concurrency: transactions that started in
 * one order may commit in another, so "everything up to id N" is no
 * position at all (a transaction with a smaller id may commit later and
 * be skipped). A position is therefore a set of transactions, written
 * like a snapshot: {xmin, xmax, xip[]}, meaning "every transaction below
 * xmax that is not in xip has been consumed" (and every one below xmin).
 * A batch reads, through its own MVCC snapshot S, the chunks whose xid
 * the position does not cover (an index range scan from xmin). If it
 * read them all, the new position is S itself: S sees everything the old
 * position covered, plus what was just read. If max_batch_rows cut the
 * batch after transaction c (a batch always holds whole transactions),
 * the new position covers the old one plus the transactions read:
 *
 *		xmax' = max(xmax, c + 1)
 *		xip'  = { x in xip  : x in S.xip or x > c }
 *			  u { x in S.xip : xmax <= x < xmax' }
 *		xmin' = min(xip' u { xmax' })
 *
 * The position is stored in stream.positions in the batch's transaction,
 * with the view's changes: exactly-once.
 *
 * Clean-up. A chunk is kept until every view reading the stream has
 * consumed it, whoever consumed it (a worker or a REFRESH): chunks below
 * the smallest xmin of the readers' positions are deleted by workers after
 * their batches (at most once a second each), and by the manager, every
 * second and when a REFRESH commits, for every stream of its database; chunks of streams nobody reads go the
 * same way. Until then a plain SELECT does not show them: it skips what
 * every reader's position covers. See stream_cleanup for how a view still
 * being created is protected.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "meta/meta.h"
#include "formats/formats.h"
#include "sources/sources.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "foreign/fdwapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "storage/lmgr.h"
#include "storage/procarray.h"
#include "utils/snapmgr.h"

/* chunk size: one chunk and its row header fit in a heap page */
#define STREAM_CHUNK_BYTES 7900

/*------------------------------------------------------------------------
 * Positions: sets of consumed transactions
 *------------------------------------------------------------------------
 */
typedef struct XidSet
{
	uint64		xmin;
	uint64		xmax;
	int			nxip;
	uint64	   *xip;
} XidSet;

static bool
xidset_in_xip(const XidSet *s, uint64 x)
{
	for (int i = 0; i < s->nxip; i++)
		if (s->xip[i] == x)
			return true;
	return false;
}

/* true if transaction x is covered (consumed) by position s */
static inline bool
xidset_covers(const XidSet *s, uint64 x)
{
	if (x < s->xmin)
		return true;
	if (x >= s->xmax)
		return false;
	return !xidset_in_xip(s, x);
}

/* a 32-bit xid of a current snapshot, widened with the epoch */
static uint64
widen_xid(FullTransactionId next, TransactionId xid)
{
	uint64		epoch = EpochFromFullTransactionId(next);

	if (xid > XidFromFullTransactionId(next))
		epoch--;
	return (epoch << 32) | xid;
}

/*
 * The set of transactions a snapshot sees as committed. A snapshot leaves
 * out the current transaction's own xid, whose rows it does see: but they
 * are not committed, so the current transaction counts as running (a
 * REFRESH in a transaction that inserted into the stream must neither
 * consume those rows nor cover them).
 */
static void
xidset_from_snapshot(Snapshot snap, XidSet *s)
{
	FullTransactionId next = ReadNextFullTransactionId();
	FullTransactionId own = GetTopFullTransactionIdIfAny();

	s->xmin = widen_xid(next, snap->xmin);
	s->xmax = widen_xid(next, snap->xmax);
	s->nxip = snap->xcnt;
	s->xip = palloc(sizeof(uint64) * (snap->xcnt + 1));
	for (uint32 i = 0; i < snap->xcnt; i++)
		s->xip[i] = widen_xid(next, snap->xip[i]);
	if (FullTransactionIdIsValid(own))
	{
		uint64		x = U64FromFullTransactionId(own);

		if (x < s->xmax && !xidset_in_xip(s, x))
			s->xip[s->nxip++] = x;
		s->xmin = Min(s->xmin, x);
	}
}

static Jsonb *
xidset_to_jsonb(const XidSet *s)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"xmin\": " UINT64_FORMAT ", \"xmax\": " UINT64_FORMAT ", \"xip\": [",
					 s->xmin, s->xmax);
	for (int i = 0; i < s->nxip; i++)
		appendStringInfo(&buf, "%s" UINT64_FORMAT, i ? ", " : "", s->xip[i]);
	appendStringInfoString(&buf, "]}");
	return pgs_jsonb_from_cstring(buf.data);
}

static void
xidset_from_jsonb(Jsonb *jb, XidSet *s)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			alloc = 8;

	memset(s, 0, sizeof(*s));
	s->xip = palloc(sizeof(uint64) * alloc);
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if ((tok == WJB_VALUE || tok == WJB_ELEM) && v.type == jbvNumeric)
		{
			uint64		n = DatumGetInt64(DirectFunctionCall1(numeric_int8,
															  NumericGetDatum(v.val.numeric)));

			if (tok == WJB_ELEM)
			{
				if (s->nxip == alloc)
				{
					alloc *= 2;
					s->xip = repalloc(s->xip, sizeof(uint64) * alloc);
				}
				s->xip[s->nxip++] = n;
			}
			else if (key && strcmp(key, "xmin") == 0)
				s->xmin = n;
			else if (key && strcmp(key, "xmax") == 0)
				s->xmax = n;
		}
	}
}

/*------------------------------------------------------------------------
 * Reading the buffer
 *------------------------------------------------------------------------
 */
static Oid
buffer_relid(void)
{
	Oid			nsp = get_namespace_oid(PG_STREAM_SCHEMA, false);
	Oid			relid = get_relname_relid("buffer", nsp);

	/* its chunks are formed and read column by column */
	pgs_check_catalog();

	if (!OidIsValid(relid))
		elog(ERROR, "relation stream.buffer is missing");
	return relid;
}

static Oid
buffer_index_relid(void)
{
	Oid			nsp = get_namespace_oid(PG_STREAM_SCHEMA, false);
	Oid			relid = get_relname_relid("buffer_stream_xid", nsp);

	if (!OidIsValid(relid))
		elog(ERROR, "index stream.buffer_stream_xid is missing");
	return relid;
}

/*
 * Scan the chunks of stream relid that position p does not cover, in xid
 * order (and a transaction's in the order it wrote them), skipping the
 * current transaction's own if skip_own. For each chunk, call fn; it
 * returns false to stop before that chunk.
 */
typedef bool (*chunk_fn) (void *arg, uint64 xid, int32 nrows, TupleTableSlot *bslot);

static void
scan_chunks(Oid relid, const XidSet *p, bool skip_own, chunk_fn fn, void *arg)
{
	Relation	bufrel = table_open(buffer_relid(), AccessShareLock);
	Relation	idxrel = index_open(buffer_index_relid(), AccessShareLock);
	TupleTableSlot *bslot = table_slot_create(bufrel, NULL);
	IndexScanDesc scan;
	ScanKeyData keys[2];
	FullTransactionId ownfxid = GetTopFullTransactionIdIfAny();
	uint64		own = (skip_own && FullTransactionIdIsValid(ownfxid)) ?
		U64FromFullTransactionId(ownfxid) : PG_UINT64_MAX;
	uint64		next = U64FromFullTransactionId(ReadNextFullTransactionId());

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	ScanKeyInit(&keys[1], 2, BTGreaterEqualStrategyNumber, F_INT8GE,
				Int64GetDatum((int64) p->xmin));
	scan = index_beginscan(bufrel, idxrel, GetActiveSnapshot(), 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, bslot))
	{
		bool		isnull;
		uint64		xid = (uint64) DatumGetInt64(slot_getattr(bslot, 2, &isnull));
		int32		nrows = DatumGetInt32(slot_getattr(bslot, 3, &isnull));

		/*
		 * covered, or (for a batch) this transaction's uncommitted rows;
		 * or from a transaction this cluster has not had yet: a chunk
		 * restored from a dump of another cluster that no restored view
		 * reads (stream_restore renumbers the others), garbage
		 */
		if (xidset_covers(p, xid) || xid == own || xid >= next)
			continue;
		if (!fn(arg, xid, nrows, bslot))
			break;
		CHECK_FOR_INTERRUPTS();
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(bslot);
	index_close(idxrel, AccessShareLock);
	table_close(bufrel, AccessShareLock);
}

typedef struct ReadState
{
	int			nreaders;		/* a plain SELECT: the views' positions */
	XidSet	   *readers;
	int64		max_rows;		/* or -1 */
	int64		nrows;
	bool		any;
	bool		cut;
	uint64		last_xid;
	TupleTableSlot *chunkslot;	/* one bytea column */
	Tuplestorestate *dest;
} ReadState;

static bool
read_chunk(void *arg, uint64 xid, int32 nrows, TupleTableSlot *bslot)
{
	ReadState  *rs = arg;
	bool		isnull;

	/* consumed by every view, not yet deleted by the clean-up */
	if (rs->nreaders > 0)
	{
		int			i;

		for (i = 0; i < rs->nreaders; i++)
			if (!xidset_covers(&rs->readers[i], xid))
				break;
		if (i == rs->nreaders)
			return true;
	}
	/* a batch holds whole transactions */
	if (rs->max_rows >= 0 && rs->nrows >= rs->max_rows && xid != rs->last_xid)
	{
		rs->cut = true;
		return false;
	}
	{
		Datum		d = slot_getattr(bslot, 4, &isnull);
		bytea	   *chunk = DatumGetByteaPP(d);

		/* the chunk as it is; the foreign scan unpacks its rows */
		ExecClearTuple(rs->chunkslot);
		rs->chunkslot->tts_values[0] = PointerGetDatum(chunk);
		rs->chunkslot->tts_isnull[0] = false;
		ExecStoreVirtualTuple(rs->chunkslot);
		tuplestore_puttupleslot(rs->dest, rs->chunkslot);
		rs->nrows += nrows;
		/* a chunk stored out of line was detoasted: do not keep it */
		if ((Pointer) chunk != DatumGetPointer(d))
			pfree(chunk);
	}
	rs->last_xid = xid;
	rs->any = true;
	return true;
}

/*
 * The positions of the views reading stream relid, for a plain SELECT,
 * which shows what they have not all consumed. None (everything kept is
 * shown) while a restored view is not refreshed yet: its position holds
 * the ids of another cluster until then (see stream_restore).
 */
static int
reader_positions(Oid relid, XidSet **readers)
{
	bool		all_populated;
	List	   *positions = meta_reader_positions(relid, &all_populated);
	ListCell   *lc;
	int			n = 0;

	*readers = NULL;
	if (!all_populated || positions == NIL)
		return 0;
	*readers = palloc(sizeof(XidSet) * list_length(positions));
	foreach(lc, positions)
	{
		PositionRow *p = lfirst(lc);

		xidset_from_jsonb(p->position, &(*readers)[n++]);
		pfree(p->position);
	}
	list_free_deep(positions);
	return n;
}

static void
stream_read(Relation rel, Jsonb *position, int64 max_rows, SourceBatch *batch)
{
	XidSet		p1;
	XidSet		s2;
	ReadState	rs;

	memset(&rs, 0, sizeof(rs));
	if (position)
		xidset_from_jsonb(position, &p1);
	else
	{
		/* bounded read: what the views have not all consumed */
		memset(&p1, 0, sizeof(p1));
		rs.nreaders = reader_positions(RelationGetRelid(rel), &rs.readers);
		for (int i = 0; i < rs.nreaders; i++)
			p1.xmin = p1.xmax = (i == 0) ? rs.readers[i].xmin : Min(p1.xmin, rs.readers[i].xmin);
	}

	rs.max_rows = max_rows;
	batch->chunks = tuplestore_begin_heap(false, false, work_mem);
	rs.dest = batch->chunks;
	rs.chunkslot = MakeSingleTupleTableSlot(tuple_chunk_desc(), &TTSOpsVirtual);
	/* a plain SELECT (no position) sees what its transaction sees */
	scan_chunks(RelationGetRelid(rel), &p1, position != NULL, read_chunk, &rs);
	ExecDropSingleTupleTableSlot(rs.chunkslot);

	batch->nrows = rs.nrows;
	batch->more = rs.cut;
	batch->wait_ms = -1;
	batch->start_position = position;
	batch->end_position = position;
	if (position == NULL || !rs.any)
		return;

	xidset_from_snapshot(GetActiveSnapshot(), &s2);
	if (!rs.cut)
		batch->end_position = xidset_to_jsonb(&s2);
	else
	{
		XidSet		p2;
		uint64		c = rs.last_xid;

		p2.xmax = Max(p1.xmax, c + 1);
		p2.xip = palloc(sizeof(uint64) * (p1.nxip + s2.nxip + 1));
		p2.nxip = 0;
		for (int i = 0; i < p1.nxip; i++)
			if (p1.xip[i] > c || xidset_in_xip(&s2, p1.xip[i]))
				p2.xip[p2.nxip++] = p1.xip[i];
		for (int i = 0; i < s2.nxip; i++)
			if (s2.xip[i] >= p1.xmax && s2.xip[i] < p2.xmax)
				p2.xip[p2.nxip++] = s2.xip[i];
		p2.xmin = p2.xmax;
		for (int i = 0; i < p2.nxip; i++)
			p2.xmin = Min(p2.xmin, p2.xip[i]);
		batch->end_position = xidset_to_jsonb(&p2);
	}
}

static Jsonb *
stream_initial_position(Relation rel)
{
	XidSet		s;

	xidset_from_snapshot(GetActiveSnapshot(), &s);
	return xidset_to_jsonb(&s);
}

/* the input available now: the transactions a fresh snapshot sees */
static Jsonb *
stream_mark(Relation rel)
{
	XidSet		s;

	xidset_from_snapshot(GetActiveSnapshot(), &s);
	return xidset_to_jsonb(&s);
}

/*
 * Has position p consumed every transaction that mark m saw committed?
 * Those are the ones below m.xmax not in m.xip; p leaves out the ones at
 * or above p.xmax and those in p.xip.
 */
static bool
stream_reached(Relation rel, Jsonb *position, Jsonb *mark)
{
	XidSet		p,
				m;

	xidset_from_jsonb(position, &p);
	xidset_from_jsonb(mark, &m);
	if (p.xmax < m.xmax)
		return false;
	for (int i = 0; i < p.nxip; i++)
		if (p.xip[i] < m.xmax && !xidset_in_xip(&m, p.xip[i]))
			return false;
	return true;
}

static bool
count_chunk(void *arg, uint64 xid, int32 nrows, TupleTableSlot *bslot)
{
	*(int64 *) arg += nrows;
	return true;
}

static int64
stream_lag(Relation rel, Jsonb *position)
{
	XidSet		p;
	int64		n = 0;

	xidset_from_jsonb(position, &p);
	scan_chunks(RelationGetRelid(rel), &p, true, count_chunk, &n);
	return n;
}

/*
 * The oldest transaction any snapshot may still consider running. A view
 * being created in a transaction that has not committed yet has a start
 * position nobody else can see; its snapshot is at least this old, so
 * chunks newer than this are never deleted under it.
 */
static uint64
global_horizon(void)
{
	return widen_xid(ReadNextFullTransactionId(),
					 GetOldestNonRemovableTransactionId(NULL));
}

/*
 * Delete the chunks every reader of the stream has consumed.
 *
 * Who the readers are must be certain: a view being created holds
 * ShareUpdateExclusiveLock on the stream until it commits (stream_add_reader),
 * and the clean-up takes that lock without waiting, so it never runs while
 * a reader's position is not yet visible; nor do two clean-ups of a stream
 * run at once. One statement then reads every committed position and
 * deletes below the smallest xmin, and below the global xmin horizon.
 */
static void
stream_cleanup(Oid relid)
{
	Oid			argtypes[2] = {OIDOID, INT8OID};
	Datum		args[2];

	if (!ConditionalLockRelationOid(relid, ShareUpdateExclusiveLock))
		return;
	args[0] = ObjectIdGetDatum(relid);
	args[1] = Int64GetDatum((int64) global_horizon());

	/*
	 * And chunks from transactions beyond the DELETE's own snapshot, which
	 * it can see only if they were restored from another cluster (see
	 * stream_restore): a chunk committed since has a smaller id.
	 */
	if (SPI_connect() != SPI_OK_CONNECT ||
		SPI_execute_with_args("DELETE FROM stream.buffer WHERE stream = $1 AND (xid < "
							  "LEAST($2, " META_STREAM_READERS_XMIN ") "
							  "OR xid >= pg_snapshot_xmax(pg_current_snapshot())::text::int8)",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not clean stream.buffer");
	SPI_finish();
}

/* in the transaction creating a reader, before its position is taken */
static void
stream_add_reader(Oid relid)
{
	LockRelationOid(relid, ShareUpdateExclusiveLock);
}

/*
 * The managers' clean-up of every stream with chunks in the buffer: what
 * every reader has consumed, and all of a stream no view reads (garbage).
 * The streams present are found with a skip scan of the buffer's index.
 *
 * Not while a restore may be under way: pg_dump's data comes table by
 * table, the buffer before the positions that keep its chunks, and a
 * restored view reads its unread chunks at its first REFRESH. So nothing
 * is collected in a database without views, or with a restored view not
 * yet refreshed.
 */
static void
stream_gc(void)
{
	List	   *streams = NIL;
	ListCell   *lc;
	MemoryContext cxt = CurrentMemoryContext;

	if (!meta_cq_exist_all_populated())
		return;
	SPI_connect();
	if (SPI_execute("WITH RECURSIVE s AS ("
					" SELECT min(stream) AS stream FROM stream.buffer"
					" UNION ALL"
					" SELECT (SELECT min(b.stream) FROM stream.buffer b WHERE b.stream > s.stream)"
					" FROM s WHERE s.stream IS NOT NULL)"
					" SELECT stream FROM s WHERE stream IS NOT NULL",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read stream.buffer");
	streams = pgs_spi_oids(cxt);
	SPI_finish();
	foreach(lc, streams)
		stream_cleanup(lfirst_oid(lc));
}

/*------------------------------------------------------------------------
 * Restore from a dump
 *------------------------------------------------------------------------
 *
 * A dump holds the buffer's chunks and the views' positions with the
 * transaction ids of the cluster it was taken from. Here those ids mean
 * nothing: a new transaction may well get the id of a dumped chunk. So the
 * first REFRESH of a restored view over the stream renumbers the chunks,
 * for all the restored views reading the stream at once:
 *
 * - a chunk every restored position covers is deleted;
 * - the others are grouped by which positions do not cover them, and each
 *   group gets a new id: 3, 4, ... in the order of its first chunk. These
 *   are ids of transactions long finished here (below the horizon of every
 *   snapshot), so no new transaction can be mistaken for one of them;
 * - each position becomes {xmin, xmax: 3 + groups, xip: the groups it has
 *   not read}, marked "restored" with this cluster's system identifier and
 *   this database, so that the next view's REFRESH knows the stream is
 *   done (and a dump of this database, taken before that view ran, is
 *   renumbered again where it is restored). Every transaction that
 *   commits rows later has an id above xmax: unread by all, as it should.
 *
 * The dump holds only chunks of streams some view reads. Chunks of one
 * that no restored view reads (its views were dropped before their
 * REFRESH) are never renumbered: a scan skips chunks with ids this cluster
 * has not given out yet, and the clean-up deletes them.
 *
 * The chunks are MinimalTuples: a value whose binary form holds the OID of
 * a type created in the database (an enum, a composite, an array of
 * those) would be misread in the restored database, so unread chunks of
 * such a stream make the restore fail rather than read garbage.
 */
#define RESTORED_FIRST_XID 3	/* FirstNormalTransactionId */

static void
check_portable(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && getBaseType(att->atttypid) >= FirstNormalObjectId)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot restore unread rows of stream \"%s\"",
							RelationGetRelationName(rel)),
					 errdetail("Column \"%s\" has type %s, created in the database: its values are stored with the type's OID, which a restore changes.",
							   NameStr(att->attname), format_type_be(att->atttypid)),
					 errhint("Let the views read every row before taking the dump.")));
	}
}

static Datum
int8_array(uint64 *values, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		d[i] = Int64GetDatum((int64) values[i]);
	return PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}

static void
stream_restore(Relation rel, Oid viewid)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			argtypes[3] = {OIDOID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		args[3];
	bool		found;
	List	   *restored;
	ListCell   *rc;
	int			npos;
	Oid		   *views;
	XidSet	   *pos;
	List	   *groups = NIL;	/* signatures, as strings of '0' and '1' */
	uint64	   *olds,
			   *news,
			   *gone;
	int			nmoved = 0,
				ngone = 0;
	uint64		nxids;
	char	   *sig;
	/* the mark of positions renumbered here: a second dump carries it away */
	char	   *here = psprintf(UINT64_FORMAT "/%u", GetSystemIdentifier(), MyDatabaseId);

	/* no insert and no clean-up meanwhile */
	LockRelationOid(relid, ExclusiveLock);
	SPI_connect();
	if (meta_position_restored_mark(viewid, relid, here, &found) || !found)
	{
		SPI_finish();
		return;					/* renumbered already */
	}

	/* the positions of every restored view over the stream */
	restored = meta_positions_of_restored(relid, here);
	npos = list_length(restored);
	views = palloc(sizeof(Oid) * npos);
	pos = palloc(sizeof(XidSet) * npos);
	foreach(rc, restored)
	{
		PositionRow *p = lfirst(rc);

		views[foreach_current_index(rc)] = p->view;
		xidset_from_jsonb(p->position, &pos[foreach_current_index(rc)]);
	}

	/* group the chunks' transactions by who has not read them */
	args[0] = ObjectIdGetDatum(relid);
	if (SPI_execute_with_args("SELECT DISTINCT xid FROM stream.buffer WHERE stream = $1 ORDER BY 1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read stream.buffer");
	nxids = SPI_processed;
	olds = palloc(sizeof(uint64) * Max(nxids, 1));
	news = palloc(sizeof(uint64) * Max(nxids, 1));
	gone = palloc(sizeof(uint64) * Max(nxids, 1));
	sig = palloc(npos + 1);
	sig[npos] = '\0';
	for (uint64 k = 0; k < nxids; k++)
	{
		bool		isnull;
		uint64		xid = (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[k],
															   SPI_tuptable->tupdesc, 1, &isnull));
		bool		unread = false;
		ListCell   *lc;
		int			group = -1;

		for (int i = 0; i < npos; i++)
		{
			sig[i] = xidset_covers(&pos[i], xid) ? '0' : '1';
			unread |= (sig[i] == '1');
		}
		if (!unread)
		{
			gone[ngone++] = xid;
			continue;
		}
		foreach(lc, groups)
			if (strcmp(lfirst(lc), sig) == 0)
				group = foreach_current_index(lc);
		if (group < 0)
		{
			groups = lappend(groups, pstrdup(sig));
			group = list_length(groups) - 1;
		}
		olds[nmoved] = xid;
		news[nmoved++] = RESTORED_FIRST_XID + group;
	}
	if (RESTORED_FIRST_XID + list_length(groups) > global_horizon())
		elog(ERROR, "cannot renumber the restored rows of stream \"%s\": too few transactions in this cluster",
			 RelationGetRelationName(rel));
	if (nmoved > 0)
		check_portable(rel);

	if (ngone > 0)
	{
		args[1] = int8_array(gone, ngone);
		if (SPI_execute_with_args("DELETE FROM stream.buffer WHERE stream = $1 AND xid = ANY ($2)",
								  2, argtypes, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "could not delete from stream.buffer");
	}
	if (nmoved > 0)
	{
		args[1] = int8_array(olds, nmoved);
		args[2] = int8_array(news, nmoved);
		if (SPI_execute_with_args("UPDATE stream.buffer b SET xid = m.n "
								  "FROM unnest($2, $3) AS m(o, n) "
								  "WHERE b.stream = $1 AND b.xid = m.o",
								  3, argtypes, args, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not update stream.buffer");
	}

	/* the positions, in the new numbering */
	for (int i = 0; i < npos; i++)
	{
		StringInfoData buf;
		uint64		xmax = RESTORED_FIRST_XID + list_length(groups);
		uint64		xmin = xmax;
		ListCell   *lc;
		bool		first = true;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "[");
		foreach(lc, groups)
		{
			if (((char *) lfirst(lc))[i] != '1')
				continue;
			xmin = Min(xmin, RESTORED_FIRST_XID + foreach_current_index(lc));
			appendStringInfo(&buf, "%s%d", first ? "" : ", ",
							 RESTORED_FIRST_XID + foreach_current_index(lc));
			first = false;
		}
		appendStringInfoString(&buf, "]");
		meta_position_set(views[i], relid,
						  pgs_jsonb_from_cstring(psprintf("{\"xmin\": " UINT64_FORMAT
														  ", \"xmax\": " UINT64_FORMAT
														  ", \"xip\": %s, \"restored\": \"%s\"}",
														  xmin, xmax, buf.data, here)));
	}
	SPI_finish();
	elog(DEBUG1, "pg_stream: stream \"%s\" restored: %d transactions renumbered into %d groups, %d dropped",
		 RelationGetRelationName(rel), nmoved, list_length(groups), ngone);
}

/*------------------------------------------------------------------------
 * INSERT and COPY into a stream
 *------------------------------------------------------------------------
 */
typedef struct StreamInsertState
{
	Oid			relid;
	int64		xid;
	Relation	bufrel;
	ResultRelInfo *bufrri;
	TupleTableSlot *bslot;
	EState	   *estate;
	TuplePacker packer;
} StreamInsertState;

/* did this transaction write into a stream? (wake the workers at commit) */
static bool xact_wrote_stream = false;

static void
stream_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (xact_wrote_stream)
				pgs_source_wake_database(MyDatabaseId);
			xact_wrote_stream = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			xact_wrote_stream = false;
			break;
		default:
			break;
	}
}

/*
 * At load: watch transactions for INSERTs into streams, and wake the
 * database's workers when one commits.
 */
static void
stream_init(void)
{
	RegisterXactCallback(stream_xact_callback, NULL);
}

/*
 * The chunks a backend writes, numbered: a transaction's chunks are read
 * in this order (the buffer's index is on stream, xid, seq), which is the
 * order its rows were inserted in, whatever pages they went to.
 */
static int64 chunk_seq = 0;

static void
flush_chunk(StreamInsertState *st)
{
	TupleTableSlot *slot = st->bslot;

	if (st->packer.nrows == 0)
		return;
	ExecClearTuple(slot);
	slot->tts_values[0] = ObjectIdGetDatum(st->relid);
	slot->tts_values[1] = Int64GetDatum(st->xid);
	slot->tts_values[2] = Int32GetDatum(st->packer.nrows);
	slot->tts_values[3] = PointerGetDatum(tuple_pack_bytea(&st->packer));
	slot->tts_values[4] = Int64GetDatum(++chunk_seq);
	memset(slot->tts_isnull, 0, sizeof(bool) * 5);
	ExecStoreVirtualTuple(slot);
	table_tuple_insert(st->bufrel, slot, GetCurrentCommandId(true), 0, NULL);
	ExecInsertIndexTuples(st->bufrri, slot, st->estate, false, false, NULL,
						  NIL);
	tuple_pack_reset(&st->packer);
}

static void *
stream_insert_begin(ResultRelInfo *rinfo, EState *estate)
{
	StreamInsertState *st = palloc0(sizeof(StreamInsertState));

	st->relid = RelationGetRelid(rinfo->ri_RelationDesc);
	st->xid = (int64) U64FromFullTransactionId(GetTopFullTransactionId());
	st->estate = estate;
	st->bufrel = table_open(buffer_relid(), RowExclusiveLock);
	st->bufrri = makeNode(ResultRelInfo);
	InitResultRelInfo(st->bufrri, st->bufrel, 0, NULL, 0);
	ExecOpenIndices(st->bufrri, false);
	st->bslot = table_slot_create(st->bufrel, NULL);
	tuple_pack_init(&st->packer);
	xact_wrote_stream = true;
	return st;
}

static void
stream_insert_row(void *state, TupleTableSlot *slot)
{
	StreamInsertState *st = state;
	bool		shouldFree;
	MinimalTuple mt = tuple_pack_prepare(slot, &shouldFree);

	/* flush first if this row would make the chunk too big for a page */
	if (st->packer.nrows > 0 &&
		st->packer.buf.len + sizeof(uint32) + mt->t_len > STREAM_CHUNK_BYTES)
		flush_chunk(st);
	tuple_pack_add(&st->packer, mt);
	if (shouldFree)
		pfree(mt);
}

static void
stream_insert_end(void *state)
{
	StreamInsertState *st = state;

	flush_chunk(st);
	ExecCloseIndices(st->bufrri);
	ExecDropSingleTupleTableSlot(st->bslot);
	table_close(st->bufrel, NoLock);
}

/*
 * Relations were dropped (the sql_drop event trigger): the chunks of the
 * streams among them go.
 */
static void
stream_dropped(void)
{
	if (SPI_connect() != SPI_OK_CONNECT ||
		SPI_execute("DELETE FROM stream.buffer WHERE stream IN " META_DROPPED_RELS,
					false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete from stream.buffer");
	SPI_finish();
}

/* a stream takes the event-time options only (engine/eventtime.c) */
static const SourceOption stream_options[] = {
	PGS_OPT_EVENT_TIME_OPTIONS,
	{NULL}
};

const SourceRoutine stream_source = {
	.name = "stream",
	.initial_position = stream_initial_position,
	.read = stream_read,
	.lag = stream_lag,
	.cleanup = stream_cleanup,
	.add_reader = stream_add_reader,
	.mark = stream_mark,
	.reached = stream_reached,
	.restore = stream_restore,
	.options = stream_options,
	.contexts = {
		.wrapper = "foreign-data wrapper \"stream\"",
		.server = "a server of foreign-data wrapper \"stream\"",
		.mapping = "a user mapping of foreign-data wrapper \"stream\"",
		.table = "a stream",
		.column = "a column of a stream",
	},
	.insert_begin = stream_insert_begin,
	.insert_row = stream_insert_row,
	.insert_end = stream_insert_end,
	.init = stream_init,
	.gc = stream_gc,
	.dropped = stream_dropped,
	.keeps_rows = true,
};
