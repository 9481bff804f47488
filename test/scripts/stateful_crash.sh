#!/usr/bin/env bash
# The stateful operators (deduplication, distinct counts, session
# windows, chained windowed aggregations) under crashes, over about a million events: a
# feeder inserts transactions of events into a stream (each also into a
# reference table, in the same transaction), one in ten events twice (a
# retrying producer), while the workers run, and the server is crashed:
# kill -9 of a worker in the middle of a batch, then of the postmaster.
# At the end each view must equal its query run as a batch over the
# reference table, exactly, and the state kept must be bounded by the
# watermark (keys of the last minutes, not of the whole history).
#
# usage: bash test/scripts/stateful_crash.sh [EVENTS=1000000]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-1000000}
TX=50000
trap 'stop_feeder; pgs_stop_cluster' EXIT
pgs_start_cluster "restart_after_crash = on" "max_wal_size = 2GB"
q() { pgs_psql -At -c "$1"; }

# events: id, user, ts (1 ms apart, up to 2 s out of order), v; the
# watermark is a minute behind, so no event is late
pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (id int, uid int, ts timestamptz, v int) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE TABLE ev_ref (seq bigserial, id int, uid int, ts timestamptz, v int);
-- the first of each id (a key lives until the watermark passes its ts + 1 minute)
CREATE MATERIALIZED VIEW x_once WITH (max_batch_rows = 100000) AS
	SELECT DISTINCT ON (id) id, uid, ts, v FROM ev;
-- distinct users per 10 seconds
CREATE MATERIALIZED VIEW x_users AS
	SELECT stream.tumble(ts, '10 seconds') AS w, count(*) AS n,
		count(DISTINCT uid) AS users, sum(DISTINCT v) AS sv
	FROM ev GROUP BY 1;
-- each user once a minute (the window among the keys)
CREATE MATERIALIZED VIEW x_active WITH (max_batch_rows = 200000) AS
	SELECT DISTINCT uid, stream.tumble(ts, '1 minute') AS m FROM ev;
-- dedup, then count, in append mode
CREATE MATERIALIZED VIEW x_counted WITH (output_mode = 'append') AS
	SELECT stream.tumble(ts, '10 seconds') AS w, count(*) AS n, sum(v) AS s
	FROM (SELECT DISTINCT ON (id) id, ts, v FROM ev) d GROUP BY 1;
-- sessions of each user, 4 seconds of inactivity apart
CREATE MATERIALIZED VIEW x_sessions AS
	SELECT uid, stream.session(ts, '4 seconds') AS s, count(*) AS n, sum(v) AS sv
	FROM ev GROUP BY 1, 2;
-- dedup, count per user and 10 seconds, then the busiest user's count and
-- the totals per minute (engine/stage.c: the 10-second groups stay until
-- their minute is final)
CREATE MATERIALIZED VIEW x_chain AS
	SELECT stream.tumble(w, '1 minute') AS m, max(n) AS maxn, sum(n) AS total, count(*) AS users
	FROM (SELECT stream.tumble(ts, '10 seconds') AS w, uid, count(*) AS n
		  FROM (SELECT DISTINCT ON (id) id, uid, ts FROM ev) d GROUP BY 1, 2) x
	GROUP BY 1;
SQL
VIEWS=6

feeder=""
# (a transaction that fails is tried again: the server may be down; one
# that fails 300 times, a minute, stops the test: crash recovery on a busy
# machine takes its time)
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
	SELECT g AS id, ((g::bigint * 7919) % 5000)::int AS uid,
		'2026-01-01'::timestamptz + g * interval '1 ms' + ((g * 31) % 2000) * interval '1 ms' AS ts,
		g % 1000 AS v
	FROM generate_series($j * $TX, ($j + 1) * $TX - 1) g
), r AS (
	INSERT INTO ev_ref (id, uid, ts, v)
	SELECT id, uid, ts, v FROM (
		SELECT id, uid, ts, v, 1 AS copy FROM e
		UNION ALL
		SELECT id, uid, ts + interval '500 ms', v + 1, 2 FROM e WHERE id % 10 = 0) c
	ORDER BY id / 1000, copy, id
	RETURNING id, uid, ts, v)
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
wait_up() { pgs_wait_up $VIEWS; }

rm -f "$PGS_DIR/fed" "$PGS_DIR/stop_feeder"
feed &
feeder=$!
pgs_wait_for "SELECT count(*) > $EVENTS / 5 FROM ev_ref" 300
pid=$(pgs_batch_pid)
[ -n "$pid" ] || { echo "no worker in a batch"; exit 1; }
echo "kill -9 worker $pid during a batch"
kill -9 "$pid"
wait_up
pgs_wait_for "SELECT count(*) > $EVENTS / 2 FROM ev_ref" 300
pm=$(head -1 "$PGS_DIR/data/postmaster.pid")
echo "kill -9 postmaster $pm"
kill -9 "$pm"
pgs_restart_cluster
wait_up
for i in $(seq 1 3000); do
	[ -e "$PGS_DIR/fed" ] && break
	sleep 0.1
done
[ -e "$PGS_DIR/fed" ] || { echo "the feeder did not finish"; exit 1; }
feeder=""

# a last event far ahead closes every window and expires every key
q "INSERT INTO ev VALUES (-1, -1, '2026-01-02', 0)"
q "INSERT INTO ev_ref (id, uid, ts, v) VALUES (-1, -1, '2026-01-02', 0)"
total=$(q "SELECT count(*) FROM ev_ref")
echo "$total events"
# every event read, and the no-data batches after the last watermark run
pgs_wait_for "SELECT count(*) = $VIEWS FROM stream.queries
	WHERE rows_in = $total AND watermark = '2026-01-01 23:59+00'" 600 ||
	{ q "SELECT name, rows_in, watermark, status, last_error FROM stream.queries"; exit 1; }
for v in x_once x_users x_active x_counted x_sessions x_chain; do
	q "REFRESH MATERIALIZED VIEW $v" >/dev/null
done

q "CREATE TABLE ref_sessions AS
	SELECT uid, tstzrange(min(ts), max(ts) + interval '4 seconds') AS s, count(*) AS n, sum(v) AS sv
	FROM (SELECT uid, ts, v, sum(new) OVER (PARTITION BY uid ORDER BY ts, seq) AS sid
		  FROM (SELECT uid, ts, v, seq,
					CASE WHEN ts - lag(ts) OVER (PARTITION BY uid ORDER BY ts, seq) < interval '4 seconds'
						 THEN 0 ELSE 1 END AS new
				FROM ev_ref) a) b
	GROUP BY uid, sid" >/dev/null
result=$(pgs_psql -At <<'SQL'
SELECT 'x_once ' || count(*) FROM (
	(TABLE x_once EXCEPT ALL (SELECT DISTINCT ON (id) id, uid, ts, v FROM ev_ref ORDER BY id, seq))
	UNION ALL ((SELECT DISTINCT ON (id) id, uid, ts, v FROM ev_ref ORDER BY id, seq) EXCEPT ALL TABLE x_once)) d;
SELECT 'x_users ' || count(*) FROM (
	(TABLE x_users EXCEPT ALL SELECT stream.tumble(ts, '10 seconds'), count(*), count(DISTINCT uid), sum(DISTINCT v) FROM ev_ref GROUP BY 1)
	UNION ALL (SELECT stream.tumble(ts, '10 seconds'), count(*), count(DISTINCT uid), sum(DISTINCT v) FROM ev_ref GROUP BY 1
			   EXCEPT ALL TABLE x_users)) d;
SELECT 'x_active ' || count(*) FROM (
	(TABLE x_active EXCEPT ALL SELECT DISTINCT uid, stream.tumble(ts, '1 minute') FROM ev_ref)
	UNION ALL (SELECT DISTINCT uid, stream.tumble(ts, '1 minute') FROM ev_ref EXCEPT ALL TABLE x_active)) d;
-- append: the windows final under the last watermark (all but the last event's)
SELECT 'x_counted ' || count(*) FROM (
	(TABLE x_counted EXCEPT ALL
	 SELECT stream.tumble(ts, '10 seconds'), count(*), sum(v) FROM
		(SELECT DISTINCT ON (id) id, ts, v FROM ev_ref ORDER BY id, seq) d
	 WHERE ts < '2026-01-02' GROUP BY 1)
	UNION ALL (SELECT stream.tumble(ts, '10 seconds'), count(*), sum(v) FROM
		(SELECT DISTINCT ON (id) id, ts, v FROM ev_ref ORDER BY id, seq) d
	 WHERE ts < '2026-01-02' GROUP BY 1 EXCEPT ALL TABLE x_counted)) d;
-- append: the minutes final under the last watermark
SELECT 'x_chain ' || count(*) FROM (
	(TABLE x_chain EXCEPT ALL
	 SELECT stream.tumble(w, '1 minute'), max(n), sum(n), count(*) FROM
		(SELECT stream.tumble(ts, '10 seconds') AS w, uid, count(*) AS n FROM
			(SELECT DISTINCT ON (id) id, uid, ts FROM ev_ref ORDER BY id, seq) d
		 WHERE ts < '2026-01-02' GROUP BY 1, 2) x GROUP BY 1)
	UNION ALL (SELECT stream.tumble(w, '1 minute'), max(n), sum(n), count(*) FROM
		(SELECT stream.tumble(ts, '10 seconds') AS w, uid, count(*) AS n FROM
			(SELECT DISTINCT ON (id) id, uid, ts FROM ev_ref ORDER BY id, seq) d
		 WHERE ts < '2026-01-02' GROUP BY 1, 2) x GROUP BY 1
	 EXCEPT ALL TABLE x_chain)) d;
-- sessions: a new one where a user's events are 4 seconds apart or more
SELECT 'x_sessions ' || count(*) FROM (
	(TABLE x_sessions EXCEPT ALL TABLE ref_sessions)
	UNION ALL (TABLE ref_sessions EXCEPT ALL TABLE x_sessions)) d;
SELECT 'late ' || sum(rows_late) FROM stream.queries;
-- the keys left: those of the last event (its id; its user and minute;
-- its window's values), not the history
SELECT 'state ' || string_agg(name || '=' || state_rows, ' ' ORDER BY name::text) FROM stream.queries;
SELECT 'seen ' || sum(n) FROM (
	SELECT (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', t), false, true, '')))[1]::text::int AS n
	FROM stream.cq, unnest(seen_tables) t) s;
SQL
)
echo "$result"
for v in x_once x_users x_active x_counted x_sessions x_chain; do
	grep -q <<<"$result" "^$v 0$" || { echo "$v differs from its batch query over the reference table"; exit 1; }
done
grep -q <<<"$result" "^late 0$" || { echo "rows were late"; exit 1; }
# each view keeps at most a few keys, and sessions
seen=$(echo "$result" | sed -n 's/^seen //p')
[ "$seen" -le 10 ] || { echo "$seen keys kept: the state is not bounded by the watermark"; exit 1; }
sessions=$(q "SELECT state_rows FROM stream.queries WHERE name = 'x_sessions'::regclass")
[ "$sessions" -le 2 ] || { echo "$sessions sessions kept: the state is not bounded by the watermark"; exit 1; }
# the chain keeps the last event's group and its id
chain=$(q "SELECT state_rows FROM stream.queries WHERE name = 'x_chain'::regclass")
[ "$chain" -le 2 ] || { echo "$chain rows kept by x_chain: the state is not bounded by the watermark"; exit 1; }
echo "every view equals its batch query, and the state is bounded"
