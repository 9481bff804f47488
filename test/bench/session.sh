#!/usr/bin/env bash
# Benchmark (not a test): session windows (engine/session.c) against the
# same sessions computed one-shot over a table, on one throwaway server.
#
#   EVENTS events over USERS users, spread over 25 minutes (about 10 a
#   user, 2.5 minutes apart on average), count and sum per session of gap
#   5 minutes, event time with a watermark 2 hours behind (nothing late,
#   nothing final: every session stays in the state). Round 1: one
#   REFRESH of a manual view over the events already in its stream (every
#   session new). Round 2: as many events again over the next 25 minutes, one
#   REFRESH, merged with round 1's sessions: the sessions at the edge
#   grow, rows bridge stored sessions, and the rest of the state is
#   not read. Baseline: the plain SQL sessionization (lag() over each
#   user's events, a running sum() numbering the sessions, GROUP BY) run
#   once over a table of the events (CREATE TABLE AS): of round 1's
#   events, then of both rounds' (what recomputing costs). Each view is
#   checked equal to the one-shot result.
#
# Parallel query is off: every figure is one backend.
#
# usage: bash test/bench/session.sh [EVENTS=1000000] [USERS=100000]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-1000000}
USERS=${2:-100000}

pgs_install_deps python3
pgs_build
trap pgs_stop_cluster EXIT
pgs_start_bench_cluster
q() { pgs_psql -At -c "$1"; }
timed() { pgs_wall "$1"; }
rate() { pgs_rate "$1" "$2"; }

q "CREATE EXTENSION pg_stream" >/dev/null
# events of round $1: user by a multiplicative hash; a user's k-th event
# of the round at k * 150 s plus up to 300 s (consecutive ones -150 to
# 450 s apart: some out of order, some more than the gap apart)
events() {
	echo "SELECT '2026-01-01'::timestamptz + ($1 - 1) * interval '25 minutes'
		+ (((i - 1) / $USERS) * 150 + (i::bigint * 7907) % 300) * interval '1 second' AS ts,
		((i::bigint * 7919) % $USERS)::int AS usr, (i % 1000)::int AS v
		FROM generate_series(1, $EVENTS) i"
}
# the sessions of a table of events, in plain SQL
sessions() {
	echo "SELECT usr, tstzrange(min(ts), max(ts) + interval '5 minutes') AS s, count(*) AS n,
		sum(v) AS total
	FROM (SELECT *, sum(new) OVER (PARTITION BY usr ORDER BY ts) AS sid
		FROM (SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY usr ORDER BY ts)
			< interval '5 minutes' THEN 0 ELSE 1 END AS new FROM $1) a) b
	GROUP BY usr, sid"
}
pgs_psql -q <<SQL
CREATE TABLE ev1 AS $(events 1);
CREATE TABLE ev2 AS $(events 2);
CREATE TABLE ev_all AS SELECT * FROM ev1 UNION ALL SELECT * FROM ev2;
ANALYZE ev1;
ANALYZE ev_all;
CREATE FOREIGN TABLE clicks (ts timestamptz, usr int, v int) SERVER stream
	OPTIONS (event_time 'ts', watermark '2 hours');
CREATE MATERIALIZED VIEW visits WITH (trigger = 'manual', max_batch_rows = $EVENTS) AS
	SELECT usr, stream.session(ts, '5 minutes') AS s, count(*) AS n, sum(v) AS total
	FROM clicks GROUP BY 1, 2;
CHECKPOINT;
SQL

same() { # same TABLE: the view equals the one-shot sessions of TABLE
	[ "$(q "SELECT count(*) FROM ((SELECT usr, s, n, total FROM visits EXCEPT ALL TABLE one_$1)
		UNION ALL (TABLE one_$1 EXCEPT ALL SELECT usr, s, n, total FROM visits)) d")" = 0 ] || {
		echo "the sessions differ from the one-shot query over $1" >&2
		exit 1
	}
}
for round in 1 2; do
	pgs_log "round $round: $EVENTS events over $USERS users"
	q "INSERT INTO clicks SELECT * FROM ev$round" >/dev/null
	q "CHECKPOINT" >/dev/null
	t=$(timed "REFRESH MATERIALIZED VIEW visits")
	eval "pg_$round=$(rate "$EVENTS" "$t")"
	eval "state_$round=$(q "SELECT state_rows FROM stream.queries WHERE name = 'visits'::regclass")"
	src=$([ $round = 1 ] && echo ev1 || echo ev_all)
	t=$(timed "CREATE TABLE one_$src AS $(sessions "$src")")
	eval "one_$round=$(rate "$EVENTS" "$t")"
	same "$src"
done

echo
printf "%-70s %12s %12s %8s\n" "workload" "pg_stream" "baseline" "ratio"
line() { printf "%-70s %12s %12s %8s\n" "$1" "$2" "$3" "$(python3 -c "print(f'{$2 / $3:.2f}x')")"; }
line "sessions, $USERS users, round 1 ($state_1 sessions), ev/s vs one-shot" "$pg_1" "$one_1"
pgs_result "session windows, $USERS users, round 1 (REFRESH)" "$pg_1" "ev/s" "one-shot SQL sessionization" "$one_1"
line "sessions, round 2 (merged into $state_1, $state_2 after), ev/s vs one-shot of all" "$pg_2" "$one_2"
pgs_result "session windows, $USERS users, round 2 against the state (REFRESH)" "$pg_2" "ev/s" "one-shot SQL sessionization of both rounds" "$one_2"
