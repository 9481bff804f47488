#!/usr/bin/env bash
# The file source and the file sink, end to end:
# - JSON files moved into a directory (one of them 120,000 lines, split
#   over batches), with bad lines, read by a per-key aggregation and an
#   append view while the worker is killed (kill -9) twice and the
#   postmaster once: both views equal the same query run as a batch over
#   the same lines (loaded with COPY), exactly, and every bad line is in
#   stream.errors with its file and line;
# - a file being written under a hidden name is not read until renamed;
# - csv with header, quotes, a multi-line field and a custom null;
# - clean 'delete' and 'archive' remove a file only once every view
#   reading it has committed it;
# - INSERT into a file table writes one file per statement at commit (none
#   for a rolled-back one), and a view's file sink writes
#   <schema>.<view>-<batch>-<oid>-<created> files that another file stream reads back equal;
# - IMPORT FOREIGN SCHEMA infers the columns; a role without
#   pg_read_server_files cannot create a file stream.
source "$(dirname "$0")/../lib.sh"
data=$(mktemp -d /tmp/pg_stream_files.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$data"' EXIT
pgs_start_cluster
chown "$PGS_USER" "$data"
q() { pgs_psql -At -c "$1"; }
mkdir -p "$data/in" "$data/g" "$data/csv" "$data/del" "$data/arc" "$data/archived" "$data/out" "$data/imp"
chown -R "$PGS_USER" "$data"

# files: write under a hidden name, then move in (atomic)
put() { # put DIR NAME: stdin into DIR/NAME
	cat >"$1/.$2.part"
	chown "$PGS_USER" "$1/.$2.part"
	mv "$1/.$2.part" "$1/$2"
}
gen() { # gen SEED LINES BAD_EVERY: JSON lines {"k": ..., "v": ..., "s": ...}
	python3 - "$@" <<'PY'
import json, random, sys
seed, n, bad = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
r = random.Random(seed)
for i in range(n):
    if bad and i % bad == bad - 1:
        print("garbage %d {" % i)
    else:
        print(json.dumps({"k": "key%d" % r.randrange(50), "v": r.randrange(1000),
                          "s": "line \"%d\" \\ of %d" % (i, seed)}))
PY
}

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE events (k text, v int, s text,
	file text OPTIONS (meta 'filename'), line int OPTIONS (meta 'line'))
	SERVER file OPTIONS (path '$data/in', pattern '*.json');
CREATE MATERIALIZED VIEW per_key WITH (max_batch_rows = 10000) AS
	SELECT k, count(*) AS n, sum(v) AS total, max(s) AS maxs FROM events GROUP BY k;
CREATE MATERIALIZED VIEW raw WITH (max_batch_rows = 7000) AS
	SELECT file, line, k, v FROM events;
SQL

echo "files arrive; the worker is killed twice and the postmaster once meanwhile"
expected_bad=0
for i in $(seq 1 12); do
	gen $i 3000 500 | put "$data/in" "f$(printf %02d $i).json"
	expected_bad=$((expected_bad + 6))
done
gen 99 120000 10000 | put "$data/in" "zbig.json"
expected_bad=$((expected_bad + 12))
# a file still being written: hidden, so not read
gen 7 100 0 >"$data/in/.writing.json"
chown "$PGS_USER" "$data/in/.writing.json"
# a worker is killed only once the server is up again with its workers
# (rows_in can pass its mark before the restart after the last kill)
workers_up() {
	pgs_wait_for "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'pg_stream worker'" 60
}
pgs_wait_for "SELECT rows_in > 20000 FROM stream.queries WHERE name = 'per_key'::regclass" 60
workers_up
kill -9 "$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_stream worker' LIMIT 1")"
pgs_wait_for "SELECT rows_in > 60000 FROM stream.queries WHERE name = 'per_key'::regclass" 60
workers_up
for p in $(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_stream worker'"); do kill -9 "$p" 2>/dev/null || true; done
pgs_wait_for "SELECT rows_in > 90000 FROM stream.queries WHERE name = 'raw'::regclass" 90
kill -9 "$(head -1 "$PGS_DIR/data/postmaster.pid")"
pgs_restart_cluster
q "REFRESH MATERIALIZED VIEW per_key" >/dev/null
q "REFRESH MATERIALIZED VIEW raw" >/dev/null
# the hidden file, renamed, is read now
mv "$data/in/.writing.json" "$data/in/late.json"
q "REFRESH MATERIALIZED VIEW per_key" >/dev/null
q "REFRESH MATERIALIZED VIEW raw" >/dev/null

killed=$(grep -c 'pg_stream worker.*was terminated by signal 9' "$PGS_DIR/log" || true)
echo "workers killed: $killed"
[ "$killed" -ge 2 ]
echo "compare with the same query over the same lines"
pgs_psql <<SQL
CREATE TABLE lines (file text, line bigserial, body text);
SQL
for f in "$data"/in/*.json; do
	name=$(basename "$f")
	pgs_psql -c "CREATE TEMP TABLE t (body text);
		COPY t FROM '$f' WITH (FORMAT csv, QUOTE e'\x01', DELIMITER e'\x02');
		INSERT INTO lines (file, line, body) SELECT '$name', row_number() OVER (), body FROM t;" >/dev/null
done
diff_key=$(q "WITH ref AS (SELECT b->>'k' AS k, count(*) AS n, sum((b->>'v')::int) AS total, max(b->>'s') AS maxs
		FROM (SELECT body::jsonb AS b FROM lines WHERE body LIKE '{%') x GROUP BY 1)
	SELECT count(*) FROM ((SELECT * FROM ref EXCEPT ALL SELECT * FROM per_key)
		UNION ALL (SELECT * FROM per_key EXCEPT ALL SELECT * FROM ref)) d")
diff_raw=$(q "WITH ref AS (SELECT file, line::int, body::jsonb->>'k' AS k, (body::jsonb->>'v')::int AS v
		FROM lines WHERE body LIKE '{%')
	SELECT count(*) FROM ((SELECT * FROM ref EXCEPT ALL SELECT * FROM raw)
		UNION ALL (SELECT * FROM raw EXCEPT ALL SELECT * FROM ref)) d")
n=$(q "SELECT sum(n) FROM per_key")
bad=$(q "SELECT count(*) FROM stream.errors WHERE view = 'per_key'::regclass")
bad_ok=$(q "SELECT bool_and(payload LIKE 'garbage %' AND position->>'file' LIKE '%.json'
	AND payload = (SELECT body FROM lines l WHERE l.file = e.position->>'file' AND l.line = (e.position->>'line')::int))
	FROM stream.errors e WHERE view = 'per_key'::regclass")
echo "per_key: $n events, differences $diff_key; raw differences $diff_raw; bad lines $bad (expected $expected_bad, matching: $bad_ok)"
[ "$diff_key" = 0 ] && [ "$diff_raw" = 0 ] && [ "$n" = 156016 ] && [ "$bad" = "$expected_bad" ] && [ "$bad_ok" = t ]

echo "on_error 'stop' fails the query at the first bad line instead"
err=$(pgs_psql -c "CREATE FOREIGN TABLE strict_s (k text, v int) SERVER file
		OPTIONS (path '$data/in', pattern 'f01.json', on_error 'stop')" \
	-c "CREATE MATERIALIZED VIEW strict_v WITH (trigger = 'manual') AS SELECT count(*) AS n FROM strict_s" \
	-c "REFRESH MATERIALIZED VIEW strict_v" 2>&1 || true)
echo "$err"
grep -q <<<"$err" 'ERROR:  invalid input syntax for type json'
[ "$(q "SELECT n FROM strict_v")" = 0 ]

echo "csv: header, quotes, a field over two lines, null 'NA'"
printf 'id,name,score\n1,"Smith, J.",10\n2,"say ""hi""",NA\n3,"two\nlines",7\n' | put "$data/csv" "a.csv"
pgs_psql <<SQL
CREATE FOREIGN TABLE people (id int, name text, score int) SERVER file
	OPTIONS (path '$data/csv', format 'csv', header 'true', null 'NA');
CREATE MATERIALIZED VIEW people_v AS SELECT * FROM people;
REFRESH MATERIALIZED VIEW people_v;
SQL
got=$(q "SELECT string_agg(id || '|' || name || '|' || coalesce(score::text, 'null'), ';' ORDER BY id) FROM people_v")
echo "csv rows: $got"
[ "$got" = $'1|Smith, J.|10;2|say "hi"|null;3|two\nlines|7' ]

echo "clean: delete and archive only once every reader has committed"
for i in 1 2 3; do gen $i 100 0 | put "$data/del" "d$i.json"; gen $i 100 0 | put "$data/arc" "a$i.json"; done
pgs_psql <<SQL
CREATE FOREIGN TABLE del_s (k text, v int) SERVER file OPTIONS (path '$data/del', clean 'delete');
CREATE FOREIGN TABLE arc_s (k text, v int) SERVER file
	OPTIONS (path '$data/arc', clean 'archive', archive_path '$data/archived', max_files_per_batch '1');
CREATE MATERIALIZED VIEW del_a WITH (trigger = 'manual') AS SELECT count(*) AS n FROM del_s;
CREATE MATERIALIZED VIEW del_b WITH (trigger = 'manual') AS SELECT count(*) AS n FROM del_s;
CREATE MATERIALIZED VIEW arc_v WITH (trigger = 'manual') AS SELECT count(*) AS n FROM arc_s;
REFRESH MATERIALIZED VIEW del_a;
SQL
# del_b has not read them: nothing may go
left=$(ls "$data/del" | wc -l)
q "REFRESH MATERIALIZED VIEW del_b" >/dev/null
q "REFRESH MATERIALIZED VIEW del_a" >/dev/null	# a later batch cleans
left2=$(ls "$data/del" | wc -l)
q "REFRESH MATERIALIZED VIEW arc_v" >/dev/null
q "REFRESH MATERIALIZED VIEW arc_v" >/dev/null
archived=$(ls "$data/archived" | wc -l)
counts=$(q "SELECT (SELECT n FROM del_a) || ',' || (SELECT n FROM del_b) || ',' || (SELECT n FROM arc_v)")
echo "delete: $left files after one reader, $left2 after both; archive: $archived moved; counts $counts"
[ "$left" = 3 ] && [ "$left2" = 0 ] && [ "$archived" = 3 ] && [ "$counts" = "300,300,300" ]

echo "INSERT writes files at commit; a view's file sink is read back equal"
pgs_psql <<SQL
CREATE FOREIGN TABLE out_f (k text, n bigint, total bigint) SERVER file OPTIONS (path '$data/out', pattern '*.json');
BEGIN; INSERT INTO out_f VALUES ('rolled back', 1, 1); ROLLBACK;
INSERT INTO out_f VALUES ('by hand', 1, 2);
CREATE MATERIALIZED VIEW out_back WITH (trigger = 'manual') AS SELECT k, n, total FROM out_f;
CREATE FOREIGN TABLE g_s (k text, v int) SERVER file OPTIONS (path '$data/g');
CREATE MATERIALIZED VIEW to_files WITH (sink = 'out_f', max_batch_rows = 1000) AS
	SELECT k, 1::bigint AS n, v::bigint AS total FROM g_s;
SQL
gen 5 2500 0 | put "$data/g" "g.json"
q "REFRESH MATERIALIZED VIEW to_files" >/dev/null
q "REFRESH MATERIALIZED VIEW out_back" >/dev/null
files=$(ls "$data/out")
echo "$files" | tr '\n' ' '; echo
nfiles=$(ls "$data/out" | grep -c '^public\.to_files-[0-9]*-[0-9]*-[0-9]*\.json$')
hidden=$(ls -A "$data/out" | grep -c '^\.' || true)
diff_sink=$(q "SELECT count(*) FROM ((SELECT k, n, total FROM to_files EXCEPT ALL SELECT k, n, total FROM out_back WHERE k <> 'by hand')
	UNION ALL (SELECT k, n, total FROM out_back WHERE k <> 'by hand' EXCEPT ALL SELECT k, n, total FROM to_files)) d")
rows=$(q "SELECT count(*) FROM to_files")
echo "sink: $rows rows in $nfiles batch files, differences $diff_sink; hidden files left $hidden"
[ "$rows" = 2500 ] && [ "$nfiles" = 3 ] && [ "$diff_sink" = 0 ] && [ "$hidden" = 0 ] &&
	[ "$(ls "$data/out" | grep -c '^part-')" = 1 ] && [ "$(q "SELECT count(*) FROM out_back WHERE k = 'rolled back'")" = 0 ]

echo "IMPORT FOREIGN SCHEMA, and who may read server files"
gen 1 20 0 | put "$data/imp" "x.json"
pgs_psql <<SQL
CREATE SCHEMA imp;
IMPORT FOREIGN SCHEMA "$data/imp" LIMIT TO (sample) FROM SERVER file INTO imp;
CREATE ROLE plain LOGIN;
GRANT USAGE ON FOREIGN SERVER file TO plain;
GRANT CREATE ON SCHEMA public TO plain;
SQL
cols=$(q "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
	FROM pg_attribute WHERE attrelid = 'imp.sample'::regclass AND attnum > 0")
echo "imported: $cols"
[ "$cols" = "k text, v bigint, s text" ]
err=$(pgs_psql -U plain -d postgres -c "CREATE FOREIGN TABLE mine (x text) SERVER file OPTIONS (path '$data/in')" 2>&1 || true)
echo "$err"
grep -q <<<"$err" 'role "plain" may not set option "path"'
echo ok
