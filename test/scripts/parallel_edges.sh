#!/usr/bin/env bash
# Views with parallelism > 1 at their edges (engine/parallel.c), on the
# test broker:
# - more shares than partitions: a view with parallelism = 3 over a topic
#   of 2 partitions; share 2 holds none, and must not hold the watermark
#   back (its time is 'infinity'): the watermark follows the two others,
#   the windows it closes are final, the view equals its query;
# - a kafka sink made exactly-once after the view got parallelism (ALTER
#   FOREIGN TABLE ... OPTIONS (SET delivery 'exactly_once'), which no
#   check at the view's ALTER sees): the shares' batches refuse it, with
#   the hint, and deliver nothing; ALTER of the view refuses it too, and
#   CREATE; a batch holds the lock of the sink it checked;
# - stream.stop, stream.start and DROP while the shares read: every row
#   counted once, the workers gone;
# - a file stream's share that owns no file: passed over as a share
#   without partitions is, until a file whose name hashes to it comes
#   (then read, not late, its time its own).
source "$(dirname "$0")/../lib.sh"
cleanup() {
	pgs_stop_broker
	pgs_stop_cluster
	rm -rf "$WORK"
}
WORK=$(mktemp -d /tmp/pgs_parallel_edges.XXXXXX)
chmod 755 "$WORK"
trap cleanup EXIT

pgs_install_deps kcat python3
pgs_start_broker
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
pgs_broker create two 2
pgs_broker create src 2
pgs_broker create out 1

# gen R N MINUTE: N messages of event time in minute MINUTE of 2026-01-01,
# over both partitions, into ref; and to the broker
produce() {
	local round=$1 n=$2 minute=$3
	python3 - "$WORK" "$round" "$n" "$minute" <<'PY'
import json, random, sys
work, r, n, minute = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
random.seed(r)
files = [open(f"{work}/r{r}_p{p}.json", "w") for p in (0, 1)]
with open(f"{work}/r{r}.json", "w") as all_:
    for i in range(n):
        msg = json.dumps({"k": f"k{random.randrange(5)}", "v": random.randrange(100),
                          "ts": f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:{random.randrange(60):02d}Z"})
        files[i % 2].write(msg + "\n")
        all_.write(msg + "\n")
for f in files:
    f.close()
PY
	pgs_psql -c "\\copy ref FROM '$WORK/r$round.json'"
	for p in 0 1; do
		kcat -P -l -b "$PGS_BROKERS" -t two -p $p -X linger.ms=20 "$WORK/r${round}_p$p.json"
	done
}

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER k FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE two (k text, v int, ts timestamptz) SERVER k
	OPTIONS (topic 'two', event_time 'ts', watermark '10 minutes');
CREATE TABLE ref (m jsonb);
-- (append mode: a window is in the view only once final)
CREATE MATERIALIZED VIEW win3 WITH (parallelism = 3, output_mode = 'append') AS
	SELECT stream.tumble(ts, '5 minutes') AS w, k, count(*) AS n, sum(v) AS total
	FROM two GROUP BY 1, 2;
SQL

# minute 0, then minute 130: the watermark passes every window of minute 0
produce 0 400 0
pgs_wait_for "SELECT rows_in = 400 FROM stream.queries WHERE name = 'win3'::regclass" 30
produce 1 400 130
pgs_wait_for "SELECT rows_in = 800 FROM stream.queries WHERE name = 'win3'::regclass" 30
if ! pgs_wait_for "SELECT watermark >= '2026-01-01 02:00:00+00' FROM stream.queries WHERE name = 'win3'::regclass" 20 ||
	! pgs_wait_for "SELECT sum(n) = 400 FROM win3" 20; then
	echo "FAIL: a share without partitions holds the watermark back"
	pgs_psql -c "SELECT watermark, shares FROM stream.queries" -c "SELECT * FROM stream.positions"
	exit 1
fi
result=$(q "SELECT count(*) FROM (
	(TABLE win3 EXCEPT ALL
	 SELECT stream.tumble((m->>'ts')::timestamptz, '5 minutes'), m->>'k', count(*), sum((m->>'v')::int)
	 FROM ref WHERE (m->>'ts')::timestamptz < '2026-01-01 01:00:00+00' GROUP BY 1, 2)
	UNION ALL
	(SELECT stream.tumble((m->>'ts')::timestamptz, '5 minutes'), m->>'k', count(*), sum((m->>'v')::int)
	 FROM ref WHERE (m->>'ts')::timestamptz < '2026-01-01 01:00:00+00' GROUP BY 1, 2
	 EXCEPT ALL TABLE win3)) d")
[ "$result" = 0 ] || { echo "FAIL: win3 differs from its query: $result"; exit 1; }
[ "$(q "SELECT rows_late FROM stream.queries WHERE name = 'win3'::regclass")" = 0 ] ||
	{ echo "FAIL: rows late"; exit 1; }
[ "$(q "SELECT share_max_event_times[3] FROM stream.positions WHERE view = 'win3'::regclass")" = infinity ] ||
	{ echo "FAIL: share 2's time is not infinity"; exit 1; }
echo "ok: a share without partitions does not hold the watermark back"

# a sink made exactly-once after the view got parallelism
pgs_psql <<'SQL'
CREATE FOREIGN TABLE src (k text, v int) SERVER k OPTIONS (topic 'src');
CREATE FOREIGN TABLE outk (k text, v int) SERVER k
	OPTIONS (topic 'out', delivery 'at_least_once');
CREATE MATERIALIZED VIEW fwd WITH (parallelism = 2, sink = 'outk') AS
	SELECT k, v FROM src;
SQL
echo '{"k": "a", "v": 1}' | kcat -P -b "$PGS_BROKERS" -t src -p 0
echo '{"k": "b", "v": 2}' | kcat -P -b "$PGS_BROKERS" -t src -p 1
pgs_wait_for "SELECT count(*) = 2 FROM fwd" 30
pgs_psql -c "ALTER FOREIGN TABLE outk OPTIONS (SET delivery 'exactly_once')"
echo '{"k": "c", "v": 3}' | kcat -P -b "$PGS_BROKERS" -t src -p 0
pgs_wait_for "SELECT last_error LIKE '%with parallelism 2 cannot deliver to exactly-once kafka sink%' FROM stream.queries WHERE name = 'fwd'::regclass" 30 ||
	{ echo "FAIL: a share's batch delivered to an exactly-once sink"; pgs_psql -c "SELECT name, status, last_error FROM stream.queries"; exit 1; }
[ "$(q "SELECT count(*) FROM fwd")" = 2 ] || { echo "FAIL: fwd took the row"; exit 1; }
out=$(pgs_psql -At -c "ALTER MATERIALIZED VIEW fwd SET (trigger = '1 second')" 2>&1 || true)
case "$out" in
*'cannot be greater than 1'*) ;;
*) echo "FAIL: ALTER of fwd: $out"; exit 1 ;;
esac
# and CREATE refuses it
out=$(pgs_psql -At -c "CREATE MATERIALIZED VIEW fwd2 WITH (parallelism = 2, sink = 'outk') AS SELECT k, v FROM src" 2>&1 || true)
case "$out" in
*'cannot be greater than 1'*'one worker delivers in order'*) ;;
*) echo "FAIL: CREATE with an exactly-once sink: $out"; exit 1 ;;
esac
# back to at-least-once, and started again: the row comes, once
pgs_psql -c "ALTER FOREIGN TABLE outk OPTIONS (SET delivery 'at_least_once')" -c "SELECT stream.start('fwd')"
pgs_wait_for "SELECT count(*) = 3 FROM fwd" 30 || { echo "FAIL: fwd did not resume"; exit 1; }
# a batch locks the sink it checked (an ALTER FOREIGN TABLE waits for it)
held=$(pgs_psql -At <<'SQL'
BEGIN;
REFRESH MATERIALIZED VIEW fwd;
SELECT count(*) FROM pg_locks WHERE relation = 'outk'::regclass AND pid = pg_backend_pid() AND granted;
COMMIT;
SQL
)
[ "$held" -ge 1 ] 2>/dev/null || { echo "FAIL: a batch does not hold the sink's lock: $held"; exit 1; }
echo "ok: a sink made exactly-once later is refused by the shares' batches and by ALTER"

# stop and DROP while the shares read: no error, the workers go
produce 2 20000 200
pgs_psql -c "SELECT stream.stop('win3')" >/dev/null
pgs_wait_for "SELECT count(*) = 0 FROM stream._worker_status() WHERE view = 'win3'::regclass AND pid IS NOT NULL" 30 ||
	{ echo "FAIL: win3's shares still run after stream.stop"; exit 1; }
n=$(q "SELECT rows_in FROM stream.queries WHERE name = 'win3'::regclass")
produce 3 400 201
pgs_psql -c "SELECT stream.start('win3')" >/dev/null
pgs_wait_for "SELECT rows_in = 21200 FROM stream.queries WHERE name = 'win3'::regclass" 30 ||
	{ echo "FAIL: win3 did not resume: $n, $(q "SELECT rows_in FROM stream.queries WHERE name = 'win3'::regclass")"; exit 1; }
pgs_psql -c "DROP MATERIALIZED VIEW win3"
pgs_wait_for "SELECT count(*) = 0 FROM stream._worker_status() WHERE view NOT IN (SELECT view FROM stream.cq)" 30 ||
	{ echo "FAIL: a dropped view's shares still run"; exit 1; }
echo "ok: stop, start and DROP while the shares read"

# a file share that owns no file: passed over, as a share without
# partitions is, until a file falls to it (its name hashes to it)
mkdir "$WORK/fin"
chown "$PGS_USER" "$WORK/fin"
# names_of S: two names of share S of 3 (hash_bytes of the name, mod 3)
names_of() {
	q "SELECT string_agg(n, ' ') FROM (SELECT n FROM (SELECT 'f' || i || '.json' AS n FROM generate_series(1, 60) i) x
		WHERE ((hashtext(n)::bigint & 4294967295) % 3) = $1 LIMIT 2) y"
}
read -r -a names0 < <(names_of 0)
read -r -a names1 < <(names_of 1)
read -r -a names2 < <(names_of 2)
pgs_psql <<SQL
CREATE FOREIGN TABLE fev (k text, v int, ts timestamptz) SERVER file
	OPTIONS (path '$WORK/fin', pattern '*.json', event_time 'ts', watermark '10 minutes');
CREATE TABLE fref (m jsonb);
CREATE MATERIALIZED VIEW fwin3 WITH (parallelism = 3, output_mode = 'append') AS
	SELECT stream.tumble(ts, '5 minutes') AS w, k, count(*) AS n FROM fev GROUP BY 1, 2;
SQL
# put_file FILE MINUTE N: N rows of minute MINUTE into fin/FILE and fref
put_file() {
	python3 - "$WORK/fin/.$1" "$2" "$3" <<'PY2'
import json, random, sys
path, minute, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
random.seed(minute)
with open(path, "w") as out:
    for i in range(n):
        out.write(json.dumps({"k": f"k{random.randrange(5)}", "v": i,
                              "ts": f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:{random.randrange(60):02d}Z"}) + "\n")
PY2
	pgs_psql -c "\\copy fref FROM '$WORK/fin/.$1'" >/dev/null
	chown "$PGS_USER" "$WORK/fin/.$1"
	mv "$WORK/fin/.$1" "$WORK/fin/$1"
}
put_file "${names0[0]}" 0 100
put_file "${names1[0]}" 0 100
pgs_wait_for "SELECT rows_in = 200 FROM stream.queries WHERE name = 'fwin3'::regclass" 30
put_file "${names0[1]}" 130 100
put_file "${names1[1]}" 130 100
pgs_wait_for "SELECT rows_in = 400 FROM stream.queries WHERE name = 'fwin3'::regclass" 30
if ! pgs_wait_for "SELECT watermark >= '2026-01-01 02:00:00+00' FROM stream.queries WHERE name = 'fwin3'::regclass" 20 ||
	! pgs_wait_for "SELECT sum(n) = 200 FROM fwin3" 20; then
	echo "FAIL: a file share that owns no file holds the watermark back"
	pgs_psql -c "SELECT watermark, shares FROM stream.queries WHERE name = 'fwin3'::regclass" -c "SELECT * FROM stream.positions WHERE view = 'fwin3'::regclass"
	exit 1
fi
[ "$(q "SELECT share_max_event_times[3] FROM stream.positions WHERE view = 'fwin3'::regclass")" = infinity ] ||
	{ echo "FAIL: the file share 2's time is not infinity"; exit 1; }
# then a file falls to share 2: read, not late, and its time is its own
put_file "${names2[0]}" 131 50
pgs_wait_for "SELECT rows_in = 450 FROM stream.queries WHERE name = 'fwin3'::regclass" 30 ||
	{ echo "FAIL: share 2 did not read its file"; exit 1; }
pgs_wait_for "SELECT share_max_event_times[3] < '2026-01-01 02:12:00+00' FROM stream.positions WHERE view = 'fwin3'::regclass" 20 ||
	{ echo "FAIL: share 2's time: $(q "SELECT share_max_event_times FROM stream.positions WHERE view = 'fwin3'::regclass")"; exit 1; }
[ "$(q "SELECT rows_late FROM stream.queries WHERE name = 'fwin3'::regclass")" = 0 ] ||
	{ echo "FAIL: file rows late"; exit 1; }
result=$(q "SELECT count(*) FROM (
	(TABLE fwin3 EXCEPT ALL
	 SELECT stream.tumble((m->>'ts')::timestamptz, '5 minutes'), m->>'k', count(*)
	 FROM fref WHERE (m->>'ts')::timestamptz < '2026-01-01 01:00:00+00' GROUP BY 1, 2)
	UNION ALL
	(SELECT stream.tumble((m->>'ts')::timestamptz, '5 minutes'), m->>'k', count(*)
	 FROM fref WHERE (m->>'ts')::timestamptz < '2026-01-01 01:00:00+00' GROUP BY 1, 2
	 EXCEPT ALL TABLE fwin3)) d")
[ "$result" = 0 ] || { echo "FAIL: fwin3 differs from its query: $result"; exit 1; }
echo "ok: a file share that owns no file does not hold the watermark back"

grep -E "PANIC|TRAP" "$PGS_DIR/log" && { echo "FAIL: see the server log"; exit 1; }
echo "parallel_edges: all ok"
