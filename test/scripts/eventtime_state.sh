#!/usr/bin/env bash
# Event time over a long run, through the workers: 3 million events with
# advancing, slightly shuffled event time go into per-key tumbling and
# sliding windows and session windows in update and append mode. The state must stay bounded
# (it holds only windows the watermark has not closed) while the views
# grow; a worker is killed with kill -9 on the way; at the end the views
# equal the same queries run as a batch over the same events (append
# mode: the windows the watermark has closed), and the final windows came
# out through the workers' own batches without new data, with no REFRESH.
# Then rows too late for their window are dropped and counted.
source "$(dirname "$0")/../lib.sh"
trap pgs_stop_cluster EXIT
pgs_start_cluster

q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '30 seconds');
CREATE TABLE ev_ref (k int, ts timestamptz);
CREATE MATERIALIZED VIEW ev_update WITH (max_batch_rows = 20000) AS
	SELECT k, stream.tumble(ts, '1 minute') AS minute, count(*) AS n
	FROM ev GROUP BY k, minute;
CREATE MATERIALIZED VIEW ev_append WITH (max_batch_rows = 20000, output_mode = 'append') AS
	SELECT k, stream.tumble(ts, '1 minute') AS minute, count(*) AS n
	FROM ev GROUP BY k, minute;
CREATE MATERIALIZED VIEW ev_hop WITH (max_batch_rows = 20000, output_mode = 'append') AS
	SELECT w, count(*) AS n, min(ts) AS first
	FROM ev, stream.hop(ts, '2 minutes', '1 minute') AS w GROUP BY w;
-- sessions of gap 1 s; a key has an event every 0.5 s on average, and
-- none in one second of every 20
CREATE MATERIALIZED VIEW ev_sess WITH (max_batch_rows = 20000) AS
	SELECT k, stream.session(ts, '1 second') AS s, count(*) AS n
	FROM ev WHERE extract(second FROM ts)::int % 20 <> 19 GROUP BY k, s;
CREATE MATERIALIZED VIEW ev_sess_append WITH (max_batch_rows = 20000, output_mode = 'append') AS
	SELECT k, stream.session(ts, '1 second') AS s, count(*) AS n
	FROM ev WHERE extract(second FROM ts)::int % 20 <> 19 GROUP BY k, s;
SQL
pgs_wait_for "SELECT count(*) = 5 FROM stream.queries WHERE status = 'running'"

# 50 keys; one event every 10 ms, 500 minutes in all; each event up to
# 10 s early or late (the watermark allows 30 s)
chunk=200000
chunks=15
max_state=0
max_sess=0
for part in $(seq 0 $((chunks - 1))); do
	# in transactions of 10,000 events, as a stream is fed
	for sub in $(seq 0 19); do
		lo=$((part * chunk + sub * 10000 + 1))
		echo "WITH r AS (INSERT INTO ev_ref
			SELECT (i % 50)::int, '2026-05-01'::timestamptz + i * interval '10 ms'
				+ ((i::bigint * 7919) % 2001 - 1000) * interval '10 ms'
			FROM generate_series($lo, $((lo + 9999))) i RETURNING *)
			INSERT INTO ev SELECT * FROM r;"
	done | pgs_psql >/dev/null
	if [ "$part" = 7 ]; then
		pid=$(q "SELECT worker_pid FROM stream.queries WHERE name = 'ev_append'::regclass")
		kill -9 "$pid"
		echo "killed the worker of ev_append ($pid)"
		# the server restarts all its processes: wait for a new worker
		pgs_wait_for "SELECT worker_pid <> $pid FROM stream.queries WHERE name = 'ev_append'::regclass" 60
	fi
	pgs_wait_for "SELECT bool_and(rows_in = $(((part + 1) * chunk)) AND lag = 0) FROM stream.queries" 300
	# the largest state any batch of this chunk left
	s=$(q "SELECT max(state_rows) FROM stream.progress WHERE name::text NOT LIKE 'ev\_sess%'")
	[ "$s" -gt "$max_state" ] && max_state=$s
	s=$(q "SELECT max(state_rows) FROM stream.progress WHERE name::text LIKE 'ev\_sess%'")
	[ "$s" -gt "$max_sess" ] && max_sess=$s
	echo "events $(((part + 1) * chunk)): state_rows $(q "SELECT string_agg(name || '=' || state_rows, ' ' ORDER BY name::text) FROM stream.queries"), largest after a batch so far: $max_state (windows), $max_sess (sessions)"
done

# the final windows come out without any REFRESH: the workers' no-data batches
pgs_wait_for "SELECT (SELECT max(minute) + interval '2 minutes' FROM ev_append) > watermark
	FROM stream.queries WHERE name = 'ev_append'::regclass" 60
pgs_wait_for "SELECT (SELECT max(w) + interval '3 minutes' FROM ev_hop) > watermark
	FROM stream.queries WHERE name = 'ev_hop'::regclass" 60

result=$(pgs_psql -At <<'SQL'
SELECT 'watermark ' || ((SELECT max(ts) - interval '30 seconds' FROM ev_ref) = min(watermark)
	AND min(watermark) = max(watermark)) FROM stream.queries;
SELECT 'views ' || (SELECT count(*) FROM ev_update) || ' ' || (SELECT count(*) FROM ev_append)
	|| ' ' || (SELECT count(*) FROM ev_hop);
CREATE VIEW batch_tumble AS SELECT k, stream.tumble(ts, '1 minute') AS minute, count(*) AS n
	FROM ev_ref GROUP BY 1, 2;
CREATE VIEW batch_hop AS SELECT w, count(*) AS n, min(ts) AS first
	FROM ev_ref, stream.hop(ts, '2 minutes', '1 minute') AS w GROUP BY w;
CREATE VIEW wm AS SELECT watermark FROM stream.queries WHERE name = 'ev_append'::regclass;
SELECT 'ev_update ' || count(*) FROM (
	(SELECT * FROM ev_update EXCEPT ALL SELECT * FROM batch_tumble)
	UNION ALL (SELECT * FROM batch_tumble EXCEPT ALL SELECT * FROM ev_update)) d;
SELECT 'ev_append ' || count(*) FROM (
	(SELECT * FROM ev_append EXCEPT ALL
	 SELECT * FROM batch_tumble WHERE minute + interval '1 minute' <= (SELECT watermark FROM wm))
	UNION ALL
	(SELECT * FROM batch_tumble WHERE minute + interval '1 minute' <= (SELECT watermark FROM wm)
	 EXCEPT ALL SELECT * FROM ev_append)) d;
SELECT 'ev_hop ' || count(*) FROM (
	(SELECT * FROM ev_hop EXCEPT ALL
	 SELECT * FROM batch_hop WHERE w + interval '2 minutes' <= (SELECT watermark FROM wm))
	UNION ALL
	(SELECT * FROM batch_hop WHERE w + interval '2 minutes' <= (SELECT watermark FROM wm)
	 EXCEPT ALL SELECT * FROM ev_hop)) d;
CREATE VIEW batch_sess AS
	SELECT k, tstzrange(min(ts), max(ts) + interval '1 second') AS s, count(*) AS n
	FROM (SELECT *, sum(new) OVER (PARTITION BY k ORDER BY ts) AS sid
		  FROM (SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY k ORDER BY ts) < interval '1 second'
							   THEN 0 ELSE 1 END AS new
				FROM ev_ref WHERE extract(second FROM ts)::int % 20 <> 19) a) b
	GROUP BY k, sid;
SELECT 'ev_sess ' || count(*) FROM (
	(SELECT * FROM ev_sess EXCEPT ALL SELECT * FROM batch_sess)
	UNION ALL (SELECT * FROM batch_sess EXCEPT ALL SELECT * FROM ev_sess)) d;
SELECT 'ev_sess_append ' || count(*) FROM (
	(SELECT * FROM ev_sess_append EXCEPT ALL
	 SELECT * FROM batch_sess WHERE upper(s) <= (SELECT watermark FROM wm))
	UNION ALL
	(SELECT * FROM batch_sess WHERE upper(s) <= (SELECT watermark FROM wm)
	 EXCEPT ALL SELECT * FROM ev_sess_append)) d;
SELECT 'sessions ' || count(*) FROM ev_sess;
SELECT 'late ' || sum(rows_late) FROM stream.queries;
SELECT 'no-data batches ' || count(*) FROM stream.progress WHERE rows_in = 0 AND rows_out > 0;
SQL
)
echo "$result"
echo "largest state after any batch: $max_state (views hold $(q "SELECT count(*) FROM ev_update") rows)"
echo "largest session state after any batch: $max_sess (the view holds $(q "SELECT count(*) FROM ev_sess") sessions)"
killed=$(grep -c 'pg_stream worker.*was terminated by signal 9' "$PGS_DIR/log" || true)
echo "workers killed: $killed"

# too late: 1,000 events in windows closed long ago, and 10 in open ones
q "INSERT INTO ev SELECT i % 50, '2026-05-01 00:05'::timestamptz + i * interval '1 ms'
	FROM generate_series(1, 1000) i" >/dev/null
q "WITH r AS (INSERT INTO ev_ref SELECT i, (SELECT max(ts) FROM ev_ref) FROM generate_series(1, 10) i RETURNING *)
	INSERT INTO ev SELECT * FROM r" >/dev/null
pgs_wait_for "SELECT bool_and(lag = 0 AND rows_in = $((chunk * chunks + 1010))) FROM stream.queries" 60
late=$(q "SELECT string_agg(name || '=' || rows_late, ' ' ORDER BY name::text) FROM stream.queries")
echo "rows_late: $late"
update_diff=$(q "SELECT count(*) FROM ((SELECT * FROM ev_update EXCEPT ALL SELECT * FROM batch_tumble)
	UNION ALL (SELECT * FROM batch_tumble EXCEPT ALL SELECT * FROM ev_update)) d")
echo "ev_update after late rows: $update_diff differences"

# a rate source (rows delivered through a tuplestore, not packed chunks):
# 1,000 rows a second, so every whole one-second window holds 1,000 rows
q "CREATE FOREIGN TABLE r (ts timestamptz, value bigint) SERVER rate
	OPTIONS (rows_per_second '1000', event_time 'ts', watermark '1 second')" >/dev/null
q "CREATE MATERIALIZED VIEW per_second WITH (output_mode = 'append') AS
	SELECT stream.tumble(ts, '1 second') AS s, count(*) AS n FROM r GROUP BY 1" >/dev/null
pgs_wait_for "SELECT count(*) >= 4 FROM per_second" 30
rate=$(q "SELECT count(*) || ' windows, ' || count(*) FILTER (WHERE n = 1000) || ' of 1000 rows'
	FROM per_second WHERE s > (SELECT min(s) FROM per_second)")
echo "rate source, append mode: $rate after the first (partial) one"

grep -q <<<"$result" "^watermark true$"
grep -q <<<"$result" "^ev_update 0$"
grep -q <<<"$result" "^ev_append 0$"
grep -q <<<"$result" "^ev_hop 0$"
grep -q <<<"$result" "^ev_sess 0$"
grep -q <<<"$result" "^ev_sess_append 0$"
grep -q <<<"$result" "^late 0$"
[ "$(echo "$result" | sed -n 's/^no-data batches //p')" -gt 0 ]
[ "$killed" -ge 1 ]
# bounded: a batch covers at most 20,000 events = 200 s = at most 5 open
# minutes per key (and 50 keys), plus what the 30 s watermark keeps open
[ "$max_state" -le 400 ]
[ "$(q "SELECT count(*) FROM ev_update")" -ge 25000 ]
# sessions: a batch's 200 s, the watermark's 30 s and 10 s of disorder hold
# at most 240 sessions of a key open (a session lasts at least the 1 s gap)
[ "$max_sess" -le 12000 ]
[ "$(q "SELECT count(*) FROM ev_sess")" -ge 300000 ]
# each late event was dropped from its window (ev_hop: from both of them;
# the sessions: each is before the watermark)
[ "$late" = "ev_append=1000 ev_hop=2000 ev_sess=1000 ev_sess_append=1000 ev_update=1000" ]
[ "$update_diff" = 0 ]
n=${rate%% windows*}
[ "$rate" = "$n windows, $n of 1000 rows" ]
