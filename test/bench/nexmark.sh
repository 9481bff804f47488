#!/usr/bin/env bash
# Benchmark (not a test): Nexmark on Kafka. A generator writes the
# benchmark's three event kinds -- persons, auctions and bids, in its
# proportions 1 : 3 : 46 -- as JSON into three topics of the test broker,
# with Nexmark's columns (a bid: auction, bidder, price, channel, url,
# date_time, extra) and event times advancing 1 ms per event. The queries
# the engine supports run as continuous views over the bid topic:
#
#   q0  pass-through: auction, bidder, price, date_time
#   q1  currency conversion: price * 0.908
#   q2  selection: auction % 123 = 0
#   q5  (the windowed count of q5) bids per auction per 10-second window
#       sliding every 2 seconds
#
# Each query is timed as one REFRESH of a manual-trigger view, in one
# backend, from the first message: by the wall clock and per CPU second of
# the backend (librdkafka's threads included). The rate counts bids, the
# events these queries read. RisingWave's published per-core figures
# (Nexmark on 8 vCPUs) are printed beside: q0 118k, q1 119k, q2 127k
# events/s per core. Each view is checked against the same query run over
# the bids loaded with COPY.
#
# usage: bash test/bench/nexmark.sh [BIDS=500000] [PARTITIONS=24]
source "$(dirname "$0")/../lib.sh"
BIDS=${1:-500000}
PARTS=${2:-24}

pgs_install_deps kcat python3
pgs_build
WORK=$(mktemp -d /tmp/pgs_nexmark.XXXXXX)
chmod 755 "$WORK"
trap 'pgs_stop_broker; pgs_stop_cluster; rm -rf "$WORK"' EXIT
pgs_start_broker
pgs_start_cluster "log_min_messages = warning" "shared_buffers = 512MB" "max_wal_size = 4GB" \
	"max_parallel_workers_per_gather = 0"
for t in person auction bid; do
	pgs_broker create "$t" "$PARTS"
done

python3 - "$WORK" "$BIDS" "$PARTS" <<'PY'
import random, sys
from datetime import datetime, timedelta, timezone
work, bids, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = random.Random(42)
out = {k: [open(f"{work}/{k}.{p}.json", "w") for p in range(parts)] for k in ("person", "auction", "bid")}
start = datetime(2026, 1, 1, tzinfo=timezone.utc)
first_names = ["Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter"]
last_names = ["Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris"]
cities = ["Phoenix", "Los Angeles", "San Francisco", "Boise", "Portland", "Bend", "Redmond", "Seattle", "Kent", "Cheyenne"]
states = ["AZ", "CA", "ID", "OR", "WA", "WY"]
channels = ["Google", "Facebook", "Baidu", "Apple"]
persons = auctions = nbids = 0
bid_file = open(f"{work}/bids.csv", "w")
i = 0
while nbids < bids:
    t = (start + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    kind = i % 50
    p = i % parts
    if kind == 0:
        persons += 1
        out["person"][p].write('{"id": %d, "name": "%s %s", "email_address": "%s@example.com", '
            '"credit_card": "%04d %04d %04d %04d", "city": "%s", "state": "%s", "date_time": "%s", "extra": "%s"}\n'
            % (1000 + persons, r.choice(first_names), r.choice(last_names), r.choice(last_names).lower(),
               r.randrange(10000), r.randrange(10000), r.randrange(10000), r.randrange(10000),
               r.choice(cities), r.choice(states), t, "x" * r.randrange(10)))
    elif kind <= 3:
        auctions += 1
        out["auction"][p].write('{"id": %d, "item_name": "item%d", "description": "a thing", "initial_bid": %d, '
            '"reserve": %d, "date_time": "%s", "expires": "%s", "seller": %d, "category": %d, "extra": ""}\n'
            % (1000 + auctions, auctions, r.randrange(1, 1000), r.randrange(1000, 2000), t,
               (start + timedelta(milliseconds=i + 10000)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
               1000 + r.randrange(max(persons, 1)), 10 + r.randrange(5)))
    else:
        nbids += 1
        # bids go mostly to recent auctions, as Nexmark's hot auctions do
        auction = 1000 + max(auctions - int(r.expovariate(1 / 20)), 1)
        bidder = 1000 + r.randrange(max(persons, 1))
        price = r.randrange(100, 100000)
        channel = r.choice(channels)
        url = "https://www.nexmark.com/%s/item.htm?query=%d" % (channel.lower(), r.randrange(1000))
        out["bid"][p].write('{"auction": %d, "bidder": %d, "price": %d, "channel": "%s", "url": "%s", '
            '"date_time": "%s", "extra": ""}\n' % (auction, bidder, price, channel, url, t))
        bid_file.write(f"{auction},{bidder},{price},{channel},{url},{t},\n")
    i += 1
for files in out.values():
    for f in files:
        f.close()
bid_file.close()
print(f"generated {persons} persons, {auctions} auctions, {nbids} bids")
PY
for t in person auction bid; do
	for p in $(seq 0 $((PARTS - 1))); do
		kcat -P -l -b "$PGS_BROKERS" -t "$t" -p "$p" -X linger.ms=50 "$WORK/$t.$p.json"
	done
done
chown -R "$PGS_USER" "$WORK"

pgs_psql -q <<SQL
CREATE EXTENSION pg_stream;
CREATE SERVER nexmark FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
CREATE FOREIGN TABLE person (id bigint, name text, email_address text, credit_card text, city text,
	state text, date_time timestamptz, extra text) SERVER nexmark OPTIONS (topic 'person');
CREATE FOREIGN TABLE auction (id bigint, item_name text, description text, initial_bid bigint,
	reserve bigint, date_time timestamptz, expires timestamptz, seller bigint, category bigint,
	extra text) SERVER nexmark OPTIONS (topic 'auction');
CREATE FOREIGN TABLE bid (auction bigint, bidder bigint, price bigint, channel text, url text,
	date_time timestamptz, extra text) SERVER nexmark OPTIONS (topic 'bid');
CREATE MATERIALIZED VIEW q0 WITH (trigger = 'manual') AS
	SELECT auction, bidder, price, date_time FROM bid;
CREATE MATERIALIZED VIEW q1 WITH (trigger = 'manual') AS
	SELECT auction, bidder, 0.908 * price AS price, date_time FROM bid;
CREATE MATERIALIZED VIEW q2 WITH (trigger = 'manual') AS
	SELECT auction, price FROM bid WHERE auction % 123 = 0;
CREATE MATERIALIZED VIEW q5 WITH (trigger = 'manual') AS
	SELECT b.auction, w.window_start, count(*) AS bids
	FROM bid b, stream.hop(b.date_time, '10 seconds', '2 seconds') AS w(window_start) GROUP BY 1, 2;
-- the same queries as batches, over the same bids
CREATE TABLE bids (auction bigint, bidder bigint, price bigint, channel text, url text,
	date_time timestamptz, extra text);
COPY bids FROM '$WORK/bids.csv' (FORMAT csv);
SQL

printf "\n%-52s %12s %12s %14s %8s\n" "Nexmark, $BIDS bids, one backend" "bids/s" "per CPU s" "RisingWave/core" "ratio"
for q in q0 q1 q2 q5; do
	read -r wall cpu < <(pgs_timed "REFRESH MATERIALIZED VIEW $q")
	case $q in
		q0) batch="SELECT auction, bidder, price, date_time FROM bids"; rw=118000; what="q0 pass-through";;
		q1) batch="SELECT auction, bidder, 0.908 * price AS price, date_time FROM bids"; rw=119000; what="q1 currency conversion";;
		q2) batch="SELECT auction, price FROM bids WHERE auction % 123 = 0"; rw=127000; what="q2 selection";;
		q5) batch="SELECT b.auction, w.window_start, count(*) AS bids FROM bids b, stream.hop(b.date_time, '10 seconds', '2 seconds') AS w(window_start) GROUP BY 1, 2"; rw=""; what="q5 bids per auction, hopping 10 s / 2 s";;
	esac
	cols=$(pgs_psql -At -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = '$q'::regclass AND attnum > 0 AND NOT attisdropped")
	diff=$(pgs_psql -At -c "SELECT count(*) FROM ((SELECT $cols FROM $q EXCEPT ALL $batch) UNION ALL ($batch EXCEPT ALL SELECT $cols FROM $q)) d")
	[ "$diff" = 0 ] || { echo "$q differs from its batch query in $diff rows"; exit 1; }
	awk -v n="$BIDS" -v w="$wall" -v c="$cpu" -v rw="$rw" -v what="$what" 'BEGIN {
		printf "%-52s %12.0f %12.0f %14s %8s\n", what, n / w, n / c, rw, (rw == "" ? "" : sprintf("%.1fx", n / c / rw)) }'
	pgs_result "Nexmark $what, per CPU second" "$(awk -v n="$BIDS" -v c="$cpu" 'BEGIN { printf "%.0f", n / c }')" "ev/s" \
		"${rw:+RisingWave per core}" "$rw"
done
echo "every view equals its query run as a batch over the same bids"
