#!/usr/bin/env bash
# The notify sink delivers every row: a batch holding 'hello' three times
# (and 'bye' once) gives a LISTENing psql session four notifications,
# each {"batch_id", "row", "data"}, the row numbers 1 to 4 (PostgreSQL
# folds identical payloads of a transaction, which used to leave one
# 'hello'). A row whose payload would reach NOTIFY's 8000-byte limit comes
# as {"batch_id", "row", "data": null, "data_bytes"} with a warning; one
# just under the limit comes whole.
source "$(dirname "$0")/../lib.sh"
work=$(mktemp -d /tmp/pg_stream_notify.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$work"' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;
CREATE FOREIGN TABLE words (w text) SERVER stream;
CREATE MATERIALIZED VIEW console WITH (sink = 'notify', notify_channel = 'out', trigger = 'manual') AS
	SELECT w FROM words;
SQL
# the payload of {"w": x} for batch 1 row 5 or 6 is 44 + length(x) bytes
# ('{"batch_id": 1, "row": 5, "data": ' is 34, '{"w": "' 7, '"}' 2, '}' 1):
# 7955 bytes of x make 7999, the most a payload may have; 7956 make 8000,
# one too many, and the data alone is 9 + 7956 = 7965 bytes
pgs_psql -v ON_ERROR_STOP=1 >"$work/console" 2>&1 <<'SQL'
LISTEN out;
INSERT INTO words VALUES ('hello'), ('hello'), ('bye'), ('hello'), (repeat('x', 7955)), (repeat('y', 7956));
REFRESH MATERIALIZED VIEW console;
SELECT 'refreshed';
SQL
cut -c1-120 "$work/console"
# one line per notification, its payload only
sed -n 's/^Asynchronous notification "out" with payload "\(.*\)" received from server process with PID [0-9]*\.$/\1/p' \
	"$work/console" >"$work/payloads"
[ "$(wc -l <"$work/payloads")" = 6 ]
for i in 1 2 4; do grep -qxF "{\"batch_id\": 1, \"row\": $i, \"data\": {\"w\": \"hello\"}}" "$work/payloads"; done
grep -qxF '{"batch_id": 1, "row": 3, "data": {"w": "bye"}}' "$work/payloads"
grep -qxF "{\"batch_id\": 1, \"row\": 5, \"data\": {\"w\": \"$(printf 'x%.0s' $(seq 7955))\"}}" "$work/payloads"
[ "$(awk 'NR == 5 { print length($0) }' "$work/payloads")" = 7999 ]
grep -qxF '{"batch_id": 1, "row": 6, "data": null, "data_bytes": 7965}' "$work/payloads"
grep -q 'WARNING:  continuous view public.console: 1 rows too long for a notification on channel "out" were sent without their data' "$work/console"
# every payload parses as JSON, and the rows counted by it equal the view's
pgs_psql -c "CREATE TABLE got (p jsonb)" -c "\\copy got FROM '$work/payloads' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')" >/dev/null
[ "$(q "SELECT count(*) FROM got")" = 6 ]
[ "$(q "SELECT count(*) FROM ((SELECT p->'data'->>'w' FROM got WHERE p->'data' <> 'null' EXCEPT ALL SELECT w FROM console WHERE length(w) < 7956)
	UNION ALL (SELECT w FROM console WHERE length(w) < 7956 EXCEPT ALL SELECT p->'data'->>'w' FROM got WHERE p->'data' <> 'null')) d")" = 0 ]
echo ok
