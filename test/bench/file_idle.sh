#!/usr/bin/env bash
# Benchmark (not a test): what an idle file stream costs its worker, with
# few files done and with many. Two directories of one-line JSON files
# (SMALL, default 1,000, and LARGE, default 100,000), a file stream and a
# count over each; REFRESH until every file is done, then the CPU seconds
# each view's worker uses over the same IDLE seconds (default 10) of
# idleness (time on a CPU from /proc/<pid>/schedstat; utime + stime of
# /proc/<pid>/stat printed beside it), as CPU-s per second; the large's
# over the small's is the figure: an idle worker stats the directory
# every 250 ms and lists it only when it changed, so what is left to grow
# with the files done is what reading the stored position costs (see the
# README's Performance section). Then a new file is moved into each
# directory (written in another directory of the same file system, then
# renamed in) and the time from the rename to its row in the view is
# measured (three files each, the median), polled every millisecond for
# at most 30 s.
#
# The figures leave out the full look a worker makes at least once a
# minute (FILE_RESCAN_MS in src/sources/file/read.c) to see appends: the idle
# window starts after the worker's first full look and is shorter than a
# minute. That look's cost is printed (the worker's CPU in the 3 s after
# the REFRESH, before the window), not reported as a RESULT.
#
# usage: bash test/bench/file_idle.sh [LARGE=100000] [SMALL=1000] [IDLE=10]
source "$(dirname "$0")/../lib.sh"
LARGE=${1:-100000}
SMALL=${2:-1000}
IDLE=${3:-10}

pgs_install_deps python3
pgs_build
data=$(mktemp -d /tmp/pg_stream_file_idle.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$data"' EXIT
# pg_stream.poll_interval back to its default (test/pg_stream.conf has
# 200ms), so an idle file stream polls every 250 ms as it would in use
pgs_start_cluster "log_min_messages = warning" "pg_stream.poll_interval = 1s"
q() { pgs_psql -At -c "$1"; }

mkdir -p "$data/small" "$data/large" "$data/stage"
pgs_log "writing $SMALL + $LARGE files"
python3 - "$data" "$SMALL" "$LARGE" <<'PY'
import sys
d = sys.argv[1]
for sub, n in (("small", int(sys.argv[2])), ("large", int(sys.argv[3]))):
    for i in range(n):
        with open(f"{d}/{sub}/f{i:07d}.json", "w") as f:
            f.write('{"id": %d, "v": "x"}\n' % i)
PY
chown -R "$PGS_USER" "$data"

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev_small (id int, v text) SERVER file OPTIONS (path '$data/small', pattern '*.json');
CREATE FOREIGN TABLE ev_large (id int, v text) SERVER file OPTIONS (path '$data/large', pattern '*.json');
CREATE MATERIALIZED VIEW n_small AS SELECT count(*) AS n FROM ev_small;
CREATE MATERIALIZED VIEW n_large AS SELECT count(*) AS n FROM ev_large;
SQL
t0=$(date +%s.%N)
q "REFRESH MATERIALIZED VIEW n_small" >/dev/null
q "REFRESH MATERIALIZED VIEW n_large" >/dev/null
t1=$(date +%s.%N)
[ "$(q "SELECT n FROM n_small")" = "$SMALL" ] || { echo "n_small holds $(q "SELECT n FROM n_small") rows, not $SMALL"; exit 1; }
[ "$(q "SELECT n FROM n_large")" = "$LARGE" ] || { echo "n_large holds $(q "SELECT n FROM n_large") rows, not $LARGE"; exit 1; }
awk -v a="$t0" -v b="$t1" -v s="$SMALL" -v l="$LARGE" \
	'BEGIN { printf "both views hold their files (%d + %d) after REFRESH: %.1f s\n", s, l, b - a }'

pgs_wait_for "SELECT count(worker_pid) = 2 FROM stream.queries" 30
pid_small=$(q "SELECT worker_pid FROM stream.queries WHERE name = 'n_small'::regclass")
pid_large=$(q "SELECT worker_pid FROM stream.queries WHERE name = 'n_large'::regclass")
# CPU seconds of a process: utime + stime of /proc/<pid>/stat (fields 14
# and 15, counted after the command's closing parenthesis, which may hold
# spaces) are in ticks of 10 ms, too coarse for an idle worker (0.02 CPU-s
# in 10 s is 2 ticks); /proc/<pid>/schedstat's first field is the same
# time on a CPU in nanoseconds (exact for a sleeping process), so it gives
# the figures, and the ticks are printed beside it as a check
hz=$(getconf CLK_TCK)
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk -v hz="$hz" '{ printf "%.2f\n", ($12 + $13) / hz }'; }
if [ -r "/proc/$pid_small/schedstat" ]; then
	cpu() { awk '{ printf "%.6f\n", $1 / 1e9 }' "/proc/$1/schedstat"; }
else
	cpu() { ticks "$1"; }
fi
sample() { # sample K: the CPU of both workers and the time, as s_K, l_K, ts_K, tl_K, w_K
	eval "s_$1=$(cpu "$pid_small") l_$1=$(cpu "$pid_large") ts_$1=$(ticks "$pid_small") tl_$1=$(ticks "$pid_large") w_$1=$(date +%s.%N)"
}

# the worker's first poll after a REFRESH is a full look (the REFRESH
# made a new position); a directory changed less than a second before a
# look is looked at again: 3 s covers both
sample 0
sleep 3
sample 1
sleep "$IDLE"
sample 2

read -r rate_small rate_large < <(awk -v a="$w_1" -v b="$w_2" -v s1="$s_1" -v s2="$s_2" -v l1="$l_1" -v l2="$l_2" \
	'BEGIN { printf "%.5f %.5f\n", (s2 - s1) / (b - a), (l2 - l1) / (b - a) }')
awk -v a="$w_1" -v b="$w_2" -v s="$SMALL" -v l="$LARGE" \
	-v s0="$s_0" -v s1="$s_1" -v s2="$s_2" -v l0="$l_0" -v l1="$l_1" -v l2="$l_2" \
	-v ts1="$ts_1" -v ts2="$ts_2" -v tl1="$tl_1" -v tl2="$tl_2" 'BEGIN {
	printf "\n%-44s %14s %14s\n", "worker CPU", sprintf("%d files", s), sprintf("%d files", l)
	printf "%-44s %14.3f %14.3f\n", "3 s after REFRESH (its full look), CPU-s", s1 - s0, l1 - l0
	printf "%-44s %14.3f %14.3f\n", sprintf("%.1f s idle, CPU-s", b - a), s2 - s1, l2 - l1
	printf "%-44s %14.2f %14.2f\n", "  the same in ticks of /proc/<pid>/stat", ts2 - ts1, tl2 - tl1
	printf "%-44s %14.4f %14.4f\n", "CPU-s per second idle", (s2 - s1) / (b - a), (l2 - l1) / (b - a)
	if (s2 > s1)
		printf "%d files done over %d: %.2fx\n", l, s, (l2 - l1) / (s2 - s1)
}'

# new files, moved in after the idle period, one at a time, 2 s apart
# (the worker is idle again by then): rename to row in the view
pickup() { # pickup DIR VIEW NAME EXPECTED: milliseconds
	printf '{"id": -1, "v": "late"}\n' >"$data/stage/$3"
	chown "$PGS_USER" "$data/stage/$3"
	pgs_psql -At <<SQL
SELECT clock_timestamp() AS t0 \gset
\! mv "$data/stage/$3" "$data/$1/$3"
DO \$\$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
	WHILE (SELECT n FROM $2) <> $4 LOOP
		IF clock_timestamp() - t0 > interval '30 s' THEN
			RAISE 'the new file $3 is not in $2 after 30 s';
		END IF;
		PERFORM pg_sleep(0.001);
	END LOOP;
END \$\$;
SELECT round((extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000)::numeric, 1);
SQL
}
median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
all_small=""; all_large=""
for i in 1 2 3; do
	all_small="$all_small $(pickup small n_small "late-$i.json" $((SMALL + i)))"
	all_large="$all_large $(pickup large n_large "late-$i.json" $((LARGE + i)))"
	sleep 2
done
ms_small=$(echo $all_small | median)
ms_large=$(echo $all_large | median)
echo "a new file moved in after idling, rename -> row in the view, three files each (ms):"
echo "  $SMALL files done:$all_small (median $ms_small)"
echo "  $LARGE files done:$all_large (median $ms_large)"

pgs_result "idle file stream, $SMALL files done: worker CPU" "$rate_small" "CPU-s/s"
# (no ratio if the small one used no CPU at all: run.sh divides by it)
if awk -v s="$rate_small" 'BEGIN { exit !(s > 0) }'; then
	pgs_result "idle file stream, $LARGE files done: worker CPU (vs $SMALL files done)" "$rate_large" "CPU-s/s" \
		"$SMALL files done" "$rate_small"
else
	pgs_result "idle file stream, $LARGE files done: worker CPU" "$rate_large" "CPU-s/s"
fi
pgs_result "new file moved in after idling, $SMALL files done: rename -> row, median of 3" "$ms_small" "ms"
pgs_result "new file moved in after idling, $LARGE files done: rename -> row, median of 3" "$ms_large" "ms"
