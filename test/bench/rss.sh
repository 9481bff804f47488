#!/usr/bin/env bash
# Benchmark (not a test): the resident memory of a worker while EVENTS
# events (default 5,000,000) stream through a per-minute count per key,
# sampled after every million: VmRSS, and its parts RssAnon (the
# process's own memory) and RssShmem (shared buffers it has touched).
# The target: under 100 MB per worker.
#
# usage: bash test/bench/rss.sh [EVENTS=5000000]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-5000000}

pgs_install_deps
pgs_build
trap pgs_stop_cluster EXIT
pgs_start_cluster "log_min_messages = warning" "max_wal_size = 4GB"

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (key int, ts timestamptz) SERVER stream;
CREATE MATERIALIZED VIEW per_minute AS
	SELECT key, stream.tumble(ts, '1 minute') AS minute, count(*) AS n
	FROM ev GROUP BY key, minute;
SQL
pgs_wait_for "SELECT worker_pid IS NOT NULL FROM stream.queries"
pid=$(pgs_psql -At -c "SELECT worker_pid FROM stream.queries")
rss() { awk '/VmRSS|RssAnon|RssShmem/ {printf "%s %.1f MB  ", $1, $2 / 1024}' /proc/$pid/status; }
echo "worker $pid at start: $(rss)"
done_events=0
while [ $done_events -lt "$EVENTS" ]; do
	for t in $(seq 1 100); do
		pgs_psql -c "INSERT INTO ev SELECT ((i::bigint * 7919) % 1000)::int,
			'2026-01-01'::timestamptz + (($done_events + i) % 36000000) * interval '1 ms'
			FROM generate_series(1, 10000) i"
		done_events=$((done_events + 10000))
	done
	pgs_wait_for "SELECT lag = 0 FROM stream.queries" 300
	echo "after $done_events events: worker RSS $(rss), groups $(pgs_psql -At -c 'SELECT state_rows FROM stream.queries')"
done
pgs_result "worker's own memory (RssAnon) after $done_events events" \
	"$(awk '/RssAnon/ { printf "%.1f", $2 / 1024 }' /proc/$pid/status)" "MB" "target" 100
