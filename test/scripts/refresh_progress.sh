#!/usr/bin/env bash
# A long REFRESH shows its progress to other sessions
# (stream.refresh_progress): its batches commit only with it, so
# stream.progress cannot. A REFRESH of 40 batches of 50 rows, each row
# taking 2 ms in the query (about 4 s in all), runs in a background psql;
# another session sees its row with rows_read and batches growing while
# it runs, the REFRESH's own pid, and nothing once it has ended. A role
# that may not monitor the view sees no row; one that may, sees it.
source "$(dirname "$0")/../lib.sh"
trap 'wait 2>/dev/null || true; pgs_stop_cluster' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL' >/dev/null
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE rp (k int) SERVER stream;
CREATE FUNCTION rp_slow(int) RETURNS int LANGUAGE sql VOLATILE
	AS $$ SELECT $1 FROM pg_catalog.pg_sleep(0.002) $$;
CREATE MATERIALIZED VIEW rp_v WITH (trigger = 'manual', max_batch_rows = 50) AS
	SELECT rp_slow(k) % 10 AS k, count(*) AS c FROM rp GROUP BY 1;
CREATE ROLE rp_stranger LOGIN;
CREATE ROLE rp_stats LOGIN IN ROLE pg_read_all_stats;
SQL
# 40 transactions of 50 rows (the 2,000 rows of one INSERT came in one batch)
for i in $(seq 0 39); do
	echo "INSERT INTO rp SELECT g FROM generate_series($((i * 50 + 1)), $((i * 50 + 50))) g;"
done | pgs_psql >/dev/null
[ "$(q "SELECT count(*) FROM stream.refresh_progress")" = 0 ] || { echo "a row before any REFRESH"; exit 1; }

"$PG_BIN/psql" -X -q -h "$PGS_DIR" -p "$PGS_PORT" -U postgres \
	-c "SELECT pg_backend_pid()" -At -c "REFRESH MATERIALIZED VIEW rp_v" >"$PGS_DIR/refresh.out" 2>&1 &
refresh=$!

# seen mid-way: some rows read, not all, and then more (bounded polls)
pgs_wait_for "SELECT rows_read > 0 AND rows_read < 2000 FROM stream.refresh_progress
	WHERE name = 'rp_v'::regclass" 15
first=$(q "SELECT rows_read FROM stream.refresh_progress")
pgs_wait_for "SELECT rows_read > $first AND batches > 0 FROM stream.refresh_progress" 15
q "SELECT 'seen: ' || rows_read || ' rows read in ' || batches || ' batches, for ' ||
	round(extract(epoch FROM now() - started_at)::numeric, 1) || ' s'
	FROM stream.refresh_progress"
# as its owner sees it; rows in a batch are counted as the batch has read them
q "SELECT batches * 50 <= rows_read AND rows_read <= (batches + 1) * 50
	FROM stream.refresh_progress" | grep -qx t || { echo "rows_read does not match the batches"; exit 1; }
# other roles: one that may monitor the view sees it, another does not
[ "$("$PG_BIN/psql" -X -At -h "$PGS_DIR" -p "$PGS_PORT" -U rp_stranger -d postgres \
	-c "SELECT count(*) FROM stream.refresh_progress")" = 0 ] || { echo "a stranger sees the REFRESH"; exit 1; }
[ "$("$PG_BIN/psql" -X -At -h "$PGS_DIR" -p "$PGS_PORT" -U rp_stats -d postgres \
	-c "SELECT count(*) FROM stream.refresh_progress")" = 1 ] || { echo "pg_read_all_stats does not see it"; exit 1; }
# stream.progress shows none of it before the REFRESH commits
[ "$(q "SELECT count(*) FROM stream.progress WHERE name = 'rp_v'::regclass")" = 0 ] ||
	{ echo "uncommitted batches visible"; exit 1; }
pid=$(q "SELECT pid FROM stream.refresh_progress")

wait $refresh || { cat "$PGS_DIR/refresh.out"; echo "REFRESH failed"; exit 1; }
[ "$(head -1 "$PGS_DIR/refresh.out")" = "$pid" ] || { echo "pid $pid is not the REFRESH's"; exit 1; }
[ "$(q "SELECT count(*) FROM stream.refresh_progress")" = 0 ] || { echo "a row after the REFRESH"; exit 1; }
[ "$(q "SELECT sum(c) FROM rp_v")" = 2000 ] || { echo "view incomplete"; exit 1; }
[ "$(q "SELECT batches FROM stream.queries WHERE name = 'rp_v'::regclass")" = 40 ] || { echo "not 40 batches"; exit 1; }

# a REFRESH that fails leaves no row behind
q "INSERT INTO rp VALUES (NULL)" >/dev/null
q "CREATE OR REPLACE FUNCTION rp_slow(int) RETURNS int LANGUAGE sql VOLATILE
	AS \$\$ SELECT 1 / coalesce(\$1, 0) \$\$" >/dev/null
# (in its own session, which lives on)
out=$("$PG_BIN/psql" -X -At -h "$PGS_DIR" -p "$PGS_PORT" -U postgres 2>&1 <<'SQL'
REFRESH MATERIALIZED VIEW rp_v;
SELECT 'after: ' || count(*) FROM stream.refresh_progress;
SQL
)
echo "$out"
grep -q <<<"$out" 'division by zero' || { echo "the REFRESH did not fail"; exit 1; }
grep -qx <<<"$out" 'after: 0' || { echo "a row after a failed REFRESH"; exit 1; }
echo "ok"
