#!/usr/bin/env bash
# Exactly-once of a windowed aggregation joined with streams
# (engine/stage_side.c) under crashes: aj_q7 joins the bids with the max
# price of their 10-second window (Nexmark q7 as published), aj_q8 joins
# two different windowed aggregations of two streams on their windows
# (Nexmark q8), aj_q8l is aj_q8 as a LEFT JOIN, aj_q7b is aj_q7 with
# Nexmark's BETWEEN and the bids within 900 of the max (a bid at a
# window's start joins the window before too, and often does: each
# window is handed on a window after it is final); in the same cluster,
# aj_q4 is a query over an aggregation without a window (engine/reagg.c:
# the keys per max price) and aj_outer3 a stacked outer join of the three
# streams (engine/join.c). A feeder inserts into
# the three streams in transactions, writing the same rows to plain
# tables in the same transaction (the reference), with event times that
# only grow but for bids at a window's start 2 s back (no row is late).
# Meanwhile the server is crashed: kill -9 of each view's worker in a
# batch, and of the postmaster. At the end closing rows an hour later
# move the watermarks past every window of the reference: every view
# must equal its query over the reference tables, for the windows final,
# exactly, and the streams' kept rows (the side states) be only those of
# the windows still open.
#
# usage: bash test/scripts/agg_join_crash.sh [ROUNDS=1]
source "$(dirname "$0")/../lib.sh"
ROUNDS=${1:-1}
trap 'stop_feeder; pgs_stop_cluster' EXIT
pgs_start_cluster "restart_after_crash = on"
q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE bid (k int, price int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '2 seconds');
CREATE FOREIGN TABLE person (id int, name text, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '2 seconds');
CREATE FOREIGN TABLE auction (id int, seller int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '2 seconds');
CREATE TABLE bid_ref (LIKE bid);
CREATE TABLE person_ref (LIKE person);
CREATE TABLE auction_ref (LIKE auction);
CREATE MATERIALIZED VIEW aj_q7 AS
	SELECT B.k, B.price, B.ts FROM bid B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '1 second') AS w FROM bid GROUP BY 2) B1
	  ON B.price = B1.maxprice AND stream.tumble(B.ts, '1 second') = B1.w;
CREATE MATERIALIZED VIEW aj_q7b AS
	SELECT B.k, B.price, B.ts, B1.w FROM bid B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '1 second') AS w FROM bid GROUP BY 2) B1
	  ON B.price >= B1.maxprice - 900 WHERE B.ts BETWEEN B1.w AND B1.w + interval '1 second';
CREATE MATERIALIZED VIEW aj_q8 AS
	SELECT P.id, P.name, P.starttime
	FROM (SELECT id, name, stream.tumble(ts, '1 second') AS starttime FROM person GROUP BY 1, 2, 3) P
	JOIN (SELECT seller, stream.tumble(ts, '1 second') AS starttime FROM auction GROUP BY 1, 2) A
	  ON P.id = A.seller AND P.starttime = A.starttime;
CREATE MATERIALIZED VIEW aj_q8l AS
	SELECT P.id, P.starttime, A.n
	FROM (SELECT id, stream.tumble(ts, '1 second') AS starttime FROM person GROUP BY 1, 2) P
	LEFT JOIN (SELECT seller, stream.tumble(ts, '1 second') AS starttime, count(*) AS n
			   FROM auction GROUP BY 1, 2) A
	  ON P.id = A.seller AND P.starttime = A.starttime;
CREATE MATERIALIZED VIEW aj_q4 AS
	SELECT mx, count(*) AS keys FROM (SELECT k, max(price) AS mx FROM bid GROUP BY k) x GROUP BY mx;
CREATE MATERIALIZED VIEW aj_outer3 AS
	SELECT B.k, B.ts, P.name, A.id
	FROM bid B
	LEFT JOIN person P ON P.id = B.k AND P.ts BETWEEN B.ts AND B.ts + interval '200 ms'
	LEFT JOIN auction A ON A.seller = B.k AND A.ts BETWEEN B.ts AND B.ts + interval '200 ms'
	WHERE B.k <> 13;	-- not the bids 2 s back (below): late for a join
SQL
NVIEWS=6

# the feeder: transactions of 1 to 300 bids, a person and an auction per
# 10 bids, event time 1 ms a row; and a bid at the start of the second
# 2 s before the last row: out of order but never late (the watermark is
# at most there), the first row of the first window not final when the
# view has caught up, joined by aj_q7b with the window before, final
feeder=""
feed() {
	local t=0
	while [ ! -e "$PGS_DIR/stop_feeder" ]; do
		local k=$((1 + RANDOM % 300))
		if "$PG_BIN/psql" -X -q -h "$PGS_DIR" -p "$PGS_PORT" -U postgres -v ON_ERROR_STOP=1 >/dev/null 2>&1 <<SQL
BEGIN;
WITH r AS (INSERT INTO bid_ref
	SELECT g % 13, (g * 7919 + $t) % 1000, '2026-01-01'::timestamptz + (g + $t) * interval '1 ms'
	FROM generate_series(1, $k) g
	UNION ALL
	SELECT 13, 999, date_trunc('second', '2026-01-01'::timestamptz + ($t - 2000) * interval '1 ms')
	WHERE $t >= 2000
	RETURNING *)
INSERT INTO bid SELECT * FROM r;
WITH r AS (INSERT INTO person_ref
	SELECT (g + $t) % 50, 'p' || ((g + $t) % 50), '2026-01-01'::timestamptz + (g + $t) * interval '1 ms'
	FROM generate_series(1, $k) g WHERE g % 10 = 0 RETURNING *)
INSERT INTO person SELECT * FROM r;
WITH r AS (INSERT INTO auction_ref
	SELECT g + $t, (g * 31 + $t) % 50, '2026-01-01'::timestamptz + (g + $t) * interval '1 ms'
	FROM generate_series(1, $k) g WHERE g % 10 = 5 RETURNING *)
INSERT INTO auction SELECT * FROM r;
COMMIT;
SQL
		then
			t=$((t + k))
		else
			# did it commit before the crash? the reference says
			sleep 0.2
			t=$("$PG_BIN/psql" -X -At -h "$PGS_DIR" -p "$PGS_PORT" -U postgres \
				-c "SELECT COALESCE(extract(epoch FROM max(ts) - '2026-01-01'::timestamptz) * 1000, 0)::int8 FROM bid_ref" \
				2>/dev/null || echo "$t")
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
	for v in aj_q7 aj_q7b aj_q8 aj_q8l aj_q4 aj_outer3; do
		pid=$(pgs_batch_pid $v)
		if [ -n "$pid" ]; then
			echo "round $round: kill -9 the worker of $v ($pid) during a batch"
			kill -9 "$pid" && crashes=$((crashes + 1))
			wait_up
		fi
	done
	pm=$(head -1 "$PGS_DIR/data/postmaster.pid")
	echo "round $round: kill -9 postmaster $pm"
	kill -9 "$pm"
	crashes=$((crashes + 1))
	pgs_restart_cluster
	wait_up
done
before=$(q "SELECT count(*) FROM bid_ref")
pgs_wait_for "SELECT count(*) > $before + 2000 FROM bid_ref" 60
stop_feeder

# closing rows an hour later in every stream: every window of the
# reference is final
pgs_psql <<'SQL'
BEGIN;
SELECT max(ts) + interval '1 hour' AS t FROM bid_ref \gset
INSERT INTO bid VALUES (0, 0, :'t');
INSERT INTO person VALUES (999, 'x', :'t');
INSERT INTO auction VALUES (999, 999, :'t');
COMMIT;
SQL
last=$(q "SELECT max(ts) + interval '1 hour' - interval '2 seconds' FROM bid_ref")
pgs_wait_for "SELECT bool_and(watermark >= '$last'::timestamptz) FROM stream.queries WHERE name::text LIKE 'aj\_%'" 120 ||
	q "SELECT name, watermark, status, last_error FROM stream.queries"
pgs_wait_for "SELECT bool_and(lag = 0) FROM stream.queries" 60 ||
	q "SELECT name, lag, status, last_error FROM stream.queries"

result=$(pgs_psql -At <<'SQL'
CREATE TEMP VIEW q7_ref AS
	SELECT B.k, B.price, B.ts FROM bid_ref B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '1 second') AS w FROM bid_ref GROUP BY 2) B1
	  ON B.price = B1.maxprice AND stream.tumble(B.ts, '1 second') = B1.w;
CREATE TEMP VIEW q7b_ref AS
	SELECT B.k, B.price, B.ts, B1.w FROM bid_ref B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '1 second') AS w FROM bid_ref GROUP BY 2) B1
	  ON B.price >= B1.maxprice - 900 WHERE B.ts BETWEEN B1.w AND B1.w + interval '1 second';
CREATE TEMP VIEW q8_ref AS
	SELECT P.id, P.name, P.starttime
	FROM (SELECT id, name, stream.tumble(ts, '1 second') AS starttime FROM person_ref GROUP BY 1, 2, 3) P
	JOIN (SELECT seller, stream.tumble(ts, '1 second') AS starttime FROM auction_ref GROUP BY 1, 2) A
	  ON P.id = A.seller AND P.starttime = A.starttime;
CREATE TEMP VIEW q8l_ref AS
	SELECT P.id, P.starttime, A.n
	FROM (SELECT id, stream.tumble(ts, '1 second') AS starttime FROM person_ref GROUP BY 1, 2) P
	LEFT JOIN (SELECT seller, stream.tumble(ts, '1 second') AS starttime, count(*) AS n
			   FROM auction_ref GROUP BY 1, 2) A
	  ON P.id = A.seller AND P.starttime = A.starttime;
-- every bid but the closing one is past its bound: padded if unmatched
CREATE TEMP VIEW outer3_ref AS
	SELECT B.k, B.ts, P.name, A.id
	FROM bid_ref B
	LEFT JOIN person_ref P ON P.id = B.k AND P.ts BETWEEN B.ts AND B.ts + interval '200 ms'
	LEFT JOIN auction_ref A ON A.seller = B.k AND A.ts BETWEEN B.ts AND B.ts + interval '200 ms'
	WHERE B.k <> 13;
SELECT 'input ' || count(*) FROM bid_ref;
SELECT 'outer3 rows ' || count(*) || ' padded ' || count(*) FILTER (WHERE name IS NULL OR id IS NULL) FROM outer3_ref;
SELECT 'q7 rows ' || count(*) FROM q7_ref;
SELECT 'q8 rows ' || count(*) FROM q8_ref;
SELECT 'aj_q7 ' || count(*) FROM ((TABLE aj_q7 EXCEPT ALL TABLE q7_ref)
	UNION ALL (TABLE q7_ref EXCEPT ALL TABLE aj_q7)) d;
SELECT 'q7b pairs at a window start ' || count(*) FROM q7b_ref WHERE ts = w + interval '1 second';
SELECT 'aj_q7b ' || count(*) FROM ((TABLE aj_q7b EXCEPT ALL TABLE q7b_ref)
	UNION ALL (TABLE q7b_ref EXCEPT ALL TABLE aj_q7b)) d;
SELECT 'aj_q8 ' || count(*) FROM ((TABLE aj_q8 EXCEPT ALL TABLE q8_ref)
	UNION ALL (TABLE q8_ref EXCEPT ALL TABLE aj_q8)) d;
SELECT 'aj_q8l ' || count(*) FROM ((TABLE aj_q8l EXCEPT ALL TABLE q8l_ref)
	UNION ALL (TABLE q8l_ref EXCEPT ALL TABLE aj_q8l)) d;
-- (the closing bid, k 0 price 0, joins bid_ref's rows in aj_q4: counted)
SELECT 'aj_q4 ' || count(*) FROM ((TABLE aj_q4 EXCEPT ALL (SELECT mx, count(*) FROM
		(SELECT k, max(price) AS mx FROM (TABLE bid_ref UNION ALL SELECT 0, 0, now()) b GROUP BY k) x GROUP BY mx))
	UNION ALL ((SELECT mx, count(*) FROM
		(SELECT k, max(price) AS mx FROM (TABLE bid_ref UNION ALL SELECT 0, 0, now()) b GROUP BY k) x GROUP BY mx)
		EXCEPT ALL TABLE aj_q4)) d;
SELECT 'aj_outer3 ' || count(*) FROM ((TABLE aj_outer3 EXCEPT ALL TABLE outer3_ref)
	UNION ALL (TABLE outer3_ref EXCEPT ALL TABLE aj_outer3)) d;
-- the bids 2 s back are late for aj_outer3's join (it filters them out
-- after): those only
SELECT 'late ' || sum(rows_late) FROM stream.queries WHERE name::text <> 'aj_outer3';
SELECT 'outer3 late within the bids 2 s back ' ||
	((SELECT rows_late FROM stream.queries WHERE name::text = 'aj_outer3') <= (SELECT count(*) FROM bid_ref WHERE k = 13));
-- left: the closing rows (their windows are open), one a side and a group
SELECT 'state ' || string_agg(state_rows::text, ' ' ORDER BY name::text) FROM stream.queries
WHERE name::text IN ('aj_q7', 'aj_q7b', 'aj_q8', 'aj_q8l');
SELECT 'batches ' || sum(batches) FROM stream.queries;
SQL
)
echo "$result"
echo "$crashes crashes"
grep -q <<<"$result" '^input [1-9]' || { echo "no input"; exit 1; }
grep -q <<<"$result" '^q8 rows [1-9]' || { echo "no q8 rows"; exit 1; }
grep -q <<<"$result" '^q7b pairs at a window start [1-9]' || { echo "no q7b pair at a window start"; exit 1; }
grep -q <<<"$result" '^late 0$' || { echo "late rows"; exit 1; }
grep -q <<<"$result" '^outer3 late within the bids 2 s back true$' || { echo "late rows in aj_outer3"; exit 1; }
grep -q <<<"$result" '^state 2 2 2 2$' || { echo "the states keep more than the open windows' rows"; exit 1; }
for v in aj_q7 aj_q7b aj_q8 aj_q8l aj_q4 aj_outer3; do
	grep -q <<<"$result" "^$v 0$" || { echo "$v differs from its query over the reference tables"; exit 1; }
done
echo "every view equals its query over the reference tables; the states hold the open windows only"
