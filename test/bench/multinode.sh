#!/usr/bin/env bash
# Benchmark (not a test): the aggregating stage of the multi-node recipe
# (README, "Beyond one machine") on 1, 2 and 3 PostgreSQL clusters on
# loopback, against itself on 1 node in the same run.
#
# A keyed topic (the repartition topic: JSON, murmur2 on the key, as the
# recipe's first view writes it) is preloaded on the test broker. For
# NODES = 1, 2, 3 each of the first NODES clusters makes a manual view
# per key and minute over its share of the partitions (the `partitions`
# option: partition p to node p % NODES), and all of them REFRESH at once;
# each REFRESH is timed by the wall clock and by the CPU its backend used
# (librdkafka's threads included). Best of RUNS runs per NODES (the
# machine is shared). Printed: events/s per node (the node's events over
# its own wall time), the total (all events over the slowest node's
# time), and the ratios to 1 node.
#
# Every cluster, the broker and the client run on this one machine: with
# 2 cores, 2 or 3 nodes share them, so per-node figures must fall; what
# the run shows is what is left per node when nodes share nothing but
# Kafka (no coordination: the total only grows with cores).
#
# usage: bash test/bench/multinode.sh [EVENTS=600000] [KEYS=10000] [PARTITIONS=24] [RUNS=3]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-600000}
KEYS=${2:-10000}
PARTS=${3:-24}
RUNS=${4:-3}
MAXNODES=3

pgs_install_deps kcat python3
pgs_build
WORK=$(mktemp -d /tmp/pgs_mnbench.XXXXXX)
chmod 755 "$WORK"
declare -a DIRS PORTS
cleanup() {
	local n
	for n in $(seq 1 $MAXNODES); do
		[ -n "${DIRS[$n]:-}" ] || continue
		on "$n"
		pgs_stop_cluster
	done
	pgs_stop_broker
	rm -rf "$WORK"
}
trap cleanup EXIT
on() {
	PGS_DIR=${DIRS[$1]}
	PGS_PORT=${PORTS[$1]}
}

pgs_start_broker
pgs_broker create rep "$PARTS"
for n in $(seq 1 $MAXNODES); do
	PGS_DIR="" PGS_PORT=""
	pgs_start_bench_cluster
	DIRS[$n]=$PGS_DIR
	PORTS[$n]=$PGS_PORT
	pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER kafka_rep FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
SQL
done

python3 - "$WORK" "$EVENTS" "$KEYS" <<'PY'
import random, sys
work, n, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(1)
with open(f"{work}/rep.txt", "w") as f:
    for i in range(n):
        k = "k%d" % random.randrange(keys)
        f.write('%s|{"id": %d, "k": "%s", "v": %d, "ts": "2026-12-01T00:%02d:%02dZ"}\n'
                % (k, i, k, random.randrange(1000), i * 10 // n, random.randrange(60)))
PY
kcat -P -b "$PGS_BROKERS" -t rep -K '|' -l -X topic.partitioner=murmur2_random -X linger.ms=50 "$WORK/rep.txt"

# the partitions node n of nodes reads: p % nodes = n - 1
share() {
	python3 -c "import sys; print(','.join(str(p) for p in range($PARTS) if p % $1 == $2 - 1))"
}

results="$WORK/results"
: >"$results"
for nodes in 1 2 3; do
	for run in $(seq 1 "$RUNS"); do
		for n in $(seq 1 "$nodes"); do
			on "$n"
			pgs_psql -q <<SQL
DROP MATERIALIZED VIEW IF EXISTS agg;
DROP FOREIGN TABLE IF EXISTS rep_in;
CREATE FOREIGN TABLE rep_in (id bigint, k text, v int, ts timestamptz)
	SERVER kafka_rep OPTIONS (topic 'rep', partitions '$(share "$nodes" "$n")');
CREATE MATERIALIZED VIEW agg WITH (trigger = 'manual', max_batch_rows = 100000) AS
	SELECT k, stream.tumble(ts, '1 minute') AS minute,
		count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi
	FROM rep_in GROUP BY k, minute;
SQL
		done
		pids=""
		for n in $(seq 1 "$nodes"); do
			(
				on "$n"
				pgs_timed "REFRESH MATERIALIZED VIEW agg" >"$WORK/t$n"
			) &
			pids="$pids $!"
		done
		# (not a bare wait: the broker runs in the background too)
		for p in $pids; do wait "$p"; done
		total=0
		for n in $(seq 1 "$nodes"); do
			on "$n"
			ev=$(pgs_psql -At -c "SELECT coalesce(sum(n), 0) FROM agg")
			total=$((total + ev))
			read -r wall cpu <"$WORK/t$n"
			echo "$nodes $run $n $ev $wall $cpu" >>"$results"
		done
		[ "$total" = "$EVENTS" ] || { echo "the nodes' views hold $total events, not $EVENTS" >&2; exit 1; }
	done
done

python3 - "$results" "$EVENTS" "$PARTS" "$KEYS" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
events, parts, keys = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
best = {}
for nodes in (1, 2, 3):
    runs = {}
    for r in rows:
        if int(r[0]) == nodes:
            runs.setdefault(int(r[1]), []).append((int(r[3]), float(r[4]), float(r[5])))
    # the run whose slowest node was fastest
    run = min(runs.values(), key=lambda nn: max(w for _, w, _ in nn))
    per_node = sum(ev / w for ev, w, _ in run) / nodes
    per_cpu = sum(ev / c for ev, _, c in run) / nodes
    total = events / max(w for _, w, _ in run)
    best[nodes] = (per_node, per_cpu, total, run)
print(f"\n{events} JSON messages, {keys} keys, {parts} partitions; per key and minute;"
      " best of the runs (the slowest node's time)")
print(f"{'nodes':>5} {'per node (wall)':>16} {'ratio':>7} {'per node CPU-s':>15} {'ratio':>7} {'total ev/s':>12} {'ratio':>7}")
for nodes, (pn, pc, tot, run) in best.items():
    print(f"{nodes:>5} {pn:>16,.0f} {pn / best[1][0]:>6.2f}x {pc:>15,.0f} {pc / best[1][1]:>6.2f}x"
          f" {tot:>12,.0f} {tot / best[1][2]:>6.2f}x   "
          + ", ".join(f"node {i + 1}: {ev} ev in {w:.2f} s ({c:.2f} CPU-s)" for i, (ev, w, c) in enumerate(run)))
for nodes in (2, 3):
    pn, pc, tot, _ = best[nodes]
    print(f"RESULT|multi-node aggregation, events/s per node, {nodes} nodes on one 2-core machine|"
          f"{pn:.0f}|ev/s|the same on 1 node|{best[1][0]:.0f}")
    print(f"RESULT|multi-node aggregation, events/s per node's CPU second, {nodes} nodes|"
          f"{pc:.0f}|ev/s|the same on 1 node|{best[1][1]:.0f}")
    print(f"RESULT|multi-node aggregation, events/s of all nodes, {nodes} nodes|"
          f"{tot:.0f}|ev/s|the same on 1 node|{best[1][2]:.0f}")
PY
