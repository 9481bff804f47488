-- Parquet file tables (format 'parquet'): the options, our writer read back
-- by our reader (DuckDB, an independent implementation, writes and reads
-- the files of test/scripts/parquet.sh), files that are not Parquet.
CREATE FOREIGN TABLE pq_bad (a int) SERVER file
	OPTIONS (path '/tmp/pgs_regress_parquet', format 'parquet', compression 'lz4');
CREATE FOREIGN TABLE pq_bad (a int) SERVER file OPTIONS (path '/tmp/x', format 'orc');
COPY (SELECT 1) TO PROGRAM 'rm -rf /tmp/pgs_regress_parquet && mkdir -p /tmp/pgs_regress_parquet/w /tmp/pgs_regress_parquet/e';

-- every type the writer knows, NULLs, and a type written as its text
CREATE TABLE pq_src (b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, d date,
	ts timestamp, tz timestamptz, by bytea, t text, n numeric, j jsonb, iv interval, nd numeric(18,3));
INSERT INTO pq_src SELECT i % 3 = 0, (i * 7 - 500)::int2, i * 1000003, i::int8 * -123456789012,
	i / 7.0, i / 3.0, date '1969-12-25' + i, timestamp '1999-12-31 23:59:59.999999' + i * interval '1 hour 1 microsecond',
	timestamptz '2020-01-01 00:00:00+00' - i * interval '1 day', decode(md5(i::text), 'hex'),
	repeat('é', i % 5) || i, i * 1.5 - 0.25, jsonb_build_object('i', i), i * interval '1 minute',
	(i - 100) * 1.0625
	FROM generate_series(1, 200) i;
INSERT INTO pq_src VALUES (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(true, 32767, -2147483648, 9223372036854775807, 'NaN', '-Infinity', '4713-01-01 BC', '200000-12-31 23:59:59.999999',
	 '4713-01-01 00:00:00+00 BC', '', '', 'NaN', '[]', '-1 year', '-999999999999999.999');
CREATE FOREIGN TABLE pq_w (b bool, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, d date,
	ts timestamp, tz timestamptz, by bytea, t text, n numeric, j jsonb, iv interval, nd numeric(18,3))
	SERVER file OPTIONS (path '/tmp/pgs_regress_parquet/w', format 'parquet');
INSERT INTO pq_w SELECT * FROM pq_src;
ALTER FOREIGN TABLE pq_w OPTIONS (ADD compression 'zstd');
INSERT INTO pq_w SELECT * FROM pq_src WHERE i4 % 2 = 0;
ALTER FOREIGN TABLE pq_w OPTIONS (SET compression 'uncompressed');
INSERT INTO pq_w SELECT * FROM pq_src WHERE i4 % 2 = 1;
-- three files, read back equal: every row of the first, and the other two again
SELECT count(*) FROM pq_w;
SELECT count(*) AS differences FROM
	((SELECT * FROM pq_src UNION ALL SELECT * FROM pq_src WHERE i4 IS NOT NULL
	  EXCEPT ALL SELECT * FROM pq_w)
	 UNION ALL (SELECT * FROM pq_w EXCEPT ALL
	  (SELECT * FROM pq_src UNION ALL SELECT * FROM pq_src WHERE i4 IS NOT NULL))) d;
-- an infinite timestamp has no Parquet value, nor one past 294247 (int64
-- microseconds since 1970)
INSERT INTO pq_w (ts) VALUES ('infinity');
INSERT INTO pq_w (tz) VALUES ('294276-12-31 23:59:59.999999+00');
INSERT INTO pq_w (nd) VALUES ('NaN');
-- columns by name, in any order; one the files lack is NULL; another type through text
CREATE FOREIGN TABLE pq_r (t text, missing int, i4 text, i8 numeric, d text,
	file text OPTIONS (meta 'filename'), line int OPTIONS (meta 'line'))
	SERVER file OPTIONS (path '/tmp/pgs_regress_parquet/w', format 'parquet');
SELECT t, missing, i4, i8, d, file LIKE 'part-%.parquet' AS named, line FROM pq_r ORDER BY file, line LIMIT 3;
IMPORT FOREIGN SCHEMA "/tmp/pgs_regress_parquet/w" LIMIT TO (pq_imported) FROM SERVER file
	INTO public OPTIONS (format 'parquet');
SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
	WHERE attrelid = 'pq_imported'::regclass AND attnum > 0 ORDER BY attnum;

-- a file that is not Parquet: a plain SELECT warns and skips it; a view's
-- dead letter names it; on_error 'stop' fails
COPY (SELECT 'not parquet') TO '/tmp/pgs_regress_parquet/e/x.parquet';
CREATE FOREIGN TABLE pq_e (a int) SERVER file OPTIONS (path '/tmp/pgs_regress_parquet/e', format 'parquet');
SELECT count(*) FROM pq_e;
CREATE MATERIALIZED VIEW pq_ev WITH (trigger = 'manual') AS SELECT count(*) AS n FROM pq_e;
REFRESH MATERIALIZED VIEW pq_ev;
SELECT n FROM pq_ev;
SELECT position, payload, regexp_replace(error, '"[^"]*"', '"..."') AS error FROM stream.errors
	WHERE view = 'pq_ev'::regclass;
ALTER FOREIGN TABLE pq_e OPTIONS (ADD on_error 'stop');
SELECT count(*) FROM pq_e;

DROP MATERIALIZED VIEW pq_ev;
DROP FOREIGN TABLE pq_w, pq_r, pq_imported, pq_e;
DROP TABLE pq_src;
COPY (SELECT 1) TO PROGRAM 'rm -rf /tmp/pgs_regress_parquet';
