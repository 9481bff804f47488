#!/usr/bin/env bash
# Batches far larger than work_mem (they spill to disk at every step),
# processed by the worker itself, in append and update mode; the views
# must equal their batch queries over a reference table exactly.
source "$(dirname "$0")/../lib.sh"
trap pgs_stop_cluster EXIT
pgs_start_cluster "work_mem = 1MB"

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE big (k int, ts timestamptz, note text) SERVER stream;
CREATE TABLE big_ref (k int, ts timestamptz, note text);
CREATE MATERIALIZED VIEW big_agg WITH (max_batch_rows = 200000) AS
	SELECT k, stream.tumble(ts, '1 minute') AS minute, count(*) AS n, max(note) AS top
	FROM big GROUP BY k, minute;
CREATE MATERIALIZED VIEW big_rows AS SELECT k, note FROM big WHERE k % 10 = 0;
SQL
pgs_wait_for "SELECT count(*) = 2 FROM stream.queries WHERE status = 'running'"

for part in 0 1 2 3; do
	pgs_psql -c "WITH r AS (INSERT INTO big_ref
		SELECT ((i::bigint * 7919) % 5000)::int, '2026-01-01'::timestamptz + i * interval '7 ms', md5(i::text)
		FROM generate_series($part * 150000 + 1, ($part + 1) * 150000) i RETURNING *)
		INSERT INTO big SELECT * FROM r"
done
# the workers catch up by themselves
pgs_wait_for "SELECT sum(rows_in) = 1200000 AND sum(lag) = 0 FROM stream.queries" 300

result=$(pgs_psql -At <<'SQL'
SELECT 'big_agg ' || count(*) FROM (
	(SELECT * FROM big_agg EXCEPT ALL
	 SELECT k, stream.tumble(ts, '1 minute'), count(*), max(note) FROM big_ref GROUP BY 1, 2)
	UNION ALL
	(SELECT k, stream.tumble(ts, '1 minute'), count(*), max(note) FROM big_ref GROUP BY 1, 2
	 EXCEPT ALL SELECT * FROM big_agg)) d;
SELECT 'big_rows ' || count(*) FROM (
	(SELECT * FROM big_rows EXCEPT ALL SELECT k, note FROM big_ref WHERE k % 10 = 0)
	UNION ALL
	(SELECT k, note FROM big_ref WHERE k % 10 = 0 EXCEPT ALL SELECT * FROM big_rows)) d;
SELECT 'batches ' || string_agg(name || '=' || batches, ' ') FROM stream.queries;
SQL
)
echo "$result"
grep -q <<<"$result" "^big_agg 0$" && grep -q <<<"$result" "^big_rows 0$"
