#!/usr/bin/env bash
# A reader's CREATE racing the ALTER that drops an unread output stream
# (engine/chain.c, pgs_chain_check_options): ch_1win's last reader is
# dropped, then a session creates a new reader and keeps its transaction
# open while another runs ALTER ... SET (output_mode = 'update') on
# ch_1win. The ALTER must wait for the reader to commit and then refuse
# (a view reads it), not drop the stream under the committed reader,
# whose next batch would fail to open it.
source "$(dirname "$0")/../lib.sh"
trap 'pgs_stop_cluster' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 second');
CREATE MATERIALIZED VIEW ch_1win WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(ts, '10 seconds') AS w, count(*) AS c FROM ev GROUP BY 1;
CREATE MATERIALIZED VIEW ch_old WITH (trigger = 'manual') AS SELECT w, c FROM ch_1win;
DROP MATERIALIZED VIEW ch_old;
SQL

# the reader's transaction stays open until the ALTER waits for it
# (bounded: 20 s)
pgs_psql >"$PGS_DIR/reader.log" 2>&1 <<'SQL' &
BEGIN;
CREATE MATERIALIZED VIEW ch_new WITH (trigger = 'manual') AS SELECT w, c FROM ch_1win;
DO $$
BEGIN
	FOR i IN 1 .. 400 LOOP
		EXIT WHEN EXISTS (SELECT FROM pg_locks WHERE NOT granted
						  AND relation = 'stream.ch_1win_out'::regclass);
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$;
COMMIT;
SQL
reader=$!
# the reader has made its CREATE (it holds the output stream)
pgs_wait_for "SELECT EXISTS (SELECT FROM pg_locks WHERE granted AND mode = 'AccessShareLock'
	AND relation = 'stream.ch_1win_out'::regclass AND pid <> pg_backend_pid())" 20
out=$(pgs_psql -c "ALTER MATERIALIZED VIEW ch_1win SET (output_mode = 'update')" 2>&1 || true)
wait $reader || { cat "$PGS_DIR/reader.log"; exit 1; }
grep -q <<<"$out" "has been read by other continuous views" ||
	{ echo "the ALTER did not refuse: $out"; exit 1; }
[ "$(q "SELECT output_stream FROM stream.cq WHERE view = 'ch_1win'::regclass")" = "stream.ch_1win_out" ] ||
	{ echo "the output stream is gone"; exit 1; }
q "INSERT INTO ev VALUES (1, '2026-01-01 00:00:01'), (2, '2026-01-01 00:00:30')" >/dev/null
q "REFRESH MATERIALIZED VIEW ch_1win" >/dev/null
q "REFRESH MATERIALIZED VIEW ch_new" >/dev/null
[ "$(q "SELECT c FROM ch_new")" = 1 ] || { echo "the new reader did not read the window"; exit 1; }
echo "the ALTER waited for the reader and refused; the reader reads on"
echo ok
