#!/usr/bin/env bash
# format 'avro' on Kafka, with a schema registry (test/registry/registry.py,
# a stand-in speaking its REST API on loopback) and without, and Kafka
# headers. Every message read is encoded by an independent implementation
# (Debian's python3-avro) and produced with kcat; what pg_stream writes is
# decoded by python3-avro.
# - writers' schemas evolved (int -> long, a field added with a default, a
#   field removed), NULLs, decimal, date, timestamp-millis and -micros, an
#   enum, a nested record and an array into jsonb, through the registry;
#   the view equals the same query over a reference table (EXCEPT ALL both
#   ways), read with the table's columns and with avro_schema as reader;
# - a corrupt record, a wrong magic byte, an unknown schema id, a recursive
#   writer schema (refused: libavro would recurse as deep as the data), a hostile
#   length: stream.errors, the other messages processed;
# - the registry stopped: the view waits for its source and catches up
#   when it is back; schemas are fetched once (the registry counts);
# - a view with an avro kafka sink: the schema registered under
#   <topic>-value, the messages decoded by python3-avro equal the view;
# - headers: kcat -H into a meta 'headers' jsonb column; INSERT writes
#   them, kcat -f '%h' reads them back;
# - options refused at CREATE/ALTER: a malformed avro_schema, a bad
#   registry URL, schema_registry set by a role that is not a superuser;
#   start_offset as a time (accepted; the test broker cannot answer
#   offsets-for-times, so its reading is not tested here).
source "$(dirname "$0")/../lib.sh"
PY=/usr/bin/python3		# Debian's, with python3-avro
cleanup() {
	[ -n "${REG_PID:-}" ] && kill "$REG_PID" 2>/dev/null
	pgs_stop_broker
	pgs_stop_cluster
	rm -rf "$WORK"
}
WORK=$(mktemp -d /tmp/pgs_avro.XXXXXX)
chmod 755 "$WORK"
trap cleanup EXIT

# start_registry [PORT]: sets REG_PORT, REG_PID
start_registry() {
	rm -f "$WORK/reg.status"
	$PY "$PGS_ROOT/test/registry/registry.py" "$WORK/reg.status" "$WORK/reg.state" ${1:-} &
	REG_PID=$!
	local i=0
	until [ -s "$WORK/reg.status" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "registry did not start" >&2; exit 1; }
		sleep 0.1
	done
	REG_PORT=$(awk '{print $2}' "$WORK/reg.status")
}
start_registry
REG="http://127.0.0.1:$REG_PORT"
pgs_start_broker
pgs_start_cluster
q() { pgs_psql -At -c "$1"; }
# produce TOPIC PARTITION LISTFILE: each file named in it, one message
produce() { xargs -a "$3" kcat -P -b "$PGS_BROKERS" -t "$1" -p "$2"; }
pgs_broker create orders 2
pgs_broker create plain 1
pgs_broker create hdr 1
pgs_broker create out 1

echo "registry at $REG, broker at $PGS_BROKERS"

# The writers: v1, then v2 (id int -> long, note removed, channel added
# with a default), each record also into ref.csv (what the view must hold)
PGS_ROOT="$PGS_ROOT" $PY - "$WORK" "$REG" <<'PY'
import csv, datetime, decimal, json, random, sys
sys.path.insert(0, __import__("os").environ["PGS_ROOT"] + "/test/registry")
import avrotool as at
work, reg = sys.argv[1], sys.argv[2]
random.seed(11)
dec = {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}
v1 = {"type": "record", "name": "order", "namespace": "shop", "fields": [
    {"name": "id", "type": "int"},
    {"name": "name", "type": "string"},
    {"name": "amount", "type": dec},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "status", "type": {"type": "enum", "name": "st", "symbols": ["NEW", "PAID", "SHIPPED"]}},
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "item", "type": {"type": "record", "name": "item", "fields": [
        {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"},
        {"name": "tags", "type": {"type": "array", "items": "string"}}]}},
]}
v2 = json.loads(json.dumps(v1))
v2["fields"][0]["type"] = "long"
v2["fields"] = [f for f in v2["fields"] if f["name"] != "note"]
v2["fields"][3]["type"] = {"type": "long", "logicalType": "timestamp-micros"}
v2["fields"].append({"name": "channel", "type": "string", "default": "web"})
id1 = at.register(reg, "orders-value", v1)
id2 = at.register(reg, "orders-value", v2)
json.dump({"v1": v1, "v2": v2}, open(f"{work}/schemas.json", "w"))
utc = datetime.timezone.utc
ref = csv.writer(open(f"{work}/ref.csv", "w"))
msgs = {0: [], 1: []}
for i in range(1, 401):
    v = 2 if i > 200 else 1
    # python3-avro writes a Decimal's digits as they are: two places, always
    amount = (decimal.Decimal(random.randrange(-100000, 10000000)) / 100).quantize(decimal.Decimal("0.01"))
    ts = datetime.datetime(2026, 1, 1, tzinfo=utc) + datetime.timedelta(milliseconds=random.randrange(10**9))
    if v == 2:
        ts += datetime.timedelta(microseconds=random.randrange(1000))
    day = datetime.date(2026, 1, 1) + datetime.timedelta(days=random.randrange(-20000, 20000))
    st = random.choice(["NEW", "PAID", "SHIPPED"])
    note = None if i % 3 == 0 else f"note {i} \u00e9\u4e2d"
    item = {"sku": f"s{i % 17}", "qty": i % 5, "tags": [f"t{j}" for j in range(i % 3)]}
    rec = {"id": i + (2**40 if v == 2 and i % 2 else 0), "name": f"n{i}", "amount": amount, "ts": ts,
           "day": day, "status": st, "item": item}
    if v == 1:
        rec["note"] = note
    else:
        rec["channel"] = random.choice(["app", "shop"])
    msgs[i % 2].append(at.encode(v1 if v == 1 else v2, rec, id1 if v == 1 else id2))
    ref.writerow([rec["id"], rec["name"], amount, ts.isoformat(), day.isoformat(), st,
                  "" if v == 2 or note is None else note, json.dumps(item),
                  rec.get("channel", "")])
# bad ones, into partition 0: a record cut short, magic byte 1, an unknown
# id, a string whose length says 2^40 bytes
good = at.encode(v1, {"id": 1, "name": "x", "amount": decimal.Decimal("1.00"),
                      "ts": datetime.datetime(2026, 1, 1, tzinfo=utc), "day": datetime.date(2026, 1, 1),
                      "status": "NEW", "note": None, "item": {"sku": "a", "qty": 1, "tags": []}}, id1)
# and a schema that contains itself (id 3), which the registry takes
rec = {"type": "record", "name": "node", "fields": [{"name": "next", "type": ["null", "node"]}]}
id3 = at.register(reg, "other-value", rec)
assert id3 == 3
bad = [good[:9], b"\x01" + good[1:], b"\0\0\0\x03\xe7" + good[5:],
       good[:5] + b"\x02" + b"\x80\x80\x80\x80\x80\x80\x01" + b"ab",
       b"\0\0\0\0\x03" + b"\x02" * 1000 + b"\x00"]
at.write_files(work, "o0_", msgs[0] + bad)
at.write_files(work, "o1_", msgs[1])
PY
produce orders 0 "$WORK/o0_list"
produce orders 1 "$WORK/o1_list"

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER reg FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS', schema_registry '$REG/');
CREATE FOREIGN TABLE orders (
	id bigint, name text, amount numeric(10,2), ts timestamptz, day date, status text,
	note text, item jsonb, channel text, part int OPTIONS (meta 'partition')
) SERVER reg OPTIONS (topic 'orders', format 'avro');
CREATE MATERIALIZED VIEW orders_v AS SELECT id, name, amount, ts, day, status, note, item, channel FROM orders;
CREATE TABLE ref (id bigint, name text, amount numeric(10,2), ts timestamptz, day date, status text,
	note text, item jsonb, channel text);
SQL
pgs_psql -c "\\copy ref FROM '$WORK/ref.csv' WITH (FORMAT csv)"
pgs_psql -c "UPDATE ref SET note = NULLIF(note, ''), channel = NULLIF(channel, '')"

echo "through the registry, the table's columns as reader: v1 and v2 into one view"
pgs_wait_for "SELECT count(*) = 400 FROM orders_v" 30
diff=$(q "SELECT (SELECT count(*) FROM (SELECT * FROM orders_v EXCEPT ALL SELECT * FROM ref) a) +
	(SELECT count(*) FROM (SELECT * FROM ref EXCEPT ALL SELECT * FROM orders_v) b)")
[ "$diff" = 0 ] || { echo "orders_v differs from ref by $diff rows"; q "SELECT * FROM orders_v EXCEPT ALL SELECT * FROM ref ORDER BY id LIMIT 3"; echo; q "SELECT * FROM ref EXCEPT ALL SELECT * FROM orders_v ORDER BY id LIMIT 3"; exit 1; }
q "SELECT id, amount, ts, day, status, note, item, channel FROM orders_v WHERE id IN (3, 4, 1099511627977) ORDER BY id"

echo "bad messages: stream.errors, with their errors"
pgs_wait_for "SELECT count(*) = 5 FROM stream.errors WHERE view = 'orders_v'::regclass" 10
q "SELECT position->>'offset', error FROM stream.errors WHERE view = 'orders_v'::regclass ORDER BY 1::int"
q "SELECT count(*) FROM stream.errors WHERE view = 'orders_v'::regclass AND (error LIKE '%schema id 999 is not in the schema registry%' OR error LIKE '%magic byte%' OR error LIKE '%malformed%' OR error LIKE 'schema id 3: the Avro schema is not supported: it is recursive%')" | grep -qx 5 || { echo "errors"; exit 1; }
fetches=$($PY -c "import json; print(json.load(open('$WORK/reg.state'))['fetches'])")
echo "registry fetches so far: $fetches (v1, v2, the recursive one, the unknown id)"
[ "$fetches" -le 4 ] || { echo "schemas were not cached"; exit 1; }

echo "avro_schema as the reader: libavro's resolution (int -> long, channel's default for v1)"
pgs_psql <<SQL
CREATE FOREIGN TABLE orders_r (id bigint, name text, amount numeric, channel text, qty_note text)
SERVER reg OPTIONS (topic 'orders', format 'avro', avro_schema '{"type": "record", "name": "order", "namespace": "shop", "fields": [
	{"name": "id", "type": "long"}, {"name": "name", "type": "string"},
	{"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
	{"name": "channel", "type": "string", "default": "web"},
	{"name": "qty_note", "type": ["null", "string"], "default": null}]}');
CREATE MATERIALIZED VIEW orders_rv AS SELECT id, name, amount, channel, qty_note FROM orders_r;
SQL
pgs_wait_for "SELECT count(*) = 400 FROM orders_rv" 30
diff=$(q "SELECT (SELECT count(*) FROM (SELECT id, name, amount, coalesce(channel, 'web'), NULL::text FROM ref EXCEPT ALL SELECT * FROM orders_rv) a) +
	(SELECT count(*) FROM (SELECT * FROM orders_rv EXCEPT ALL SELECT id, name, amount, coalesce(channel, 'web'), NULL::text FROM ref) b)")
[ "$diff" = 0 ] || { echo "orders_rv differs by $diff"; exit 1; }

echo "the registry stopped: the view waits for its source, then catches up"
PGS_ROOT="$PGS_ROOT" $PY - "$WORK" "$REG" <<'PY'
import datetime, decimal, json, sys
sys.path.insert(0, __import__("os").environ["PGS_ROOT"] + "/test/registry")
import avrotool as at
work, reg = sys.argv[1], sys.argv[2]
v3 = json.load(open(f"{work}/schemas.json"))["v2"]
v3["fields"].append({"name": "extra", "type": "int", "default": 0})	# a new id, not fetched yet
i3 = at.register(reg, "orders-value", v3)
utc = datetime.timezone.utc
msgs = [at.encode(v3, {"id": 1000 + i, "name": f"late{i}", "amount": decimal.Decimal("2.50"),
                       "ts": datetime.datetime(2026, 2, 1, tzinfo=utc), "day": datetime.date(2026, 2, 1),
                       "status": "PAID", "item": {"sku": "z", "qty": 0, "tags": []}, "channel": "app",
                       "extra": i}, i3) for i in range(10)]
at.write_files(work, "late_", msgs)
PY
kill "$REG_PID"; wait "$REG_PID" 2>/dev/null || true
produce orders 1 "$WORK/late_list"
pgs_wait_for "SELECT last_error LIKE 'waiting for the source: the schema registry of server \"reg\" could not give schema 4%' FROM stream.queries WHERE name = 'orders_v'::regclass" 30
q "SELECT last_error FROM stream.queries WHERE name = 'orders_v'::regclass"
[ "$(q "SELECT count(*) FROM orders_v WHERE id BETWEEN 1000 AND 1009")" = 0 ] || { echo "rows without their schema"; exit 1; }
[ "$(q "SELECT count(*) FROM stream.errors WHERE view = 'orders_v'::regclass")" = 5 ] || { echo "outage made bad records"; exit 1; }
# writing needs the registry too: an INSERT fails, as an outage
out=$(pgs_psql -c "CREATE FOREIGN TABLE down_t (a int) SERVER reg OPTIONS (topic 'plain', format 'avro'); INSERT INTO down_t VALUES (1)" 2>&1) && { echo "INSERT without the registry"; exit 1; }
grep -q <<<"$out" 'could not register the schema of subject "plain-value"' || { echo "$out"; exit 1; }
start_registry "$REG_PORT"
pgs_wait_for "SELECT count(*) = 10 FROM orders_v WHERE id BETWEEN 1000 AND 1009 AND channel = 'app'" 40
pgs_wait_for "SELECT last_error IS NULL FROM stream.queries WHERE name = 'orders_v'::regclass" 10

echo "without a registry: avro_schema, plain Avro binary (and hostile records)"
PGS_ROOT="$PGS_ROOT" $PY - "$WORK" <<'PY'
import json, sys
sys.path.insert(0, __import__("os").environ["PGS_ROOT"] + "/test/registry")
import avrotool as at
work = sys.argv[1]
s = {"type": "record", "name": "m", "fields": [
    {"name": "k", "type": "string"}, {"name": "v", "type": ["null", "double"]},
    {"name": "b", "type": "bytes"}, {"name": "f", "type": "boolean"},
    {"name": "xs", "type": {"type": "array", "items": "long"}},
    {"name": "m", "type": {"type": "map", "values": "int"}}]}
json.dump(s, open(f"{work}/plain.json", "w"))
msgs = [at.encode(s, {"k": f"k{i}", "v": None if i % 4 == 0 else i / 8, "b": bytes([i, 0, 255]),
                      "f": i % 2 == 0, "xs": list(range(i % 4)), "m": {"a": i}}) for i in range(50)]
good = msgs[1]
# an array whose count says 2^60 items, and a record cut in the middle
hostile = [b"\x02k\x00" + b"\x00\x00\x01" + b"\x80\x80\x80\x80\x80\x80\x80\x80\x20", good[:-3]]
at.write_files(work, "p_", msgs + hostile)
PY
pgs_psql <<SQL
CREATE SERVER plain FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE plain_t (k text, v float8, b bytea, f boolean, xs jsonb, m jsonb, off bigint OPTIONS (meta 'offset'))
SERVER plain OPTIONS (topic 'plain', format 'avro', avro_schema '$(cat "$WORK/plain.json")');
CREATE MATERIALIZED VIEW plain_v AS SELECT k, v, b, f, xs, m FROM plain_t;
SQL
produce plain 0 "$WORK/p_list"
pgs_wait_for "SELECT count(*) = 50 FROM plain_v" 30
pgs_wait_for "SELECT count(*) = 2 FROM stream.errors WHERE view = 'plain_v'::regclass" 10
q "SELECT * FROM plain_v WHERE k IN ('k0', 'k5') ORDER BY k"
q "SELECT position->>'offset', error FROM stream.errors WHERE view = 'plain_v'::regclass ORDER BY 1::int"
[ "$(q "SELECT count(*) FROM plain_v WHERE (v IS NULL) = (substr(k, 2)::int % 4 = 0) AND b = ('\\x' || lpad(to_hex(substr(k, 2)::int), 2, '0') || '00ff')::bytea AND jsonb_array_length(xs) = substr(k, 2)::int % 4 AND m = jsonb_build_object('a', substr(k, 2)::int)")" = 50 ] || { echo "plain_v values"; exit 1; }

# (at-least-once, so that REFRESH means the broker has the messages; the
# exactly-once default is kafka_eos.sh's, on a broker with transactions)
echo "a view with an avro kafka sink: registered under out-value, read back by python3-avro"
pgs_psql <<SQL
CREATE FOREIGN TABLE out_t (status text NOT NULL, n bigint, total numeric(12,2), last_ts timestamptz, days date[])
SERVER reg OPTIONS (topic 'out', format 'avro', delivery 'at_least_once');
CREATE MATERIALIZED VIEW out_v WITH (sink = 'out_t', trigger = 'manual') AS
	SELECT status, count(*) AS n, sum(amount) AS total, max(ts) AS last_ts FROM orders GROUP BY status;
REFRESH MATERIALIZED VIEW out_v;
SQL
kcat -C -b "$PGS_BROKERS" -t out -e -q -f '%S\n%s' >"$WORK/out.bin"
PGS_ROOT="$PGS_ROOT" $PY - "$WORK" "$REG" <<'PY' >"$WORK/out.csv" 2>"$WORK/out.err"
import csv, struct, sys
sys.path.insert(0, __import__("os").environ["PGS_ROOT"] + "/test/registry")
import avrotool as at
work, reg = sys.argv[1], sys.argv[2]
latest = at.get(reg, "/subjects/out-value/versions/latest")
w = csv.writer(sys.stdout)
for m in at.read_framed(f"{work}/out.bin"):
    assert m[0] == 0, m[:5]
    sid = struct.unpack(">I", m[1:5])[0]
    assert sid == latest["id"], (sid, latest["id"])
    r = at.decode(at.get(reg, f"/schemas/ids/{sid}")["schema"], m[5:])
    w.writerow([r["status"], r["n"], r["total"], r["last_ts"].isoformat(), r["days"]])
print(latest["schema"], file=sys.stderr)
PY
pgs_psql -c "CREATE TABLE out_read (status text, n bigint, total numeric(12,2), last_ts timestamptz, days text)"
pgs_psql -c "\\copy out_read FROM '$WORK/out.csv' WITH (FORMAT csv)"
q "SELECT * FROM out_read ORDER BY 1"
# the REFRESH may take more than one batch (an update-mode changelog):
# each status's last message (its count only grows) is the view's row
diff=$(q "WITH latest AS (SELECT DISTINCT ON (status) status, n, total, last_ts FROM out_read ORDER BY status, n DESC)
	SELECT (SELECT count(*) FROM (TABLE latest EXCEPT ALL SELECT * FROM out_v) a) +
	(SELECT count(*) FROM (SELECT * FROM out_v EXCEPT ALL TABLE latest) b)")
[ "$diff" = 0 ] && [ "$(q "SELECT count(*) FROM out_v")" = 3 ] || { echo "the sink's messages differ from the view by $diff"; exit 1; }
grep -q '"name": "status", "type": "string"' "$WORK/out.err" || { echo "a NOT NULL column is not a union with null"; exit 1; }

echo "headers: kcat -H into meta 'headers'; INSERT writes them"
printf 'one\ntwo\n' | kcat -P -b "$PGS_BROKERS" -t hdr -p 0 -H trace=abc -H n=1 -H n=2 -H $'e=\xc3\xa9'
printf '\xff\n' >"$WORK/bin.txt"
kcat -P -b "$PGS_BROKERS" -t hdr -p 0 -H "bin=$(printf '\xff')" -l "$WORK/bin.txt"
pgs_psql <<SQL
CREATE FOREIGN TABLE hdr_t (line text, h jsonb OPTIONS (meta 'headers'), off bigint OPTIONS (meta 'offset'))
SERVER plain OPTIONS (topic 'hdr', format 'text');
CREATE MATERIALIZED VIEW hdr_v AS SELECT off, line, h FROM hdr_t;
SQL
pgs_wait_for "SELECT count(*) = 2 FROM hdr_v" 20
q "SELECT off, line, h FROM hdr_v ORDER BY off"
[ "$(q "SELECT h FROM hdr_v WHERE off = 0")" = '{"e": "é", "n": ["1", "2"], "trace": "abc"}' ] || { echo "headers as jsonb"; exit 1; }
pgs_wait_for "SELECT count(*) = 1 FROM stream.errors WHERE view = 'hdr_v'::regclass AND error LIKE '%invalid byte sequence%'" 10
pgs_psql -c "INSERT INTO hdr_t (line, h) VALUES ('x', '{\"a\": \"1\", \"b\": [\"2\", \"3\"], \"c\": null}'), ('y', NULL)"
# kcat shows a header without a value as NULL
kcat -C -b "$PGS_BROKERS" -t hdr -o 3 -e -q -f '%s|%h\n' >"$WORK/hdr.out"
cat "$WORK/hdr.out"
grep -qx 'x|a=1,b=2,b=3,c=NULL' "$WORK/hdr.out" && grep -qx 'y|' "$WORK/hdr.out" || { echo "INSERT's headers"; exit 1; }
pgs_wait_for "SELECT count(*) = 4 FROM hdr_v" 20
[ "$(q "SELECT h FROM hdr_v WHERE line = 'x'")" = '{"a": "1", "b": ["2", "3"], "c": null}' ] || { echo "headers round trip"; exit 1; }

echo "INSERT into an avro table without a registry; read back through it"
pgs_psql -c "INSERT INTO plain_t (k, v, b, f, xs, m) VALUES ('ins', 1.5, '\x01', true, '[7, 8]', '{\"z\": 9}')"
pgs_wait_for "SELECT count(*) = 1 FROM plain_v WHERE k = 'ins' AND v = 1.5 AND b = '\x01' AND f AND xs = '[7, 8]' AND m = '{\"z\": 9}'" 20

echo "INSERT with avro_schema through the registry: a field no column gives takes its default"
pgs_broker create evolved 1
pgs_psql <<SQL
CREATE FOREIGN TABLE evolved_w (id bigint, name text) SERVER reg OPTIONS (topic 'evolved', format 'avro',
	avro_schema '{"type": "record", "name": "e", "fields": [{"name": "id", "type": "long"}, {"name": "name", "type": "string"},
	{"name": "src", "type": "string", "default": "pg"}, {"name": "n", "type": ["null", "int"], "default": null}]}');
INSERT INTO evolved_w VALUES (1, 'a'), (2, 'b');
SQL
kcat -C -b "$PGS_BROKERS" -t evolved -e -q -f '%S\n%s' >"$WORK/evolved.bin"
PGS_ROOT="$PGS_ROOT" $PY - "$WORK" "$REG" <<'PY' >"$WORK/evolved.txt"
import struct, sys
sys.path.insert(0, __import__("os").environ["PGS_ROOT"] + "/test/registry")
import avrotool as at
work, reg = sys.argv[1], sys.argv[2]
for m in at.read_framed(f"{work}/evolved.bin"):
    sid = struct.unpack(">I", m[1:5])[0]
    print(sorted(at.decode(at.get(reg, f"/schemas/ids/{sid}")["schema"], m[5:]).items()))
PY
cat "$WORK/evolved.txt"
[ "$(cat "$WORK/evolved.txt")" = "$(printf "%s\n" "[('id', 1), ('n', None), ('name', 'a'), ('src', 'pg')]" "[('id', 2), ('n', None), ('name', 'b'), ('src', 'pg')]")" ] || { echo "defaults on write"; exit 1; }

echo "options checked at CREATE/ALTER"
fails() {
	local out
	out=$(pgs_psql -c "$1" 2>&1) && { echo "not refused: $1"; exit 1; }
	grep -q <<<"$out" -- "$2" || { echo "unexpected error for: $1"; echo "$out"; exit 1; }
	echo "$out" | head -3
}
fails "CREATE FOREIGN TABLE bad1 (a int) SERVER plain OPTIONS (topic 'x', format 'avro', avro_schema '{\"type\": \"record\"')" 'invalid value for option "avro_schema"'
fails "CREATE FOREIGN TABLE bad2 (a int) SERVER plain OPTIONS (topic 'x', format 'avro', avro_schema '{\"type\": \"record\", \"name\": \"l\", \"fields\": [{\"name\": \"next\", \"type\": [\"null\", \"l\"]}]}')" 'recursive'
fails "CREATE FOREIGN TABLE bad3 (a int) SERVER plain OPTIONS (topic 'x', format 'avro', avro_schema '\"long\"')" 'not a record'
fails "CREATE FOREIGN TABLE bad4 (a int) SERVER plain OPTIONS (topic 'x', format 'parquet')" 'invalid value for option "format"'
fails "ALTER SERVER plain OPTIONS (ADD schema_registry 'file:///etc/passwd')" 'Only http:// and https://'
fails "ALTER SERVER plain OPTIONS (ADD schema_registry 'http://user:pw@host:8081')" 'credentials'
fails "CREATE USER MAPPING FOR postgres SERVER plain OPTIONS (schema_registry 'http://h:1')" "a server's, not a user mapping's"
fails "ALTER FOREIGN TABLE plain_t OPTIONS (ADD start_offset 'now')" 'invalid value for option "start_offset"'
# the validator does not see column types: refused at use
pgs_psql -c "CREATE FOREIGN TABLE hdr_text (line text, h text OPTIONS (meta 'headers')) SERVER plain OPTIONS (topic 'hdr', format 'text')"
fails "SELECT * FROM hdr_text" "must be of type jsonb"
pgs_psql -c "CREATE FOREIGN TABLE from_time (a int) SERVER plain OPTIONS (topic 'plain', start_offset '2026-12-01 10:00:00+00')"
pgs_psql <<SQL
CREATE ROLE avro_user;
GRANT USAGE ON FOREIGN DATA WRAPPER kafka TO avro_user;
GRANT CREATE ON SCHEMA public TO avro_user;
SQL
fails "SET ROLE avro_user; CREATE SERVER mine FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS', schema_registry 'http://169.254.169.254')" 'only a superuser may set option "schema_registry"'
# and at use: a server a role owns, with the option stored by a superuser
pgs_psql <<SQL
SET ROLE avro_user;
CREATE SERVER mine FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE mine_t (k text) SERVER mine OPTIONS (topic 'plain', format 'avro');
RESET ROLE;
ALTER SERVER mine OPTIONS (ADD schema_registry '$REG');
SQL
fails "SELECT * FROM mine_t" 'only a superuser may set option "schema_registry"'
echo "avro: ok"
