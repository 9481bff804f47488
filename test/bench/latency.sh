#!/usr/bin/env bash
# Benchmark (not a test): latency from the commit of a one-row INSERT into
# a stream to the row being visible in a continuous view (default
# trigger), over N transactions one after the other. Prints p50 / p99 /
# max in milliseconds, for an append view and, read by the same inserts,
# an aggregating one.
#
# The measuring session polls the view without sleeping: pg_sleep sleeps at
# least a millisecond, which would round every figure up to one.
#
# usage: bash test/bench/latency.sh [N=1000]
source "$(dirname "$0")/../lib.sh"
N=${1:-1000}

pgs_install_deps
pgs_build
trap pgs_stop_cluster EXIT
pgs_start_cluster "log_min_messages = warning"

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE lat_s (id int, at timestamptz) SERVER stream;
CREATE MATERIALIZED VIEW lat_v AS SELECT id, at FROM lat_s;
CREATE MATERIALIZED VIEW lat_agg AS SELECT id % 10 AS k, count(*) AS n, max(id) AS last FROM lat_s GROUP BY 1;
CREATE TABLE lat_result (view text, id int, ms float8);
CREATE PROCEDURE measure(n int) LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz;
	seen_v bool;
	seen_agg bool;
	t_v float8;
BEGIN
	FOR i IN 1..n LOOP
		t0 := clock_timestamp();
		INSERT INTO lat_s VALUES (i, t0);
		COMMIT;
		t_v := NULL;
		LOOP
			IF t_v IS NULL AND EXISTS (SELECT FROM lat_v WHERE id = i) THEN
				t_v := extract(epoch FROM clock_timestamp() - t0) * 1000;
			END IF;
			EXIT WHEN t_v IS NOT NULL AND EXISTS (SELECT FROM lat_agg WHERE last = i);
		END LOOP;
		INSERT INTO lat_result VALUES ('append view', i, t_v),
			('aggregating view', i, extract(epoch FROM clock_timestamp() - t0) * 1000);
		COMMIT;
	END LOOP;
END \$\$;
SQL
pgs_wait_for "SELECT count(*) = 2 FROM stream.queries WHERE status = 'running'"
pgs_psql -c "CALL measure($N)"
pgs_psql -c "SELECT view, count(*) AS commits,
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p50_ms,
	round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 2) AS p99_ms,
	round(max(ms)::numeric, 2) AS max_ms
FROM lat_result WHERE id > 10 GROUP BY view ORDER BY view DESC"
pgs_psql -At -F ' ' -c "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms),
	percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) FROM lat_result WHERE id > 10 AND view = 'append view'" | {
	read -r p50 p99
	pgs_result "INSERT commit -> visible row (append view): p50" "$p50" "ms"
	pgs_result "INSERT commit -> visible row (append view): p99" "$p99" "ms"
}
