#!/usr/bin/env bash
# DROP ... CASCADE of a stream, and of a derived stream, while rows pour in
# and the workers run batches: the DROP must always succeed. Batches lock
# what their view reads deepest first, the order DROP takes its locks in,
# so they wait for each other instead of deadlocking. deadlock_timeout is
# short so that a deadlock, if any, shows at once.
source "$(dirname "$0")/../lib.sh"
trap 'kill $(jobs -p) 2>/dev/null || true; pgs_stop_cluster' EXIT
pgs_start_cluster "deadlock_timeout = 20ms"
q() { pgs_psql -At -c "$1"; }
q "CREATE EXTENSION pg_stream" >/dev/null

for i in $(seq 1 20); do
	pgs_psql >/dev/null <<'SQL'
CREATE FOREIGN TABLE d_s (x int) SERVER stream;
CREATE VIEW d_v AS SELECT x FROM d_s WHERE x > 0;
CREATE MATERIALIZED VIEW d_cv AS SELECT x % 10 AS k, count(*) AS n FROM d_v GROUP BY 1;
CREATE MATERIALIZED VIEW d_cv2 AS SELECT x FROM d_s;
SQL
	( for j in $(seq 1 200); do q "INSERT INTO d_s SELECT generate_series(1, 200)" >/dev/null 2>&1 || break; done ) &
	feeder=$!
	pgs_wait_for "SELECT coalesce(sum(n), 0) > 0 FROM d_cv" 60
	if [ $((i % 2)) = 0 ]; then target="VIEW d_v"; else target="FOREIGN TABLE d_s"; fi
	if ! out=$(pgs_psql -c "DROP $target CASCADE" 2>&1); then
		echo "round $i: DROP $target failed: $out"
		exit 1
	fi
	pgs_psql -c "DROP FOREIGN TABLE IF EXISTS d_s CASCADE" >/dev/null 2>&1
	wait $feeder 2>/dev/null
done
echo "20 DROPs during batches, none failed"
if grep -q "deadlock detected" "$PGS_DIR/log"; then
	grep -B2 -A4 "deadlock detected" "$PGS_DIR/log" | head -20
	exit 1
fi
