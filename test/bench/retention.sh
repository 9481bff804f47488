#!/usr/bin/env bash
# Benchmark (not a test): what the option retention (engine/retention.c)
# costs a batch, on a view holding many windows, on one throwaway server.
#
#   Three append views of one-second tumbling windows (key k, then the
#   window: the view's unique index does not lead with the window) over
#   the same stream, watermark 0: "indexed" has retention and the index
#   on the window column that CREATE makes (view and copy); "no index"
#   the same with those two indexes dropped (it reads the whole view and
#   copy each batch); "none" has no retention (the baseline). WINDOWS
#   events one second apart fill each view with WINDOWS final windows.
#   Then:
#     - one cut: retention set to half the history; the next REFRESH
#       deletes WINDOWS/2 windows from each view and copy;
#     - steady state (after a VACUUM, as autovacuum would run): ROUNDS
#       REFRESHes of 100 new events (100 seconds), each moving the
#       watermark by 100 s: its no-data batch finalizes 100 windows, and
#       in the views with retention deletes 100, keeping WINDOWS/2.
#   Times are the batches' own (stream.progress.duration_ms).
#   Each view is checked against the windows it must keep.
#
# Parallel query is off: every figure is one backend.
#
# usage: bash test/bench/retention.sh [WINDOWS=200000] [ROUNDS=20]
source "$(dirname "$0")/../lib.sh"
WINDOWS=${1:-200000}
ROUNDS=${2:-20}

pgs_build
trap pgs_stop_cluster EXIT
pgs_start_bench_cluster
q() { pgs_psql -At -c "$1"; }

q "CREATE EXTENSION pg_stream" >/dev/null
q "CREATE FOREIGN TABLE ev (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '0 seconds')" >/dev/null
for v in indexed noindex none; do
	opt="trigger = 'manual', output_mode = 'append'"
	[ $v = none ] || opt="$opt, retention = '$((WINDOWS * 2)) seconds'"
	q "CREATE MATERIALIZED VIEW $v WITH ($opt) AS
		SELECT k, stream.tumble(ts, '1 second') AS w, count(*) AS n FROM ev GROUP BY k, w" >/dev/null
done
# the indexes retention made for "noindex" (at CREATE and at ALTER ...
# SET (retention)): dropped
drop_noindex() {
	pgs_psql -q <<'SQL'
SELECT 'DROP INDEX ' || string_agg(i.indexrelid::regclass::text, ', ') FROM pg_index i
	JOIN stream.cq c ON i.indrelid IN (c.view, c.rows_table)
	WHERE c.view = 'noindex'::regclass AND NOT i.indisunique \gexec
SQL
	[ "$(q "SELECT count(*) FROM pg_index i JOIN stream.cq c ON i.indrelid IN (c.view, c.rows_table)
		WHERE c.view = 'noindex'::regclass AND NOT i.indisunique")" = 0 ] || exit 1
}
drop_noindex

# events $1 .. $2, one a second
events() {
	q "INSERT INTO ev SELECT 1, '2026-01-01'::timestamptz + i * interval '1 second'
		FROM generate_series($1, $2) i" >/dev/null
}
refresh_each() {
	local v
	for v in indexed noindex none; do
		q "REFRESH MATERIALIZED VIEW $v" >/dev/null
	done
}
# the batches' own durations (stream.progress) since mark, in seconds
mark() { since=$(q "SELECT clock_timestamp()"); }
took() {
	local v
	for v in indexed noindex none; do
		eval "t_$v=$(q "SELECT coalesce(sum(duration_ms), 0) / 1000 FROM stream.progress
			WHERE name = '$v'::regclass AND started_at >= '$since'")"
		# the median no-data batch: the one that finalizes and cuts
		eval "m_$v=$(q "SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms), 0)
			FROM stream.progress WHERE name = '$v'::regclass AND started_at >= '$since' AND rows_in = 0")"
	done
}

pgs_log "filling: $WINDOWS windows"
events 1 "$WINDOWS"
mark
refresh_each
took
printf "fill, %d windows:           indexed %.3f s   no index %.3f s   none %.3f s\n" \
	"$WINDOWS" "$t_indexed" "$t_noindex" "$t_none"

# one cut of half the history, in a batch that also reads 1 new event
q "ALTER MATERIALIZED VIEW indexed SET (retention = '$((WINDOWS / 2)) seconds')" >/dev/null
q "ALTER MATERIALIZED VIEW noindex SET (retention = '$((WINDOWS / 2)) seconds')" >/dev/null
drop_noindex
events $((WINDOWS + 1)) $((WINDOWS + 1))
mark
refresh_each
took
printf "one cut of %d windows:      indexed %.3f s   no index %.3f s   none %.3f s\n" \
	"$((WINDOWS / 2))" "$t_indexed" "$t_noindex" "$t_none"

# the dead rows of the cut vacuumed, as autovacuum would
q "VACUUM" >/dev/null
last=$((WINDOWS + 1))
mark
for r in $(seq 1 "$ROUNDS"); do
	events $((last + 1)) $((last + 100))
	last=$((last + 100))
	refresh_each
done
took
printf "%d REFRESHes of 100 events: indexed %.3f s   no index %.3f s   none %.3f s\n" \
	"$ROUNDS" "$t_indexed" "$t_noindex" "$t_none"
printf "  median no-data batch (finalizes 100 windows, retention cuts 100): indexed %.1f ms   no index %.1f ms   none %.1f ms\n" \
	"$m_indexed" "$m_noindex" "$m_none"

# what each keeps: the final windows (end <= watermark) that did not end
# before watermark - retention
wm="'2026-01-01'::timestamptz + $last * interval '1 second'"
for v in indexed noindex; do
	want=$(q "SELECT count(*) FROM generate_series(1, $last) i
		WHERE '2026-01-01'::timestamptz + (i + 1) * interval '1 second'
			BETWEEN $wm - interval '$((WINDOWS / 2)) seconds' AND $wm")
	got=$(q "SELECT count(*) FROM $v")
	copy=$(q "SELECT count(*) FROM $(q "SELECT rows_table FROM stream.cq WHERE view = '$v'::regclass")")
	[ "$got" = "$want" ] && [ "$copy" = "$want" ] ||
		{ echo "$v holds $got rows (copy $copy), not $want" >&2; exit 1; }
done
echo "indexed and no index each keep $want windows (view and copy); none keeps $(q "SELECT count(*) FROM none")"
