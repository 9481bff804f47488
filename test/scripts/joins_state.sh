#!/usr/bin/env bash
# Joins of two streams over a long run, through the workers: 300,000
# impressions and 100,000 clicks (a third of them more than the join's two
# minutes after their impression) go into a left join, a full join and a
# windowed count over a left join. A worker is killed with kill -9 on the
# way. Each side's state must stay bounded (the rows the watermark has
# not expired) while the views grow; at the end the views equal the same
# queries run as a batch over the same rows, NULL-padded rows included.
source "$(dirname "$0")/../lib.sh"
trap pgs_stop_cluster EXIT
pgs_start_cluster

q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE imps (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE clks (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE TABLE imps_ref (ad int, ts timestamptz);
CREATE TABLE clks_ref (ad int, ts timestamptz);
CREATE MATERIALIZED VIEW j_left AS
	SELECT i.ad, i.ts AS its, c.ts AS cts FROM imps i LEFT JOIN clks c
	ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '2 minutes';
CREATE MATERIALIZED VIEW j_full AS
	SELECT i.ad AS iad, c.ad AS cad, i.ts AS its, c.ts AS cts FROM imps i FULL JOIN clks c
	ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '2 minutes';
CREATE MATERIALIZED VIEW j_agg WITH (output_mode = 'append') AS
	SELECT stream.tumble(i.ts, '5 minutes') AS w, count(*) AS n, count(c.ad) AS clicks
	FROM imps i LEFT JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '2 minutes'
	GROUP BY 1;
SQL
pgs_wait_for "SELECT count(*) = 3 FROM stream.queries WHERE status = 'running'"

# one impression every 10 ms, of ad i % 20000 (an ad comes back every
# 200 s, after its two minutes); a click for every third one, 0 to 179 s
# after it: those after 120 s match nothing
chunks=30
max_state=0
for part in $(seq 0 $((chunks - 1))); do
	lo=$((part * 10000 + 1))
	pgs_psql >/dev/null <<SQL
BEGIN;
WITH r AS (INSERT INTO imps_ref
	SELECT i % 20000, '2026-06-01'::timestamptz + i * interval '10 ms'
	FROM generate_series($lo, $((lo + 9999))) i RETURNING *)
INSERT INTO imps SELECT * FROM r;
WITH r AS (INSERT INTO clks_ref
	SELECT i % 20000, '2026-06-01'::timestamptz + i * interval '10 ms'
		+ ((i::bigint * 7919) % 180) * interval '1 second'
	FROM generate_series($lo, $((lo + 9999))) i WHERE i % 3 = 0 RETURNING *)
INSERT INTO clks SELECT * FROM r;
COMMIT;
SQL
	if [ "$part" = 15 ]; then
		pid=$(q "SELECT worker_pid FROM stream.queries WHERE name = 'j_full'::regclass")
		kill -9 "$pid"
		echo "killed the worker of j_full ($pid)"
		pgs_wait_for "SELECT worker_pid <> $pid FROM stream.queries WHERE name = 'j_full'::regclass" 60
	fi
	if [ $((part % 5)) = 4 ]; then
		pgs_wait_for "SELECT bool_and(lag = 0) FROM stream.queries" 300
		s=$(q "SELECT max(state_rows) FROM stream.progress WHERE name <> 'j_agg'::regclass")
		[ "$s" -gt "$max_state" ] && max_state=$s
		echo "events $(((part + 1) * 10000)): $(q "SELECT string_agg(name || ' ' || state_rows_by_stream::text, ', ' ORDER BY name::text) FROM stream.queries"); largest after a batch $s"
	fi
done

# a last pair a day later moves the watermark past every bound
q "WITH r AS (INSERT INTO imps_ref VALUES (-1, '2026-06-02') RETURNING *) INSERT INTO imps SELECT * FROM r" >/dev/null
q "WITH r AS (INSERT INTO clks_ref VALUES (-1, '2026-06-02') RETURNING *) INSERT INTO clks SELECT * FROM r" >/dev/null
pgs_wait_for "SELECT bool_and(lag = 0 AND watermark = '2026-06-01 23:59') FROM stream.queries" 120
pgs_wait_for "SELECT count(*) > 0 FROM j_agg WHERE w = '2026-06-01 00:50'" 60

result=$(pgs_psql -At <<'SQL'
CREATE VIEW b_left AS SELECT i.ad, i.ts, c.ts AS cts FROM imps_ref i LEFT JOIN clks_ref c
	ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '2 minutes';
CREATE VIEW b_full AS SELECT i.ad, c.ad AS cad, i.ts, c.ts AS cts FROM imps_ref i FULL JOIN clks_ref c
	ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '2 minutes';
CREATE VIEW b_agg AS SELECT stream.tumble(i.ts, '5 minutes') AS w, count(*) AS n, count(c.ad) AS clicks
	FROM imps_ref i LEFT JOIN clks_ref c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '2 minutes'
	WHERE i.ts < '2026-06-01 23:00' GROUP BY 1;
SELECT 'rows ' || (SELECT count(*) FROM j_left) || ' ' || (SELECT count(*) FROM j_full)
	|| ' padded ' || (SELECT count(*) FROM j_left WHERE cts IS NULL) || ' '
	|| (SELECT count(*) FROM j_full WHERE its IS NULL);
SELECT 'j_left ' || count(*) FROM ((SELECT * FROM j_left EXCEPT ALL SELECT * FROM b_left)
	UNION ALL (SELECT * FROM b_left EXCEPT ALL SELECT * FROM j_left)) d;
SELECT 'j_full ' || count(*) FROM ((SELECT * FROM j_full EXCEPT ALL SELECT * FROM b_full)
	UNION ALL (SELECT * FROM b_full EXCEPT ALL SELECT * FROM j_full)) d;
SELECT 'j_agg ' || count(*) FROM ((SELECT * FROM j_agg EXCEPT ALL SELECT * FROM b_agg)
	UNION ALL (SELECT * FROM b_agg EXCEPT ALL SELECT * FROM j_agg)) d;
SELECT 'late ' || sum(rows_late) FROM stream.queries;
SELECT 'state ' || string_agg(name || ' ' || state_rows_by_stream::text, ', ' ORDER BY name::text)
	FROM stream.queries;
SQL
)
echo "$result"
echo "largest join state after any batch: $max_state rows (of 400,002 read)"
killed=$(grep -c 'pg_stream worker.*was terminated by signal 9' "$PGS_DIR/log" || true)
echo "workers killed: $killed"

grep -q <<<"$result" "^j_left 0$"
grep -q <<<"$result" "^j_full 0$"
grep -q <<<"$result" "^j_agg 0$"
grep -q <<<"$result" "^late 0$"
# NULL-padded rows on both sides
padded=$(echo "$result" | sed -n 's/^rows .* padded //p')
[ "${padded% *}" -gt 0 ] && [ "${padded#* }" -gt 0 ]
# only the last pair is left in the state
grep -q <<<"$result" '^state j_agg {"clks": 1, "imps": 1}, j_full {"clks": 1, "imps": 1}, j_left {"clks": 1, "imps": 1}$'
[ "$killed" -ge 1 ]
# bounded: the impressions of the last 3 minutes (2 of the bound, 1 of the
# watermark: 18,000) and the clicks after the watermark, plus one batch
[ "$max_state" -le 60000 ]
