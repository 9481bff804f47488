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
 * unaligned; the reader copies each tuple into an aligned buffer.
 * A MinimalTuple holds fewer attributes than the row type after
 * ALTER FOREIGN TABLE ... ADD COLUMN; deforming fills them with NULLs.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_stream.h"

#include "access/detoast.h"
#include "access/htup_details.h"
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

	appendBinaryStringInfo(&p->buf, (char *) &len, sizeof(len));
	appendBinaryStringInfo(&p->buf, (char *) mt, len);
	p->nrows++;
}

/*
 * Append every row of a chunk to dest, through slot (a MinimalTuple slot
 * of the stream's row type). Returns the number of rows.
 */
int64
tuple_unpack_all(bytea *data, TupleTableSlot *slot, Tuplestorestate *dest)
{
	char	   *p = VARDATA_ANY(data);
	char	   *end = p + VARSIZE_ANY_EXHDR(data);
	char	   *aligned = NULL;
	uint32		alloc = 0;
	int64		n = 0;

	while (p < end)
	{
		uint32		len;

		if (end - p < (ptrdiff_t) sizeof(len))
			elog(ERROR, "corrupt stream chunk");
		memcpy(&len, p, sizeof(len));
		p += sizeof(len);
		if (len < SizeofMinimalTupleHeader || end - p < (ptrdiff_t) len)
			elog(ERROR, "corrupt stream chunk");
		if (len > alloc)
		{
			if (aligned)
				pfree(aligned);
			alloc = Max(len, 1024);
			aligned = palloc(alloc);
		}
		memcpy(aligned, p, len);
		p += len;
		ExecStoreMinimalTuple((MinimalTuple) aligned, slot, false);
		tuplestore_puttupleslot(dest, slot);
		ExecClearTuple(slot);
		n++;
	}
	if (aligned)
		pfree(aligned);
	return n;
}
