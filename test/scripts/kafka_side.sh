#!/usr/bin/env bash
# A Kafka stream read beside a windowed aggregation (engine/stage_side.c)
# while its JSON is decoded where librdkafka holds the messages
# (formats/decode.c, pgs_decode_bytes): the side's rows are read again
# from the batch after stage 1's, and kept in the side's state until
# their window is final, long after the messages are freed. Nexmark q7's
# shape (the bids at their window's max) over bids with long text
# columns, in three batches, each checked against the same query over a
# table of the messages sent so far, for the windows final under the
# view's watermark (EXCEPT ALL both ways), and the side state's text
# against the messages.
source "$(dirname "$0")/../lib.sh"
WORK=$(mktemp -d /tmp/pgs_kafka_side.XXXXXX)
chmod 755 "$WORK"
trap 'pgs_stop_broker; pgs_stop_cluster; rm -rf "$WORK"' EXIT
pgs_start_broker
pgs_start_cluster
pgs_broker create kside 1
q() { pgs_psql -At -c "$1"; }

pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER k FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE bid (ts timestamptz, item text, price int, extra text) SERVER k
	OPTIONS (topic 'kside', event_time 'ts', watermark '5 minutes');
CREATE TABLE bid_ref (LIKE bid);
CREATE TABLE want (item text, price int, ts timestamptz, extra text);
CREATE MATERIALIZED VIEW q7 WITH (trigger = 'manual') AS
	SELECT B.item, B.price, B.ts, B.extra
	FROM bid B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM bid GROUP BY 2) B1
	  ON B.price = B1.maxprice AND stream.tumble(B.ts, '10 minutes') = B1.w;
SQL
# batch b: 40 bids of minutes 8b to 8b + 7, items and extras long enough
# to be out of line, the price a max per window several times
send() {
	python3 - "$1" >"$WORK/b$1.json" <<'PY'
import sys, json
b = int(sys.argv[1])
for i in range(40):
    m = 8 * b + i % 8
    print(json.dumps({"ts": "2000-01-01 %02d:%02d:00+00" % (m // 60, m % 60),
                      "item": "item-%d-%s" % (i % 6, "x" * (40 + i)),
                      "price": (i * 7 + b) % 11, "extra": "e%d-%d-%s" % (b, i, "y" * 200)}))
PY
	kcat -P -l -b "$PGS_BROKERS" -t kside -p 0 "$WORK/b$1.json"
	python3 -c "
import sys, json
for l in open('$WORK/b$1.json'):
    r = json.loads(l); print('\t'.join([r['ts'], r['item'], str(r['price']), r['extra']]))" >"$WORK/b$1.tsv"
	pgs_psql -q -c "\\copy bid_ref FROM '$WORK/b$1.tsv'"
}
check() {
	local wm d side
	wm=$(q "SELECT watermark FROM stream.queries WHERE name = 'q7'::regclass")
	pgs_psql -q -c "TRUNCATE want" -c "INSERT INTO want
		SELECT B.item, B.price, B.ts, B.extra FROM bid_ref B
		JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w FROM bid_ref GROUP BY 2) B1
		  ON B.price = B1.maxprice AND stream.tumble(B.ts, '10 minutes') = B1.w
		WHERE B1.w + interval '10 minutes' <= '$wm'"
	d=$(q "SELECT count(*) FROM ((SELECT * FROM q7 EXCEPT ALL SELECT * FROM want) UNION ALL
		(SELECT * FROM want EXCEPT ALL SELECT * FROM q7)) x")
	echo "batch $1: watermark $wm, $(q "SELECT count(*) FROM q7") rows, $d differ"
	[ "$d" = 0 ] || exit 1
	# the side's state: the bids of the windows still open, text intact
	# (packed a window's rows at a time into rows of arrays, one a column)
	side=$(q "SELECT join_state FROM stream.positions WHERE view = 'q7'::regclass")
	rows="(SELECT u.* FROM $side, unnest(ts, item, price, extra) u(ts, item, price, extra))"
	d=$(q "SELECT count(*) FROM ((SELECT * FROM $rows s EXCEPT ALL SELECT * FROM bid_ref
			WHERE stream.tumble(ts, '10 minutes') + interval '10 minutes' > '$wm') UNION ALL
		(SELECT * FROM bid_ref WHERE stream.tumble(ts, '10 minutes') + interval '10 minutes' > '$wm'
			EXCEPT ALL SELECT * FROM $rows s)) x")
	echo "  side state $side: $(q "SELECT count(*) FROM $rows s") rows, $d differ from the open windows' bids"
	[ "$d" = 0 ] || exit 1
}
for b in 0 1 2; do
	send $b
	pgs_psql -q -c "REFRESH MATERIALIZED VIEW q7"
	check $b
done
