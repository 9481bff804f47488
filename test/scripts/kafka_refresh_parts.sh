#!/usr/bin/env bash
# A REFRESH's batches over a Kafka backlog read in parts of max_batch_rows
# messages, up to pg_stream.refresh_batch_memory of decoded rows a batch
# (sources/kafka/reader.c, kafka_read_view). Over 40,000 JSON messages on
# 4 partitions with bad messages among them, manual views with
# max_batch_rows 1000:
# - one part a batch (refresh_batch_memory 0), parts up to 256 kB, and
#   64 MB: each view equals the batch query over the produced file
#   (EXCEPT ALL both ways), with the same bad messages in stream.errors
#   (partition and offset), the same rows_bad, and rows_in 40,000 in
#   stream.queries and in stream.progress's batches;
# - the batches: at least 40 with one part each, fewer with 256 kB, one
#   with 64 MB (the whole backlog fits);
# - the setting's default (16MB) and bounds;
# - on_error 'stop': the bad message in a later part of a batch fails the
#   REFRESH, which commits nothing;
# - kill -9 of a REFRESH's backend in the middle of a batch of parts:
#   nothing of it is committed, and the REFRESH after it is exact.
source "$(dirname "$0")/../lib.sh"
cleanup() {
	pgs_stop_broker
	pgs_stop_cluster
	rm -rf "$WORK"
}
WORK=$(mktemp -d /tmp/pgs_kparts.XXXXXX)
chmod 755 "$WORK"
trap cleanup EXIT

pgs_start_broker
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
pgs_broker create events 4

# 40,000 messages, and 3 bad ones among them (at 10,000, 25,000, 39,000)
python3 - "$WORK" <<'PY'
import json, random, sys
random.seed(11)
work = sys.argv[1]
files = [open(f"{work}/p{p}.json", "w") for p in range(4)]
bad = {10000: '{"user": "u1", "amount": ', 25000: '{"user": "u2", "amount": "lots", "ts": "2026-01-01T00:00:00Z"}',
       39000: '{"user": "u3", "amount": 1, "ts": "not a time"}'}
with open(f"{work}/all.json", "w") as all_:
    for i in range(40000):
        if i in bad:
            files[i % 4].write(bad[i] + "\n")
            continue
        m = json.dumps({"user": f"u{random.randrange(300)}", "amount": random.randrange(1, 1000),
                        "ts": f"2026-01-01T00:{random.randrange(60):02d}:{random.randrange(60):02d}Z"})
        files[i % 4].write(m + "\n")
        all_.write(m + "\n")
for f in files:
    f.close()
PY
for p in 0 1 2 3; do
	kcat -P -l -b "$PGS_BROKERS" -t events -p $p "$WORK/p$p.json"
done

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER kafka_test FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE events ("user" text, amount int, ts timestamptz) SERVER kafka_test OPTIONS (topic 'events');
CREATE FOREIGN TABLE events_stop ("user" text, amount int, ts timestamptz)
	SERVER kafka_test OPTIONS (topic 'events', on_error 'stop');
CREATE TABLE ref (m jsonb);
SQL
pgs_psql -c "\\copy ref FROM '$WORK/all.json'"

view() {	# $1: name, $2: the FROM
	q "CREATE MATERIALIZED VIEW $1 WITH (trigger = 'manual', max_batch_rows = 1000) AS
		SELECT \"user\", stream.tumble(ts, '1 minute') AS minute, count(*) AS n, sum(amount) AS total
		FROM $2 GROUP BY 1, 2" >/dev/null
}
check() {	# $1: the view
	local d
	d=$(q "SELECT count(*) FROM (
		(TABLE $1 EXCEPT ALL
		 SELECT m->>'user', stream.tumble((m->>'ts')::timestamptz, '1 minute'), count(*), sum((m->>'amount')::int)
		 FROM ref GROUP BY 1, 2)
		UNION ALL
		(SELECT m->>'user', stream.tumble((m->>'ts')::timestamptz, '1 minute'), count(*), sum((m->>'amount')::int)
		 FROM ref GROUP BY 1, 2
		 EXCEPT ALL TABLE $1)) d")
	[ "$d" = 0 ] || { echo "MISMATCH: $1 differs from the batch query in $d rows"; q "SELECT * FROM stream.queries"; exit 1; }
}
batches() { q "SELECT batches FROM stream.queries WHERE name = '$1'::regclass"; }
refresh() {	# $1: the view, $2: pg_stream.refresh_batch_memory
	pgs_psql -c "SET pg_stream.refresh_batch_memory = '$2'" -c "REFRESH MATERIALIZED VIEW $1"
}

# the setting: 16MB by default, 0 up to work_mem's bounds (MAX_KILOBYTES), per session, by any role
[ "$(q "SHOW pg_stream.refresh_batch_memory")" = 16MB ] || { echo "the default: $(q "SHOW pg_stream.refresh_batch_memory")"; exit 1; }
for bad in -1 3TB; do
	out=$(pgs_psql -c "SET pg_stream.refresh_batch_memory = '$bad'" 2>&1) && { echo "SET $bad was taken"; exit 1; }
	grep -qE <<<"$out" "outside the valid range|exceeds integer range" || { echo "SET $bad: $out"; exit 1; }
done
[ "$(pgs_psql -At -c "SET pg_stream.refresh_batch_memory = '2147483647kB'" -c "SHOW pg_stream.refresh_batch_memory")" = 2147483647kB ] ||
	{ echo "the largest value was not taken"; exit 1; }

view one_part events
view small_parts events
view whole events
refresh one_part 0
refresh small_parts 256kB
refresh whole 64MB
for v in one_part small_parts whole; do
	check $v
	echo "$v: equal to the batch query, $(batches $v) batches, $(q "SELECT rows_in || ' rows in, ' || rows_bad || ' bad' FROM stream.queries WHERE name = '$v'::regclass")"
done
b1=$(batches one_part) b2=$(batches small_parts) b3=$(batches whole)
[ "$b1" -ge 40 ] && [ "$b2" -lt "$b1" ] && [ "$b2" -gt 1 ] && [ "$b3" = 1 ] ||
	{ echo "batches: $b1 (one part), $b2 (256kB), $b3 (64MB): expected >= 40, fewer, 1"; exit 1; }
[ "$(q "SELECT string_agg(rows_bad::text, ' ' ORDER BY name) FROM stream.queries")" = "3 3 3" ] || { echo "rows_bad"; exit 1; }
# every message counted once: in stream.queries, and in the batches of stream.progress
[ "$(q "SELECT string_agg(rows_in::text, ' ' ORDER BY name) FROM stream.queries")" = "40000 40000 40000" ] ||
	{ echo "rows_in: $(q "SELECT name, rows_in FROM stream.queries")"; exit 1; }
[ "$(q "SELECT string_agg(n::text, ' ' ORDER BY name) FROM (SELECT name, sum(rows_in) AS n FROM stream.progress GROUP BY 1) p")" = "40000 40000 40000" ] ||
	{ echo "stream.progress rows_in: $(q "SELECT name, sum(rows_in) FROM stream.progress GROUP BY 1")"; exit 1; }
# each view's dead letters: the same three messages, at the same places
[ "$(q "SELECT count(*) FROM (SELECT view, position FROM stream.errors) e")" = 9 ] || { echo "stream.errors"; exit 1; }
[ "$(q "SELECT count(DISTINCT position) FROM stream.errors")" = 3 ] || { echo "stream.errors: positions"; exit 1; }
[ "$(q "SELECT count(*) FROM (SELECT position, payload FROM stream.errors WHERE view = 'one_part'::regclass
		EXCEPT SELECT position, payload FROM stream.errors WHERE view = 'whole'::regclass) d")" = 0 ] ||
	{ echo "the dead letters differ between one part a batch and the whole backlog"; exit 1; }
q "SELECT view::text, position->>'partition', position->>'offset', left(payload, 40) FROM stream.errors ORDER BY view::text, position->>'offset'"

echo "on_error 'stop': a bad message in a later part fails the REFRESH, which commits nothing"
view stopping events_stop
if out=$(refresh stopping 64MB 2>&1); then echo "the REFRESH did not fail: $out"; exit 1; fi
grep -q <<<"$out" "ERROR" || { echo "unexpected: $out"; exit 1; }
echo "$out" | grep ERROR
[ "$(q "SELECT batches || ' ' || rows_in FROM stream.queries WHERE name = 'stopping'::regclass")" = "0 0" ] &&
	[ "$(q "SELECT count(*) FROM stopping")" = 0 ] ||
	{ echo "the failed REFRESH left something: $(q "SELECT batches, rows_in FROM stream.queries WHERE name = 'stopping'::regclass")"; exit 1; }

echo "kill -9 of a REFRESH's backend in the middle of a batch of parts"
view crashed events
# the broker sends the 40,000 slowly enough to find the batch mid-way:
# a REFRESH of parts of 1000 over 4 partitions takes a few hundred ms
pgs_psql -c "SET pg_stream.refresh_batch_memory = '64MB'" -c "REFRESH MATERIALIZED VIEW crashed" >/dev/null 2>&1 &
rpid=$!
pid=""
for i in $(seq 1 500); do
	pid=$(q "SELECT pid FROM pg_stat_activity WHERE query LIKE 'REFRESH MATERIALIZED VIEW crashed%' AND state = 'active'")
	[ -n "$pid" ] && break
	sleep 0.01
done
[ -n "$pid" ] || { echo "the REFRESH was not seen running"; exit 1; }
kill -9 "$pid"
wait "$rpid" 2>/dev/null || true
# (crash recovery: the server accepts connections again)
for i in $(seq 1 600); do
	q "SELECT 1" >/dev/null 2>&1 && break
	sleep 0.1
done
[ "$(q "SELECT batches || ' ' || rows_in FROM stream.queries WHERE name = 'crashed'::regclass")" = "0 0" ] ||
	{ echo "the killed REFRESH committed something"; exit 1; }
refresh crashed 64MB >/dev/null
check crashed
for v in one_part small_parts whole; do check $v; done
echo "after the kill -9, a REFRESH of parts equals the batch query ($(batches crashed) batch)"
echo "OK"
