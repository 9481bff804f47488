#!/usr/bin/env bash
# Benchmark (not a test): what pg_stream's state costs as it grows, each
# figure next to baselines measured in the same run, on one throwaway
# server. The figures the state layer is to improve (see README,
# Performance):
#
#   (1) aggregation at a key count: EVENTS events over K keys, count,
#       sum and avg per key, one REFRESH of a manual view over events
#       already inserted into its stream, twice: round 1 makes every
#       group, round 2 updates every group. Baselines: a hand-written
#       set-based upsert of the same events into a summary table
#       (INSERT ... SELECT ... GROUP BY ... ON CONFLICT DO UPDATE), and a
#       one-shot GROUP BY over them (CREATE TABLE AS). Run at 100, 10,000,
#       KEYS and 1,000,000 keys (at most EVENTS). Each view is checked
#       equal to the batch query.
#   (2) a join of two streams against its state: the same batch of
#       JOIN_BATCH new rows on each side against a state of SMALL rows,
#       then of LARGE rows (kept by a one-hour bound). Baseline: the
#       batch's rows joined with an indexed table of the LARGE rows.
#   (3) sliding windows: a count per key and 10-second window sliding by
#       2 seconds (each event in 5 windows), one REFRESH, against the same
#       query run one-shot over a table into a new table given the unique
#       index the view has (CREATE TABLE AS, then CREATE UNIQUE INDEX:
#       the same rows and index the view ends with), and for the record
#       into a table without index.
#
# Parallel query is off, index builds too (max_parallel_maintenance_workers
# 0: the one-shot CREATE UNIQUE INDEX of (3) took two workers' help, the
# REFRESH none): every figure is one backend. Times are the CPU seconds of
# that backend (pgs_timed, test/lib.sh), not wall time: the machine is
# shared, and the load moved wall times by a factor of 2 or more; but for
# (2)'s batches of tens of ms, wall time (the CPU's ticks are 10 ms).
#
#   (4) sliding windows batch after batch: STEADY batches of 20,000
#       events against the windows of (3), against a hand upsert of the
#       same windows into the one-shot table.
#
# usage: [PARTS="1 2 3 4"] bash test/bench/state.sh [EVENTS=1000000] [KEYS=500000]
#            [JOIN_BATCH=2000] [SMALL=10000] [LARGE=1000000] [STEADY=10]
# PARTS: the parts to run ((4) runs (3) first).
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-1000000}
KEYS=${2:-500000}
JOIN_BATCH=${3:-2000}
SMALL=${4:-10000}
LARGE=${5:-1000000}
STEADY=${6:-10}
PARTS=" ${PARTS:-1 2 3 4} "
part() { [[ "$PARTS" == *" $1 "* ]] || { [ "$1" = 3 ] && [[ "$PARTS" == *" 4 "* ]]; }; }

pgs_install_deps python3
pgs_build
trap pgs_stop_cluster EXIT
pgs_start_bench_cluster "max_parallel_maintenance_workers = 0"
q() { pgs_psql -At -c "$1"; }
timed() { pgs_timed "$1" | cut -d' ' -f2; }	# the backend's CPU seconds
walltimed() { pgs_wall "$1"; }	# (2): tens of ms, where CPU ticks are 10 ms
rate() { pgs_rate "$1" "$2"; }
ms() { python3 -c "print(f'{$1 * 1000:.1f}')"; }

q "CREATE EXTENSION pg_stream" >/dev/null

# (1) aggregation at a key count
agg() { # agg KEYS
	local k=$1 t
	pgs_psql -q <<SQL
CREATE TABLE ev_$k AS
	SELECT ((i::bigint * 7919) % $k)::int AS key, (i % 1000)::int AS v
	FROM generate_series(1, $EVENTS) i;
ANALYZE ev_$k;
CREATE FOREIGN TABLE s_$k (key int, v int) SERVER stream;
CREATE MATERIALIZED VIEW agg_$k WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
	SELECT key, count(*) AS n, sum(v) AS total, avg(v) AS mean FROM s_$k GROUP BY key;
CREATE TABLE up_$k (key int PRIMARY KEY, n bigint, total bigint);
CHECKPOINT;
SQL
	for round in 1 2; do
		q "INSERT INTO s_$k SELECT key, v FROM ev_$k" >/dev/null
		q "CHECKPOINT" >/dev/null
		t=$(timed "REFRESH MATERIALIZED VIEW agg_$k")
		eval "pg_${k}_$round=$(rate "$EVENTS" "$t")"
		t=$(timed "INSERT INTO up_$k SELECT key, count(*), sum(v) FROM ev_$k GROUP BY key
			ON CONFLICT (key) DO UPDATE SET n = up_$k.n + excluded.n, total = up_$k.total + excluded.total")
		eval "up_${k}_$round=$(rate "$EVENTS" "$t")"
	done
	t=$(timed "CREATE TABLE one_$k AS SELECT key, count(*) AS n, sum(v) AS total, avg(v) AS mean FROM ev_$k GROUP BY key")
	eval "one_$k=$(rate "$EVENTS" "$t")"
	q "DROP TABLE one_$k, up_$k" >/dev/null
	# the view after two rounds: the batch query over the events twice
	[ "$(q "SELECT count(*) FROM (
		(SELECT key, n, total, mean FROM agg_$k EXCEPT ALL
		 SELECT key, count(*), sum(v), avg(v) FROM (SELECT * FROM ev_$k UNION ALL SELECT * FROM ev_$k) e GROUP BY key)
		UNION ALL
		(SELECT key, count(*), sum(v), avg(v) FROM (SELECT * FROM ev_$k UNION ALL SELECT * FROM ev_$k) e GROUP BY key
		 EXCEPT ALL SELECT key, n, total, mean FROM agg_$k)) d")" = 0 ] || {
		echo "aggregation at $k keys: the view differs from its batch query" >&2
		exit 1
	}
}
KEY_COUNTS=$(python3 -c "print(' '.join(str(k) for k in sorted({100, 10000, $KEYS, 1000000}) if k <= $EVENTS))")
part 1 || KEY_COUNTS=
for k in $KEY_COUNTS; do
	pgs_log "(1) aggregation at $k keys"
	agg "$k"
done

if part 2; then
# (2) a join of two streams against a small and a large state
join_run() { # join_run NAME STATE: seconds of the batch of JOIN_BATCH rows a side
	local name=$1 n=$2
	pgs_psql -q <<SQL
CREATE FOREIGN TABLE ja_$name (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '2 hours');
CREATE FOREIGN TABLE jb_$name (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '2 hours');
CREATE MATERIALIZED VIEW j_$name WITH (trigger = 'manual', max_batch_rows = $((n + JOIN_BATCH))) AS
	SELECT a.k, a.ts AS ats, b.ts AS bts
	FROM ja_$name a JOIN jb_$name b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '1 hour';
-- the state: n rows of a side, none of which matches yet
INSERT INTO ja_$name SELECT i, '2026-01-01 00:00'::timestamptz + (i % 1000) * interval '1 ms'
	FROM generate_series(1, $n) i;
SQL
	q "REFRESH MATERIALIZED VIEW j_$name" >/dev/null
	q "INSERT INTO ja_$name SELECT $n + i, '2026-01-01 00:10' FROM generate_series(1, $JOIN_BATCH) i;
	   INSERT INTO jb_$name SELECT i * ($n / $JOIN_BATCH), '2026-01-01 00:20' FROM generate_series(1, $JOIN_BATCH) i" >/dev/null
	q "CHECKPOINT" >/dev/null
	walltimed "REFRESH MATERIALIZED VIEW j_$name"
}
pgs_log "(2) a join against $SMALL rows of state"
t=$(join_run small "$SMALL")
join_small=$(ms "$t")
pgs_log "(2) a join against $LARGE rows of state"
t=$(join_run large "$LARGE")
join_large=$(ms "$t")
state=$(q "SELECT sum(state_rows) FROM stream.positions WHERE view = 'j_large'::regclass")
matched=$(q "SELECT count(*) FROM j_large")
[ "$matched" = "$JOIN_BATCH" ] || { echo "the large join found $matched rows, not $JOIN_BATCH" >&2; exit 1; }
pgs_psql -q <<SQL
CREATE TABLE jt AS SELECT i AS k, '2026-01-01 00:00'::timestamptz + (i % 1000) * interval '1 ms' AS ts
	FROM generate_series(1, $LARGE) i;
CREATE INDEX ON jt (k);
CREATE TABLE jnew AS SELECT i * ($LARGE / $JOIN_BATCH) AS k, '2026-01-01 00:20'::timestamptz AS ts
	FROM generate_series(1, $JOIN_BATCH) i;
ANALYZE jt;
ANALYZE jnew;
CHECKPOINT;
SQL
t=$(walltimed "CREATE TABLE jout AS SELECT a.k, a.ts AS ats, b.ts AS bts FROM jt a JOIN jnew b
	ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '1 hour'")
join_index=$(ms "$t")
fi

if part 3; then
# (3) sliding windows
pgs_log "(3) sliding windows, 10 s sliding by 2 s"
pgs_psql -q <<SQL
CREATE TABLE hev AS SELECT (i % 1000)::int AS key,
	'2026-01-01'::timestamptz + (i * 3) * interval '1 ms' AS ts
	FROM generate_series(1, $EVENTS) i;
ANALYZE hev;
CREATE FOREIGN TABLE hs (key int, ts timestamptz) SERVER stream;
CREATE MATERIALIZED VIEW hop WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
	SELECT h.key, w.window_start, count(*) AS n
	FROM hs h, stream.hop(h.ts, '10 seconds', '2 seconds') AS w(window_start) GROUP BY 1, 2;
INSERT INTO hs SELECT * FROM hev;
CHECKPOINT;
SQL
t=$(timed "REFRESH MATERIALIZED VIEW hop")
hop_pg=$(rate "$EVENTS" "$t")
q "CHECKPOINT" >/dev/null
# the baseline: the same rows in a table with the view's unique index
# (built after the rows, the fastest way to that table), and for the
# record the same table without the index
t=$(timed "CREATE TABLE hop_one AS SELECT h.key, w.window_start, count(*) AS n
	FROM hev h, stream.hop(h.ts, '10 seconds', '2 seconds') AS w(window_start) GROUP BY 1, 2")
hop_noidx=$(rate "$EVENTS" "$t")
t1=$(timed "CREATE UNIQUE INDEX ON hop_one (key, window_start) NULLS NOT DISTINCT")
hop_one=$(rate "$EVENTS" "$(python3 -c "print($t + $t1)")")
[ "$(q "SELECT count(*) FROM ((TABLE hop EXCEPT ALL TABLE hop_one) UNION ALL (TABLE hop_one EXCEPT ALL TABLE hop)) d")" = 0 ] || {
	echo "the sliding windows differ from the one-shot query" >&2
	exit 1
}
fi

if part 4; then
# (4) sliding windows, batch after batch: STEADY batches of 20,000 later
# events (each 1,000 keys' next 60 s: per key about 30 new windows, 4
# updated) into the view above and its 1,500,000 windows; the baseline
# upserts the same events' windows into the one-shot table (which has the
# same rows and unique index). The same view grouped window first
# (GROUP BY window_start, key: its index leads with the window, so new
# windows go in at its right edge) is fed the same batches. Medians.
pgs_log "(4) sliding windows, $STEADY batches of 20,000 events against the state"
pgs_psql -q <<SQL
CREATE FOREIGN TABLE hs2 (key int, ts timestamptz) SERVER stream;
CREATE MATERIALIZED VIEW hopw WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
	SELECT w.window_start, h.key, count(*) AS n
	FROM hs2 h, stream.hop(h.ts, '10 seconds', '2 seconds') AS w(window_start) GROUP BY 1, 2;
INSERT INTO hs2 SELECT * FROM hev;
SQL
q "REFRESH MATERIALIZED VIEW hopw" >/dev/null
q "VACUUM ANALYZE" >/dev/null
q "CHECKPOINT" >/dev/null
: >"$PGS_DIR/steady"
for r in $(seq 1 "$STEADY"); do
	q "CREATE TABLE hnext AS SELECT (i % 1000)::int AS key,
		'2026-01-01'::timestamptz + (($EVENTS + ($r - 1) * 20000 + i) * 3) * interval '1 ms' AS ts
		FROM generate_series(1, 20000) i;
	   INSERT INTO hs SELECT * FROM hnext; INSERT INTO hs2 SELECT * FROM hnext" >/dev/null
	tv=$(timed "REFRESH MATERIALIZED VIEW hop")
	tw=$(timed "REFRESH MATERIALIZED VIEW hopw")
	tu=$(timed "INSERT INTO hop_one SELECT h.key, w.window_start, count(*)
		FROM hnext h, stream.hop(h.ts, '10 seconds', '2 seconds') AS w(window_start) GROUP BY 1, 2
		ON CONFLICT (key, window_start) DO UPDATE SET n = hop_one.n + excluded.n")
	echo "$tv $tw $tu" >>"$PGS_DIR/steady"
	q "DROP TABLE hnext" >/dev/null
done
read -r steady_view steady_wfirst steady_up <<<"$(python3 -c "
import statistics
rows = [list(map(float, l.split())) for l in open('$PGS_DIR/steady')]
print(*(f'{statistics.median(r[i] for r in rows) * 1000:.1f}' for i in range(3)))")"
[ "$(q "SELECT count(*) FROM ((TABLE hop EXCEPT ALL TABLE hop_one) UNION ALL (TABLE hop_one EXCEPT ALL TABLE hop)
	UNION ALL (SELECT key, window_start, n FROM hopw EXCEPT ALL TABLE hop_one)
	UNION ALL (TABLE hop_one EXCEPT ALL SELECT key, window_start, n FROM hopw)) d")" = 0 ] || {
	echo "the sliding windows after the batches differ from the upserted table" >&2
	exit 1
}
fi

echo
printf "%-66s %12s %12s %8s\n" "workload (per CPU second, CPU ms)" "pg_stream" "baseline" "ratio"
line() { printf "%-66s %12s %12s %8s\n" "$1" "$2" "$3" "$(python3 -c "print(f'{$2 / $3:.2f}x')")"; }
for k in $KEY_COUNTS; do
	for r in 1 2; do
		eval "p=\$pg_${k}_$r; u=\$up_${k}_$r"
		line "agg $k keys, round $r, ev/s vs hand upsert" "$p" "$u"
		pgs_result "aggregation, $k keys, round $r (REFRESH)" "$p" "ev/s" "hand set-based upsert" "$u"
	done
	eval "p=\$pg_${k}_1; o=\$one_$k"
	line "agg $k keys, round 1, ev/s vs one-shot GROUP BY" "$p" "$o"
	pgs_result "aggregation, $k keys, round 1 (REFRESH)" "$p" "ev/s" "one-shot GROUP BY" "$o"
done
if part 2; then
line "join, batch of $JOIN_BATCH a side, ms: $LARGE vs $SMALL rows of state" "$join_large" "$join_small"
pgs_result "join batch of $JOIN_BATCH a side against $state rows of state" "$join_large" "ms" "against $SMALL rows" "$join_small"
line "join, the same against $LARGE rows, ms: vs indexed one-shot join" "$join_large" "$join_index"
pgs_result "join batch of $JOIN_BATCH a side against $state rows of state" "$join_large" "ms" "one-shot join, indexed table" "$join_index"
fi
if part 3; then
line "sliding windows 10 s / 2 s, ev/s vs one-shot, view's index" "$hop_pg" "$hop_one"
pgs_result "sliding windows 10 s by 2 s (REFRESH)" "$hop_pg" "ev/s" "one-shot query and the view's unique index" "$hop_one"
line "the same, vs one-shot into a table without index" "$hop_pg" "$hop_noidx"
pgs_result "sliding windows 10 s by 2 s (REFRESH)" "$hop_pg" "ev/s" "one-shot query, table without index" "$hop_noidx"
fi
if part 4; then
line "sliding windows, a batch of 20,000 against the state, ms: vs upsert" "$steady_view" "$steady_up"
pgs_result "sliding windows, a batch of 20,000 events against 1.5M windows (REFRESH)" "$steady_view" "ms" "hand upsert of its windows" "$steady_up"
line "the same grouped window first, ms: vs upsert" "$steady_wfirst" "$steady_up"
pgs_result "the same, grouped window first (REFRESH)" "$steady_wfirst" "ms" "hand upsert of its windows" "$steady_up"
fi
