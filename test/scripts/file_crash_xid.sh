#!/usr/bin/env bash
# INSERT into a file table, then a crash with the transaction open:
# - a session INSERTs a row and keeps its transaction (xid X) open; its
#   temporary file is named after X; the backend and the postmaster are
#   killed (kill -9) and the server restarted (crash recovery);
# - xids are consumed one by one until one is >= X: had X never reached
#   WAL, recovery would hand X out again, it would commit, and the next
#   write to the directory would take the orphan file for a committed one
#   and put it in place (rows that never committed, delivered);
# - the next INSERT (its first write runs recover_dir) removes the orphan,
#   with a log line, and the directory holds exactly the rows committed.
# At the default wal_level (replica).
source "$(dirname "$0")/../lib.sh"
data=$(mktemp -d /tmp/pg_stream_fx.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$data"' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
mkdir -p "$data/out"
chown -R "$PGS_USER" "$data"
echo "wal_level: $(q "SHOW wal_level")"
pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE f (t text, n int) SERVER file OPTIONS (path '$data/out');
INSERT INTO f VALUES ('before', 1);
SQL

# the open transaction: its file exists, its xid noted
coproc PSQL { pgs_psql -At 2>&1; }
echo "BEGIN; INSERT INTO f VALUES ('phantom', 2); SELECT txid_current(), pg_backend_pid();" >&"${PSQL[1]}"
IFS='|' read -r -t 30 x backend <&"${PSQL[0]}"
echo "open transaction: xid $x in backend $backend"
[ "$(ls -A "$data/out" | grep -c "^\.pg_stream-[0-9]*-$x-part-$x-1\.json\.tmp\$")" = 1 ]

# the backend too: killed alone, the postmaster's death makes it abort
# its transaction (and remove its file) as it exits
postmaster=$(head -1 "$PGS_DIR/data/postmaster.pid")
kill -9 "$backend" "$postmaster"
pgs_restart_cluster
exec {PSQL[1]}>&-	# its backend is gone with the crash

# consume xids until X is passed (or handed out again)
i=0
while :; do
	got=$(q "SELECT txid_current()")
	[ "$got" -ge "$x" ] && break
	i=$((i + 1))
	[ $i -lt 1000 ] || { echo "xid $x not reached" >&2; exit 1; }
done
echo "after the restart, xid $got (the open transaction had $x)"

q "INSERT INTO f VALUES ('after', 3)"
ls -A "$data/out"
grep "of transaction $x" "$PGS_DIR/log" || true
grep -q "removed file \"$data/out/\.pg_stream-.*-$x-part-$x-1\.json\.tmp\" of transaction $x, which did not commit" "$PGS_DIR/log"
! grep -q "put file .* of committed transaction $x," "$PGS_DIR/log"
[ "$(ls -A "$data/out" | grep -c '^\.')" = 0 ]
got=$(cat "$data"/out/* | sort)
echo "rows in the directory: $got"
[ "$got" = $'{"t": "after", "n": 3}\n{"t": "before", "n": 1}' ]
echo ok
