/*-------------------------------------------------------------------------
 *
 * decode_tail.c
 *	  A test harness (not part of the extension): decodes one record with
 *	  pg_stream's decoder, either as pgs_decode_bytes reads a Kafka
 *	  payload -- in place, not NUL-terminated -- or as pgs_decode_record
 *	  reads a NUL-terminated copy, for test/scripts/decode_tail.sh.
 *
 * In place, the record's bytes end exactly at a page boundary, the page
 * after them is PROT_NONE and the record's own pages are read-only: a
 * decoder that reads one byte past the payload's end, or writes into it
 * (librdkafka's buffer), crashes the backend instead of reading whatever
 * librdkafka happened to put after it. Loaded into a backend where
 * pg_stream.so is (shared_preload_libraries): its symbols resolve there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>
#include <unistd.h>

#include "access/relation.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "formats/formats.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(pgs_test_decode_tail);

/* decode_tail(rel regclass, format text, payload bytea, in_place bool): the row as text */
Datum
pgs_test_decode_tail(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *format = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea	   *payload = PG_GETARG_BYTEA_PP(2);
	bool		in_place = PG_GETARG_BOOL(3);
	int			len = VARSIZE_ANY_EXHDR(payload);
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = CreateTupleDescCopy(RelationGetDescr(rel));
	bool	   *data = palloc(desc->natts);
	Datum	   *values = palloc0(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(desc->natts);
	PgsDecoder	d;
	StringInfoData out;

	relation_close(rel, AccessShareLock);
	memset(data, true, desc->natts);
	memset(nulls, true, desc->natts);
	pgs_decoder_init(&d, desc, data,
					 list_make1(makeDefElem("format", (Node *) makeString(format), -1)),
					 PGS_FORMAT_JSON, "decode_tail");
	if (!in_place)
	{
		char	   *rec = palloc(len + 1);

		memcpy(rec, VARDATA_ANY(payload), len);
		rec[len] = '\0';
		pgs_decode_record(&d, rec, len, values, nulls);
	}
	else
	{
		size_t		ps = sysconf(_SC_PAGESIZE);
		size_t		span = Max(((size_t) len + ps - 1) / ps, 1) * ps;
		char	   *base = mmap(NULL, span + ps, PROT_READ | PROT_WRITE,
								MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char	   *rec = base + span - len;

		if (base == MAP_FAILED)
			elog(ERROR, "mmap: %m");
		memcpy(rec, VARDATA_ANY(payload), len);
		if (mprotect(base + span, ps, PROT_NONE) != 0 || mprotect(base, span, PROT_READ) != 0)
			elog(ERROR, "mprotect: %m");
		PG_TRY();
		{
			pgs_decode_bytes(&d, rec, len, values, nulls);
		}
		PG_FINALLY();
		{
			munmap(base, span + ps);
		}
		PG_END_TRY();
	}
	initStringInfo(&out);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Oid			outfn;
		bool		varlena;

		if (att->attisdropped)
			continue;
		appendStringInfo(&out, "%s%s=", out.len ? " " : "", NameStr(att->attname));
		if (nulls[i])
			appendStringInfoString(&out, "NULL");
		else
		{
			getTypeOutputInfo(att->atttypid, &outfn, &varlena);
			appendStringInfo(&out, "[%s]", OidOutputFunctionCall(outfn, values[i]));
		}
	}
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}
