#!/usr/bin/env bash
# A first batch that builds its state's indexes in bulk (more than 10,000
# new groups into an empty state: the rows go in without index entries,
# each index is rebuilt at the batch's end, engine/store.c), crashed: the
# backend running the REFRESH killed (kill -9) while the batch writes its
# rows without their index entries, and again by an immediate stop. After
# each crash the REFRESH runs again (the state's file is no longer empty:
# its entries go in one by one); the view must equal its batch query,
# exactly, the state must hold one row per group, every one of them in
# each of its indexes (amcheck's bt_index_check with heapallindexed), and
# a later batch must update the groups through those indexes. The same
# for a view whose first batch builds them in bulk uncrashed.
#
# usage: bash test/scripts/state_bulk_crash.sh [EVENTS=400000]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-400000}
trap pgs_stop_cluster EXIT
pgs_start_cluster "restart_after_crash = on" "max_wal_size = 2GB"
q() { pgs_psql -At -c "$1"; }

pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE EXTENSION amcheck;
CREATE FOREIGN TABLE hs (key int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 hour');
CREATE TABLE hs_ref (key int, ts timestamptz);
SELECT format('CREATE MATERIALIZED VIEW %s WITH (trigger = ''manual'', max_batch_rows = $EVENTS) AS
	SELECT h.key, w.window_start, count(*) AS n
	FROM hs h, stream.hop(h.ts, ''10 seconds'', ''2 seconds'') AS w(window_start) GROUP BY 1, 2', v)
FROM unnest(ARRAY['hop_kill', 'hop_stop', 'hop_bulk']) v \gexec
BEGIN;
INSERT INTO hs SELECT i % 1000, '2026-01-01'::timestamptz + (i * 3) * interval '1 ms'
	FROM generate_series(1, $EVENTS) i;
INSERT INTO hs_ref SELECT i % 1000, '2026-01-01'::timestamptz + (i * 3) * interval '1 ms'
	FROM generate_series(1, $EVENTS) i;
COMMIT;
SQL
state_of() { q "SELECT format('stream.%I', 'state_' || '$1'::regclass::oid)"; }
nodes() { q "SELECT string_agg(pg_relation_filenode(indexrelid)::text, ',' ORDER BY indexrelid)
	FROM pg_index WHERE indrelid = '$(state_of "$1")'::regclass"; }

# the REFRESH in the background; its backend killed once it holds the
# state's indexes for the rebuild (its rows are going in without entries)
crash_refresh() { # crash_refresh VIEW HOW
	local pid i state
	state=$(state_of "$1")
	pgs_psql -c "REFRESH MATERIALIZED VIEW $1" >/dev/null 2>&1 &
	for i in $(seq 1 600); do
		pid=$(q "SELECT l.pid FROM pg_locks l JOIN pg_index x ON x.indexrelid = l.relation
			WHERE x.indrelid = '$state'::regclass AND l.mode = 'AccessExclusiveLock' AND l.granted LIMIT 1")
		[ -n "$pid" ] && break
		sleep 0.05
	done
	[ -n "$pid" ] || { echo "the REFRESH never took the state's indexes for a rebuild" >&2; exit 1; }
	if [ "$2" = kill ]; then
		kill -9 "$pid"	# the postmaster restarts the server (crash recovery)
		wait || true
	else
		pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -m immediate -w stop >/dev/null
		wait || true
		pgs_restart_cluster
	fi
	for i in $(seq 1 300); do q "SELECT 1" >/dev/null 2>&1 && break; sleep 0.2; done
	[ "$(q "SELECT count(*) FROM $1")" = 0 ] || { echo "rows of the crashed batch are visible" >&2; exit 1; }
	pgs_log "$1 crashed ($2) during its bulk batch: nothing of it visible"
}

check() { # check VIEW WHAT
	local d state
	state=$(state_of "$1")
	d=$(q "SELECT count(*) FROM (
		(SELECT key, window_start, n FROM $1 EXCEPT ALL
		 SELECT h.key, w.window_start, count(*) FROM hs_ref h,
			stream.hop(h.ts, '10 seconds', '2 seconds') AS w(window_start) GROUP BY 1, 2)
		UNION ALL
		(SELECT h.key, w.window_start, count(*) FROM hs_ref h,
			stream.hop(h.ts, '10 seconds', '2 seconds') AS w(window_start) GROUP BY 1, 2
		 EXCEPT ALL SELECT key, window_start, n FROM $1)) d")
	[ "$d" = 0 ] || { echo "$1, $2: the view differs from its batch query by $d rows" >&2; exit 1; }
	[ "$(q "SELECT count(*) FROM $state")" = "$(q "SELECT count(*) FROM $1")" ] ||
		{ echo "$1, $2: the state and the view differ in rows" >&2; exit 1; }
	q "SELECT bt_index_check(indexrelid, true) FROM pg_index WHERE indrelid = '$state'::regclass" >/dev/null
	pgs_log "$1, $2: the view equals its batch query, the state's indexes hold every row"
}

crash_refresh hop_kill kill
crash_refresh hop_stop immediate
before=$(nodes hop_bulk)
for v in hop_kill hop_stop hop_bulk; do
	q "REFRESH MATERIALIZED VIEW $v" >/dev/null
	check $v "the first batch"
done
[ "$(nodes hop_bulk)" != "$before" ] ||
	{ echo "hop_bulk's first batch did not rebuild the state's indexes" >&2; exit 1; }
# a later batch: the same keys' later and overlapping windows, through the indexes
pgs_psql -q <<SQL
BEGIN;
INSERT INTO hs SELECT i % 1000, '2026-01-01'::timestamptz + (($EVENTS - 2000 + i) * 3) * interval '1 ms'
	FROM generate_series(1, 20000) i;
INSERT INTO hs_ref SELECT i % 1000, '2026-01-01'::timestamptz + (($EVENTS - 2000 + i) * 3) * interval '1 ms'
	FROM generate_series(1, 20000) i;
COMMIT;
SQL
for v in hop_kill hop_stop hop_bulk; do
	q "REFRESH MATERIALIZED VIEW $v" >/dev/null
	check $v "a later batch"
done
echo "state_bulk_crash: ok"
