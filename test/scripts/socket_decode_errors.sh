#!/usr/bin/env bash
# A value that does not convert names its column (and the JSON key or the
# CSV field) in its dead letter, for json (the one-pass path and the
# parser's), csv and text, from a socket and from a file (the decoder is
# shared), and in the error of on_error 'stop'; an error that is not a
# value's (JSON syntax) names none. Expectations written by hand.
source "$(dirname "$0")/../lib.sh"
work=$(mktemp -d /tmp/pg_stream_sockdec.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; pgs_stop_cluster; rm -rf "$work"' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }

cat >"$work/json.in" <<'EOF'
{"n": 1, "s": "a"}
{"n": "two", "s": "b"}
{"s": "c", "n": "tw\u006f"}
{"n": 99999999999}
{"n": 5, "s": "d",
{"n": 6, "s": "e"}
EOF
printf '1,a\nx,b\n3,"c\n4,d\n' >"$work/csv.in"
printf '5\nfive\n7\n' >"$work/text.in"
cp "$work/json.in" "$work/stop.in"
chmod 755 "$work"
mkdir "$work/dir"
printf '{"n": 1, "s": "f"}\n{"n": "zwei", "s": "g"}\n' >"$work/dir/a.json"
chown -R "$PGS_USER" "$work/dir"
declare -A port
for s in json csv text stop; do
	pgs_start_peer "$work/$s.status" "file:$work/$s.in"
	pids+=("$PGS_PEER_PID")
	port[$s]=$PGS_PEER_PORT
done

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER p_json FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '${port[json]}');
CREATE SERVER p_csv FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '${port[csv]}');
CREATE SERVER p_text FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '${port[text]}');
CREATE SERVER p_stop FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '${port[stop]}');
CREATE FOREIGN TABLE s_json (n int, s text) SERVER p_json OPTIONS (format 'json');
CREATE FOREIGN TABLE s_csv (n int, s text) SERVER p_csv OPTIONS (format 'csv');
CREATE FOREIGN TABLE s_text (n int) SERVER p_text;
CREATE FOREIGN TABLE s_stop (n int, s text) SERVER p_stop OPTIONS (format 'json', on_error 'stop');
CREATE FOREIGN TABLE s_file (n int, s text) SERVER file OPTIONS (path '$work/dir', format 'json');
CREATE MATERIALIZED VIEW v_json AS SELECT n, s FROM s_json;
CREATE MATERIALIZED VIEW v_csv AS SELECT n, s FROM s_csv;
CREATE MATERIALIZED VIEW v_text AS SELECT n FROM s_text;
CREATE MATERIALIZED VIEW v_stop AS SELECT n, s FROM s_stop;
CREATE MATERIALIZED VIEW v_file AS SELECT n, s FROM s_file;
SQL
errors() { q "SELECT string_agg((position->>'line') || ': ' || error, E'\n' ORDER BY id) FROM stream.errors WHERE stream = '$1'::regclass"; }
check() { # STREAM EXPECTED
	local got
	got=$(errors "$1")
	echo "$1:"; echo "$got"
	[ "$got" = "$2" ] || { echo "expected:"; echo "$2"; exit 1; }
}
pgs_wait_for "SELECT (SELECT count(*) FROM v_json) = 2 AND (SELECT count(*) FROM stream.errors WHERE stream = 's_json'::regclass) = 4" 30
check s_json '2: column "n" (JSON key "n"): invalid input syntax for type integer: "two"
3: column "n" (JSON key "n"): invalid input syntax for type integer: "two"
4: column "n" (JSON key "n"): value "99999999999" is out of range for type integer
5: invalid input syntax for type json'
pgs_wait_for "SELECT (SELECT count(*) FROM v_csv) = 2 AND (SELECT count(*) FROM stream.errors WHERE stream = 's_csv'::regclass) = 2" 30
check s_csv '2: column "n" (CSV field 1): invalid input syntax for type integer: "x"
3: unterminated quoted CSV field'
pgs_wait_for "SELECT (SELECT count(*) FROM v_text) = 2 AND (SELECT count(*) FROM stream.errors WHERE stream = 's_text'::regclass) = 1" 30
check s_text '2: column "n": invalid input syntax for type integer: "five"'
pgs_wait_for "SELECT (SELECT count(*) FROM v_file) = 1 AND (SELECT count(*) FROM stream.errors WHERE stream = 's_file'::regclass) = 1" 30
got=$(q "SELECT error FROM stream.errors WHERE stream = 's_file'::regclass")
echo "s_file: $got"
[ "$got" = 'column "n" (JSON key "n"): invalid input syntax for type integer: "zwei"' ]
# on_error 'stop': the batch fails with the same words
pgs_wait_for "SELECT last_error IS NOT NULL FROM stream.queries WHERE name = 'v_stop'::regclass" 30
got=$(q "SELECT last_error FROM stream.queries WHERE name = 'v_stop'::regclass")
echo "v_stop: $got"
grep -qF <<<"$got" 'column "n" (JSON key "n"): invalid input syntax for type integer: "two"'
echo ok
