#!/usr/bin/env bash
# Query slots are not lost when a manager exits: with one background
# worker slot left for views (max_worker_processes = 5: PostgreSQL's
# logical replication launcher, our launcher, two managers) and three
# query slots, a view of each of two databases waits for a worker slot in
# the query slot its manager reserved for it. DROP EXTENSION in the first
# database stops its manager, which frees its reserved slots: the view of
# the second database then starts, and two query slots are free again.
source "$(dirname "$0")/../lib.sh"
trap pgs_stop_cluster EXIT
pgs_start_cluster "max_worker_processes = 5" "pg_stream.max_queries = 3"

pgs_psql -c "CREATE DATABASE other" >/dev/null
pgs_psql -d other <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE o_s (x int) SERVER stream;
SQL
pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE s (x int) SERVER stream;
CREATE MATERIALIZED VIEW a AS SELECT count(*) AS n FROM s;
CREATE MATERIALIZED VIEW b AS SELECT count(*) AS n FROM s;
SQL
pgs_wait_for "SELECT count(*) FILTER (WHERE status = 'running') = 1
	AND count(*) FILTER (WHERE status = 'waiting') = 1 FROM stream.queries" 60
pgs_psql -d other -c "CREATE MATERIALIZED VIEW c AS SELECT count(*) AS n FROM o_s" >/dev/null
other() { pgs_psql -d other -At -c "$1"; }
ok=0
for i in $(seq 300); do
	[ "$(other "SELECT status || ' ' || stream._slots_free() FROM stream.queries")" = "waiting 0" ] && { ok=1; break; }
	sleep 0.1
done
[ $ok = 1 ] || { other "SELECT name, status, last_error, stream._slots_free() FROM stream.queries"; exit 1; }
echo "a view in each database waits for a worker slot; no query slot is free"

pgs_psql -c "DROP EXTENSION pg_stream CASCADE" >/dev/null
ok=0
for i in $(seq 300); do
	[ "$(other "SELECT status || ' ' || stream._slots_free() FROM stream.queries")" = "running 2" ] && { ok=1; break; }
	sleep 0.1
done
other "SELECT name, status, last_error, stream._slots_free() AS free FROM stream.queries"
[ $ok = 1 ]
other "INSERT INTO o_s VALUES (1), (2)"
ok=0
for i in $(seq 300); do
	[ "$(other "SELECT n FROM c")" = 2 ] && { ok=1; break; }
	sleep 0.1
done
[ $ok = 1 ]
echo "ok: the first database's manager freed its reserved slots; the other view runs"
