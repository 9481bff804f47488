#!/usr/bin/env bash
# A file stream read by views with parallelism > 1 (each share reads the
# files whose name hashes to it; sources/file/position.c): JSON files
# arriving in a directory during the run, several of them large enough to
# be split over batches, read by two views with parallelism = 2, a per-key
# count and sum whose 40 keys every share touches, and a tumbling-window
# count with a watermark:
# - both shares run and commit batches;
# - kill -9 of one share's worker mid-stream;
# - ALTER ... SET (parallelism = 3) mid-stream, with files half read,
#   then back to 1, with files half read by the shares of 3;
# - REFRESHes while two shares read, and one that reads the files both
#   shares read while they wait for the view's lock;
# - Parquet files of several row groups, read a row group a batch by two
#   shares, re-divided into 3 and back to 1 with files half read;
# and after each step the views equal their queries over the same files
# (loaded into a table), exactly, EXCEPT ALL both ways, with no row late.
source "$(dirname "$0")/../lib.sh"
WORK=$(mktemp -d /tmp/pgs_parfiles.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$WORK"' EXIT
pgs_install_deps python3
# (a worker waits for a lock at most half of deadlock_timeout: long enough
# here for the shares to wait for a REFRESH's transaction)
pgs_start_cluster "deadlock_timeout = 4s"
mkdir -p "$WORK/in"
chown -R "$PGS_USER" "$WORK"
q() { pgs_psql -At -c "$1"; }
# gen R N LINES: round R, N files of LINES lines (event times within minutes
# [10R, 10R + 10) of 2026-01-01), written under hidden names, loaded into
# ref, then moved in (atomic); rounds are later and later
gen() {
	python3 - "$WORK" "$@" <<'PY'
import json, random, sys
work, r, n, lines = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
random.seed(r)
for f in range(n):
    with open(f"{work}/in/.r{r:02d}_{f:02d}.json", "w") as out:
        for i in range(lines):
            m = 10 * r + random.randrange(10)
            out.write(json.dumps({"k": f"k{random.randrange(40)}", "v": random.randrange(1000),
                                  "ts": f"2026-01-01T{m // 60:02d}:{m % 60:02d}:{random.randrange(60):02d}Z"}) + "\n")
PY
	chown "$PGS_USER" "$WORK"/in/.r*
	for f in "$WORK"/in/.r*; do
		pgs_psql -c "\\copy ref FROM '$f'" >/dev/null
	done
	[ -n "${STAGE_ONLY:-}" ] || move_in
}
# move_in [DELAY]: the files staged into the directory, one by one
move_in() {
	for f in "$WORK"/in/.r*; do
		b=${f##*/}
		mv "$f" "$WORK/in/${b#.}"
		sleep "${1:-0}"
	done
}
pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE ev (k text, v int, ts timestamptz) SERVER file
	OPTIONS (path '$WORK/in', pattern '*.json', event_time 'ts', watermark '15 minutes');
CREATE TABLE ref (m jsonb);
CREATE MATERIALIZED VIEW per_key WITH (parallelism = 2, max_batch_rows = 300) AS
	SELECT k, count(*) AS n, sum(v) AS total FROM ev GROUP BY 1;
CREATE MATERIALIZED VIEW per_window WITH (parallelism = 2, max_batch_rows = 300) AS
	SELECT stream.tumble(ts, '5 minutes') AS w, k, count(*) AS n, max(v) AS top FROM ev GROUP BY 1, 2;
SQL
caught_up() {
	pgs_wait_for "SELECT (SELECT sum(n) FROM per_key) IS NOT DISTINCT FROM (SELECT count(*) FROM ref)
		AND (SELECT sum(n) FROM per_window) IS NOT DISTINCT FROM (SELECT count(*) FROM ref)" 90 || {
		pgs_psql -c "SELECT name, status, batches, rows_in, last_error, shares FROM stream.queries"
		pgs_psql -c "SELECT (SELECT sum(n) FROM per_key), (SELECT sum(n) FROM per_window), (SELECT count(*) FROM ref)"
		tail -20 "$PGS_DIR/log"
		exit 1
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
SELECT count(*) FROM stream.errors;
SQL
)
	[ "$result" = "0
0
0
0" ] || { echo "FAIL ($what): differences/late/errors: $result"; pgs_psql -c "SELECT name, status, batches, rows_in, rows_late, watermark, shares FROM stream.queries"; exit 1; }
	echo "ok: $what"
}
# wait_two EXPR SECONDS: until EXPR (a count of files in progress) is at
# least 2, polled inside the server every 5 ms (a psql for each poll is slow
# enough for a quiet machine's shares to finish their files in between)
wait_two() {
	pgs_psql -q -c "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
		LOOP EXIT WHEN $1 >= 2;
			IF clock_timestamp() - t0 > interval '$2 s' THEN RAISE EXCEPTION 'timed out'; END IF;
			PERFORM pg_sleep(0.005);
		END LOOP; END \$\$" >/dev/null
}
# the shares' files in progress, as the view's one position row lists them
IN_PROGRESS="(SELECT count(*) FROM stream.positions p, LATERAL (SELECT position->>'file' AS f
	UNION ALL SELECT e->>0 FROM jsonb_array_elements(position->'reading') e) x
	WHERE view = 'per_key'::regclass AND f IS NOT NULL)"

gen 0 6 1500
pgs_wait_for "SELECT count(*) = 2 FROM stream.queries WHERE status = 'running'
	AND jsonb_array_length(shares) = 2 AND parallelism = 2
	AND (SELECT count(DISTINCT (s->>'pid')) FROM jsonb_array_elements(shares) s) = 2" 30
check "two shares"
[ "$(q "SELECT count(DISTINCT share) FROM stream.progress WHERE name = 'per_key'::regclass")" = 2 ] ||
	{ echo "FAIL: per_key's batches are not of both shares"; exit 1; }
echo "ok: batches of both shares"

# kill -9 of share 1's worker in the middle of a batch (files arriving)
# (the files are loaded into ref first: the crash restarts the server)
STAGE_ONLY=1 gen 1 8 3000
move_in 0.05 &
sender=$!
pid=""
while [ -z "$pid" ] && kill -0 $sender 2>/dev/null; do
	pid=$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_stream worker' AND query LIKE '%per_key, share 1 of 2' AND state = 'active'")
done
[ -n "$pid" ] || pid=$(q "SELECT s->>'pid' FROM stream.queries, jsonb_array_elements(shares) s WHERE name = 'per_key'::regclass AND s->>'share' = '1'")
kill -9 "$pid"
wait $sender
pgs_wait_up 2
check "kill -9 of a share's worker"

# ALTER to 3 with files half read, then back to 1 with files half read
gen 2 10 20000
wait_two "$IN_PROGRESS" 30 ||
	{ echo "FAIL: no two files in progress to re-divide"; exit 1; }
pgs_psql -c "ALTER MATERIALIZED VIEW per_key SET (parallelism = 3)"
pgs_psql -c "ALTER MATERIALIZED VIEW per_window SET (parallelism = 3)"
gen 3 6 3000
pgs_wait_for "SELECT count(*) = 2 FROM stream.queries WHERE parallelism = 3 AND jsonb_array_length(shares) = 3" 30
check "ALTER to 3 mid-stream"
gen 4 9 20000
wait_two "$IN_PROGRESS" 30 ||
	{ echo "FAIL: no two files in progress to re-divide"; exit 1; }
pgs_psql -c "ALTER MATERIALIZED VIEW per_key SET (parallelism = 1)"
pgs_psql -c "ALTER MATERIALIZED VIEW per_window RESET (parallelism)"
gen 5 4 2000
pgs_wait_for "SELECT count(*) = 2 FROM stream.queries WHERE parallelism = 1 AND shares IS NULL AND status = 'running'" 30
check "ALTER back to 1 mid-stream"
# one worker: at most one file in progress, as positions always had
[ "$(q "SELECT count(*) FROM stream.positions WHERE position ? 'reading'")" = 0 ] ||
	{ echo "FAIL: a position of one worker lists several files in progress"; exit 1; }
echo "ok: one worker's position has one file in progress at most"

# REFRESHes while two shares read: a share's batch that finds its files
# moved by a REFRESH is given up and read again
pgs_psql -c "ALTER MATERIALIZED VIEW per_key SET (parallelism = 2)"
pgs_wait_for "SELECT jsonb_array_length(shares) = 2 FROM stream.queries WHERE name = 'per_key'::regclass" 30
gen 6 8 3000
for i in 1 2 3; do pgs_psql -c "REFRESH MATERIALIZED VIEW per_key" >/dev/null; done
check "REFRESH while the shares read"
# a REFRESH that reads what both shares read while they wait for the
# view's lock (its transaction holds it): the same files, read to the same
# end (files small enough for a share's batch to read them all: a file
# cut would differ from the REFRESH's end anyway); each share must find
# them moved, give up and read again, or their rows would count twice
coproc S1 { pgs_psql -At; }
echo "BEGIN; REFRESH MATERIALIZED VIEW per_key; SELECT 'locked';" >&"${S1[1]}"
read -r -t 60 line <&"${S1[0]}"; [ "$line" = locked ] || { echo "FAIL: the REFRESH session: $line"; exit 1; }
gen 7 6 40
# (a share's batch that read before the files came gives up the lock
# after half of deadlock_timeout; the next one reads them, then waits)
t=$(q "SELECT now()")
pgs_wait_for "SELECT count(*) = 2 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	WHERE l.relation = 'per_key'::regclass AND NOT l.granted AND a.backend_type = 'pg_stream worker'
	AND l.waitstart > '$t'" 30
echo "REFRESH MATERIALIZED VIEW per_key; COMMIT; SELECT 'done';" >&"${S1[1]}"
read -r -t 60 line <&"${S1[0]}"; [ "$line" = done ] || { echo "FAIL: the REFRESH session: $line"; exit 1; }
exec {S1[1]}>&-
check "a REFRESH reading what the shares read"

# Parquet files of several row groups (written by DuckDB, an independent
# implementation), read a row group a batch by two shares, re-divided into
# 3 with files half read, then back to 1
npm ci --prefix "$PGS_ROOT/test/parquet" --no-audit --no-fund --loglevel=error >/dev/null
duck() { node "$PGS_ROOT/test/parquet/duck.mjs" "$@"; }
mkdir -p "$WORK/pq" "$WORK/pqstage"
chown -R "$PGS_USER" "$WORK"
# pq F0 F1: files F0..F1 of 65,536 rows in row groups of 1,024, moved in
# together; in ref too
pq() {
	local sql=""
	for f in $(seq "$1" "$2"); do
		sql="$sql COPY (SELECT 'k' || (i % 37) AS k, ((i * 7 + $f) % 1000)::int AS v FROM range(65536) t(i))
			TO '$WORK/pqstage/p$(printf %02d "$f").parquet' (FORMAT parquet, ROW_GROUP_SIZE 1024);"
		q "INSERT INTO pq_ref SELECT 'k' || (i % 37), (i * 7 + $f) % 1000 FROM generate_series(0, 65535) i" >/dev/null
	done
	duck sql "$sql"
	chown "$PGS_USER" "$WORK"/pqstage/*.parquet
	mv "$WORK"/pqstage/*.parquet "$WORK/pq/"
}
pgs_psql <<SQL
CREATE TABLE pq_ref (k text, v int);
CREATE FOREIGN TABLE pq_ev (k text, v int) SERVER file OPTIONS (path '$WORK/pq', format 'parquet');
CREATE MATERIALIZED VIEW pq_key WITH (parallelism = 2, max_batch_rows = 1000) AS
	SELECT k, count(*) AS n, sum(v) AS total FROM pq_ev GROUP BY 1;
SQL
PQ_IN_PROGRESS="(SELECT count(*) FROM stream.positions p, LATERAL (SELECT position->>'file' AS f
	UNION ALL SELECT e->>0 FROM jsonb_array_elements(position->'reading') e) x
	WHERE view = 'pq_key'::regclass AND f IS NOT NULL)"
pq_check() {
	pgs_wait_for "SELECT (SELECT sum(n) FROM pq_key) IS NOT DISTINCT FROM (SELECT count(*) FROM pq_ref)" 60 || {
		pgs_psql -c "SELECT name, status, batches, rows_in, last_error, shares FROM stream.queries"
		exit 1
	}
	[ "$(q "SELECT count(*) FROM ((TABLE pq_key EXCEPT ALL SELECT k, count(*), sum(v) FROM pq_ref GROUP BY 1)
		UNION ALL (SELECT k, count(*), sum(v) FROM pq_ref GROUP BY 1 EXCEPT ALL TABLE pq_key)) d")" = 0 ] ||
		{ echo "FAIL ($1): Parquet view differs from its query"; exit 1; }
	echo "ok: $1"
}
pq 0 7
wait_two "$PQ_IN_PROGRESS" 20 ||
	{ echo "FAIL: no two Parquet files in progress to re-divide"; pgs_psql -c "SELECT name, status, batches, rows_in, last_error, shares FROM stream.queries" -c "SELECT position FROM stream.positions WHERE view = 'pq_key'::regclass"; ls -la "$WORK/pq" "$WORK/pqstage"; tail -20 "$PGS_DIR/log"; exit 1; }
pgs_psql -c "ALTER MATERIALIZED VIEW pq_key SET (parallelism = 3)"
pq 8 13
wait_two "$PQ_IN_PROGRESS" 60 ||
	{ echo "FAIL: no two Parquet files in progress to re-divide"; exit 1; }
pgs_psql -c "ALTER MATERIALIZED VIEW pq_key SET (parallelism = 1)"
pq_check "Parquet by row group, ALTER to 3 and back to 1 with files half read"
