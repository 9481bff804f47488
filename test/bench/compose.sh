#!/usr/bin/env bash
# Benchmark (not a test): what query composition costs (engine/union.c,
# engine/chain.c), each figure next to a baseline measured in the same
# run, on one throwaway server. EVENTS events over 1,000 keys, count and
# sum per key, one REFRESH of a manual view over events already inserted
# into its streams (one batch):
#
#   base      the aggregation over one stream (the baseline);
#   union     the same events split over two streams, aggregated over a
#             UNION ALL of them;
#   self      one stream read by three branches of a UNION ALL (evens,
#             odds, all: twice the rows into the aggregation; baseline:
#             base over a stream of 2 x EVENTS);
#   writer    a view without aggregation passing every event on, read by
#             another view (so it writes its output stream), against the
#             same view with no reader;
#   reader    the aggregation over that view's output stream, against
#             base.
#
# Each figure is the best of ROUNDS rounds (the machine may be shared).
# Each view is checked equal to its batch query. Parallel query is off:
# every figure is one backend. With BASE_ONLY=1 only base runs (to
# measure a tree without composition).
#
# usage: bash test/bench/compose.sh [EVENTS=1000000] [ROUNDS=3]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-1000000}
ROUNDS=${2:-3}

pgs_install_deps python3
pgs_build
trap pgs_stop_cluster EXIT
pgs_start_bench_cluster
q() { pgs_psql -At -c "$1"; }
timed() { python3 -c "print(f'{$(pgs_wall "$1"):.3f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
rate() { pgs_rate "$1" "$2"; }

q "CREATE EXTENSION pg_stream" >/dev/null
gen() { # gen STREAM FROM TO
	q "INSERT INTO $1 SELECT ((i::bigint * 7919) % 1000)::int, i % 100 FROM generate_series($2, $3) i" >/dev/null
}
check() { # check VIEW N: the counts of N events, i % 100 summed
	local d
	d=$(q "SELECT count(*) FROM ((SELECT k, n, s FROM $1) EXCEPT ALL
		(SELECT ((i::bigint * 7919) % 1000)::int, count(*), sum(i % 100) FROM generate_series(1, $2) i GROUP BY 1)) d")
	[ "$d" = 0 ] || { echo "$1 differs from its batch query in $d rows"; exit 1; }
}

# one round: every figure, in views and streams of their own
round() {
	local r=$1 d
	pgs_psql -q <<-SQL
	CREATE FOREIGN TABLE s_base_$r (k int, v int) SERVER stream;
	CREATE MATERIALIZED VIEW base_$r WITH (trigger = 'manual', max_batch_rows = $((EVENTS * 2))) AS
		SELECT k, count(*) AS n, sum(v) AS s FROM s_base_$r GROUP BY k;
	SQL
	gen s_base_$r 1 "$EVENTS"
	q "CHECKPOINT" >/dev/null
	t_base=$(timed "REFRESH MATERIALIZED VIEW base_$r")
	check base_$r "$EVENTS"
	echo "round $r: base $t_base s ($(rate "$EVENTS" "$t_base") events/s)"
	if [ -n "${BASE_ONLY:-}" ]; then
		return
	fi
	pgs_psql -q <<-SQL
	CREATE FOREIGN TABLE s_base2_$r (k int, v int) SERVER stream;
	CREATE MATERIALIZED VIEW base2_$r WITH (trigger = 'manual', max_batch_rows = $((EVENTS * 2))) AS
		SELECT k, count(*) AS n, sum(v) AS s FROM s_base2_$r GROUP BY k;
	SQL
	gen s_base2_$r 1 "$EVENTS"
	gen s_base2_$r 1 "$EVENTS"
	q "CHECKPOINT" >/dev/null
	t_base2=$(timed "REFRESH MATERIALIZED VIEW base2_$r")

	pgs_psql -q <<-SQL
	CREATE FOREIGN TABLE s_a_$r (k int, v int) SERVER stream;
	CREATE FOREIGN TABLE s_b_$r (k int, v int) SERVER stream;
	CREATE MATERIALIZED VIEW uni_$r WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
		SELECT k, count(*) AS n, sum(v) AS s
		FROM (SELECT k, v FROM s_a_$r UNION ALL SELECT k, v FROM s_b_$r) u GROUP BY k;
	CREATE FOREIGN TABLE s_self_$r (k int, v int) SERVER stream;
	CREATE MATERIALIZED VIEW self_$r WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
		SELECT k, count(*) AS n, sum(v) AS s
		FROM (SELECT k, v FROM s_self_$r WHERE k % 2 = 0 UNION ALL SELECT k, v FROM s_self_$r WHERE k % 2 = 1
			  UNION ALL SELECT k, v FROM s_self_$r) u GROUP BY k;
	CREATE FOREIGN TABLE s_w_$r (k int, v int) SERVER stream;
	CREATE FOREIGN TABLE s_solo_$r (k int, v int) SERVER stream;
	CREATE MATERIALIZED VIEW writer_$r WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
		SELECT k, v FROM s_w_$r;
	CREATE MATERIALIZED VIEW solo_$r WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
		SELECT k, v FROM s_solo_$r;
	CREATE MATERIALIZED VIEW reader_$r WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
		SELECT k, count(*) AS n, sum(v) AS s FROM writer_$r GROUP BY k;
	SQL
	q "INSERT INTO s_a_$r SELECT ((i::bigint * 7919) % 1000)::int, i % 100 FROM generate_series(1, $EVENTS) i WHERE i % 2 = 0" >/dev/null
	q "INSERT INTO s_b_$r SELECT ((i::bigint * 7919) % 1000)::int, i % 100 FROM generate_series(1, $EVENTS) i WHERE i % 2 = 1" >/dev/null
	gen s_self_$r 1 "$EVENTS"
	gen s_w_$r 1 "$EVENTS"
	gen s_solo_$r 1 "$EVENTS"
	q "CHECKPOINT" >/dev/null
	t_union=$(timed "REFRESH MATERIALIZED VIEW uni_$r")
	check uni_$r "$EVENTS"
	t_self=$(timed "REFRESH MATERIALIZED VIEW self_$r")
	d=$(q "SELECT count(*) FROM ((SELECT k, n, s FROM self_$r) EXCEPT ALL
		(SELECT ((i::bigint * 7919) % 1000)::int, 2 * count(*), 2 * sum(i % 100) FROM generate_series(1, $EVENTS) i GROUP BY 1)) d")
	[ "$d" = 0 ] || { echo "self_$r differs from its batch query in $d rows"; exit 1; }
	t_solo=$(timed "REFRESH MATERIALIZED VIEW solo_$r")
	t_writer=$(timed "REFRESH MATERIALIZED VIEW writer_$r")
	q "CHECKPOINT" >/dev/null
	t_reader=$(timed "REFRESH MATERIALIZED VIEW reader_$r")
	check reader_$r "$EVENTS"
	echo "round $r: union $t_union, self $t_self (base2 $t_base2), writer $t_writer (solo $t_solo), reader $t_reader"
	B+=("$t_base"); B2+=("$t_base2"); U+=("$t_union"); S+=("$t_self"); W+=("$t_writer"); SO+=("$t_solo"); R+=("$t_reader")
}
B=() B2=() U=() S=() W=() SO=() R=()
for r in $(seq 1 "$ROUNDS"); do round "$r"; done
[ -n "${BASE_ONLY:-}" ] && exit 0
best() { printf '%s\n' "$@" | sort -g | head -1; }
t_base=$(best "${B[@]}") t_base2=$(best "${B2[@]}") t_union=$(best "${U[@]}") t_self=$(best "${S[@]}")
t_writer=$(best "${W[@]}") t_solo=$(best "${SO[@]}") t_reader=$(best "${R[@]}")

echo
echo "compose: $EVENTS events, 1,000 keys, one REFRESH each, best of $ROUNDS rounds (seconds; ratio to its baseline)"
printf "  %-8s %8s  %s\n" base "$t_base" "1.00"
printf "  %-8s %8s  %s (base)\n" union "$t_union" "$(ratio "$t_union" "$t_base")"
printf "  %-8s %8s  %s (base over 2 x EVENTS: %s s)\n" self "$t_self" "$(ratio "$t_self" "$t_base2")" "$t_base2"
printf "  %-8s %8s  %s (the same view without a reader: %s s)\n" writer "$t_writer" "$(ratio "$t_writer" "$t_solo")" "$t_solo"
printf "  %-8s %8s  %s (base)\n" reader "$t_reader" "$(ratio "$t_reader" "$t_base")"
