#!/usr/bin/env bash
# The socket word count lab (README "Tutorial: word count over a socket"):
# lines sent by a TCP server on loopback into continuous views:
# - update and complete views equal the same query run as a batch over
#   the lines sent; append is refused without a watermark, with a hint;
# - a notify sink shows each changed row to a LISTENing psql session;
# - when the server goes away the views wait, say so in stream.queries,
#   and go on when it is back.
# The server (test/socket/line_server.py) is `nc -lk` that sends each
# line to every client, since each view has its own connection.
source "$(dirname "$0")/../lib.sh"
work=$(mktemp -d /tmp/pg_stream_socket.XXXXXX)
srv=""
stop_server() { if [ -n "$srv" ]; then kill "$srv" 2>/dev/null || true; wait "$srv" 2>/dev/null || true; fi; srv=""; }
trap 'stop_server; pgs_stop_cluster; rm -rf "$work"' EXIT
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
port=$(pgs_free_port 9999)
touch "$work/typed" "$work/all"
start_server() {
	python3 "$PGS_ROOT/test/socket/line_server.py" "$port" "$work/typed" "$work/clients" &
	srv=$!
	until (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.1; done
}
clients_are() { # wait until N clients are connected
	local i=0
	until [ "$(cat "$work/clients" 2>/dev/null)" = "$1" ]; do
		i=$((i + 1)); [ $i -gt 300 ] && { echo "clients: $(cat "$work/clients")"; return 1; }
		sleep 0.1
	done
}
type_lines() { printf '%s\n' "$@" | tee -a "$work/all" >>"$work/typed"; }
start_server

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER lab FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '$port');
CREATE FOREIGN TABLE lines (line text) SERVER lab;
CREATE MATERIALIZED VIEW word_counts AS
	SELECT word, count(*) AS n FROM lines, regexp_split_to_table(line, '\s+') AS word GROUP BY word;
CREATE MATERIALIZED VIEW word_counts_all WITH (output_mode = 'complete') AS
	SELECT word, count(*) AS n FROM lines, regexp_split_to_table(line, '\s+') AS word GROUP BY word;
CREATE MATERIALIZED VIEW word_console WITH (sink = 'notify', notify_channel = 'words') AS
	SELECT word, count(*) AS n FROM lines, regexp_split_to_table(line, '\s+') AS word GROUP BY word;
CREATE FUNCTION wait_for(cond text) RETURNS boolean LANGUAGE plpgsql AS \$\$
DECLARE ok boolean; deadline timestamptz := clock_timestamp() + interval '60 seconds';
BEGIN
	LOOP
		EXECUTE 'SELECT (' || cond || ')' INTO ok;
		IF ok OR clock_timestamp() > deadline THEN RETURN ok; END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
END \$\$;
SQL

echo "append without a watermark is refused, with a hint"
err=$(pgs_psql -c "CREATE MATERIALIZED VIEW wc_append WITH (output_mode = 'append') AS
	SELECT word, count(*) AS n FROM lines, regexp_split_to_table(line, '\s+') AS word GROUP BY word" 2>&1 || true)
echo "$err"
grep -q <<<"$err" 'output mode "append" of an aggregation needs a watermark'
grep -q <<<"$err" "HINT:  Declare event time and a watermark on the stream"

clients_are 3
# a psql session that listens, as a user would in a second terminal
pgs_psql -c "LISTEN words" -c "SELECT wait_for('(SELECT sum(n) FROM word_console) = 6')" -c "SELECT 'listened'" >"$work/console" 2>&1 &
listener=$!
pgs_wait_for "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT wait_for(%' AND state = 'active')" 30
type_lines "apache spark" "apache hadoop" "spark  streaming"
n_lines=$(wc -l <"$work/all")

check() {
	pgs_wait_for "SELECT bool_and(rows_in = $n_lines) FROM stream.queries" 60
	pgs_psql -c "TRUNCATE sent" -c "\\copy sent FROM '$work/all' WITH (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')" >/dev/null
	for v in word_counts word_counts_all word_console; do
		d=$(q "WITH ref AS (SELECT word, count(*) AS n FROM sent, regexp_split_to_table(line, '\s+') AS word GROUP BY word)
			SELECT count(*) FROM ((SELECT * FROM ref EXCEPT ALL SELECT word, n FROM $v)
				UNION ALL (SELECT word, n FROM $v EXCEPT ALL SELECT * FROM ref)) d")
		echo "$v: $(q "SELECT count(*) FROM $v") words, $d differences"
		[ "$d" = 0 ]
	done
}
q "CREATE TABLE sent (line text)" >/dev/null
check
wait "$listener"
echo "the console saw:"
grep 'Asynchronous notification "words"' "$work/console" | sed 's/ received from.*//'
[ "$(grep -c 'Asynchronous notification "words" with payload "{"batch_id": [0-9]*, "row": [0-9]*, "data": {"n": 2, "word": "apache"}}"' "$work/console")" = 1 ]
[ "$(grep -c 'Asynchronous notification "words"' "$work/console")" -ge 4 ]

echo "the server goes away: the views wait and say so"
stop_server
pgs_wait_for "SELECT bool_and(last_error LIKE 'waiting for the source: socket stream \"lines\": could not connect to 127.0.0.1:$port%') FROM stream.queries" 60
q "SELECT name, status, last_error FROM stream.queries ORDER BY name"
echo "it is back: they go on"
start_server
clients_are 3
type_lines "spark is back" "apache kafka"
n_lines=$(wc -l <"$work/all")
check
q "SELECT name, status, rows_in, last_error FROM stream.queries ORDER BY name"
[ "$(q "SELECT count(*) FROM stream.queries WHERE status = 'running' AND last_error IS NULL")" = 3 ]
echo ok
