#!/usr/bin/env bash
# The kafka source, against the test broker (librdkafka's mock cluster,
# test/kafka/test_broker.c), fed with kcat as users feed a real broker:
# - 100,000 JSON messages over 4 partitions, produced while the views run,
#   into a per-key count and a tumbling-window count, compared exactly with
#   the same counts computed from the produced file;
# - kill -9 of a worker during consumption, then of the postmaster: exact;
# - the broker down mid-stream: the query waits and says why, then resumes
#   exactly where it was;
# - malformed messages go to stream.errors with partition, offset and
#   payload, the others are processed; on_error 'stop' fails the query;
# - a plain SELECT is a bounded read with the metadata columns;
# - INSERT produces messages (read back through another kafka table);
# - IMPORT FOREIGN SCHEMA infers the columns of each topic;
# - a message wakes an idle worker at once (with pg_stream.poll_interval at
#   60 s, the view has it within the 20 s the test waits).
source "$(dirname "$0")/../lib.sh"
cleanup() {
	pgs_stop_broker
	pgs_stop_cluster
	rm -rf "$WORK"
}
WORK=$(mktemp -d /tmp/pgs_kafka.XXXXXX)
chmod 755 "$WORK"
trap cleanup EXIT

pgs_start_broker
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
echo "test broker at $PGS_BROKERS"
pgs_broker create events 4

# 100,000 messages: key, value, an event time in 2026-01-01's first hour
python3 - "$WORK" <<'PY'
import json, random, sys
random.seed(7)
work = sys.argv[1]
files = [open(f"{work}/p{p}.json", "w") for p in range(4)]
with open(f"{work}/all.json", "w") as all_:
    for i in range(100000):
        m = json.dumps({"user": f"u{random.randrange(100)}", "amount": random.randrange(1, 1000),
                        "ts": f"2026-01-01T00:{random.randrange(60):02d}:{random.randrange(60):02d}Z"})
        files[i % 4].write(m + "\n")
        all_.write(m + "\n")
for f in files:
    f.close()
PY

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER kafka_test FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE events (
	"user" text, amount int, ts timestamptz,
	part int OPTIONS (meta 'partition'), off bigint OPTIONS (meta 'offset')
) SERVER kafka_test OPTIONS (topic 'events');
CREATE MATERIALIZED VIEW per_user AS SELECT "user", count(*) AS n, sum(amount) AS total FROM events GROUP BY 1;
CREATE MATERIALIZED VIEW per_minute WITH (max_batch_rows = 7000) AS
	SELECT stream.tumble(ts, '1 minute') AS minute, count(*) AS n FROM events GROUP BY 1;
CREATE TABLE ref (m jsonb);
SQL
pgs_psql -c "\\copy ref FROM '$WORK/all.json'"

check() {
	local what=$1 result
	result=$(pgs_psql -At <<'SQL'
SELECT count(*) FROM (
	(TABLE per_user EXCEPT ALL
	 SELECT m->>'user', count(*), sum((m->>'amount')::int) FROM ref GROUP BY 1)
	UNION ALL
	(SELECT m->>'user', count(*), sum((m->>'amount')::int) FROM ref GROUP BY 1
	 EXCEPT ALL TABLE per_user)) d;
SELECT count(*) FROM (
	(TABLE per_minute EXCEPT ALL
	 SELECT stream.tumble((m->>'ts')::timestamptz, '1 minute'), count(*) FROM ref GROUP BY 1)
	UNION ALL
	(SELECT stream.tumble((m->>'ts')::timestamptz, '1 minute'), count(*) FROM ref GROUP BY 1
	 EXCEPT ALL TABLE per_minute)) d;
SQL
)
	[ "$result" = "0
0" ] || { echo "MISMATCH ($what): rows differing per view: $result"; q "SELECT * FROM stream.queries"; exit 1; }
	echo "$what: both views equal the counts from the produced file ($(q "SELECT sum(n) FROM per_user") messages)"
}
caught_up() {
	pgs_wait_for "SELECT bool_and(lag = 0) AND (SELECT sum(n) FROM per_user) = $1 FROM stream.queries" 120
}

echo "producing 100,000 messages over 4 partitions while the views run"
producers=()
for p in 0 1 2 3; do
	kcat -P -l -b "$PGS_BROKERS" -t events -p $p "$WORK/p$p.json" &
	producers+=($!)
done
# a worker dies in the middle of consuming
for i in $(seq 1 200); do
	pid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_stream worker' AND state = 'active' LIMIT 1")
	[ -n "$pid" ] && break
	sleep 0.02
done
[ -n "$pid" ] && { echo "kill -9 worker $pid during a batch"; kill -9 "$pid"; }
for p in "${producers[@]}"; do wait "$p" || { echo "kcat failed"; exit 1; }; done
caught_up 100000
check "after a worker crash"

echo "kill -9 of the postmaster with unread messages"
q "SELECT stream.stop('per_user')" >/dev/null
head -5000 "$WORK/all.json" >"$WORK/more.json"
kcat -P -l -b "$PGS_BROKERS" -t events -p 1 "$WORK/more.json"
pgs_psql -c "\\copy ref FROM '$WORK/more.json'"
kill -9 "$(head -1 "$PGS_DIR/data/postmaster.pid")"
i=0
until pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -l "$PGS_DIR/log" -w start >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -gt 100 ] && { echo "server does not start"; exit 1; }
	sleep 0.2
done
q "SELECT stream.start('per_user')" >/dev/null
caught_up 105000
check "after a postmaster crash"

echo "the broker goes down mid-stream; a view is created while it is down"
pgs_broker down 1
q "CREATE MATERIALIZED VIEW during_outage AS SELECT count(*) AS n FROM events" >/dev/null
pgs_wait_for "SELECT bool_and(last_error LIKE 'waiting for the source: %') AND bool_and(status = 'waiting') FROM stream.queries" 120
q "SELECT name, status, last_error FROM stream.queries ORDER BY name"
grep -q "waits for its source" "$PGS_DIR/log" || { echo "no log line"; exit 1; }
pgs_broker up 1
head -3000 "$WORK/p2.json" >"$WORK/after.json"
kcat -P -l -b "$PGS_BROKERS" -t events -p 3 "$WORK/after.json"
pgs_psql -c "\\copy ref FROM '$WORK/after.json'"
caught_up 108000
pgs_wait_for "SELECT bool_and(last_error IS NULL) FROM stream.queries" 60
check "after the outage"
[ "$(q "SELECT n FROM during_outage")" = 108000 ] || { echo "the view created during the outage"; exit 1; }
echo "the view created during the outage read all 108000 messages once the broker was back"

echo "bad messages go to stream.errors; the rest of the batch goes on"
printf '%s\n' '{"user": "u1", "amount": 5, "ts": "2026-01-01T00:00:00Z"}' \
	'{"user": "u1", "amount": ' '{"user": "u2", "amount": "lots", "ts": "2026-01-01T00:00:00Z"}' \
	'{"user": "u2", "amount": 6, "ts": "2026-01-01T00:00:01Z"}' >"$WORK/bad.json"
# and one nested too deep for the parser to follow (a bad message, not a stuck query)
python3 -c "print('{\"user\": ' + '[' * 200000 + ']' * 200000 + '}')" >>"$WORK/bad.json"
kcat -P -l -b "$PGS_BROKERS" -t events -p 0 "$WORK/bad.json"
sed -n '1p;4p' "$WORK/bad.json" >"$WORK/good.json"
pgs_psql -c "\\copy ref FROM '$WORK/good.json'"
caught_up 108002
check "with bad messages"
q "SELECT view::text, stream::text, position->>'partition', position ? 'offset', left(payload, 60), error FROM stream.errors ORDER BY id"
[ "$(q "SELECT count(DISTINCT position) || ' ' || count(*) FROM stream.errors WHERE stream = 'events'::regclass")" = "3 9" ] ||
	{ echo "expected the 3 bad messages in stream.errors, once per view"; exit 1; }
[ "$(q "SELECT string_agg(rows_bad::text, ' ') FROM stream.queries")" = "3 3 3" ] || { echo "rows_bad"; exit 1; }

echo "on_error 'stop' fails the query instead"
pgs_psql <<'SQL'
CREATE FOREIGN TABLE strict_events ("user" text, amount int, ts timestamptz)
	SERVER kafka_test OPTIONS (topic 'events', on_error 'stop');
CREATE MATERIALIZED VIEW strict_count AS SELECT count(*) FROM strict_events;
SQL
pgs_wait_for "SELECT status = 'failed' FROM stream.queries WHERE name = 'strict_count'::regclass" 120
q "SELECT status, last_error FROM stream.queries WHERE name = 'strict_count'::regclass"

echo "a plain SELECT reads from the start offsets to the current ends"
q "SELECT count(*), count(DISTINCT part), min(off), sum(CASE WHEN part = 0 THEN 1 END) FROM events"
[ "$(q "SELECT count(*) FROM events" 2>/dev/null)" = 108002 ] || { echo "bounded read"; exit 1; }
echo "INSERT produces one message per row (JSON, with the key column as the key)"
pgs_broker create totals 2
pgs_psql <<'SQL'
CREATE FOREIGN TABLE totals_out (
	k text OPTIONS (meta 'key'), "user" text, n bigint, total bigint, note text, flag bool
) SERVER kafka_test OPTIONS (topic 'totals');
INSERT INTO totals_out SELECT "user", "user", n, total, 'say "hi"', n > 1000 FROM per_user;
CREATE FOREIGN TABLE totals_in (
	"user" text, n bigint, total bigint, note text, flag bool, k text OPTIONS (meta 'key')
) SERVER kafka_test OPTIONS (topic 'totals');
SQL
[ "$(kcat -C -b "$PGS_BROKERS" -t totals -e -q | wc -l)" = "$(q "SELECT count(*) FROM per_user")" ] ||
	{ echo "kcat sees another number of messages"; exit 1; }
kcat -C -b "$PGS_BROKERS" -t totals -e -q -K '|' -c 1
# the messages read back through a kafka table equal the rows inserted
d=$(q "SELECT count(*) FROM ((SELECT \"user\", n, total, 'say \"hi\"', n > 1000, \"user\" FROM per_user)
	EXCEPT ALL (SELECT \"user\", n, total, note, flag, k FROM totals_in)) d")
[ "$d" = 0 ] || { echo "round trip through Kafka: $d rows differ"; exit 1; }
echo "INSERT ... SELECT into a kafka table and back: $(q "SELECT count(*) FROM totals_in") rows, equal"

echo "IMPORT FOREIGN SCHEMA infers each topic's columns from sample messages"
q "CREATE SCHEMA imported"
q "IMPORT FOREIGN SCHEMA kafka LIMIT TO (events, totals) FROM SERVER kafka_test INTO imported"
schema=$(q "SELECT c.relname || ': ' || string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
	FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
	WHERE c.relnamespace = 'imported'::regnamespace AND a.attnum > 0 GROUP BY c.relname ORDER BY 1")
echo "$schema"
[ "$schema" = "events: user text, amount bigint, ts timestamp with time zone
totals: user text, n bigint, total bigint, note text, flag boolean" ] || { echo "unexpected schema"; exit 1; }
[ "$(q "SELECT count(*) FROM imported.events" 2>/dev/null)" = 108002 ] || { echo "imported table"; exit 1; }

# The test broker cannot add partitions to a topic; a partition the view
# starts to read through option partitions takes the same path (not in the
# position yet: read from its start).
echo "partitions that a view starts to read are read from their start; dropped ones keep their offsets"
pgs_broker create grow 4
for p in 0 1 2 3; do head -100 "$WORK/p$p.json" | kcat -P -l -b "$PGS_BROKERS" -t grow -p $p; done
pgs_psql <<'SQL'
CREATE FOREIGN TABLE grow ("user" text, amount int, ts timestamptz) SERVER kafka_test
	OPTIONS (topic 'grow', partitions '0-1');
CREATE MATERIALIZED VIEW grow_count WITH (trigger = 'manual') AS SELECT count(*) AS n FROM grow;
REFRESH MATERIALIZED VIEW grow_count;
SQL
[ "$(q "SELECT n FROM grow_count")" = 200 ] || { echo "partitions 0-1"; exit 1; }
q "ALTER FOREIGN TABLE grow OPTIONS (SET partitions '0-3')"
q "REFRESH MATERIALIZED VIEW grow_count"
[ "$(q "SELECT n FROM grow_count")" = 400 ] || { echo "partitions 0-3"; exit 1; }
q "ALTER FOREIGN TABLE grow OPTIONS (SET partitions '0')"
q "REFRESH MATERIALIZED VIEW grow_count"
q "ALTER FOREIGN TABLE grow OPTIONS (DROP partitions)"
head -10 "$WORK/p2.json" | kcat -P -l -b "$PGS_BROKERS" -t grow -p 2
q "REFRESH MATERIALIZED VIEW grow_count"
[ "$(q "SELECT n FROM grow_count")" = 410 ] || { echo "partitions back: $(q "SELECT n FROM grow_count")"; exit 1; }
echo "grow_count: 200, then 400, then 410: nothing read twice; position $(q "SELECT position FROM stream.positions WHERE view = 'grow_count'::regclass")"

# (at-least-once: the batch produces, and REFRESH returns once the broker
# has the messages; the exactly-once default, through the outbox and
# Kafka transactions, is kafka_eos.sh's, on a broker that has them)
echo "a kafka table as a view's sink: the changelog of an update-mode view, keyed"
pgs_broker create user_changes 2
pgs_psql <<'SQL'
CREATE FOREIGN TABLE changes_out ("user" text OPTIONS (meta 'key'), n bigint, total bigint)
	SERVER kafka_test OPTIONS (topic 'user_changes', delivery 'at_least_once');
CREATE MATERIALIZED VIEW grow_users WITH (sink = 'changes_out', trigger = 'manual') AS
	SELECT "user", count(*) AS n, sum(amount) AS total FROM grow GROUP BY "user";
REFRESH MATERIALIZED VIEW grow_users;
SQL
head -30 "$WORK/p1.json" | tail -20 | kcat -P -l -b "$PGS_BROKERS" -t grow -p 1
q "REFRESH MATERIALIZED VIEW grow_users"
pgs_psql <<'SQL'
CREATE FOREIGN TABLE changes_in (k text OPTIONS (meta 'key'), n bigint, total bigint,
	part int OPTIONS (meta 'partition'), off bigint OPTIONS (meta 'offset'))
	SERVER kafka_test OPTIONS (topic 'user_changes');
SQL
msgs=$(q "SELECT count(*) FROM changes_in")
groups=$(q "SELECT count(*) FROM grow_users")
# the last message of each key (one key, one partition: in order) is the view's row
d=$(q "WITH latest AS (SELECT DISTINCT ON (k) k, n, total FROM changes_in ORDER BY k, off DESC)
	SELECT count(*) FROM ((SELECT * FROM latest EXCEPT ALL SELECT \"user\", n, total FROM grow_users)
		UNION ALL (SELECT \"user\", n, total FROM grow_users EXCEPT ALL SELECT * FROM latest)) d")
echo "grow_users: $groups groups; $msgs messages in user_changes; latest per key differs in $d"
[ "$d" = 0 ] && [ "$msgs" -gt "$groups" ] || { echo "kafka sink"; exit 1; }

echo "a message wakes an idle worker at once (librdkafka's pipe), not at its next poll"
pgs_broker create wake 1
pgs_psql -q <<'SQL'
ALTER SYSTEM SET pg_stream.poll_interval = '60s';
SELECT pg_reload_conf();
CREATE FOREIGN TABLE wake_in (id int) SERVER kafka_test OPTIONS (topic 'wake');
CREATE MATERIALIZED VIEW wake_v AS SELECT id FROM wake_in;
SQL
# the worker has read the empty topic and sleeps (up to 60 s now)
pgs_wait_for "SELECT a.wait_event = 'Extension' FROM stream.queries q JOIN pg_stat_activity a ON a.pid = q.worker_pid
	WHERE q.name = 'wake_v'::regclass AND q.batches = 0"
t0=$(date +%s%N)
echo '{"id": 1}' | kcat -P -b "$PGS_BROKERS" -t wake -p 0
pgs_wait_for "SELECT count(*) = 1 FROM wake_v" 20
echo "in the view $(( ($(date +%s%N) - t0) / 1000000 )) ms after kcat started (the worker would otherwise sleep 60 s)"
q "ALTER SYSTEM RESET pg_stream.poll_interval" >/dev/null
q "SELECT pg_reload_conf()" >/dev/null
echo "ok"
