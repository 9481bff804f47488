#!/usr/bin/env bash
# The file source reads each byte once, whatever happens to the files:
# - a file appended to after it was read, when the batch that sees the
#   append stops before it (max_files_per_batch; max_batch_rows reached at
#   a file's end): the next batch reads only the appended lines;
# - inode numbers reused (ext4 gives a freed inode to the next file): a
#   file deleted and created again under the same name with the same inode
#   number is a new file, read from its start, whether bigger or of the
#   same size, and so is a file half read (with the warning for a file
#   replaced);
# - clean 'archive' never replaces a file in the archive (data-2.json);
#   clean 'delete' keeps a file that grew after the batch listed it (gdb
#   stops the batch there) and reads the new bytes;
# - the directory deleted and created again on the same inode number (as
#   a fresh volume mounted at the same path), the files copied back:
#   nothing is read twice;
# - an idle worker takes a changed pattern at once, not at the next
#   rescan a minute later;
# - INSERT: a failed write names its temporary file; an abort does not
#   remove a file under the temporary name that this backend did not
#   create.
# Every check runs; the script fails at the end if one failed.
source "$(dirname "$0")/../lib.sh"
command -v gdb >/dev/null || { echo "file_identity.sh needs gdb (apt-get install gdb)" >&2; exit 1; }
set +e
# on ext4 (inode reuse; /tmp may be tmpfs)
data=$(mktemp -d /var/tmp/pg_stream_fi.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$data"' EXIT
set -e
pgs_start_cluster
failed=0
check() { # check WHAT GOT EXPECTED
	if [ "$2" = "$3" ]; then
		echo "ok: $1: $2"
	else
		echo "FAILED: $1: got '$2', expected '$3'"
		failed=1
	fi
}
q() { pgs_psql -At -c "$1"; }
mkdir -p "$data"/{m1,m2,r,arc,arcd,toc,dr,idle,out}
chown -R "$PGS_USER" "$data"
fstype=$(df -T "$data" | awk 'NR == 2 { print $2 }')
echo "directory $data is on $fstype"
[ "$fstype" != tmpfs ]
mvin() { # mvin FILE DIR/NAME: move a file in, owned by the server
	chown "$PGS_USER" "$1"
	mv "$1" "$2"
}
rows() { # rows TAG FROM TO: JSON lines {"t": TAG, "n": n}
	seq "$2" "$3" | sed "s/.*/{\"t\": \"$1\", \"n\": &}/"
}
old_mtime() { touch -d "@$(($(date +%s) - 60))" "$1"; }	# older than a write now
summary() { # summary VIEW: per tag rows/distinct/min-max/line = n
	q "SELECT string_agg(t || ':' || c, ' ' ORDER BY t) FROM (SELECT t, count(*) || '/' || count(DISTINCT n)
		|| '/' || min(n) || '-' || max(n) || '/' || bool_and(line = n) AS c FROM $1 GROUP BY t) x"
}
batches() { # batches VIEW: rows read by each batch, in order
	q "SELECT string_agg(rows_in::text, ',' ORDER BY batch_id) FROM stream.batch_log WHERE view = '$1'::regclass"
}
q "CREATE EXTENSION pg_stream"

echo "== appended, and the batch stops before it: max_files_per_batch 1"
rows a 1 10 >"$data/.a"; mvin "$data/.a" "$data/m1/a.json"
pgs_psql <<SQL
CREATE FOREIGN TABLE m1_s (t text, n int, line int OPTIONS (meta 'line'))
	SERVER file OPTIONS (path '$data/m1', max_files_per_batch '1');
CREATE MATERIALIZED VIEW m1_v WITH (trigger = 'manual') AS SELECT t, n, line FROM m1_s;
REFRESH MATERIALIZED VIEW m1_v;
SQL
check "batch 1 reads a.json" "$(batches m1_v)" "10"
# x.json older than the append: the next batch takes x.json only
rows x 1 3 >"$data/.x"; old_mtime "$data/.x"; mvin "$data/.x" "$data/m1/x.json"
rows a 11 15 >>"$data/m1/a.json"
q "REFRESH MATERIALIZED VIEW m1_v"
# batch 2: x.json's 3 lines; batch 3: a.json's 5 appended lines, no more
check "batches 2 and 3 read x.json, then a.json's appended lines" "$(batches m1_v)" "10,3,5"
check "each row once" "$(summary m1_v)" "a:15/15/1-15/true x:3/3/1-3/true"

echo "== appended, and the batch stops before it: max_batch_rows reached at a file's end"
rows b 1 4 >"$data/.b"; mvin "$data/.b" "$data/m2/b.json"
pgs_psql <<SQL
CREATE FOREIGN TABLE m2_s (t text, n int, line int OPTIONS (meta 'line'))
	SERVER file OPTIONS (path '$data/m2');
CREATE MATERIALIZED VIEW m2_v WITH (trigger = 'manual', max_batch_rows = 4) AS SELECT t, n, line FROM m2_s;
REFRESH MATERIALIZED VIEW m2_v;
SQL
check "batch 1 reads b.json" "$(batches m2_v)" "4"
rows y 1 4 >"$data/.y"; old_mtime "$data/.y"; mvin "$data/.y" "$data/m2/y.json"
rows b 5 6 >>"$data/m2/b.json"
q "REFRESH MATERIALIZED VIEW m2_v"
# batch 2: y.json's 4 lines, the batch is full; batch 3: b.json's lines 5-6
check "batches 2 and 3 read y.json, then b.json's appended lines" "$(batches m2_v)" "4,4,2"
check "each row once" "$(summary m2_v)" "b:6/6/1-6/true y:4/4/1-4/true"

echo "== inode numbers reused"
reuse() { # reuse DIR/NAME NEW: delete DIR/NAME and put NEW there with the same inode number
	local target=$1 new=$2 ino i=0
	ino=$(stat -c %i "$target")
	rm "$target"
	# ext4 gives the inode just freed to the next file created in the
	# directory; another process may take it first, so a few tries
	until cp "$new" "$(dirname "$target")/.new" && mvin "$(dirname "$target")/.new" "$target" &&
		[ "$(stat -c %i "$target")" = "$ino" ]; do
		i=$((i + 1))
		[ $i -lt 20 ] || { echo "inode $ino of $target was not reused" >&2; return 1; }
		rm "$target"
	done
	echo "$target: inode $ino again"
}
rows a1 1 3 >"$data/.a"; mvin "$data/.a" "$data/r/a.json"		# 60 bytes
rows b1 1 3 >"$data/.b"; mvin "$data/.b" "$data/r/b.json"		# 60 bytes
pgs_psql <<SQL
CREATE FOREIGN TABLE r_s (t text, n int, line int OPTIONS (meta 'line'))
	SERVER file OPTIONS (path '$data/r');
CREATE MATERIALIZED VIEW r_v WITH (trigger = 'manual') AS SELECT t, n, line FROM r_s;
REFRESH MATERIALIZED VIEW r_v;
SQL
rows a2 1 5 >"$data/new_a"	# 100 bytes: bigger
reuse "$data/r/a.json" "$data/new_a"
q "REFRESH MATERIALIZED VIEW r_v"
rows b2 1 3 >"$data/new_b"	# 60 bytes: the same size
reuse "$data/r/b.json" "$data/new_b"
q "REFRESH MATERIALIZED VIEW r_v"
check "bigger and same-size files on reused inodes, read from their start" "$(summary r_v)" \
	"a1:3/3/1-3/true a2:5/5/1-5/true b1:3/3/1-3/true b2:3/3/1-3/true"

# half read (the worker's first batch: 1,000 lines), then replaced by a
# file of the same size on the same inode number
rows c1 1 3000 >"$data/.c"; mvin "$data/.c" "$data/r/c.json"
pgs_psql <<SQL
CREATE FOREIGN TABLE rc_s (t text, n int, line int OPTIONS (meta 'line'))
	SERVER file OPTIONS (path '$data/r', pattern 'c.json');
CREATE MATERIALIZED VIEW rc_v WITH (trigger = '1 hour', max_batch_rows = 1000) AS
	SELECT t, n, line FROM rc_s;
SQL
pgs_wait_for "SELECT count(*) = 1000 FROM rc_v" 30
rows c2 1 3000 >"$data/new_c"
reuse "$data/r/c.json" "$data/new_c"
out=$(q "REFRESH MATERIALIZED VIEW rc_v" 2>&1)
echo "$out"
check "a half-read file replaced on its inode number: the warning" \
	"$(echo "$out" | grep -c 'WARNING:  file stream "rc_s": file "c.json" was replaced before it was read to its end')" 1
check "and the new file from its start" "$(summary rc_v)" "c1:1000/1000/1-1000/true c2:3000/3000/1-3000/true"

echo "== clean 'archive' does not replace a file archived under the same name"
rows d1 1 2 >"$data/.d"; mvin "$data/.d" "$data/arc/data.json"
pgs_psql <<SQL
CREATE FOREIGN TABLE arc_s (t text, n int) SERVER file
	OPTIONS (path '$data/arc', clean 'archive', archive_path '$data/arcd');
CREATE MATERIALIZED VIEW arc_v WITH (trigger = 'manual') AS SELECT t, n FROM arc_s;
REFRESH MATERIALIZED VIEW arc_v;
REFRESH MATERIALIZED VIEW arc_v;
SQL
check "archived once" "$(ls "$data/arcd")" "data.json"
# the producer reuses the name
rows d2 1 3 >"$data/.d"; mvin "$data/.d" "$data/arc/data.json"
q "REFRESH MATERIALIZED VIEW arc_v"
q "REFRESH MATERIALIZED VIEW arc_v"
check "archived twice, the second as data-2.json" "$(ls "$data/arcd" | tr '\n' ' ')" "data-2.json data.json "
check "the first archived file kept" "$(cat "$data/arcd/data.json" 2>/dev/null)" "$(rows d1 1 2)"
check "the second" "$(cat "$data/arcd/data-2.json" 2>/dev/null)" "$(rows d2 1 3)"
check "rows" "$(q "SELECT string_agg(t || n, ',' ORDER BY t, n) FROM arc_v")" "d11,d12,d21,d22,d23"

echo "== clean 'delete' of a file that grew after the batch listed it"
rows e 1 3 >"$data/.e"; mvin "$data/.e" "$data/toc/e.json"
pgs_psql <<SQL
CREATE FOREIGN TABLE toc_s (t text, n int) SERVER file OPTIONS (path '$data/toc', clean 'delete');
CREATE MATERIALIZED VIEW toc_v WITH (trigger = 'manual') AS SELECT t, n FROM toc_s;
REFRESH MATERIALIZED VIEW toc_v;
SQL
# the next batch lists e.json (3 lines, all read), then, before it cleans,
# gdb (stopped at clean_files) appends 2 lines
coproc PSQL { pgs_psql -At 2>&1; }
echo "SELECT pg_backend_pid();" >&"${PSQL[1]}"
read -r -t 30 pid <&"${PSQL[0]}"
rows e 4 5 >"$data/more_e"
timeout 120 gdb -q -p "$pid" -batch -ex 'set pagination off' -ex 'break clean_files' \
	-ex "shell touch $data/gdb_ready" -ex continue \
	-ex "shell cat $data/more_e >>$data/toc/e.json" -ex detach >"$data/gdb.log" 2>&1 &
gdb_pid=$!
i=0
until [ -e "$data/gdb_ready" ]; do
	i=$((i + 1)); [ $i -le 600 ] || { echo "gdb did not start" >&2; cat "$data/gdb.log"; exit 1; }
	sleep 0.1
done
echo "REFRESH MATERIALIZED VIEW toc_v; SELECT 'refreshed';" >&"${PSQL[1]}"
line=
until [ "$line" = refreshed ]; do read -r -t 120 line <&"${PSQL[0]}" || break; echo "$line"; done
wait "$gdb_pid" || { cat "$data/gdb.log"; exit 1; }
grep -q 'Breakpoint 1, ' "$data/gdb.log" || { cat "$data/gdb.log"; exit 1; }
check "the grown file is kept" "$(ls "$data/toc")" "e.json"
check "and its new lines read" "$(q "SELECT string_agg(t || n, ',' ORDER BY n) FROM toc_v")" "e1,e2,e3,e4,e5"
q "REFRESH MATERIALIZED VIEW toc_v"
check "deleted once read to its end" "$(ls "$data/toc" | wc -l)" 0
echo "\q" >&"${PSQL[1]}"

echo "== the directory deleted and created again on its inode number, the files copied back"
# as a restore on another machine into a fresh volume mounted at the same
# path (its root is inode 2 again, the device number may repeat): the
# directory's device and inode are the same, its birth time is not, and
# every file has another inode; matched by name, size and bytes, nothing
# is read twice
rows g 1 3 >"$data/.g"; mvin "$data/.g" "$data/dr/g.json"
rows h 1 4 >"$data/.h"; mvin "$data/.h" "$data/dr/h.json"
pgs_psql <<SQL
CREATE FOREIGN TABLE dr_s (t text, n int, line int OPTIONS (meta 'line'))
	SERVER file OPTIONS (path '$data/dr');
CREATE MATERIALIZED VIEW dr_v WITH (trigger = 'manual') AS SELECT t, n, line FROM dr_s;
REFRESH MATERIALIZED VIEW dr_v;
SQL
cp -a "$data/dr" "$data/dr_saved"
dir_ino=$(stat -c %i "$data/dr")
i=0
until rm -rf "$data/dr" && mkdir "$data/dr" && [ "$(stat -c %i "$data/dr")" = "$dir_ino" ]; do
	i=$((i + 1))
	[ $i -lt 20 ] || { echo "inode $dir_ino of the directory was not reused" >&2; exit 1; }
done
cp -a "$data/dr_saved/." "$data/dr/"
chown -R "$PGS_USER" "$data/dr"
echo "$data/dr: inode $dir_ino again, files on inodes $(stat -c %i "$data"/dr/* | tr '\n' ' ')"
q "REFRESH MATERIALIZED VIEW dr_v"
check "nothing read twice" "$(summary dr_v)" "g:3/3/1-3/true h:4/4/1-4/true"

echo "== an idle worker sees a changed pattern at once"
rows j 1 2 >"$data/.j"; mvin "$data/.j" "$data/idle/j.json"
rows k 1 3 >"$data/.k"; mvin "$data/.k" "$data/idle/k.txt"
pgs_psql <<SQL
CREATE FOREIGN TABLE idle_s (t text, n int) SERVER file OPTIONS (path '$data/idle', pattern '*.json');
CREATE MATERIALIZED VIEW idle_v AS SELECT t, n FROM idle_s;
SQL
pgs_wait_for "SELECT count(*) = 2 FROM idle_v" 30
# idle long enough past the directory's last change for the worker to
# remember that nothing came (FILE_RACY_MS, then a poll every 250 ms)
pgs_wait_for "SELECT clock_timestamp() > (pg_stat_file('$data/idle')).modification + interval '5 s'" 30
q "ALTER FOREIGN TABLE idle_s OPTIONS (SET pattern '*')"
# a full look is made at least every minute anyway: well before that
pgs_wait_for "SELECT count(*) = 5 FROM idle_v" 10 || true
check "k.txt read after the pattern changed, within 10 s" "$(q "SELECT string_agg(t || n, ',' ORDER BY t, n) FROM idle_v")" \
	"j1,j2,k1,k2,k3"

echo "== INSERT: a failed write names its temporary file"
q "CREATE FOREIGN TABLE out_f (t text, n int) SERVER file OPTIONS (path '$data/out')"
# rows of 2 kB (in the memory the name would be in, were it the row's),
# and a file size limit for this backend only: a write past 17 MB fails
# (EFBIG). Not less: the backend writes WAL too (the INSERT flushes its
# xid), anywhere in a 16 MB segment, and a failed WAL write is a PANIC
out=$(pgs_psql -At 2>&1 <<SQL
SELECT pg_backend_pid() AS pid \gset
\setenv PGS_PID :pid
\! runuser -u $PGS_USER -- prlimit --pid \$PGS_PID --fsize=17000000
INSERT INTO out_f SELECT repeat('x', 2000), n FROM generate_series(1, 10000) n;
SQL
) || true
echo "$out" | cut -c 1-300
check "the error names the file" \
	"$(echo "$out" | grep -c "ERROR:  could not write file \"$data/out/\.pg_stream-[0-9]*-[0-9]*-part-[0-9]*-1\.json\.tmp\": File too large")" 1
check "nothing left" "$(ls -A "$data/out" | wc -l)" 0

echo "== INSERT: an abort removes only a temporary file this backend created"
out=$(pgs_psql -At 2>&1 <<SQL
BEGIN;
SELECT '$data/out/.pg_stream-' || system_identifier || '-' || txid_current() || '-part-' || txid_current() || '-1.json.tmp' AS tmp
	FROM pg_control_system() \gset
COPY (SELECT 'not yours') TO :'tmp';
INSERT INTO out_f VALUES ('mine', 1);
SQL
) || true
echo "$out"
check "the INSERT fails" "$(echo "$out" | grep -c 'ERROR:  file stream "out_f": could not create file ".*": File exists')" 1
check "the file that was there stays" "$(cat "$data"/out/.pg_stream-*.tmp 2>/dev/null)" "not yours"

[ $failed = 0 ] && echo ok
exit $failed
