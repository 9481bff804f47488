#!/usr/bin/env bash
# start_offset as a time: a new view starts in each partition at the
# first message whose timestamp is at or after it (Kafka's
# offsets-for-times), and at the end of a partition that has none. On the
# test broker built on librdkafka 2.15 (test/kafka/build_broker.sh),
# whose ListOffsets answers by timestamp (Debian's 2.0.2 mock answers -1).
source "$(dirname "$0")/../lib.sh"
trap 'pgs_stop_cluster; pgs_stop_broker' EXIT
q() { pgs_psql -At -c "$1"; }

PGS_BROKER_TXN=1 pgs_start_broker
pgs_broker create t 3
pgs_start_cluster
q "CREATE EXTENSION pg_stream" >/dev/null
q "CREATE SERVER k FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS')" >/dev/null

# the time now, as the server writes it, once it has moved past the last
# message (timestamps are milliseconds)
mark() {
	local t
	t=$(q "SELECT pg_sleep(0.01), to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.MS') || '+00'" | cut -d'|' -f2)
	echo "$t"
}

for p in 0 1 2; do
	python3 -c "import json
for i in range($p * 100 + 1, $p * 100 + 51): print(json.dumps({'n': i}))" | kcat -P -b "$PGS_BROKERS" -t t -p $p
done
t1=$(mark)
for p in 0 1 2; do
	python3 -c "import json
for i in range($p * 100 + 51, $p * 100 + 101): print(json.dumps({'n': i}))" | kcat -P -b "$PGS_BROKERS" -t t -p $p
done
t2=$(mark)
echo "first half before $t1, second half before $t2"

pgs_psql -q <<SQL
CREATE FOREIGN TABLE from_t1 (n int) SERVER k OPTIONS (topic 't', start_offset '$t1');
CREATE FOREIGN TABLE from_t2 (n int) SERVER k OPTIONS (topic 't', start_offset '$t2');
CREATE FOREIGN TABLE from_old (n int) SERVER k OPTIONS (topic 't', start_offset '2000-01-01 00:00:00+00');
CREATE MATERIALIZED VIEW v1 AS SELECT n FROM from_t1;
CREATE MATERIALIZED VIEW v2 AS SELECT n FROM from_t2;
CREATE MATERIALIZED VIEW v0 AS SELECT n FROM from_old;
REFRESH MATERIALIZED VIEW v1;
REFRESH MATERIALIZED VIEW v2;
REFRESH MATERIALIZED VIEW v0;
SQL
# in every partition, the second half from t1; nothing from t2 (the ends);
# everything from a time before all
second=$(q "SELECT count(*) FROM ((TABLE v1 EXCEPT ALL SELECT p * 100 + i FROM generate_series(0, 2) p,
	generate_series(51, 100) i) UNION ALL (SELECT p * 100 + i FROM generate_series(0, 2) p,
	generate_series(51, 100) i EXCEPT ALL TABLE v1)) d")
[ "$second" = 0 ] || { echo "from $t1: $(q "SELECT count(*) FROM v1") rows, not the 150 of the second half" >&2; exit 1; }
[ "$(q "SELECT count(*) FROM v2")" = 0 ] || { echo "from $t2: $(q "SELECT count(*) FROM v2") rows, not 0" >&2; exit 1; }
[ "$(q "SELECT count(*) FROM v0")" = 300 ] || { echo "from 2000: $(q "SELECT count(*) FROM v0") rows" >&2; exit 1; }
# and what comes after t2 is read from where the view started
for p in 0 1 2; do echo '{"n": 1000}' | kcat -P -b "$PGS_BROKERS" -t t -p $p; done
q "REFRESH MATERIALIZED VIEW v2" >/dev/null
[ "$(q "SELECT count(*) FROM v2 WHERE n = 1000")" = 3 ] || { echo "v2 after new messages: $(q "TABLE v2")" >&2; exit 1; }
echo "start_offset '$t1': the 150 messages after it; '$t2': none, then the 3 new ones; 2000: all 300"
echo "kafka_times: ok"
