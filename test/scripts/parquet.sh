#!/usr/bin/env bash
# Parquet files (format 'parquet'), end to end, against DuckDB, an
# independent implementation (test/parquet/duck.mjs; npm ci installs it):
# - DuckDB writes 16 files (codecs uncompressed, snappy, gzip, zstd; data
#   pages v1 and v2, which use the delta and byte-stream-split encodings;
#   dictionary on and off), each of two row groups (DuckDB's smallest is 2048 rows), with integers of
#   every width, float, double, boolean, strings, decimals (int32, int64,
#   fixed), date, time, timestamps (ms, us, ns; UTC-adjusted or not),
#   uuid, blob, and NULLs; a per-key aggregation and an append view read
#   them with max_batch_rows smaller than a row group (so every batch ends
#   inside a file) while a worker is killed (kill -9), once or twice: both equal
#   the same rows written out by DuckDB (CSV) exactly, EXCEPT ALL both ways;
# - a truncated file and a file with a corrupt page are dead letters that
#   name their file and row group; the views go on; 300 random byte
#   mutations of a file never crash the server (each read ends in rows or
#   an error);
# - a view whose sink is a parquet file table: DuckDB reads the sink's
#   files back equal to the view;
# - IMPORT FOREIGN SCHEMA gives the columns and types of the files;
# - nested fields (lists, structs, maps, and lists of them) as jsonb,
#   equal to DuckDB's to_json of them.
source "$(dirname "$0")/../lib.sh"
data=$(mktemp -d /tmp/pg_stream_parquet.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$data"' EXIT
npm ci --prefix "$PGS_ROOT/test/parquet" --no-audit --no-fund --loglevel=error >/dev/null
duck() { node "$PGS_ROOT/test/parquet/duck.mjs" "$@"; }
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
mkdir -p "$data/stage" "$data/in" "$data/bad" "$data/fuzz" "$data/out" "$data/imp"
chown -R "$PGS_USER" "$data"

# the rows of file number $1 (3000 rows from $1 * 3000)
rows() {
	local b=$(($1 * 3000))
	echo "SELECT (i + $b)::int AS id, 'key' || ((i * 7) % 23) AS k, i * 1.25 + $1 AS d,
		CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 3 = 0) END AS b,
		CASE WHEN i % 4 = 0 THEN NULL ELSE (i - 1500)::bigint * 1000003 END AS n,
		(i % 100 - 50)::tinyint AS i8, (i * 13 - 20000)::smallint AS i16, (i % 200)::utinyint AS u8,
		(i * 1000000)::uinteger AS u32, (i::ubigint * 4000000000000) AS u64,
		(i / 7.0)::float AS f4, CASE WHEN i % 5 = 0 THEN NULL ELSE i / 3.0 END AS f8,
		CASE WHEN i % 9 = 0 THEN NULL ELSE 'text ' || md5((i + $b)::varchar) || ' é' END AS s,
		((i - 1000) / 8.0)::decimal(4,1) AS dec4, ((i - 1500) / 7.0)::decimal(15,3) AS dec15,
		((i + $b)::hugeint * 1000000000000000 + 17)::decimal(36,2) AS dec36,
		date '1999-12-25' + (i * 13)::int AS dt, time '00:00:00' + i * interval '27 second' AS tm,
		timestamp '1969-12-31 23:00:00' + i * interval '1 minute 1.000001 second' AS ts,
		(timestamp '2024-02-28 12:00:00' + i * interval '1 hour')::timestamp_ms AS tms,
		(timestamp '2024-02-28 12:00:00.123456' + i * interval '1 second')::timestamp_ns AS tns,
		timestamptz '2020-06-01 00:00:00+00' + i * interval '17 minute' AS tz,
		CASE WHEN i % 6 = 0 THEN NULL ELSE uuid() END AS u,
		('\\x' || lpad(to_hex(i), 4, '0'))::blob AS bl
	FROM range(3000) t(i)"
}
echo "[$SECONDS s] DuckDB writes 16 files: 4 codecs x data pages v1/v2 x dictionary on/off, row groups of 2048"
nfile=0
for codec in uncompressed snappy gzip zstd; do
	for v in V1 V2; do
		for dict in on off; do
			opts="FORMAT parquet, COMPRESSION $codec, ROW_GROUP_SIZE 2048, PARQUET_VERSION $v"
			[ $dict = off ] && opts="$opts, DICTIONARY_SIZE_LIMIT 0"
			duck sql "COPY ($(rows $nfile)) TO '$data/stage/f$(printf %02d $nfile)-$codec-$v-$dict.parquet' ($opts)"
			nfile=$((nfile + 1))
		done
	done
done
encodings=$(duck csv "SELECT DISTINCT unnest(string_split(encodings, ', ')) FROM parquet_metadata('$data/stage/*.parquet') ORDER BY 1" "$data/enc.csv" && tr '\n' ' ' <"$data/enc.csv")
groups=$(duck csv "SELECT count(DISTINCT (file_name, row_group_id)) FROM parquet_metadata('$data/stage/*.parquet')" "$data/rg.csv" && cat "$data/rg.csv")
echo "[$SECONDS s] encodings used: $encodings; row groups: $groups"
for e in PLAIN RLE_DICTIONARY DELTA_BINARY_PACKED DELTA_LENGTH_BYTE_ARRAY BYTE_STREAM_SPLIT; do
	grep -qw <<<"$encodings" "$e"
done
[ "$groups" = 32 ]
# the reference: every row as DuckDB reads it (nanoseconds cut to micros
# by DuckDB, bytes as hex)
duck csv "SELECT parse_filename(filename) AS file, file_row_number + 1 AS line, id, k, d, b, n, i8, i16, u8, u32,
	u64, f4, f8, s, dec4, dec15, dec36, dt, tm, ts, tms, tns::timestamp, tz, u, lower(hex(bl)) FROM read_parquet('$data/stage/*.parquet', filename = true, file_row_number = true)" "$data/ref.csv"
chown "$PGS_USER" "$data/ref.csv"

cols="id int, k text, d float8, b bool, n bigint, i8 smallint, i16 smallint, u8 smallint, u32 bigint,
	u64 numeric, f4 real, f8 float8, s text, dec4 numeric, dec15 numeric, dec36 numeric, dt date,
	tm time, ts timestamp, tms timestamp, tns timestamp, tz timestamptz, u uuid, bl bytea"
pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (file text OPTIONS (meta 'filename'), line bigint OPTIONS (meta 'line'), $cols)
	SERVER file OPTIONS (path '$data/in', format 'parquet');
CREATE MATERIALIZED VIEW per_key WITH (max_batch_rows = 700) AS
	SELECT k, count(*) AS n, sum(id) AS ids, sum(n) AS ns, count(n) AS nn, sum(dec36) AS d36,
		sum(dec15) AS d15, max(tz) AS mtz, min(ts) AS mts, max(s) AS ms, sum(u64) AS su
	FROM ev GROUP BY k;
CREATE MATERIALIZED VIEW raw WITH (max_batch_rows = 1500) AS SELECT * FROM ev;
CREATE TABLE ref (file text, line bigint, ${cols/bl bytea/bl text});
COPY ref FROM '$data/ref.csv' (FORMAT csv);
SQL
# files in place with rename (whole, as a writer that finished would)
for f in "$data"/stage/*.parquet; do
	chown "$PGS_USER" "$f"
	mv "$f" "$data/in/"
done
workers_up() {
	pgs_wait_for "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pg_stream worker'" 60
}
pgs_wait_for "SELECT rows_in > 8000 FROM stream.queries WHERE name = 'raw'::regclass" 60
workers_up
pid=$(pgs_batch_pid)
[ -n "$pid" ] && kill -9 "$pid"
pgs_wait_for "SELECT rows_in > 20000 FROM stream.queries WHERE name = 'per_key'::regclass" 60
workers_up
pid=$(pgs_batch_pid)
[ -n "$pid" ] && kill -9 "$pid"
workers_up
q "REFRESH MATERIALIZED VIEW per_key" >/dev/null
q "REFRESH MATERIALIZED VIEW raw" >/dev/null
# (the second kill finds no batch running when the views have read
# everything already: on a fast or an idle machine they may have)
killed=$(grep -c 'pg_stream worker.*was terminated by signal 9' "$PGS_DIR/log" || true)
echo "[$SECONDS s] workers killed: $killed"
[ "$killed" -ge 1 ]
inside=$(q "SELECT count(*) FROM stream.batch_log WHERE view = 'raw'::regclass AND end_position->'ev' ? 'file'")
echo "[$SECONDS s] batches of raw that ended inside a file: $inside"
[ "$inside" -gt 0 ]

sel="file, line, id, k, d, b, n, i8, i16, u8, u32, u64, f4, f8, s, dec4, dec15, dec36, dt, tm, ts, tms, tns, tz, u, encode(bl, 'hex')"
diff_raw=$(q "SELECT count(*) FROM ((SELECT * FROM ref EXCEPT ALL SELECT $sel FROM raw)
	UNION ALL (SELECT $sel FROM raw EXCEPT ALL SELECT * FROM ref)) d")
diff_key=$(q "WITH r AS (SELECT k, count(*) AS n, sum(id) AS ids, sum(n) AS ns, count(n) AS nn, sum(dec36) AS d36,
		sum(dec15) AS d15, max(tz) AS mtz, min(ts) AS mts, max(s) AS ms, sum(u64) AS su FROM ref GROUP BY k)
	SELECT count(*) FROM ((SELECT * FROM r EXCEPT ALL SELECT * FROM per_key) UNION ALL (SELECT * FROM per_key EXCEPT ALL SELECT * FROM r)) d")
nraw=$(q "SELECT count(*) FROM raw")
nulls=$(q "SELECT count(*) FILTER (WHERE n IS NULL) || '/' || count(*) FILTER (WHERE s IS NULL) || '/' || count(*) FILTER (WHERE u IS NULL) FROM raw")
echo "[$SECONDS s] raw: $nraw rows (NULL n/s/u: $nulls), differences $diff_raw; per_key differences $diff_key"
[ "$nraw" = 48000 ] && [ "$diff_raw" = 0 ] && [ "$diff_key" = 0 ]
[ "$nulls" = "12000/5344/8000" ]
[ "$(q "SELECT count(*) FROM stream.errors")" = 0 ]

echo "[$SECONDS s] a truncated file and a corrupt page: dead letters naming the file and row group"
good="$data/in/f00-uncompressed-V1-on.parquet"
head -c 20000 "$good" >"$data/stage/trunc.parquet"
# the first column's first page header, its sizes: a page longer than its chunk
python3 - "$good" "$data/stage/corrupt.parquet" <<'PY'
import sys
b = bytearray(open(sys.argv[1], 'rb').read())
# page header at byte 4: field 1 (type), 2 (uncompressed size), 3 (compressed size)
b[4 + 2] = 0xfe; b[4 + 3] = 0xff; b[4 + 4] = 0x7f
open(sys.argv[2], 'wb').write(b)
PY
chown "$PGS_USER" "$data"/stage/*.parquet
mv "$data/stage/trunc.parquet" "$data/stage/corrupt.parquet" "$data/in/"
q "REFRESH MATERIALIZED VIEW raw" >/dev/null
pgs_psql -c "SELECT position, error FROM stream.errors WHERE view = 'raw'::regclass ORDER BY 1"
[ "$(q "SELECT count(*) FROM stream.errors WHERE view = 'raw'::regclass AND position->>'file' IN ('trunc.parquet', 'corrupt.parquet') AND position ? 'row_group' AND error LIKE 'corrupt Parquet file %'")" = 2 ]
[ "$(q "SELECT count(*) FROM raw")" = 48000 ]
# fuzz N SQL SRC1 SRC2: N random byte mutations (and cuts) of the two
# files, each alone in $data/fuzz while SQL reads it: rows, or a warning
# (a plain SELECT has no stream.errors), never an error or a crash
fuzz() {
	python3 - "$1" "$2" "$3" "$4" "$data/fuzz" "$data/stage" <<'PY' >"$data/fuzz.sql"
import random, sys, os
n, sql = int(sys.argv[1]), sys.argv[2]
r = random.Random(21)
srcs = [open(sys.argv[3], 'rb').read(), open(sys.argv[4], 'rb').read()]
for i in range(n):
    b = bytearray(srcs[i % 2])
    for _ in range(r.choice([1, 2, 8])):
        at = r.choice([r.randrange(len(b)), len(b) - 8 - r.randrange(min(len(b) - 8, 3000))])
        b[at] = r.randrange(256)
    if i % 10 == 9:
        b = b[:r.randrange(len(b))]
    p = os.path.join(sys.argv[6], 'm%03d.parquet' % i)
    open(p, 'wb').write(b)
    print("\\! mv %s %s/" % (p, sys.argv[5]))
    print(sql + ";")
    print("\\! rm %s/m%03d.parquet" % (sys.argv[5], i))
PY
	pgs_psql -v ON_ERROR_STOP=0 -f "$data/fuzz.sql" >"$data/fuzz.out" 2>&1 || true
	errs=$(grep -c 'ERROR' "$data/fuzz.out" || true)
	skipped=$(grep -c 'WARNING:  .*skipped the record at row group' "$data/fuzz.out" || true)
	echo "[$SECONDS s] mutations: $skipped skipped as unreadable, $errs failed"
	grep 'ERROR' "$data/fuzz.out" | head -5 || true
	[ "$(ls "$data/fuzz" | wc -l)" = 0 ]
	[ "$skipped" -gt $(($1 / 3)) ] && [ "$errs" = 0 ]
	[ "$(q "SELECT 1")" = 1 ]
	! grep -q 'terminated by signal' <(grep -v 'pg_stream worker' "$PGS_DIR/log")
	! grep -q 'server process .* was terminated' "$PGS_DIR/log"
}
echo "[$SECONDS s] 300 random mutations of files: rows or an error, never a crash"
pgs_psql -c "CREATE FOREIGN TABLE fz ($cols) SERVER file OPTIONS (path '$data/fuzz', format 'parquet')"
fuzz 300 "SELECT count(*), sum(length(s)), sum(id) FROM fz" "$data/in/f13-zstd-V1-off.parquet" "$data/in/f04-snappy-V1-on.parquet"

echo "[$SECONDS s] a parquet file sink: DuckDB reads its files back equal to the view"
pgs_psql <<SQL
CREATE FOREIGN TABLE sink_t (id int, k text, d float8, b bool, n bigint, i16 smallint, f4 real, s text,
	dec15 numeric(15,3), dt date, ts timestamp, tz timestamptz, u uuid, bl bytea)
	SERVER file OPTIONS (path '$data/out', format 'parquet', compression 'zstd');
CREATE MATERIALIZED VIEW to_sink WITH (sink = 'sink_t', max_batch_rows = 10000) AS
	SELECT id, k, d, b, n, i16, f4, s, dec15, dt, ts, tz, u, bl FROM ev;
REFRESH MATERIALIZED VIEW to_sink;
SQL
nsink=$(ls "$data/out" | grep -c '\.parquet$')
echo "[$SECONDS s] sink files: $nsink"
[ "$nsink" -ge 5 ]
duck csv "SELECT id, k, d, b, n, i16, f4, s, dec15, dt, ts, tz, u, lower(hex(bl)) FROM '$data/out/*.parquet'" "$data/back.csv"
types=$(duck csv "SELECT string_agg(column_type, ',') FROM (DESCRIBE SELECT * FROM '$data/out/*.parquet')" "$data/types.csv" && cat "$data/types.csv")
echo "[$SECONDS s] DuckDB reads the sink's types as: $types"
[ "$types" = '"INTEGER,VARCHAR,DOUBLE,BOOLEAN,BIGINT,SMALLINT,FLOAT,VARCHAR,DECIMAL(15,3),DATE,TIMESTAMP,TIMESTAMP WITH TIME ZONE,VARCHAR,BLOB"' ]
chown "$PGS_USER" "$data/back.csv"
pgs_psql <<SQL
CREATE TABLE back (id int, k text, d float8, b bool, n bigint, i16 smallint, f4 real, s text,
	dec15 numeric, dt date, ts timestamp, tz timestamptz, u uuid, bl text);
COPY back FROM '$data/back.csv' (FORMAT csv);
SQL
diff_sink=$(q "WITH v AS (SELECT id, k, d, b, n, i16, f4, s, dec15, dt, ts, tz, u, encode(bl, 'hex') FROM to_sink)
	SELECT count(*) FROM ((SELECT * FROM v EXCEPT ALL SELECT * FROM back) UNION ALL (SELECT * FROM back EXCEPT ALL SELECT * FROM v)) d")
echo "[$SECONDS s] sink: $(q "SELECT count(*) FROM back") rows read back, differences $diff_sink"
[ "$diff_sink" = 0 ] && [ "$(q "SELECT count(*) FROM back")" = 48000 ]

echo "[$SECONDS s] IMPORT FOREIGN SCHEMA takes the Parquet schema"
duck sql "COPY ($(rows 0) LIMIT 10) TO '$data/imp/a.parquet' (FORMAT parquet);
	COPY (SELECT 1 AS id, [1, 2] AS list, {'a': 1} AS st) TO '$data/imp/b.parquet' (FORMAT parquet)"
chown -R "$PGS_USER" "$data/imp"
pgs_psql -c "CREATE SCHEMA imp" -c "IMPORT FOREIGN SCHEMA \"$data/imp\" FROM SERVER file INTO imp OPTIONS (format 'parquet')" 2>&1
got=$(q "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = 'imp.imp'::regclass AND attnum > 0")
echo "[$SECONDS s] imported: $got"
[ "$got" = "id integer, k text, d numeric(23,2), b boolean, n bigint, i8 smallint, i16 smallint, u8 smallint, u32 bigint, u64 numeric, f4 real, f8 double precision, s text, dec4 numeric(4,1), dec15 numeric(15,3), dec36 numeric(36,2), dt date, tm time without time zone, ts timestamp without time zone, tms timestamp without time zone, tns timestamp without time zone, tz timestamp with time zone, u uuid, bl bytea, list jsonb, st jsonb" ]
[ "$(q "SELECT count(*) FROM imp.imp")" = 11 ]

echo "[$SECONDS s] nested fields as jsonb: lists, structs, maps, lists of structs and of lists, NULLs and empty ones"
nested="SELECT i AS id,
	CASE WHEN i % 5 = 0 THEN NULL WHEN i % 5 = 1 THEN [] ELSE [i, NULL, i * 2] END AS li,
	CASE WHEN i % 4 = 0 THEN NULL ELSE {'a': i, 'b': CASE WHEN i % 3 = 0 THEN NULL ELSE 'x' || i END, 'c': [i::double / 4]} END AS st,
	CASE WHEN i % 6 = 0 THEN NULL ELSE MAP {'k' || i: i, 'z': NULL} END AS mp,
	[{'p': i, 'q': [i, i + 1]}, NULL, {'p': NULL, 'q': []}] AS los,
	CASE WHEN i % 7 = 0 THEN NULL ELSE [[i], [], NULL, [i, i]] END AS lol,
	CASE WHEN i % 2 = 0 THEN NULL ELSE ['s' || i, NULL] END AS ls
	FROM range(3000) t(i)"
mkdir -p "$data/nest"
duck sql "COPY ($nested) TO '$data/nest/n1.parquet' (FORMAT parquet);
	COPY ($nested) TO '$data/nest/n2.parquet' (FORMAT parquet, PARQUET_VERSION V2, COMPRESSION zstd);
	COPY ($nested) TO '$data/nest/n3.parquet' (FORMAT parquet, COMPRESSION gzip, DICTIONARY_SIZE_LIMIT 0)"
duck csv "SELECT id, to_json(li), to_json(st), to_json(mp), to_json(los), to_json(lol), to_json(ls) FROM read_parquet('$data/nest/*.parquet')" "$data/nref.csv"
chown -R "$PGS_USER" "$data/nest" "$data/nref.csv"
pgs_psql <<SQL
CREATE FOREIGN TABLE nest (id int, li jsonb, st jsonb, mp jsonb, los jsonb, lol jsonb, ls jsonb)
	SERVER file OPTIONS (path '$data/nest', format 'parquet');
CREATE MATERIALIZED VIEW nest_v WITH (max_batch_rows = 1000) AS SELECT * FROM nest;
CREATE TABLE nref (LIKE nest);
COPY nref FROM '$data/nref.csv' (FORMAT csv);
REFRESH MATERIALIZED VIEW nest_v;
SQL
diff_nest=$(q "SELECT count(*) FROM ((SELECT * FROM nest_v EXCEPT ALL SELECT * FROM nref) UNION ALL (SELECT * FROM nref EXCEPT ALL SELECT * FROM nest_v)) d")
echo "[$SECONDS s] nested: $(q "SELECT count(*) FROM nest_v") rows, differences $diff_nest; e.g. $(q "SELECT los FROM nest_v WHERE id = 2 LIMIT 1")"
[ "$diff_nest" = 0 ] && [ "$(q "SELECT count(*) FROM nest_v")" = 9000 ]
[ "$(q "SELECT count(*) FROM stream.errors WHERE view = 'nest_v'::regclass")" = 0 ]
echo "[$SECONDS s] 200 random mutations of nested files"
pgs_psql -c "CREATE FOREIGN TABLE nfz (id int, li jsonb, st jsonb, mp jsonb, los jsonb, lol jsonb, ls jsonb)
	SERVER file OPTIONS (path '$data/fuzz', format 'parquet')"
fuzz 200 "SELECT count(*), sum(length(li::text || st::text || mp::text || los::text || lol::text || ls::text)) FROM nfz" \
	"$data/nest/n1.parquet" "$data/nest/n2.parquet"
echo ok
