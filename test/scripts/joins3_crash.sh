#!/usr/bin/env bash
# Joins of three streams and a stream with itself, through the workers,
# under crashes: page views, carts (two in three views, 0 to 6 s after)
# and buys (half of the carts, 0 to 12 s after) go into a three-stream
# inner join, an append-mode count over it, a left join of the views with
# the inner join of carts and buys, stacked left joins (views, their
# carts, the carts' buys: a view without a cart is padded for both, a
# cart without a buy for the buy), the same with FULL joins (a cart
# without a view still meets its buys, a buy without a cart comes out
# alone), a left self-join of the views and a
# left join whose rows of odd users can never match. Each chunk of
# events goes into the streams and into reference tables in one
# transaction; a worker is killed with kill -9 in the middle of a batch,
# later the postmaster. At the end each view must equal its query run as
# a batch over the reference tables, exactly, and each stream's state
# must have stayed bounded by the watermark.
#
# usage: bash test/scripts/joins3_crash.sh [EVENTS=60000]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-60000}
TX=5000
trap pgs_stop_cluster EXIT
pgs_start_cluster "restart_after_crash = on"
q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE pv (k int, u int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '30 seconds');
CREATE FOREIGN TABLE cart (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '30 seconds');
CREATE FOREIGN TABLE buy (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '30 seconds');
CREATE TABLE pv_ref (k int, u int, ts timestamptz);
CREATE TABLE cart_ref (k int, ts timestamptz);
CREATE TABLE buy_ref (k int, ts timestamptz);
CREATE MATERIALIZED VIEW x3 AS
	SELECT v.k, v.ts AS vts, c.ts AS cts, b.ts AS bts
	FROM pv v JOIN cart c ON c.k = v.k AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds'
	JOIN buy b ON b.k = c.k AND b.ts BETWEEN c.ts AND c.ts + interval '10 seconds';
CREATE MATERIALIZED VIEW x3_agg WITH (output_mode = 'append') AS
	SELECT stream.tumble(v.ts, '10 seconds') AS w, count(*) AS n, max(b.ts) AS last_buy
	FROM pv v JOIN cart c ON c.k = v.k AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds'
	JOIN buy b ON b.k = c.k AND b.ts BETWEEN c.ts AND c.ts + interval '10 seconds'
	GROUP BY 1;
CREATE MATERIALIZED VIEW x3_left AS
	SELECT v.k, v.ts AS vts, c.ts AS cts, b.ts AS bts
	FROM pv v LEFT JOIN (cart c JOIN buy b ON b.k = c.k AND b.ts BETWEEN c.ts AND c.ts + interval '10 seconds')
	ON c.k = v.k AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds';
CREATE MATERIALIZED VIEW x3_stack AS
	SELECT v.k, v.ts AS vts, c.ts AS cts, b.ts AS bts
	FROM pv v LEFT JOIN cart c ON c.k = v.k AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds'
	LEFT JOIN buy b ON b.k = c.k AND b.ts BETWEEN c.ts AND c.ts + interval '10 seconds';
CREATE MATERIALIZED VIEW x3_full AS
	SELECT v.k AS vk, v.ts AS vts, c.k AS ck, c.ts AS cts, b.k AS bk, b.ts AS bts
	FROM pv v FULL JOIN cart c ON c.k = v.k AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds'
	FULL JOIN buy b ON b.k = c.k AND b.ts BETWEEN c.ts AND c.ts + interval '10 seconds';
CREATE MATERIALIZED VIEW x_self AS
	SELECT a.k, a.u, a.ts AS ats, b.ts AS bts
	FROM pv a LEFT JOIN pv b ON b.u = a.u AND b.ts > a.ts AND b.ts <= a.ts + interval '1.5 seconds';
CREATE MATERIALIZED VIEW x_never AS
	SELECT v.k, v.u, c.ts AS cts
	FROM pv v LEFT JOIN cart c ON c.k = v.k AND v.u % 2 = 0 AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds';
SQL
VIEWS=7
pgs_wait_up $VIEWS

# chunk j: views of keys g, one every 10 ms, user g % 100 (the same
# user again 1 s later); a cart for two in three, 0-6 s after (6: too
# late), a buy for half of those, 0-12 s after its cart (11, 12: too late)
feed_chunk() {
	local j=$1 tries=0
	until pgs_psql >/dev/null 2>"$PGS_DIR/feed.err" <<SQL
BEGIN;
WITH e AS (SELECT g, '2026-03-01'::timestamptz + g * interval '10 ms' AS ts
		   FROM generate_series($j * $TX, ($j + 1) * $TX - 1) g),
r AS (INSERT INTO pv_ref SELECT g, g % 100, ts FROM e RETURNING *)
INSERT INTO pv SELECT * FROM r;
WITH e AS (SELECT g, '2026-03-01'::timestamptz + g * interval '10 ms' + (g % 7) * interval '1 s' AS ts
		   FROM generate_series($j * $TX, ($j + 1) * $TX - 1) g WHERE g % 3 <> 0),
r AS (INSERT INTO cart_ref SELECT g, ts FROM e RETURNING *)
INSERT INTO cart SELECT * FROM r;
WITH e AS (SELECT g, '2026-03-01'::timestamptz + g * interval '10 ms' + (g % 7) * interval '1 s'
				+ (g % 13) * interval '1 s' AS ts
		   FROM generate_series($j * $TX, ($j + 1) * $TX - 1) g WHERE g % 3 <> 0 AND g % 2 = 0),
r AS (INSERT INTO buy_ref SELECT g, ts FROM e RETURNING *)
INSERT INTO buy SELECT * FROM r;
COMMIT;
SQL
	do
		tries=$((tries + 1))
		[ $tries -gt 100 ] && { echo "chunk $j keeps failing:"; cat "$PGS_DIR/feed.err"; exit 1; }
		sleep 0.2
	done
}

chunks=$((EVENTS / TX))
max_state=0
for j in $(seq 0 $((chunks - 1))); do
	feed_chunk "$j"
	if [ "$j" = $((chunks / 3)) ]; then
		pid=$(pgs_batch_pid)
		[ -n "$pid" ] || { echo "no worker in a batch"; exit 1; }
		echo "kill -9 worker $pid during a batch"
		kill -9 "$pid"
		pgs_wait_up $VIEWS
	elif [ "$j" = $((2 * chunks / 3)) ]; then
		pm=$(head -1 "$PGS_DIR/data/postmaster.pid")
		echo "kill -9 postmaster $pm"
		kill -9 "$pm"
		pgs_restart_cluster
		pgs_wait_up $VIEWS
	else
		pgs_wait_for "SELECT bool_and(lag = 0) FROM stream.queries" 120
		s=$(q "SELECT max(state_rows) FROM stream.queries")
		[ "$s" -gt "$max_state" ] && max_state=$s
	fi
done
echo "largest state after a chunk: $max_state rows"

# a last event of each stream a day later moves the watermark past every bound
q "WITH r AS (INSERT INTO pv_ref VALUES (-1, -1, '2026-03-02') RETURNING *) INSERT INTO pv SELECT * FROM r" >/dev/null
q "WITH r AS (INSERT INTO cart_ref VALUES (-1, '2026-03-02') RETURNING *) INSERT INTO cart SELECT * FROM r" >/dev/null
q "WITH r AS (INSERT INTO buy_ref VALUES (-1, '2026-03-02') RETURNING *) INSERT INTO buy SELECT * FROM r" >/dev/null
pgs_wait_for "SELECT count(*) = $VIEWS FROM stream.queries
	WHERE lag = 0 AND watermark = '2026-03-01 23:59:30+00'" 300 ||
	{ q "SELECT name, rows_in, lag, watermark, status, last_error FROM stream.queries"; exit 1; }
for v in x3 x3_agg x3_left x3_stack x3_full x_self x_never; do
	q "REFRESH MATERIALIZED VIEW $v" >/dev/null
done

result=$(pgs_psql -At <<'SQL'
CREATE VIEW b3 AS SELECT v.k, v.ts AS vts, c.ts AS cts, b.ts AS bts
	FROM pv_ref v JOIN cart_ref c ON c.k = v.k AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds'
	JOIN buy_ref b ON b.k = c.k AND b.ts BETWEEN c.ts AND c.ts + interval '10 seconds';
CREATE VIEW b3_agg AS SELECT stream.tumble(vts, '10 seconds') AS w, count(*) AS n, max(bts) AS last_buy
	FROM b3 WHERE vts < '2026-03-01 23:00' GROUP BY 1;
CREATE VIEW b3_left AS SELECT v.k, v.ts AS vts, c.ts AS cts, b.ts AS bts
	FROM pv_ref v LEFT JOIN (cart_ref c JOIN buy_ref b ON b.k = c.k AND b.ts BETWEEN c.ts AND c.ts + interval '10 seconds')
	ON c.k = v.k AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds';
CREATE VIEW b3_stack AS SELECT v.k, v.ts AS vts, c.ts AS cts, b.ts AS bts
	FROM pv_ref v LEFT JOIN cart_ref c ON c.k = v.k AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds'
	LEFT JOIN buy_ref b ON b.k = c.k AND b.ts BETWEEN c.ts AND c.ts + interval '10 seconds';
CREATE VIEW b3_full AS SELECT v.k AS vk, v.ts AS vts, c.k AS ck, c.ts AS cts, b.k AS bk, b.ts AS bts
	FROM pv_ref v FULL JOIN cart_ref c ON c.k = v.k AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds'
	FULL JOIN buy_ref b ON b.k = c.k AND b.ts BETWEEN c.ts AND c.ts + interval '10 seconds';
CREATE VIEW b_self AS SELECT a.k, a.u, a.ts AS ats, b.ts AS bts
	FROM pv_ref a LEFT JOIN pv_ref b ON b.u = a.u AND b.ts > a.ts AND b.ts <= a.ts + interval '1.5 seconds'
	WHERE a.k >= 0;	-- (the last view, a day later, is not NULL-padded yet)
CREATE VIEW b_never AS SELECT v.k, v.u, c.ts AS cts
	FROM pv_ref v LEFT JOIN cart_ref c ON c.k = v.k AND v.u % 2 = 0 AND c.ts BETWEEN v.ts AND v.ts + interval '5 seconds';
SELECT 'rows ' || (SELECT count(*) FROM x3) || ' ' || (SELECT count(*) FROM x3_agg) || ' '
	|| (SELECT count(*) FROM x3_left WHERE cts IS NULL) || ' '
	|| (SELECT count(*) FROM x3_stack WHERE cts IS NULL) || ' '
	|| (SELECT count(*) FROM x3_stack WHERE cts IS NOT NULL AND bts IS NULL) || ' '
	|| (SELECT count(*) FROM x_self) || ' ' || (SELECT count(*) FROM x_never);
SELECT 'x3 ' || count(*) FROM ((TABLE x3 EXCEPT ALL TABLE b3) UNION ALL (TABLE b3 EXCEPT ALL TABLE x3)) d;
SELECT 'x3_agg ' || count(*) FROM ((TABLE x3_agg EXCEPT ALL TABLE b3_agg)
	UNION ALL (TABLE b3_agg EXCEPT ALL TABLE x3_agg)) d;
-- (the last view row, of a day later, is not NULL-padded yet)
SELECT 'x3_left ' || count(*) FROM ((TABLE x3_left EXCEPT ALL TABLE b3_left)
	UNION ALL (TABLE b3_left EXCEPT ALL TABLE x3_left)) d;
SELECT 'x3_stack ' || count(*) FROM ((TABLE x3_stack EXCEPT ALL TABLE b3_stack)
	UNION ALL (TABLE b3_stack EXCEPT ALL TABLE x3_stack)) d;
SELECT 'x3_full ' || count(*) FROM ((TABLE x3_full EXCEPT ALL TABLE b3_full)
	UNION ALL (TABLE b3_full EXCEPT ALL TABLE x3_full)) d;
SELECT 'full ' || (SELECT count(*) FROM x3_full WHERE vts IS NULL AND cts IS NOT NULL) || ' '
	|| (SELECT count(*) FROM x3_full WHERE cts IS NULL AND bts IS NOT NULL) || ' '
	|| (SELECT count(*) FROM x3_full WHERE cts IS NULL AND vts IS NOT NULL);
SELECT 'x_self ' || count(*) FROM ((TABLE x_self EXCEPT ALL TABLE b_self)
	UNION ALL (TABLE b_self EXCEPT ALL TABLE x_self)) d;
SELECT 'x_never ' || count(*) FROM ((TABLE x_never EXCEPT ALL TABLE b_never)
	UNION ALL (TABLE b_never EXCEPT ALL TABLE x_never)) d;
SELECT 'late ' || sum(rows_late) FROM stream.queries;
SELECT 'state ' || string_agg(name || ' ' || state_rows_by_stream::jsonb::text, ', ' ORDER BY name::text)
	FROM stream.queries;
SQL
)
echo "$result"
for v in x3 x3_agg x3_left x3_stack x3_full x_self x_never; do
	grep -q <<<"$result" "^$v 0$" || { echo "$v differs from its batch query over the reference tables"; exit 1; }
done
grep -q <<<"$result" "^late 0$" || { echo "rows were late"; exit 1; }
# the views are not empty: joined rows, windows, matches and NULL-padded
# rows (of the stacked joins: padded for both, and for the buy only)
echo "$result" | grep -Eq '^rows [1-9][0-9]* [1-9][0-9]* [1-9][0-9]* [1-9][0-9]* [1-9][0-9]* [1-9][0-9]* [1-9][0-9]*$' || { echo "a view is empty"; exit 1; }
# only the last events are left (x_never keeps no odd user's view; the
# last one's user is -1, odd: nothing of pv)
# the FULL joins: carts without a view, buys alone, views without a cart
echo "$result" | grep -Eq '^full [1-9][0-9]* [1-9][0-9]* [1-9][0-9]*$' || { echo "x3_full pads no row of a side"; exit 1; }
grep -q <<<"$result" '^state x3 {"pv": 1, "buy": 1, "cart": 1}, x3_agg {"pv": 1, "buy": 1, "cart": 1}, x3_full {"pv": 1, "buy": 1, "cart": 1}, x3_left {"pv": 1, "buy": 1, "cart": 1}, x3_stack {"pv": 1, "buy": 1, "cart": 1}, x_never {"pv": 0, "cart": 1}, x_self {"pv": 1}$' ||
	{ echo "the states do not end with the last events only"; exit 1; }
# bounded: a view is kept 15 s after its time and 30 s of watermark (4,500
# of them), carts 40 s (2,700), buys 30 s (1,000), plus a chunk (50 s)
[ "$max_state" -le 25000 ] || { echo "$max_state rows kept: the state is not bounded by the watermark"; exit 1; }
echo "every view equals its batch query, and the state is bounded"
