#!/usr/bin/env bash
# Beyond one machine (README, "Beyond one machine"): three PostgreSQL
# clusters with pg_stream and the transactional test broker, on loopback.
#
#   raw (2 partitions) --node 1: view repart, exactly-once kafka sink,
#                        keyed by k (murmur2, as Java's producers)-->
#   rep (6 partitions) --node 1 reads 0-1, node 2 2-3, node 3 4-5:
#                        view agg, per key and minute-->
#   node 1: agg_all, a UNION ALL of its agg and the others' through
#           postgres_fdw
#
# 24,000 events go into raw in 12 rounds (INSERT into the kafka table);
# on the way the repartitioning worker of node 1 is killed with kill -9 in
# the middle of a batch, then the aggregating worker of node 2, then node
# 3's postmaster. When every lag is 0 (and the outbox empty), agg_all
# must equal the query run as a batch over raw (read back from the topic
# by a plain SELECT), EXCEPT ALL both ways; rep must hold each raw event
# exactly once, each key in one partition, the partition Java's murmur2
# gives it; and no group may be on two nodes.
source "$(dirname "$0")/../lib.sh"

NODES=3
declare -a DIRS PORTS
cleanup() {
	local rc=$? n
	for n in $(seq 1 $NODES); do
		[ -n "${DIRS[$n]:-}" ] || continue
		on "$n"
		if [ $rc != 0 ]; then
			echo "--- node $n" >&2
			pgs_psql -c "SELECT name, status, lag, batches, rows_in, last_error FROM stream.queries" >&2 || true
			grep -E "pg_stream|ERROR" "$PGS_DIR/log" | tail -10 >&2 || true
		fi
		pgs_stop_cluster
	done
	pgs_stop_broker
}
trap cleanup EXIT
# on N: the commands that follow talk to node N (pgs_psql, pgs_wait_for)
on() {
	PGS_DIR=${DIRS[$1]}
	PGS_PORT=${PORTS[$1]}
}
q() { pgs_psql -At -c "$1"; }

PGS_BROKER_TXN=1 pgs_start_broker
pgs_broker create raw 2
pgs_broker create rep 6
pgs_broker create pg_stream-progress 1
for n in $(seq 1 $NODES); do
	PGS_DIR="" PGS_PORT=""
	pgs_start_cluster
	DIRS[$n]=$PGS_DIR
	PORTS[$n]=$PGS_PORT
done

# every node: the repartition topic, its own share of it, the aggregation
parts=("" "0-1" "2-3" "4-5")
for n in $(seq 1 $NODES); do
	on "$n"
	pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER kafka_rep FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE rep_in (id bigint, k text, v int, ts timestamptz)
	SERVER kafka_rep OPTIONS (topic 'rep', partitions '${parts[$n]}');
CREATE MATERIALIZED VIEW agg WITH (max_batch_rows = 300) AS
	SELECT k, stream.tumble(ts, '1 minute') AS minute,
		count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi
	FROM rep_in GROUP BY k, minute;
SQL
done

# node 1: the raw topic, and the view that repartitions it by key
on 1
pgs_psql <<SQL
CREATE SERVER kafka_raw FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE raw (id bigint, k text, v int, ts timestamptz)
	SERVER kafka_raw OPTIONS (topic 'raw');
-- keys partitioned as Java's producers (Kafka Streams) do
CREATE SERVER kafka_out FOREIGN DATA WRAPPER kafka
	OPTIONS (brokers '$PGS_BROKERS', partitioner 'murmur2_random');
CREATE FOREIGN TABLE rep_out (id bigint, k text, v int, ts timestamptz, key text OPTIONS (meta 'key'))
	SERVER kafka_out OPTIONS (topic 'rep');
CREATE MATERIALIZED VIEW repart WITH (sink = 'rep_out', max_batch_rows = 500) AS
	SELECT id, k, v, ts, k AS key FROM raw;
SQL

# node 1 reads every node's result
pgs_psql <<SQL
CREATE EXTENSION postgres_fdw;
CREATE SERVER node2 FOREIGN DATA WRAPPER postgres_fdw
	OPTIONS (host '127.0.0.1', port '${PORTS[2]}', dbname 'postgres', async_capable 'true');
CREATE SERVER node3 FOREIGN DATA WRAPPER postgres_fdw
	OPTIONS (host '127.0.0.1', port '${PORTS[3]}', dbname 'postgres', async_capable 'true');
CREATE USER MAPPING FOR postgres SERVER node2 OPTIONS (user 'postgres');
CREATE USER MAPPING FOR postgres SERVER node3 OPTIONS (user 'postgres');
CREATE FOREIGN TABLE agg_n2 (k text, minute timestamptz, n bigint, s bigint, lo int, hi int)
	SERVER node2 OPTIONS (schema_name 'public', table_name 'agg');
CREATE FOREIGN TABLE agg_n3 (k text, minute timestamptz, n bigint, s bigint, lo int, hi int)
	SERVER node3 OPTIONS (schema_name 'public', table_name 'agg');
CREATE VIEW agg_all AS
	SELECT 1 AS node, * FROM agg
	UNION ALL SELECT 2, * FROM agg_n2
	UNION ALL SELECT 3, * FROM agg_n3;
SQL
for n in $(seq 1 $NODES); do
	on "$n"
	pgs_wait_for "SELECT bool_and(status = 'running') FROM stream.queries" 30
done

# a worker of a view of the current node in the middle of a batch (waits
# up to 6 s; empty if none)
batch_pid() {
	local i pid=""
	for i in $(seq 1 300); do
		pid=$(q "SELECT a.pid FROM stream.queries c JOIN pg_stat_activity a ON a.pid = c.worker_pid
			WHERE c.name = '$1'::regclass AND a.state = 'active' AND a.query LIKE 'pg_stream batch%'")
		[ -n "$pid" ] && break
		sleep 0.02
	done
	echo "$pid"
}
kill_worker() {
	local pid
	on "$1"
	pid=$(batch_pid "$2")
	if [ -n "$pid" ]; then
		pgs_log "node $1: kill -9 the worker of $2 ($pid) during a batch"
	else
		# its batches are short: between two of them, then
		pid=$(q "SELECT worker_pid FROM stream.queries WHERE name = '$2'::regclass")
		pgs_log "node $1: kill -9 the worker of $2 ($pid), between batches"
	fi
	kill -9 "$pid"
	pgs_wait_up "$3"
}

ROUNDS=12
PER=2000
for r in $(seq 0 $((ROUNDS - 1))); do
	on 1
	q "INSERT INTO raw SELECT i, 'k' || (i * 7919 % 200), (i * 31 % 1000)::int,
		'2026-12-01 00:00:00+00'::timestamptz + (i * 37 % 6000) * interval '100 ms'
		FROM generate_series($((r * PER)), $((r * PER + PER - 1))) i" >/dev/null
	case $r in
	3) kill_worker 1 repart 2 ;;
	6) kill_worker 2 agg 1 ;;
	8)
		on 3
		pm=$(head -1 "$PGS_DIR/data/postmaster.pid")
		pgs_log "node 3: kill -9 the postmaster ($pm)"
		kill -9 "$pm"
		pgs_restart_cluster
		pgs_wait_up 1
		;;
	esac
done

# every lag 0: the repartitioning first (and its outbox delivered), then
# each node's aggregation
on 1
pgs_wait_for "SELECT lag = 0 AND (SELECT count(*) FROM stream.outbox) = 0
	FROM stream.queries WHERE name = 'repart'::regclass" 60
for n in $(seq 1 $NODES); do
	on "$n"
	pgs_wait_for "SELECT lag = 0 AND status = 'running' FROM stream.queries WHERE name = 'agg'::regclass" 60
done
# a REFRESH of a view over rep ends (past the transactions' markers)
on 2
q "REFRESH MATERIALIZED VIEW agg"
for n in $(seq 1 $NODES); do
	on "$n"
	echo "node $n: $(q "SELECT format('agg: %s batches, %s rows in, %s groups', batches, rows_in,
		(SELECT count(*) FROM agg)) FROM stream.queries WHERE name = 'agg'::regclass")"
done

on 1
total=$((ROUNDS * PER))
pgs_psql <<SQL
CREATE TABLE raw_copy AS SELECT * FROM raw;
CREATE FOREIGN TABLE rep_check (id bigint, k text, v int, ts timestamptz,
	key text OPTIONS (meta 'key'), part int OPTIONS (meta 'partition'))
	SERVER kafka_raw OPTIONS (topic 'rep');
CREATE TABLE rep_copy AS SELECT * FROM rep_check;
SQL
got=$(q "SELECT count(*) FROM raw_copy")
[ "$got" = "$total" ] || { echo "raw holds $got events, not $total" >&2; exit 1; }

# the repartition topic: each raw event once (a read_committed consumer),
# keyed by k, each key in one partition: murmur2's, as Java's producers
rep_bad=$(q "SELECT count(*) FROM (
	(SELECT id, k, v, ts FROM rep_copy EXCEPT ALL SELECT id, k, v, ts FROM raw_copy)
	UNION ALL
	(SELECT id, k, v, ts FROM raw_copy EXCEPT ALL SELECT id, k, v, ts FROM rep_copy)) d")
echo "rep: $(q "SELECT count(*) FROM rep_copy") messages, differences from raw: $rep_bad"
[ "$rep_bad" = 0 ] || { echo "the repartition topic does not hold each event once" >&2; exit 1; }
[ "$(q "SELECT count(*) FROM rep_copy WHERE key IS DISTINCT FROM k")" = 0 ] ||
	{ echo "a message of rep is not keyed by k" >&2; exit 1; }
q "SELECT DISTINCT key, part FROM rep_copy ORDER BY 1" | python3 -c '
import sys
def murmur2(data):
    # Kafka'"'"'s Utils.murmur2, as its Java producers partition keys
    m, h = 0x5bd1e995, (0x9747b28c ^ len(data)) & 0xffffffff
    n4 = len(data) // 4
    for i in range(n4):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * m) & 0xffffffff
        k ^= k >> 24
        k = (k * m) & 0xffffffff
        h = ((h * m) & 0xffffffff) ^ k
    rest = data[4 * n4:]
    if len(rest) == 3:
        h ^= rest[2] << 16
    if len(rest) >= 2:
        h ^= rest[1] << 8
    if len(rest) >= 1:
        h ^= rest[0]
        h = (h * m) & 0xffffffff
    h ^= h >> 13
    h = (h * m) & 0xffffffff
    h ^= h >> 15
    return h
keys = {}
for line in sys.stdin:
    key, part = line.rstrip("\n").split("|")
    keys.setdefault(key, []).append(int(part))
bad = [k for k, p in keys.items() if p != [(murmur2(k.encode()) & 0x7fffffff) % 6]]
print(f"rep: {len(keys)} keys, each in one partition, Java'"'"'s murmur2 partition: {len(keys) - len(bad)}")
sys.exit(1 if bad or len(keys) != 200 else 0)'

# the union asks the nodes at once (async_capable)
[ "$(q "EXPLAIN (COSTS OFF) SELECT * FROM agg_all" | grep -c "Async Foreign Scan")" = 2 ] ||
	{ echo "agg_all does not read the nodes asynchronously" >&2; exit 1; }
# no group on two nodes, every node has some, and the union is the batch query
pgs_psql -c "SELECT node, count(*) AS groups, sum(n) AS events FROM agg_all GROUP BY node ORDER BY node"
[ "$(q "SELECT count(*) FROM (SELECT k, minute FROM agg_all GROUP BY 1, 2 HAVING count(*) > 1) d")" = 0 ] ||
	{ echo "a group is on two nodes" >&2; exit 1; }
[ "$(q "SELECT count(DISTINCT node) FROM agg_all")" = 3 ] || { echo "a node has no group" >&2; exit 1; }
bad=$(q "WITH batch AS (
		SELECT k, stream.tumble(ts, '1 minute') AS minute,
			count(*) AS n, sum(v) AS s, min(v) AS lo, max(v) AS hi
		FROM raw_copy GROUP BY k, minute),
	u AS (SELECT k, minute, n, s, lo, hi FROM agg_all)
	SELECT count(*) FROM ((SELECT * FROM u EXCEPT ALL SELECT * FROM batch)
		UNION ALL (SELECT * FROM batch EXCEPT ALL SELECT * FROM u)) d")
echo "agg_all: $(q "SELECT count(*) FROM agg_all") groups, $(q "SELECT sum(n) FROM agg_all") events; differences from the batch query: $bad"
[ "$bad" = 0 ] || { echo "the union of the nodes is not the batch query" >&2; exit 1; }
echo "multinode: ok"
