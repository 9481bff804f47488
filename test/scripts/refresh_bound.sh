#!/usr/bin/env bash
# REFRESH returns once the input available when it was called is in the
# view, even while input keeps arriving faster than its batches take it
# (max_batch_rows = 100, transactions of 500 rows: every batch is full).
source "$(dirname "$0")/../lib.sh"
trap 'touch "$PGS_DIR/stop"; wait 2>/dev/null || true; pgs_stop_cluster' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL' >/dev/null
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE rb (tag text, n int) SERVER stream;
CREATE MATERIALIZED VIEW rb_v WITH (trigger = 'manual', max_batch_rows = 100) AS
	SELECT tag, count(*) AS c FROM rb GROUP BY tag;
SQL
# a backlog, then a feeder that keeps adding to it
q "INSERT INTO rb SELECT 'backlog', g FROM generate_series(1, 20000) g" >/dev/null
( while [ ! -e "$PGS_DIR/stop" ]; do
	q "INSERT INTO rb SELECT 'later', g FROM generate_series(1, 500) g" >/dev/null 2>&1
  done ) &
q "INSERT INTO rb VALUES ('marker', 0)" >/dev/null
start=$(date +%s)
timeout 120 "$PG_BIN/psql" -X -q -h "$PGS_DIR" -p "$PGS_PORT" -U postgres \
	-c "REFRESH MATERIALIZED VIEW rb_v" || { echo "REFRESH did not return"; exit 1; }
echo "REFRESH returned after $(( $(date +%s) - start )) s"
q "SELECT tag, c FROM rb_v WHERE tag IN ('backlog', 'marker') ORDER BY tag"
[ "$(q "SELECT c FROM rb_v WHERE tag = 'backlog'")" = 20000 ] || { echo "backlog missing"; exit 1; }
[ "$(q "SELECT c FROM rb_v WHERE tag = 'marker'")" = 1 ] || { echo "marker missing"; exit 1; }
