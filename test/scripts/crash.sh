#!/usr/bin/env bash
# Exactly-once under crashes. Several sessions insert into a stream in
# transactions, each writing the same rows to a plain table in the same
# transaction (the reference). Meanwhile the server is crashed again and
# again:
#   - kill -9 of a pg_stream worker while it runs a batch,
#   - kill -9 of a worker between batches,
#   - kill -9 of the postmaster,
#   - pg_ctl stop -m immediate,
#   - kill -9 of a worker while a REFRESH runs.
# After each crash the server comes back (crash recovery), the workers come
# back by themselves, and inserting goes on. At the end every continuous
# view must equal the same query over the reference table: exactly.
#
# usage: bash test/scripts/crash.sh [ROUNDS=2]
source "$(dirname "$0")/../lib.sh"
ROUNDS=${1:-2}
trap 'stop_feeders; pgs_stop_cluster' EXIT
pgs_start_cluster "restart_after_crash = on"
q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (session int, n int, ts timestamptz) SERVER stream;
CREATE TABLE ev_ref (session int, n int, ts timestamptz);
CREATE MATERIALIZED VIEW c_count AS SELECT count(*) AS c FROM ev;
CREATE MATERIALIZED VIEW c_sum WITH (max_batch_rows = 20000) AS
	SELECT session, sum(n) AS s FROM ev GROUP BY session;
CREATE MATERIALIZED VIEW c_avg AS SELECT session, avg(n) AS a, count(*) AS c FROM ev GROUP BY session;
CREATE MATERIALIZED VIEW c_window AS
	SELECT stream.tumble(ts, '1 second') AS w, count(*) AS c, sum(n) AS s FROM ev GROUP BY 1;
CREATE MATERIALIZED VIEW c_manual WITH (trigger = 'manual') AS
	SELECT session % 3 AS k, count(*) AS c FROM ev GROUP BY 1;
CREATE MATERIALIZED VIEW c_rows AS SELECT session, n FROM ev WHERE n % 10 = 0;
SQL

# feeders: transactions of 1 to 3000 rows into the stream and the reference
feeders=()
feed() {
	local s=$1 i=0
	while [ ! -e "$PGS_DIR/stop_feeders" ]; do
		i=$((i + 1))
		local k=$(( (RANDOM % 10 == 0) ? 3000 : 1 + RANDOM % 50 ))
		"$PG_BIN/psql" -X -q -h "$PGS_DIR" -p "$PGS_PORT" -U postgres -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL || sleep 0.2
BEGIN;
WITH r AS (INSERT INTO ev_ref
	SELECT $s, g + $i * 10000, '2026-01-01'::timestamptz + (g + $i * 50) * interval '1 ms'
	FROM generate_series(1, $k) g RETURNING *)
INSERT INTO ev SELECT * FROM r;
COMMIT;
SQL
	done
}
start_feeders() {
	rm -f "$PGS_DIR/stop_feeders"
	for s in 1 2 3 4; do
		feed $s &
		feeders+=($!)
	done
}
# each feeder finishes the transaction it is in, then stops
stop_feeders() {
	if [ ${#feeders[@]} -gt 0 ]; then
		touch "$PGS_DIR/stop_feeders"
		wait "${feeders[@]}" 2>/dev/null || true
	fi
	feeders=()
}

wait_up() { pgs_wait_up 6; }
pid_of() { pgs_pid_of "$@"; }

crashes=0
start_feeders
for round in $(seq 1 "$ROUNDS"); do
	# 1. a worker in the middle of a batch
	pid=$(pgs_batch_pid)
	if [ -n "$pid" ]; then
		echo "round $round: kill -9 worker $pid during a batch"
		kill -9 "$pid" && crashes=$((crashes + 1))
		wait_up
	fi

	# 2. a worker between batches
	pid=$(pid_of 'pg_stream worker' "AND state = 'idle'")
	if [ -n "$pid" ]; then
		echo "round $round: kill -9 worker $pid between batches"
		kill -9 "$pid" && crashes=$((crashes + 1))
		wait_up
	fi

	# 3. the postmaster
	pm=$(head -1 "$PGS_DIR/data/postmaster.pid")
	echo "round $round: kill -9 postmaster $pm"
	kill -9 "$pm"
	crashes=$((crashes + 1))
	pgs_restart_cluster
	wait_up

	# 4. immediate shutdown
	echo "round $round: pg_ctl stop -m immediate"
	pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -m immediate -w stop >/dev/null
	crashes=$((crashes + 1))
	pgs_restart_cluster
	wait_up

	# 5. during a REFRESH (of the manual view, with input waiting)
	"$PG_BIN/psql" -X -q -h "$PGS_DIR" -p "$PGS_PORT" -U postgres \
		-c "REFRESH MATERIALIZED VIEW c_manual" >/dev/null 2>&1 &
	refresher=$!
	for i in $(seq 1 100); do
		[ -n "$(pid_of 'client backend' "AND query LIKE 'REFRESH%' AND state = 'active'")" ] && break
		sleep 0.01
	done
	pid=$(pid_of 'pg_stream worker')
	echo "round $round: kill -9 worker $pid during a REFRESH"
	kill -9 "$pid" && crashes=$((crashes + 1))
	wait $refresher 2>/dev/null || true
	wait_up
done
# let the feeders commit some more after the last crash
before=$(q "SELECT count(*) FROM ev_ref")
pgs_wait_for "SELECT count(*) > $before + 1000 FROM ev_ref" 60
stop_feeders

result=$(pgs_psql -At <<'SQL'
REFRESH MATERIALIZED VIEW c_count;
REFRESH MATERIALIZED VIEW c_sum;
REFRESH MATERIALIZED VIEW c_avg;
REFRESH MATERIALIZED VIEW c_window;
REFRESH MATERIALIZED VIEW c_manual;
REFRESH MATERIALIZED VIEW c_rows;
SELECT 'input ' || count(*) FROM ev_ref;
SELECT 'c_count ' || count(*) FROM (
	(TABLE c_count EXCEPT ALL SELECT count(*) FROM ev_ref)
	UNION ALL (SELECT count(*) FROM ev_ref EXCEPT ALL TABLE c_count)) d;
SELECT 'c_sum ' || count(*) FROM (
	(TABLE c_sum EXCEPT ALL SELECT session, sum(n) FROM ev_ref GROUP BY 1)
	UNION ALL (SELECT session, sum(n) FROM ev_ref GROUP BY 1 EXCEPT ALL TABLE c_sum)) d;
SELECT 'c_avg ' || count(*) FROM (
	(TABLE c_avg EXCEPT ALL SELECT session, avg(n), count(*) FROM ev_ref GROUP BY 1)
	UNION ALL (SELECT session, avg(n), count(*) FROM ev_ref GROUP BY 1 EXCEPT ALL TABLE c_avg)) d;
SELECT 'c_window ' || count(*) FROM (
	(TABLE c_window EXCEPT ALL SELECT stream.tumble(ts, '1 second'), count(*), sum(n) FROM ev_ref GROUP BY 1)
	UNION ALL (SELECT stream.tumble(ts, '1 second'), count(*), sum(n) FROM ev_ref GROUP BY 1
			   EXCEPT ALL TABLE c_window)) d;
SELECT 'c_manual ' || count(*) FROM (
	(TABLE c_manual EXCEPT ALL SELECT session % 3, count(*) FROM ev_ref GROUP BY 1)
	UNION ALL (SELECT session % 3, count(*) FROM ev_ref GROUP BY 1 EXCEPT ALL TABLE c_manual)) d;
SELECT 'c_rows ' || count(*) FROM (
	(TABLE c_rows EXCEPT ALL SELECT session, n FROM ev_ref WHERE n % 10 = 0)
	UNION ALL (SELECT session, n FROM ev_ref WHERE n % 10 = 0 EXCEPT ALL TABLE c_rows)) d;
SELECT rows_table AS copy FROM stream.cq WHERE view = 'c_rows'::regclass \gset
SELECT 'c_rows_copy ' || count(*) FROM (
	(TABLE :copy EXCEPT ALL TABLE c_rows) UNION ALL (TABLE c_rows EXCEPT ALL TABLE :copy)) d;
SELECT 'batches ' || sum(batches) FROM stream.queries;
SQL
)
echo "$result"
echo "$crashes crashes"
grep -q <<<"$result" '^input [1-9]' || { echo "no input"; exit 1; }
for v in c_count c_sum c_avg c_window c_manual c_rows c_rows_copy; do
	grep -q <<<"$result" "^$v 0$" || { echo "$v differs from its query over the reference table"; exit 1; }
done
echo "every view equals its query over the reference table"
