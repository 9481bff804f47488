#!/usr/bin/env bash
# DROP DATABASE of a database whose continuous views are running works
# without FORCE: its manager and workers leave for the statement (the
# database is paused, bgw/shmem.c).
# - A user's session feeds a stream of the database continuously and so
#   holds it open: the DROP fails as PostgreSQL's does, counting that one
#   session, not the workers, and the views run again afterwards.
# - With no user connected, the DROP goes through at once, though a
#   worker is in the middle of a (slow) batch.
# - ALTER DATABASE ... RENAME too. CREATE DATABASE ... TEMPLATE is not
#   paused (the copy's views would deliver to the same sinks): it fails
#   while the views run, and the views go on. A role that does not own
#   the database stops nothing, nor an owner without CREATEDB renaming it.
source "$(dirname "$0")/../lib.sh"
trap 'wait 2>/dev/null || true; pgs_stop_cluster' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
qd() { pgs_psql -At -d "$1" -c "$2"; }
pgs_wait_for_db() {
	local i=0
	while [ "$(qd "$1" "$2" 2>/dev/null)" != t ]; do
		i=$((i + 1)); [ $i -gt 300 ] && { echo "timed out waiting in $1 for: $2" >&2; return 1; }
		sleep 0.1
	done
}
running() { pgs_wait_for_db "$1" "SELECT count(*) = 3 FROM stream.queries WHERE status = 'running'"; }
# the statements run from database postgres; the views are in the one made here
setup() {
	q "CREATE DATABASE $1" >/dev/null
	pgs_psql -d "$1" <<'SQL' >/dev/null
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE dd_s (k int) SERVER stream;
CREATE MATERIALIZED VIEW dd_a AS SELECT k % 5 AS k, count(*) AS c FROM dd_s GROUP BY 1;
CREATE MATERIALIZED VIEW dd_b AS SELECT k FROM dd_s WHERE k % 100 = 0;
-- a view whose batches take a while: 2 ms a row
CREATE FOREIGN TABLE dd_slow_s (k int) SERVER stream;
CREATE FUNCTION dd_slow(int) RETURNS int LANGUAGE sql VOLATILE
	AS $$ SELECT $1 FROM pg_catalog.pg_sleep(0.002) $$;
CREATE MATERIALIZED VIEW dd_slow_v AS SELECT dd_slow(k) AS k FROM dd_slow_s;
-- a feeder: 100 rows every 20 ms, each in its transaction, for up to 60 s
CREATE PROCEDURE dd_feed() LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. 3000 LOOP
		INSERT INTO dd_s SELECT generate_series(1, 100);
		COMMIT;
		PERFORM pg_sleep(0.02);
	END LOOP;
END $$;
SQL
	running "$1"
}
workers() {
	q "SELECT count(*) FROM pg_stat_activity a JOIN pg_database d ON d.oid = a.datid
		WHERE d.datname = '$1' AND a.backend_type IN ('pg_stream manager', 'pg_stream worker')"
}

echo "a user's session feeds the views: DROP DATABASE fails, and they run again"
setup dd
pgs_psql -d dd -c "CALL dd_feed()" >/dev/null 2>&1 &
feeder=$!
pgs_wait_for_db dd "SELECT sum(c) > 0 FROM dd_a"
start=$(date +%s.%N)
out=$(q "DROP DATABASE dd" 2>&1) && { echo "the DROP went through"; exit 1; }
echo "$out"
grep -q <<<"$out" 'is being accessed by other users' || { echo "not the expected error"; exit 1; }
grep -q <<<"$out" 'There is 1 other session using the database' ||
	{ echo "the views' workers were counted as sessions"; exit 1; }
echo "DROP failed after $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
before=$(qd dd "SELECT rows_in FROM stream.queries WHERE name = 'dd_a'::regclass")
running dd
pgs_wait_for_db dd "SELECT rows_in > $before FROM stream.queries WHERE name = 'dd_a'::regclass"
echo "the views run again: $(workers dd) pg_stream processes in dd, dd_a past $before rows"
q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'CALL dd_feed()'" >/dev/null
wait "$feeder" 2>/dev/null || true
pgs_wait_for "SELECT count(*) = 0 FROM pg_stat_activity WHERE query = 'CALL dd_feed()'" 10

echo "no user connected: DROP DATABASE (no FORCE) goes through, a worker in a batch"
qd dd "INSERT INTO dd_slow_s SELECT generate_series(1, 1000)" >/dev/null
pgs_wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_stream worker'
	AND state = 'active' AND query = 'pg_stream batch of public.dd_slow_v'" 10
[ "$(workers dd)" = 4 ] || { echo "not a manager and 3 workers in dd"; exit 1; }
start=$(date +%s.%N)
q "DROP DATABASE dd" || { echo "DROP DATABASE failed"; exit 1; }
took=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
echo "dropped in $took s"
python3 -c "exit(0 if $took < 4 else 1)" || { echo "the DROP waited for the workers"; exit 1; }
[ "$(q "SELECT count(*) FROM pg_database WHERE datname = 'dd'")" = 0 ] || exit 1

echo "ALTER DATABASE ... RENAME; CREATE DATABASE ... TEMPLATE is refused while views run"
setup dd2
q "ALTER DATABASE dd2 RENAME TO dd3"
running dd3
out=$(q "CREATE DATABASE dd4 TEMPLATE dd3" 2>&1) && { echo "copied a database with running views"; exit 1; }
grep -q <<<"$out" 'is being accessed by other users' || { echo "$out"; exit 1; }
running dd3
echo "renamed; not copied while its views run"

echo "a role that does not own the database stops nothing"
q "CREATE ROLE dd_other LOGIN CREATEDB"
pids=$(qd dd3 "SELECT string_agg(worker_pid::text, ',' ORDER BY name::text) FROM stream.queries")
out=$("$PG_BIN/psql" -X -At -h "$PGS_DIR" -p "$PGS_PORT" -U dd_other -d postgres -c "DROP DATABASE dd3" 2>&1) &&
	{ echo "dd_other dropped dd3"; exit 1; }
grep -q <<<"$out" 'must be owner of database dd3' || { echo "$out"; exit 1; }
[ "$(qd dd3 "SELECT string_agg(worker_pid::text, ',' ORDER BY name::text) FROM stream.queries")" = "$pids" ] ||
	{ echo "the workers of dd3 were stopped"; exit 1; }
q "CREATE ROLE dd_owner LOGIN; ALTER DATABASE dd3 OWNER TO dd_owner"
pids=$(qd dd3 "SELECT string_agg(worker_pid::text, ',' ORDER BY name::text) FROM stream.queries")
out=$("$PG_BIN/psql" -X -At -h "$PGS_DIR" -p "$PGS_PORT" -U dd_owner -d postgres -c "ALTER DATABASE dd3 RENAME TO dd5" 2>&1) &&
	{ echo "dd_owner renamed dd3 without CREATEDB"; exit 1; }
grep -q <<<"$out" 'permission denied to rename database' || { echo "$out"; exit 1; }
[ "$(qd dd3 "SELECT string_agg(worker_pid::text, ',' ORDER BY name::text) FROM stream.queries")" = "$pids" ] ||
	{ echo "the workers of dd3 were stopped by a rename that could not run"; exit 1; }
q "DROP DATABASE dd3"
! grep -E 'TRAP|server process .* was terminated by signal' "$PGS_DIR/log" || exit 1
echo ok
