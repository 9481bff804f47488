#!/usr/bin/env bash
# Kafka messages are decoded where librdkafka holds them (not copied,
# not NUL-terminated: formats/decode.c, pgs_decode_bytes); only a message
# that leaves the flat JSON path is copied. A record cut short before the
# next message's "}" (in the same fetch) is bad, not completed by it; a
# NUL byte, an empty message and a tombstone (no payload) are bad records
# with the errors of the copied path; escaped, spaced, long and nested
# records and the last message of the topic decode. The view's rows are
# checked against the expected rows both ways (EXCEPT ALL), and
# stream.errors message by message.
source "$(dirname "$0")/../lib.sh"
WORK=$(mktemp -d /tmp/pgs_kafka_decode.XXXXXX)
chmod 755 "$WORK"
trap 'pgs_stop_broker; pgs_stop_cluster; rm -rf "$WORK"' EXIT
pgs_start_broker
pgs_start_cluster
pgs_broker create dec 1
q() { pgs_psql -At -c "$1"; }
long=$(printf 'x%.0s' $(seq 1 70))
# offsets 0..7, in one fetch; 3 and 4: a record cut short, then its "}"
{
	printf '%s\n' '{"k": "a", "v": 1}' "{\"k\": \"$long\", \"v\": 2}" '{"k": "e\n", "v": 3}' \
		'{"k": "cut", "v": 4' '}'
	printf '{"k": "n\0ul", "v": 5}\n'
	printf '%s\n' '{"k":"b","v":6,"other":[1,2]}' '{ "v" : 7 , "k" : "spaced" }'
} >"$WORK/in.txt"
kcat -P -l -b "$PGS_BROKERS" -t dec -p 0 -X linger.ms=100 "$WORK/in.txt"
# 8: a tombstone (a key, no payload); 9: an empty message; 10: the last
printf 'k1:\n' | kcat -P -b "$PGS_BROKERS" -t dec -p 0 -K : -Z
printf 'k2:\n' | kcat -P -b "$PGS_BROKERS" -t dec -p 0 -K :
printf '%s' '{"k": "last", "v": 8}' | kcat -P -b "$PGS_BROKERS" -t dec -p 0
n=$(kcat -C -b "$PGS_BROKERS" -t dec -o beginning -e -q -f 'x\n' | wc -l)
[ "$n" = 11 ] || { echo "the topic holds $n messages, not 11"; exit 1; }

pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER k FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE dec (k text, v int) SERVER k OPTIONS (topic 'dec');
CREATE MATERIALIZED VIEW dec_rows WITH (trigger = 'manual') AS SELECT k, v FROM dec;
REFRESH MATERIALIZED VIEW dec_rows;
CREATE TABLE want (k text, v int);
INSERT INTO want VALUES ('a', 1), ('$long', 2), (E'e\n', 3), ('b', 6), ('spaced', 7), ('last', 8);
SQL
q "SELECT k, v FROM dec_rows ORDER BY v"
d=$(q "SELECT count(*) FROM ((SELECT k, v FROM dec_rows EXCEPT ALL SELECT * FROM want)
	UNION ALL (SELECT * FROM want EXCEPT ALL SELECT k, v FROM dec_rows)) x")
[ "$d" = 0 ] || { echo "the view's rows differ from the expected ones in $d rows"; exit 1; }
echo "the 6 good messages decoded"
got=$(q "SELECT string_agg((position->>'offset') || ': ' || error, E'\n' ORDER BY (position->>'offset')::int) FROM stream.errors")
echo "$got"
want="3: invalid input syntax for type json
4: invalid input syntax for type json
5: the record contains a NUL byte
8: invalid input syntax for type json
9: invalid input syntax for type json"
[ "$got" = "$want" ] || { echo "stream.errors differs; expected:"; echo "$want"; exit 1; }
[ "$(q "SELECT rows_bad FROM stream.queries")" = 5 ] || { echo "rows_bad"; exit 1; }
echo "the cut record, the NUL byte, the empty message and the tombstone are bad records"
