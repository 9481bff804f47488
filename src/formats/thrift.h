/*-------------------------------------------------------------------------
 *
 * thrift.h
 *	  Thrift's compact protocol (formats/thrift.c), for formats/parquet.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_THRIFT_H
#define PGS_THRIFT_H

#include "base/base.h"
#include "lib/stringinfo.h"

/* the compact protocol's types */
#define TH_STOP 0
#define TH_TRUE 1
#define TH_FALSE 2
#define TH_BYTE 3
#define TH_I16 4
#define TH_I32 5
#define TH_I64 6
#define TH_DOUBLE 7
#define TH_BINARY 8
#define TH_LIST 9
#define TH_SET 10
#define TH_MAP 11
#define TH_STRUCT 12

typedef struct ThIn
{
	const uint8 *p;
	const uint8 *end;
	const char *name;			/* the file, for errors */
} ThIn;

extern void th_corrupt(ThIn *in, const char *what) pg_attribute_noreturn();
extern uint8 th_byte(ThIn *in);
extern uint64 th_varint(ThIn *in);
extern int64 th_zigzag(ThIn *in);
extern int32 th_i32(ThIn *in);
extern void th_binary(ThIn *in, const uint8 **p, int32 *len);
extern char *th_string(ThIn *in);
extern bool th_field(ThIn *in, int16 *last, int16 *id, int *type);
extern int	th_list(ThIn *in, int *etype);
extern void th_skip(ThIn *in, int type);

#define TH_OUT_DEPTH 16
typedef struct ThOut
{
	StringInfo	buf;
	int			depth;
	int16		last[TH_OUT_DEPTH];
} ThOut;

extern void th_put_begin(ThOut *o, int16 id);
extern void th_put_end(ThOut *o);
extern void th_put_int(ThOut *o, int16 id, int type, int64 v);
extern void th_put_i8(ThOut *o, int16 id, int8 v);
extern void th_put_bool(ThOut *o, int16 id, bool v);
extern void th_put_binary(ThOut *o, int16 id, const char *p, int len);
extern void th_put_list(ThOut *o, int16 id, int etype, int n);
extern void th_put_elem_int(ThOut *o, int64 v);
extern void th_put_elem_binary(ThOut *o, const char *p, int len);
extern void th_put_elem_begin(ThOut *o);

#endif							/* PGS_THRIFT_H */
