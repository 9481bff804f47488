#!/usr/bin/env bash
# The demo: a rate stream into a per-second tumbling count, and an
# insert-fed stream into a per-kind count, shown as they follow their
# input. Run as root on a fresh Debian 12 (installs what it needs), or as
# a user who can run sudo. Leaves the server running and says how to
# connect (PGS_DEMO_STOP=1: stops it instead, as the tests do).
source "$(dirname "$0")/lib.sh"

pgs_install_deps
pgs_build
pgs_start_cluster
pgs_log "PostgreSQL with pg_stream is running on port $PGS_PORT"

pgs_psql <<'SQL'
CREATE EXTENSION pg_stream;

-- Spark's rate source: 100 rows per second, columns (ts, value)
CREATE FOREIGN TABLE ticks (ts timestamptz, value bigint)
	SERVER rate OPTIONS (rows_per_second '100');

-- a continuous view: rows per one-second tumbling window
CREATE MATERIALIZED VIEW ticks_per_second AS
	SELECT stream.tumble(ts, '1 second') AS second, count(*) AS n,
		   min(value) AS first_value, max(value) AS last_value
	FROM ticks GROUP BY 1;

-- a stream fed by INSERT, and a view counting it by kind
CREATE FOREIGN TABLE events (kind text, amount numeric, at timestamptz DEFAULT now())
	SERVER stream;
CREATE MATERIALIZED VIEW events_by_kind AS
	SELECT kind, count(*) AS n, sum(amount) AS total, avg(amount) AS average
	FROM events GROUP BY kind;
SQL

for i in 1 2 3 4 5 6; do
	pgs_psql -c "INSERT INTO events (kind, amount)
		SELECT (ARRAY['click','view','buy'])[1 + (random() * 2)::int], round((random() * 100)::numeric, 2)
		FROM generate_series(1, 10 * $i)"
	sleep 1
	echo
	echo "---- after $i second(s) ----------------------------------------------"
	pgs_psql -c "SELECT * FROM ticks_per_second ORDER BY second DESC LIMIT 3" \
		-c "SELECT * FROM events_by_kind ORDER BY kind" \
		-c "SELECT name, status, batches, rows_in, rows_out, lag FROM stream.queries ORDER BY name"
done

if [ -n "${PGS_DEMO_STOP:-}" ]; then
	pgs_stop_cluster
	exit 0
fi

cat <<MSG

The server keeps running. Connect with:

    psql -h $PGS_DIR -p $PGS_PORT -U postgres

and try, for example:

    INSERT INTO events (kind, amount) VALUES ('buy', 42);
    REFRESH MATERIALIZED VIEW events_by_kind;   -- waits until it is in the view
    SELECT * FROM events_by_kind;
    SELECT * FROM stream.progress ORDER BY started_at DESC LIMIT 5;

Stop it with:

    runuser -u $PGS_USER -- $PG_BIN/pg_ctl -D $PGS_DIR/data stop
MSG
