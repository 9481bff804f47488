/*-------------------------------------------------------------------------
 *
 * parquet.c
 *	  Parquet files: reading them by row group into the columns of a
 *	  table, and writing a table's rows as one.
 *
 * The layout (Apache Parquet's format specification): "PAR1", the column
 * chunks of each row group, the footer -- a FileMetaData struct in
 * Thrift's compact protocol (formats/thrift.c) -- its length as 4 bytes
 * little-endian, and "PAR1" again. FileMetaData holds the schema (a
 * depth-first list of SchemaElements: the root, then each field, a group
 * counting its children), the row count and the RowGroups; each RowGroup
 * holds a ColumnChunk per leaf column, whose ColumnMetaData gives the
 * physical type, the codec and where its pages are. A chunk is a run of
 * pages, each a PqPageHeader (Thrift again) and its bytes: a dictionary
 * page first or not, then data pages (v1: levels and values compressed
 * together; v2: repetition and definition levels uncompressed ahead of
 * the compressed values, their lengths in the header).
 *
 * Reading. pq_open reads and checks the footer and matches the table's
 * data columns with the file's top-level fields by name (a column the
 * file lacks is NULL, as a JSON key missing). pq_read_row_group reads the
 * matched columns' chunks of a row group: decompressed (UNCOMPRESSED,
 * SNAPPY, GZIP, ZSTD), definition levels (RLE/bit-packed hybrid) say which
 * values are NULL, and the values are decoded (PLAIN, PLAIN_DICTIONARY and
 * RLE_DICTIONARY, RLE booleans, and the v2 writers' DELTA_BINARY_PACKED,
 * DELTA_LENGTH_BYTE_ARRAY, DELTA_BYTE_ARRAY and BYTE_STREAM_SPLIT) into
 * raw values: integers, floats and pointers into the decompressed pages.
 * pq_decode_row makes a row's Datums from them: so a value that does not
 * convert (text invalid in the database's encoding, a timestamp out of
 * range) is a bad record, sent to stream.errors on its own (formats/
 * decode.c's pgs_decode_batch), while a file whose structure is bad fails
 * its row group with ERRCODE_DATA_CORRUPTED naming the file. Every offset
 * and length read from the file is checked against the bytes it has
 * before it is used; the sizes a header claims are checked against what
 * the codec produced. A nested field (a group or a repeated field:
 * lists, structs, maps) is read as jsonb, assembled from its leaves'
 * repetition and definition levels (see "Nested").
 *
 * Types: a value is first its natural PostgreSQL type (see pq_kind: the
 * physical type with its logical, or legacy converted, type) and, if the
 * column is of another type, converted through text.
 *
 * Writing. PqWriter collects a statement's rows and writes one row group
 * of OPTIONAL columns, each one data page v1: definition levels (RLE, bit
 * width 1) then the PLAIN values of the non-NULL ones, compressed as the
 * table option compression says (uncompressed, snappy or zstd).
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "formats/formats.h"
#include "formats/thrift.h"

#include <unistd.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include "catalog/pg_type.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* physical types */
#define PT_BOOLEAN 0
#define PT_INT32 1
#define PT_INT64 2
#define PT_INT96 3
#define PT_FLOAT 4
#define PT_DOUBLE 5
#define PT_BYTE_ARRAY 6
#define PT_FIXED 7

/* converted types (the legacy annotations) */
#define CT_UTF8 0
#define CT_MAP 1
#define CT_MAP_KEY_VALUE 2
#define CT_LIST 3
#define CT_ENUM 4
#define CT_DECIMAL 5
#define CT_DATE 6
#define CT_TIME_MILLIS 7
#define CT_TIME_MICROS 8
#define CT_TIMESTAMP_MILLIS 9
#define CT_TIMESTAMP_MICROS 10
#define CT_UINT_8 11
#define CT_UINT_16 12
#define CT_UINT_32 13
#define CT_UINT_64 14
#define CT_INT_8 15
#define CT_INT_16 16
#define CT_INT_32 17
#define CT_INT_64 18
#define CT_JSON 19

/* LogicalType's union members (field ids) */
#define LT_STRING 1
#define LT_MAP 2
#define LT_LIST 3
#define LT_ENUM 4
#define LT_DECIMAL 5
#define LT_DATE 6
#define LT_TIME 7
#define LT_TIMESTAMP 8
#define LT_INTEGER 10
#define LT_UNKNOWN 11
#define LT_JSON 12
#define LT_BSON 13
#define LT_UUID 14

/* encodings */
#define ENC_PLAIN 0
#define ENC_PLAIN_DICTIONARY 2
#define ENC_RLE 3
#define ENC_BIT_PACKED 4
#define ENC_DELTA_BINARY_PACKED 5
#define ENC_DELTA_LENGTH_BYTE_ARRAY 6
#define ENC_DELTA_BYTE_ARRAY 7
#define ENC_RLE_DICTIONARY 8
#define ENC_BYTE_STREAM_SPLIT 9

/* codecs */
#define CODEC_UNCOMPRESSED 0
#define CODEC_SNAPPY 1
#define CODEC_GZIP 2
#define CODEC_ZSTD 6

/* page types */
#define PAGE_DATA 0
#define PAGE_INDEX 1
#define PAGE_DICTIONARY 2
#define PAGE_DATA_V2 3

#define PQ_MAGIC "PAR1"
#define PQ_MAX_SCHEMA 100000	/* elements: more is not a file we read */
#define PQ_PAGE_VALUES_MIN 1000000	/* see read_data_page */
#define PQ_PAGE_VALUES_PER_BYTE 64

/* a value's natural PostgreSQL type */
typedef enum PqKind
{
	K_BOOL,
	K_INT2,
	K_INT4,
	K_INT8,
	K_UINT32,					/* INT32 read unsigned, to bigint */
	K_UINT64,					/* INT64 read unsigned, to numeric */
	K_FLOAT4,
	K_FLOAT8,
	K_TEXT,
	K_BYTEA,
	K_DECIMAL,
	K_DATE,
	K_TIME,
	K_TIMESTAMP,
	K_TIMESTAMPTZ,
	K_INT96,					/* legacy timestamps, to timestamp */
	K_UUID,
	K_JSONB						/* a nested field */
} PqKind;

/* a raw value: integers and floats, or bytes in a page */
typedef union PqVal
{
	int64		i;
	double		d;
	struct
	{
		const uint8 *p;
		int32		len;
	}			s;
} PqVal;

typedef struct PqLeaf
{
	char	   *name;			/* its top-level field's */
	int			type;			/* physical */
	int			type_length;
	int			converted;		/* -1: none */
	int			logical;		/* LT_*, 0: none */
	int			scale;
	int			precision;
	bool		utc;			/* TIMESTAMP/TIME isAdjustedToUTC */
	int			unit;			/* 1 millis, 2 micros, 3 nanos */
	int			int_bits;		/* INTEGER */
	bool		int_signed;
	int			max_def;
	int			max_rep;
	bool		nested;			/* under a group, or repeated */
} PqLeaf;

/* a field of the schema, as a tree: for nested fields (see "Nested") */
typedef struct PqNode
{
	char	   *name;
	int			repetition;		/* 0 required, 1 optional, 2 repeated */
	int			converted;
	int			logical;
	int			def;			/* the definition level when present */
	int			rep;			/* the repetition level of its repetitions */
	int			nchildren;
	struct PqNode **children;
	int			leaf;			/* -1: a group */
} PqNode;

/* a nested field's leaf in a row group: every level and value */
typedef struct PqEntries
{
	int64		n;
	int64		alloc;
	uint8	   *rep;
	uint8	   *def;
	PqVal	   *vals;			/* where def is the leaf's max_def */
	int64		pos;			/* the assembly's cursor */
} PqEntries;

typedef struct PqChunk
{
	int			codec;
	int			type;
	int64		num_values;
	int64		start;			/* its first page */
	int64		size;			/* compressed bytes */
	bool		external;		/* in another file: not read */
} PqChunk;

typedef struct PqRowGroup
{
	int64		nrows;
	int64		start;			/* its first byte */
	PqChunk    *chunks;			/* per leaf */
} PqRowGroup;

/* a table column read from the file */
typedef struct PqCol
{
	int			att;			/* in the table */
	int			leaf;			/* in the file */
	PqKind		kind;
	Oid			natural;		/* kind's type */
	bool		convert;		/* through text to the column's type */
	FmgrInfo	out;			/* natural's output */
	FmgrInfo	in;				/* the column's input */
	Oid			ioparam;
	int32		typmod;
	PqVal	   *vals;			/* per row read */
	bool	   *nulls;
	int64		alloc;
	PqNode	   *node;			/* a nested field: its JSON text per row */
} PqCol;

struct PqFile
{
	char	   *name;
	int			fd;
	int64		size;
	int64		footer_start;	/* the chunks end before */
	int			nleaves;
	PqLeaf	   *leaves;
	int			ntops;
	PqNode	  **tops;			/* the top-level fields */
	FmgrInfo   *leaf_out;		/* nested leaves' output functions (JSON) */
	int			nrg;
	PqRowGroup *rgs;
	int			ncols;
	PqCol	   *cols;
	int64		nrows;			/* read so far */
	TupleDesc	desc;
};

static void
pq_error(PqFile *f, const char *fmt,...) pg_attribute_printf(2, 3) pg_attribute_noreturn();

static void
pq_error(PqFile *f, const char *fmt,...)
{
	va_list		ap;
	char		buf[512];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupt Parquet file \"%s\": %s", f->name, buf)));
}

/* exactly len bytes at offset, or an error */
static void
pq_pread(PqFile *f, void *buf, int64 len, int64 offset)
{
	char	   *p = buf;

	while (len > 0)
	{
		ssize_t		n = pread(f->fd, p, Min(len, (int64) (1 << 30)), offset);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read Parquet file \"%s\": %m", f->name)));
		}
		if (n == 0)
			pq_error(f, "the file ends early");
		p += n;
		len -= n;
		offset += n;
	}
}

/*------------------------------------------------------------------------
 * The footer
 *------------------------------------------------------------------------
 */
typedef struct SchemaEl
{
	char	   *name;
	int			type;			/* -1: a group */
	int			type_length;
	int			repetition;		/* 0 required, 1 optional, 2 repeated */
	int			num_children;
	int			converted;
	int			scale;
	int			precision;
	int			logical;
	bool		utc;
	int			unit;
	int			int_bits;
	bool		int_signed;
} SchemaEl;

static void
read_time_unit(ThIn *in, SchemaEl *el)
{
	int16		last = 0,
				id;
	int			type;

	while (th_field(in, &last, &id, &type))
	{
		if (type == TH_STRUCT && id >= 1 && id <= 3)
			el->unit = id;
		th_skip(in, type);
	}
}

static void
read_logical(ThIn *in, SchemaEl *el)
{
	int16		last = 0,
				id;
	int			type;

	while (th_field(in, &last, &id, &type))
	{
		int16		l2 = 0,
					id2;
		int			t2;

		if (type != TH_STRUCT)
		{
			th_skip(in, type);
			continue;
		}
		el->logical = id;
		while (th_field(in, &l2, &id2, &t2))
		{
			if (id == LT_DECIMAL && id2 == 1 && t2 == TH_I32)
				el->scale = th_i32(in);
			else if (id == LT_DECIMAL && id2 == 2 && t2 == TH_I32)
				el->precision = th_i32(in);
			else if ((id == LT_TIMESTAMP || id == LT_TIME) && id2 == 1 &&
					 (t2 == TH_TRUE || t2 == TH_FALSE))
				el->utc = (t2 == TH_TRUE);
			else if ((id == LT_TIMESTAMP || id == LT_TIME) && id2 == 2 && t2 == TH_STRUCT)
				read_time_unit(in, el);
			else if (id == LT_INTEGER && id2 == 1 && t2 == TH_BYTE)
				el->int_bits = (int8) th_byte(in);
			else if (id == LT_INTEGER && id2 == 2 && (t2 == TH_TRUE || t2 == TH_FALSE))
				el->int_signed = (t2 == TH_TRUE);
			else
				th_skip(in, t2);
		}
	}
}

static void
read_schema_el(ThIn *in, SchemaEl *el)
{
	int16		last = 0,
				id;
	int			type;

	memset(el, 0, sizeof(SchemaEl));
	el->type = -1;
	el->converted = -1;
	el->int_signed = true;
	while (th_field(in, &last, &id, &type))
	{
		if (id == 1 && type == TH_I32)
			el->type = th_i32(in);
		else if (id == 2 && type == TH_I32)
			el->type_length = th_i32(in);
		else if (id == 3 && type == TH_I32)
			el->repetition = th_i32(in);
		else if (id == 4 && type == TH_BINARY)
			el->name = th_string(in);
		else if (id == 5 && type == TH_I32)
			el->num_children = th_i32(in);
		else if (id == 6 && type == TH_I32)
			el->converted = th_i32(in);
		else if (id == 7 && type == TH_I32)
			el->scale = th_i32(in);
		else if (id == 8 && type == TH_I32)
			el->precision = th_i32(in);
		else if (id == 10 && type == TH_STRUCT)
			read_logical(in, el);
		else
			th_skip(in, type);
	}
	if (el->name == NULL)
		th_corrupt(in, "a schema element has no name");
	if (el->num_children < 0 || el->type < -1 || el->type > PT_FIXED)
		th_corrupt(in, "a schema element is invalid");
}

/* the leaves under schema element *i, depth-first; and its tree */
static PqNode *
walk_schema(PqFile *f, ThIn *in, SchemaEl *els, int nels, int *i, const char *top,
			int def, int rep, bool nested, int depth, List **leaves)
{
	SchemaEl   *el;
	PqNode	   *node = palloc0(sizeof(PqNode));

	if (*i >= nels)
		th_corrupt(in, "the schema has fewer elements than its groups count");
	if (depth > 100)
		th_corrupt(in, "the schema is nested too deep");
	el = &els[(*i)++];
	if (top == NULL)
		top = el->name;
	if (el->repetition == 1)
		def++;
	else if (el->repetition == 2)
	{
		def++;
		rep++;
		nested = true;
	}
	node->name = el->name;
	node->repetition = el->repetition;
	node->converted = el->converted;
	node->logical = el->logical;
	node->def = def;
	node->rep = rep;
	node->leaf = -1;
	if (el->num_children > 0 || el->type < 0)
	{
		/* each child takes an element at least: bounded by nels */
		if (el->num_children > nels)
			th_corrupt(in, "a group has more children than the schema has elements");
		node->nchildren = el->num_children;
		node->children = palloc(sizeof(PqNode *) * Max(el->num_children, 1));
		for (int c = 0; c < el->num_children; c++)
			node->children[c] = walk_schema(f, in, els, nels, i, top, def, rep, true,
											depth + 1, leaves);
	}
	else
	{
		PqLeaf	   *l = palloc0(sizeof(PqLeaf));

		node->leaf = list_length(*leaves);

		l->name = (char *) top;
		l->type = el->type;
		l->type_length = el->type_length;
		l->converted = el->converted;
		l->logical = el->logical;
		l->scale = el->scale;
		l->precision = el->precision;
		l->utc = el->utc;
		l->unit = el->unit;
		l->int_bits = el->int_bits;
		l->int_signed = el->int_signed;
		l->max_def = def;
		l->max_rep = rep;
		l->nested = nested;
		*leaves = lappend(*leaves, l);
	}
	return node;
}

static void
read_column_meta(ThIn *in, PqChunk *c)
{
	int16		last = 0,
				id;
	int			type;
	int64		data_page = -1,
				dict_page = -1;

	while (th_field(in, &last, &id, &type))
	{
		if (id == 1 && type == TH_I32)
			c->type = th_i32(in);
		else if (id == 4 && type == TH_I32)
			c->codec = th_i32(in);
		else if (id == 5 && type == TH_I64)
			c->num_values = th_zigzag(in);
		else if (id == 7 && type == TH_I64)
			c->size = th_zigzag(in);
		else if (id == 9 && type == TH_I64)
			data_page = th_zigzag(in);
		else if (id == 11 && type == TH_I64)
			dict_page = th_zigzag(in);
		else
			th_skip(in, type);
	}
	/* some writers set a dictionary offset of 0 for none */
	c->start = (dict_page > 0 && dict_page < data_page) ? dict_page : data_page;
}

static void
read_row_group(ThIn *in, PqFile *f, PqRowGroup *rg)
{
	int16		last = 0,
				id;
	int			type;
	int			ncols = -1;
	int64		file_offset = -1;

	rg->nrows = -1;
	while (th_field(in, &last, &id, &type))
	{
		if (id == 1 && type == TH_LIST)
		{
			int			etype;

			ncols = th_list(in, &etype);
			if (etype != TH_STRUCT || ncols != f->nleaves || rg->chunks != NULL)
				th_corrupt(in, "a row group's columns do not match the schema");
			rg->chunks = palloc0(sizeof(PqChunk) * Max(ncols, 1));
			for (int c = 0; c < ncols; c++)
			{
				int16		l2 = 0,
							id2;
				int			t2;
				bool		has_meta = false;

				while (th_field(in, &l2, &id2, &t2))
				{
					if (id2 == 1 && t2 == TH_BINARY)
					{
						(void) th_string(in);
						rg->chunks[c].external = true;
					}
					else if (id2 == 3 && t2 == TH_STRUCT)
					{
						read_column_meta(in, &rg->chunks[c]);
						has_meta = true;
					}
					else
						th_skip(in, t2);
				}
				if (!has_meta)
					th_corrupt(in, "a column chunk has no metadata");
			}
		}
		else if (id == 3 && type == TH_I64)
			rg->nrows = th_zigzag(in);
		else if (id == 5 && type == TH_I64)
			file_offset = th_zigzag(in);
		else
			th_skip(in, type);
	}
	if (rg->chunks == NULL || rg->nrows < 0)
		th_corrupt(in, "a row group has no columns or no row count");
	rg->start = PG_INT64_MAX;
	for (int c = 0; c < ncols; c++)
	{
		PqChunk    *ch = &rg->chunks[c];

		if (ch->external)
			continue;
		if (ch->start < 4 || ch->size < 0 || ch->size > f->footer_start - ch->start ||
			ch->num_values < 0)
			th_corrupt(in, "a column chunk lies outside the file's data");
		rg->start = Min(rg->start, ch->start);
	}
	if (rg->start == PG_INT64_MAX)
		rg->start = file_offset > 0 ? file_offset : 4;
}

static void
read_footer(PqFile *f, const uint8 *buf, int64 len)
{
	ThIn		in = {buf, buf + len, f->name};
	int16		last = 0,
				id;
	int			type;
	SchemaEl   *els = NULL;
	int			nels = 0;
	bool		have_rgs = false;

	while (th_field(&in, &last, &id, &type))
	{
		int			etype;

		if (id == 2 && type == TH_LIST && els == NULL)
		{
			nels = th_list(&in, &etype);
			if (etype != TH_STRUCT || nels < 1 || nels > PQ_MAX_SCHEMA)
				th_corrupt(&in, "the schema is invalid");
			els = palloc(sizeof(SchemaEl) * nels);
			for (int i = 0; i < nels; i++)
				read_schema_el(&in, &els[i]);
		}
		else if (id == 4 && type == TH_LIST && els != NULL && !have_rgs)
		{
			List	   *leaves = NIL;
			int			i = 1;
			ListCell   *lc;

			/* the root's children */
			if (els[0].num_children > nels)
				th_corrupt(&in, "the schema has fewer elements than its root counts");
			f->ntops = els[0].num_children;
			f->tops = palloc(sizeof(PqNode *) * Max(f->ntops, 1));
			for (int c = 0; c < els[0].num_children; c++)
				f->tops[c] = walk_schema(f, &in, els, nels, &i, NULL, 0, 0, false, 0, &leaves);
			f->nleaves = list_length(leaves);
			f->leaves = palloc(sizeof(PqLeaf) * Max(f->nleaves, 1));
			i = 0;
			foreach(lc, leaves)
				f->leaves[i++] = *(PqLeaf *) lfirst(lc);
			for (int l = 0; l < f->nleaves; l++)
				f->leaves[l].nested |= (f->leaves[l].max_def > 1);

			f->nrg = th_list(&in, &etype);
			if (etype != TH_STRUCT)
				th_corrupt(&in, "the row groups are invalid");
			f->rgs = palloc0(sizeof(PqRowGroup) * Max(f->nrg, 1));
			for (int r = 0; r < f->nrg; r++)
				read_row_group(&in, f, &f->rgs[r]);
			have_rgs = true;
		}
		else
			th_skip(&in, type);
	}
	if (els == NULL)
		th_corrupt(&in, "the footer has no schema");
	if (!have_rgs)
	{
		f->nrg = 0;
		f->nleaves = 0;
	}
}

/*------------------------------------------------------------------------
 * Types
 *------------------------------------------------------------------------
 */
static PqKind
pq_kind(PqFile *f, PqLeaf *l)
{
	int			ct = l->converted;
	int			lt = l->logical;

	switch (l->type)
	{
		case PT_BOOLEAN:
			return K_BOOL;
		case PT_INT32:
			if (lt == LT_DECIMAL || ct == CT_DECIMAL)
				return K_DECIMAL;
			if (lt == LT_DATE || ct == CT_DATE)
				return K_DATE;
			if ((lt == LT_TIME && l->unit == 1) || ct == CT_TIME_MILLIS)
				return K_TIME;
			if (lt == LT_INTEGER)
				return !l->int_signed ? (l->int_bits <= 8 ? K_INT2 : l->int_bits <= 16 ? K_INT4 : K_UINT32)
					: l->int_bits <= 16 ? K_INT2 : K_INT4;
			if (ct == CT_INT_8 || ct == CT_INT_16 || ct == CT_UINT_8)
				return K_INT2;
			if (ct == CT_UINT_16)
				return K_INT4;
			if (ct == CT_UINT_32)
				return K_UINT32;
			return K_INT4;
		case PT_INT64:
			if (lt == LT_DECIMAL || ct == CT_DECIMAL)
				return K_DECIMAL;
			if (lt == LT_TIMESTAMP)
				return l->utc ? K_TIMESTAMPTZ : K_TIMESTAMP;
			if (ct == CT_TIMESTAMP_MILLIS || ct == CT_TIMESTAMP_MICROS)
				return K_TIMESTAMPTZ;	/* the legacy ones are UTC */
			if (lt == LT_TIME || ct == CT_TIME_MICROS)
				return K_TIME;
			if ((lt == LT_INTEGER && !l->int_signed) || ct == CT_UINT_64)
				return K_UINT64;
			return K_INT8;
		case PT_INT96:
			return K_INT96;
		case PT_FLOAT:
			return K_FLOAT4;
		case PT_DOUBLE:
			return K_FLOAT8;
		case PT_BYTE_ARRAY:
		case PT_FIXED:
			if (lt == LT_DECIMAL || ct == CT_DECIMAL)
				return K_DECIMAL;
			if (lt == LT_UUID && l->type == PT_FIXED && l->type_length == 16)
				return K_UUID;
			if (lt == LT_STRING || lt == LT_ENUM || lt == LT_JSON ||
				ct == CT_UTF8 || ct == CT_ENUM || ct == CT_JSON)
				return K_TEXT;
			return K_BYTEA;
	}
	pq_error(f, "a column has an unknown physical type %d", l->type);
}

static Oid
kind_type(PqKind k)
{
	switch (k)
	{
		case K_BOOL:
			return BOOLOID;
		case K_INT2:
			return INT2OID;
		case K_INT4:
			return INT4OID;
		case K_INT8:
		case K_UINT32:
			return INT8OID;
		case K_UINT64:
		case K_DECIMAL:
			return NUMERICOID;
		case K_FLOAT4:
			return FLOAT4OID;
		case K_FLOAT8:
			return FLOAT8OID;
		case K_TEXT:
			return TEXTOID;
		case K_BYTEA:
			return BYTEAOID;
		case K_DATE:
			return DATEOID;
		case K_TIME:
			return TIMEOID;
		case K_TIMESTAMP:
		case K_INT96:
			return TIMESTAMPOID;
		case K_TIMESTAMPTZ:
			return TIMESTAMPTZOID;
		case K_UUID:
			return UUIDOID;
		case K_JSONB:
			return JSONBOID;
	}
	return TEXTOID;
}

/* the PostgreSQL type of a leaf (IMPORT FOREIGN SCHEMA), as SQL */
static char *
leaf_sql_type(PqFile *f, PqLeaf *l)
{
	PqKind		k = pq_kind(f, l);

	if (k == K_DECIMAL && l->precision > 0 && l->precision <= 1000 &&
		l->scale >= 0 && l->scale <= l->precision)
		return psprintf("numeric(%d,%d)", l->precision, l->scale);
	return format_type_be(kind_type(k));
}

/*------------------------------------------------------------------------
 * Opening a file
 *------------------------------------------------------------------------
 */
static PqFile *
pq_open_file(int fd, int64 size, const char *name)
{
	PqFile	   *f = palloc0(sizeof(PqFile));
	uint8		tail[8];
	uint8		head[4];
	uint32		flen;
	uint8	   *footer;

	f->name = pstrdup(name);
	f->fd = fd;
	f->size = size;
	if (size < 12)
		pq_error(f, "it has %lld bytes, fewer than a Parquet file has", (long long) size);
	pq_pread(f, head, 4, 0);
	pq_pread(f, tail, 8, size - 8);
	if (memcmp(head, PQ_MAGIC, 4) != 0 || memcmp(tail + 4, PQ_MAGIC, 4) != 0)
		pq_error(f, "it does not start and end with \"PAR1\"");
	flen = (uint32) tail[0] | ((uint32) tail[1] << 8) | ((uint32) tail[2] << 16) |
		((uint32) tail[3] << 24);
	if ((int64) flen > size - 12 || flen > MaxAllocSize)
		pq_error(f, "its footer's length (%u) is more than the file holds", flen);
	f->footer_start = size - 8 - flen;
	footer = palloc(Max(flen, 1));
	pq_pread(f, footer, flen, f->footer_start);
	read_footer(f, footer, flen);
	return f;
}

PqFile *
pq_open(int fd, int64 size, const char *name, TupleDesc desc, const bool *data)
{
	PqFile	   *f = pq_open_file(fd, size, name);

	f->desc = desc;
	f->cols = palloc0(sizeof(PqCol) * Max(desc->natts, 1));
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		PqCol	   *c;
		int			leaf = -1;
		Oid			func;
		bool		varlena;
		PqNode	   *top = NULL;

		if (!data[a] || att->attisdropped)
			continue;
		for (int t = 0; t < f->ntops; t++)
			if (strcmp(f->tops[t]->name, NameStr(att->attname)) == 0)
			{
				top = f->tops[t];
				break;
			}
		if (top == NULL)
			continue;			/* not in this file: NULL */
		leaf = top->leaf;
		c = &f->cols[f->ncols++];
		c->att = a;
		c->leaf = leaf;
		if (leaf < 0 || f->leaves[leaf].nested)
		{
			c->node = top;
			c->kind = K_JSONB;
		}
		else
			c->kind = pq_kind(f, &f->leaves[leaf]);
		c->natural = kind_type(c->kind);
		c->convert = (c->natural != att->atttypid);
		if (c->kind == K_DECIMAL && att->atttypid == NUMERICOID)
			c->convert = att->atttypmod >= 0;	/* numeric(p,s) rounds */
		if (c->convert)
		{
			getTypeOutputInfo(c->natural, &func, &varlena);
			fmgr_info(func, &c->out);
			getTypeInputInfo(att->atttypid, &func, &c->ioparam);
			fmgr_info(func, &c->in);
			c->typmod = att->atttypmod;
		}
	}
	return f;
}

int
pq_row_groups(PqFile *f)
{
	return f->nrg;
}

int64
pq_row_group_start(PqFile *f, int rg)
{
	return f->rgs[rg].start;
}

int64
pq_row_group_rows(PqFile *f, int rg)
{
	return f->rgs[rg].nrows;
}

int64
pq_rows_read(PqFile *f)
{
	return f->nrows;
}

/*------------------------------------------------------------------------
 * Pages
 *------------------------------------------------------------------------
 */
typedef struct PqPageHeader
{
	int			type;
	int32		usize;
	int32		csize;
	int32		num_values;
	int			encoding;
	int			def_encoding;
	int			rep_encoding;
	int32		def_len;		/* v2 */
	int32		rep_len;
	bool		compressed;		/* v2 */
} PqPageHeader;

static void
read_page_header(ThIn *in, PqPageHeader *h)
{
	int16		last = 0,
				id;
	int			type;

	memset(h, 0, sizeof(PqPageHeader));
	h->type = -1;
	h->usize = h->csize = -1;
	h->compressed = true;
	while (th_field(in, &last, &id, &type))
	{
		if (id == 1 && type == TH_I32)
			h->type = th_i32(in);
		else if (id == 2 && type == TH_I32)
			h->usize = th_i32(in);
		else if (id == 3 && type == TH_I32)
			h->csize = th_i32(in);
		else if ((id == 5 || id == 7 || id == 8) && type == TH_STRUCT)
		{
			int16		l2 = 0,
						id2;
			int			t2;

			while (th_field(in, &l2, &id2, &t2))
			{
				if (id2 == 1 && t2 == TH_I32)
					h->num_values = th_i32(in);
				else if (id == 5 && id2 == 2 && t2 == TH_I32)
					h->encoding = th_i32(in);
				else if (id == 5 && id2 == 3 && t2 == TH_I32)
					h->def_encoding = th_i32(in);
				else if (id == 5 && id2 == 4 && t2 == TH_I32)
					h->rep_encoding = th_i32(in);
				else if (id == 7 && id2 == 2 && t2 == TH_I32)
					h->encoding = th_i32(in);
				else if (id == 8 && id2 == 4 && t2 == TH_I32)
					h->encoding = th_i32(in);
				else if (id == 8 && id2 == 5 && t2 == TH_I32)
					h->def_len = th_i32(in);
				else if (id == 8 && id2 == 6 && t2 == TH_I32)
					h->rep_len = th_i32(in);
				else if (id == 8 && id2 == 7 && (t2 == TH_TRUE || t2 == TH_FALSE))
					h->compressed = (t2 == TH_TRUE);
				else
					th_skip(in, t2);
			}
		}
		else
			th_skip(in, type);
	}
	if (h->type < 0 || h->usize < 0 || h->csize < 0 || h->num_values < 0 ||
		h->def_len < 0 || h->rep_len < 0)
		th_corrupt(in, "a page header is invalid");
}

/* src's len bytes decompressed into exactly usize bytes */
static uint8 *
decompress(PqFile *f, int codec, const uint8 *src, int32 len, int32 usize)
{
	uint8	   *dst;

	if (codec == CODEC_UNCOMPRESSED)
	{
		if (len != usize)
			pq_error(f, "an uncompressed page's sizes differ");
		return (uint8 *) src;
	}
	dst = palloc(Max(usize, 1));
	switch (codec)
	{
		case CODEC_SNAPPY:
			{
				size_t		n;

				if (snappy_uncompressed_length((const char *) src, len, &n) != SNAPPY_OK ||
					n != (size_t) usize)
					pq_error(f, "a snappy page is invalid or not of its size");
				if (snappy_uncompress((const char *) src, len, (char *) dst, &n) != SNAPPY_OK ||
					n != (size_t) usize)
					pq_error(f, "a snappy page does not decompress");
				break;
			}
		case CODEC_GZIP:
			{
				z_stream	z;
				int			rc;

				memset(&z, 0, sizeof(z));
				if (inflateInit2(&z, 15 + 32) != Z_OK)
					elog(ERROR, "could not start zlib");
				z.next_in = (Bytef *) src;
				z.avail_in = len;
				z.next_out = dst;
				z.avail_out = usize;
				rc = inflate(&z, Z_FINISH);
				inflateEnd(&z);
				if (rc != Z_STREAM_END || z.total_out != (uLong) usize)
					pq_error(f, "a gzip page does not decompress to its size");
				break;
			}
		case CODEC_ZSTD:
			{
				size_t		n = ZSTD_decompress(dst, usize, src, len);

				if (ZSTD_isError(n) || n != (size_t) usize)
					pq_error(f, "a zstd page does not decompress to its size");
				break;
			}
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("Parquet file \"%s\" uses compression codec %d, which is not supported",
							f->name, codec),
					 errhint("Supported codecs are uncompressed, snappy, gzip and zstd.")));
	}
	return dst;
}

/* a bounded cursor over a page's bytes */
typedef struct Buf
{
	const uint8 *p;
	const uint8 *end;
	PqFile	   *f;
} Buf;

static uint64
buf_uleb(Buf *b)
{
	uint64		v = 0;

	for (int shift = 0; shift < 64; shift += 7)
	{
		uint8		c;

		if (b->p >= b->end)
			pq_error(b->f, "a page ends early");
		c = *b->p++;
		v |= (uint64) (c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			return v;
	}
	pq_error(b->f, "a varint is too long");
}

static uint32
buf_u32(Buf *b)
{
	uint32		v;

	if (b->end - b->p < 4)
		pq_error(b->f, "a page ends early");
	v = (uint32) b->p[0] | ((uint32) b->p[1] << 8) | ((uint32) b->p[2] << 16) |
		((uint32) b->p[3] << 24);
	b->p += 4;
	return v;
}

/* the value of bw bits at bit (LSB first) of p, whose nbytes hold it */
static inline uint64
get_bits(const uint8 *p, uint64 bit, int bw)
{
	uint64		v = 0;
	int			got = 0;

	p += bit >> 3;
	bit &= 7;
	while (got < bw)
	{
		int			take = Min(8 - (int) bit, bw - got);

		v |= (uint64) ((*p >> bit) & ((1u << take) - 1)) << got;
		got += take;
		bit = 0;
		p++;
	}
	return v;
}

/*
 * n values of the RLE/bit-packed hybrid of bit width bw (at most 32) from
 * b into out; each is checked to be at most max.
 */
static void
rle_decode(Buf *b, int bw, int64 n, uint32 *out, uint32 max)
{
	int64		got = 0;
	int			vbytes = (bw + 7) / 8;

	if (bw < 0 || bw > 32)
		pq_error(b->f, "a bit width (%d) is invalid", bw);
	while (got < n)
	{
		uint64		h = buf_uleb(b);

		if (h & 1)
		{
			/* bit-packed groups of 8 */
			uint64		groups = h >> 1;
			uint64		nbytes;
			int64		count;

			if (groups == 0 || groups > (uint64) (b->end - b->p))
				pq_error(b->f, "a bit-packed run is longer than its page");
			nbytes = groups * bw;
			if (nbytes > (uint64) (b->end - b->p))
				pq_error(b->f, "a bit-packed run is longer than its page");
			count = Min((int64) (groups * 8), n - got);
			for (int64 j = 0; j < count; j++)
			{
				uint32		v = (uint32) get_bits(b->p, (uint64) j * bw, bw);

				if (v > max)
					pq_error(b->f, "a level or index (%u) is out of range", v);
				out[got++] = v;
			}
			b->p += nbytes;
		}
		else
		{
			uint64		run = h >> 1;
			uint32		v = 0;

			if (b->end - b->p < vbytes)
				pq_error(b->f, "an RLE run ends early");
			for (int k = 0; k < vbytes; k++)
				v |= (uint32) b->p[k] << (8 * k);
			b->p += vbytes;
			if (v > max)
				pq_error(b->f, "a level or index (%u) is out of range", v);
			if (run == 0)
				pq_error(b->f, "an RLE run is empty");
			for (uint64 j = 0; j < run && got < n; j++)
				out[got++] = v;
		}
	}
}

static int
bit_width(uint32 max)
{
	int			w = 0;

	while (max > 0)
	{
		w++;
		max >>= 1;
	}
	return w;
}

/* n PLAIN values of leaf l from b */
static void
decode_plain(Buf *b, PqLeaf *l, int64 n, PqVal *out)
{
	int64		left = b->end - b->p;

	switch (l->type)
	{
		case PT_BOOLEAN:
			if ((n + 7) / 8 > left)
				pq_error(b->f, "a page has fewer values than it says");
			for (int64 i = 0; i < n; i++)
				out[i].i = (b->p[i >> 3] >> (i & 7)) & 1;
			b->p += (n + 7) / 8;
			break;
		case PT_INT32:
		case PT_FLOAT:
			if (n > left / 4)
				pq_error(b->f, "a page has fewer values than it says");
			for (int64 i = 0; i < n; i++)
			{
				uint32		u;

				memcpy(&u, b->p + 4 * i, 4);	/* little-endian, as the host */
				if (l->type == PT_INT32)
					out[i].i = (int32) u;
				else
				{
					float		fl;

					memcpy(&fl, &u, 4);
					out[i].d = fl;
				}
			}
			b->p += 4 * n;
			break;
		case PT_INT64:
		case PT_DOUBLE:
			if (n > left / 8)
				pq_error(b->f, "a page has fewer values than it says");
			for (int64 i = 0; i < n; i++)
				memcpy(&out[i], b->p + 8 * i, 8);
			b->p += 8 * n;
			break;
		case PT_INT96:
			if (n > left / 12)
				pq_error(b->f, "a page has fewer values than it says");
			for (int64 i = 0; i < n; i++)
			{
				out[i].s.p = b->p + 12 * i;
				out[i].s.len = 12;
			}
			b->p += 12 * n;
			break;
		case PT_FIXED:
			if (l->type_length <= 0 || n > left / l->type_length)
				pq_error(b->f, "a page has fewer values than it says");
			for (int64 i = 0; i < n; i++)
			{
				out[i].s.p = b->p + (int64) l->type_length * i;
				out[i].s.len = l->type_length;
			}
			b->p += (int64) l->type_length * n;
			break;
		case PT_BYTE_ARRAY:
			for (int64 i = 0; i < n; i++)
			{
				uint32		len = buf_u32(b);

				if (len > (uint64) (b->end - b->p))
					pq_error(b->f, "a string is longer than its page");
				out[i].s.p = b->p;
				out[i].s.len = (int32) len;
				b->p += len;
			}
			break;
	}
}

/*
 * DELTA_BINARY_PACKED: n integers (or fewer if the page says so; *got)
 * from b. Blocks of block_size deltas in miniblocks, each its own bit
 * width; values wrap around as unsigned 64-bit integers.
 */
static void
decode_delta(Buf *b, int64 n, int64 *out, int64 *got_out)
{
	uint64		block_size = buf_uleb(b);
	uint64		minis = buf_uleb(b);
	uint64		total = buf_uleb(b);
	uint64		first = buf_uleb(b);
	uint64		per_mini;
	int64		got = 0;
	uint64		v = (first >> 1) ^ -(first & 1);

	if (block_size == 0 || block_size % 128 != 0 || minis == 0 ||
		block_size % minis != 0 || (block_size / minis) % 32 != 0 || block_size > 1 << 20)
		pq_error(b->f, "a DELTA_BINARY_PACKED header is invalid");
	per_mini = block_size / minis;
	if (total > (uint64) n)
		pq_error(b->f, "a DELTA_BINARY_PACKED page has more values than its page");
	if (total > 0)
		out[got++] = (int64) v;
	while ((uint64) got < total)
	{
		uint64		zz = buf_uleb(b);
		uint64		min_delta = (zz >> 1) ^ -(zz & 1);
		const uint8 *widths;

		if ((uint64) (b->end - b->p) < minis)
			pq_error(b->f, "a DELTA_BINARY_PACKED block ends early");
		widths = b->p;
		b->p += minis;
		for (uint64 m = 0; m < minis && (uint64) got < total; m++)
		{
			int			bw = widths[m];
			uint64		nbytes = per_mini * bw / 8;

			if (bw > 64)
				pq_error(b->f, "a DELTA_BINARY_PACKED bit width is invalid");
			if (nbytes > (uint64) (b->end - b->p))
				pq_error(b->f, "a DELTA_BINARY_PACKED miniblock ends early");
			for (uint64 j = 0; j < per_mini && (uint64) got < total; j++)
			{
				uint64		d = bw == 0 ? 0 : get_bits(b->p, j * bw, bw);

				v += min_delta + d;
				out[got++] = (int64) v;
			}
			b->p += nbytes;
		}
	}
	*got_out = got;
}

/* nn values of the page's encoding from b (after the levels) */
static void
decode_values(Buf *b, PqLeaf *l, int encoding, int64 nn, PqVal *out,
			  PqVal *dict, int64 ndict)
{
	if (encoding == ENC_PLAIN)
		decode_plain(b, l, nn, out);
	else if (encoding == ENC_PLAIN_DICTIONARY || encoding == ENC_RLE_DICTIONARY)
	{
		uint32	   *idx;
		int			bw;

		if (dict == NULL)
			pq_error(b->f, "a dictionary-encoded page has no dictionary");
		if (nn == 0)
			return;
		if (b->p >= b->end)
			pq_error(b->f, "a page ends early");
		bw = *b->p++;
		idx = palloc(sizeof(uint32) * nn);
		rle_decode(b, bw, nn, idx, ndict > 0 ? (uint32) (ndict - 1) : 0);
		if (ndict == 0)
			pq_error(b->f, "a page refers to an empty dictionary");
		for (int64 i = 0; i < nn; i++)
			out[i] = dict[idx[i]];
		pfree(idx);
	}
	else if (encoding == ENC_RLE && l->type == PT_BOOLEAN)
	{
		uint32	   *v = palloc(sizeof(uint32) * Max(nn, 1));
		uint32		len = buf_u32(b);
		Buf			sub;

		if (len > (uint64) (b->end - b->p))
			pq_error(b->f, "an RLE run is longer than its page");
		sub = (Buf) {b->p, b->p + len, b->f};
		rle_decode(&sub, 1, nn, v, 1);
		for (int64 i = 0; i < nn; i++)
			out[i].i = v[i];
		b->p += len;
		pfree(v);
	}
	else if (encoding == ENC_DELTA_BINARY_PACKED &&
			 (l->type == PT_INT32 || l->type == PT_INT64))
	{
		int64	   *v = palloc(sizeof(int64) * Max(nn, 1));
		int64		got;

		decode_delta(b, nn, v, &got);
		if (got != nn)
			pq_error(b->f, "a page has fewer values than it says");
		for (int64 i = 0; i < nn; i++)
			out[i].i = l->type == PT_INT32 ? (int32) v[i] : v[i];
		pfree(v);
	}
	else if ((encoding == ENC_DELTA_LENGTH_BYTE_ARRAY || encoding == ENC_DELTA_BYTE_ARRAY) &&
			 l->type == PT_BYTE_ARRAY)
	{
		int64	   *prefix = NULL;
		int64	   *len = palloc(sizeof(int64) * Max(nn, 1));
		int64		got;
		const uint8 *prev = NULL;
		int32		prevlen = 0;
		int64		made = 0;
		int64		max_made = Max((int64) 64 * 1024 * 1024, (b->end - b->p) * 64);

		if (encoding == ENC_DELTA_BYTE_ARRAY)
		{
			prefix = palloc(sizeof(int64) * Max(nn, 1));
			decode_delta(b, nn, prefix, &got);
			if (got != nn)
				pq_error(b->f, "a page has fewer values than it says");
		}
		decode_delta(b, nn, len, &got);
		if (got != nn)
			pq_error(b->f, "a page has fewer values than it says");
		for (int64 i = 0; i < nn; i++)
		{
			int64		pre = prefix ? prefix[i] : 0;

			if (len[i] < 0 || len[i] > b->end - b->p || pre < 0 || pre > prevlen ||
				pre + len[i] > MaxAllocSize)
				pq_error(b->f, "a string's length is invalid");
			/* prefixes repeat bytes: bounded, as pages are (read_data_page) */
			made += pre;
			if (made > max_made)
				pq_error(b->f, "a DELTA_BYTE_ARRAY page makes too many bytes");
			if (pre == 0)
			{
				out[i].s.p = b->p;
				out[i].s.len = (int32) len[i];
			}
			else
			{
				uint8	   *s = palloc(pre + len[i] + 1);

				memcpy(s, prev, pre);
				memcpy(s + pre, b->p, len[i]);
				out[i].s.p = s;
				out[i].s.len = (int32) (pre + len[i]);
			}
			b->p += len[i];
			prev = out[i].s.p;
			prevlen = out[i].s.len;
		}
		pfree(len);
	}
	else if (encoding == ENC_BYTE_STREAM_SPLIT &&
			 (l->type == PT_FLOAT || l->type == PT_DOUBLE ||
			  l->type == PT_INT32 || l->type == PT_INT64))
	{
		int			k = (l->type == PT_FLOAT || l->type == PT_INT32) ? 4 : 8;
		uint8		v[8];

		if (nn > (b->end - b->p) / k)
			pq_error(b->f, "a page has fewer values than it says");
		for (int64 i = 0; i < nn; i++)
		{
			for (int j = 0; j < k; j++)
				v[j] = b->p[j * nn + i];
			if (l->type == PT_FLOAT)
			{
				float		fl;

				memcpy(&fl, v, 4);
				out[i].d = fl;
			}
			else if (l->type == PT_INT32)
			{
				int32		x;

				memcpy(&x, v, 4);
				out[i].i = x;
			}
			else
				memcpy(&out[i], v, 8);
		}
		b->p += k * nn;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("Parquet file \"%s\" uses encoding %d for column \"%s\", which is not supported",
						b->f->name, encoding, l->name)));
}

static void
col_grow(PqCol *c, int64 need)
{
	if (need <= c->alloc)
		return;
	c->alloc = Max(need, c->alloc * 2);
	if (c->vals == NULL)
	{
		c->vals = palloc_extended(sizeof(PqVal) * c->alloc, MCXT_ALLOC_HUGE);
		c->nulls = palloc_extended(sizeof(bool) * c->alloc, MCXT_ALLOC_HUGE);
	}
	else
	{
		c->vals = repalloc_huge(c->vals, sizeof(PqVal) * c->alloc);
		c->nulls = repalloc_huge(c->nulls, sizeof(bool) * c->alloc);
	}
}

/* the values (and NULLs) of a data page into c from row c's rows on */
static int64
read_data_page(PqFile *f, PqChunk *ch, PqLeaf *l, PqPageHeader *h, const uint8 *data,
			   PqCol *c, int64 row, int64 want, PqVal *dict, int64 ndict)
{
	const uint8 *vals;
	int32		vlen;
	uint32	   *defs = NULL;
	int64		n = h->num_values;
	int64		nn;
	Buf			b;
	PqVal	   *tmp;

	if (n > want)
		pq_error(f, "a column chunk has more values than its row group has rows");

	/*
	 * Memory follows the values a page decodes to, not what the row group
	 * claims; and a page claims at most PQ_PAGE_VALUES_PER_BYTE values a
	 * byte of it (or PQ_PAGE_VALUES_MIN): runs of RLE can claim billions
	 * in a few bytes, no writer makes such pages, and a hostile one would
	 * have the server allocate what it says.
	 */
	if (n > Max(PQ_PAGE_VALUES_MIN, (int64) h->usize * PQ_PAGE_VALUES_PER_BYTE))
		pq_error(f, "a page of %d bytes claims %lld values", h->usize, (long long) n);
	if (h->type == PAGE_DATA)
	{
		const uint8 *u = decompress(f, ch->codec, data, h->csize, h->usize);

		b = (Buf) {u, u + h->usize, f};
		if (l->max_def > 0)
		{
			uint32		len;
			Buf			sub;

			if (h->def_encoding != ENC_RLE)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("Parquet file \"%s\" uses definition level encoding %d, which is not supported",
								f->name, h->def_encoding)));
			len = buf_u32(&b);
			if (len > (uint64) (b.end - b.p))
				pq_error(f, "the definition levels are longer than their page");
			sub = (Buf) {b.p, b.p + len, f};
			defs = palloc(sizeof(uint32) * Max(n, 1));
			rle_decode(&sub, bit_width(l->max_def), n, defs, l->max_def);
			b.p += len;
		}
	}
	else
	{
		/* v2: levels uncompressed, then the values, maybe compressed */
		int64		lv = (int64) h->def_len + h->rep_len;

		if (lv > h->csize || lv > h->usize || h->rep_len != 0)
			pq_error(f, "a data page v2's level lengths are invalid");
		if (l->max_def > 0)
		{
			Buf			sub = {data + h->rep_len, data + lv, f};

			defs = palloc(sizeof(uint32) * Max(n, 1));
			rle_decode(&sub, bit_width(l->max_def), n, defs, l->max_def);
		}
		vlen = h->usize - (int32) lv;
		vals = (h->compressed && ch->codec != CODEC_UNCOMPRESSED) ?
			decompress(f, ch->codec, data + lv, h->csize - (int32) lv, vlen) : data + lv;
		if (!(h->compressed && ch->codec != CODEC_UNCOMPRESSED) && h->csize != h->usize)
			pq_error(f, "an uncompressed page's sizes differ");
		b = (Buf) {vals, vals + vlen, f};
	}
	nn = n;
	if (defs)
	{
		nn = 0;
		for (int64 i = 0; i < n; i++)
			nn += (defs[i] == (uint32) l->max_def);
	}
	tmp = palloc(sizeof(PqVal) * Max(nn, 1));
	decode_values(&b, l, h->encoding, nn, tmp, dict, ndict);
	col_grow(c, row + n);
	for (int64 i = 0, k = 0; i < n; i++)
	{
		bool		null = defs && defs[i] != (uint32) l->max_def;

		c->nulls[row + i] = null;
		if (!null)
			c->vals[row + i] = tmp[k++];
	}
	pfree(tmp);
	if (defs)
		pfree(defs);
	return n;
}

static void
read_chunk(PqFile *f, PqRowGroup *rg, PqCol *c)
{
	PqChunk    *ch = &rg->chunks[c->leaf];
	PqLeaf	   *l = &f->leaves[c->leaf];
	uint8	   *raw;
	ThIn		in;
	int64		got = 0;
	PqVal	   *dict = NULL;
	int64		ndict = 0;

	if (ch->external)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("Parquet file \"%s\" keeps column \"%s\" in another file, which is not supported",
						f->name, l->name)));
	if (ch->type != l->type)
		pq_error(f, "column \"%s\" has another type in a row group than in the schema", l->name);
	if (ch->num_values != rg->nrows)
		pq_error(f, "column \"%s\" has %lld values in a row group of %lld rows",
				 l->name, (long long) ch->num_values, (long long) rg->nrows);
	if (ch->size > (int64) MaxAllocHugeSize)
		pq_error(f, "a column chunk is too big");
	raw = palloc_extended(Max(ch->size, 1), MCXT_ALLOC_HUGE);
	pq_pread(f, raw, ch->size, ch->start);
	in = (ThIn) {raw, raw + ch->size, f->name};
	while (got < rg->nrows)
	{
		PqPageHeader	h;
		const uint8 *data;

		if (in.p >= in.end)
			pq_error(f, "column \"%s\" has fewer values than its row group has rows", l->name);
		read_page_header(&in, &h);
		if (h.csize > in.end - in.p)
			pq_error(f, "a page is longer than its column chunk");
		data = in.p;
		in.p += h.csize;
		CHECK_FOR_INTERRUPTS();
		if (h.type == PAGE_DICTIONARY)
		{
			const uint8 *u;
			Buf			b;

			if (dict != NULL)
				pq_error(f, "a column chunk has two dictionaries");
			if (h.encoding != ENC_PLAIN && h.encoding != ENC_PLAIN_DICTIONARY)
				pq_error(f, "a dictionary page is not PLAIN");
			u = decompress(f, ch->codec, data, h.csize, h.usize);
			b = (Buf) {u, u + h.usize, f};
			ndict = h.num_values;
			/* a value takes a bit at least (booleans) */
			if (ndict > (int64) h.usize * 8)
				pq_error(f, "a dictionary page of %d bytes claims %lld values",
						 h.usize, (long long) ndict);
			dict = palloc_extended(sizeof(PqVal) * Max(ndict, 1), MCXT_ALLOC_HUGE);
			decode_plain(&b, l, ndict, dict);
		}
		else if (h.type == PAGE_DATA || h.type == PAGE_DATA_V2)
			got += read_data_page(f, ch, l, &h, data, c, f->nrows + got,
								  rg->nrows - got, dict, ndict);
		/* an index page, or another: skipped */
	}
}

static void read_nested(PqFile *f, PqRowGroup *g, PqCol *c);

/* the matched columns of row group rg, after the rows read so far */
void
pq_read_row_group(PqFile *f, int rg)
{
	PqRowGroup *g = &f->rgs[rg];

	if (g->nrows > (int64) (MaxAllocHugeSize / sizeof(PqVal)) - f->nrows)
		pq_error(f, "a row group has too many rows");
	for (int c = 0; c < f->ncols; c++)
	{
		if (f->cols[c].node)
			read_nested(f, g, &f->cols[c]);
		else
			read_chunk(f, g, &f->cols[c]);
	}
	f->nrows += g->nrows;
}

/*------------------------------------------------------------------------
 * Values into Datums
 *------------------------------------------------------------------------
 */
/* the decimal digits of the big-endian two's complement integer p[len] */
static char *
unscaled_digits(const uint8 *p, int len, int scale)
{
	uint8		mag[128];
	bool		neg;
	char		digits[1100];	/* 128 bytes: 309 digits; or scale + 1 */
	int			nd = 0;
	int			start = 0;
	StringInfoData s;

	if (len <= 0 || len > (int) sizeof(mag))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a Parquet decimal of %d bytes is not supported", len)));
	if (scale < 0 || scale > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a Parquet decimal has scale %d", scale)));
	memcpy(mag, p, len);
	neg = (mag[0] & 0x80) != 0;
	if (neg)
	{
		/* negate: invert and add one */
		int			carry = 1;

		for (int i = len - 1; i >= 0; i--)
		{
			int			v = (uint8) ~mag[i] + carry;

			mag[i] = (uint8) v;
			carry = v >> 8;
		}
	}
	/* repeated division by 10, most significant byte first */
	for (;;)
	{
		int			rem = 0;
		bool		zero = true;

		for (int i = start; i < len; i++)
		{
			int			cur = (rem << 8) | mag[i];

			mag[i] = (uint8) (cur / 10);
			rem = cur % 10;
			if (mag[i] != 0)
				zero = false;
		}
		digits[nd++] = '0' + rem;
		while (start < len && mag[start] == 0)
			start++;
		if (zero)
			break;
	}
	initStringInfo(&s);
	if (neg)
		appendStringInfoChar(&s, '-');
	/* at least one digit before the point */
	for (int i = nd; i <= scale; i++)
		digits[nd++] = '0';
	for (int i = nd - 1; i >= 0; i--)
	{
		appendStringInfoChar(&s, digits[i]);
		if (i == scale && scale > 0)
			appendStringInfoChar(&s, '.');
	}
	return s.data;
}

static Datum
decimal_datum(PqLeaf *l, PqVal *v)
{
	uint8		be[8];
	char	   *s;

	if (l->type == PT_INT32 || l->type == PT_INT64)
	{
		for (int i = 0; i < 8; i++)
			be[i] = (uint8) ((uint64) v->i >> (56 - 8 * i));
		s = unscaled_digits(be, 8, l->scale);
	}
	else
		s = unscaled_digits(v->s.p, v->s.len, l->scale);
	return DirectFunctionCall3(numeric_in, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid),
							   Int32GetDatum(-1));
}

/* unix time in unit (1 millis, 2 micros, 3 nanos) as a PostgreSQL timestamp */
static Datum
timestamp_datum(int64 v, int unit)
{
	int64		us;
	int64		ts;

	if (unit == 1)
	{
		if (pg_mul_s64_overflow(v, 1000, &us))
			goto range;
	}
	else if (unit == 3)
		us = v / 1000 - (v % 1000 < 0 ? 1 : 0);
	else
		us = v;
	if (pg_sub_s64_overflow(us, (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY, &ts) ||
		!IS_VALID_TIMESTAMP(ts))
		goto range;
	return Int64GetDatum(ts);
range:
	ereport(ERROR,
			(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
			 errmsg("timestamp out of range: %lld", (long long) v)));
}

static Datum
natural_datum(PqCol *c, PqLeaf *l, PqVal *v)
{
	switch (c->kind)
	{
		case K_BOOL:
			return BoolGetDatum(v->i != 0);
		case K_INT2:
			if (v->i < PG_INT16_MIN || v->i > PG_INT16_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("smallint out of range: %lld", (long long) v->i)));
			return Int16GetDatum((int16) v->i);
		case K_INT4:
			return Int32GetDatum((int32) v->i);
		case K_INT8:
			return Int64GetDatum(v->i);
		case K_UINT32:
			return Int64GetDatum((int64) (uint32) v->i);
		case K_UINT64:
			return DirectFunctionCall3(numeric_in,
									   CStringGetDatum(psprintf(UINT64_FORMAT, (uint64) v->i)),
									   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		case K_FLOAT4:
			return Float4GetDatum((float4) v->d);
		case K_FLOAT8:
			return Float8GetDatum(v->d);
		case K_TEXT:
			(void) pg_verify_mbstr(GetDatabaseEncoding(), (const char *) v->s.p, v->s.len, false);
			return PointerGetDatum(cstring_to_text_with_len((const char *) v->s.p, v->s.len));
		case K_BYTEA:
			{
				bytea	   *b = palloc(VARHDRSZ + v->s.len);

				SET_VARSIZE(b, VARHDRSZ + v->s.len);
				memcpy(VARDATA(b), v->s.p, v->s.len);
				return PointerGetDatum(b);
			}
		case K_DECIMAL:
			return decimal_datum(l, v);
		case K_DATE:
			{
				int64		d = v->i - (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE);

				if (!IS_VALID_DATE(d))
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("date out of range: %lld days", (long long) v->i)));
				return DateADTGetDatum((DateADT) d);
			}
		case K_TIME:
			{
				int64		t = l->type == PT_INT32 ? v->i * 1000 :
					l->unit == 3 ? v->i / 1000 : v->i;

				if (t < 0 || t > USECS_PER_DAY)
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("time out of range")));
				return TimeADTGetDatum(t);
			}
		case K_TIMESTAMP:
		case K_TIMESTAMPTZ:
			return timestamp_datum(v->i, l->unit ? l->unit :
								   l->converted == CT_TIMESTAMP_MILLIS ? 1 : 2);
		case K_INT96:
			{
				int64		nanos;
				int32		jd;

				memcpy(&nanos, v->s.p, 8);
				memcpy(&jd, v->s.p + 8, 4);
				if (nanos < 0 || nanos > INT64CONST(1000000000) * SECS_PER_DAY || jd < 0 || jd > 100000000)
					ereport(ERROR,
							(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
							 errmsg("an INT96 timestamp is out of range")));
				return timestamp_datum(((int64) jd - UNIX_EPOCH_JDATE) * USECS_PER_DAY +
									   nanos / 1000, 2);
			}
		case K_UUID:
			{
				pg_uuid_t  *u = palloc(sizeof(pg_uuid_t));

				memcpy(u->data, v->s.p, UUID_LEN);
				return UUIDPGetDatum(u);
			}
		case K_JSONB:
			break;				/* pq_decode_row */
	}
	return (Datum) 0;
}

/*------------------------------------------------------------------------
 * Nested fields
 *------------------------------------------------------------------------
 *
 * A nested field (a group, or a repeated field: lists, structs, maps) is
 * stored as its leaves, each a run of entries of (repetition level,
 * definition level, value): a row starts at repetition level 0; a
 * definition level below a node's says the node (or an ancestor) is NULL
 * or an empty list there; a repetition level says at which repeated
 * ancestor a new element starts. Each leaf of the field is read whole for
 * the row group (read_entries), then each row assembled into JSON text
 * (build_*), walking the schema tree with one cursor per leaf: a NULL or
 * empty node takes one entry of every leaf under it, a leaf's value one
 * of its own. A group annotated LIST (or converted LIST) is a JSON array
 * of its repeated child's elements (three levels: list, element; or the
 * legacy two), MAP (or MAP_KEY_VALUE) a JSON object of its key_value
 * pairs, another group an object of its fields, a repeated field an
 * array. Values: numbers and booleans as JSON's, strings and every other
 * type as strings (its PostgreSQL text: dates, timestamps, uuids; bytes as
 * bytea's hex), NaN and infinities as strings. The levels are checked as
 * they are read (at most the node's, each row starting at 0, every leaf
 * ending its row together), so a corrupt field is an error, not a
 * misassembled row.
 */
static void
read_entries(PqFile *f, PqRowGroup *rg, int leafno, PqEntries *e)
{
	PqChunk    *ch = &rg->chunks[leafno];
	PqLeaf	   *l = &f->leaves[leafno];
	uint8	   *raw;
	ThIn		in;
	PqVal	   *dict = NULL;
	int64		ndict = 0;

	memset(e, 0, sizeof(PqEntries));
	if (ch->external)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("Parquet file \"%s\" keeps column \"%s\" in another file, which is not supported",
						f->name, l->name)));
	if (ch->type != l->type)
		pq_error(f, "column \"%s\" has another type in a row group than in the schema", l->name);
	if (ch->size > (int64) MaxAllocHugeSize)
		pq_error(f, "a column chunk is too big");
	raw = palloc_extended(Max(ch->size, 1), MCXT_ALLOC_HUGE);
	pq_pread(f, raw, ch->size, ch->start);
	in = (ThIn) {raw, raw + ch->size, f->name};
	while (e->n < ch->num_values)
	{
		PqPageHeader h;
		const uint8 *data;
		Buf			b;
		int64		n,
					nn = 0;
		PqVal	   *tmp;

		if (in.p >= in.end)
			pq_error(f, "column \"%s\" has fewer values than its metadata says", l->name);
		read_page_header(&in, &h);
		if (h.csize > in.end - in.p)
			pq_error(f, "a page is longer than its column chunk");
		data = in.p;
		in.p += h.csize;
		CHECK_FOR_INTERRUPTS();
		if (h.type == PAGE_DICTIONARY)
		{
			const uint8 *u;

			if (dict != NULL)
				pq_error(f, "a column chunk has two dictionaries");
			if (h.encoding != ENC_PLAIN && h.encoding != ENC_PLAIN_DICTIONARY)
				pq_error(f, "a dictionary page is not PLAIN");
			ndict = h.num_values;
			if (ndict > (int64) h.usize * 8)
				pq_error(f, "a dictionary page of %d bytes claims %lld values",
						 h.usize, (long long) ndict);
			u = decompress(f, ch->codec, data, h.csize, h.usize);
			b = (Buf) {u, u + h.usize, f};
			dict = palloc_extended(sizeof(PqVal) * Max(ndict, 1), MCXT_ALLOC_HUGE);
			decode_plain(&b, l, ndict, dict);
			continue;
		}
		if (h.type != PAGE_DATA && h.type != PAGE_DATA_V2)
			continue;
		n = h.num_values;
		if (n > ch->num_values - e->n ||
			n > Max(PQ_PAGE_VALUES_MIN, (int64) h.usize * PQ_PAGE_VALUES_PER_BYTE))
			pq_error(f, "a page of %d bytes claims %lld values", h.usize, (long long) n);
		if (e->n + n > e->alloc)
		{
			e->alloc = Max(e->n + n, e->alloc * 2);
			e->rep = e->rep ? repalloc_huge(e->rep, e->alloc) : palloc_extended(e->alloc, MCXT_ALLOC_HUGE);
			e->def = e->def ? repalloc_huge(e->def, e->alloc) : palloc_extended(e->alloc, MCXT_ALLOC_HUGE);
			e->vals = e->vals ? repalloc_huge(e->vals, sizeof(PqVal) * e->alloc) :
				palloc_extended(sizeof(PqVal) * e->alloc, MCXT_ALLOC_HUGE);
		}
		{
			uint32	   *lv = palloc(sizeof(uint32) * Max(n, 1));
			const uint8 *rep_p,
					   *def_p;
			int64		rep_len,
						def_len;

			if (h.type == PAGE_DATA)
			{
				const uint8 *u = decompress(f, ch->codec, data, h.csize, h.usize);

				b = (Buf) {u, u + h.usize, f};
				if (h.rep_encoding != ENC_RLE && l->max_rep > 0)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("Parquet file \"%s\" uses repetition level encoding %d, which is not supported",
									f->name, h.rep_encoding)));
				if (h.def_encoding != ENC_RLE && l->max_def > 0)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("Parquet file \"%s\" uses definition level encoding %d, which is not supported",
									f->name, h.def_encoding)));
				rep_len = l->max_rep > 0 ? buf_u32(&b) : 0;
				if (rep_len > b.end - b.p)
					pq_error(f, "the repetition levels are longer than their page");
				rep_p = b.p;
				b.p += rep_len;
				def_len = l->max_def > 0 ? buf_u32(&b) : 0;
				if (def_len > b.end - b.p)
					pq_error(f, "the definition levels are longer than their page");
				def_p = b.p;
				b.p += def_len;
			}
			else
			{
				int64		lvl = (int64) h.def_len + h.rep_len;
				int32		vlen;
				const uint8 *vals;

				if (lvl > h.csize || lvl > h.usize)
					pq_error(f, "a data page v2's level lengths are invalid");
				rep_p = data;
				rep_len = h.rep_len;
				def_p = data + h.rep_len;
				def_len = h.def_len;
				vlen = h.usize - (int32) lvl;
				if (!(h.compressed && ch->codec != CODEC_UNCOMPRESSED) && h.csize != h.usize)
					pq_error(f, "an uncompressed page's sizes differ");
				vals = (h.compressed && ch->codec != CODEC_UNCOMPRESSED) ?
					decompress(f, ch->codec, data + lvl, h.csize - (int32) lvl, vlen) : data + lvl;
				b = (Buf) {vals, vals + vlen, f};
			}
			if (l->max_rep > 0)
			{
				Buf			sub = {rep_p, rep_p + rep_len, f};

				rle_decode(&sub, bit_width(l->max_rep), n, lv, l->max_rep);
			}
			else
				memset(lv, 0, sizeof(uint32) * n);
			for (int64 i = 0; i < n; i++)
				e->rep[e->n + i] = (uint8) lv[i];
			if (l->max_def > 0)
			{
				Buf			sub = {def_p, def_p + def_len, f};

				rle_decode(&sub, bit_width(l->max_def), n, lv, l->max_def);
			}
			else
				memset(lv, 0, sizeof(uint32) * n);
			for (int64 i = 0; i < n; i++)
			{
				e->def[e->n + i] = (uint8) lv[i];
				nn += (lv[i] == (uint32) l->max_def);
			}
			pfree(lv);
		}
		tmp = palloc(sizeof(PqVal) * Max(nn, 1));
		decode_values(&b, l, h.encoding, nn, tmp, dict, ndict);
		for (int64 i = 0, k = 0; i < n; i++)
			if (e->def[e->n + i] == l->max_def)
				e->vals[e->n + i] = tmp[k++];
		pfree(tmp);
		e->n += n;
	}
	if (e->n > 0 && e->rep[0] != 0)
		pq_error(f, "column \"%s\" does not start a row", l->name);
}

typedef struct Assembly
{
	PqFile	   *f;
	PqEntries  *E;				/* per leaf */
} Assembly;

static int
node_first_leaf(PqFile *f, PqNode *n)
{
	while (n->leaf < 0)
	{
		if (n->nchildren == 0)
			pq_error(f, "group \"%s\" has no fields", n->name);
		n = n->children[0];
	}
	return n->leaf;
}

static PqEntries *
node_entries(Assembly *a, PqNode *n)
{
	PqEntries  *e = &a->E[node_first_leaf(a->f, n)];

	if (e->pos >= e->n)
		pq_error(a->f, "nested field \"%s\" ends early", n->name);
	return e;
}

/* a NULL or empty node: one entry of every leaf under it */
static void
skip_node(Assembly *a, PqNode *n)
{
	if (n->leaf >= 0)
	{
		if (a->E[n->leaf].pos >= a->E[n->leaf].n)
			pq_error(a->f, "nested field \"%s\" ends early", n->name);
		a->E[n->leaf].pos++;
		return;
	}
	for (int c = 0; c < n->nchildren; c++)
		skip_node(a, n->children[c]);
}

/* bytes as a JSON string */
static void
json_string(StringInfo out, const char *p, int len)
{
	appendStringInfoChar(out, '"');
	for (int i = 0; i < len; i++)
	{
		unsigned char ch = (unsigned char) p[i];

		if (ch == '"' || ch == '\\')
		{
			appendStringInfoChar(out, '\\');
			appendStringInfoChar(out, (char) ch);
		}
		else if (ch < 0x20)
			appendStringInfo(out, "\\u%04x", ch);	/* \u0000 is refused by jsonb */
		else
			appendStringInfoChar(out, (char) ch);
	}
	appendStringInfoChar(out, '"');
}

static void build_field(Assembly *a, PqNode *n, StringInfo out, int depth);

/* a leaf's value as JSON */
static void
json_value(Assembly *a, int leafno, PqVal *v, StringInfo out)
{
	PqFile	   *f = a->f;
	PqLeaf	   *l = &f->leaves[leafno];
	PqCol		c = {0};
	Datum		d;
	char	   *s;

	c.kind = pq_kind(f, l);
	switch (c.kind)
	{
		case K_BOOL:
			appendStringInfoString(out, v->i ? "true" : "false");
			return;
		case K_INT2:
		case K_INT4:
		case K_INT8:
			appendStringInfo(out, INT64_FORMAT, c.kind == K_INT8 ? v->i : (int64) (int32) v->i);
			return;
		case K_UINT32:
			appendStringInfo(out, UINT64_FORMAT, (uint64) (uint32) v->i);
			return;
		case K_UINT64:
			appendStringInfo(out, UINT64_FORMAT, (uint64) v->i);
			return;
		case K_TEXT:
			json_string(out, (const char *) v->s.p, v->s.len);
			return;
		default:
			break;
	}
	if (f->leaf_out == NULL)
		f->leaf_out = palloc0(sizeof(FmgrInfo) * Max(f->nleaves, 1));
	if (f->leaf_out[leafno].fn_oid == InvalidOid)
	{
		Oid			func;
		bool		varlena;

		getTypeOutputInfo(kind_type(c.kind), &func, &varlena);
		fmgr_info(func, &f->leaf_out[leafno]);
	}
	d = natural_datum(&c, l, v);
	s = OutputFunctionCall(&f->leaf_out[leafno], d);
	if ((c.kind == K_FLOAT4 || c.kind == K_FLOAT8 || c.kind == K_DECIMAL) &&
		!isnan(v->d) && strcmp(s, "NaN") != 0 && strstr(s, "Infinity") == NULL)
		appendStringInfoString(out, s);
	else
		json_string(out, s, strlen(s));
}

/* one instance of n, its repetition aside */
static void
build_one(Assembly *a, PqNode *n, StringInfo out, int depth)
{
	if (n->leaf >= 0)
	{
		PqEntries  *e = &a->E[n->leaf];

		if (e->pos >= e->n)
			pq_error(a->f, "nested field \"%s\" ends early", n->name);
		if (e->def[e->pos] < a->f->leaves[n->leaf].max_def)
			appendStringInfoString(out, "null");
		else
			json_value(a, n->leaf, &e->vals[e->pos], out);
		e->pos++;
		return;
	}
	if ((n->logical == LT_LIST || n->converted == CT_LIST) && n->nchildren == 1 &&
		n->children[0]->repetition == 2)
	{
		build_field(a, n->children[0], out, depth + 1);
		return;
	}
	if ((n->logical == LT_MAP || n->converted == CT_MAP || n->converted == CT_MAP_KEY_VALUE) &&
		n->nchildren == 1 && n->children[0]->repetition == 2 &&
		n->children[0]->nchildren == 2)
	{
		build_field(a, n->children[0], out, depth + 1);
		return;
	}
	appendStringInfoChar(out, '{');
	for (int c = 0; c < n->nchildren; c++)
	{
		if (c > 0)
			appendStringInfoChar(out, ',');
		json_string(out, n->children[c]->name, strlen(n->children[c]->name));
		appendStringInfoChar(out, ':');
		build_field(a, n->children[c], out, depth + 1);
	}
	appendStringInfoChar(out, '}');
}

/* whether repeated node n is a map's key_value, or a list's element holder */
static bool
is_map_entries(PqNode *parent, PqNode *n)
{
	return parent && (parent->logical == LT_MAP || parent->converted == CT_MAP ||
					  parent->converted == CT_MAP_KEY_VALUE) &&
		parent->nchildren == 1 && n->nchildren == 2;
}

static void
build_repeated(Assembly *a, PqNode *parent, PqNode *n, StringInfo out, int depth)
{
	bool		map = is_map_entries(parent, n);
	bool		list3 = !map && parent && (parent->logical == LT_LIST || parent->converted == CT_LIST) &&
		n->nchildren == 1 && strcmp(n->name, "array") != 0 &&
		strcmp(n->name, psprintf("%s_tuple", parent->name)) != 0;
	PqEntries  *e = node_entries(a, n);
	bool		first = true;

	if (e->def[e->pos] < n->def)
	{
		/* none: the parent is there (else it took the entries), empty */
		appendStringInfoString(out, map ? "{}" : "[]");
		skip_node(a, n);
		return;
	}
	appendStringInfoChar(out, map ? '{' : '[');
	for (;;)
	{
		if (!first)
			appendStringInfoChar(out, ',');
		first = false;
		if (map)
		{
			StringInfoData key;

			initStringInfo(&key);
			build_field(a, n->children[0], &key, depth + 1);
			if (key.data[0] == '"')
				appendBinaryStringInfo(out, key.data, key.len);
			else
				json_string(out, key.data, key.len);
			appendStringInfoChar(out, ':');
			build_field(a, n->children[1], out, depth + 1);
		}
		else if (list3)
			build_field(a, n->children[0], out, depth + 1);
		else
			build_one(a, n, out, depth);
		e = &a->E[node_first_leaf(a->f, n)];
		if (e->pos >= e->n || e->rep[e->pos] != n->rep)
			break;
	}
	appendStringInfoChar(out, map ? '}' : ']');
}

static PqNode *build_parent;	/* the node whose field is being built */

/* field n of a group (or of the schema): NULL, its instances, or one */
static void
build_field(Assembly *a, PqNode *n, StringInfo out, int depth)
{
	PqNode	   *parent = build_parent;
	PqEntries  *e;

	if (depth > 200)
		pq_error(a->f, "a nested field is nested too deep");
	e = node_entries(a, n);
	if (e->rep[e->pos] > n->rep)
		pq_error(a->f, "nested field \"%s\" has an invalid repetition level", n->name);
	build_parent = n;
	if (n->repetition == 2)
		build_repeated(a, parent, n, out, depth);
	else if (n->repetition == 1 && e->def[e->pos] < n->def)
	{
		appendStringInfoString(out, "null");
		skip_node(a, n);
	}
	else
		build_one(a, n, out, depth);
	build_parent = parent;
}

/* the rows of row group g of nested column c, as JSON text */
static void
read_nested(PqFile *f, PqRowGroup *g, PqCol *c)
{
	Assembly	a = {f, palloc0(sizeof(PqEntries) * Max(f->nleaves, 1))};
	List	   *leaves = NIL;
	List	   *todo = list_make1(c->node);
	ListCell   *lc;
	StringInfoData out;

	/* its leaves */
	while (todo != NIL)
	{
		PqNode	   *n = linitial(todo);

		todo = list_delete_first(todo);
		if (n->leaf >= 0)
			leaves = lappend_int(leaves, n->leaf);
		for (int k = 0; k < n->nchildren; k++)
			todo = lappend(todo, n->children[k]);
	}
	foreach(lc, leaves)
		read_entries(f, g, lfirst_int(lc), &a.E[lfirst_int(lc)]);
	col_grow(c, f->nrows + g->nrows);
	initStringInfo(&out);
	for (int64 r = 0; r < g->nrows; r++)
	{
		PqEntries  *e = node_entries(&a, c->node);

		if (e->rep[e->pos] != 0)
			pq_error(f, "nested field \"%s\" does not start a row", c->node->name);
		resetStringInfo(&out);
		build_parent = NULL;
		if (c->node->repetition == 1 && e->def[e->pos] < c->node->def)
		{
			skip_node(&a, c->node);
			c->nulls[f->nrows + r] = true;
		}
		else
		{
			build_field(&a, c->node, &out, 0);
			c->nulls[f->nrows + r] = false;
			c->vals[f->nrows + r].s.p = (const uint8 *) pnstrdup(out.data, out.len);
			c->vals[f->nrows + r].s.len = out.len;
		}
		/* every leaf at the next row together */
		foreach(lc, leaves)
		{
			PqEntries  *le = &a.E[lfirst_int(lc)];

			if (le->pos < le->n && le->rep[le->pos] != 0)
				pq_error(f, "nested field \"%s\" has a leaf out of step", c->node->name);
		}
		CHECK_FOR_INTERRUPTS();
	}
	foreach(lc, leaves)
		if (a.E[lfirst_int(lc)].pos != a.E[lfirst_int(lc)].n)
			pq_error(f, "nested field \"%s\" has more values than its row group has rows",
					 c->node->name);
}

/* row (from 0, of those read) into the matched columns of values/nulls */
void
pq_decode_row(PqFile *f, int64 row, Datum *values, bool *nulls)
{
	for (int i = 0; i < f->ncols; i++)
	{
		PqCol	   *c = &f->cols[i];
		Datum		v;

		if (c->nulls[row])
			continue;
		if (c->kind == K_JSONB)
		{
			/* a nested field's JSON text: its strings unchecked till now */
			(void) pg_verify_mbstr(GetDatabaseEncoding(), (const char *) c->vals[row].s.p,
								   c->vals[row].s.len, false);
			v = DirectFunctionCall1(jsonb_in, CStringGetDatum(c->vals[row].s.p));
		}
		else
			v = natural_datum(c, &f->leaves[c->leaf], &c->vals[row]);
		if (c->convert)
			v = InputFunctionCall(&c->in, OutputFunctionCall(&c->out, v), c->ioparam,
								  c->typmod);
		values[c->att] = v;
		nulls[c->att] = false;
	}
}

/*------------------------------------------------------------------------
 * IMPORT FOREIGN SCHEMA
 *------------------------------------------------------------------------
 */
/*
 * The name and PostgreSQL type (as SQL) of each top-level field of a file
 * not in *names yet, appended to *names and *types (a nested field's is
 * jsonb).
 */
void
pq_schema_columns(int fd, int64 size, const char *name, List **names, List **types)
{
	PqFile	   *f = pq_open_file(fd, size, name);

	for (int l = 0; l < f->nleaves; l++)
	{
		ListCell   *lc;
		bool		seen = false;

		foreach(lc, *names)
			if (strcmp(lfirst(lc), f->leaves[l].name) == 0)
				seen = true;
		if (seen)
			continue;
		*names = lappend(*names, f->leaves[l].name);
		*types = lappend(*types, f->leaves[l].nested ? "jsonb" :
						 leaf_sql_type(f, &f->leaves[l]));
	}
}

/*------------------------------------------------------------------------
 * Writing
 *------------------------------------------------------------------------
 */
typedef struct WCol
{
	char	   *name;
	int			att;
	Oid			type;
	int			ptype;
	int			converted;		/* -1: none */
	int			logical;		/* 0: none */
	bool		utc;
	int			precision;		/* DECIMAL */
	int			scale;
	Datum		pow10;			/* DECIMAL: 10^scale, a numeric */
	FmgrInfo	out;			/* strings */
	StringInfoData vals;		/* PLAIN, the non-NULL ones */
	uint8	   *defs;
	int64		nvals;
	int64		alloc;
} WCol;

struct PqWriter
{
	int			ncols;
	WCol	   *cols;
	int64		nrows;
	int			codec;
	MemoryContext cxt;
};

int
pq_parse_compression(const char *v)
{
	if (strcmp(v, "uncompressed") == 0 || strcmp(v, "none") == 0)
		return CODEC_UNCOMPRESSED;
	if (strcmp(v, "snappy") == 0)
		return CODEC_SNAPPY;
	if (strcmp(v, "zstd") == 0)
		return CODEC_ZSTD;
	ereport(ERROR,
			(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
			 errmsg("invalid value for option \"compression\": \"%s\"", v),
			 errhint("Valid values are uncompressed, snappy (the default) and zstd.")));
	return CODEC_UNCOMPRESSED;
}

PqWriter *
pq_writer_begin(TupleDesc desc, const bool *data, int codec)
{
	PqWriter   *w = palloc0(sizeof(PqWriter));

	w->codec = codec;
	w->cxt = CurrentMemoryContext;
	w->cols = palloc0(sizeof(WCol) * Max(desc->natts, 1));
	for (int a = 0; a < desc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, a);
		WCol	   *c;

		if (!data[a] || att->attisdropped)
			continue;
		c = &w->cols[w->ncols++];
		c->name = pstrdup(NameStr(att->attname));
		c->att = a;
		c->type = att->atttypid;
		c->converted = -1;
		switch (c->type)
		{
			case BOOLOID:
				c->ptype = PT_BOOLEAN;
				break;
			case INT2OID:
				c->ptype = PT_INT32;
				c->converted = CT_INT_16;
				c->logical = LT_INTEGER;
				break;
			case INT4OID:
				c->ptype = PT_INT32;
				break;
			case INT8OID:
				c->ptype = PT_INT64;
				break;
			case FLOAT4OID:
				c->ptype = PT_FLOAT;
				break;
			case FLOAT8OID:
				c->ptype = PT_DOUBLE;
				break;
			case DATEOID:
				c->ptype = PT_INT32;
				c->converted = CT_DATE;
				c->logical = LT_DATE;
				break;
			case TIMESTAMPOID:
				c->ptype = PT_INT64;
				c->logical = LT_TIMESTAMP;
				break;
			case TIMESTAMPTZOID:
				c->ptype = PT_INT64;
				c->converted = CT_TIMESTAMP_MICROS;
				c->logical = LT_TIMESTAMP;
				c->utc = true;
				break;
			case BYTEAOID:
				c->ptype = PT_BYTE_ARRAY;
				break;
			case NUMERICOID:
				/* numeric(p,s) with p <= 18: DECIMAL on INT64; else as text */
				if (att->atttypmod >= (int32) VARHDRSZ &&
					((att->atttypmod - VARHDRSZ) >> 16) <= 18 &&
					((att->atttypmod - VARHDRSZ) & 0xffff) <= ((att->atttypmod - VARHDRSZ) >> 16))
				{
					c->ptype = PT_INT64;
					c->converted = CT_DECIMAL;
					c->logical = LT_DECIMAL;
					c->precision = (att->atttypmod - VARHDRSZ) >> 16;
					c->scale = (att->atttypmod - VARHDRSZ) & 0xffff;
					c->pow10 = DirectFunctionCall3(numeric_in,
												   CStringGetDatum(psprintf("1e%d", c->scale)),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
					break;
				}
				/* FALLTHROUGH */
			default:
				{
					Oid			func;
					bool		varlena;

					/* as its text */
					c->ptype = PT_BYTE_ARRAY;
					c->converted = CT_UTF8;
					c->logical = LT_STRING;
					getTypeOutputInfo(c->type, &func, &varlena);
					fmgr_info(func, &c->out);
				}
		}
		initStringInfo(&c->vals);
	}
	return w;
}

static void
put_u32(StringInfo b, uint32 v)
{
	uint8		x[4] = {v, v >> 8, v >> 16, v >> 24};

	appendBinaryStringInfo(b, (char *) x, 4);
}

void
pq_writer_add(PqWriter *w, TupleTableSlot *slot)
{
	MemoryContext old = MemoryContextSwitchTo(w->cxt);

	for (int i = 0; i < w->ncols; i++)
	{
		WCol	   *c = &w->cols[i];
		bool		null = slot->tts_isnull[c->att];
		Datum		v = slot->tts_values[c->att];

		if (w->nrows >= c->alloc)
		{
			c->alloc = Max(1024, c->alloc * 2);
			c->defs = c->defs ? repalloc_huge(c->defs, c->alloc) :
				palloc_extended(c->alloc, MCXT_ALLOC_HUGE);
		}
		c->defs[w->nrows] = !null;
		if (null)
			continue;
		switch (c->type)
		{
			case BOOLOID:
				/* bit-packed when the page is made */
				appendStringInfoChar(&c->vals, DatumGetBool(v) ? 1 : 0);
				break;
			case INT2OID:
				put_u32(&c->vals, (uint32) (int32) DatumGetInt16(v));
				break;
			case INT4OID:
				put_u32(&c->vals, (uint32) DatumGetInt32(v));
				break;
			case DATEOID:
				{
					DateADT		d = DatumGetDateADT(v);

					if (DATE_NOT_FINITE(d))
						ereport(ERROR,
								(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
								 errmsg("an infinite date cannot be written to Parquet")));
					put_u32(&c->vals, (uint32) (d + (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE)));
					break;
				}
			case INT8OID:
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
				{
					int64		x = DatumGetInt64(v);

					if (c->type != INT8OID)
					{
						if (TIMESTAMP_NOT_FINITE(x))
							ereport(ERROR,
									(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
									 errmsg("an infinite timestamp cannot be written to Parquet")));
						if (pg_add_s64_overflow(x, (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY, &x))
							ereport(ERROR,
									(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
									 errmsg("a timestamp after 294247 AD cannot be written to Parquet")));
					}
					appendBinaryStringInfo(&c->vals, (char *) &x, 8);
					break;
				}
			case FLOAT4OID:
				{
					float4		x = DatumGetFloat4(v);

					appendBinaryStringInfo(&c->vals, (char *) &x, 4);
					break;
				}
			case FLOAT8OID:
				{
					float8		x = DatumGetFloat8(v);

					appendBinaryStringInfo(&c->vals, (char *) &x, 8);
					break;
				}
			case NUMERICOID:
				if (c->ptype == PT_INT64)
				{
					/* the unscaled value: exact, the column's scale is s */
					int64		x;

					if (numeric_is_nan(DatumGetNumeric(v)) || numeric_is_inf(DatumGetNumeric(v)))
						ereport(ERROR,
								(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
								 errmsg("NaN and infinity cannot be written to a Parquet DECIMAL")));
					x = DatumGetInt64(DirectFunctionCall1(numeric_int8,
														  DirectFunctionCall2(numeric_mul, v, c->pow10)));
					appendBinaryStringInfo(&c->vals, (char *) &x, 8);
					break;
				}
				/* FALLTHROUGH */
			case BYTEAOID:
				if (c->type == BYTEAOID)
				{
					bytea	   *b = DatumGetByteaPP(v);

					put_u32(&c->vals, VARSIZE_ANY_EXHDR(b));
					appendBinaryStringInfo(&c->vals, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
					break;
				}
				/* FALLTHROUGH */
			default:
				{
					char	   *s = OutputFunctionCall(&c->out, v);
					size_t		len = strlen(s);

					put_u32(&c->vals, (uint32) len);
					appendBinaryStringInfo(&c->vals, s, len);
					pfree(s);
				}
		}
		c->nvals++;
	}
	w->nrows++;
	MemoryContextSwitchTo(old);
}

static void
put_uleb(StringInfo b, uint64 v)
{
	while (v >= 0x80)
	{
		appendStringInfoChar(b, (char) ((v & 0x7f) | 0x80));
		v >>= 7;
	}
	appendStringInfoChar(b, (char) v);
}

/* the page's body: definition levels as RLE runs (bit width 1), values */
static void
page_body(PqWriter *w, WCol *c, StringInfo body)
{
	StringInfoData lv;

	initStringInfo(&lv);
	for (int64 i = 0; i < w->nrows;)
	{
		int64		j = i;

		while (j < w->nrows && c->defs[j] == c->defs[i])
			j++;
		put_uleb(&lv, (uint64) (j - i) << 1);
		appendStringInfoChar(&lv, (char) c->defs[i]);
		i = j;
	}
	put_u32(body, lv.len);
	appendBinaryStringInfo(body, lv.data, lv.len);
	if (c->ptype == PT_BOOLEAN)
	{
		uint8		byte = 0;

		for (int64 i = 0; i < c->nvals; i++)
		{
			byte |= (uint8) (c->vals.data[i] << (i & 7));
			if ((i & 7) == 7 || i == c->nvals - 1)
			{
				appendStringInfoChar(body, (char) byte);
				byte = 0;
			}
		}
	}
	else
		appendBinaryStringInfo(body, c->vals.data, c->vals.len);
	pfree(lv.data);
}

static void
compress_page(PqWriter *w, StringInfo body, StringInfo out)
{
	if (w->codec == CODEC_SNAPPY)
	{
		size_t		n = snappy_max_compressed_length(body->len);

		enlargeStringInfo(out, n);
		if (snappy_compress(body->data, body->len, out->data + out->len, &n) != SNAPPY_OK)
			elog(ERROR, "snappy could not compress a page");
		out->len += n;
	}
	else if (w->codec == CODEC_ZSTD)
	{
		size_t		n = ZSTD_compressBound(body->len);

		enlargeStringInfo(out, n);
		n = ZSTD_compress(out->data + out->len, n, body->data, body->len, 3);
		if (ZSTD_isError(n))
			elog(ERROR, "zstd could not compress a page: %s", ZSTD_getErrorName(n));
		out->len += n;
	}
	else
		appendBinaryStringInfo(out, body->data, body->len);
	out->data[out->len] = '\0';
}

/* the whole file into out */
void
pq_writer_finish(PqWriter *w, StringInfo out)
{
	int64	   *offsets = palloc(sizeof(int64) * Max(w->ncols, 1));
	int64	   *usizes = palloc(sizeof(int64) * Max(w->ncols, 1));
	int64	   *csizes = palloc(sizeof(int64) * Max(w->ncols, 1));
	int64		total = 0;
	ThOut		o = {out, 0, {0}};
	int64		footer_at;

	appendStringInfoString(out, PQ_MAGIC);
	for (int i = 0; i < w->ncols; i++)
	{
		WCol	   *c = &w->cols[i];
		StringInfoData body,
					comp,
					hdr;
		ThOut		h;

		initStringInfo(&body);
		initStringInfo(&comp);
		initStringInfo(&hdr);
		page_body(w, c, &body);
		compress_page(w, &body, &comp);
		if (body.len > PG_INT32_MAX || comp.len > PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("a Parquet column of more than 2 GB cannot be written")));
		h = (ThOut) {&hdr, 0, {0}};
		th_put_int(&h, 1, TH_I32, PAGE_DATA);
		th_put_int(&h, 2, TH_I32, body.len);
		th_put_int(&h, 3, TH_I32, comp.len);
		th_put_begin(&h, 5);
		th_put_int(&h, 1, TH_I32, w->nrows);
		th_put_int(&h, 2, TH_I32, ENC_PLAIN);
		th_put_int(&h, 3, TH_I32, ENC_RLE);
		th_put_int(&h, 4, TH_I32, ENC_RLE);
		th_put_end(&h);
		appendStringInfoChar(&hdr, 0);	/* PqPageHeader's stop */
		offsets[i] = out->len;
		appendBinaryStringInfo(out, hdr.data, hdr.len);
		appendBinaryStringInfo(out, comp.data, comp.len);
		usizes[i] = hdr.len + body.len;
		csizes[i] = hdr.len + comp.len;
		total += usizes[i];
		pfree(body.data);
		pfree(comp.data);
		pfree(hdr.data);
	}

	/* FileMetaData */
	footer_at = out->len;
	th_put_int(&o, 1, TH_I32, 1);
	th_put_list(&o, 2, TH_STRUCT, w->ncols + 1);
	th_put_elem_begin(&o);
	th_put_binary(&o, 4, "schema", 6);
	th_put_int(&o, 5, TH_I32, w->ncols);
	th_put_end(&o);
	for (int i = 0; i < w->ncols; i++)
	{
		WCol	   *c = &w->cols[i];

		th_put_elem_begin(&o);
		th_put_int(&o, 1, TH_I32, c->ptype);
		th_put_int(&o, 3, TH_I32, 1);	/* OPTIONAL */
		th_put_binary(&o, 4, c->name, strlen(c->name));
		if (c->converted >= 0)
			th_put_int(&o, 6, TH_I32, c->converted);
		if (c->converted == CT_DECIMAL)
		{
			th_put_int(&o, 7, TH_I32, c->scale);
			th_put_int(&o, 8, TH_I32, c->precision);
		}
		if (c->logical)
		{
			th_put_begin(&o, 10);
			th_put_begin(&o, c->logical);
			if (c->logical == LT_TIMESTAMP)
			{
				th_put_bool(&o, 1, c->utc);
				th_put_begin(&o, 2);
				th_put_begin(&o, 2);	/* MICROS */
				th_put_end(&o);
				th_put_end(&o);
			}
			else if (c->logical == LT_DECIMAL)
			{
				th_put_int(&o, 1, TH_I32, c->scale);
				th_put_int(&o, 2, TH_I32, c->precision);
			}
			else if (c->logical == LT_INTEGER)
			{
				th_put_i8(&o, 1, 16);
				th_put_bool(&o, 2, true);
			}
			th_put_end(&o);
			th_put_end(&o);
		}
		th_put_end(&o);
	}
	th_put_int(&o, 3, TH_I64, w->nrows);
	th_put_list(&o, 4, TH_STRUCT, 1);
	th_put_elem_begin(&o);
	th_put_list(&o, 1, TH_STRUCT, w->ncols);
	for (int i = 0; i < w->ncols; i++)
	{
		WCol	   *c = &w->cols[i];

		th_put_elem_begin(&o);
		th_put_int(&o, 2, TH_I64, offsets[i]);
		th_put_begin(&o, 3);
		th_put_int(&o, 1, TH_I32, c->ptype);
		th_put_list(&o, 2, TH_I32, 2);
		th_put_elem_int(&o, ENC_PLAIN);
		th_put_elem_int(&o, ENC_RLE);
		th_put_list(&o, 3, TH_BINARY, 1);
		th_put_elem_binary(&o, c->name, strlen(c->name));
		th_put_int(&o, 4, TH_I32, w->codec);
		th_put_int(&o, 5, TH_I64, w->nrows);
		th_put_int(&o, 6, TH_I64, usizes[i]);
		th_put_int(&o, 7, TH_I64, csizes[i]);
		th_put_int(&o, 9, TH_I64, offsets[i]);
		th_put_end(&o);
		th_put_end(&o);
	}
	th_put_int(&o, 2, TH_I64, total);
	th_put_int(&o, 3, TH_I64, w->nrows);
	th_put_end(&o);
	th_put_binary(&o, 6, "pg_stream", 9);
	appendStringInfoChar(out, 0);	/* FileMetaData's stop */
	put_u32(out, (uint32) (out->len - footer_at));
	appendStringInfoString(out, PQ_MAGIC);
}
