/*-------------------------------------------------------------------------
 *
 * avro.h
 *	  Avro binary records to rows and back (formats/avro.c), through libavro.
 *
 * Like the other formats it knows nothing of Kafka or of a schema
 * registry: it is given a table's columns, an optional reader schema (JSON
 * text), and for each record the writer's schema and the bytes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGS_FORMATS_AVRO_H
#define PGS_FORMATS_AVRO_H

#include "formats/formats.h"

#define PGS_AVRO_SCHEMA_MAX (1024 * 1024)	/* a longer schema is refused */

/* a parsed writer's schema (libavro's, and its JSON), long-lived */
typedef struct PgsAvroSchema PgsAvroSchema;

/* a table's side of Avro: its columns, its reader schema, writers seen */
typedef struct PgsAvroTable PgsAvroTable;

extern PgsAvroSchema *pgs_avro_schema_parse(const char *json, char **error);
extern void pgs_avro_schema_free(PgsAvroSchema *s);
extern void pgs_avro_check_schema(const char *json, const char *what);
extern char *pgs_avro_columns_schema(TupleDesc desc, bool *data, const char *name);

extern PgsAvroTable *pgs_avro_table(TupleDesc desc, bool *data, const char *reader_json,
									const char *name, const char *what);
extern void pgs_avro_table_free(PgsAvroTable *t);
extern const char *pgs_avro_table_schema(PgsAvroTable *t);
extern PgsAvroSchema *pgs_avro_table_own(PgsAvroTable *t);
extern void pgs_avro_decode(PgsAvroTable *t, PgsAvroSchema *writer, const char *buf,
							size_t len, Datum *values, bool *nulls);
extern void pgs_avro_encode(PgsAvroTable *t, TupleTableSlot *slot, StringInfo out);

#endif							/* PGS_FORMATS_AVRO_H */
