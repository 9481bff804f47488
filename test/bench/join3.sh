#!/usr/bin/env bash
# Benchmark (not a test): what a batch of a join of three streams costs
# against its states, next to baselines measured in the same run, on one
# throwaway server:
#
#   (1) a three-stream inner join (a.k = b.k, b.k = c.k, each pair bound by
#       an hour): a batch of BATCH new rows a stream against STATE rows of
#       state a stream, each new row meeting its key's state rows.
#   (2) the same batch through a two-stream join of a and b against the
#       same states: what one more stream adds.
#   (3) the same three-stream join with keys that cannot be probed (b.k =
#       a.k + 0): its states read whole, as every n-way join did before
#       its key probes.
#   (4) the query one-shot over tables of all the rows (state and batch):
#       what running it again as a batch would cost.
#   (5) the same chain as stacked left joins (a LEFT JOIN b ... LEFT JOIN
#       c ...): the inner copies as (1), a pairs query per outer join,
#       and the copies of the rows NULL-padded for b or c, which read of
#       the states what can be certain (here nothing: the watermark is
#       2 hours behind).
#
# Each view is checked equal to its batch query. Parallel query is off:
# every figure is one backend.
#
# usage: bash test/bench/join3.sh [STATE=200000] [BATCH=2000]
source "$(dirname "$0")/../lib.sh"
STATE=${1:-200000}
BATCH=${2:-2000}

pgs_install_deps python3
pgs_build
trap pgs_stop_cluster EXIT
pgs_start_bench_cluster
q() { pgs_psql -At -c "$1"; }
ms() { python3 -c "print(f'{$1 * 1000:.1f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}x')"; }

q "CREATE EXTENSION pg_stream" >/dev/null
for s in a b c; do
	q "CREATE FOREIGN TABLE s_$s (k int, ts timestamptz) SERVER stream
		OPTIONS (event_time 'ts', watermark '2 hours')" >/dev/null
	# the state rows at 00:00, of every key; the batch's at 00:10, of a key in STATE / BATCH
	q "CREATE TABLE t_$s AS SELECT i AS k, '2026-01-01 00:00'::timestamptz + (i % 1000) * interval '1 ms' AS ts
		FROM generate_series(1, $STATE) i
		UNION ALL SELECT i * ($STATE / $BATCH), '2026-01-01 00:10' FROM generate_series(1, $BATCH) i" >/dev/null
done
q "ANALYZE t_a; ANALYZE t_b; ANALYZE t_c" >/dev/null
J3="SELECT a.k, a.ts AS ats, b.ts AS bts, c.ts AS cts
	FROM s_a a JOIN s_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '1 hour'
	JOIN s_c c ON c.k = b.k AND c.ts BETWEEN b.ts AND b.ts + interval '1 hour'"
J2="SELECT a.k, a.ts AS ats, b.ts AS bts
	FROM s_a a JOIN s_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '1 hour'"
J3L="SELECT a.k, a.ts AS ats, b.ts AS bts, c.ts AS cts
	FROM s_a a LEFT JOIN s_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '1 hour'
	LEFT JOIN s_c c ON c.k = b.k AND c.ts BETWEEN b.ts AND b.ts + interval '1 hour'"
J3W="SELECT a.k, a.ts AS ats, b.ts AS bts, c.ts AS cts
	FROM s_a a JOIN s_b b ON b.k = a.k + 0 AND b.ts BETWEEN a.ts AND a.ts + interval '1 hour'
	JOIN s_c c ON c.k = b.k + 0 AND c.ts BETWEEN b.ts AND b.ts + interval '1 hour'"
pgs_psql -q <<SQL
CREATE MATERIALIZED VIEW j3 WITH (trigger = 'manual', max_batch_rows = $((STATE + BATCH))) AS $J3;
CREATE MATERIALIZED VIEW j2 WITH (trigger = 'manual', max_batch_rows = $((STATE + BATCH))) AS $J2;
CREATE MATERIALIZED VIEW j3w WITH (trigger = 'manual', max_batch_rows = $((STATE + BATCH))) AS $J3W;
CREATE MATERIALIZED VIEW j3l WITH (trigger = 'manual', max_batch_rows = $((STATE + BATCH))) AS $J3L;
SQL
# the states: every view reads them in a batch of its own first
for s in a b c; do
	q "INSERT INTO s_$s SELECT * FROM t_$s WHERE ts < '2026-01-01 00:01'" >/dev/null
done
for v in j3 j2 j3w j3l; do q "REFRESH MATERIALIZED VIEW $v" >/dev/null; done
q "VACUUM ANALYZE" >/dev/null
for s in a b c; do
	q "INSERT INTO s_$s SELECT * FROM t_$s WHERE ts = '2026-01-01 00:10'" >/dev/null
done
q "CHECKPOINT" >/dev/null
pgs_log "batches of $BATCH rows a stream against $STATE rows of state a stream"
t3=$(pgs_wall "REFRESH MATERIALIZED VIEW j3")
t2=$(pgs_wall "REFRESH MATERIALIZED VIEW j2")
t3w=$(pgs_wall "REFRESH MATERIALIZED VIEW j3w")
t3l=$(pgs_wall "REFRESH MATERIALIZED VIEW j3l")
t1=$(pgs_wall "CREATE TABLE one AS $(echo "$J3" | sed 's/s_\([abc]\)/t_\1/g')")

# (j3l: no row is NULL-padded yet, the watermark is 2 hours behind)
for v in j3:J3 j2:J2 j3w:J3W j3l:J3; do
	name=${v%%:*}
	var=${v#*:}
	query=$(echo "${!var}" | sed 's/s_\([abc]\)/t_\1/g')
	d=$(q "SELECT count(*) FROM ((TABLE $name EXCEPT ALL ($query)) UNION ALL (($query) EXCEPT ALL TABLE $name)) d")
	[ "$d" = 0 ] || { echo "$name differs from its batch query by $d rows" >&2; exit 1; }
done
rows=$(q "SELECT count(*) FROM j3")
state=$(q "SELECT state_rows FROM stream.queries WHERE name = 'j3'::regclass")

printf '\n%-62s %10s %10s\n' "join of three streams, a batch of $BATCH rows a stream" "ms" "ratio"
printf '%-62s %10s %10s\n' "(1) three streams, states read by key ($rows rows, $state of state)" "$(ms "$t3")" "1.00x"
printf '%-62s %10s %10s\n' "(2) two streams, the same batch and states" "$(ms "$t2")" "$(ratio "$t2" "$t3")"
printf '%-62s %10s %10s\n' "(3) three streams, states read whole (keys b.k = a.k + 0)" "$(ms "$t3w")" "$(ratio "$t3w" "$t3")"
printf '%-62s %10s %10s\n' "(4) the query one-shot over all the rows" "$(ms "$t1")" "$(ratio "$t1" "$t3")"
printf '%-62s %10s %10s\n' "(5) stacked left joins, the same batch and states" "$(ms "$t3l")" "$(ratio "$t3l" "$t3")"
pgs_result "three-stream join batch of $BATCH a stream against $state rows of state" "$(ms "$t3")" "ms" "two streams, same batch and states" "$(ms "$t2")"
pgs_result "three-stream join batch of $BATCH a stream against $state rows of state" "$(ms "$t3")" "ms" "states read whole (no key probe)" "$(ms "$t3w")"
pgs_result "three-stream join batch of $BATCH a stream against $state rows of state" "$(ms "$t3")" "ms" "one-shot query over all the rows" "$(ms "$t1")"
pgs_result "three-stream join batch of $BATCH a stream against $state rows of state" "$(ms "$t3")" "ms" "stacked left joins" "$(ms "$t3l")"
