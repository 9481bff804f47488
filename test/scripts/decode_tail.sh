#!/usr/bin/env bash
# A Kafka payload is decoded where librdkafka holds it: not copied, not
# NUL-terminated (formats/decode.c, pgs_decode_bytes). kafka_decode.sh
# cannot see a read past a payload's end (librdkafka puts other bytes
# after each one); here a harness (test/decode_tail) puts each record so
# that it ends exactly at a page boundary, before a PROT_NONE page, on
# read-only pages: a read past its end, or a write into it, crashes the
# backend. Every prefix of each record (cut strings, escapes, a lone
# backslash, numbers, true/false/null, timestamps, multi-byte UTF-8, an
# invalid byte, a NUL) is decoded in place and from a NUL-terminated copy
# (pgs_decode_record, the path before): same row or same error, and the
# whole records give the rows worked out by hand. Then int4 values on the
# in-place path against the cast.
source "$(dirname "$0")/../lib.sh"
WORK=$(mktemp -d /tmp/pgs_decode_tail.XXXXXX)
chmod 755 "$WORK"
trap 'pgs_stop_cluster; rm -rf "$WORK"' EXIT
cp "$PGS_ROOT"/test/decode_tail/{Makefile,decode_tail.c} "$WORK/"
make -C "$WORK" -s PG_CONFIG="$PG_CONFIG" SRCDIR="$PGS_ROOT" >/dev/null
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE FUNCTION decode_tail(regclass, text, bytea, bool) RETURNS text
	AS '$WORK/decode_tail.so', 'pgs_test_decode_tail' LANGUAGE C STRICT;
CREATE FUNCTION try_decode(r regclass, f text, p bytea, in_place bool) RETURNS text
LANGUAGE plpgsql AS \$\$
BEGIN
	RETURN decode_tail(r, f, p, in_place);
EXCEPTION WHEN others THEN
	RETURN 'ERROR: ' || SQLERRM;
END \$\$;
CREATE TABLE j (k text, v int4, n int8, b bool, t timestamptz, x jsonb, f float8, c varchar(3));
CREATE TABLE c (a text, b text, v int4);
CREATE TABLE tx (line text);
CREATE TABLE recs (id serial, rel regclass, fmt text, rec bytea, want text);
INSERT INTO recs (rel, fmt, rec, want) VALUES
 ('j', 'json', convert_to('{"k": "a", "v": 1}', 'UTF8'), 'k=[a] v=[1] n=NULL b=NULL t=NULL x=NULL f=NULL c=NULL'),
 ('j', 'json', convert_to('{"k":"e\\n\\"q\\\\","v":-0,"n":-12345678901}', 'UTF8'),
	'k=[e' || E'\n' || '"q\\] v=[0] n=[-12345678901] b=NULL t=NULL x=NULL f=NULL c=NULL'),
 ('j', 'json', convert_to('{"k":"ключ","c":"ёж","v":123456789}', 'UTF8'),
	'k=[ключ] v=[123456789] n=NULL b=NULL t=NULL x=NULL f=NULL c=[ёж]'),
 ('j', 'json', convert_to('{"b":false,"x":null,"t":"2026-01-01T00:03:17.25+02:00","f":1e3,"k":true}', 'UTF8'),
	'k=[true] v=NULL n=NULL b=[f] t=[2025-12-31 22:03:17.25+00] x=NULL f=[1000] c=NULL'),
 ('j', 'json', convert_to('{"b":true,"x":{"a":[1,null]},"k":null,"v":-2147483648}', 'UTF8'),
	'k=NULL v=[-2147483648] n=NULL b=[t] t=NULL x=[{"a": [1, null]}] f=NULL c=NULL'),
 ('j', 'json', convert_to('{"k":"\\u00e9\\ud83d\\ude00","v":2147483647}', 'UTF8'),
	'k=[é😀] v=[2147483647] n=NULL b=NULL t=NULL x=NULL f=NULL c=NULL'),
 ('j', 'json', convert_to(E'  {\t"v" : 7 ,\n"k" : "s" , "other": 1.5}  \r\n', 'UTF8'),
	'k=[s] v=[7] n=NULL b=NULL t=NULL x=NULL f=NULL c=NULL'),
 ('j', 'json', convert_to('{"k":"a\\', 'UTF8'), NULL),
 ('j', 'json', '\x7b226b223a2261ff227d', NULL),
 ('j', 'json', '\x7b226b223a226100622c2276223a317d', NULL),
 ('j', 'json', '\x7b226b223a22c3', NULL),
 ('j', 'json', '\x7b226b223a22e282227d', NULL),
 ('j', 'json', '\x7b2276223a312c226b223a22f09f98227d', NULL),
 ('c', 'csv', convert_to('x,"b""c,d",3', 'UTF8'), 'a=[x] b=[b"c,d] v=[3]'),
 ('c', 'csv', convert_to(E'"ключ",,-4\r\n', 'UTF8'), 'a=[ключ] b=NULL v=[-4]'),
 ('tx', 'text', convert_to('the whole line: {"k":1}', 'UTF8'), 'line=[the whole line: {"k":1}]');
CREATE TABLE got AS
	SELECT id, i, try_decode(rel, fmt, substr(rec, 1, i), true) AS in_place,
		try_decode(rel, fmt, substr(rec, 1, i), false) AS copied
	FROM recs, generate_series(0, length(rec)) i;
SQL
echo "$(q "SELECT count(*) FROM got") prefixes decoded in place at a page's end, $(q "SELECT count(*) FROM got WHERE in_place NOT LIKE 'ERROR:%'") of them to a row"
d=$(q "SELECT string_agg(format('record %s cut to %s bytes: in place %s, copied %s', id, i, in_place, copied), E'\n')
	FROM got WHERE in_place IS DISTINCT FROM copied")
[ -z "$d" ] || { echo "in place and copied differ:"; echo "$d"; exit 1; }
echo "each the same row or the same error as its NUL-terminated copy"
d=$(q "SELECT string_agg(format('record %s: %s, not %s', r.id, g.in_place, r.want), E'\n')
	FROM recs r JOIN got g ON g.id = r.id AND g.i = length(r.rec)
	WHERE r.want IS NOT NULL AND g.in_place IS DISTINCT FROM r.want")
[ -z "$d" ] || { echo "whole records decoded wrong:"; echo "$d"; exit 1; }
[ "$(q "SELECT count(*) FROM recs r JOIN got g ON g.id = r.id AND g.i = length(r.rec)
	WHERE r.want IS NULL AND g.in_place LIKE 'ERROR:%'")" = 6 ] || { echo "a bad record decoded"; exit 1; }
q "SELECT in_place FROM recs r JOIN got g ON g.id = r.id AND g.i = length(r.rec) WHERE r.want IS NULL ORDER BY r.id"
echo "the whole records give the rows worked out by hand; the bad ones fail"

# int4 in place against the cast (and the JSON parser): the same value, or an error exactly when one of them fails
pgs_psql <<'SQL'
CREATE TABLE ints AS SELECT unnest(ARRAY['0', '-0', '7', '-7', '00', '01', '-01', '+1', '1.', '.5', '-', '1e2',
	'1E+0', '0.0', '12345678', '-12345678', '123456789', '-123456789', '999999999', '-99999999',
	'1000000000', '2147483647', '-2147483647', '2147483648', '-2147483648', '-2147483649',
	'99999999999999999999', '0x1F', '1_000', ' 1']) AS s;
CREATE FUNCTION ok(s text) RETURNS bool LANGUAGE plpgsql AS $$
BEGIN
	PERFORM s::jsonb, s::int4;
	RETURN true;
EXCEPTION WHEN others THEN
	RETURN false;
END $$;
CREATE TABLE ints_got AS SELECT s, ok(s) AS ok,
	try_decode('j', 'json', convert_to('{"v":' || s || '}', 'UTF8'), true) AS got FROM ints;
SQL
d=$(q "SELECT string_agg(format('%s: %s', s, got), E'\n') FROM ints_got
	WHERE CASE WHEN ok THEN got IS DISTINCT FROM format('k=NULL v=[%s] n=NULL b=NULL t=NULL x=NULL f=NULL c=NULL', s::int4)
		ELSE got NOT LIKE 'ERROR:%' END")
[ -z "$d" ] || { echo "int4 values that differ from the cast:"; echo "$d"; exit 1; }
echo "$(q "SELECT count(*) FROM ints_got WHERE ok") int4 values as the cast, $(q "SELECT count(*) FROM ints_got WHERE NOT ok") refused as by the cast or the JSON parser"
