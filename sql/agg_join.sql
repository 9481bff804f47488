-- A windowed aggregation joined with another stream's rows, and two
-- different windowed aggregations joined on their windows
-- (engine/stage_side.c): Nexmark q7 and q8 as published, and outer
-- variants. A stream read beside the aggregation keeps its rows until the
-- window they join is final; the view's watermark is the least of its
-- streams'. Each batch's results are computed by hand in the comments and
-- checked after it; each view is also compared with its query run over
-- tables of the same input (EXCEPT ALL both ways), for the windows final
-- so far.

-- 10-minute windows, watermark 5 minutes behind the latest ts
CREATE FOREIGN TABLE aj_bids (ts timestamptz, item text, price int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE FOREIGN TABLE aj_persons (ts timestamptz, id int, name text) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE FOREIGN TABLE aj_auctions (ts timestamptz, id text, seller int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE TABLE aj_bids_ref (LIKE aj_bids);
CREATE TABLE aj_persons_ref (LIKE aj_persons);
CREATE TABLE aj_auctions_ref (LIKE aj_auctions);
SET timezone = 'UTC';
-- rows into a stream and (unless late) its reference table
CREATE FUNCTION aj_feed(s text, rows text, late boolean DEFAULT false) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO %I SELECT (''2000-01-01 '' || a)::timestamptz, b, c FROM (VALUES %s) v(a, b, c)',
				   s, rows);
	IF NOT late THEN
		EXECUTE format('INSERT INTO %I SELECT (''2000-01-01 '' || a)::timestamptz, b, c FROM (VALUES %s) v(a, b, c)',
					   s || '_ref', rows);
	END IF;
END $$;
CREATE FUNCTION aj_batch() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'aj\_%' ORDER BY 1 LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
	END LOOP;
END $$;
CREATE VIEW aj_stats AS
	SELECT name, to_char(watermark, 'HH24:MI') AS watermark, state_rows, rows_late
	FROM stream.queries WHERE name::text LIKE 'aj\_%' ORDER BY name::text;
-- every view equal to its query over the tables, for the windows final
-- under its watermark (those that end by it); aj_q7_between's a window
-- later (its bids at a window's end join the next window too)
CREATE FUNCTION aj_check() RETURNS TABLE (view regclass, ok boolean)
LANGUAGE sql AS $$
	SELECT c.view, matches_query(c.view, format('SELECT * FROM (%s) b WHERE stream.tumble(%s, ''10 minutes'') + interval ''10 minutes'' <= %L::timestamptz - %L::interval',
		replace(replace(replace(rtrim(pg_get_viewdef(c.view), ';'), 'aj_bids', 'aj_bids_ref'),
				'aj_persons', 'aj_persons_ref'), 'aj_auctions', 'aj_auctions_ref'),
		CASE WHEN c.view::text LIKE 'aj\_q8%' THEN 'starttime'
			 WHEN c.view::text = 'aj_q7_between' THEN 'w' ELSE 'ts' END, q.watermark,
		CASE WHEN c.view::text = 'aj_q7_between' THEN '10 minutes' ELSE '0' END))
	FROM stream.cq c JOIN stream.queries q ON q.name = c.view
	WHERE c.view::text LIKE 'aj\_%' ORDER BY 1
$$;

-- Nexmark q7 as published: the bids at the highest price of their window
CREATE MATERIALIZED VIEW aj_q7 WITH (trigger = 'manual') AS
	SELECT B.item, B.price, B.ts
	FROM aj_bids B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM aj_bids GROUP BY 2) B1
	  ON B.price = B1.maxprice AND stream.tumble(B.ts, '10 minutes') = B1.w;
-- an outer variant: every bid, with its window's max if it is within 5 of
-- it and the max is at least 10 (HAVING: a window may have no row)
CREATE MATERIALIZED VIEW aj_q7_left WITH (trigger = 'manual') AS
	SELECT B.item, B.price, B.ts, B1.maxprice
	FROM aj_bids B
	LEFT JOIN (SELECT stream.tumble(ts, '10 minutes') AS w, max(price) AS maxprice
			   FROM aj_bids GROUP BY 1 HAVING max(price) >= 10) B1
	  ON stream.tumble(B.ts, '10 minutes') = B1.w AND B.price >= B1.maxprice - 5;
-- q7 with the window as a range of the bids' event time: the same rows
CREATE MATERIALIZED VIEW aj_q7_range WITH (trigger = 'manual') AS
	SELECT B.item, B.price, B.ts
	FROM aj_bids B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM aj_bids GROUP BY 2) B1
	  ON B.price = B1.maxprice
	WHERE B.ts >= B1.w AND B.ts < B1.w + interval '10 minutes';
-- and as Nexmark writes it, BETWEEN both ends: a bid at a window's end
-- joins that window and the next
CREATE MATERIALIZED VIEW aj_q7_between WITH (trigger = 'manual') AS
	SELECT B.item, B.price, B.ts, B1.w
	FROM aj_bids B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM aj_bids GROUP BY 2) B1
	  ON B.price = B1.maxprice
	WHERE B.ts BETWEEN B1.w AND B1.w + interval '10 minutes';
-- Nexmark q8 as published: the persons who opened an auction in the
-- window they joined in (two different aggregations of two streams)
CREATE MATERIALIZED VIEW aj_q8 WITH (trigger = 'manual') AS
	SELECT P.id, P.name, P.starttime
	FROM (SELECT id, name, stream.tumble(ts, '10 minutes') AS starttime,
				 stream.tumble(ts, '10 minutes') + interval '10 minutes' AS endtime
		  FROM aj_persons GROUP BY id, name, stream.tumble(ts, '10 minutes')) P
	JOIN (SELECT seller, stream.tumble(ts, '10 minutes') AS starttime,
				 stream.tumble(ts, '10 minutes') + interval '10 minutes' AS endtime
		  FROM aj_auctions GROUP BY seller, stream.tumble(ts, '10 minutes')) A
	  ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
-- every person of a window, with the auctions it opened there (or NULL)
CREATE MATERIALIZED VIEW aj_q8_left WITH (trigger = 'manual') AS
	SELECT P.id, P.starttime, A.n
	FROM (SELECT id, stream.tumble(ts, '10 minutes') AS starttime
		  FROM aj_persons GROUP BY 1, 2) P
	LEFT JOIN (SELECT seller, stream.tumble(ts, '10 minutes') AS starttime, count(*) AS n
			   FROM aj_auctions GROUP BY 1, 2) A
	  ON P.id = A.seller AND P.starttime = A.starttime;
-- q8's auctions are read as a set (a GROUP BY without aggregates, their
-- time only as the window): its state keeps each seller's auctions of a
-- window once (a1 and a2 of seller 1 in 12:00 - 12:10 are one row of its
-- state_rows), with the window's start as their time. aj_q8_left's count
-- needs every row; here a WHERE reads the time itself, so each row is
-- kept with its own (as the window's start, 12:00, a1 12:03 and a2 12:04
-- would both be dropped, and 1 ann lost)
CREATE MATERIALIZED VIEW aj_q8_from WITH (trigger = 'manual') AS
	SELECT P.id, P.name, P.starttime
	FROM (SELECT id, name, stream.tumble(ts, '10 minutes') AS starttime
		  FROM aj_persons GROUP BY id, name, stream.tumble(ts, '10 minutes')) P
	JOIN (SELECT seller, stream.tumble(ts, '10 minutes') AS starttime
		  FROM aj_auctions WHERE ts >= timestamptz '2000-01-01 12:04+00'
		  GROUP BY seller, stream.tumble(ts, '10 minutes')) A
	  ON P.id = A.seller AND P.starttime = A.starttime;
SELECT c.view, p.stream::regclass, s.relname LIKE 'side\_%' AS side_state
FROM stream.cq c JOIN stream.positions p ON p.view = c.view
	JOIN pg_class s ON s.oid = p.join_state
WHERE c.view::text LIKE 'aj\_%' ORDER BY 1, 2::text;

-- batch 1: bids a 10 12:01, b 30 12:03, c 30 12:05, d 20 12:08; no
-- watermark yet, nothing final. Persons 1 ann 12:01, 2 bob 12:02, 3 cid
-- 12:06; auctions a1 (seller 1) 12:03, a2 (1) 12:04, a3 (9) 12:07.
-- Watermarks after: bids 12:03; persons 12:01, auctions 12:02: 12:01.
-- State: the bid views 1 group + 4 bids; aj_q8 3 groups + 2 auctions (a1
-- and a2 are one row: seller 1, 12:00); aj_q8_left and aj_q8_from 3 + 3.
SELECT aj_feed('aj_bids', $$('12:01', 'a', 10), ('12:03', 'b', 30), ('12:05', 'c', 30), ('12:08', 'd', 20)$$);
SELECT aj_feed('aj_persons', $$('12:01', 1, 'ann'), ('12:02', 2, 'bob'), ('12:06', 3, 'cid')$$);
SELECT aj_feed('aj_auctions', $$('12:03', 'a1', 1), ('12:04', 'a2', 1), ('12:07', 'a3', 9)$$);
SELECT aj_batch();
SELECT * FROM aj_stats;
SELECT count(*) FROM aj_q7;
SELECT * FROM aj_check();

-- batch 2 (watermark 12:03 for the bids: windows before 12:00 final):
-- bids e 40 12:11, f 15 12:12, g 40 12:16, h 35 12:09 (not late: its
-- window is open; the max of 12:00 - 12:10 is now 35). Watermark 12:11:
-- the no-data batch makes 12:00 - 12:10 final: aj_q7 writes h 35;
-- aj_q7_left a 10 -, b 30 35, c 30 35, d 20 -, h 35 35. The bids of that
-- window leave the state: e f g are left (and the 12:10 group).
-- aj_q7_between hands a window on a window later (a bid at 12:10, not
-- late, would join 12:00 too): it writes nothing yet, and keeps the
-- 12:00 group and its bids.
-- Persons 4 dan 12:12, 2 bob 12:14; auctions a4 (3) 12:08: persons'
-- watermark 12:09, auctions' 12:03: the view's 12:03, nothing final.
SELECT aj_feed('aj_bids', $$('12:11', 'e', 40), ('12:12', 'f', 15), ('12:16', 'g', 40), ('12:09', 'h', 35)$$);
SELECT aj_feed('aj_persons', $$('12:12', 4, 'dan'), ('12:14', 2, 'bob')$$);
SELECT aj_feed('aj_auctions', $$('12:08', 'a4', 3)$$);
SELECT aj_batch();
SELECT * FROM aj_stats;
SELECT * FROM aj_q7 ORDER BY ts;
SELECT * FROM aj_q7_between ORDER BY w, ts;
SELECT * FROM aj_q7_left ORDER BY ts;
SELECT count(*) FROM aj_q8;
SELECT * FROM aj_check();

-- batch 3: bids i 40 12:13, m 40 12:20, j 99 12:07 (late: 12:00 - 12:10
-- is final, rows_late 1, in every bid view), k 5 12:26: watermark 12:21,
-- the no-data batch makes 12:10 - 12:20 final (max 40): aj_q7 and
-- aj_q7_range write e, i, g; aj_q7_between hands 12:00 on: h 35;
-- aj_q7_left e 40 40, f 15 -, i 40 40, g 40 40; k and m are left.
-- Auctions a5 (4) 12:16, a6 (2) 12:15: auctions' watermark 12:11, the
-- persons' still 12:09: the view's 12:09, 12:00 - 12:10 not final yet.
SELECT aj_feed('aj_bids', $$('12:13', 'i', 40), ('12:20', 'm', 40), ('12:26', 'k', 5)$$);
SELECT aj_feed('aj_bids', $$('12:07', 'j', 99)$$, true);
SELECT aj_feed('aj_auctions', $$('12:16', 'a5', 4), ('12:15', 'a6', 2)$$);
SELECT aj_batch();
SELECT * FROM aj_stats;
SELECT * FROM aj_q7 ORDER BY ts;
SELECT * FROM aj_q7_between ORDER BY w, ts;
SELECT * FROM aj_q7_left ORDER BY ts;
SELECT count(*) FROM aj_q8;
SELECT * FROM aj_check();

-- batch 4: bids l 1 12:40: watermark 12:35, 12:20 - 12:30 final, max 40
-- (m): aj_q7 writes m 40; aj_q7_between hands 12:10 on: e, i, g and m
-- (12:20 is that window's end too), and keeps m (it joins 12:20 too,
-- handed on once the watermark is 12:40); aj_q7_left k 5 -, m 40 40.
-- Persons 5 eve 12:22; auctions a7 (2) 12:05: not late (the view's
-- watermark is 12:09, 12:00 - 12:10 is open). Persons' watermark 12:17,
-- auctions' 12:11: the no-data batch at 12:11 makes 12:00 - 12:10 final:
-- persons 1 ann, 2 bob, 3 cid; sellers 1, 9, 3, 2. aj_q8 writes 1 ann,
-- 2 bob, 3 cid; aj_q8_left 1 2, 2 1, 3 1; aj_q8_from as aj_q8 (a2 12:04
-- is seller 1's).
SELECT aj_feed('aj_bids', $$('12:40', 'l', 1)$$);
SELECT aj_feed('aj_persons', $$('12:22', 5, 'eve')$$);
SELECT aj_feed('aj_auctions', $$('12:05', 'a7', 2)$$);
SELECT aj_batch();
SELECT * FROM aj_stats;
SELECT * FROM aj_q7 ORDER BY ts;
SELECT * FROM aj_q7_between ORDER BY w, ts;
SELECT * FROM aj_q7_left ORDER BY ts;
SELECT * FROM aj_q8 ORDER BY starttime, id;
SELECT * FROM aj_q8_left ORDER BY starttime, id;
SELECT * FROM aj_q8_from ORDER BY starttime, id;
SELECT * FROM aj_check();

-- batch 5: auctions a8 (1) 12:09, late (12:00 - 12:10 is final: rows_late
-- 1 in the q8 views), a9 (5) 12:30; persons 6 fay 12:31. Watermarks
-- 12:26 and 12:25: 12:25, 12:10 - 12:20 final: persons 4 dan, 2 bob;
-- sellers 4, 2: aj_q8 writes 2 bob, 4 dan; aj_q8_left 2 1, 4 1.
SELECT aj_feed('aj_auctions', $$('12:09', 'a8', 1)$$, true);
SELECT aj_feed('aj_auctions', $$('12:30', 'a9', 5)$$);
SELECT aj_feed('aj_persons', $$('12:31', 6, 'fay')$$);
SELECT aj_batch();
SELECT * FROM aj_stats;
SELECT * FROM aj_q8 ORDER BY starttime, id;
SELECT * FROM aj_q8_left ORDER BY starttime, id;
SELECT * FROM aj_check();

-- batch 6: persons 7 gus 12:50, auctions a10 (7) 12:50: watermark 12:45,
-- 12:20 - 12:30 and 12:30 - 12:40 final: eve and fay opened none there
-- (a9's seller 5 is nobody of 12:30): aj_q8 writes nothing, aj_q8_left
-- 5 -, 6 -. Left in state: gus's group and a10.
SELECT aj_feed('aj_persons', $$('12:50', 7, 'gus')$$);
SELECT aj_feed('aj_auctions', $$('12:50', 'a10', 7)$$);
SELECT aj_batch();
SELECT * FROM aj_stats;
SELECT * FROM aj_q8 ORDER BY starttime, id;
SELECT * FROM aj_q8_left ORDER BY starttime, id;
SELECT * FROM aj_check();
SELECT p.view, s.relname IS NOT NULL AS has_side, p.state_rows
FROM stream.positions p LEFT JOIN pg_class s ON s.oid = p.join_state
WHERE p.view::text LIKE 'aj\_q8%' ORDER BY 1, p.stream::regclass::text;

-- A range wider than a window: a window waits, not final for stage 2,
-- until no bid that is not late can join it (w + b <= the cut, whole
-- windows: here one, 10 minutes behind the watermark); lateness stays
-- on the watermark. aj_edge_between: BETWEEN (a bid at 12:10 joins 12:00
-- and 12:10); aj_edge_shift: ts >= w + 5 min AND ts < w + 15 min (a bid
-- at 12:10 - 12:15 joins 12:00 only); aj_edge_wide: ts >= w AND ts < w +
-- 25 min, two windows behind. Batch 1: a 10 12:01, b 5 12:16: watermark
-- 12:11, 12:00 - 12:10 final, but not handed on: aj_edge_between and
-- aj_edge_shift write nothing yet. Batch 2: c 10 12:10, e 10 12:12 (not
-- late for the max: 12:10 - 12:20 is open), d 1 12:30: watermark 12:25,
-- 12:00 handed on (max 10): aj_edge_between writes a and c for 12:00,
-- aj_edge_shift c and e for 12:00. And x 10 12:07, late (12:00 - 12:10
-- is final): aj_edge_early (ts >= w - 5 min AND ts < w + 10 min, no lag)
-- would join it with 12:10 (max 10), but a row late for the max is late
-- for the join too: it writes a for 12:00 (batch 1), c and e for 12:10.
-- rows_late: x only, in every view. aj_edge_side's watermark is 11:57 in
-- batch 2 (aj_edge2's), x is not late there; then 12:25: 12:00 - 12:10
-- final, max 10, with s; n is dropped, rows_late 0; left: d's group and
-- t. Batch 3: g 1 12:40: watermark 12:35, 12:10 handed on (max 10):
-- aj_edge_between writes c and e for 12:10, aj_edge_shift nothing (b is
-- 5), aj_edge_wide (12:00 handed on only now) a, c, e for 12:00. After
-- each batch every view is its query over the rows not late
-- (aj_edge_ref), of the windows handed on.
CREATE FOREIGN TABLE aj_edge (ts timestamptz, item text, price int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE MATERIALIZED VIEW aj_edge_between WITH (trigger = 'manual') AS
	SELECT B.item, B.price, B.ts, B1.w
	FROM aj_edge B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM aj_edge GROUP BY 2) B1
	  ON B.price = B1.maxprice
	WHERE B.ts BETWEEN B1.w AND B1.w + interval '10 minutes';
CREATE MATERIALIZED VIEW aj_edge_shift WITH (trigger = 'manual') AS
	SELECT B.item, B.price, B.ts, B1.w
	FROM aj_edge B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM aj_edge GROUP BY 2) B1
	  ON B.price = B1.maxprice
	WHERE B.ts >= B1.w + interval '5 minutes' AND B.ts < B1.w + interval '15 minutes';
CREATE MATERIALIZED VIEW aj_edge_early WITH (trigger = 'manual') AS
	SELECT B.item, B.price, B.ts, B1.w
	FROM aj_edge B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM aj_edge GROUP BY 2) B1
	  ON B.price = B1.maxprice
	WHERE B.ts >= B1.w - interval '5 minutes' AND B.ts < B1.w + interval '10 minutes';
CREATE MATERIALIZED VIEW aj_edge_wide WITH (trigger = 'manual') AS
	SELECT B.item, B.price, B.ts, B1.w
	FROM aj_edge B
	JOIN (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM aj_edge GROUP BY 2) B1
	  ON B.price = B1.maxprice
	WHERE B.ts >= B1.w AND B.ts < B1.w + interval '25 minutes';
CREATE TABLE aj_edge_ref (ts timestamptz, item text, price int);
CREATE FUNCTION aj_edge_check() RETURNS TABLE (view regclass, ok boolean)
LANGUAGE sql AS $$
	SELECT c.view, matches_query(c.view, format('SELECT * FROM (%s) b WHERE w + interval ''10 minutes'' <= %L::timestamptz - %L::interval',
		regexp_replace(rtrim(pg_get_viewdef(c.view), ';'), '\maj_edge(2?)\M', 'aj_edge\1_ref', 'g'),
		q.watermark, l.lag))
	FROM stream.cq c JOIN stream.queries q ON q.name = c.view
	JOIN (VALUES ('aj_edge_between', '10 minutes'), ('aj_edge_shift', '10 minutes'),
				 ('aj_edge_early', '0'), ('aj_edge_wide', '20 minutes'),
				 ('aj_edge_before', '10 minutes')) l(name, lag)
	  ON l.name = c.view::text
	ORDER BY 1
$$;
-- and another stream beside the max, with a row without event time: it
-- joins no window and is dropped, not counted late
CREATE FOREIGN TABLE aj_edge2 (ts timestamptz, item text, price int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE MATERIALIZED VIEW aj_edge_side WITH (trigger = 'manual') AS
	SELECT B1.w, B1.maxprice, S.item
	FROM (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM aj_edge GROUP BY 2) B1
	JOIN aj_edge2 S ON stream.tumble(S.ts, '10 minutes') = B1.w;
-- and one joined by a range reaching before the window: a row of
-- aj_edge2 at cut - 5 min is not late (it joins the open window cut) but
-- joins the final one before too, which waits a window for it.
-- aj_edge_before's watermark is aj_edge2's 11:57 after batch 1, 12:25
-- after 2 (12:00 handed on at 12:25 - 10 min: max 10, with s), 12:35
-- after 3; batch 3 (run with 12:25, cut 12:20) brings u 12:17, not late
-- (>= 12:15), and hands 12:10 on: max 10, with u (and keeps u for
-- 12:20). rows_late 0 (x is not late there either).
CREATE MATERIALIZED VIEW aj_edge_before WITH (trigger = 'manual') AS
	SELECT B1.w, B1.maxprice, S.item
	FROM (SELECT max(price) AS maxprice, stream.tumble(ts, '10 minutes') AS w
		  FROM aj_edge GROUP BY 2) B1
	JOIN aj_edge2 S ON S.ts >= B1.w - interval '5 minutes' AND S.ts < B1.w + interval '10 minutes';
CREATE TABLE aj_edge2_ref (ts timestamptz, item text, price int);
INSERT INTO aj_edge VALUES ('2000-01-01 12:01', 'a', 10), ('2000-01-01 12:16', 'b', 5);
INSERT INTO aj_edge_ref VALUES ('2000-01-01 12:01', 'a', 10), ('2000-01-01 12:16', 'b', 5);
INSERT INTO aj_edge2 VALUES ('2000-01-01 12:02', 's', 1), (NULL, 'n', 2);
INSERT INTO aj_edge2_ref VALUES ('2000-01-01 12:02', 's', 1), (NULL, 'n', 2);
REFRESH MATERIALIZED VIEW aj_edge_side;
REFRESH MATERIALIZED VIEW aj_edge_between;
REFRESH MATERIALIZED VIEW aj_edge_between;
REFRESH MATERIALIZED VIEW aj_edge_shift;
REFRESH MATERIALIZED VIEW aj_edge_shift;
REFRESH MATERIALIZED VIEW aj_edge_early;
REFRESH MATERIALIZED VIEW aj_edge_early;
REFRESH MATERIALIZED VIEW aj_edge_wide;
REFRESH MATERIALIZED VIEW aj_edge_wide;
REFRESH MATERIALIZED VIEW aj_edge_before;
REFRESH MATERIALIZED VIEW aj_edge_before;
SELECT count(*) FROM aj_edge_between;
SELECT count(*) FROM aj_edge_shift;
SELECT * FROM aj_edge_check();
INSERT INTO aj_edge VALUES ('2000-01-01 12:10', 'c', 10), ('2000-01-01 12:12', 'e', 10),
	('2000-01-01 12:30', 'd', 1), ('2000-01-01 12:07', 'x', 10);
INSERT INTO aj_edge_ref VALUES ('2000-01-01 12:10', 'c', 10), ('2000-01-01 12:12', 'e', 10),
	('2000-01-01 12:30', 'd', 1);
INSERT INTO aj_edge2 VALUES ('2000-01-01 12:40', 't', 1);
INSERT INTO aj_edge2_ref VALUES ('2000-01-01 12:40', 't', 1);
REFRESH MATERIALIZED VIEW aj_edge_side;
REFRESH MATERIALIZED VIEW aj_edge_side;
REFRESH MATERIALIZED VIEW aj_edge_between;
REFRESH MATERIALIZED VIEW aj_edge_between;
REFRESH MATERIALIZED VIEW aj_edge_shift;
REFRESH MATERIALIZED VIEW aj_edge_shift;
REFRESH MATERIALIZED VIEW aj_edge_early;
REFRESH MATERIALIZED VIEW aj_edge_early;
REFRESH MATERIALIZED VIEW aj_edge_wide;
REFRESH MATERIALIZED VIEW aj_edge_wide;
REFRESH MATERIALIZED VIEW aj_edge_before;
REFRESH MATERIALIZED VIEW aj_edge_before;
SELECT name, to_char(watermark, 'HH24:MI') AS watermark, state_rows, rows_late
FROM stream.queries WHERE name::text LIKE 'aj\_edge%' ORDER BY name::text;
SELECT item, price, to_char(ts, 'HH24:MI') AS ts, to_char(w, 'HH24:MI') AS w
FROM aj_edge_between ORDER BY w, ts;
SELECT item, price, to_char(ts, 'HH24:MI') AS ts, to_char(w, 'HH24:MI') AS w
FROM aj_edge_shift ORDER BY w, ts;
SELECT count(*) FROM aj_edge_wide;
SELECT to_char(w, 'HH24:MI') AS w, maxprice, item FROM aj_edge_side ORDER BY 1, 3;
SELECT item, price, to_char(ts, 'HH24:MI') AS ts, to_char(w, 'HH24:MI') AS w
FROM aj_edge_early ORDER BY w, ts;
SELECT * FROM aj_edge_check();
INSERT INTO aj_edge VALUES ('2000-01-01 12:40', 'g', 1);
INSERT INTO aj_edge_ref VALUES ('2000-01-01 12:40', 'g', 1);
INSERT INTO aj_edge2 VALUES ('2000-01-01 12:17', 'u', 1);
INSERT INTO aj_edge2_ref VALUES ('2000-01-01 12:17', 'u', 1);
REFRESH MATERIALIZED VIEW aj_edge_between;
REFRESH MATERIALIZED VIEW aj_edge_between;
REFRESH MATERIALIZED VIEW aj_edge_shift;
REFRESH MATERIALIZED VIEW aj_edge_shift;
REFRESH MATERIALIZED VIEW aj_edge_early;
REFRESH MATERIALIZED VIEW aj_edge_early;
REFRESH MATERIALIZED VIEW aj_edge_wide;
REFRESH MATERIALIZED VIEW aj_edge_wide;
REFRESH MATERIALIZED VIEW aj_edge_before;
REFRESH MATERIALIZED VIEW aj_edge_before;
SELECT name, to_char(watermark, 'HH24:MI') AS watermark, state_rows, rows_late
FROM stream.queries WHERE name::text LIKE 'aj\_edge%' ORDER BY name::text;
SELECT item, price, to_char(ts, 'HH24:MI') AS ts, to_char(w, 'HH24:MI') AS w
FROM aj_edge_between ORDER BY w, ts;
SELECT count(*) FROM aj_edge_shift;
SELECT item, price, to_char(ts, 'HH24:MI') AS ts, to_char(w, 'HH24:MI') AS w
FROM aj_edge_wide ORDER BY w, ts;
SELECT to_char(w, 'HH24:MI') AS w, maxprice, item FROM aj_edge_before ORDER BY 1, 3;
SELECT * FROM aj_edge_check();
-- each batch reads the side's new rows as the owner, with the owner's
-- search_path: an operator of the same name earlier in it is not used
CREATE FUNCTION aj_evil_ge(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'public.>= ran';
	RETURN $1 OPERATOR(pg_catalog.>=) $2;
END $$;
CREATE OPERATOR public.>= (FUNCTION = aj_evil_ge, LEFTARG = timestamptz, RIGHTARG = timestamptz);
ALTER ROLE CURRENT_USER SET search_path = public, pg_catalog;
\c
INSERT INTO aj_edge VALUES ('2000-01-01 12:31', 'f', 2);
REFRESH MATERIALIZED VIEW aj_edge_shift;
ALTER ROLE CURRENT_USER RESET search_path;
\c
SET timezone = 'UTC';
DROP OPERATOR public.>= (timestamptz, timestamptz);
DROP FUNCTION aj_evil_ge;
-- the stream's columns may not change while the view keeps its rows
ALTER FOREIGN TABLE aj_edge ADD COLUMN extra text;
ALTER FOREIGN TABLE aj_edge DROP COLUMN item;
DROP MATERIALIZED VIEW aj_edge_between, aj_edge_shift, aj_edge_early, aj_edge_side, aj_edge_wide,
	aj_edge_before;
DROP FUNCTION aj_edge_check;
DROP TABLE aj_edge_ref, aj_edge2_ref;
ALTER FOREIGN TABLE aj_edge ADD COLUMN extra text;
DROP FOREIGN TABLE aj_edge, aj_edge2;

-- refused, with a hint
CREATE FOREIGN TABLE aj_nowm (ts timestamptz, item text, price int) SERVER stream
	OPTIONS (event_time 'ts');
-- the stream beside has no watermark
CREATE MATERIALIZED VIEW aj_bad AS
	SELECT B.item FROM aj_nowm B
	JOIN (SELECT max(price) AS m, stream.tumble(ts, '10 minutes') AS w FROM aj_bids GROUP BY 2) B1
	  ON B.price = B1.m AND stream.tumble(B.ts, '10 minutes') = B1.w;
-- not joined on the window
CREATE MATERIALIZED VIEW aj_bad AS
	SELECT B.item FROM aj_bids B
	JOIN (SELECT max(price) AS m, stream.tumble(ts, '10 minutes') AS w FROM aj_bids GROUP BY 2) B1
	  ON B.price = B1.m;
-- another window size
CREATE MATERIALIZED VIEW aj_bad AS
	SELECT B.item FROM aj_bids B
	JOIN (SELECT max(price) AS m, stream.tumble(ts, '10 minutes') AS w FROM aj_bids GROUP BY 2) B1
	  ON B.price = B1.m AND stream.tumble(B.ts, '5 minutes') = B1.w;
-- sliding windows: a row would join several
CREATE MATERIALIZED VIEW aj_bad AS
	SELECT B.item FROM aj_bids B
	JOIN (SELECT max(b.price) AS m, h.window_start AS w
		  FROM aj_bids b, stream.hop(b.ts, '10 minutes', '5 minutes') AS h(window_start) GROUP BY 2) B1
	  ON B.price = B1.m AND stream.tumble(B.ts, '10 minutes') = B1.w;
-- bounded on one side only: a bid would wait for every later window
CREATE MATERIALIZED VIEW aj_bad AS
	SELECT B.item FROM aj_bids B
	JOIN (SELECT max(price) AS m, stream.tumble(ts, '10 minutes') AS w FROM aj_bids GROUP BY 2) B1
	  ON B.price = B1.m AND B.ts >= B1.w;
-- an outer join on a range: a bid read in two batches would be NULL-padded twice
CREATE MATERIALIZED VIEW aj_bad AS
	SELECT B.item FROM aj_bids B
	LEFT JOIN (SELECT max(price) AS m, stream.tumble(ts, '10 minutes') AS w FROM aj_bids GROUP BY 2) B1
	  ON B.price = B1.m AND B.ts BETWEEN B1.w AND B1.w + interval '10 minutes';
-- the second aggregation not by the window
CREATE MATERIALIZED VIEW aj_bad AS
	SELECT P.id FROM (SELECT id, stream.tumble(ts, '10 minutes') AS w FROM aj_persons GROUP BY 1, 2) P
	JOIN (SELECT seller, count(*) AS n FROM aj_auctions GROUP BY 1) A ON P.id = A.seller;
-- the stream read through a subquery that drops its event time
CREATE MATERIALIZED VIEW aj_bad AS
	SELECT B.item FROM (SELECT item, price FROM aj_bids) B
	JOIN (SELECT max(price) AS m, stream.tumble(ts, '10 minutes') AS w FROM aj_bids GROUP BY 2) B1
	  ON B.price = B1.m;
-- a stream read twice beside the aggregation
CREATE MATERIALIZED VIEW aj_bad AS
	SELECT B.id FROM aj_auctions B, aj_auctions C,
	(SELECT id, stream.tumble(ts, '10 minutes') AS w FROM aj_persons GROUP BY 1, 2) P
	WHERE stream.tumble(B.ts, '10 minutes') = P.w AND stream.tumble(C.ts, '10 minutes') = P.w;

-- the creator needs SELECT on the stream beside too (each batch reads it as the owner)
CREATE ROLE aj_role;
GRANT USAGE ON SCHEMA public TO aj_role;
GRANT CREATE ON SCHEMA public TO aj_role;
GRANT SELECT ON aj_persons TO aj_role;
SET ROLE aj_role;
CREATE MATERIALIZED VIEW aj_bad AS
	SELECT P.id FROM (SELECT id, stream.tumble(ts, '10 minutes') AS w FROM aj_persons GROUP BY 1, 2) P
	JOIN (SELECT seller, stream.tumble(ts, '10 minutes') AS w FROM aj_auctions GROUP BY 1, 2) A
	  ON P.id = A.seller AND P.w = A.w;
RESET ROLE;
REVOKE ALL ON SCHEMA public FROM aj_role;
REVOKE ALL ON aj_persons FROM aj_role;
DROP ROLE aj_role;

DROP MATERIALIZED VIEW aj_q7, aj_q7_range, aj_q7_between, aj_q7_left, aj_q8, aj_q8_left, aj_q8_from;
-- their side states went with them
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'stream' AND c.relname LIKE 'side\_%';
DROP FOREIGN TABLE aj_bids, aj_persons, aj_auctions, aj_nowm;
DROP TABLE aj_bids_ref, aj_persons_ref, aj_auctions_ref;
DROP VIEW aj_stats;
DROP FUNCTION aj_feed, aj_batch, aj_check;
