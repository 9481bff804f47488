#!/usr/bin/env bash
# Benchmark (not a test): the cost of one batch does not grow with the
# history. A per-key tumbling count per minute (update mode, no watermark:
# its state only grows) is fed BATCHES batches of BATCH events each, with
# 1,000 keys and each batch's event times in a new 10-minute span, so every
# batch adds 10,000 groups to the view. Each batch is one REFRESH of a
# manual-trigger view; its time is the batch's duration_ms in
# stream.batch_log. Prints the median of three batches after 1x, 10x and
# 100x the batch's size already processed. target: 10x the history
# moves a batch's time by less than 1.5x.
#
# usage: bash test/bench/history.sh [BATCH=100000]
source "$(dirname "$0")/../lib.sh"
BATCH=${1:-100000}

pgs_install_deps
pgs_build
trap pgs_stop_cluster EXIT
pgs_start_cluster "shared_buffers = 1GB" "max_wal_size = 8GB" "checkpoint_timeout = 30min" \
	"max_parallel_workers_per_gather = 0" "log_min_messages = warning"
pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (key int, ts timestamptz) SERVER stream;
CREATE MATERIALIZED VIEW per_minute WITH (trigger = 'manual', max_batch_rows = 10000000) AS
	SELECT key, stream.tumble(ts, '1 minute') AS minute, count(*) AS n FROM ev GROUP BY 1, 2;
CREATE PROCEDURE feed(first int, last int) LANGUAGE plpgsql AS \$\$
BEGIN
	FOR b IN first..last LOOP
		INSERT INTO ev SELECT ((i::bigint * 7919) % 1000)::int,
			'2026-01-01'::timestamptz + b * interval '10 minutes' + (i % 600000) * (interval '10 minutes' / $BATCH)
		FROM generate_series(1, $BATCH) i;
		COMMIT;
		REFRESH MATERIALIZED VIEW per_minute;
		COMMIT;
	END LOOP;
END \$\$;
SQL
# batch_id 1 runs over an empty history; batch k+1 after k batches
pgs_psql -c "CALL feed(1, 103)"
pgs_psql -At -F ' ' -c "SELECT count(*), sum(n) FROM per_minute" | {
	read -r groups events
	[ "$events" = $((BATCH * 103)) ] || { echo "the view holds $events events, not $((BATCH * 103))"; exit 1; }
	echo "$events events in 103 batches; the view holds $groups groups"
}
read -r t1 t10 t100 < <(pgs_psql -At -F ' ' -c "
	SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE batch_id BETWEEN 2 AND 4),
	       percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE batch_id BETWEEN 11 AND 13),
	       percentile_disc(0.5) WITHIN GROUP (ORDER BY duration_ms) FILTER (WHERE batch_id BETWEEN 101 AND 103)
	FROM stream.batch_log")
awk -v b="$BATCH" -v a="$t1" -v c="$t10" -v d="$t100" 'BEGIN {
	printf "\n%-44s %10s %14s %8s\n", sprintf("one batch of %d events", b), "ms", "events/s", "vs 1x"
	printf "%-44s %10.1f %14.0f %8s\n", "after 1x its size already processed", a, b / a * 1000, ""
	printf "%-44s %10.1f %14.0f %7.2fx\n", "after 10x", c, b / c * 1000, c / a
	printf "%-44s %10.1f %14.0f %7.2fx\n", "after 100x", d, b / d * 1000, d / a
	printf "target: 10x the history moves a batch by < 1.5x: %s\n", (c / a < 1.5 ? "met" : "NOT met")
}'
pgs_result "one batch of $BATCH events after 10x history (vs after 1x)" "$t10" "ms" "after 1x history" "$t1"
pgs_result "one batch of $BATCH events after 100x history (vs after 1x)" "$t100" "ms" "after 1x history" "$t1"
