/*-------------------------------------------------------------------------
 *
 * formats.h
 *	  Records (json, csv, text) to rows and back, and the packed row format.
 *
 * formats/ is above base/ and knows nothing of sources, the engine or
 * the workers: a decoder is given a tuple descriptor and records.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_FORMATS_H
#define PGS_FORMATS_H

#include "base/base.h"
#include "access/tupdesc.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

/* in formats/tuple.c: the packed binary format of the stream buffer */
typedef struct TuplePacker
{
	StringInfoData buf;
	int32		nrows;
	char	   *scratch;		/* tuple_pack_values: the row, aligned */
	Size		scratch_len;
} TuplePacker;
extern void tuple_pack_init(TuplePacker *p);
extern MinimalTuple tuple_pack_prepare(TupleTableSlot *slot, bool *shouldFree);
extern void tuple_pack_add(TuplePacker *p, MinimalTuple mt);
extern bool tuple_pack_values(TuplePacker *p, TupleDesc desc, Datum *values, bool *isnull);

typedef struct TupleUnpacker
{
	char	   *p;				/* next row in the chunk */
	char	   *end;
	char	   *aligned;		/* the row, aligned */
	uint32		alloc;
	MemoryContext cxt;			/* of aligned */
} TupleUnpacker;
extern TupleDesc tuple_chunk_desc(void);
extern void tuple_unpack_init(TupleUnpacker *u, MemoryContext cxt);
extern void tuple_unpack_begin(TupleUnpacker *u, bytea *chunk);
extern MinimalTuple tuple_unpack_next(TupleUnpacker *u);
extern void tuple_pack_reset(TuplePacker *p);
extern bytea *tuple_pack_bytea(TuplePacker *p);

/* in formats/decode.c: records (json, csv, text) into rows */
typedef enum PgsFormat
{
	PGS_FORMAT_JSON,
	PGS_FORMAT_CSV,
	PGS_FORMAT_TEXT,
	PGS_FORMAT_PARQUET			/* files only: formats/parquet.c */
} PgsFormat;

#define PGS_JSON_MAX_DEPTH 1000	/* deeper is a bad record, not a stack overflow */

typedef struct PgsDecoder
{
	TupleDesc	desc;
	PgsFormat	format;
	bool	   *data;			/* per attribute: filled from the record */
	int			ndata;
	FmgrInfo   *infuncs;
	Oid		   *ioparams;
	char		delimiter;		/* csv */
	char		quote;
	char		escape;
	char	   *null_string;
	bool		header;
	int16		keycol[16];		/* json: the column of the n-th key of the */
	int16		keylen[16];		/* last record (-1: none), and its length */
} PgsDecoder;

typedef void (*PgsDecodeFn) (void *arg, int64 i, Datum *values, bool *nulls);
typedef void (*PgsBadFn) (void *arg, int64 i, const char *error);

extern PgsFormat pgs_parse_format(const char *v);
extern bool pgs_format_option(DefElem *def, bool with_header);
extern bool pgs_on_error_stop(DefElem *def);
extern void pgs_decoder_options(PgsDecoder *d, List *options, PgsFormat default_format,
								const char *what);
extern void pgs_decoder_init(PgsDecoder *d, TupleDesc desc, bool *data, List *options,
							 PgsFormat default_format, const char *what);
extern Datum pgs_decoder_input(PgsDecoder *d, int col, char *s);
extern int	pgs_csv_fields(PgsDecoder *d, const char *s, char ***fields);
extern void pgs_decode_record(PgsDecoder *d, char *rec, int len, Datum *values, bool *nulls);
extern void pgs_decode_bytes(PgsDecoder *d, const char *rec, int len, Datum *values,
							 bool *nulls);
extern int64 pgs_decode_batch(TupleDesc desc, int64 n, PgsDecodeFn decode, PgsBadFn bad,
							  void *arg, bool stop, Tuplestorestate *chunks);
extern Tuplestorestate *pgs_decode_batch_in_memory(TupleDesc desc, int64 n, PgsDecodeFn decode,
												   PgsBadFn bad, void *arg, bool stop,
												   int64 *nbad);
extern int64 pgs_decode_batch_in_memory_part(TupleDesc desc, int64 n, PgsDecodeFn decode,
											 PgsBadFn bad, void *arg, bool stop,
											 Tuplestorestate **chunks, int limit_kb, int64 *kb);
extern void pgs_dead_letter(Oid relid, const char *what, Jsonb *position, const char *where,
							const char *payload, size_t len, const char *error);

/* in formats/encode.c: rows into records */
typedef struct PgsEncoder
{
	PgsDecoder *d;
	FmgrInfo   *outfuncs;
} PgsEncoder;
extern void pgs_encoder_init(PgsEncoder *e, PgsDecoder *d);
extern void pgs_encode_row(PgsEncoder *e, TupleTableSlot *slot, StringInfo buf);

/* in formats/infer.c: columns from sample records (IMPORT FOREIGN SCHEMA) */
typedef enum PgsSampleType
{
	ST_NULL,
	ST_BOOL,
	ST_INT,
	ST_NUMERIC,
	ST_TIMESTAMPTZ,
	ST_JSONB,
	ST_TEXT
} PgsSampleType;

typedef struct PgsSampleKey
{
	char	   *name;
	PgsSampleType type;
} PgsSampleKey;
extern PgsSampleKey *pgs_sample_key(List **keys, const char *name);
extern void pgs_sample_text(PgsSampleKey *k, const char *v);
extern bool pgs_sample_json(const char *rec, size_t len, List **keys);
extern int	pgs_sample_columns(StringInfo sql, List *keys, const char *what);

/* in formats/parquet.c: Parquet files, read by row group and written */
typedef struct PqFile PqFile;
extern PqFile *pq_open(int fd, int64 size, const char *name, TupleDesc desc,
					   const bool *data);
extern int	pq_row_groups(PqFile *f);
extern int64 pq_row_group_start(PqFile *f, int rg);
extern int64 pq_row_group_rows(PqFile *f, int rg);
extern int64 pq_rows_read(PqFile *f);
extern void pq_read_row_group(PqFile *f, int rg);
extern void pq_decode_row(PqFile *f, int64 row, Datum *values, bool *nulls);
extern void pq_schema_columns(int fd, int64 size, const char *name, List **names,
							  List **types);

typedef struct PqWriter PqWriter;
extern int	pq_parse_compression(const char *v);
extern PqWriter *pq_writer_begin(TupleDesc desc, const bool *data, int codec);
extern void pq_writer_add(PqWriter *w, TupleTableSlot *slot);
extern void pq_writer_finish(PqWriter *w, StringInfo out);

#endif							/* PGS_FORMATS_H */
