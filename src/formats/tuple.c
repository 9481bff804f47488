/*-------------------------------------------------------------------------
 *
 * tuple.c
 *	  The packed binary format of rows inserted into a "stream" table.
 *
 * Rows inserted into a stream are not stored one heap tuple each: the
 * inserting backend packs them, as MinimalTuples in the stream's row type,
 * into chunks of up to ~8 kB, and stores one chunk per row of
 * stream.buffer. A bulk INSERT of a million rows then writes ~10,000 heap
 * tuples and index entries instead of a million, and a batch reads them
 * back with one index scan.
 *
 * A chunk is a sequence of [uint32 length][MinimalTuple of that length],
 * unaligned; the reader copies each tuple into an aligned buffer. A batch
 * hands the chunks themselves to the stream's foreign scan, which unpacks
 * the rows as the executor asks for them: no row is copied into a
 * tuplestore on the way.
 * A MinimalTuple holds fewer attributes than the row type after
 * ALTER FOREIGN TABLE ... ADD COLUMN; deforming fills them with NULLs.
 *
 *-------------------------------------------------------------------------
 */
#include "formats/formats.h"

#include "access/detoast.h"
#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "utils/memutils.h"

/*
 * The chunk is built in place as a bytea: the buffer starts with room for
 * the varlena header, filled in by tuple_pack_bytea, so a flush copies
 * nothing.
 */
void
tuple_pack_init(TuplePacker *p)
{
	initStringInfo(&p->buf);
	tuple_pack_reset(p);
}

void
tuple_pack_reset(TuplePacker *p)
{
	resetStringInfo(&p->buf);
	appendStringInfoSpaces(&p->buf, VARHDRSZ);
	p->nrows = 0;
}

bytea *
tuple_pack_bytea(TuplePacker *p)
{
	SET_VARSIZE(p->buf.data, p->buf.len);
	return (bytea *) p->buf.data;
}

/*
 * The row of a slot as a self-contained MinimalTuple. A value may be a
 * pointer to another table's TOAST data (INSERT INTO s SELECT ... FROM t
 * copies such pointers as they are); the chunk must hold the value
 * itself, or it would read garbage once t's row is gone.
 */
MinimalTuple
tuple_pack_prepare(TupleTableSlot *slot, bool *shouldFree)
{
	TupleDesc	desc = slot->tts_tupleDescriptor;
	bool		external = false;

	slot_getallattrs(slot);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attlen == -1 && !slot->tts_isnull[i] &&
			VARATT_IS_EXTERNAL(DatumGetPointer(slot->tts_values[i])))
			external = true;
	}
	if (external)
	{
		Datum	   *values = palloc(sizeof(Datum) * desc->natts);
		MinimalTuple mt;

		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			values[i] = slot->tts_values[i];
			if (att->attlen == -1 && !slot->tts_isnull[i] &&
				VARATT_IS_EXTERNAL(DatumGetPointer(values[i])))
				values[i] = PointerGetDatum(detoast_external_attr((struct varlena *)
																  DatumGetPointer(values[i])));
		}
		mt = heap_form_minimal_tuple(desc, values, slot->tts_isnull);
		for (int i = 0; i < desc->natts; i++)
			if (values[i] != slot->tts_values[i])
				pfree(DatumGetPointer(values[i]));
		pfree(values);
		*shouldFree = true;
		return mt;
	}
	return ExecFetchSlotMinimalTuple(slot, shouldFree);
}

void
tuple_pack_add(TuplePacker *p, MinimalTuple mt)
{
	uint32		len = mt->t_len;

	Assert(p != NULL && mt != NULL);
	appendBinaryStringInfo(&p->buf, (char *) &len, sizeof(len));
	appendBinaryStringInfo(&p->buf, (char *) mt, len);
	p->nrows++;
}

/* a chunk in a tuplestore: one bytea column */
TupleDesc
tuple_chunk_desc(void)
{
	TupleDesc	desc = CreateTemplateTupleDesc(1);

	TupleDescInitEntry(desc, 1, "chunk", BYTEAOID, -1, 0);
	return desc;
}

/*
 * Reading a chunk row by row. Each row is copied into an aligned buffer,
 * valid until the next call; the buffer lives in the given context and is
 * reused (grown as needed), so reading costs one copy per row.
 */
void
tuple_unpack_init(TupleUnpacker *u, MemoryContext cxt)
{
	memset(u, 0, sizeof(*u));
	u->cxt = cxt;
}

void
tuple_unpack_begin(TupleUnpacker *u, bytea *chunk)
{
	Assert(u != NULL && chunk != NULL);
	u->p = VARDATA_ANY(chunk);
	u->end = u->p + VARSIZE_ANY_EXHDR(chunk);
}

/* the next row of the chunk, or NULL at its end */
MinimalTuple
tuple_unpack_next(TupleUnpacker *u)
{
	uint32		len;

	if (u->p == NULL || u->p >= u->end)
		return NULL;
	if (u->end - u->p < (ptrdiff_t) sizeof(len))
		elog(ERROR, "corrupt stream chunk");
	memcpy(&len, u->p, sizeof(len));
	u->p += sizeof(len);
	if (len < SizeofMinimalTupleHeader || u->end - u->p < (ptrdiff_t) len)
		elog(ERROR, "corrupt stream chunk");
	if (len > u->alloc)
	{
		u->alloc = Max(len, 1024);
		if (u->aligned)
			pfree(u->aligned);
		u->aligned = MemoryContextAlloc(u->cxt, u->alloc);
	}
	memcpy(u->aligned, u->p, len);
	u->p += len;
	return (MinimalTuple) u->aligned;
}
