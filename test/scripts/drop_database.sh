#!/usr/bin/env bash
# DROP DATABASE of a database whose continuous views are running works
# without FORCE: its manager and workers leave for the statement (the
# database is paused, bgw/shmem.c). With a session of a user still
# connected, the DROP fails as PostgreSQL's does, and the views run again
# afterwards. ALTER DATABASE ... RENAME and CREATE DATABASE ... TEMPLATE
# too. A view is fed continuously throughout.
source "$(dirname "$0")/../lib.sh"
trap 'touch "$PGS_DIR/stop"; wait 2>/dev/null || true; pgs_stop_cluster' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
qd() { pgs_psql -At -d "$1" -c "$2"; }
# the statements run from database postgres; the views are in dd
setup() {
	q "CREATE DATABASE $1" >/dev/null
	pgs_psql -d "$1" <<'SQL' >/dev/null
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE dd_s (k int) SERVER stream;
CREATE MATERIALIZED VIEW dd_a AS SELECT k % 5 AS k, count(*) AS c FROM dd_s GROUP BY 1;
CREATE MATERIALIZED VIEW dd_b AS SELECT k FROM dd_s WHERE k % 100 = 0;
SQL
	pgs_wait_for_db "$1" "SELECT count(*) = 2 FROM stream.queries WHERE status = 'running'"
}
pgs_wait_for_db() {
	local i=0
	while [ "$(qd "$1" "$2" 2>/dev/null)" != t ]; do
		i=$((i + 1)); [ $i -gt 300 ] && { echo "timed out waiting in $1 for: $2" >&2; return 1; }
		sleep 0.1
	done
}
feed() {
	( while [ ! -e "$PGS_DIR/stop" ] && [ ! -e "$PGS_DIR/stop_$1" ]; do
		qd "$1" "INSERT INTO dd_s SELECT generate_series(1, 100)" >/dev/null 2>&1 || true
		sleep 0.02
	  done ) &
}
workers() {
	q "SELECT count(*) FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid
		WHERE d.datname = '$1' AND a.backend_type IN ('pg_stream manager', 'pg_stream worker')"
}

echo "a user connected: DROP DATABASE fails, and the views run again"
setup dd
feed dd
pgs_wait_for_db dd "SELECT sum(c) > 0 FROM dd_a"
"$PG_BIN/psql" -X -q -h "$PGS_DIR" -p "$PGS_PORT" -U postgres -d dd -c "SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
pgs_wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'" 10
start=$(date +%s.%N)
out=$(q "DROP DATABASE dd" 2>&1) && { echo "the DROP went through"; exit 1; }
echo "$out"
echo "$out" | grep -q 'is being accessed by other users' || { echo "not the expected error"; exit 1; }
echo "$out" | grep -q 'There is 1 other session using the database' ||
	{ echo "the views' workers were counted as sessions"; exit 1; }
echo "DROP failed after $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
before=$(qd dd "SELECT batches FROM stream.queries WHERE name = 'dd_a'::regclass")
pgs_wait_for_db dd "SELECT count(*) = 2 FROM stream.queries WHERE status = 'running'"
pgs_wait_for_db dd "SELECT batches > $before FROM stream.queries WHERE name = 'dd_a'::regclass"
echo "the views run again: $(workers dd) pg_stream processes in dd"
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'" >/dev/null
wait "$holder" 2>/dev/null || true

echo "no user connected: DROP DATABASE (no FORCE) goes through while the views run"
touch "$PGS_DIR/stop_dd"; wait
feed dd		# (fails once dd is gone)
[ "$(workers dd)" -ge 2 ] || { echo "the views' workers are not running"; exit 1; }
start=$(date +%s.%N)
# the feeder may be connected at that moment: try a few times
ok=
for i in 1 2 3 4 5; do
	touch "$PGS_DIR/stop_dd"
	if q "DROP DATABASE dd" 2>"$PGS_DIR/drop.err"; then ok=1; break; fi
	cat "$PGS_DIR/drop.err"
	grep -q 'is being accessed by other users' "$PGS_DIR/drop.err" || exit 1
done
[ -n "$ok" ] || { echo "DROP DATABASE failed"; exit 1; }
echo "dropped in $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
[ "$(q "SELECT count(*) FROM pg_database WHERE datname = 'dd'")" = 0 ] || exit 1
wait

echo "ALTER DATABASE ... RENAME, CREATE DATABASE ... TEMPLATE"
rm -f "$PGS_DIR/stop_dd"
setup dd2
q "ALTER DATABASE dd2 RENAME TO dd3"
pgs_wait_for_db dd3 "SELECT count(*) = 2 FROM stream.queries WHERE status = 'running'"
q "CREATE DATABASE dd4 TEMPLATE dd3"
pgs_wait_for_db dd3 "SELECT count(*) = 2 FROM stream.queries WHERE status = 'running'"
pgs_wait_for_db dd4 "SELECT count(*) = 2 FROM stream.queries WHERE status = 'running'"
qd dd4 "INSERT INTO dd_s SELECT generate_series(1, 100)"
pgs_wait_for_db dd4 "SELECT sum(c) = 100 FROM dd_a"
echo "renamed and copied; the views run in both"

echo "a role that does not own the database stops nothing"
q "CREATE ROLE dd_other LOGIN CREATEDB"
pids=$(qd dd3 "SELECT string_agg(worker_pid::text, ',' ORDER BY name::text) FROM stream.queries")
out=$("$PG_BIN/psql" -X -At -h "$PGS_DIR" -p "$PGS_PORT" -U dd_other -d postgres -c "DROP DATABASE dd3" 2>&1) &&
	{ echo "dd_other dropped dd3"; exit 1; }
echo "$out" | grep -q 'must be owner of database dd3' || { echo "$out"; exit 1; }
[ "$(qd dd3 "SELECT string_agg(worker_pid::text, ',' ORDER BY name::text) FROM stream.queries")" = "$pids" ] ||
	{ echo "the workers of dd3 were stopped"; exit 1; }
q "DROP DATABASE dd3"
q "DROP DATABASE dd4"
! grep -E 'TRAP|server process .* was terminated by signal' "$PGS_DIR/log" || exit 1
echo ok
