#!/usr/bin/env bash
# The exactly-once Kafka sink against the at-least-once one (and against
# an append view with no sink): N rows, already in an INSERT-fed stream,
# through an append view into a kafka table of 16 partitions, timed from
# the view's creation until every row is in Kafka (exactly-once: the
# outbox is empty; at-least-once: the batches, which produce, are done).
# Each on the test broker with transactions (test/kafka/build_broker.sh),
# whose mock cluster keeps at most 5 MB (and 100,000 messages) per
# partition, dropping the oldest: hence 16 partitions, and N of a few
# hundred thousand.
#
# usage: bash test/bench/kafka_sink.sh [N=200000]
source "$(dirname "$0")/../lib.sh"
N=${1:-200000}
trap 'pgs_stop_cluster; pgs_stop_broker' EXIT
PGS_BROKER_TXN=1 pgs_start_broker
pgs_broker create pg_stream-progress 1
pgs_start_cluster "log_min_messages = warning"
q() { pgs_psql -At -c "$1"; }

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER k FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
SQL

# time_view NAME SINK_OPTION: seconds from CREATE until it has everything
time_view() {
	local name=$1 with=$2 t0 t1
	# a view reads what arrives after its creation: made and stopped
	# first, started once the rows are there
	q "CREATE FOREIGN TABLE ${name}_ev (id int, k int, payload text) SERVER stream" >/dev/null
	q "CREATE MATERIALIZED VIEW $name WITH ($with) AS SELECT id, k, payload, k::text AS key FROM ${name}_ev" >/dev/null
	q "SELECT stream.stop('$name')" >/dev/null
	q "INSERT INTO ${name}_ev SELECT i, i % 1000, repeat('x', 40) FROM generate_series(1, $N) i" >/dev/null
	t0=$(date +%s.%N)
	q "SELECT stream.start('$name')" >/dev/null
	pgs_wait_for "SELECT count(*) = $N FROM $name" 600
	pgs_wait_for "SELECT NOT EXISTS (SELECT FROM stream.outbox)" 600
	t1=$(date +%s.%N)
	python3 -c "print($t1 - $t0)"
}

pgs_broker create eos 16
pgs_broker create alo 16
# keyed: spread over the partitions by key (unkeyed messages go to one
# partition at a time, librdkafka's sticky partitioner)
q "CREATE FOREIGN TABLE eos_out (id int, k int, payload text, key text OPTIONS (meta 'key'))
	SERVER k OPTIONS (topic 'eos')" >/dev/null
q "CREATE FOREIGN TABLE alo_out (id int, k int, payload text, key text OPTIONS (meta 'key'))
	SERVER k OPTIONS (topic 'alo', delivery 'at_least_once')" >/dev/null

plain=$(time_view plain "max_batch_rows = 100000")
alo=$(time_view alo "sink = 'alo_out', max_batch_rows = 100000")
eos=$(time_view eos "sink = 'eos_out', max_batch_rows = 100000")
# what a read_committed consumer gets from the exactly-once topic
got=$(kcat -C -b "$PGS_BROKERS" -t eos -e -q -X isolation.level=read_committed | wc -l)
[ "$got" = "$N" ] || { echo "the exactly-once topic holds $got messages, not $N" >&2; exit 1; }

r_plain=$(pgs_rate "$N" "$plain")
r_alo=$(pgs_rate "$N" "$alo")
r_eos=$(pgs_rate "$N" "$eos")
echo "$N rows: no sink ${plain}s ($r_plain ev/s), at-least-once ${alo}s ($r_alo ev/s), exactly-once ${eos}s ($r_eos ev/s)"
pgs_result "kafka sink: exactly-once" "$r_eos" "ev/s" "at-least-once sink" "$r_alo"
pgs_result "kafka sink: at-least-once" "$r_alo" "ev/s" "append view, no sink" "$r_plain"
