#!/usr/bin/env bash
# The file source and sink against hostile or careless input:
# - a NUL byte followed by 5 MB in a text, json and csv file: the server
#   lives, the good lines are read, and the dead letter holds the record's
#   exact bytes (shown as bytea hex, \x00 then 5,000,000 x 42);
# - files known by inode: a file replaced while half read is read from its
#   start (with a warning), a new file renamed over a name already read is
#   read, bytes appended after a file was read are read, a truncated file is
#   read again; a copied directory and a position of the older format
#   (names only) read nothing twice, but a file replaced in the copy by
#   another, bigger one of its name is read from its start;
# - the file sink: views "v" in two schemas and a view named "../x" write
#   distinct files inside the directory; a re-created view does not replace
#   the files of the old one; INSERT does not replace a file that has its
#   name; a batch killed by kill -9 while writing leaves no temporary file
#   once the view runs again, and its output is written once;
# - a view over a file stream is refused at CREATE for an owner without
#   pg_read_server_files, nor given to one with ALTER ... OWNER TO;
# - a plain read of a file stream that user code runs inside a batch (a
#   function the view's query calls, or a domain's CHECK that a decoder
#   runs while the batch reads) is not the batch's read: a bad record it
#   meets is a warning, not a dead letter of the view.
source "$(dirname "$0")/../lib.sh"
data=$(mktemp -d /tmp/pg_stream_fh.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$data"' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
mkdir -p "$data"/{nul_t,nul_j,nul_c,half,id,id_copy,src,out,src2,out2,peek,feed,feed2}
chown -R "$PGS_USER" "$data"
mvin() { # mvin FILE DIR/NAME: move a file in, owned by the server
	chown "$PGS_USER" "$1"
	mv "$1" "$2"
}
rows() { # rows TAG FROM TO: JSON lines {"t": TAG, "n": n}
	seq "$2" "$3" | sed "s/.*/{\"t\": \"$1\", \"n\": &}/"
}

echo "a NUL byte followed by 5 MB, in text, json and csv"
{ printf 'ok1\n\0'; head -c 5000000 /dev/zero | tr '\0' B; printf '\nok2\n'; } >"$data/.a"
mvin "$data/.a" "$data/nul_t/a.txt"
{ printf '{"v": "ok1"}\n\0'; head -c 5000000 /dev/zero | tr '\0' B; printf '\n{"v": "ok2"}\n'; } >"$data/.a"
mvin "$data/.a" "$data/nul_j/a.json"
{ printf 'ok1\n\0'; head -c 5000000 /dev/zero | tr '\0' B; printf '\nok2\n'; } >"$data/.a"
mvin "$data/.a" "$data/nul_c/a.csv"
pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE nul_t (v text) SERVER file OPTIONS (path '$data/nul_t', format 'text');
CREATE FOREIGN TABLE nul_j (v text) SERVER file OPTIONS (path '$data/nul_j', format 'json');
CREATE FOREIGN TABLE nul_c (v text) SERVER file OPTIONS (path '$data/nul_c', format 'csv');
CREATE MATERIALIZED VIEW nul_tv WITH (trigger = 'manual') AS SELECT v FROM nul_t;
CREATE MATERIALIZED VIEW nul_jv WITH (trigger = 'manual') AS SELECT v FROM nul_j;
CREATE MATERIALIZED VIEW nul_cv WITH (trigger = 'manual') AS SELECT v FROM nul_c;
REFRESH MATERIALIZED VIEW nul_tv;
REFRESH MATERIALIZED VIEW nul_jv;
REFRESH MATERIALIZED VIEW nul_cv;
SQL
for v in nul_tv nul_jv nul_cv; do
	got=$(q "SELECT string_agg(v, ',' ORDER BY v) FROM $v")
	bad=$(q "SELECT count(*) || ' ' || bool_and(payload = E'\\\\x00' || repeat('42', 5000000))
		|| ' ' || bool_and(position->>'line' = '2') FROM stream.errors WHERE view = '$v'::regclass")
	echo "$v: rows $got; dead letters, exact, at line 2: $bad"
	[ "$got" = "ok1,ok2" ] && [ "$bad" = "1 true true" ]
done

echo "a file replaced while half read is read from its start"
rows old 1 3000 >"$data/.a"; mvin "$data/.a" "$data/half/a.json"
pgs_psql <<SQL
CREATE FOREIGN TABLE half_s (t text, n int, line int OPTIONS (meta 'line'))
	SERVER file OPTIONS (path '$data/half');
CREATE MATERIALIZED VIEW half_v WITH (trigger = '1 hour', max_batch_rows = 1000) AS
	SELECT t, n, line FROM half_s;
SQL
# the worker's first batch reads 1,000 lines, the next is an hour away
pgs_wait_for "SELECT count(*) = 1000 FROM half_v" 30
rows new 1 2000 >"$data/.a"; mvin "$data/.a" "$data/half/a.json"
out=$(q "REFRESH MATERIALIZED VIEW half_v" 2>&1)
echo "$out"
got=$(q "SELECT string_agg(t || ' ' || c, ', ' ORDER BY t) FROM (SELECT t, count(*) || ' ' || count(DISTINCT n)
	|| ' ' || min(n) || '-' || max(n) || ' ' || bool_and(line = n) AS c FROM half_v GROUP BY t) x")
echo "half read then replaced: $got"
[ "$got" = "new 2000 2000 1-2000 true, old 1000 1000 1-1000 true" ]
grep -q <<<"$out" 'WARNING:  file stream "half_s": file "a.json" was replaced before it was read to its end'

echo "renamed over a name read, appended to, truncated"
rows b1 1 10 >"$data/.b"; mvin "$data/.b" "$data/id/b.json"
rows c 1 10 >"$data/.c"; mvin "$data/.c" "$data/id/c.json"
rows d1 1 10 >"$data/.d"; mvin "$data/.d" "$data/id/d.json"
pgs_psql <<SQL
CREATE FOREIGN TABLE id_s (t text, n int, file text OPTIONS (meta 'filename'), line int OPTIONS (meta 'line'))
	SERVER file OPTIONS (path '$data/id');
CREATE MATERIALIZED VIEW id_v WITH (trigger = 'manual') AS SELECT t, n, file, line FROM id_s;
REFRESH MATERIALIZED VIEW id_v;
SQL
rows b2 1 5 >"$data/.b"; mvin "$data/.b" "$data/id/b.json"	# a new file, same name
rows c 11 15 >>"$data/id/c.json"								# appended
rows d2 1 3 >"$data/id/d.json"									# truncated, rewritten
out=$(q "REFRESH MATERIALIZED VIEW id_v" 2>&1)
echo "$out"
grep -q <<<"$out" 'WARNING:  file stream "id_s": file "d.json" was truncated after it was read'
summary() {
	q "SELECT string_agg(t || ':' || c, ' ' ORDER BY t) FROM (SELECT t, count(*) || '/' || count(DISTINCT n)
		|| '/' || min(n) || '-' || max(n) || '/' || bool_and(line = n) AS c FROM id_v GROUP BY t) x"
}
got=$(summary)
echo "after: $got"
[ "$got" = "b1:10/10/1-10/true b2:5/5/1-5/true c:15/15/1-15/true d1:10/10/1-10/true d2:3/3/1-3/true" ]
# the same files copied elsewhere (other inodes and birth times), but
# for b.json, replaced in the copy by another, bigger file: the copies are
# read nothing twice, the other b.json from its start (not from where the
# old one ended: its bytes there are not those read); then an older
# position that knew names only reads nothing again
cp -a "$data/id/." "$data/id_copy/"
rows b3 1 8 >"$data/.b"; touch -r "$data/id/b.json" "$data/.b"; mvin "$data/.b" "$data/id_copy/b.json"
q "ALTER FOREIGN TABLE id_s OPTIONS (SET path '$data/id_copy')"
q "REFRESH MATERIALIZED VIEW id_v" >/dev/null
got2=$(summary)
echo "copied, b.json another file: $got2"
[ "$got2" = "${got/ c:/ b3:8/8/1-8/true c:}" ]
q "UPDATE stream.positions SET position = '{\"done\": [\"b.json\", \"c.json\", \"d.json\"]}' WHERE view = 'id_v'::regclass"
q "REFRESH MATERIALIZED VIEW id_v" >/dev/null
got3=$(summary)
echo "then an older position: $got3"
[ "$got3" = "$got2" ]

echo "the file sink: names unique per view and batch, inside the directory"
rows s 1 3 >"$data/.s"; mvin "$data/.s" "$data/src/s.json"
pgs_psql <<SQL
CREATE FOREIGN TABLE src_s (t text, n int) SERVER file OPTIONS (path '$data/src');
CREATE FOREIGN TABLE out_f (t text, n int) SERVER file OPTIONS (path '$data/out');
CREATE SCHEMA s1;
CREATE SCHEMA s2;
CREATE MATERIALIZED VIEW s1.v WITH (sink = 'out_f', trigger = 'manual') AS SELECT t || '1' AS t, n FROM src_s;
CREATE MATERIALIZED VIEW s2.v WITH (sink = 'out_f', trigger = 'manual') AS SELECT t || '2' AS t, n FROM src_s;
CREATE MATERIALIZED VIEW "../x" WITH (sink = 'out_f', trigger = 'manual') AS SELECT t || 'x' AS t, n FROM src_s;
REFRESH MATERIALIZED VIEW s1.v;
REFRESH MATERIALIZED VIEW s2.v;
REFRESH MATERIALIZED VIEW "../x";
SQL
ls "$data/out"
old_s1=$(ls "$data/out" | grep '^s1\.v-1-[0-9]*-[0-9]*\.json$')
[ "$(ls "$data/out" | grep -c '^s2\.v-1-[0-9]*-[0-9]*\.json$')" = 1 ]
[ "$(ls "$data/out" | grep -c '^public\.%2E%2E%2Fx-1-[0-9]*-[0-9]*\.json$')" = 1 ]
[ "$(ls "$data" | grep -c 'json')" = 0 ]	# nothing outside the directory
sum_before=$(md5sum <"$data/out/$old_s1")
# re-created: batch ids start again at 1, the old file stays as it was
pgs_psql <<SQL
DROP MATERIALIZED VIEW s1.v;
CREATE MATERIALIZED VIEW s1.v WITH (sink = 'out_f', trigger = 'manual') AS SELECT t || 'r' AS t, n FROM src_s;
REFRESH MATERIALIZED VIEW s1.v;
SQL
[ "$(ls "$data/out" | grep -c '^s1\.v-1-[0-9]*-[0-9]*\.json$')" = 2 ]
[ "$(md5sum <"$data/out/$old_s1")" = "$sum_before" ]
# INSERT: a file already there under the name it would take stays
pgs_psql <<SQL
BEGIN;
DO \$\$ BEGIN EXECUTE format('COPY (SELECT %L) TO %L', '{"t": "squatter", "n": 0}',
	'$data/out/part-' || txid_current() || '-1.json'); END \$\$;
INSERT INTO out_f VALUES ('mine', 1);
COMMIT;
SQL
squat=$(grep -l squatter "$data"/out/part-*.json)
mine=$(grep -l mine "$data"/out/part-*.json)
echo "squatter in $(basename "$squat"), the INSERT in $(basename "$mine")"
[ "$(cat "$squat")" = '{"t": "squatter", "n": 0}' ] && [ "$mine" = "${squat%.json}-2.json" ]
got=$(q "SELECT count(*) FROM (SELECT pg_read_file('$data/out/' || f) AS c FROM pg_ls_dir('$data/out') f) x")
[ "$got" = 6 ]

echo "a sink batch killed (kill -9) while writing"
rows a 1 1 >"$data/.k"; echo '{"t": "sleepy", "n": 2}' >>"$data/.k"
pgs_psql <<SQL
CREATE FOREIGN TABLE src2_s (t text, n int) SERVER file OPTIONS (path '$data/src2');
CREATE FOREIGN TABLE out2_f (t text, n int) SERVER file OPTIONS (path '$data/out2');
CREATE TABLE slow_flag (on_ bool);
INSERT INTO slow_flag VALUES (true);
CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
	IF NEW.t = 'sleepy' AND (SELECT on_ FROM public.slow_flag) THEN
		PERFORM pg_sleep(60);
	END IF;
	RETURN NEW;
END \$\$;
CREATE TRIGGER slow BEFORE INSERT ON out2_f FOR EACH ROW EXECUTE FUNCTION slow_row();
CREATE MATERIALIZED VIEW to_out2 WITH (sink = 'out2_f') AS SELECT t, n FROM src2_s;
SQL
mvin "$data/.k" "$data/src2/k.json"
pgs_wait_for "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'pg_stream worker' AND wait_event = 'PgSleep'" 30
ls -A "$data/out2"
[ "$(ls -A "$data/out2" | grep -c '^\.pg_stream-.*\.tmp$')" = 1 ]
q "UPDATE slow_flag SET on_ = false"
kill -9 "$(q "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pg_stream worker' AND wait_event = 'PgSleep'")"
pgs_wait_for "SELECT count(*) = 1 FROM pg_ls_dir('$data/out2') f WHERE f LIKE 'public.to_out2-%'" 60
ls -A "$data/out2"
[ "$(ls -A "$data/out2" | grep -c '^\.')" = 0 ]
[ "$(cat "$data"/out2/public.to_out2-*)" = $'{"t": "a", "n": 1}\n{"t": "sleepy", "n": 2}' ]
grep -q 'removed file ".*\.pg_stream-.*\.tmp" of transaction [0-9]*, which did not commit' "$PGS_DIR/log"

echo "who may own a view over a file stream"
pgs_psql <<SQL
CREATE ROLE plain LOGIN;
GRANT USAGE ON FOREIGN SERVER file TO plain;
GRANT SELECT ON src_s TO plain;
GRANT CREATE ON SCHEMA public TO plain;
CREATE MATERIALIZED VIEW owned WITH (trigger = 'manual') AS SELECT n FROM src_s;
SQL
err=$(pgs_psql -U plain -d postgres -c "CREATE MATERIALIZED VIEW mine AS SELECT n FROM src_s" 2>&1 || true)
echo "$err"
grep -q <<<"$err" 'ERROR:  role "plain" may not read the files of file stream "src_s"'
[ "$(q "SELECT count(*) FROM pg_class WHERE relname = 'mine'")" = 0 ]
# nor may it become the owner of one: the ALTER is refused
err=$(pgs_psql -c "ALTER MATERIALIZED VIEW owned OWNER TO plain" 2>&1 || true)
echo "$err"
grep -q <<<"$err" 'ERROR:  role "plain" may not read the files of file stream "src_s"'
[ "$(q "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'owned'")" = postgres ]
echo "a plain read inside a batch is not the batch's read"
printf '{"n": 1}\nnot json\n' >"$data/.p"
mvin "$data/.p" "$data/peek/p.json"
pgs_psql <<SQL
CREATE FOREIGN TABLE peeked (n int) SERVER file OPTIONS (path '$data/peek');
CREATE FOREIGN TABLE fed (n int) SERVER file OPTIONS (path '$data/feed');
CREATE FUNCTION peek() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM public.peeked';
CREATE MATERIALIZED VIEW peeking WITH (trigger = 'manual') AS SELECT n, peek() AS seen FROM fed;
SQL
printf '{"n": 7}\n' >"$data/.f"
mvin "$data/.f" "$data/feed/f.json"
out=$(pgs_psql -c "REFRESH MATERIALIZED VIEW peeking" 2>&1)
echo "$out"
grep -q <<<"$out" 'WARNING:  file stream "peeked": skipped the record'
[ "$(q "SELECT n || ',' || seen FROM peeking")" = "7,1" ]
[ "$(q "SELECT count(*) FROM stream.errors WHERE stream = 'peeked'::regclass")" = 0 ]
# the same from inside the batch's read: a domain's CHECK, run by the decoder
pgs_psql <<SQL
CREATE DOMAIN checked AS int CHECK (VALUE > 0 AND public.peek() >= 0);
CREATE FOREIGN TABLE fed2 (n checked) SERVER file OPTIONS (path '$data/feed2');
CREATE MATERIALIZED VIEW feeding WITH (trigger = 'manual') AS SELECT n FROM fed2;
SQL
printf '{"n": 8}\n' >"$data/.f2"
mvin "$data/.f2" "$data/feed2/f.json"
out=$(pgs_psql -c "REFRESH MATERIALIZED VIEW feeding" 2>&1)
echo "$out"
grep -q <<<"$out" 'WARNING:  file stream "peeked": skipped the record'
[ "$(q "SELECT n FROM feeding")" = 8 ]
[ "$(q "SELECT count(*) FROM stream.errors WHERE stream = 'peeked'::regclass")" = 0 ]
echo ok
