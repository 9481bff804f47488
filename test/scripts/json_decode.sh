#!/usr/bin/env bash
# The JSON decoder's two paths give the same rows as PostgreSQL's casts.
# Flat objects with unescaped strings are decoded in one pass, and ISO 8601
# date-times with a zone go into timestamptz without timestamptz_in; the
# rest (escapes, nested values, other date-time forms, anything out of
# range) goes through PostgreSQL's JSON parser and the input functions.
# 20,000 generated records mix both paths: escapes, \u escapes, nested
# values, compact and spaced JSON, leap days, 24:00, second 60, zones Z,
# +hh, +hh:mm, +hhmm, out-of-range zones, seven fraction digits, 't' and
# 'z' in lower case, numbers out of an int8's range. Each decoded value
# must equal the cast of the same JSON value read as text, and a record
# is dropped (to stream.errors) exactly when a cast fails; v goes into an
# int8 and, in a second table, an int4.
source "$(dirname "$0")/../lib.sh"
data=$(mktemp -d /tmp/pg_stream_json.XXXXXX)
trap 'pgs_stop_cluster; rm -rf "$data"' EXIT
pgs_start_cluster
python3 - "$data/records.json" <<'PY'
import random, sys
r = random.Random(5)
def ts():
    return "%04d-%02d-%02d%s%02d:%02d:%02d%s%s" % (
        r.choice([1, 2, 99, 1999, 2000, 2024, 2026, 9999]), r.randint(1, 12), r.randint(1, 31),
        r.choice(["T", " ", "t"]), r.randint(0, 24), r.randint(0, 60), r.randint(0, 60),
        r.choice(["", ".5", ".123456", ".1234567", ".", ".000001"]),
        r.choice(["Z", "+02:00", "-05:30", "+0530", "+02", "-15:59", "+16:00", "+05:3", "", " UTC", "z", "+00"]))
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        rec = '{"id": %d, "t": "%s", "k": "%s", "v": %s, "x": %s}' % (
            i, ts(), r.choice(["k1", "k\\u0031", "k\\n", '\\"q\\"', "ключ", "x" * 70]),
            r.choice(["1", "-0", "0.5", "1e3", "12345678901", "9223372036854775808", "null", "true", '"2"',
                      "-7", "123456789", "-12345678", "999999999", "2147483647", "2147483648",
                      "-2147483648", "-2147483649", "0.0", "-1E2"]),
            r.choice(["[1, 2]", '{"a": {"b": 1}}', "null", '"s"', "1", "false"]))
        if r.random() < 0.2:
            rec = rec.replace(": ", ":").replace(", ", ",")
        f.write(rec + "\n")
PY
chown -R "$PGS_USER" "$data"
pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
-- every value as text (no conversion), then into typed columns
CREATE FOREIGN TABLE as_text (id int, t text, k text, v text, x text) SERVER file OPTIONS (path '$data');
CREATE FOREIGN TABLE typed (id int, t timestamptz, k text, v int8, x jsonb) SERVER file OPTIONS (path '$data');
CREATE TABLE raw AS SELECT * FROM as_text;
CREATE TABLE decoded AS SELECT * FROM typed;
-- v into an int4 too (its one-pass path for up to 9 characters)
CREATE FOREIGN TABLE typed4 (id int, v int4) SERVER file OPTIONS (path '$data');
CREATE TABLE decoded4 AS SELECT * FROM typed4;
CREATE FUNCTION cast4_ok(v text) RETURNS bool LANGUAGE plpgsql AS \$\$
BEGIN
	PERFORM v::int4;
	RETURN true;
EXCEPTION WHEN others THEN
	RETURN false;
END \$\$;
CREATE FUNCTION cast_ok(t text, v text) RETURNS bool LANGUAGE plpgsql AS \$\$
BEGIN
	PERFORM t::timestamptz, v::int8;
	RETURN true;
EXCEPTION WHEN others THEN
	RETURN false;
END \$\$;
SQL
q() { pgs_psql -At -c "$1"; }
echo "records: $(q "SELECT count(*) FROM raw"), decoded into typed columns: $(q "SELECT count(*) FROM decoded")"
[ "$(q "SELECT count(*) FROM raw")" = 20000 ]
# decoded exactly when the casts succeed
[ "$(q "SELECT count(*) FROM raw r WHERE cast_ok(r.t, r.v) <> EXISTS (SELECT FROM decoded WHERE id = r.id)")" = 0 ]
# and then equal to them
n=$(q "SELECT count(*) FROM decoded d JOIN raw r USING (id)
	WHERE d.t IS DISTINCT FROM r.t::timestamptz OR d.v IS DISTINCT FROM r.v::int8 OR d.k IS DISTINCT FROM r.k
	   OR d.x IS DISTINCT FROM (CASE WHEN r.x = 's' THEN to_jsonb(r.x) ELSE r.x::jsonb END)")
echo "values that differ from the casts: $n"
[ "$n" = 0 ]
n=$(q "SELECT count(*) FROM raw r WHERE cast4_ok(r.v) <> EXISTS (SELECT FROM decoded4 WHERE id = r.id)")
n=$((n + $(q "SELECT count(*) FROM decoded4 d JOIN raw r USING (id) WHERE d.v IS DISTINCT FROM r.v::int4")))
echo "int4 values that differ from the casts (or decoded when the cast fails): $n ($(q "SELECT count(*) FROM decoded4") decoded)"
[ "$n" = 0 ]
# both paths were taken
[ "$(q "SELECT count(DISTINCT k) FROM raw")" = 5 ]
[ "$(q "SELECT count(*) FROM raw WHERE k = 'k1'")" -gt 6000 ]

# bytes that are not ASCII: a flat object's encoding is checked only when
# it has some, and then as before (invalid ones make a bad record, in a
# string or in a key; valid ones decode)
mkdir "$data/enc"
printf '{"id": 1, "k": "a"}\n{"id": 2, "k": "caf\xc3\xa9"}\n{"id": 3, "k": "caf\xe9"}\n{"id": 4, "k\xff": "b"}\n' >"$data/enc/e.json"
chown -R "$PGS_USER" "$data"
q "CREATE FOREIGN TABLE enc (id int, k text) SERVER file OPTIONS (path '$data/enc')"
got=$(pgs_psql -At -c "SELECT string_agg(id || k, ',' ORDER BY id) FROM enc" 2>"$data/enc.err")
echo "not ASCII: $got; $(grep -c 'invalid byte sequence for encoding "UTF8"' "$data/enc.err") records refused for their encoding"
[ "$got" = "1a,2café" ]
[ "$(grep -c 'invalid byte sequence for encoding "UTF8"' "$data/enc.err")" = 2 ]
echo ok
