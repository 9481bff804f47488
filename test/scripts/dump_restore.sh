#!/usr/bin/env bash
# pg_dump and restore of a database with streams, a derived view and
# continuous views (per-key count/sum/avg, a tumbling window, a global
# aggregate, an append view over a derived view, a join with HAVING,
# SELECT DISTINCT and count(DISTINCT), whose seen keys are restored, a
# manual-trigger view and a stopped view, both with unread input; and
# windows over event time with a watermark, and session windows, in
# append and update mode, some final and evicted, some open; and an
# append view with retention, whose old windows go before and after the
# restore; and continuous views reading continuous views, big_count over
# big and tick_roll over tick_append's windows, through their output
# streams).
#
# The dumps are taken while sessions insert into the stream and into a
# reference table in the same transactions, and while the workers run
# batches. They are restored three ways:
#   r1: pg_restore into another database of the same cluster;
#   r2: pg_dump | psql into a second cluster whose transaction ids are far
#       behind the first's (the positions must be renumbered);
#   r3: pg_restore -j 2 into that second cluster.
# In each, every view must equal its query over the restored reference
# table (exact equality: nothing lost, nothing counted twice), then keep
# following new input, exactly.
source "$(dirname "$0")/../lib.sh"

A_DIR="" B_DIR=""
cleanup() {
	[ -n "$B_DIR" ] && PGS_DIR=$B_DIR pgs_stop_cluster
	[ -n "$A_DIR" ] && PGS_DIR=$A_DIR pgs_stop_cluster
	[ -n "${PGS_KEEP:-}" ] || rm -rf "$WORK"
}
WORK=$(mktemp -d /tmp/pgs_dump.XXXXXX)
chmod 755 "$WORK"
trap cleanup EXIT

# each cluster runs the views of two databases (src and r1; r2 and r3): a worker each
pgs_start_cluster "max_worker_processes = 48"
A_DIR=$PGS_DIR A_PORT=$PGS_PORT
unset PGS_DIR PGS_PORT
pgs_start_cluster "max_worker_processes = 48"
B_DIR=$PGS_DIR B_PORT=$PGS_PORT

# on cluster A or B, database $1
on() {
	local c=$1 db=$2
	shift 2
	if [ "$c" = A ]; then
		PGS_DIR=$A_DIR PGS_PORT=$A_PORT "$@" -d "$db"
	else
		PGS_DIR=$B_DIR PGS_PORT=$B_PORT "$@" -d "$db"
	fi
}
q() { on "$1" "$2" pgs_psql -At -c "$3"; }
wait_for() {
	local c=$1 db=$2 sql=$3 i=0
	until [ "$(q "$c" "$db" "$sql")" = t ]; do
		i=$((i + 1))
		[ $i -le 600 ] || { echo "timed out on $c/$db: $sql" >&2; return 1; }
		sleep 0.1
	done
}
pgbench() {
	local c=$1
	shift
	if [ "$c" = A ]; then
		"$PG_BIN/pgbench" -h "$A_DIR" -p "$A_PORT" -U postgres -n "$@"
	else
		"$PG_BIN/pgbench" -h "$B_DIR" -p "$B_PORT" -U postgres -n "$@"
	fi
}

# the session windows of ticks (gap 25 seconds, a tick of a key every 21;
# one minute in four without ticks) in plain SQL: a tick at least the gap
# after the previous one of its key starts a session
SESSIONS="SELECT k, tstzrange(min(ts), max(ts) + interval '25 seconds') AS s, count(*) AS n
	FROM (SELECT *, sum(new) OVER (PARTITION BY k ORDER BY ts) AS sid
		FROM (SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY k ORDER BY ts) < interval '25 seconds'
			THEN 0 ELSE 1 END AS new
			FROM ref_ticks WHERE extract(minute FROM ts)::int % 4 <> 0) a) b
	GROUP BY k, sid"
REF_TICK_APPEND="SELECT k, stream.tumble(ts, '10 minutes') AS w, count(*) AS n FROM ref_ticks GROUP BY 1, 2
		HAVING stream.tumble(ts, '10 minutes') + interval '10 minutes' <= (SELECT max(ts) - interval '5 minutes' FROM ref_ticks)"
# each view and its query over the reference table
declare -A REF=(
	[per_key]="SELECT k, count(*) AS n, sum(v) AS s, avg(v) AS a FROM ref GROUP BY k"
	[per_min]="SELECT k, stream.tumble(ts, '1 minute') AS w, count(*) AS n FROM ref GROUP BY 1, 2"
	[total]="SELECT count(*) AS n, sum(v) AS s FROM ref"
	[big]="SELECT k, v, ts FROM ref WHERE v > 50"
	[big_count]="SELECT k, count(*) AS n FROM ref WHERE v > 50 GROUP BY k"
	[named]="SELECT n.name, count(*) AS c FROM ref e JOIN names n USING (k) GROUP BY n.name HAVING count(*) > 5"
	[lagging]="SELECT k, count(*) AS n FROM ref GROUP BY k"
	[uniq]="SELECT DISTINCT k, v FROM ref"
	[dv]="SELECT k, count(DISTINCT v) AS dv FROM ref GROUP BY k"
	[key_mean]="SELECT avg(n) AS a, max(n) AS most, count(*) AS keys FROM (SELECT k, count(*) AS n FROM ref GROUP BY k) x"
	[key_hist]="SELECT n, count(*) AS keys, sum(k) AS s, avg(k) AS a FROM (SELECT k, count(*) AS n FROM ref GROUP BY k) x GROUP BY n"
	[tick_update]="SELECT w, count(*) AS n FROM ref_ticks, stream.hop(ts, '10 minutes', '5 minutes') AS w GROUP BY w"
	[tick_append]="$REF_TICK_APPEND"
	[sess_update]="SELECT * FROM ($SESSIONS) s"
	[tick_keep]="SELECT k, stream.tumble(ts, '5 minutes') AS w, count(*) AS n FROM ref_ticks GROUP BY 1, 2
		HAVING stream.tumble(ts, '5 minutes') + interval '5 minutes' BETWEEN
			(SELECT max(ts) - interval '20 minutes' FROM ref_ticks) AND (SELECT max(ts) - interval '5 minutes' FROM ref_ticks)"
	[tick_roll]="SELECT stream.tumble(w, '30 minutes') AS m, k, sum(n) AS n FROM (${REF_TICK_APPEND}) a GROUP BY 1, 2
		HAVING stream.tumble(w, '30 minutes') + interval '30 minutes' <= (SELECT max(w) FROM (${REF_TICK_APPEND}) a)"
	[sess_append]="SELECT s, k, n FROM ($SESSIONS) s WHERE upper(s) <= (SELECT max(ts) - interval '5 minutes' FROM ref_ticks)"
	[tick_top]="SELECT w, k, n FROM (SELECT w, k, n, rank() OVER (PARTITION BY w ORDER BY n DESC) AS r
		FROM (SELECT stream.tumble(ts, '10 minutes') AS w, k, count(*) AS n FROM ref_ticks GROUP BY 1, 2) x) y
		WHERE r = 1 AND w + interval '10 minutes' <= (SELECT max(ts) - interval '5 minutes' FROM ref_ticks)"
	[tick_q7]="SELECT T.k, T.ts FROM ref_ticks T
		JOIN (SELECT max(k) AS mk, stream.tumble(ts, '10 minutes') AS w FROM ref_ticks GROUP BY 2) M
		  ON T.k = M.mk AND stream.tumble(T.ts, '10 minutes') = M.w
		WHERE M.w + interval '10 minutes' <= (SELECT max(ts) - interval '5 minutes' FROM ref_ticks)"
	# rows with both streams joined at once, NULL-padded ones once the
	# watermark passes the tick's bound (30 s)
	[tick_outer3]="SELECT * FROM (SELECT a.k, a.ts AS ats, b.ts AS bts, c.ts AS cts FROM ref_ticks a
		LEFT JOIN ref_tick_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '30 seconds'
		LEFT JOIN ref_tick_c c ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '30 seconds') j
		WHERE (bts IS NOT NULL AND cts IS NOT NULL)
		   OR ats + interval '30 seconds' < (SELECT watermark FROM stream.queries WHERE name = 'tick_outer3'::regclass)"
	[tick_ojd]="SELECT x.nb % 4 AS g, count(*) AS n, sum(x.nc) AS snc, avg(x.nb) AS anb FROM (
		SELECT k, count(bts) AS nb, count(cts) AS nc FROM (SELECT a.k, a.ts AS ats, b.ts AS bts, c.ts AS cts FROM ref_ticks a
		LEFT JOIN ref_tick_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '30 seconds'
		LEFT JOIN ref_tick_c c ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '30 seconds') j
		WHERE (bts IS NOT NULL AND cts IS NOT NULL)
		   OR ats + interval '30 seconds' < (SELECT watermark FROM stream.queries WHERE name = 'tick_ojd'::regclass)
		GROUP BY k) x GROUP BY x.nb % 4"
	[tick_coarse]="SELECT stream.tumble(w, '30 minutes') AS w30, max(n) AS maxn, sum(n) AS total
		FROM (SELECT stream.tumble(ts, '10 minutes') AS w, k, count(*) AS n FROM ref_ticks GROUP BY 1, 2) x GROUP BY 1
		HAVING stream.tumble(w, '30 minutes') + interval '30 minutes' <= (SELECT max(ts) - interval '5 minutes' FROM ref_ticks)"
)
# ticks with event time from $3 to $4 (7 s apart), then the windows' REFRESH
ticks() {
	q "$1" "$2" "WITH r AS (INSERT INTO ref_ticks SELECT i % 3, '2026-01-01'::timestamptz + i * interval '7 seconds'
		FROM generate_series($3, $4) i RETURNING *) INSERT INTO ticks SELECT * FROM r" >/dev/null
	# a tick's b 3 s after it (every second tick), its c 10 s after (every fifth)
	q "$1" "$2" "WITH r AS (INSERT INTO ref_tick_b SELECT i % 3, '2026-01-01'::timestamptz + i * interval '7 seconds' + interval '3 seconds'
		FROM generate_series($3, $4) i WHERE i % 2 = 0 RETURNING *) INSERT INTO tick_b SELECT * FROM r" >/dev/null
	q "$1" "$2" "WITH r AS (INSERT INTO ref_tick_c SELECT i % 3, '2026-01-01'::timestamptz + i * interval '7 seconds' + interval '10 seconds'
		FROM generate_series($3, $4) i WHERE i % 5 = 0 RETURNING *) INSERT INTO tick_c SELECT * FROM r" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW tick_update" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW tick_append" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW tick_roll" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW tick_keep" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW sess_update" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW sess_append" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW tick_top" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW tick_coarse" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW tick_q7" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW tick_outer3" >/dev/null
	q "$1" "$2" "REFRESH MATERIALIZED VIEW tick_ojd" >/dev/null
}

# every view equals its query over ref, row for row
check_exact() {
	local c=$1 db=$2 what=$3 v bad=0 d
	for v in "${!REF[@]}"; do
		d=$(q "$c" "$db" "SELECT count(*) FROM ((TABLE $v EXCEPT ALL (${REF[$v]}))
			UNION ALL ((${REF[$v]}) EXCEPT ALL TABLE $v)) d")
		if [ "$d" != 0 ]; then
			echo "MISMATCH in $c/$db ($what): $v differs from its query over ref in $d rows" >&2
			bad=1
		fi
	done
	[ $bad = 0 ] || exit 1
	echo "$c/$db $what: all ${#REF[@]} views exact ($(q "$c" "$db" "SELECT count(*) FROM ref") rows)"
}

cat >"$WORK/insert.sql" <<'SQL'
\set k random(1, 50)
\set v random(1, 100)
BEGIN;
INSERT INTO events SELECT :k + i % 3, :v + i, now() - i * interval '7 seconds' FROM generate_series(1, 20) i;
INSERT INTO ref SELECT :k + i % 3, :v + i, now() - i * interval '7 seconds' FROM generate_series(1, 20) i;
END;
SQL
echo 'SELECT txid_current();' >"$WORK/burn.sql"

echo "cluster A: a database with streams and continuous views"
q A postgres "CREATE DATABASE src" >/dev/null
on A src pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE events (k int, v numeric, ts timestamptz) SERVER stream;
CREATE TABLE ref (k int, v numeric, ts timestamptz);
CREATE TABLE names (k int PRIMARY KEY, name text);
INSERT INTO names SELECT i, 'name' || i % 10 FROM generate_series(1, 60) i;
CREATE VIEW big_events AS SELECT * FROM events WHERE v > 50;
CREATE MATERIALIZED VIEW per_key AS SELECT k, count(*) AS n, sum(v) AS s, avg(v) AS a FROM events GROUP BY k;
CREATE MATERIALIZED VIEW per_min AS SELECT k, stream.tumble(ts, '1 minute') AS w, count(*) AS n FROM events GROUP BY 1, 2;
CREATE MATERIALIZED VIEW total AS SELECT count(*) AS n, sum(v) AS s FROM events;
CREATE MATERIALIZED VIEW big AS SELECT k, v, ts FROM big_events;
CREATE MATERIALIZED VIEW named AS SELECT n.name, count(*) AS c FROM events e JOIN names n USING (k) GROUP BY n.name HAVING count(*) > 5;
CREATE MATERIALIZED VIEW lagging WITH (trigger = 'manual') AS SELECT k, count(*) AS n FROM events GROUP BY k;
CREATE MATERIALIZED VIEW uniq AS SELECT DISTINCT k, v FROM events;
CREATE MATERIALIZED VIEW dv AS SELECT k, count(DISTINCT v) AS dv FROM events GROUP BY k;
-- an aggregation of an aggregation without a window (engine/reagg.c): no state of its own
CREATE MATERIALIZED VIEW key_mean AS
	SELECT avg(n) AS a, max(n) AS most, count(*) AS keys FROM (SELECT k, count(*) AS n FROM events GROUP BY k) x;
-- ... by deltas (engine/reagg_delta.c): its outer state rebuilt from the inner one at the restore
CREATE MATERIALIZED VIEW key_hist AS
	SELECT n, count(*) AS keys, sum(k) AS s, avg(k) AS a FROM (SELECT k, count(*) AS n FROM events GROUP BY k) x GROUP BY n;
CREATE FOREIGN TABLE ticks (k int, ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE TABLE ref_ticks (k int, ts timestamptz);
CREATE MATERIALIZED VIEW tick_update WITH (trigger = 'manual') AS
	SELECT w, count(*) AS n FROM ticks, stream.hop(ts, '10 minutes', '5 minutes') AS w GROUP BY w;
CREATE MATERIALIZED VIEW tick_append WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT k, stream.tumble(ts, '10 minutes') AS w, count(*) AS n FROM ticks GROUP BY 1, 2;
-- retention: the final windows of the last 15 minutes before the watermark
CREATE MATERIALIZED VIEW tick_keep WITH (trigger = 'manual', output_mode = 'append', retention = '15 minutes') AS
	SELECT k, stream.tumble(ts, '5 minutes') AS w, count(*) AS n FROM ticks GROUP BY 1, 2;
-- views over views: an aggregation of an append view's rows, and
-- 30-minute windows of tick_append's 10-minute ones
CREATE MATERIALIZED VIEW big_count AS SELECT k, count(*) AS n FROM big GROUP BY k;
CREATE MATERIALIZED VIEW tick_roll WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(w, '30 minutes') AS m, k, sum(n) AS n FROM tick_append GROUP BY 1, 2;
CREATE MATERIALIZED VIEW sess_update WITH (trigger = 'manual') AS
	SELECT k, stream.session(ts, '25 seconds') AS s, count(*) AS n
	FROM ticks WHERE extract(minute FROM ts)::int % 4 <> 0 GROUP BY 1, 2;
CREATE MATERIALIZED VIEW sess_append WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.session(ts, '25 seconds') AS s, k, count(*) AS n
	FROM ticks WHERE extract(minute FROM ts)::int % 4 <> 0 GROUP BY 1, 2;
-- queries over a windowed aggregation (engine/stage.c): top-N, a coarser window
CREATE MATERIALIZED VIEW tick_top WITH (trigger = 'manual') AS
	SELECT w, k, n FROM (SELECT w, k, n, rank() OVER (PARTITION BY w ORDER BY n DESC) AS r
		FROM (SELECT stream.tumble(ts, '10 minutes') AS w, k, count(*) AS n FROM ticks GROUP BY 1, 2) x) y
	WHERE r = 1;
CREATE MATERIALIZED VIEW tick_coarse WITH (trigger = 'manual') AS
	SELECT stream.tumble(w, '30 minutes') AS w30, max(n) AS maxn, sum(n) AS total
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, k, count(*) AS n FROM ticks GROUP BY 1, 2) x GROUP BY 1;
-- a windowed aggregation joined with its stream's rows (engine/stage_side.c):
-- the ticks of the open windows are kept in a side state, dumped too
CREATE MATERIALIZED VIEW tick_q7 WITH (trigger = 'manual') AS
	SELECT T.k, T.ts FROM ticks T
	JOIN (SELECT max(k) AS mk, stream.tumble(ts, '10 minutes') AS w FROM ticks GROUP BY 2) M
	  ON T.k = M.mk AND stream.tumble(T.ts, '10 minutes') = M.w;
-- a stacked outer join of three streams (engine/join.c): each state's
-- rows carry which joins they matched (_pgs_matched_to), dumped too
CREATE FOREIGN TABLE tick_b (k int, ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE FOREIGN TABLE tick_c (k int, ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE TABLE ref_tick_b (k int, ts timestamptz);
CREATE TABLE ref_tick_c (k int, ts timestamptz);
CREATE MATERIALIZED VIEW tick_outer3 WITH (trigger = 'manual') AS
	SELECT a.k, a.ts AS ats, b.ts AS bts, c.ts AS cts FROM ticks a
	LEFT JOIN tick_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '30 seconds'
	LEFT JOIN tick_c c ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '30 seconds';
-- by deltas over an aggregation of the stacked outer join
CREATE MATERIALIZED VIEW tick_ojd WITH (trigger = 'manual') AS
	SELECT x.nb % 4 AS g, count(*) AS n, sum(x.nc) AS snc, avg(x.nb) AS anb FROM (
		SELECT a.k, count(b.ts) AS nb, count(c.ts) AS nc FROM ticks a
		LEFT JOIN tick_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '30 seconds'
		LEFT JOIN tick_c c ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '30 seconds'
		GROUP BY a.k) x GROUP BY x.nb % 4;
SQL
ticks A src 1 400
# cluster A's transaction ids run far ahead of cluster B's
pgbench A -t 5000 -f "$WORK/burn.sql" src >/dev/null 2>&1
pgbench A -c 4 -t 50 -f "$WORK/insert.sql" src >/dev/null 2>&1
q A src "REFRESH MATERIALIZED VIEW lagging"
q A src "SELECT stream.stop('per_min')" >/dev/null
ticks A src 401 500
pgbench A -c 4 -t 50 -f "$WORK/insert.sql" src >/dev/null 2>&1
echo "dumping while 2 sessions insert and the workers run batches"
pgbench A -c 2 -T 4 -f "$WORK/insert.sql" src >/dev/null 2>&1 &
bench=$!
# the dumps start once the inserts run
before=$(q A src "SELECT count(*) FROM ref")
wait_for A src "SELECT count(*) > $before + 1000 FROM ref"
on A src "$PG_BIN/pg_dump" -h "$A_DIR" -p "$A_PORT" -U postgres -Fc -f "$WORK/src.dump"
on A src "$PG_BIN/pg_dump" -h "$A_DIR" -p "$A_PORT" -U postgres -f "$WORK/src.sql"
wait $bench
echo "dumped $(q A src "SELECT count(*) FROM ref") rows in ref; unread after the dumps: $(q A src "SELECT string_agg(name || '=' || lag, ' ' ORDER BY name) FROM stream.queries")"

q A src "SELECT stream.start('per_min')" >/dev/null
q A src "REFRESH MATERIALIZED VIEW lagging"
wait_for A src "SELECT bool_and(lag = 0) FROM stream.queries"
check_exact A src "the original"

echo "r1: pg_restore into another database of cluster A"
q A postgres "CREATE DATABASE r1" >/dev/null
on A r1 "$PG_BIN/pg_restore" -h "$A_DIR" -p "$A_PORT" -U postgres --exit-on-error "$WORK/src.dump"
echo "r2: pg_dump | psql into cluster B (xids $(q B postgres "SELECT txid_current()") there, $(q A src "SELECT txid_current()") in A)"
q B postgres "CREATE DATABASE r2" >/dev/null
on B r2 pgs_psql -o /dev/null <"$WORK/src.sql" 2>"$WORK/r2.err" || { cat "$WORK/r2.err"; exit 1; }
echo "r3: pg_restore -j 2 into cluster B"
q B postgres "CREATE DATABASE r3" >/dev/null
on B r3 "$PG_BIN/pg_restore" -h "$B_DIR" -p "$B_PORT" -U postgres -j 2 --exit-on-error "$WORK/src.dump"

for t in "A r1" "B r2" "B r3"; do
	set -- $t
	check_exact "$1" "$2" "just restored"
	# nothing was left to re-read, and nothing is waiting for a REFRESH
	[ "$(q "$1" "$2" "SELECT count(*) FROM stream.queries WHERE lag <> 0 OR last_error IS NOT NULL")" = 0 ] ||
		{ q "$1" "$2" "SELECT * FROM stream.queries"; exit 1; }
	status="big:running big_count:running dv:running key_hist:running key_mean:running lagging:running named:running per_key:running per_min:stopped sess_append:running sess_update:running tick_append:running tick_coarse:running tick_keep:running tick_ojd:running tick_outer3:running tick_q7:running tick_roll:running tick_top:running tick_update:running total:running uniq:running"
	[ "$(q "$1" "$2" "SELECT string_agg(name || ':' || status, ' ' ORDER BY name::text) FROM stream.queries")" = "$status" ] ||
		wait_for "$1" "$2" "SELECT string_agg(name || ':' || status, ' ' ORDER BY name::text) = '$status' FROM stream.queries"
	# the windows' watermark and state came back with them
	[ "$(q "$1" "$2" "SELECT string_agg(name || ':' || watermark::text || ':' || state_rows, ' ' ORDER BY name::text) FROM stream.queries WHERE name::text ~ '^(tick|sess)'")" = \
		"$(q A src "SELECT string_agg(name || ':' || watermark::text || ':' || state_rows, ' ' ORDER BY name::text) FROM stream.queries WHERE name::text ~ '^(tick|sess)'")" ] ||
		{ echo "watermark or state of the windows differ in $1/$2"; exit 1; }
	# retention's indexes on the window column came back (view and copy)
	[ "$(q "$1" "$2" "SELECT count(*) FROM pg_index i JOIN stream.cq c ON i.indrelid IN (c.view, c.rows_table)
		WHERE c.view OPERATOR(pg_catalog.=) 'tick_keep'::regclass AND pg_get_indexdef(i.indexrelid) ~ '\(w\)'")" = 2 ] ||
		{ echo "the indexes retention reads are missing in $1/$2"; exit 1; }
done
echo "every restored view resumed (per_min stays stopped, as it was dumped)"

for t in "A r1" "B r2" "B r3"; do
	set -- $t
	q "$1" "$2" "SELECT stream.start('per_min')" >/dev/null
	pgbench "$1" -c 2 -t 40 -f "$WORK/insert.sql" "$2" >/dev/null 2>&1
	ticks "$1" "$2" 501 800
	q "$1" "$2" "REFRESH MATERIALIZED VIEW lagging"
	wait_for "$1" "$2" "SELECT bool_and(lag = 0) FROM stream.queries"
	check_exact "$1" "$2" "after new input"
done

echo "the restored tables belong to their views again"
before=$(q B r2 "SELECT count(*) FROM pg_tables WHERE schemaname = 'stream' AND tablename ~ '^(state|rows|outer)_'")
q B r2 "DROP MATERIALIZED VIEW big CASCADE; DROP MATERIALIZED VIEW per_key"
after=$(q B r2 "SELECT count(*) FROM pg_tables WHERE schemaname = 'stream' AND tablename ~ '^(state|rows|outer)_'")
[ "$before" = 41 ] && [ "$after" = 36 ] || { echo "state and row tables: $before before DROP, $after after"; exit 1; }
echo "DROP took the views' state and row tables with them, big_count with big ($before -> $after)"
[ "$(q B r2 "SELECT count(*) FROM pg_class WHERE relname = 'big_out'")" = 0 ] ||
	{ echo "big's restored output stream outlived it"; exit 1; }

echo "a new continuous view in a restored database starts as usual"
q B r2 "CREATE MATERIALIZED VIEW per_key AS SELECT k, count(*) AS n, sum(v) AS s, avg(v) AS a FROM events GROUP BY k" >/dev/null
q B r2 "CREATE MATERIALIZED VIEW big AS SELECT k, v, ts FROM big_events" >/dev/null
q B r2 "TRUNCATE ref"
pgbench B -c 2 -t 20 -f "$WORK/insert.sql" r2 >/dev/null 2>&1
wait_for B r2 "SELECT bool_and(lag = 0) FROM stream.queries WHERE name IN ('per_key'::regclass, 'big'::regclass)"
for v in per_key big; do
	d=$(q B r2 "SELECT count(*) FROM ((TABLE $v EXCEPT ALL (${REF[$v]})) UNION ALL ((${REF[$v]}) EXCEPT ALL TABLE $v)) d")
	[ "$d" = 0 ] || { echo "new view $v differs in $d rows"; exit 1; }
done

echo "unread rows of a type created in the database (stored by OID) refuse to restore"
q A postgres "CREATE DATABASE typed" >/dev/null
on A typed pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE FOREIGN TABLE moods (m mood) SERVER stream;
CREATE MATERIALIZED VIEW per_mood WITH (trigger = 'manual') AS SELECT m, count(*) FROM moods GROUP BY m;
INSERT INTO moods VALUES ('ok'), ('happy'), ('ok');
SQL
on A typed "$PG_BIN/pg_dump" -h "$A_DIR" -p "$A_PORT" -U postgres -f "$WORK/typed.sql"
q B postgres "CREATE DATABASE typed" >/dev/null
if on B typed pgs_psql -o /dev/null <"$WORK/typed.sql" 2>"$WORK/typed.err"; then
	echo "restored unread enum rows"
	exit 1
fi
grep "ERROR" "$WORK/typed.err"
q A typed "REFRESH MATERIALIZED VIEW per_mood"
on A typed "$PG_BIN/pg_dump" -h "$A_DIR" -p "$A_PORT" -U postgres -f "$WORK/typed.sql"
q B postgres "CREATE DATABASE typed2" >/dev/null
on B typed2 pgs_psql -o /dev/null <"$WORK/typed.sql"
q B typed2 "INSERT INTO moods VALUES ('sad'), ('ok')"
q B typed2 "REFRESH MATERIALIZED VIEW per_mood"
[ "$(q B typed2 "SELECT string_agg(m || '=' || count, ' ' ORDER BY m) FROM per_mood")" = "sad=1 ok=3 happy=1" ] ||
	{ q B typed2 "TABLE per_mood"; exit 1; }
echo "once the view had read them, the dump restores and the view goes on"
echo "ok"
