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
	p->scratch = NULL;
	p->scratch_len = 0;
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

/*
 * A row of values packed at the end of the chunk with no palloc: formed
 * as heap_form_minimal_tuple forms it, in the packer's own buffer (which
 * is aligned: heap_fill_tuple aligns each value by its address, so the
 * row cannot be formed in place in the unaligned chunk), then copied.
 * Returns false, packing nothing, if a value is stored externally (a
 * TOAST pointer, an expanded object): tuple_pack_prepare is for those.
 */
bool
tuple_pack_values(TuplePacker *p, TupleDesc desc, Datum *values, bool *isnull)
{
	bool		hasnull = false;
	Size		hoff;
	Size		data_len;
	uint32		len;
	MinimalTuple mt;

	for (int i = 0; i < desc->natts; i++)
	{
		if (isnull[i])
			hasnull = true;
		else if (TupleDescAttr(desc, i)->attlen == -1 &&
				 VARATT_IS_EXTERNAL(DatumGetPointer(values[i])))
			return false;
	}
	hoff = SizeofMinimalTupleHeader;
	if (hasnull)
		hoff += BITMAPLEN(desc->natts);
	hoff = MAXALIGN(hoff);
	data_len = heap_compute_data_size(desc, values, isnull);
	len = hoff + data_len;
	if (len > p->scratch_len)
	{
		MemoryContext cxt = GetMemoryChunkContext(p->buf.data);

		if (p->scratch)
			pfree(p->scratch);
		p->scratch_len = Max(len, 1024);
		p->scratch = MemoryContextAlloc(cxt, p->scratch_len);
	}
	mt = (MinimalTuple) p->scratch;
	memset(mt, 0, len);			/* the padding too, as palloc0 would */
	mt->t_len = len;
	HeapTupleHeaderSetNatts(mt, desc->natts);
	mt->t_hoff = hoff + MINIMAL_TUPLE_OFFSET;
	heap_fill_tuple(desc, values, isnull, (char *) mt + hoff, data_len,
					&mt->t_infomask, hasnull ? mt->t_bits : NULL);
	tuple_pack_add(p, mt);
	return true;
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
