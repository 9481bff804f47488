#!/usr/bin/env bash
# Workers under scarcity and interruption:
# - with max_worker_processes = 5 (logical replication launcher, our
#   launcher, manager, two workers), a third
#   view waits, says so in stream.queries, and starts when a slot frees;
# - a terminated worker comes back by itself and goes on from its position;
# - rows inserted into a stream survive an immediate shutdown, and the
#   workers start again with the server;
# - DROP EXTENSION leaves no manager or worker running; created again,
#   even in the same session that ran batches before (whose bookkeeping
#   kept its statements' plans), it works as new.
source "$(dirname "$0")/../lib.sh"
trap pgs_stop_cluster EXIT
pgs_start_cluster "max_worker_processes = 5"

q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE l_s (x int) SERVER stream;
CREATE MATERIALIZED VIEW l_a AS SELECT count(*) AS n FROM l_s;
CREATE MATERIALIZED VIEW l_b AS SELECT count(*) AS n FROM l_s;
CREATE MATERIALIZED VIEW l_c AS SELECT count(*) AS n FROM l_s;
SQL

echo "two views run, the third waits for a slot"
pgs_wait_for "SELECT count(*) FILTER (WHERE status = 'running') = 2
	AND count(*) FILTER (WHERE status = 'waiting' AND last_error LIKE 'waiting for a background worker slot%') = 1
	FROM stream.queries" 60
waiting=$(q "SELECT name FROM stream.queries WHERE status = 'waiting'")
running=$(q "SELECT name FROM stream.queries WHERE status = 'running' ORDER BY name LIMIT 1")
echo "waiting: $waiting; dropping $running"
grep -q "no background worker slot for continuous view \"public.$waiting\"" "$PGS_DIR/log" || { echo "no log line"; exit 1; }
q "INSERT INTO l_s SELECT generate_series(1, 10)"
q "DROP MATERIALIZED VIEW $running"
pgs_wait_for "SELECT status = 'running' FROM stream.queries WHERE name = '$waiting'::regclass" 60
pgs_wait_for "SELECT n = 10 FROM $waiting" 60
echo "the waiting view started when a slot freed, and read the rows inserted meanwhile"

echo "a terminated worker comes back"
other=$(q "SELECT name FROM stream.queries WHERE name <> '$waiting'::regclass")
pid=$(q "SELECT worker_pid FROM stream.queries WHERE name = '$other'::regclass")
q "SELECT pg_terminate_backend($pid)" >/dev/null
q "INSERT INTO l_s SELECT generate_series(11, 15)"
pgs_wait_for "SELECT worker_pid IS NOT NULL AND worker_pid <> $pid FROM stream.queries WHERE name = '$other'::regclass" 60
pgs_wait_for "SELECT n = 15 FROM $other" 60
echo "worker $pid replaced by $(q "SELECT worker_pid FROM stream.queries WHERE name = '$other'::regclass"), view exact"

echo "rows in a stream survive an immediate shutdown; workers come back by themselves"
q "SELECT stream.stop('$other')" >/dev/null
q "INSERT INTO l_s SELECT generate_series(16, 1015)"
pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -m immediate -w stop >/dev/null
pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -l "$PGS_DIR/log" -w start >/dev/null
pgs_wait_for "SELECT status = 'running' FROM stream.queries WHERE name = '$waiting'::regclass" 60
q "SELECT stream.start('$other')" >/dev/null
pgs_wait_for "SELECT (SELECT n FROM $other) = 1015 AND (SELECT n FROM $waiting) = 1015" 60
echo "both views hold all 1015 rows after the restart"

echo "DROP EXTENSION stops everything but the launcher"
q "DROP EXTENSION pg_stream CASCADE" >/dev/null
pgs_wait_for "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type IN ('pg_stream worker', 'pg_stream manager')" 60
q "SELECT backend_type FROM pg_stat_activity WHERE backend_type LIKE 'pg_stream%'"

echo "created again in a session that ran batches before the DROP"
out=$(pgs_psql -At -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE r_s (x int) SERVER stream;
CREATE MATERIALIZED VIEW r_v WITH (trigger = 'manual') AS SELECT count(*) AS n FROM r_s;
INSERT INTO r_s VALUES (1), (2);
REFRESH MATERIALIZED VIEW r_v;
DROP EXTENSION pg_stream CASCADE;
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE r_s (x int) SERVER stream;
CREATE MATERIALIZED VIEW r_v WITH (trigger = 'manual') AS SELECT count(*) AS n FROM r_s;
CREATE MATERIALIZED VIEW r_w AS SELECT count(*) AS n FROM r_s;
INSERT INTO r_s VALUES (3), (4), (5);
REFRESH MATERIALIZED VIEW r_v;
SELECT n FROM r_v;
SELECT batches FROM stream.queries WHERE name = 'r_v'::regclass;
SQL
)
echo "$out"
[ "$out" = $'3\n1' ]
# and the workers run the new extension's views
pgs_wait_for "SELECT n = 3 FROM r_w" 60
echo ok
