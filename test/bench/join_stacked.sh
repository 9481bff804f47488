#!/usr/bin/env bash
# Stacked outer joins in steady state: rows become certain unmatched in
# every batch. Three streams, a star (b and c within 5 minutes after a),
# keys that rarely match, watermarks 1 minute; a state of ROWS rows a
# stream (one every SPACING ms), then batches of 2,000 rows a stream.
# Compared, in the same run over the same rows and batches:
#   (1) the inner join of the three (the baseline: its states read by key);
#   (2) the same as stacked left joins: the inner copies, a pairs query per
#       outer join, and the copies of the rows NULL-padded for b, c or both,
#       which read the padded rows by the expiry index and the other
#       streams' states by those rows' keys (before branch padkey: whole);
#   (3) a left join of two streams (a and b);
#   (4) the star as stacked FULL joins: also the copies of b's and c's rows
#       padded for a (b alone, c alone), and a pairs query per FULL join
#       for the new stream's matches.
# Each view is checked equal to its batch query at the end. Parallel query
# is off: every figure is one backend.
#
# usage: bash test/bench/join_stacked.sh [ROWS=200000] [SPACING_MS=3]
source "$(dirname "$0")/../lib.sh"
ROWS=${1:-200000}
SPACING=${2:-3}
BATCH=2000
ROUNDS=3

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
		OPTIONS (event_time 'ts', watermark '1 minute')" >/dev/null
	q "CREATE TABLE t_$s (k int, ts timestamptz)" >/dev/null
done
ON_B="b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'"
ON_C="c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '5 minutes'"
JI="SELECT a.k, a.ts AS ats, b.ts AS bts, c.ts AS cts FROM s_a a JOIN s_b b ON $ON_B JOIN s_c c ON $ON_C"
JS="SELECT a.k, a.ts AS ats, b.ts AS bts, c.ts AS cts FROM s_a a LEFT JOIN s_b b ON $ON_B LEFT JOIN s_c c ON $ON_C"
J2="SELECT a.k, a.ts AS ats, b.ts AS bts FROM s_a a LEFT JOIN s_b b ON $ON_B"
JF="SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts FROM s_a a FULL JOIN s_b b ON $ON_B FULL JOIN s_c c ON $ON_C"
pgs_psql -q <<SQL
CREATE MATERIALIZED VIEW ji WITH (trigger = 'manual', max_batch_rows = 10000000) AS $JI;
CREATE MATERIALIZED VIEW js WITH (trigger = 'manual', max_batch_rows = 10000000) AS $JS;
CREATE MATERIALIZED VIEW j2 WITH (trigger = 'manual', max_batch_rows = 10000000) AS $J2;
CREATE MATERIALIZED VIEW jf WITH (trigger = 'manual', max_batch_rows = 10000000) AS $JF;
-- rows i0 .. i0 + n - 1 of each stream (and of its table): one every
-- SPACING ms, keys spread over a million so that few rows match
CREATE FUNCTION feed(i0 int, n int) RETURNS void LANGUAGE sql AS \$\$
	INSERT INTO t_a SELECT (i::bigint * 7919) % 1000003, '2026-01-01'::timestamptz + i * interval '$SPACING ms' FROM generate_series(i0, i0 + n - 1) i;
	INSERT INTO t_b SELECT (i::bigint * 104729) % 1000003, '2026-01-01'::timestamptz + i * interval '$SPACING ms' FROM generate_series(i0, i0 + n - 1) i;
	INSERT INTO t_c SELECT (i::bigint * 15485863) % 1000003, '2026-01-01'::timestamptz + i * interval '$SPACING ms' FROM generate_series(i0, i0 + n - 1) i;
	INSERT INTO s_a SELECT * FROM t_a WHERE ts >= '2026-01-01'::timestamptz + i0 * interval '$SPACING ms';
	INSERT INTO s_b SELECT * FROM t_b WHERE ts >= '2026-01-01'::timestamptz + i0 * interval '$SPACING ms';
	INSERT INTO s_c SELECT * FROM t_c WHERE ts >= '2026-01-01'::timestamptz + i0 * interval '$SPACING ms';
\$\$;
SELECT feed(0, $ROWS);
SQL
for v in ji js j2 jf; do q "REFRESH MATERIALIZED VIEW $v" >/dev/null; done
q "VACUUM ANALYZE" >/dev/null
state=$(q "SELECT state_rows_by_stream->>'s_a' FROM stream.queries WHERE name::text = 'js'")
pgs_log "batches of $BATCH rows a stream against $state rows of state a stream"
ti=0; ts=0; t2=0; tf=0
for r in $(seq 1 $ROUNDS); do
	q "SELECT feed($ROWS + ($r - 1) * $BATCH, $BATCH)" >/dev/null
	ti=$(python3 -c "print($ti + $(pgs_wall "REFRESH MATERIALIZED VIEW ji"))")
	ts=$(python3 -c "print($ts + $(pgs_wall "REFRESH MATERIALIZED VIEW js"))")
	t2=$(python3 -c "print($t2 + $(pgs_wall "REFRESH MATERIALIZED VIEW j2"))")
	tf=$(python3 -c "print($tf + $(pgs_wall "REFRESH MATERIALIZED VIEW jf"))")
done
ti=$(python3 -c "print($ti / $ROUNDS)"); ts=$(python3 -c "print($ts / $ROUNDS)"); t2=$(python3 -c "print($t2 / $ROUNDS)"); tf=$(python3 -c "print($tf / $ROUNDS)")
padded=$(q "SELECT count(*) FILTER (WHERE bts IS NULL AND cts IS NULL) FROM js")

# every view equal to its batch query, once everything is certain
for s in a b c; do q "INSERT INTO s_$s VALUES (-$(printf %d "'$s"), '2026-01-05')" >/dev/null; done
for v in ji js j2 jf; do q "REFRESH MATERIALIZED VIEW $v" >/dev/null; done
for v in ji:JI js:JS j2:J2 jf:JF; do
	name=${v%%:*}
	var=${v#*:}
	query=$(echo "${!var}" | sed 's/s_\([abc]\)/t_\1/g')
	bad=$(q "SELECT (SELECT count(*) FROM (($query) EXCEPT ALL SELECT * FROM $name) x) +
		(SELECT count(*) FROM ((SELECT * FROM $name) EXCEPT ALL ($query)) y)")
	[ "$bad" = 0 ] || { echo "view $name differs from its batch query ($bad rows)"; exit 1; }
done

printf '%-62s %10s %10s\n' "batch of $BATCH a stream, state $state a stream" "ms" "ratio"
printf '%-62s %10s %10s\n' "(1) inner join of the three streams" "$(ms "$ti")" "1.00x"
printf '%-62s %10s %10s\n' "(2) stacked left joins ($padded rows padded for both so far)" "$(ms "$ts")" "$(ratio "$ts" "$ti")"
printf '%-62s %10s %10s\n' "(3) left join of two streams" "$(ms "$t2")" "$(ratio "$t2" "$ti")"
printf '%-62s %10s %10s\n' "(4) stacked FULL joins ($(ratio "$tf" "$ts") the left joins')" "$(ms "$tf")" "$(ratio "$tf" "$ti")"
pgs_result "stacked left joins, batch of $BATCH a stream against $state rows of state a stream" "$(ms "$ts")" "ms" "inner join of the same streams" "$(ms "$ti")"
