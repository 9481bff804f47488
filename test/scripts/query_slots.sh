#!/usr/bin/env bash
# Views beyond pg_stream.max_queries: with 2 query slots, a third view gets
# no worker; stream.queries says why (status 'waiting', last_error naming
# pg_stream.max_queries) and the log says it once; when a slot frees, it
# starts and catches up with every row.
source "$(dirname "$0")/../lib.sh"
trap pgs_stop_cluster EXIT
pgs_start_cluster "pg_stream.max_queries = 2"

q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE qs (x int) SERVER stream;
CREATE MATERIALIZED VIEW qs_a AS SELECT count(*) AS n FROM qs;
CREATE MATERIALIZED VIEW qs_b AS SELECT count(*) AS n FROM qs;
CREATE MATERIALIZED VIEW qs_c AS SELECT count(*) AS n FROM qs;
INSERT INTO qs SELECT generate_series(1, 100);
SQL

echo "two views run, the third waits for a query slot and says why"
pgs_wait_for "SELECT count(*) FILTER (WHERE status = 'running') = 2
	AND count(*) FILTER (WHERE status = 'waiting'
		AND last_error = 'waiting for a query slot: all pg_stream.max_queries slots are taken') = 1
	FROM stream.queries" 60
q "SELECT name, status, last_error FROM stream.queries ORDER BY name"
waiting=$(q "SELECT name FROM stream.queries WHERE status = 'waiting'")
[ "$(q "SELECT n FROM $waiting")" = 0 ]
# the manager starts no worker that could not take a slot, and logs the
# reason once (it looks every second: give it a few rounds)
pgs_psql -c "SELECT pg_sleep(3)" >/dev/null
[ "$(grep -c "no query slot for continuous view \"\(public\.\)\?$waiting\"" "$PGS_DIR/log")" = 1 ]
! grep -q "no free query slot" "$PGS_DIR/log"

echo "a slot frees: $waiting starts and reads every row"
running=$(q "SELECT name FROM stream.queries WHERE status = 'running' ORDER BY name LIMIT 1")
q "DROP MATERIALIZED VIEW $running"
pgs_wait_for "SELECT status = 'running' AND last_error IS NULL FROM stream.queries WHERE name = '$waiting'::regclass" 60
pgs_wait_for "SELECT n = 100 FROM $waiting" 60
echo "ok: $waiting caught up"
