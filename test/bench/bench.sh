#!/usr/bin/env bash
# Benchmark (not a test): the same events, a per-minute tumbling count per
# key, maintained four ways on one throwaway server, in one run:
#
#   (a) pg_stream: INSERT into a stream, a continuous view keeps the count
#       (measured from the first INSERT until the view holds every event),
#       and the same batch work alone (REFRESH of a manual-trigger view
#       over events already inserted: comparable with (d));
#   (b) a plain table with a row-level trigger upserting a summary table;
#   (c) a plain table with a statement-level trigger over its transition
#       table, upserting the summary;
#   (d) a one-shot INSERT ... SELECT ... GROUP BY over the events already
#       in a table.
#
# Parallel query is off: every figure is one backend (per core); (a)
# also has its worker running beside the inserting session.
#
# Each way inserts the events in transactions of BATCH rows from one
# session, taken from the same pre-generated table. Prints events/s for
# each and the ratios, next to the targets (a >= 10x (b) and
# a >= 0.5x (d)).
#
# usage: bash test/bench/bench.sh [EVENTS] [KEYS] [BATCH]
source "$(dirname "$0")/../lib.sh"
EVENTS=${1:-1000000}
KEYS=${2:-1000}
BATCH=${3:-10000}

pgs_install_deps python3
pgs_build
trap pgs_stop_cluster EXIT
pgs_start_cluster "shared_buffers = 1GB" "max_wal_size = 4GB" "checkpoint_timeout = 30min" \
	"max_parallel_workers_per_gather = 0" \
	"log_min_messages = warning"

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
-- the events: KEYS keys, event times over 10 minutes
CREATE TABLE src AS
	SELECT i AS seq, ((i::bigint * 7919) % $KEYS)::int AS key,
		'2026-01-01'::timestamptz + (i % 600000) * interval '1 ms' AS ts
	FROM generate_series(1, $EVENTS) i;
CREATE INDEX ON src (seq);
ANALYZE src;
CREATE PROCEDURE feed(target regclass) LANGUAGE plpgsql AS \$\$
BEGIN
	FOR lo IN 1..$EVENTS BY $BATCH LOOP
		EXECUTE format('INSERT INTO %s SELECT key, ts FROM src WHERE seq >= \$1 AND seq < \$2', target)
			USING lo, lo + $BATCH;
		COMMIT;
	END LOOP;
END \$\$;

-- (a) pg_stream
CREATE FOREIGN TABLE ev_stream (key int, ts timestamptz) SERVER stream;
CREATE MATERIALIZED VIEW per_minute AS
	SELECT key, stream.tumble(ts, '1 minute') AS minute, count(*) AS n
	FROM ev_stream GROUP BY key, minute;
-- (a') the batch work alone
CREATE FOREIGN TABLE ev_stream2 (key int, ts timestamptz) SERVER stream;
CREATE MATERIALIZED VIEW per_minute2 WITH (trigger = 'manual', max_batch_rows = 1000000) AS
	SELECT key, stream.tumble(ts, '1 minute') AS minute, count(*) AS n
	FROM ev_stream2 GROUP BY key, minute;

-- (b) row-level trigger
CREATE TABLE ev_row (key int, ts timestamptz);
CREATE TABLE sum_row (key int, minute timestamptz, n bigint, PRIMARY KEY (key, minute));
CREATE FUNCTION upsert_row() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	INSERT INTO sum_row VALUES (NEW.key, date_bin('1 minute', NEW.ts, '2000-01-01'), 1)
	ON CONFLICT (key, minute) DO UPDATE SET n = sum_row.n + 1;
	RETURN NULL;
END \$\$;
CREATE TRIGGER t AFTER INSERT ON ev_row FOR EACH ROW EXECUTE FUNCTION upsert_row();

-- (c) statement-level trigger with a transition table
CREATE TABLE ev_stmt (key int, ts timestamptz);
CREATE TABLE sum_stmt (key int, minute timestamptz, n bigint, PRIMARY KEY (key, minute));
CREATE FUNCTION upsert_stmt() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	INSERT INTO sum_stmt
	SELECT key, date_bin('1 minute', ts, '2000-01-01'), count(*) FROM new_rows GROUP BY 1, 2
	ON CONFLICT (key, minute) DO UPDATE SET n = sum_stmt.n + excluded.n;
	RETURN NULL;
END \$\$;
CREATE TRIGGER t AFTER INSERT ON ev_stmt REFERENCING NEW TABLE AS new_rows
	FOR EACH STATEMENT EXECUTE FUNCTION upsert_stmt();

-- (d) one-shot
CREATE TABLE ev_table (key int, ts timestamptz);
CREATE TABLE sum_oneshot (key int, minute timestamptz, n bigint);
CHECKPOINT;
SQL

now() { date +%s.%N; }
rate() { python3 -c "print(f'{$EVENTS / ($2 - $1):.0f}')"; }

pgs_log "(a) pg_stream: INSERT into a stream, continuous view"
t0=$(now)
pgs_psql -c "CALL feed('ev_stream')"
pgs_psql -c "REFRESH MATERIALIZED VIEW per_minute"
t1=$(now)
a=$(rate $t0 $t1)

pgs_log "(a') pg_stream: the batch work alone (REFRESH over inserted events)"
pgs_psql -c "CALL feed('ev_stream2')"
t0=$(now)
pgs_psql -c "REFRESH MATERIALIZED VIEW per_minute2"
t1=$(now)
a2=$(rate $t0 $t1)

pgs_log "(b) row-level trigger"
t0=$(now); pgs_psql -c "CALL feed('ev_row')"; t1=$(now)
b=$(rate $t0 $t1)

pgs_log "(c) statement-level trigger with transition table"
t0=$(now); pgs_psql -c "CALL feed('ev_stmt')"; t1=$(now)
c=$(rate $t0 $t1)

pgs_log "(d) one-shot INSERT ... SELECT ... GROUP BY"
pgs_psql -c "CALL feed('ev_table')" -c "VACUUM ANALYZE ev_table"
t0=$(now)
pgs_psql -c "INSERT INTO sum_oneshot SELECT key, date_bin('1 minute', ts, '2000-01-01'), count(*) FROM ev_table GROUP BY 1, 2"
t1=$(now)
d=$(rate $t0 $t1)

# all four agree
check=$(pgs_psql -At <<'SQL'
SELECT count(*) FROM (
	(SELECT key, minute, n FROM per_minute EXCEPT ALL SELECT * FROM sum_oneshot)
	UNION ALL (SELECT * FROM sum_oneshot EXCEPT ALL SELECT key, minute, n FROM per_minute)
	UNION ALL (SELECT * FROM sum_row EXCEPT ALL SELECT * FROM sum_oneshot)
	UNION ALL (SELECT * FROM sum_stmt EXCEPT ALL SELECT * FROM sum_oneshot)
	UNION ALL (SELECT key, minute, n FROM per_minute2 EXCEPT ALL SELECT * FROM sum_oneshot)) d;
SQL
)
groups=$(pgs_psql -At -c "SELECT count(*) FROM sum_oneshot")
batches=$(pgs_psql -At -c "SELECT batches FROM stream.queries WHERE name = 'per_minute'::regclass")

python3 - "$EVENTS" "$KEYS" "$BATCH" "$groups" "$batches" "$check" "$a" "$a2" "$b" "$c" "$d" <<'PY'
import sys
events, keys, batch, groups, batches, check = sys.argv[1:7]
a, a2, b, c, d = map(float, sys.argv[7:12])
print()
print(f"{int(events):,} events, {int(keys):,} keys, {int(groups):,} (key, minute) groups, "
      f"inserted {int(batch):,} per transaction; pg_stream ran {batches} batches")
print(f"{'workload':<62} {'events/s':>12} {'pg_stream / it':>15}")
rows = [
    ("(a)  pg_stream: INSERT into stream -> view caught up", a, None),
    ("(a') pg_stream: batch work alone (REFRESH of inserted events)", a2, None),
    ("(b)  row-level trigger upserting a summary", b, a / b),
    ("(c)  statement-level trigger, transition table", c, a / c),
    ("(d)  one-shot INSERT ... SELECT ... GROUP BY", d, a / d),
]
for name, v, r in rows:
    print(f"{name:<62} {v:>12,.0f} {('' if r is None else f'{r:.2f}x'):>15}")
print(f"(a') / (d) = {a2 / d:.2f}x")
print(f"targets: (a) >= 10x (b): {'met' if a / b >= 10 else 'NOT met'} ({a / b:.1f}x); "
      f"(a) >= 0.5x (d): {'met' if a / d >= 0.5 else 'NOT met'} ({a / d:.2f}x)")
print("results agree" if check == "0" else f"RESULTS DIFFER ({check} rows)")
PY
w="insert-fed stream -> per-key tumbling count"
pgs_result "$w (INSERT + view caught up)" "$a" "ev/s" "row-level trigger upserting a summary" "$b"
pgs_result "$w (INSERT + view caught up)" "$a" "ev/s" "statement-level trigger, transition table" "$c"
pgs_result "$w (INSERT + view caught up)" "$a" "ev/s" "one-shot INSERT ... SELECT ... GROUP BY" "$d"
pgs_result "$w (the batch work alone)" "$a2" "ev/s" "one-shot INSERT ... SELECT ... GROUP BY" "$d"
