#!/usr/bin/env bash
# A NUL byte in a line from a socket peer, in each format (text, json,
# csv): the line is a bad record whose dead letter in stream.errors holds
# its exact bytes (shown as bytea's hex output, '\x...', since text cannot
# hold a NUL), the lines around it are rows, and the server lives. One csv
# line has a NUL followed by 3 MB (it used to make the dead letter read past
# the copied line and crash the server), read with max_line_length raised
# to 8 MB so that the whole line is kept.
source "$(dirname "$0")/../lib.sh"
work=$(mktemp -d /tmp/pg_stream_socknul.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; pgs_stop_cluster; rm -rf "$work"' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }

# the lines, and the hex of the bad one as the dead letter must show it
python3 - "$work" <<'PY'
import sys
w = sys.argv[1]
lines = {
    "text": [b"alpha", b"be\x00ta", b"gamma"],
    "json": [b'{"k": 1, "s": "a"}', b'{"k": 2, "s": "b\x00c"}', b'{"k": 3, "s": "d"}'],
    "csv": [b"1,a", b"2,b\x00" + b"y" * (3 * 1024 * 1024), b"3,c"],
}
for fmt, ls in lines.items():
    with open("%s/%s.in" % (w, fmt), "wb") as f:
        f.write(b"\n".join(ls) + b"\n")
    with open("%s/%s.hex" % (w, fmt), "w") as f:
        f.write("\\x" + ls[1].hex())
PY
declare -A port
for fmt in text json csv; do
	pgs_start_peer "$work/$fmt.status" "file:$work/$fmt.in"
	pids+=("$PGS_PEER_PID")
	port[$fmt]=$PGS_PEER_PORT
done

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER p_text FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '${port[text]}');
CREATE SERVER p_json FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '${port[json]}');
CREATE SERVER p_csv FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '${port[csv]}');
CREATE FOREIGN TABLE s_text (line text) SERVER p_text;
CREATE FOREIGN TABLE s_json (k int, s text) SERVER p_json OPTIONS (format 'json');
CREATE FOREIGN TABLE s_csv (k int, s text) SERVER p_csv OPTIONS (format 'csv', max_line_length '8388608');
CREATE MATERIALIZED VIEW v_text AS SELECT line FROM s_text;
CREATE MATERIALIZED VIEW v_json AS SELECT k, s FROM s_json;
CREATE MATERIALIZED VIEW v_csv AS SELECT k, s FROM s_csv;
SQL

for fmt in text json csv; do
	pgs_wait_for "SELECT (SELECT count(*) FROM v_$fmt) = 2 AND
		(SELECT count(*) FROM stream.errors WHERE stream = 's_$fmt'::regclass) = 1" 30
done
q "SELECT line FROM v_text ORDER BY line" | tr '\n' ' '; echo
[ "$(q "SELECT string_agg(line, ',' ORDER BY line) FROM v_text")" = "alpha,gamma" ]
[ "$(q "SELECT string_agg(k || s, ',' ORDER BY k) FROM v_json")" = "1a,3d" ]
[ "$(q "SELECT string_agg(k || s, ',' ORDER BY k) FROM v_csv")" = "1a,3c" ]
for fmt in text json csv; do
	want=$(md5sum <"$work/$fmt.hex" | cut -d' ' -f1)
	got=$(q "SELECT md5(payload) || ' ' || octet_length(payload) || ' ' || error || ' ' || position
		FROM stream.errors WHERE stream = 's_$fmt'::regclass")
	echo "$fmt dead letter: $got (want md5 $want, $(wc -c <"$work/$fmt.hex") bytes)"
	[ "${got%% *}" = "$want" ]
	grep -q <<<"$got" 'the record contains a NUL byte'
done
# the decoded text of the short ones, as a reader sees it
q "SELECT payload FROM stream.errors WHERE stream IN ('s_text'::regclass, 's_json'::regclass) ORDER BY id"
! grep -q 'terminated by signal' "$PGS_DIR/log"
[ "$(q "SELECT count(*) FROM stream.queries WHERE status = 'running'")" = 3 ]
echo ok
