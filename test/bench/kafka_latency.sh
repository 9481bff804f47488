#!/usr/bin/env bash
# Benchmark (not a test): latency from producing one message to Kafka to
# its row being visible in a continuous view (default trigger), over N
# messages one after the other, on the test broker. FETCH_WAIT_MS (default
# 10, pg_stream's default) sets the server's fetch.wait.max.ms: librdkafka's
# mock cluster answers a fetch that found nothing only after that long,
# even when a message arrives meanwhile (a real broker answers at once),
# so on the test broker this wait bounds the latency. Each message is
# produced by an INSERT into a kafka foreign table (which returns once the
# broker has acknowledged it); the clock starts before that INSERT. Prints
# p50 / p99 / max in milliseconds.
#
# The measuring session polls the view without sleeping: pg_sleep sleeps at
# least a millisecond, which would round every figure up to one.
#
# usage: bash test/bench/kafka_latency.sh [N=300]
source "$(dirname "$0")/../lib.sh"
N=${1:-300}

pgs_install_deps kcat
pgs_build
trap 'pgs_stop_broker; pgs_stop_cluster' EXIT
pgs_start_broker
pgs_start_cluster "log_min_messages = warning"
pgs_broker create lat 1

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER lat_kafka FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS', "fetch.wait.max.ms" '${FETCH_WAIT_MS:-10}');
CREATE FOREIGN TABLE lat_out (id int) SERVER lat_kafka OPTIONS (topic 'lat');
CREATE FOREIGN TABLE lat_in (id int) SERVER lat_kafka OPTIONS (topic 'lat');
CREATE MATERIALIZED VIEW lat_v AS SELECT id FROM lat_in;
CREATE TABLE lat_result (id int, produce_ms float8, visible_ms float8);
CREATE PROCEDURE measure(n int) LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz;
	t_produced float8;
BEGIN
	FOR i IN 1..n LOOP
		t0 := clock_timestamp();
		INSERT INTO lat_out VALUES (i);
		t_produced := extract(epoch FROM clock_timestamp() - t0) * 1000;
		COMMIT;
		LOOP
			EXIT WHEN EXISTS (SELECT FROM lat_v WHERE id = i);
		END LOOP;
		INSERT INTO lat_result VALUES (i, t_produced, extract(epoch FROM clock_timestamp() - t0) * 1000);
		COMMIT;
	END LOOP;
END \$\$;
SQL
pgs_wait_for "SELECT status = 'running' FROM stream.queries"
pgs_psql -c "CALL measure($N)"
pgs_psql -c "SELECT count(*) AS messages,
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY produce_ms)::numeric, 2) AS produce_p50_ms,
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY visible_ms)::numeric, 2) AS p50_ms,
	round(percentile_cont(0.99) WITHIN GROUP (ORDER BY visible_ms)::numeric, 2) AS p99_ms,
	round(max(visible_ms)::numeric, 2) AS max_ms
FROM lat_result WHERE id > 10"
pgs_psql -At -F ' ' -c "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY visible_ms),
	percentile_cont(0.99) WITHIN GROUP (ORDER BY visible_ms) FROM lat_result WHERE id > 10" | {
	read -r p50 p99
	w="Kafka produce -> visible row, default trigger, fetch.wait.max.ms ${FETCH_WAIT_MS:-10}"
	pgs_result "$w: p50" "$p50" "ms" "target" 2
	pgs_result "$w: p99" "$p99" "ms" "target" 10
}
