#!/usr/bin/env bash
# Benchmark (not a test): reading Parquet files. DuckDB writes FILES files
# of ROWS rows each (snappy, row groups of DuckDB's default size, five
# columns: int, bigint, double, a string key of 100 values, a timestamp);
# a manual continuous view over a file stream of them (count, sum and
# max per key) is refreshed once: every row read, decoded into Datums and
# aggregated, in one backend. The baseline is DuckDB (one thread) running
# the same aggregation over the same files: its reading and aggregating,
# columnar and vectorized, is the best case a row store can be measured
# against. The view is checked equal to DuckDB's result.
#
# usage: bash test/bench/parquet.sh [FILES=8] [ROWS=250000]
source "$(dirname "$0")/../lib.sh"
FILES=${1:-8}
ROWS=${2:-250000}

pgs_install_deps python3 libsnappy-dev libzstd-dev zlib1g-dev nodejs
pgs_build
npm ci --prefix "$PGS_ROOT/test/parquet" --no-audit --no-fund --loglevel=error >/dev/null
duck() { node "$PGS_ROOT/test/parquet/duck.mjs" "$@"; }
data=$(mktemp -d /tmp/pg_stream_pqbench.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$data"' EXIT
pgs_start_bench_cluster
q() { pgs_psql -At -c "$1"; }
mkdir -p "$data/in"
for i in $(seq 0 $((FILES - 1))); do
	duck sql "COPY (SELECT (i + $i * $ROWS)::int AS id, i::bigint * 7 AS n, i / 3.0 AS d,
		'key' || (i % 100) AS k, timestamp '2026-01-01' + i * interval '1 second' AS ts
		FROM range($ROWS) t(i)) TO '$data/in/p$i.parquet' (FORMAT parquet, COMPRESSION snappy)"
done
chown -R "$PGS_USER" "$data"
total=$((FILES * ROWS))
echo "$FILES files, $total rows, $(du -sh "$data/in" | cut -f1)"
pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE pq (id int, n bigint, d float8, k text, ts timestamp)
	SERVER file OPTIONS (path '$data/in', format 'parquet');
CREATE MATERIALIZED VIEW agg WITH (trigger = 'manual', max_batch_rows = $total) AS
	SELECT k, count(*) AS c, sum(n) AS sn, max(ts) AS mts FROM pq GROUP BY k;
SQL
t=$(pgs_wall "REFRESH MATERIALIZED VIEW agg")
got=$(q "SELECT sum(c) FROM agg")
[ "$got" = "$total" ] || { echo "the view has $got rows, not $total" >&2; exit 1; }
duck csv "SELECT k, count(*), sum(n), max(ts) FROM read_parquet('$data/in/*.parquet') GROUP BY k" "$data/ref.csv"
chown "$PGS_USER" "$data/ref.csv"
diff=$(q "CREATE TABLE ref (k text, c bigint, sn numeric, mts timestamp);
	COPY ref FROM '$data/ref.csv' (FORMAT csv);
	SELECT count(*) FROM ((SELECT * FROM ref EXCEPT ALL SELECT * FROM agg) UNION ALL (SELECT * FROM agg EXCEPT ALL SELECT * FROM ref)) x")
[ "$diff" = 0 ] || { echo "the view differs from DuckDB's result in $diff rows" >&2; exit 1; }
# DuckDB's best of three (the files are in the page cache for both)
dt=$(for r in 1 2 3; do duck time "SELECT k, count(*), sum(n), max(ts) FROM read_parquet('$data/in/*.parquet') GROUP BY k"; done | sort -n | head -1)
ours=$(pgs_rate "$total" "$t")
theirs=$(pgs_rate "$total" "$(python3 -c "print($dt / 1000)")")
echo "pg_stream: $total rows in $t s ($ours rows/s); DuckDB (1 thread): $dt ms ($theirs rows/s)"
pgs_result "parquet files, view (count/sum/max per key)" "$ours" "ev/s" "DuckDB, 1 thread" "$theirs"
