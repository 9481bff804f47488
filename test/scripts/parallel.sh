#!/usr/bin/env bash
# Views with parallelism > 1 (engine/parallel.c), on the test broker: a
# topic of 6 partitions read by two views with parallelism = 2, a per-key
# count and sum whose 40 keys every share touches, and a tumbling-window
# count with a watermark (update mode: the view holds every window, final
# or not):
# - both shares run, each with its share in stream.queries.shares, and
#   batches of both shares in stream.progress;
# - the watermark is the least of the shares': input for share 0's
#   partitions alone, two hours later, does not move it; the same for
#   share 1 then does;
# - kill -9 of one share's worker mid-stream;
# - ALTER ... SET (parallelism = 3) mid-stream, then back to 1;
# - a REFRESH that consumes what both shares read while they wait for
#   the view's lock; a REFRESH of a manual view with parallelism 2 reads
#   every share;
# and after each round both views equal their queries over the produced
# messages (loaded into a table), exactly, EXCEPT ALL both ways, with no
# row late.
source "$(dirname "$0")/../lib.sh"
cleanup() {
	pgs_stop_broker
	pgs_stop_cluster
	rm -rf "$WORK"
}
WORK=$(mktemp -d /tmp/pgs_parallel.XXXXXX)
chmod 755 "$WORK"
trap cleanup EXIT

pgs_install_deps kcat python3
pgs_start_broker
# (a worker waits for a lock at most half of deadlock_timeout: long enough
# here for the shares to wait for a REFRESH's transaction)
pgs_start_cluster "deadlock_timeout = 4s"
q() { pgs_psql -At -c "$1"; }
PARTS=6
pgs_broker create ev $PARTS

# gen R N [PARTITIONS [MINUTE]]: round R, N messages over the partitions
# given (default all), event times within minutes [10R, 10R + 10) of
# 2026-01-01 (or in MINUTE), into ref; send R produces them. Rounds come
# one after the other, later and later, so that no row of one is late.
gen() {
	local round=$1 n=$2 parts=${3:-$(seq -s, 0 $((PARTS - 1)))} minute=${4:-}
	python3 - "$WORK" "$round" "$n" "$parts" "$minute" <<'PY'
import json, random, sys
work, r, n, parts, minute = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
    [int(p) for p in sys.argv[4].split(",")], sys.argv[5]
random.seed(r)
files = {p: open(f"{work}/r{r}_p{p}.json", "w") for p in parts}
with open(f"{work}/r{r}.json", "w") as all_:
    for i in range(n):
        m = 10 * r + random.randrange(10) if minute == "" else int(minute)
        msg = json.dumps({"k": f"k{random.randrange(40)}", "v": random.randrange(1000),
                          "ts": f"2026-01-01T{m // 60:02d}:{m % 60:02d}:{random.randrange(60):02d}Z"})
        files[parts[i % len(parts)]].write(msg + "\n")
        all_.write(msg + "\n")
for f in files.values():
    f.close()
PY
	pgs_psql -c "\\copy ref FROM '$WORK/r$round.json'"
}
send() {
	for f in "$WORK"/r${1}_p*.json; do
		p=${f##*_p}; p=${p%.json}
		kcat -P -l -b "$PGS_BROKERS" -t ev -p "$p" -X linger.ms=20 "$f"
	done
}
produce() { gen "$@"; send "$1"; }

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER k FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE ev (k text, v int, ts timestamptz) SERVER k
	OPTIONS (topic 'ev', event_time 'ts', watermark '10 minutes');
CREATE TABLE ref (m jsonb);
CREATE MATERIALIZED VIEW per_key WITH (parallelism = 2, max_batch_rows = 1500) AS
	SELECT k, count(*) AS n, sum(v) AS total FROM ev GROUP BY 1;
CREATE MATERIALIZED VIEW per_window WITH (parallelism = 2, max_batch_rows = 1500) AS
	SELECT stream.tumble(ts, '5 minutes') AS w, k, count(*) AS n, max(v) AS top FROM ev GROUP BY 1, 2;
SQL

# the views have read everything produced: lag 0 and every message counted
caught_up() {
	pgs_wait_for "SELECT (SELECT sum(n) FROM per_key) IS NOT DISTINCT FROM (SELECT count(*) FROM ref)
		AND (SELECT sum(n) FROM per_window) IS NOT DISTINCT FROM (SELECT count(*) FROM ref)
		AND (SELECT bool_and(lag = 0) FROM stream.queries)" 90 || {
		pgs_psql -c "SELECT name, status, batches, rows_in, lag, last_error, shares FROM stream.queries"
		pgs_psql -c "SELECT (SELECT sum(n) FROM per_key), (SELECT sum(n) FROM per_window), (SELECT count(*) FROM ref)"
		tail -20 "$PGS_DIR/log"
		return 1
	}
}
check() {
	local what=$1 result
	caught_up
	result=$(pgs_psql -At <<'SQL'
SELECT count(*) FROM (
	(TABLE per_key EXCEPT ALL
	 SELECT m->>'k', count(*), sum((m->>'v')::int) FROM ref GROUP BY 1)
	UNION ALL
	(SELECT m->>'k', count(*), sum((m->>'v')::int) FROM ref GROUP BY 1
	 EXCEPT ALL TABLE per_key)) d;
SELECT count(*) FROM (
	(TABLE per_window EXCEPT ALL
	 SELECT stream.tumble((m->>'ts')::timestamptz, '5 minutes'), m->>'k', count(*), max((m->>'v')::int)
	 FROM ref GROUP BY 1, 2)
	UNION ALL
	(SELECT stream.tumble((m->>'ts')::timestamptz, '5 minutes'), m->>'k', count(*), max((m->>'v')::int)
	 FROM ref GROUP BY 1, 2
	 EXCEPT ALL TABLE per_window)) d;
SELECT sum(rows_late) FROM stream.queries;
SQL
)
	[ "$result" = "0
0
0" ] || { echo "FAIL ($what): differences/late: $result"; pgs_psql -c "SELECT name, status, batches, rows_in, rows_late, watermark, lag, shares FROM stream.queries"; exit 1; }
	echo "ok: $what"
}

produce 0 12000
pgs_wait_for "SELECT count(*) = 2 FROM stream.queries WHERE status = 'running'
	AND jsonb_array_length(shares) = 2 AND parallelism = 2
	AND (SELECT count(DISTINCT (s->>'pid')) FROM jsonb_array_elements(shares) s) = 2" 30
check "two shares"
[ "$(q "SELECT count(DISTINCT share) FROM stream.progress WHERE name = 'per_key'::regclass")" = 2 ] ||
	{ echo "FAIL: per_key's batches are not of both shares"; exit 1; }
[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_stream worker' AND query LIKE '%per_key, share _ of 2'")" = 2 ] ||
	{ echo "FAIL: pg_stat_activity does not show per_key's two shares"; exit 1; }
echo "ok: progress and pg_stat_activity show the shares"

# the watermark is the least of the shares': two hours later in share 0's
# partitions (0, 2, 4) alone does not move it past round 0's
wm0=$(q "SELECT watermark FROM stream.queries WHERE name = 'per_window'::regclass")
produce 1 600 0,2,4 130
caught_up
wm1=$(q "SELECT watermark FROM stream.queries WHERE name = 'per_window'::regclass")
[ -n "$wm0" ] && [ "$wm0" = "$wm1" ] || { echo "FAIL: share 0 alone moved the watermark: $wm0 -> $wm1"; exit 1; }
produce 2 600 1,3,5 130
caught_up
pgs_wait_for "SELECT watermark >= '2026-01-01 02:00:00+00' FROM stream.queries WHERE name = 'per_window'::regclass" 30
check "the watermark is the least of the shares'"

# kill -9 of one share's worker in the middle of the stream
gen 15 30000
send 15 &	# (a batch of share 1 is looked for meanwhile)
sender=$!
# (in a batch if one is caught running before the messages are all sent;
# else between two)
pid=""
while [ -z "$pid" ] && kill -0 $sender 2>/dev/null; do
	pid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_stream worker' AND query LIKE '%per_key, share 1 of 2' AND state = 'active'")
done
[ -n "$pid" ] || pid=$(q "SELECT s->>'pid' FROM stream.queries, jsonb_array_elements(shares) s WHERE name = 'per_key'::regclass AND s->>'share' = '1'")
kill -9 "$pid"
wait $sender
pgs_wait_up 2
check "kill -9 of a share's worker"

# ALTER to 3 while the views read, then back to 1
produce 16 24000
pgs_psql -c "ALTER MATERIALIZED VIEW per_key SET (parallelism = 3)"
pgs_psql -c "ALTER MATERIALIZED VIEW per_window SET (parallelism = 3)"
pgs_wait_for "SELECT count(*) = 2 FROM stream.queries WHERE parallelism = 3 AND jsonb_array_length(shares) = 3" 30
check "ALTER to 3 mid-stream"
before=$(q "SELECT count(*) FROM ref")
produce 17 24000
pgs_wait_for "SELECT sum(n) > $before FROM per_key" 30	# (mid-stream, as far as can be)
pgs_psql -c "ALTER MATERIALIZED VIEW per_key SET (parallelism = 1)"
pgs_psql -c "ALTER MATERIALIZED VIEW per_window RESET (parallelism)"
pgs_wait_for "SELECT count(*) = 2 FROM stream.queries WHERE parallelism = 1 AND shares IS NULL AND status = 'running'" 30
check "ALTER back to 1 mid-stream"

# a REFRESH that consumes what both shares have read while they wait for
# the view's lock (its transaction holds it): each share's batch must
# find its partitions moved, give up and read again, or the messages
# would count twice
pgs_psql -c "ALTER MATERIALIZED VIEW per_key SET (parallelism = 2)"
pgs_wait_for "SELECT jsonb_array_length(shares) = 2 FROM stream.queries WHERE name = 'per_key'::regclass" 30
caught_up
coproc S1 { pgs_psql -At; }
echo "BEGIN; REFRESH MATERIALIZED VIEW per_key; SELECT 'locked';" >&"${S1[1]}"
read -r -t 60 line <&"${S1[0]}"; [ "$line" = locked ] || { echo "FAIL: the REFRESH session: $line"; exit 1; }
produce 18 6000
# (a share's batch that began before the messages gives up the lock
# after half of deadlock_timeout; the next one reads them, then waits)
t=$(q "SELECT now()")
pgs_wait_for "SELECT count(*) = 2 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	WHERE l.relation = 'per_key'::regclass AND NOT l.granted AND a.backend_type = 'pg_stream worker'
	AND l.waitstart > '$t'" 30
echo "REFRESH MATERIALIZED VIEW per_key; COMMIT; SELECT 'done';" >&"${S1[1]}"
read -r -t 60 line <&"${S1[0]}"; [ "$line" = done ] || { echo "FAIL: the REFRESH session: $line"; exit 1; }
exec {S1[1]}>&-
check "a REFRESH consuming what the shares read"

# REFRESH of a view with parallelism 2 reads every share, in this session
pgs_psql -c "ALTER MATERIALIZED VIEW per_key SET (trigger = 'manual')"
produce 19 3000
pgs_psql -c "REFRESH MATERIALIZED VIEW per_key"
[ "$(q "SELECT sum(n) FROM per_key")" = "$(q "SELECT count(*) FROM ref")" ] ||
	{ echo "FAIL: REFRESH did not read every share"; exit 1; }
check "REFRESH of a view with parallelism 2"

grep -E "PANIC|TRAP|deadlock detected" "$PGS_DIR/log" && { echo "FAIL: see the server log"; exit 1; }
echo "parallel: all ok"
