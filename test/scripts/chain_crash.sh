#!/usr/bin/env bash
# Exactly-once through a chain of continuous views (engine/chain.c) under
# crashes: a stream feeds ch_1win (10-second windows, append) and
# ch_1rows (a filter, append); ch_2roll rolls ch_1win's windows up into
# minutes, ch_2cnt counts ch_1rows per key, ch_2dup reads ch_1rows through
# a UNION ALL of it with itself (engine/union.c). A feeder inserts into
# the stream in transactions, writing the same rows to a plain table in
# the same transaction (the reference), with event times that only grow
# (one feeder: no row is late). Meanwhile the server is crashed again and
# again: kill -9 of the first view's worker in a batch, of a second view's
# worker in a batch, between batches, and of the postmaster. At the end a
# closing row moves the watermark past every window of the reference, and
# every view must equal its query over the reference table, composed
# through the chain: exactly.
#
# usage: bash test/scripts/chain_crash.sh [ROUNDS=2]
source "$(dirname "$0")/../lib.sh"
ROUNDS=${1:-2}
trap 'stop_feeder; pgs_stop_cluster' EXIT
pgs_start_cluster "restart_after_crash = on"
q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (k int, n int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '2 seconds');
CREATE TABLE ev_ref (k int, n int, ts timestamptz);
CREATE MATERIALIZED VIEW ch_1win WITH (output_mode = 'append') AS
	SELECT stream.tumble(ts, '10 seconds') AS w, k, count(*) AS c, sum(n) AS s
	FROM ev GROUP BY 1, 2;
CREATE MATERIALIZED VIEW ch_1rows AS SELECT k, n, ts FROM ev WHERE n % 3 <> 0;
CREATE MATERIALIZED VIEW ch_2roll WITH (output_mode = 'append') AS
	SELECT stream.tumble(w, '1 minute') AS m, k, sum(c) AS c, sum(s) AS s
	FROM ch_1win GROUP BY 1, 2;
CREATE MATERIALIZED VIEW ch_2cnt AS
	SELECT k, count(*) AS c, sum(n) AS s FROM ch_1rows GROUP BY k;
CREATE MATERIALIZED VIEW ch_2dup AS
	SELECT k, n FROM (SELECT k, n FROM ch_1rows UNION ALL
					  SELECT k, -n FROM ch_1rows WHERE k = 1) u;
SQL
NVIEWS=5

# the feeder: transactions of 1 to 300 rows, event time 1 ms a row
feeder=""
feed() {
	local i=0 t=0
	while [ ! -e "$PGS_DIR/stop_feeder" ]; do
		local k=$((1 + RANDOM % 300))
		if "$PG_BIN/psql" -X -q -h "$PGS_DIR" -p "$PGS_PORT" -U postgres -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL
BEGIN;
WITH r AS (INSERT INTO ev_ref
	SELECT g % 7, g + $t, '2026-01-01'::timestamptz + (g + $t) * interval '1 ms'
	FROM generate_series(1, $k) g RETURNING *)
INSERT INTO ev SELECT * FROM r;
COMMIT;
SQL
		then
			t=$((t + k))
		else
			# did it commit before the crash? the reference says
			sleep 0.2
			t=$("$PG_BIN/psql" -X -At -h "$PGS_DIR" -p "$PGS_PORT" -U postgres \
				-c "SELECT COALESCE(max(n), 0) FROM ev_ref" 2>/dev/null || echo "$t")
		fi
	done
}
start_feeder() { rm -f "$PGS_DIR/stop_feeder"; feed & feeder=$!; }
stop_feeder() {
	if [ -n "$feeder" ]; then
		touch "$PGS_DIR/stop_feeder"
		wait "$feeder" 2>/dev/null || true
	fi
	feeder=""
}
wait_up() { pgs_wait_up $NVIEWS; }
crashes=0
start_feeder
wait_up
for round in $(seq 1 "$ROUNDS"); do
	for v in ch_1win ch_2roll ch_1rows ch_2cnt; do
		pid=$(pgs_batch_pid $v)
		if [ -n "$pid" ]; then
			echo "round $round: kill -9 the worker of $v ($pid) during a batch"
			kill -9 "$pid" && crashes=$((crashes + 1))
			wait_up
		fi
	done
	pid=$(pgs_pid_of 'pg_stream worker' "AND state = 'idle'")
	if [ -n "$pid" ]; then
		echo "round $round: kill -9 worker $pid between batches"
		kill -9 "$pid" && crashes=$((crashes + 1))
		wait_up
	fi
	pm=$(head -1 "$PGS_DIR/data/postmaster.pid")
	echo "round $round: kill -9 postmaster $pm"
	kill -9 "$pm"
	crashes=$((crashes + 1))
	pgs_restart_cluster
	wait_up
done
before=$(q "SELECT count(*) FROM ev_ref")
pgs_wait_for "SELECT count(*) > $before + 2000 FROM ev_ref" 60
stop_feeder

# two closing rows, an hour apart: the first makes every window of the
# reference final in ch_1win; the second makes the first's window final,
# and ch_2roll's watermark (the latest window start it read) passes every
# minute of the reference once it has read that window
pgs_psql <<'SQL'
BEGIN;
WITH r AS (INSERT INTO ev_ref SELECT 0, 3, max(ts) + interval '1 hour' FROM ev_ref RETURNING *)
INSERT INTO ev SELECT * FROM r;
COMMIT;
BEGIN;
WITH r AS (INSERT INTO ev_ref SELECT 0, 3, max(ts) + interval '1 hour' FROM ev_ref RETURNING *)
INSERT INTO ev SELECT * FROM r;
COMMIT;
SQL
last=$(q "SELECT max(ts) FROM ev_ref")
# ch_1win has written the first closing row's window, and ch_2roll read it
pgs_wait_for "SELECT watermark >= stream.tumble('$last'::timestamptz - interval '1 hour', '10 seconds') FROM stream.queries WHERE name = 'ch_2roll'::regclass" 120
pgs_wait_for "SELECT bool_and(lag = 0) FROM stream.queries WHERE name::text IN ('ch_1rows', 'ch_2cnt', 'ch_2dup')" 120 ||
	q "SELECT name, lag, status, last_error FROM stream.queries"

# the output streams' chunks are cleaned as a stream's: every chunk below
# each reader's position (its xmin) goes (those above it wait for the
# reader's next batch)
pgs_wait_for "SELECT count(*) = 0 FROM stream.buffer b JOIN stream.cq c ON c.output_stream = b.stream
	WHERE b.xid < (SELECT min((p.position->>'xmin')::int8) FROM stream.positions p WHERE p.stream = b.stream)" 30 ||
	{ echo "the output streams keep chunks every reader has passed"; exit 1; }

result=$(pgs_psql -At <<'SQL'
SELECT watermark AS wm1 FROM stream.queries WHERE name = 'ch_1win'::regclass \gset
SELECT watermark AS wm2 FROM stream.queries WHERE name = 'ch_2roll'::regclass \gset
CREATE TEMP VIEW win_ref AS
	SELECT stream.tumble(ts, '10 seconds') AS w, k, count(*) AS c, sum(n) AS s
	FROM ev_ref GROUP BY 1, 2 HAVING stream.tumble(ts, '10 seconds') + interval '10 seconds' <= :'wm1';
CREATE TEMP VIEW roll_ref AS
	SELECT stream.tumble(w, '1 minute') AS m, k, sum(c) AS c, sum(s) AS s
	FROM win_ref GROUP BY 1, 2 HAVING stream.tumble(w, '1 minute') + interval '1 minute' <= :'wm2';
CREATE TEMP VIEW rows_ref AS SELECT k, n, ts FROM ev_ref WHERE n % 3 <> 0;
SELECT 'input ' || count(*) FROM ev_ref;
SELECT 'windows ' || count(*) FROM win_ref;
SELECT 'minutes ' || count(*) FROM roll_ref;
SELECT 'ch_1win ' || count(*) FROM ((TABLE ch_1win EXCEPT ALL TABLE win_ref)
	UNION ALL (TABLE win_ref EXCEPT ALL TABLE ch_1win)) d;
SELECT 'ch_2roll ' || count(*) FROM ((TABLE ch_2roll EXCEPT ALL TABLE roll_ref)
	UNION ALL (TABLE roll_ref EXCEPT ALL TABLE ch_2roll)) d;
SELECT 'ch_1rows ' || count(*) FROM ((TABLE ch_1rows EXCEPT ALL TABLE rows_ref)
	UNION ALL (TABLE rows_ref EXCEPT ALL TABLE ch_1rows)) d;
SELECT 'ch_2cnt ' || count(*) FROM (
	(TABLE ch_2cnt EXCEPT ALL SELECT k, count(*), sum(n) FROM rows_ref GROUP BY k)
	UNION ALL (SELECT k, count(*), sum(n) FROM rows_ref GROUP BY k EXCEPT ALL TABLE ch_2cnt)) d;
SELECT 'ch_2dup ' || count(*) FROM (
	(TABLE ch_2dup EXCEPT ALL (SELECT k, n FROM rows_ref UNION ALL SELECT k, -n FROM rows_ref WHERE k = 1))
	UNION ALL ((SELECT k, n FROM rows_ref UNION ALL SELECT k, -n FROM rows_ref WHERE k = 1)
			   EXCEPT ALL TABLE ch_2dup)) d;
SELECT 'late ' || sum(rows_late) FROM stream.queries;
SELECT 'buffered ' || count(*) FROM stream.buffer b JOIN stream.cq c ON c.output_stream = b.stream;
SELECT 'batches ' || sum(batches) FROM stream.queries;
SQL
)
echo "$result"
echo "$crashes crashes"
grep -q <<<"$result" '^input [1-9]' || { echo "no input"; exit 1; }
grep -q <<<"$result" '^minutes [1-9]' || { echo "no minute final"; exit 1; }
grep -q <<<"$result" '^late 0$' || { echo "late rows"; exit 1; }
for v in ch_1win ch_2roll ch_1rows ch_2cnt ch_2dup; do
	grep -q <<<"$result" "^$v 0$" || { echo "$v differs from its query over the reference table"; exit 1; }
done
echo "every view of the chain equals its query over the reference table"
