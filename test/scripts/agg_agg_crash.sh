#!/usr/bin/env bash
# Queries over an aggregation without a window (engine/reagg.c) under
# crashes: a feeder inserts transactions of events into a stream (each
# also into a reference table, in the same transaction) while the
# workers run; a worker is killed (kill -9) in the middle of a batch,
# then the postmaster. The view is recomputed (or, x_q4 and x_hist, its
# outer state and touched rows written by deltas, engine/reagg_delta.c)
# in the batch's transaction with the aggregation's state, so after the
# recovery each view must
# equal its query run as a batch over the reference table, exactly: the
# average per class of the max per key (Nexmark q4's shape), the keys per
# max (a regrouping by the inner aggregate), a filter keeping equal rows.
#
# usage: bash test/scripts/agg_agg_crash.sh [EVENTS=200000]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-200000}
TX=10000
trap 'stop_feeder; pgs_stop_cluster' EXIT
pgs_start_cluster "restart_after_crash = on"
q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (k int, v int) SERVER stream;
CREATE TABLE ev_ref (k int, v int);
CREATE MATERIALIZED VIEW x_q4 AS
	SELECT q.c, avg(q.m) AS a, count(*) AS n FROM (
		SELECT k % 10 AS c, max(v) AS m FROM ev GROUP BY k, k % 10) q
	GROUP BY q.c;
CREATE MATERIALIZED VIEW x_hist AS
	SELECT q.m, count(*) AS n FROM (SELECT k, max(v) AS m FROM ev GROUP BY k) q GROUP BY q.m;
CREATE MATERIALIZED VIEW x_high AS
	SELECT q.m FROM (SELECT k, max(v) AS m, count(*) AS n FROM ev GROUP BY k) q WHERE q.n > 3;
SQL
VIEWS=3

feeder=""
# (a transaction that fails is tried again: the server may be down)
feed() {
	local j=0 tries=0
	while [ $((j * TX)) -lt "$EVENTS" ] && [ ! -e "$PGS_DIR/stop_feeder" ]; do
		tries=$((tries + 1))
		if [ $tries -gt 300 ]; then
			echo "the feeder's transaction $j keeps failing:" >&2
			cat "$PGS_DIR/feed.err" >&2
			return 1
		fi
		"$PG_BIN/psql" -X -q -h "$PGS_DIR" -p "$PGS_PORT" -U postgres -v ON_ERROR_STOP=1 >/dev/null 2>"$PGS_DIR/feed.err" <<SQL && { j=$((j + 1)); tries=0; } || sleep 0.2
BEGIN;
WITH e AS (
	SELECT (g::bigint * 7919 % 20000)::int AS k, (g::bigint * 104729 % 1000)::int AS v
	FROM generate_series($j * $TX, ($j + 1) * $TX - 1) g
), r AS (INSERT INTO ev_ref SELECT * FROM e RETURNING *)
INSERT INTO ev SELECT * FROM r;
COMMIT;
SQL
	done
	touch "$PGS_DIR/fed"
}
stop_feeder() {
	if [ -n "$feeder" ]; then
		touch "$PGS_DIR/stop_feeder"
		wait "$feeder" 2>/dev/null || true
		feeder=""
	fi
}

rm -f "$PGS_DIR/fed" "$PGS_DIR/stop_feeder"
feed &
feeder=$!
pgs_wait_for "SELECT count(*) > $EVENTS / 5 FROM ev_ref" 300
pid=$(pgs_batch_pid)
[ -n "$pid" ] || { echo "no worker in a batch"; exit 1; }
echo "kill -9 worker $pid during a batch"
kill -9 "$pid"
pgs_wait_up $VIEWS
pgs_wait_for "SELECT count(*) > $EVENTS / 2 FROM ev_ref" 300
pm=$(head -1 "$PGS_DIR/data/postmaster.pid")
echo "kill -9 postmaster $pm"
kill -9 "$pm"
pgs_restart_cluster
pgs_wait_up $VIEWS
for i in $(seq 1 3000); do
	[ -e "$PGS_DIR/fed" ] && break
	sleep 0.1
done
[ -e "$PGS_DIR/fed" ] || { echo "the feeder did not finish"; exit 1; }
feeder=""
total=$(q "SELECT count(*) FROM ev_ref")
echo "$total events"
pgs_wait_for "SELECT count(*) = $VIEWS FROM stream.queries WHERE rows_in = $total" 600 ||
	{ q "SELECT name, rows_in, status, last_error FROM stream.queries"; exit 1; }
for v in x_q4 x_hist x_high; do
	q "REFRESH MATERIALIZED VIEW $v" >/dev/null
done
result=$(pgs_psql -At <<'SQL'
CREATE TEMP TABLE r_q4 AS SELECT q.c, avg(q.m) AS a, count(*) AS n FROM (
	SELECT k % 10 AS c, max(v) AS m FROM ev_ref GROUP BY k, k % 10) q GROUP BY q.c;
CREATE TEMP TABLE r_hist AS SELECT q.m, count(*) AS n FROM (SELECT k, max(v) AS m FROM ev_ref GROUP BY k) q GROUP BY q.m;
CREATE TEMP TABLE r_high AS SELECT q.m FROM (SELECT k, max(v) AS m, count(*) AS n FROM ev_ref GROUP BY k) q WHERE q.n > 3;
SELECT 'x_q4 ' || count(*) FROM ((TABLE x_q4 EXCEPT ALL TABLE r_q4) UNION ALL (TABLE r_q4 EXCEPT ALL TABLE x_q4)) d;
SELECT 'x_hist ' || count(*) FROM ((TABLE x_hist EXCEPT ALL TABLE r_hist) UNION ALL (TABLE r_hist EXCEPT ALL TABLE x_hist)) d;
SELECT 'x_high ' || count(*) FROM ((TABLE x_high EXCEPT ALL TABLE r_high) UNION ALL (TABLE r_high EXCEPT ALL TABLE x_high)) d;
SELECT 'rows ' || (SELECT count(*) FROM x_high) || ' ' || (SELECT sum(n) FROM x_q4);
SQL
)
echo "$result"
for v in x_q4 x_hist x_high; do
	grep -q <<<"$result" "^$v 0$" || { echo "$v differs from its batch query over the reference table"; exit 1; }
done
echo ok
