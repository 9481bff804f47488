/*-------------------------------------------------------------------------
 *
 * thrift.c
 *	  Thrift's compact protocol, as Parquet's footer and page headers use
 *	  it: reading with every length checked, and writing.
 *
 * A struct is a run of fields, each a header byte (the field id's delta
 * from the previous id in the high nibble, or 0 and the id as a zigzag
 * varint; the type in the low nibble) and a value, ended by a 0 byte.
 * Integers are zigzag varints; binary is a varint length and its bytes; a
 * list is a header byte (size in the high nibble, 15 and a varint size
 * past 14; the element type in the low one) and its elements; a bool
 * field's value is its type (1 true, 2 false). The reader is given a
 * bounded buffer, usually from a hostile file: every length and count is
 * checked against what is left before it is used, a count is at most the
 * bytes left (each element takes one byte at least), and nesting is
 * bounded, so a bad footer is an error (ERRCODE_DATA_CORRUPTED, with the
 * file's name), never a read out of bounds or an endless loop.
 *
 *-------------------------------------------------------------------------
 */
#include "base/base.h"
#include "formats/thrift.h"

#define TH_MAX_DEPTH 64

void
th_corrupt(ThIn *in, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("corrupt Parquet file \"%s\": %s", in->name, what)));
}

uint8
th_byte(ThIn *in)
{
	if (in->p >= in->end)
		th_corrupt(in, "metadata ends early");
	return *in->p++;
}

uint64
th_varint(ThIn *in)
{
	uint64		v = 0;

	for (int shift = 0; shift < 64; shift += 7)
	{
		uint8		b = th_byte(in);

		v |= (uint64) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return v;
	}
	th_corrupt(in, "a varint is too long");
	return 0;
}

int64
th_zigzag(ThIn *in)
{
	uint64		v = th_varint(in);

	return (int64) (v >> 1) ^ -(int64) (v & 1);
}

int32
th_i32(ThIn *in)
{
	int64		v = th_zigzag(in);

	if (v < PG_INT32_MIN || v > PG_INT32_MAX)
		th_corrupt(in, "a 32-bit integer is out of range");
	return (int32) v;
}

void
th_binary(ThIn *in, const uint8 **p, int32 *len)
{
	uint64		n = th_varint(in);

	if (n > (uint64) (in->end - in->p))
		th_corrupt(in, "a string is longer than the metadata");
	*p = in->p;
	*len = (int32) n;
	in->p += n;
}

char *
th_string(ThIn *in)
{
	const uint8 *p;
	int32		len;

	th_binary(in, &p, &len);
	return pnstrdup((const char *) p, len);
}

bool
th_field(ThIn *in, int16 *last, int16 *id, int *type)
{
	uint8		b = th_byte(in);
	int			delta;

	if (b == 0)
		return false;
	delta = b >> 4;
	*type = b & 0x0f;
	if (delta != 0)
		*id = *last + delta;
	else
	{
		int64		v = th_zigzag(in);

		if (v < PG_INT16_MIN || v > PG_INT16_MAX)
			th_corrupt(in, "a field id is out of range");
		*id = (int16) v;
	}
	*last = *id;
	return true;
}

int
th_list(ThIn *in, int *etype)
{
	uint8		b = th_byte(in);
	uint64		n = b >> 4;

	*etype = b & 0x0f;
	if (n == 15)
		n = th_varint(in);
	/* every element takes a byte at least */
	if (n > (uint64) (in->end - in->p))
		th_corrupt(in, "a list is longer than the metadata");
	return (int) n;
}

static void
th_skip_depth(ThIn *in, int type, int depth)
{
	if (depth > TH_MAX_DEPTH)
		th_corrupt(in, "metadata nested too deep");
	switch (type)
	{
		case TH_TRUE:
		case TH_FALSE:
			break;
		case TH_BYTE:
			(void) th_byte(in);
			break;
		case TH_I16:
		case TH_I32:
		case TH_I64:
			(void) th_varint(in);
			break;
		case TH_DOUBLE:
			if (in->end - in->p < 8)
				th_corrupt(in, "metadata ends early");
			in->p += 8;
			break;
		case TH_BINARY:
			{
				const uint8 *p;
				int32		len;

				th_binary(in, &p, &len);
				break;
			}
		case TH_LIST:
		case TH_SET:
			{
				int			etype;
				int			n = th_list(in, &etype);

				for (int i = 0; i < n; i++)
				{
					/* a bool element is a byte */
					if (etype == TH_TRUE || etype == TH_FALSE)
						(void) th_byte(in);
					else
						th_skip_depth(in, etype, depth + 1);
				}
				break;
			}
		case TH_MAP:
			{
				uint64		n = th_varint(in);
				uint8		kv;

				if (n == 0)
					break;
				if (n > (uint64) (in->end - in->p))
					th_corrupt(in, "a map is longer than the metadata");
				kv = th_byte(in);
				for (uint64 i = 0; i < n; i++)
				{
					th_skip_depth(in, kv >> 4, depth + 1);
					th_skip_depth(in, kv & 0x0f, depth + 1);
				}
				break;
			}
		case TH_STRUCT:
			{
				int16		last = 0;
				int16		id;
				int			ftype;

				while (th_field(in, &last, &id, &ftype))
					th_skip_depth(in, ftype, depth + 1);
				break;
			}
		default:
			th_corrupt(in, "metadata has a value of an unknown type");
	}
}

void
th_skip(ThIn *in, int type)
{
	th_skip_depth(in, type, 0);
}

/*------------------------------------------------------------------------
 * Writing
 *------------------------------------------------------------------------
 */
static void
th_put_varint(StringInfo b, uint64 v)
{
	while (v >= 0x80)
	{
		appendStringInfoChar(b, (char) ((v & 0x7f) | 0x80));
		v >>= 7;
	}
	appendStringInfoChar(b, (char) v);
}

static void
th_put_header(ThOut *o, int16 id, int type)
{
	int16	   *last = &o->last[o->depth];
	int			delta = id - *last;

	if (delta > 0 && delta <= 15)
		appendStringInfoChar(o->buf, (char) ((delta << 4) | type));
	else
	{
		appendStringInfoChar(o->buf, (char) type);
		th_put_varint(o->buf, ((uint64) (int64) id << 1) ^ (uint64) ((int64) id >> 63));
	}
	*last = id;
}

void
th_put_begin(ThOut *o, int16 id)
{
	if (id != 0)
		th_put_header(o, id, TH_STRUCT);
	if (++o->depth >= TH_OUT_DEPTH)
		elog(ERROR, "Thrift struct nested too deep");
	o->last[o->depth] = 0;
}

void
th_put_end(ThOut *o)
{
	appendStringInfoChar(o->buf, 0);
	o->depth--;
}

void
th_put_int(ThOut *o, int16 id, int type, int64 v)
{
	th_put_header(o, id, type);
	th_put_varint(o->buf, ((uint64) v << 1) ^ (uint64) (v >> 63));
}

void
th_put_i8(ThOut *o, int16 id, int8 v)
{
	th_put_header(o, id, TH_BYTE);
	appendStringInfoChar(o->buf, (char) v);
}

void
th_put_bool(ThOut *o, int16 id, bool v)
{
	th_put_header(o, id, v ? TH_TRUE : TH_FALSE);
}

void
th_put_binary(ThOut *o, int16 id, const char *p, int len)
{
	th_put_header(o, id, TH_BINARY);
	th_put_varint(o->buf, len);
	appendBinaryStringInfo(o->buf, p, len);
}

void
th_put_list(ThOut *o, int16 id, int etype, int n)
{
	th_put_header(o, id, TH_LIST);
	if (n < 15)
		appendStringInfoChar(o->buf, (char) ((n << 4) | etype));
	else
	{
		appendStringInfoChar(o->buf, (char) (0xf0 | etype));
		th_put_varint(o->buf, n);
	}
}

/* an element of a list of i32 (or i64) */
void
th_put_elem_int(ThOut *o, int64 v)
{
	th_put_varint(o->buf, ((uint64) v << 1) ^ (uint64) (v >> 63));
}

void
th_put_elem_binary(ThOut *o, const char *p, int len)
{
	th_put_varint(o->buf, len);
	appendBinaryStringInfo(o->buf, p, len);
}

/* a struct as a list element: fields from id 0 */
void
th_put_elem_begin(ThOut *o)
{
	th_put_begin(o, 0);
}
