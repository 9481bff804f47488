#!/usr/bin/env bash
# The exactly-once Kafka sink (sources/kafka/outbox.c), on a test broker
# with Kafka's transactions (librdkafka 2.15's mock cluster: see
# test/kafka/build_broker.sh).
#
# 60,000 rows go through an append view into a kafka sink with three
# partitions, keyed, in 60 transactions. On the way: the worker is killed
# with kill -9 six times, the server is stopped with -m immediate, the
# broker goes down for a while, and the worker's bookkeeping after a
# Kafka commit is made to fail (a lock on stream.sink_progress), so that
# Kafka holds batches PostgreSQL does not know were delivered; and a
# second view's batch is refused by Kafka (a partition the topic does not
# have) after some of its messages were produced, so its transaction is
# aborted. At the end a read_committed consumer (kcat) must get every row
# of the first view exactly once, with its key, and none of the aborted
# ones (a read_uncommitted one sees them), and the outbox must be empty.
source "$(dirname "$0")/../lib.sh"

WORK=$(mktemp -d /tmp/pgs_eos.XXXXXX)
chmod 755 "$WORK"
cleanup() {
	local rc=$?
	[ $rc = 0 ] || { pgs_psql -c "SELECT name, status, last_error FROM stream.queries" >&2 || true
		grep -E "pg_stream" "$PGS_DIR/log" | tail -20 >&2 || true; }
	pgs_stop_cluster
	pgs_stop_broker
	[ -n "${PGS_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
q() { pgs_psql -At -c "$1"; }

PGS_BROKER_TXN=1 pgs_start_broker
pgs_broker create out 3
pgs_broker create pg_stream-progress 1
pgs_start_cluster "deadlock_timeout = 400ms"

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER kafka_test FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE ev (id int, k int) SERVER stream;
CREATE TABLE ref (id int, k int);
CREATE FOREIGN TABLE out_k (id int, k int, key text OPTIONS (meta 'key'))
	SERVER kafka_test OPTIONS (topic 'out');
CREATE MATERIALIZED VIEW fwd WITH (sink = 'out_k', max_batch_rows = 700) AS
	SELECT id, k, k::text AS key FROM ev;
SQL
pgs_wait_for "SELECT status = 'running' FROM stream.queries" 30

feed() {
	local lo=$(($1 * 1000))
	q "WITH r AS (INSERT INTO ref SELECT i, i % 97 FROM generate_series($lo, $lo + 999) i RETURNING *)
		INSERT INTO ev SELECT * FROM r" >/dev/null
}
kill_worker() {
	local pid
	pid=$(pgs_pid_of 'pg_stream worker')
	[ -n "$pid" ] || return 0
	kill -9 "$pid"
	pgs_wait_up 1
}

for n in $(seq 0 59); do
	feed "$n"
	case $n in
	5 | 14 | 23 | 31 | 44 | 52) kill_worker ;;
	18)
		pgs_log "stop -m immediate"
		pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -m immediate -w stop >/dev/null
		pgs_restart_cluster
		pgs_wait_up 1
		;;
	27)
		pgs_log "the broker goes down for 3 s"
		pgs_broker down 1
		feed 1000
		feed 1001
		pgs_wait_for "SELECT status = 'waiting' FROM stream.queries" 60
		pgs_broker up 1
		;;
	36)
		# a Kafka commit whose bookkeeping fails: the lock lets the outbox
		# be read and the batch delivered, but not stream.sink_progress
		# written, so the worker's lock wait ends it after Kafka committed
		pgs_log "the bookkeeping of a delivery fails after Kafka's commit"
		{
			echo "BEGIN; LOCK TABLE stream.sink_progress IN EXCLUSIVE MODE;"
			echo "SELECT pg_sleep(3); COMMIT;"
		} | pgs_psql >/dev/null &
		pgs_wait_for "SELECT count(*) > 0 FROM pg_locks WHERE relation = 'stream.sink_progress'::regclass
			AND mode = 'ExclusiveLock' AND granted" 30
		feed 1002
		wait $!
		;;
	esac
done

# A batch with a message Kafka refuses (a partition the topic does not
# have) among messages it takes: its transaction is aborted, the good
# messages with it, which a read_committed consumer must not see (they
# are in the topic, and a read_uncommitted one does); after its tries the
# view fails, as an INSERT would, instead of waiting as for an outage.
pgs_psql <<SQL
CREATE FOREIGN TABLE ev2 (id int) SERVER stream;
CREATE FOREIGN TABLE bad_k (id int, k int, key text OPTIONS (meta 'key'), p int OPTIONS (meta 'partition'))
	SERVER kafka_test OPTIONS (topic 'out');
CREATE MATERIALIZED VIEW badp WITH (sink = 'bad_k') AS
	SELECT -id AS id, 0 AS k, '0' AS key, CASE WHEN id = 3 THEN 99 ELSE id % 3 END AS p FROM ev2;
INSERT INTO ev2 SELECT generate_series(1, 5);
SQL
pgs_wait_for "SELECT status = 'failed' FROM stream.queries WHERE name = 'badp'::regclass" 90
echo "a refused message: badp failed ($(q "SELECT last_error FROM stream.queries WHERE name = 'badp'::regclass"))"

pgs_wait_for "SELECT (SELECT count(*) FROM stream.outbox WHERE view = 'fwd'::regclass) = 0
	AND lag = 0 AND status = 'running' FROM stream.queries WHERE name = 'fwd'::regclass" 120
total=$(q "SELECT count(*) FROM ref")

consume() {
	kcat -C -b "$PGS_BROKERS" -t out -e -q -X "isolation.level=$1" -f '%k\t%s\n'
}
for i in $(seq 1 100); do
	consume read_committed >"$WORK/got.tsv"
	[ "$(wc -l <"$WORK/got.tsv")" -ge "$total" ] && break
	sleep 0.2
done
consume read_uncommitted >"$WORK/all.tsv"
chmod 644 "$WORK/got.tsv"
pgs_psql <<SQL
CREATE TABLE got (key text, v jsonb);
\copy got FROM '$WORK/got.tsv'
SQL
bad=$(q "SELECT count(*) FROM (
	(SELECT (v->>'id')::int, (v->>'k')::int, key FROM got EXCEPT ALL SELECT id, k, k::text FROM ref)
	UNION ALL
	(SELECT id, k, k::text FROM ref EXCEPT ALL SELECT (v->>'id')::int, (v->>'k')::int, key FROM got)) d")
recovered=$(grep -c "already: they are not sent again" "$PGS_DIR/log" || true)
echo "rows $total, a read_committed consumer got $(wc -l <"$WORK/got.tsv") (read_uncommitted: $(wc -l <"$WORK/all.tsv")), differences $bad; recoveries that sent nothing again: $recovered"
[ "$bad" = 0 ] || { echo "the consumer did not get every row exactly once" >&2; exit 1; }
[ "$recovered" -ge 1 ] || { echo "no delivery was found in Kafka by a recovery" >&2; exit 1; }
[ "$(wc -l <"$WORK/all.tsv")" -gt "$total" ] ||
	{ echo "no aborted message in the topic: the read_committed check proved nothing" >&2; exit 1; }

echo "kafka_eos: ok"
