#!/usr/bin/env bash
# Benchmark (not a test): Kafka JSON into a per-key tumbling count, against
# the ceiling: kcat -C consuming the same topic (raw, no decoding), in the
# same run, on the test broker (test/kafka/test_broker.c).
#
# The view's work is timed with REFRESH MATERIALIZED VIEW of a manual view
# over the produced messages, in one backend: by the wall clock, and per
# CPU second the backend used (its librdkafka threads fetch beside it, on
# the other core with the broker, as kcat's do).
#
# The test broker keeps about 5 MB (and at most 100,000 messages) per
# partition, as librdkafka's mock cluster does: spread the events over
# enough partitions.
#
# usage: bash test/bench/kafka.sh [EVENTS=1000000] [KEYS=1000] [PARTITIONS=16]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-1000000}
KEYS=${2:-1000}
PARTS=${3:-16}

pgs_install_deps kcat python3
pgs_build
WORK=$(mktemp -d /tmp/pgs_kbench.XXXXXX)
chmod 755 "$WORK"
trap 'pgs_stop_broker; pgs_stop_cluster; rm -rf "$WORK"' EXIT
pgs_start_broker
pgs_start_cluster "log_min_messages = warning"
pgs_broker create bench "$PARTS"

python3 - "$WORK" "$EVENTS" "$KEYS" "$PARTS" <<'PY'
import random, sys
work, n, keys, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
random.seed(1)
files = [open(f"{work}/p{p}.json", "w") for p in range(parts)]
for i in range(n):
    # event time advances over 10 minutes: about n / (10 * keys) events per group
    files[i % parts].write('{"key": "k%d", "value": %d, "ts": "2026-01-01T00:%02d:%02dZ"}\n'
                           % (random.randrange(keys), random.randrange(1000),
                              i * 10 // n, random.randrange(60)))
for f in files:
    f.close()
PY
for p in $(seq 0 $((PARTS - 1))); do
	kcat -P -l -b "$PGS_BROKERS" -t bench -p "$p" -X linger.ms=50 "$WORK/p$p.json"
done
bytes=$(cat "$WORK"/p*.json | wc -c)

# the ceiling: kcat reading every message, printing nothing
t0=$(date +%s.%N)
n=$(kcat -C -b "$PGS_BROKERS" -t bench -o beginning -e -q -f '\n' | wc -l)
t1=$(date +%s.%N)
[ "$n" = "$EVENTS" ] || { echo "kcat read $n messages, not $EVENTS"; exit 1; }
kcat_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')

pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER bench_kafka FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE bench (key text, value int, ts timestamptz) SERVER bench_kafka OPTIONS (topic 'bench');
CREATE MATERIALIZED VIEW bench_count WITH (trigger = 'manual', max_batch_rows = 100000) AS
	SELECT key, stream.tumble(ts, '1 minute') AS minute, count(*) AS n FROM bench GROUP BY 1, 2;
SQL
read -r pg_s pg_cpu < <(pgs_timed "REFRESH MATERIALIZED VIEW bench_count")
[ "$(pgs_psql -At -c "SELECT sum(n) FROM bench_count")" = "$EVENTS" ] || { echo "the view missed messages"; exit 1; }

awk -v n="$EVENTS" -v k="$kcat_s" -v p="$pg_s" -v c="$pg_cpu" -v keys="$KEYS" -v parts="$PARTS" -v bytes="$bytes" 'BEGIN {
	printf "\n%-66s %12s %8s\n", sprintf("%d JSON messages (%d B), %d keys, %d partitions", n, bytes / n, keys, parts), "events/s", "ratio"
	printf "%-66s %12.0f %8s\n", "kcat -C, raw consume (the ceiling)", n / k, ""
	printf "%-66s %12.0f %7.2fx\n", "pg_stream: JSON -> per-key tumbling count, one backend (wall)", n / p, k / p
	printf "%-66s %12.0f %7.2fx\n", sprintf("pg_stream: the same per CPU second of the backend (%.2f s CPU)", c), n / c, k / c
	printf "%-66s %12.0f %7.2fx\n", "target per core", 1000000, n / c / 1000000
}'
pgs_psql -c "SELECT batches, rows_in, round(processed_rows_per_sec) AS rows_per_sec_in_batches FROM stream.queries"

# A REFRESH's batches over the backlog, in parts up to
# pg_stream.refresh_batch_memory (the default) against one part a batch
# (0: max_batch_rows, as a worker's), alternating, a new view (and
# backend) each: CPU seconds of the backend, its batches and peak RSS
# (VmHWM: the librdkafka messages and the batch's rows it held)
ab_refresh() {	# $1: the setting, $2: the view's name
	local f
	f=$(mktemp /tmp/pgs_timed.XXXXXX)
	chmod 666 "$f"
	pgs_psql -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE MATERIALIZED VIEW $2 WITH (trigger = 'manual', max_batch_rows = 100000) AS
	SELECT key, stream.tumble(ts, '1 minute') AS minute, count(*) AS n FROM bench GROUP BY 1, 2;
SET pg_stream.refresh_batch_memory = '$1';
SELECT pg_backend_pid() AS pid \gset
\setenv PGS_TIMED_PID :pid
\! awk '{ print \$14 + \$15 }' /proc/\$PGS_TIMED_PID/stat >$f
REFRESH MATERIALIZED VIEW $2;
\! { awk '{ print \$14 + \$15 }' /proc/\$PGS_TIMED_PID/stat; awk '/VmHWM/ { print \$2 }' /proc/\$PGS_TIMED_PID/status; } >>$f
SQL
	[ "$(pgs_psql -At -c "SELECT sum(n) FROM $2")" = "$EVENTS" ] || { echo "view $2 missed messages"; exit 1; }
	local b sizes
	b=$(pgs_psql -At -c "SELECT batches FROM stream.queries WHERE name = '$2'::regclass")
	sizes=$(pgs_psql -At -c "SELECT string_agg(rows_in::text, ' ' ORDER BY batch_id) FROM stream.progress WHERE name = '$2'::regclass AND rows_in > 0")
	pgs_psql -q -c "DROP MATERIALIZED VIEW $2"
	echo "  $2's batches, rows in each: $sizes" >&2
	awk -v hz="$(getconf CLK_TCK)" -v b="$b" \
		'NR == 1 { c0 = $1 } NR == 2 { c1 = $1 } NR == 3 { m = $1 } END { printf "%.3f %s %d\n", (c1 - c0) / hz, b, m / 1024 }' "$f"
	rm -f "$f"
}
ROUNDS=${KAFKA_AB_ROUNDS:-2}
if [ "$ROUNDS" -gt 0 ]; then
	printf "\n%-44s %8s %8s %8s %12s\n" "REFRESH of the $EVENTS, a new view each" "CPU-s" "batches" "VmHWM MB" "ev/CPU-s"
	# (KAFKA_AB_SETTINGS: the settings alternated, 0 first: the baseline)
	read -r -a settings <<<"${KAFKA_AB_SETTINGS:-0 $(pgs_psql -At -c "SHOW pg_stream.refresh_batch_memory")}"
	declare -A cpu=() mem=()
	for r in $(seq 1 "$ROUNDS"); do
		for setting in "${settings[@]}"; do
			read -r c b m < <(ab_refresh "$setting" "ab_${r}_${setting,,}")
			printf "%-44s %8.3f %8s %8s %12.0f\n" "refresh_batch_memory = $setting, round $r" "$c" "$b" "$m" "$(awk -v n="$EVENTS" -v c="$c" 'BEGIN { print n / c }')"
			cpu[$setting]=$(awk -v a="${cpu[$setting]:-0}" -v c="$c" 'BEGIN { print a + c }')
			mem[$setting]=$(awk -v a="${mem[$setting]:-0}" -v m="$m" 'BEGIN { print (m > a ? m : a) }')
		done
	done
	for setting in "${settings[@]}"; do
		awk -v s="$setting" -v c="${cpu[$setting]}" -v off="${cpu[0]}" -v m="${mem[$setting]}" -v n="$EVENTS" -v r="$ROUNDS" 'BEGIN {
			printf "%-44s %8.3f CPU-s %8.0f ev/CPU-s  peak VmHWM %5d MB  %.2fx of 0\n", "mean, refresh_batch_memory = " s, c / r, n * r / c, m, off / c }'
	done
fi
pgs_result "Kafka JSON -> per-key tumbling count (one REFRESH, wall clock)" \
	"$(awk -v n="$EVENTS" -v p="$pg_s" 'BEGIN { printf "%.0f", n / p }')" "ev/s" "kcat -C raw consume" \
	"$(awk -v n="$EVENTS" -v k="$kcat_s" 'BEGIN { printf "%.0f", n / k }')"
pgs_result "Kafka JSON -> per-key tumbling count, per CPU second" \
	"$(awk -v n="$EVENTS" -v c="$pg_cpu" 'BEGIN { printf "%.0f", n / c }')" "ev/s" "target per core" 1000000
