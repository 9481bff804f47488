#!/usr/bin/env bash
# Benchmark (not a test): a query over an aggregation without a window
# (engine/reagg.c), which each batch recomputes over every group of the
# inner aggregation. An average per class (k % 10) of the max per key,
# Nexmark q4's shape, against the inner aggregation alone (the max per
# key, a view of its own) in the same run: NGROUPS keys loaded in one
# REFRESH, then BATCHES batches of ROWS rows (one REFRESH each,
# keys). Prints the median REFRESH of each and the ratio: the outer
# level's cost per batch, which grows with the inner groups, not with
# the batch. Both views are checked against their queries over a table
# of the same input.
#
# usage: bash test/bench/agg_agg.sh [NGROUPS=100000] [BATCHES=15] [ROWS=100]
source "$(dirname "$0")/../lib.sh"
NGROUPS=${1:-100000}
BATCHES=${2:-15}
ROWS=${3:-100}

pgs_install_deps python3
pgs_build
trap pgs_stop_cluster EXIT
pgs_start_bench_cluster
q() { pgs_psql -At -c "$1"; }

pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE s (k int, v int) SERVER stream;
CREATE TABLE ref (k int, v int);
CREATE MATERIALIZED VIEW inner_only WITH (trigger = 'manual', max_batch_rows = $((NGROUPS * 2))) AS
	SELECT k, max(v) AS m FROM s GROUP BY k;
CREATE MATERIALIZED VIEW outer_avg WITH (trigger = 'manual', max_batch_rows = $((NGROUPS * 2))) AS
	SELECT k % 10 AS c, avg(m) AS a FROM (SELECT k, max(v) AS m FROM s GROUP BY k) x GROUP BY 1;
WITH r AS (INSERT INTO ref SELECT i, (i::bigint * 7919) % 1000 FROM generate_series(1, $NGROUPS) i RETURNING *)
	INSERT INTO s SELECT * FROM r;
SQL
q "CHECKPOINT" >/dev/null
li=$(pgs_wall "REFRESH MATERIALIZED VIEW inner_only")
lo=$(pgs_wall "REFRESH MATERIALIZED VIEW outer_avg")
ti=()
to=()
for b in $(seq 1 "$BATCHES"); do
	q "WITH r AS (INSERT INTO ref SELECT 1 + (i * 104729 + $b * 7) % $NGROUPS, (i * $b) % 2000
		FROM generate_series(1, $ROWS) i RETURNING *) INSERT INTO s SELECT * FROM r" >/dev/null
	ti+=("$(pgs_wall "REFRESH MATERIALIZED VIEW inner_only")")
	to+=("$(pgs_wall "REFRESH MATERIALIZED VIEW outer_avg")")
done
for v in inner_only outer_avg; do
	case $v in
	inner_only) b="SELECT k, max(v) AS m FROM ref GROUP BY k" ;;
	outer_avg) b="SELECT k % 10 AS c, avg(m) AS a FROM (SELECT k, max(v) AS m FROM ref GROUP BY k) x GROUP BY 1" ;;
	esac
	d=$(q "SELECT count(*) FROM ((TABLE $v EXCEPT ALL ($b)) UNION ALL (($b) EXCEPT ALL TABLE $v)) d")
	[ "$d" = 0 ] || { echo "$v differs from its batch query in $d rows"; exit 1; }
done
python3 - "$NGROUPS" "$ROWS" "$li" "$lo" "${ti[*]}" "${to[*]}" <<'PY'
import statistics, sys
groups, rows, li, lo = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
ti = [float(x) for x in sys.argv[5].split()]
to = [float(x) for x in sys.argv[6].split()]
mi, mo = statistics.median(ti), statistics.median(to)
print(f"load of {groups} groups, one REFRESH: inner alone {li:.3f} s, the average over it {lo:.3f} s ({lo / li:.2f}x)")
print(f"a batch of {rows} rows, median of {len(ti)}: inner alone {mi * 1000:.1f} ms, "
      f"the average over it {mo * 1000:.1f} ms ({mo / mi:.2f}x)")
print(f"RESULT|agg over agg, a batch of {rows} rows over {groups} inner groups|{mo * 1000:.1f}|ms|the inner aggregation alone|{mi * 1000:.1f}")
PY
echo "both views equal their queries over the table"
