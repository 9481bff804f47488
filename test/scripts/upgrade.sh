#!/usr/bin/env bash
# ALTER EXTENSION pg_stream UPDATE from release 0.1, with views running.
#
# Builds and installs release 0.1 from git (commit 5e25478), creates
# streams of every kind (INSERT-fed, rate, file, Kafka) and continuous
# views of every kind 0.1 has (per-key aggregates, a global one, append,
# complete, a join with a table, windows over event time in update and
# append mode, a join of two streams, a stream joined with a continuous
# view as a table, a sink, a manual trigger, a stopped
# view), and feeds them. Then installs this tree's library and restarts:
# until the update, the views wait and INSERT into a stream says what to
# run. ALTER EXTENSION pg_stream UPDATE; feeding goes on, the postmaster
# is killed with kill -9 once, and at the end every view must equal its
# query over the same input, exactly. Last, the objects of the updated
# extension must be those of a fresh CREATE EXTENSION of the new version.
source "$(dirname "$0")/../lib.sh"

RELEASE_0_1=5e25478
WORK=$(mktemp -d /tmp/pgs_upgrade.XXXXXX)
chmod 755 "$WORK"
cleanup() {
	local rc=$?
	[ $rc = 0 ] || pgs_psql -c "SELECT name, status, lag, last_error FROM stream.queries" >&2 || true
	pgs_stop_cluster
	pgs_stop_broker
	# leave this tree's version installed, whatever happened
	pgs_build >/dev/null 2>&1 || true
	[ -n "${PGS_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

git -C "$PGS_ROOT" cat-file -e "$RELEASE_0_1^{commit}" 2>/dev/null ||
	{ echo "release 0.1 ($RELEASE_0_1) is not in this clone's history" >&2; exit 1; }
# PGS_V01_TREE: a directory to build release 0.1 in and keep (runs after
# the first then only install it); by default a temporary one
V01=${PGS_V01_TREE:-$WORK/v0.1}
if [ ! -f "$V01/pg_stream.so" ]; then
	pgs_log "building release 0.1 ($RELEASE_0_1)"
	mkdir -p "$V01"
	git -C "$PGS_ROOT" archive "$RELEASE_0_1" | tar -x -C "$V01"
	make -C "$V01" -s -j2 PG_CONFIG="$PG_CONFIG" >/dev/null
fi
make -C "$V01" -s PG_CONFIG="$PG_CONFIG" install >/dev/null

pgs_start_broker
pgs_broker create kev 2
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
mkdir "$WORK/in"
chown "$PGS_USER" "$WORK/in"

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
SELECT extversion FROM pg_extension WHERE extname = 'pg_stream';
CREATE FOREIGN TABLE ev (k int, v int, ts timestamptz) SERVER stream;
CREATE FOREIGN TABLE tk (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE FOREIGN TABLE imps (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE clks (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE r (ts timestamptz, value bigint) SERVER rate
	OPTIONS (rows_per_second '200');
CREATE FOREIGN TABLE fs (k text, v int) SERVER file OPTIONS (path '$WORK/in');
CREATE SERVER kafka_test FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE kev (k int, v int) SERVER kafka_test OPTIONS (topic 'kev');
CREATE TABLE ref (k int, v int, ts timestamptz);
CREATE TABLE ref_tk (k int, ts timestamptz);
CREATE TABLE ref_imps (ad int, ts timestamptz);
CREATE TABLE ref_clks (ad int, ts timestamptz);
CREATE TABLE ref_fs (k text, v int);
CREATE TABLE names (k int PRIMARY KEY, name text);
INSERT INTO names SELECT i, 'n' || (i % 4) FROM generate_series(1, 40) i;
CREATE TABLE sunk (k int, v int);

CREATE MATERIALIZED VIEW per_key AS
	SELECT k, count(*) AS n, sum(v) AS s, avg(v) AS a, min(v) AS mn, max(v) AS mx,
		stddev_samp(v) AS sd, bool_or(v > 90) AS hi FROM ev GROUP BY k;
CREATE MATERIALIZED VIEW total AS SELECT count(*) AS n, sum(v) AS s FROM ev;
CREATE MATERIALIZED VIEW big AS SELECT k, v, ts FROM ev WHERE v > 80;
CREATE MATERIALIZED VIEW named AS
	SELECT n.name, count(*) AS c FROM ev e JOIN names n USING (k) GROUP BY n.name;
CREATE MATERIALIZED VIEW digits WITH (output_mode = 'complete') AS
	SELECT v % 10 AS d, count(*) AS n FROM ev GROUP BY 1;
CREATE MATERIALIZED VIEW sinking WITH (sink = 'sunk') AS SELECT k, v FROM ev WHERE v < 10;
CREATE MATERIALIZED VIEW manual WITH (trigger = 'manual') AS
	SELECT k, count(*) AS n FROM ev GROUP BY k;
CREATE MATERIALIZED VIEW stopped AS SELECT k, sum(v) AS s FROM ev GROUP BY k;
CREATE MATERIALIZED VIEW hops AS
	SELECT w, count(*) AS n FROM tk, stream.hop(ts, '10 minutes', '5 minutes') AS w GROUP BY w;
CREATE MATERIALIZED VIEW tumbles WITH (output_mode = 'append') AS
	SELECT k, stream.tumble(ts, '10 minutes') AS w, count(*) AS n FROM tk GROUP BY 1, 2;
CREATE MATERIALIZED VIEW j_left AS
	SELECT i.ad, i.ts AS its, c.ts AS cts FROM imps i LEFT JOIN clks c
	ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '2 minutes';
-- the matches come out at once; the impressions without one when the
-- watermark has passed their two minutes (checked at the end)
CREATE VIEW j_matched AS SELECT * FROM j_left WHERE cts IS NOT NULL;
CREATE MATERIALIZED VIEW rated AS SELECT count(*) AS n, sum(value) AS s, max(value) AS mx FROM r;
CREATE MATERIALIZED VIEW files AS SELECT k, count(*) AS n, sum(v) AS s FROM fs GROUP BY k;
CREATE MATERIALIZED VIEW kafka AS SELECT k, count(*) AS n, sum(v) AS s FROM kev GROUP BY k;
-- a stream joined with a continuous view as a table (a lookup, filled
-- once): 0.2 reads a continuous view as a stream only in views created
-- to (engine/chain.c), and this one goes on reading it as a table
CREATE FOREIGN TABLE lk (k int) SERVER stream;
CREATE MATERIALIZED VIEW lookup AS SELECT k, count(*) AS n FROM lk GROUP BY k;
INSERT INTO lk SELECT i FROM generate_series(1, 40) i;
CREATE MATERIALIZED VIEW enriched AS SELECT e.k, e.v, l.n FROM ev e JOIN lookup l USING (k);
SQL
VIEWS=16

# each view and its query over the reference tables (rated and kafka are
# checked on their own: their input is not in a table)
JOIN_REF="SELECT i.ad, i.ts AS its, c.ts AS cts FROM ref_imps i LEFT JOIN ref_clks c
	ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '2 minutes'"
declare -A REF=(
	[per_key]="SELECT k, count(*) AS n, sum(v) AS s, avg(v) AS a, min(v) AS mn, max(v) AS mx,
		stddev_samp(v) AS sd, bool_or(v > 90) AS hi FROM ref GROUP BY k"
	[total]="SELECT count(*) AS n, sum(v) AS s FROM ref"
	[big]="SELECT k, v, ts FROM ref WHERE v > 80"
	[named]="SELECT n.name, count(*) AS c FROM ref e JOIN names n USING (k) GROUP BY n.name"
	[digits]="SELECT v % 10 AS d, count(*) AS n FROM ref GROUP BY 1"
	[sunk]="SELECT k, v FROM ref WHERE v < 10"
	[manual]="SELECT k, count(*) AS n FROM ref GROUP BY k"
	[stopped]="SELECT k, sum(v) AS s FROM ref GROUP BY k"
	[hops]="SELECT w, count(*) AS n FROM ref_tk, stream.hop(ts, '10 minutes', '5 minutes') AS w GROUP BY w"
	[tumbles]="SELECT k, stream.tumble(ts, '10 minutes') AS w, count(*) AS n FROM ref_tk GROUP BY 1, 2
		HAVING stream.tumble(ts, '10 minutes') + interval '10 minutes'
			<= (SELECT max(ts) - interval '5 minutes' FROM ref_tk)"
	[j_matched]="SELECT * FROM ($JOIN_REF) j WHERE cts IS NOT NULL"
	[files]="SELECT k, count(*) AS n, sum(v) AS s FROM ref_fs GROUP BY k"
	[lookup]="SELECT i AS k, 1::bigint AS n FROM generate_series(1, 40) i"
	[enriched]="SELECT k, v, 1::bigint AS n FROM ref"
)
KAFKA_SENT=0
# kafka's input: message i is {"k": i % 7, "v": i}
KAFKA_REF="SELECT i % 7 AS k, count(*) AS n, sum(i) AS s FROM generate_series(1, \$1) i GROUP BY 1"

# file ROUND: the round's 500 lines into the file stream's directory (a
# whole file, put in place by a rename), and into its reference
put_file() {
	local n=$1 lo=$(($1 * 1000))
	python3 -c "import json
for i in range($lo, $lo + 500): print(json.dumps({'k': 'k%d' % (i % 5), 'v': i}))" >"$WORK/.f$n.part"
	chown "$PGS_USER" "$WORK/.f$n.part"
	mv "$WORK/.f$n.part" "$WORK/in/f$n.json"
	q "INSERT INTO ref_fs SELECT 'k' || (i % 5), i FROM generate_series($lo, $lo + 499) i" >/dev/null
}

# feed ROUND: rows into every stream and its reference, in one transaction
# for the INSERT-fed streams, a file, Kafka messages
feed() {
	local n=$1 lo=$(($1 * 1000))
	pgs_psql >/dev/null <<SQL
BEGIN;
WITH x AS (INSERT INTO ref SELECT i % 40 + 1, (i * 37) % 100, '2026-06-01'::timestamptz + i * interval '1 s'
	FROM generate_series($lo, $lo + 999) i RETURNING *) INSERT INTO ev SELECT * FROM x;
WITH x AS (INSERT INTO ref_tk SELECT i % 3, '2026-06-01'::timestamptz + i * interval '7 s'
	FROM generate_series($lo, $lo + 999) i RETURNING *) INSERT INTO tk SELECT * FROM x;
WITH x AS (INSERT INTO ref_imps SELECT i % 500, '2026-06-01'::timestamptz + i * interval '1 s'
	FROM generate_series($lo, $lo + 999) i RETURNING *) INSERT INTO imps SELECT * FROM x;
WITH x AS (INSERT INTO ref_clks SELECT i % 500, '2026-06-01'::timestamptz + i * interval '1 s'
		+ ((i * 7919) % 180) * interval '1 s'
	FROM generate_series($lo, $lo + 999) i WHERE i % 3 = 0 RETURNING *) INSERT INTO clks SELECT * FROM x;
COMMIT;
SQL
	put_file "$n"
	python3 -c "import json
for i in range($KAFKA_SENT + 1, $KAFKA_SENT + 2001): print(json.dumps({'k': i % 7, 'v': i}))" >"$WORK/k$n.json"
	kcat -P -l -b "$PGS_BROKERS" -t kev -p $((n % 2)) "$WORK/k$n.json"
	KAFKA_SENT=$((KAFKA_SENT + 2000))
}

# every view equals its query: the ones of REF exactly, kafka against the
# messages sent, rated as a gapless sequence from 0
check_exact() {
	local what=$1 v d bad=0
	q "REFRESH MATERIALIZED VIEW manual" >/dev/null
	for v in "${!REF[@]}"; do
		[ "$v" = stopped ] && [ "$what" = "on 0.1" ] && continue
		d=$(q "SELECT count(*) FROM ((TABLE $v EXCEPT ALL (${REF[$v]}))
			UNION ALL ((${REF[$v]}) EXCEPT ALL TABLE $v)) d")
		[ "$d" = 0 ] || { echo "MISMATCH ($what): $v differs from its query in $d rows" >&2; bad=1; }
	done
	d=$(q "SELECT count(*) FROM ((TABLE kafka EXCEPT ALL (${KAFKA_REF//\$1/$KAFKA_SENT}))
		UNION ALL ((${KAFKA_REF//\$1/$KAFKA_SENT}) EXCEPT ALL TABLE kafka)) d")
	[ "$d" = 0 ] || { echo "MISMATCH ($what): kafka differs from the $KAFKA_SENT messages in $d rows" >&2; bad=1; }
	d=$(q "SELECT n = mx + 1 AND s = mx * (mx + 1) / 2 FROM rated")
	[ "$d" = t ] || { echo "MISMATCH ($what): rated is not the sequence 0..n-1: $(q 'TABLE rated')" >&2; bad=1; }
	[ $bad = 0 ] || exit 1
	echo "$what: every view exact ($(q "SELECT count(*) FROM ref") rows, $KAFKA_SENT messages, $(q "SELECT n FROM rated") rate rows)"
}

# the INSERT-fed, file and Kafka views have read everything
caught_up() {
	pgs_wait_for "SELECT count(*) = $1 FROM stream.queries WHERE status = 'running'" 60
	pgs_wait_for "SELECT (SELECT bool_and(lag = 0) FROM stream.queries
		WHERE name::text NOT IN ('rated', 'manual', 'stopped', 'files', 'kafka'))
		AND (SELECT n FROM total) = (SELECT count(*) FROM ref)
		AND (SELECT sum(n) FROM files) IS NOT DISTINCT FROM (SELECT count(*) FROM ref_fs)
		AND (SELECT sum(n) FROM kafka) = $KAFKA_SENT" 120
	# the joins and windows see the rows of the last feed in one batch
	pgs_wait_for "SELECT (SELECT sum(n) FROM hops) = 2 * (SELECT count(*) FROM ref_tk)
		AND (SELECT count(*) FROM j_matched) = (SELECT count(*) FROM (${REF[j_matched]}) x)" 60
}

pgs_wait_for "SELECT count(*) = $VIEWS FROM stream.queries WHERE status = 'running'" 60
pgs_wait_for "SELECT count(*) = 40 FROM lookup" 60
q "SELECT stream.stop('stopped')" >/dev/null
for n in 1 2 3; do feed $n; done
caught_up $((VIEWS - 1))
check_exact "on 0.1"

pgs_log "installing this tree's library, restarting"
pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -m fast -w stop >/dev/null
pgs_build
pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -l "$PGS_DIR/log" -w start >/dev/null

# until the update: no worker runs, the manager says why, and an INSERT
# into a stream is refused with the remedy
pgs_wait_for "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'pg_stream launcher'" 30
for i in $(seq 1 100); do
	grep -q 'has version 0.1 of the extension, but the library is version' "$PGS_DIR/log" && break
	sleep 0.1
done
grep -q 'has version 0.1 of the extension, but the library is version' "$PGS_DIR/log" ||
	{ echo "the manager did not say why the views wait" >&2; exit 1; }
[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_stream worker'")" = 0 ] ||
	{ echo "a worker runs over the 0.1 catalog" >&2; exit 1; }
err=$(q "INSERT INTO ev VALUES (1, 1, now())" 2>&1 || true)
grep -q <<<"$err" 'ALTER EXTENSION pg_stream UPDATE' ||
	{ echo "INSERT before the update: $err" >&2; exit 1; }
# Kafka and files do not wait
put_file 4

pgs_log "ALTER EXTENSION pg_stream UPDATE"
pgs_psql -c "ALTER EXTENSION pg_stream UPDATE"
[ "$(q "SELECT extversion FROM pg_extension WHERE extname = 'pg_stream'")" = 0.2 ] ||
	{ echo "not at 0.2 after the update" >&2; exit 1; }
pgs_wait_for "SELECT count(*) = $((VIEWS - 1)) FROM stream.queries WHERE status = 'running'" 60
q "SELECT stream.start('stopped')" >/dev/null
for n in 5 6; do feed $n; done
caught_up $VIEWS
check_exact "after the update"

# what 0.2 added works on an updated database: a DISTINCT view
q "CREATE MATERIALIZED VIEW uniq AS SELECT DISTINCT k % 5 AS k5 FROM ev" >/dev/null
REF[uniq]="SELECT DISTINCT k % 5 AS k5 FROM ref"
VIEWS=$((VIEWS + 1))

pgs_log "kill -9 of the postmaster mid-stream"
feed 7
pid=$(head -1 "$PGS_DIR/data/postmaster.pid")
kill -9 "$pid"
pgs_restart_cluster
pgs_wait_up $VIEWS
feed 8
caught_up $VIEWS
check_exact "after the update and a crash"

# a last pair a day later moves the watermark past every bound: the
# impressions without a click come out, and j_left is the whole join
q "WITH x AS (INSERT INTO ref_imps VALUES (-1, '2026-06-03') RETURNING *) INSERT INTO imps SELECT * FROM x" >/dev/null
q "WITH x AS (INSERT INTO ref_clks VALUES (-1, '2026-06-03') RETURNING *) INSERT INTO clks SELECT * FROM x" >/dev/null
pgs_wait_for "SELECT count(*) = (SELECT count(*) FROM ($JOIN_REF) j) FROM j_left" 60
d=$(q "SELECT count(*) FROM ((TABLE j_left EXCEPT ALL ($JOIN_REF)) UNION ALL (($JOIN_REF) EXCEPT ALL TABLE j_left)) d")
[ "$d" = 0 ] || { echo "MISMATCH: j_left differs from its join in $d rows" >&2; exit 1; }
echo "j_left: the whole join, $(q "SELECT count(*) FROM j_left WHERE cts IS NULL") impressions without a click"

# the objects of the updated extension are a fresh 0.2's
describe() {
	pgs_psql -d "$1" -At <<'SQL'
SELECT pg_describe_object(d.classid, d.objid, 0) || ': ' || CASE d.classid
	WHEN 'pg_proc'::regclass THEN (SELECT CASE WHEN p.prokind = 'a' THEN
			(SELECT row(a.aggtransfn, a.aggfinalfn, a.aggcombinefn, a.aggserialfn, a.aggdeserialfn,
				format_type(a.aggtranstype, NULL), p.proparallel)::text FROM pg_aggregate a WHERE a.aggfnoid = p.oid)
			ELSE pg_get_functiondef(p.oid) END || ' acl ' || coalesce(p.proacl::text, '-')
		FROM pg_proc p WHERE p.oid = d.objid)
	WHEN 'pg_class'::regclass THEN (SELECT relkind::text || ' ' || coalesce(reloptions::text, '') || ' ' ||
			relrowsecurity || ' ' || coalesce(relacl::text, '-') || ' ' ||
			coalesce(pg_get_viewdef(c.oid), '') || ' ' ||
			coalesce((SELECT string_agg(a.attnum || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
				|| ' ' || a.attnotnull || ' ' || a.attstorage::text || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), ''),
				', ' ORDER BY a.attnum)
				FROM pg_attribute a LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
				WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || ' ' ||
			coalesce((SELECT string_agg(pg_get_indexdef(i.indexrelid), ', ' ORDER BY 1)
				FROM pg_index i WHERE i.indrelid = c.oid), '') || ' ' ||
			coalesce((SELECT string_agg(pg_get_constraintdef(k.oid), ', ' ORDER BY 1)
				FROM pg_constraint k WHERE k.conrelid = c.oid), '') || ' ' ||
			coalesce((SELECT string_agg(p.polname || ' ' || pg_get_expr(p.polqual, p.polrelid), ', ')
				FROM pg_policy p WHERE p.polrelid = c.oid), '')
		FROM pg_class c WHERE c.oid = d.objid)
	WHEN 'pg_foreign_data_wrapper'::regclass THEN (SELECT fdwhandler::regproc || ' ' || fdwvalidator::regproc
		|| ' ' || coalesce(fdwacl::text, '-') FROM pg_foreign_data_wrapper WHERE oid = d.objid)
	WHEN 'pg_foreign_server'::regclass THEN (SELECT coalesce(srvacl::text, '-')
		FROM pg_foreign_server WHERE oid = d.objid)
	WHEN 'pg_event_trigger'::regclass THEN (SELECT evtevent || ' ' || evtfoid::regproc || ' ' || evtenabled::text
		FROM pg_event_trigger WHERE oid = d.objid)
	ELSE '' END
FROM pg_depend d
WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'pg_stream')
UNION ALL
SELECT 'config ' || extconfig::regclass[]::text || ' ' || extcondition::text
FROM pg_extension WHERE extname = 'pg_stream'
UNION ALL
SELECT 'schema acl ' || coalesce(nspacl::text, '-') FROM pg_namespace WHERE nspname = 'stream'
ORDER BY 1
SQL
}
q "CREATE DATABASE fresh" >/dev/null
pgs_psql -d fresh -c "CREATE EXTENSION pg_stream" >/dev/null
describe postgres >"$WORK/updated.txt"
describe fresh >"$WORK/fresh.txt"
if ! diff -u "$WORK/fresh.txt" "$WORK/updated.txt" >"$WORK/objects.diff"; then
	echo "the updated extension's objects differ from a fresh install's:" >&2
	head -60 "$WORK/objects.diff" >&2
	exit 1
fi
echo "the updated extension's $(wc -l <"$WORK/fresh.txt") objects are those of a fresh install"
echo "upgrade: ok"
