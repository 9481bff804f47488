#!/usr/bin/env bash
# Benchmark (not a test): Kafka Avro (Confluent's wire format, through the
# registry stand-in test/registry/registry.py) into a per-key tumbling
# count, against JSON of the same events in the same run, on the test
# broker. Both topics are filled by INSERT into the tables themselves (our
# encoders: the test, test/scripts/avro.sh, checks them against
# python3-avro); each view's work is one REFRESH in one backend, timed by
# pgs_timed: events per CPU second of the backend (librdkafka's threads
# included), so per core.
#
# usage: bash test/bench/avro.sh [EVENTS=1000000] [KEYS=1000] [PARTITIONS=16]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-1000000}
KEYS=${2:-1000}
PARTS=${3:-16}
PY=/usr/bin/python3

pgs_install_deps kcat python3 python3-avro libavro-dev libcurl4-openssl-dev
pgs_build
WORK=$(mktemp -d /tmp/pgs_abench.XXXXXX)
chmod 755 "$WORK"
trap '[ -n "${REG_PID:-}" ] && kill "$REG_PID"; pgs_stop_broker; pgs_stop_cluster; rm -rf "$WORK"' EXIT
$PY "$PGS_ROOT/test/registry/registry.py" "$WORK/reg.status" "$WORK/reg.state" &
REG_PID=$!
i=0
until [ -s "$WORK/reg.status" ]; do i=$((i + 1)); [ $i -gt 100 ] && exit 1; sleep 0.1; done
REG="http://127.0.0.1:$(awk '{print $2}' "$WORK/reg.status")"
pgs_start_broker
pgs_start_cluster "log_min_messages = warning"
pgs_broker create ev_json "$PARTS"
pgs_broker create ev_avro "$PARTS"

pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER k FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS', schema_registry '$REG');
CREATE FOREIGN TABLE ev_json (key text, value int, ts timestamptz, p int OPTIONS (meta 'partition'))
	SERVER k OPTIONS (topic 'ev_json');
CREATE FOREIGN TABLE ev_avro (key text, value int, ts timestamptz, p int OPTIONS (meta 'partition'))
	SERVER k OPTIONS (topic 'ev_avro', format 'avro');
CREATE TABLE events AS
	SELECT 'k' || (hashint4(i) & 1048575) % $KEYS AS key, (hashint4(-i) & 1023) AS value,
		'2026-01-01'::timestamptz + (i * 600 / $EVENTS) * interval '1 second' + (hashint4(i) & 59) * interval '1 second' AS ts,
		i % $PARTS AS p
	FROM generate_series(1, $EVENTS) i;
INSERT INTO ev_json SELECT * FROM events;
INSERT INTO ev_avro SELECT * FROM events;
CREATE MATERIALIZED VIEW count_json WITH (trigger = 'manual', max_batch_rows = 100000) AS
	SELECT key, stream.tumble(ts, '1 minute') AS minute, count(*) AS n FROM ev_json GROUP BY 1, 2;
CREATE MATERIALIZED VIEW count_avro WITH (trigger = 'manual', max_batch_rows = 100000) AS
	SELECT key, stream.tumble(ts, '1 minute') AS minute, count(*) AS n FROM ev_avro GROUP BY 1, 2;
SQL
json_bytes=$(kcat -C -b "$PGS_BROKERS" -t ev_json -p 0 -o beginning -c 1000 -e -q -f '%S\n' | awk '{ s += $1 } END { printf "%.0f", s / NR }')
avro_bytes=$(kcat -C -b "$PGS_BROKERS" -t ev_avro -p 0 -o beginning -c 1000 -e -q -f '%S\n' | awk '{ s += $1 } END { printf "%.0f", s / NR }')
read -r json_s json_cpu < <(pgs_timed "REFRESH MATERIALIZED VIEW count_json")
read -r avro_s avro_cpu < <(pgs_timed "REFRESH MATERIALIZED VIEW count_avro")
[ "$(pgs_psql -At -c "SELECT sum(n) FROM count_json")" = "$EVENTS" ] || { echo "the json view missed messages"; exit 1; }
[ "$(pgs_psql -At -c "SELECT sum(n) FROM count_avro")" = "$EVENTS" ] || { echo "the avro view missed messages"; exit 1; }
d=$(pgs_psql -At -c "SELECT count(*) FROM (SELECT * FROM count_json EXCEPT ALL SELECT * FROM count_avro) a")
[ "$d" = 0 ] || { echo "the views differ"; exit 1; }

awk -v n="$EVENTS" -v js="$json_s" -v jc="$json_cpu" -v as="$avro_s" -v ac="$avro_cpu" -v jb="$json_bytes" -v ab="$avro_bytes" \
	-v keys="$KEYS" -v parts="$PARTS" 'BEGIN {
	printf "\n%-66s %12s %12s\n", sprintf("%d events, %d keys, %d partitions: per-key tumbling count", n, keys, parts), "events/s", "per CPU-s"
	printf "%-66s %12.0f %12.0f\n", sprintf("JSON (%d B a message)", jb), n / js, n / jc
	printf "%-66s %12.0f %12.0f\n", sprintf("Avro, registry wire format (%d B a message)", ab), n / as, n / ac
	printf "%-66s %12s %11.2fx\n", "Avro against JSON, per CPU second", "", (n / ac) / (n / jc)
}'
pgs_result "Kafka Avro (registry) -> per-key tumbling count, per CPU second" \
	"$(awk -v n="$EVENTS" -v c="$avro_cpu" 'BEGIN { printf "%.0f", n / c }')" "ev/s" "the same events in JSON" \
	"$(awk -v n="$EVENTS" -v c="$json_cpu" 'BEGIN { printf "%.0f", n / c }')"
