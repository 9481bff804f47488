#!/usr/bin/env bash
# Several sessions insert into a stream in parallel transactions, a
# quarter of them rolled back, each also writing the same rows to a plain
# table in the same transaction (the reference). Transactions interleave
# and commit in another order than they started; REFRESHes run at the
# same time as the workers. Afterwards every view must equal its query run
# as a batch over the reference table: exactly.
source "$(dirname "$0")/../lib.sh"
trap pgs_stop_cluster EXIT
pgs_start_cluster

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (session int, n int, at timestamptz) SERVER stream;
CREATE TABLE ev_ref (session int, n int, at timestamptz);
CREATE MATERIALIZED VIEW ev_count AS
	SELECT session, count(*) AS c, sum(n) AS s, avg(n) AS a FROM ev GROUP BY session;
CREATE MATERIALIZED VIEW ev_small WITH (max_batch_rows = 7) AS
	SELECT stream.tumble(at, '1 second') AS w, count(*) AS c, sum(n) AS s FROM ev GROUP BY 1;
CREATE MATERIALIZED VIEW ev_rows AS SELECT session, n FROM ev WHERE n % 3 = 0;
SQL

script=$(mktemp)
cat >"$script" <<'EOF2'
\set s random(1, 8)
\set n random(1, 100000)
\set t random(0, 600000)
\set rb random(0, 3)
\set k random(1, 20)
BEGIN;
INSERT INTO ev SELECT :s, :n + g, '2026-01-01'::timestamptz + (:t + g) * interval '1 ms' FROM generate_series(1, :k) g;
SELECT pg_sleep(random() * 0.003);
INSERT INTO ev_ref SELECT :s, :n + g, '2026-01-01'::timestamptz + (:t + g) * interval '1 ms' FROM generate_series(1, :k) g;
\if :rb = 0
ROLLBACK;
\else
COMMIT;
\endif
EOF2

( for i in $(seq 1 20); do pgs_psql -c "REFRESH MATERIALIZED VIEW ev_small" >/dev/null; sleep 0.2; done ) &
refresher=$!
"$PG_BIN/pgbench" -n -h "$PGS_DIR" -p "$PGS_PORT" -U postgres -c 6 -j 2 -t 300 -f "$script" postgres >"$PGS_DIR/pgbench.log" 2>&1 || {
	cat "$PGS_DIR/pgbench.log"; exit 1; }
wait $refresher
rm -f "$script"
grep -E "number of transactions actually processed|tps" "$PGS_DIR/pgbench.log" | head -2

result=$(pgs_psql -At <<'SQL'
REFRESH MATERIALIZED VIEW ev_count;
REFRESH MATERIALIZED VIEW ev_small;
REFRESH MATERIALIZED VIEW ev_rows;
SELECT 'input ' || count(*) FROM ev_ref;
SELECT 'ev_count ' || count(*) FROM (
	(SELECT * FROM ev_count EXCEPT ALL SELECT session, count(*), sum(n), avg(n) FROM ev_ref GROUP BY session)
	UNION ALL
	(SELECT session, count(*), sum(n), avg(n) FROM ev_ref GROUP BY session EXCEPT ALL SELECT * FROM ev_count)) d;
SELECT 'ev_small ' || count(*) FROM (
	(SELECT * FROM ev_small EXCEPT ALL SELECT stream.tumble(at, '1 second'), count(*), sum(n) FROM ev_ref GROUP BY 1)
	UNION ALL
	(SELECT stream.tumble(at, '1 second'), count(*), sum(n) FROM ev_ref GROUP BY 1 EXCEPT ALL SELECT * FROM ev_small)) d;
SELECT 'ev_rows ' || count(*) FROM (
	(SELECT * FROM ev_rows EXCEPT ALL SELECT session, n FROM ev_ref WHERE n % 3 = 0)
	UNION ALL
	(SELECT session, n FROM ev_ref WHERE n % 3 = 0 EXCEPT ALL SELECT * FROM ev_rows)) d;
SELECT 'batches ' || sum(batches) FROM stream.queries;
SQL
)
echo "$result"
grep -q <<<"$result" '^input [1-9]' || { echo "no input"; exit 1; }
for v in ev_count ev_small ev_rows; do
	grep -q <<<"$result" "^$v 0$" || { echo "$v differs from the batch query"; exit 1; }
done
echo "all views equal their batch queries"
