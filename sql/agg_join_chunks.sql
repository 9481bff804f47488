-- The state of a stream read beside a windowed aggregation
-- (engine/stage_side.c) packs a window's rows into chunks: rows of
-- arrays of about 6 kB. Here windows of hundreds of rows (several chunks
-- each, per batch), and ranges not aligned to the windows, so that a
-- window's finalization takes part of a chunk and writes the rest again:
-- after each batch every view equals its query over the same rows in
-- tables, for the windows handed on, and each side's state holds exactly
-- the rows its positions count (state_ok; NULL for ck_shift, whose side
-- is stage 1's own stream: its position counts the groups too).
SET timezone = 'UTC';
CREATE FOREIGN TABLE ck_bids (ts timestamptz, item text, price int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE FOREIGN TABLE ck_persons (ts timestamptz, id int, name text) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE FOREIGN TABLE ck_auctions (ts timestamptz, id text, seller int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE TABLE ck_bids_ref (LIKE ck_bids);
CREATE TABLE ck_persons_ref (LIKE ck_persons);
CREATE TABLE ck_auctions_ref (LIKE ck_auctions);
-- q8 as published
CREATE MATERIALIZED VIEW ck_q8 WITH (trigger = 'manual') AS
	SELECT P.id, P.name, P.starttime
	FROM (SELECT id, name, stream.tumble(ts, '10 minutes') AS starttime
		  FROM ck_persons GROUP BY id, name, stream.tumble(ts, '10 minutes')) P
	JOIN (SELECT seller, stream.tumble(ts, '10 minutes') AS starttime
		  FROM ck_auctions GROUP BY seller, stream.tumble(ts, '10 minutes')) A
	  ON P.id = A.seller AND P.starttime = A.starttime;
-- every auction of a window, with its seller's name if the seller joined
-- in it (a side's rows NULL-padded)
CREATE MATERIALIZED VIEW ck_q8_right WITH (trigger = 'manual') AS
	SELECT A.id, A.seller, A.ts, P.name, P.w
	FROM (SELECT id, name, stream.tumble(ts, '10 minutes') AS w
		  FROM ck_persons GROUP BY 1, 2, 3) P
	RIGHT JOIN ck_auctions A ON P.id = A.seller AND stream.tumble(A.ts, '10 minutes') = P.w;
-- the bids at their window's max, by a range shifted half a window: a
-- bid joins the window 5 to 15 minutes before it
CREATE MATERIALIZED VIEW ck_shift WITH (trigger = 'manual') AS
	SELECT B.item, B.price, B.ts, B1.w
	FROM ck_bids B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM ck_bids GROUP BY 2) B1
	  ON B.price >= B1.maxprice - 50
	WHERE B.ts >= B1.w + interval '5 minutes' AND B.ts < B1.w + interval '15 minutes';
-- the auctions from 5 minutes before a window of bids to its end
CREATE MATERIALIZED VIEW ck_before WITH (trigger = 'manual') AS
	SELECT B1.w, B1.maxprice, A.id
	FROM (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM ck_bids GROUP BY 2) B1
	JOIN ck_auctions A ON A.ts >= B1.w - interval '5 minutes' AND A.ts < B1.w + interval '10 minutes';
CREATE FUNCTION ck_check() RETURNS TABLE (view regclass, ok boolean, state_ok boolean)
LANGUAGE sql AS $$
	SELECT c.view,
		matches_query(c.view, format('SELECT * FROM (%s) b WHERE %s + interval ''10 minutes'' <= %L::timestamptz - %L::interval',
			regexp_replace(rtrim(pg_get_viewdef(c.view), ';'), '\m(ck_bids|ck_persons|ck_auctions)\M', '\1_ref', 'g'),
			l.wcol, q.watermark, l.lag)),
		(SELECT bool_and(p.state_rows = coalesce(n.rows, 0))
		 FROM stream.positions p
		 CROSS JOIN LATERAL (SELECT (xpath('/row/n/text()',
				query_to_xml(format('SELECT sum(cardinality(ts)) AS n FROM %s', p.join_state::regclass),
							 false, true, '')))[1]::text::bigint AS rows) n
		 WHERE p.view = c.view AND p.join_state IS NOT NULL
		   AND p.stream <> (SELECT s.stream FROM stream.positions s
							WHERE s.view = c.view AND s.join_state IS NULL LIMIT 1))
	FROM stream.cq c JOIN stream.queries q ON q.name = c.view
	JOIN (VALUES ('ck_q8', 'starttime', '0'), ('ck_q8_right', 'stream.tumble(ts, ''10 minutes'')', '0'),
				 ('ck_shift', 'w', '10 minutes'), ('ck_before', 'w', '10 minutes')) l(name, wcol, lag)
	  ON l.name = c.view::text
	ORDER BY 1
$$;
-- batch k: 7 minutes of rows from 12:00 + 7k, in random order (never late:
-- the watermark is 5 minutes behind the last batch's latest): 300 bids,
-- 20 persons and 300 auctions a minute, auctions' sellers among the
-- persons of the last 10 minutes
CREATE FUNCTION ck_feed(k int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := '2000-01-01 12:00'::timestamptz + k * interval '7 minutes';
BEGIN
	CREATE TEMP TABLE ck_new_bids AS
		SELECT t0 + (i * 0.2) * interval '1 second' AS ts, 'bid ' || k || ' ' || i || ' ' || repeat('x', i % 20) AS item,
			   (hashint4(k * 100000 + i) & 1023) AS price
		FROM generate_series(0, 2099) i ORDER BY hashint4(i + k);
	CREATE TEMP TABLE ck_new_persons AS
		SELECT t0 + (i * 3) * interval '1 second' AS ts, k * 1000 + i AS id, 'person ' || (k * 1000 + i) AS name
		FROM generate_series(0, 139) i ORDER BY hashint4(i + k);
	CREATE TEMP TABLE ck_new_auctions AS
		SELECT t0 + (i * 0.2) * interval '1 second' AS ts, 'auction ' || k || ' ' || i AS id,
			   CASE WHEN i % 3 = 0 THEN (k - 1) * 1000 + (i % 140) ELSE k * 1000 + (i % 140) * (i % 7) / 6 END AS seller
		FROM generate_series(0, 2099) i ORDER BY hashint4(i - k);
	INSERT INTO ck_bids SELECT * FROM ck_new_bids;
	INSERT INTO ck_bids_ref SELECT * FROM ck_new_bids;
	INSERT INTO ck_persons SELECT * FROM ck_new_persons;
	INSERT INTO ck_persons_ref SELECT * FROM ck_new_persons;
	INSERT INTO ck_auctions SELECT * FROM ck_new_auctions;
	INSERT INTO ck_auctions_ref SELECT * FROM ck_new_auctions;
	DROP TABLE ck_new_bids, ck_new_persons, ck_new_auctions;
END $$;
-- a batch of each view, and the no-data batch after it
CREATE FUNCTION ck_batch() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'ck\_%' ORDER BY 1 LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
	END LOOP;
END $$;
SELECT ck_feed(0);
SELECT ck_batch();
SELECT * FROM ck_check();
SELECT ck_feed(1);
SELECT ck_batch();
SELECT * FROM ck_check();
SELECT ck_feed(2);
SELECT ck_batch();
SELECT * FROM ck_check();
SELECT ck_feed(3);
SELECT ck_batch();
SELECT * FROM ck_check();
SELECT ck_feed(4);
SELECT ck_batch();
SELECT * FROM ck_check();
-- windows were handed on, rows kept, none late; a window's rows of a
-- side take several chunks (more state rows than chunks)
SELECT name, to_char(watermark, 'HH24:MI') AS watermark, state_rows > 0 AS state, rows_late,
	(SELECT count(*) FROM ONLY ck_q8) > 0 AS q8_rows
FROM stream.queries WHERE name::text LIKE 'ck\_%' ORDER BY name::text;
SELECT count(*) > 0 AS rows, (SELECT count(*) FROM ck_shift) > 0 AS shift,
	(SELECT count(*) FROM ck_before) > 0 AS before
FROM ck_q8_right;
SELECT c.view, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) < sum(cardinality(ts)) AS c FROM %s',
		p.join_state::regclass), false, true, '')))[1]::text AS several_rows_a_chunk
FROM stream.cq c JOIN stream.positions p ON p.view = c.view AND p.join_state IS NOT NULL
WHERE c.view::text LIKE 'ck\_%' AND p.stream = 'ck_auctions'::regclass ORDER BY 1;
-- a side's state keeps only the columns stage 2 reads, and the event time
SELECT c.view, p.stream::regclass, string_agg(a.attname, ', ' ORDER BY a.attnum) AS state_columns
FROM stream.cq c JOIN stream.positions p ON p.view = c.view AND p.join_state IS NOT NULL
	JOIN pg_attribute a ON a.attrelid = p.join_state AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.view::text LIKE 'ck\_%' GROUP BY 1, 2 ORDER BY 1;
DROP MATERIALIZED VIEW ck_q8, ck_q8_right, ck_shift, ck_before;
DROP FUNCTION ck_check, ck_feed, ck_batch;
DROP FOREIGN TABLE ck_bids, ck_persons, ck_auctions;
DROP TABLE ck_bids_ref, ck_persons_ref, ck_auctions_ref;
