#!/usr/bin/env bash
# Benchmark (not a test): a view with parallelism = 2 against the same
# view with parallelism = 1, on a preloaded Kafka topic of 8 partitions
# (JSON, a per-key tumbling count, as kafka.sh), each timed until its lag
# is 0 and every message is in it. Rounds alternate (1, 2, 1, 2, ...), in
# one server, on the test broker; each round is a new view over the same
# topic from its first offset.
#
# Time of a round: from the start of its first batch to the end of its
# last (stream.progress keeps them all here), so the workers' start and
# the poll that sees the end are not counted; the wall clock from CREATE
# to the poll that saw everything is printed too, and how the batches'
# time splits: reading (decoding) and the query (the partial aggregation),
# which shares run at the same time, the merge and write, which they run
# one at a time under the view's lock, and the rest (the wait for that
# lock, the bookkeeping). The figure is the
# median of the rounds. The broker and librdkafka's threads run on the
# same 2 cores as the workers.
#
# usage: bash test/bench/parallel.sh [EVENTS=480000] [ROUNDS=3] [KEYS=1000]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-480000}
ROUNDS=${2:-3}
KEYS=${3:-1000}
PARTS=8

pgs_install_deps kcat python3
pgs_build
WORK=$(mktemp -d /tmp/pgs_pbench.XXXXXX)
chmod 755 "$WORK"
trap 'pgs_stop_broker; pgs_stop_cluster; rm -rf "$WORK"' EXIT
pgs_start_broker
pgs_start_cluster "log_min_messages = warning" "pg_stream.progress_batches = 100000" \
	"max_parallel_workers_per_gather = 0"
pgs_broker create bench "$PARTS"

python3 - "$WORK" "$EVENTS" "$KEYS" "$PARTS" <<'PY'
import random, sys
work, n, keys, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
random.seed(1)
files = [open(f"{work}/p{p}.json", "w") for p in range(parts)]
for i in range(n):
    files[i % parts].write('{"key": "k%d", "value": %d, "ts": "2026-01-01T00:%02d:%02dZ"}\n'
                           % (random.randrange(keys), random.randrange(1000),
                              i * 10 // n, random.randrange(60)))
for f in files:
    f.close()
PY
for p in $(seq 0 $((PARTS - 1))); do
	kcat -P -l -b "$PGS_BROKERS" -t bench -p "$p" -X linger.ms=50 "$WORK/p$p.json"
done

pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER bench_kafka FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE bench (key text, value int, ts timestamptz) SERVER bench_kafka OPTIONS (topic 'bench');
SQL

# round N: the seconds from its first batch's start to its last's end, and
# the wall clock from CREATE to the poll that saw every message
round() {
	local n=$1 t0 t1
	t0=$(date +%s.%N)
	pgs_psql -q -c "CREATE MATERIALIZED VIEW v WITH (parallelism = $n, max_batch_rows = 50000) AS
		SELECT key, stream.tumble(ts, '1 minute') AS minute, count(*) AS n FROM bench GROUP BY 1, 2"
	pgs_wait_for "SELECT (SELECT sum(n) FROM v) = $EVENTS AND lag = 0 FROM stream.queries WHERE name = 'v'::regclass" 300
	t1=$(date +%s.%N)
	pgs_psql -At -F ' ' -c "SELECT extract(epoch FROM max(started_at + duration_ms * interval '1 ms') - min(started_at)),
		$t1 - $t0, count(*), count(DISTINCT share),
		round((100 * sum(read_ms) / sum(duration_ms))::numeric, 1),
		round((100 * sum(run_ms) / sum(duration_ms))::numeric, 1),
		round((100 * sum(merge_ms + write_ms) / sum(duration_ms))::numeric, 1),
		round((100 * sum(duration_ms - read_ms - run_ms - merge_ms - write_ms) / sum(duration_ms))::numeric, 1)
		FROM stream.progress WHERE name = 'v'::regclass"
	pgs_psql -q -c "DROP MATERIALIZED VIEW v"
}

: >"$WORK/times"
for r in $(seq 1 "$ROUNDS"); do
	for n in 1 2; do
		round $n >"$WORK/round"
		read -r s wall batches shares readpct runpct mergepct otherpct <"$WORK/round"
		printf "round %d, parallelism %d: %.3f s in batches (%d batches, %d shares), %.3f s wall\n" \
			"$r" "$n" "$s" "$batches" "$shares" "$wall"
		printf "    of the batches' time: read %s%%, query %s%%, merge+write %s%%, the rest (lock, bookkeeping) %s%%\n" \
			"$readpct" "$runpct" "$mergepct" "$otherpct"
		echo "$n $s" >>"$WORK/times"
	done
done

python3 - "$WORK/times" "$EVENTS" <<'PY'
import statistics, sys
times = {1: [], 2: []}
for line in open(sys.argv[1]):
    n, s = line.split()
    times[int(n)].append(float(s))
ev = int(sys.argv[2])
m1, m2 = statistics.median(times[1]), statistics.median(times[2])
print(f"\n{ev} JSON messages, 8 partitions, median of {len(times[1])} rounds")
print(f"{'parallelism = 1':<20} {ev / m1:12.0f} events/s")
print(f"{'parallelism = 2':<20} {ev / m2:12.0f} events/s  {m1 / m2:.2f}x  (target 1.6x)")
print(f"RESULT|Kafka JSON, parallelism = 2 (until lag 0)|{ev / m2:.0f}|ev/s|parallelism = 1|{ev / m1:.0f}")
PY
