#!/usr/bin/env bash
# All the benchmarks (not tests) in one run, then one table: each workload,
# pg_stream's figure, the baseline it is compared with, and the ratio.
# Each benchmark starts its own throwaway server (and test broker) and
# also prints its own detail; the full output is kept in the log directory
# named at the end. Several minutes on 2 cores.
#
# usage: bash test/bench/run.sh [SCALE=1]
#   SCALE multiplies the events of the throughput benchmarks (1: 1,000,000
#   insert-fed, 1,000,000 Kafka, 500,000 Nexmark bids, batches of 100,000)
source "$(dirname "$0")/../lib.sh"
SCALE=${1:-1}
pgs_install_deps kcat python3
pgs_build
LOG=$(mktemp -d /tmp/pg_stream_bench.XXXXXX)
runs=0
n() { echo $(($1 * SCALE)); }

run() { # run NAME SCRIPT ARGS...: its output into $LOG/NAME.log
	local name=$1
	shift
	pgs_log "$name"
	runs=$((runs + 1))
	name=$(printf "%02d_%s" $runs "$name")
	if ! bash "$PGS_ROOT/test/bench/$@" >"$LOG/$name.log" 2>&1; then
		echo "benchmark $name failed; its output:" >&2
		tail -20 "$LOG/$name.log" >&2
		exit 1
	fi
	grep -v '^RESULT|' "$LOG/$name.log" | tail -n 12
}
run insert bench.sh "$(n 1000000)" 1000 10000
run kafka kafka.sh "$(n 1000000)" 1000 16
run avro avro.sh "$(n 1000000)" 1000 16
run history history.sh "$(n 100000)"
run latency latency.sh 1000
export FETCH_WAIT_MS=10
run kafka_latency kafka_latency.sh 300
export FETCH_WAIT_MS=1
run kafka_latency_1ms kafka_latency.sh 300
run rss rss.sh 5000000
run nexmark nexmark.sh "$(n 500000)" 24
run file_idle file_idle.sh 100000 1000 10
run state state.sh "$(n 1000000)" 500000
run join3 join3.sh 200000 2000
run join_stacked join_stacked.sh 200000 3
run agg_agg agg_agg.sh 100000 15 100
run dedup dedup.sh "$(n 1000000)" "$(n 1000000)"
run session session.sh "$(n 1000000)" 100000
run kafka_sink kafka_sink.sh "$(n 200000)"
# (the test broker keeps at most 100,000 messages a partition: not scaled)
run parallel parallel.sh 480000 3
run parquet parquet.sh 8 "$(n 250000)"
run multinode multinode.sh "$(n 600000)"

echo
python3 - "$LOG" <<'PY'
import glob, sys
rows = []
for f in sorted(glob.glob(sys.argv[1] + "/*.log")):
    rows += [l.rstrip("\n").split("|")[1:] for l in open(f) if l.startswith("RESULT|")]
w = max(len(r[0]) for r in rows)
b = max([len(r[3]) for r in rows] + [8])
print(f"{'workload':<{w}}  {'pg_stream':>12} {'unit':<5} {'baseline':<{b}} {'its value':>12}  {'ratio':>7}")
print("-" * (w + b + 45))
for name, v, unit, base, bv in rows:
    fmt = (lambda x: f"{x:,.0f}") if unit == "ev/s" else \
        (lambda x: f"{x:,.4f}") if unit == "CPU-s/s" else (lambda x: f"{x:,.2f}")
    ratio = f"{float(v) / float(bv):.2f}x" if bv else ""
    print(f"{name:<{w}}  {fmt(float(v)):>12} {unit:<5} {base:<{b}} {fmt(float(bv)) if bv else '':>12}  {ratio:>7}")
PY
echo "(every benchmark's own output: $LOG)"
