#!/usr/bin/env bash
# Benchmark (not a test): deduplication (engine/dedup.c) at many keys,
# each figure next to the same query run one-shot over a table in the
# same run, on one throwaway server.
#
#   (1) SELECT DISTINCT ON (key) key, v over EVENTS events of KEYS keys,
#       one REFRESH of a manual view over events already in its stream:
#       round 1 sees every key for the first time, round 2 (the same
#       events again) finds every key seen. Baseline: CREATE TABLE AS
#       the same DISTINCT ON over a table; and the hand-written way to
#       keep keys seen in a table, INSERT ... ON CONFLICT DO NOTHING into
#       a table with a primary key, both rounds.
#   (2) SELECT DISTINCT key, the same way. Baseline: CREATE TABLE AS
#       SELECT DISTINCT key.
#   (3) count(DISTINCT key) per group of 100, round 1. Baseline: the same
#       GROUP BY one-shot.
# Each view is checked equal to its batch query.
#
# usage: bash test/bench/dedup.sh [EVENTS=1000000] [KEYS=1000000]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-1000000}
KEYS=${2:-1000000}

pgs_install_deps python3
pgs_build
trap pgs_stop_cluster EXIT
pgs_start_bench_cluster
q() { pgs_psql -At -c "$1"; }
timed() { pgs_wall "$1"; }
rate() { pgs_rate "$1" "$2"; }
same() { # same A B: the two queries' rows are the same multiset
	[ "$(q "SELECT count(*) FROM ((($1) EXCEPT ALL ($2)) UNION ALL (($2) EXCEPT ALL ($1))) d")" = 0 ]
}

pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE TABLE ev AS
	SELECT ((i::bigint * 7919) % $KEYS)::int AS key, (i % 1000)::int AS v
	FROM generate_series(1, $EVENTS) i;
ANALYZE ev;
CREATE FOREIGN TABLE s (key int, v int) SERVER stream;
CREATE MATERIALIZED VIEW d_on WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
	SELECT DISTINCT ON (key) key, v FROM s;
CREATE MATERIALIZED VIEW d_keys WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
	SELECT DISTINCT key FROM s;
CREATE MATERIALIZED VIEW d_count WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
	SELECT key % 100 AS g, count(DISTINCT key) AS n FROM s GROUP BY 1;
SQL

q "CREATE TABLE hand (key int PRIMARY KEY, v int)" >/dev/null
for round in 1 2; do
	q "CHECKPOINT" >/dev/null
	t=$(timed "INSERT INTO hand SELECT key, v FROM ev ON CONFLICT DO NOTHING")
	eval "hand_$round=$(rate "$EVENTS" "$t")"
	q "INSERT INTO s SELECT key, v FROM ev" >/dev/null
	q "CHECKPOINT" >/dev/null
	for v in d_on d_keys d_count; do
		[ $round = 2 ] && [ $v = d_count ] && continue
		t=$(timed "REFRESH MATERIALIZED VIEW $v")
		eval "${v}_$round=$(rate "$EVENTS" "$t")"
		q "CHECKPOINT" >/dev/null
	done
done
t=$(timed "CREATE TABLE one_on AS SELECT DISTINCT ON (key) key, v FROM ev")
one_on=$(rate "$EVENTS" "$t")
t=$(timed "CREATE TABLE one_keys AS SELECT DISTINCT key FROM ev")
one_keys=$(rate "$EVENTS" "$t")
t=$(timed "CREATE TABLE one_count AS SELECT key % 100 AS g, count(DISTINCT key) AS n FROM ev GROUP BY 1")
one_count=$(rate "$EVENTS" "$t")

# each view: its batch query (DISTINCT ON: the first of each key, in the
# order inserted, which is ev's order)
same "TABLE d_keys" "TABLE one_keys" && same "TABLE d_count" "TABLE one_count" &&
	same "TABLE d_on" "SELECT DISTINCT ON (key) key, v FROM (SELECT *, row_number() OVER () AS r FROM ev) e ORDER BY key, r" || {
	echo "a deduplicating view differs from its batch query" >&2
	exit 1
}

echo
printf "%-60s %12s %12s %8s\n" "workload" "pg_stream" "baseline" "ratio"
line() { printf "%-60s %12s %12s %8s\n" "$1" "$2" "$3" "$(python3 -c "print(f'{$2 / $3:.2f}x')")"; }
for r in 1 2; do
	eval "p=\$d_on_$r"
	line "DISTINCT ON, $KEYS keys, round $r, ev/s vs one-shot" "$p" "$one_on"
	pgs_result "DISTINCT ON, $KEYS keys, round $r (REFRESH)" "$p" "ev/s" "one-shot DISTINCT ON" "$one_on"
	eval "h=\$hand_$r"
	line "DISTINCT ON, $KEYS keys, round $r, ev/s vs ON CONFLICT DO NOTHING" "$p" "$h"
	pgs_result "DISTINCT ON, $KEYS keys, round $r (REFRESH)" "$p" "ev/s" "hand INSERT ON CONFLICT DO NOTHING" "$h"
	eval "p=\$d_keys_$r"
	line "DISTINCT, $KEYS keys, round $r, ev/s vs one-shot" "$p" "$one_keys"
	pgs_result "DISTINCT, $KEYS keys, round $r (REFRESH)" "$p" "ev/s" "one-shot DISTINCT" "$one_keys"
done
line "count(DISTINCT) of $KEYS keys in 100 groups, ev/s vs one-shot" "$d_count_1" "$one_count"
pgs_result "count(DISTINCT), $KEYS keys in 100 groups (REFRESH)" "$d_count_1" "ev/s" "one-shot GROUP BY" "$one_count"
