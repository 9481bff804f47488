-- Queries over a windowed aggregation (engine/stage.c): window top-N
-- (row_number, rank over the windows of an aggregation: Flink's window
-- top-N, Nexmark q5 and q7), an aggregation per window of the
-- aggregation (by the same window, or by a coarser one), the aggregation
-- joined with its own max on the window (q5 as published), a filter of
-- its rows, and the same over a deduplicated stream. In append mode a
-- window's rows are final together, and the outer query runs over the
-- windows each batch makes final. Each batch's
-- results are computed by hand in the comments and checked after it; each
-- view is also compared with its query run over a table of the same input
-- (EXCEPT ALL both ways), for the windows final so far.

-- 10-minute windows, watermark 5 minutes behind the latest ts
CREATE FOREIGN TABLE ch_bids (ts timestamptz, item text, price int, id int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE TABLE ch_ref (ts timestamptz, item text, price int, id int);
SET timezone = 'UTC';
-- the input, into the stream and (unless late) the reference table
CREATE FUNCTION ch_feed(rows text, late text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO ch_bids SELECT (''2000-01-01 '' || ts)::timestamptz, item, price, id FROM (VALUES %s) v(ts, item, price, id)', rows);
	EXECUTE format('INSERT INTO ch_ref SELECT (''2000-01-01 '' || ts)::timestamptz, item, price, id FROM (VALUES %s) v(ts, item, price, id)', rows);
	IF late IS NOT NULL THEN
		EXECUTE format('INSERT INTO ch_bids SELECT (''2000-01-01 '' || ts)::timestamptz, item, price, id FROM (VALUES %s) v(ts, item, price, id)', late);
	END IF;
END $$;
CREATE FUNCTION ch_batch() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'ch\_%' ORDER BY 1 LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
	END LOOP;
END $$;
CREATE VIEW ch_stats AS
	SELECT name, to_char(watermark, 'HH24:MI') AS watermark, state_rows, rows_late
	FROM stream.queries WHERE name::text LIKE 'ch\_%' ORDER BY name::text;
-- every view equal to its query over the table, for the windows final
CREATE FUNCTION ch_check(final_before text) RETURNS TABLE (view regclass, ok boolean)
LANGUAGE sql AS $$
	SELECT c.view, matches_batch(c.view, 'ch_bids', 'ch_ref',
								 format('w + interval ''10 minutes'' <= %L', '2000-01-01 ' || final_before))
	FROM stream.cq c WHERE c.view::text LIKE 'ch\_%' AND c.view::text <> 'ch_coarse' ORDER BY 1
$$;

-- the top 2 items of each window by bids (ties by name)
CREATE MATERIALIZED VIEW ch_top WITH (trigger = 'manual') AS
	SELECT w, item, n, rn FROM (
		SELECT w, item, n, row_number() OVER (PARTITION BY w ORDER BY n DESC, item) AS rn
		FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
			  FROM ch_bids GROUP BY 1, 2) x) y
	WHERE rn <= 2;
-- hot items (Nexmark q5): the items with the most bids, ties kept
CREATE MATERIALIZED VIEW ch_hot WITH (trigger = 'manual') AS
	SELECT w, item, n FROM (
		SELECT w, item, n, rank() OVER (PARTITION BY w ORDER BY n DESC) AS r
		FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
			  FROM ch_bids GROUP BY 1, 2) x) y
	WHERE r = 1;
-- the same as Nexmark q5 is published: the windowed count joined with its
-- own max per window (one aggregation, read twice, joined on the window)
CREATE MATERIALIZED VIEW ch_q5 WITH (trigger = 'manual') AS
	SELECT a.w, a.item, a.n
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
		  FROM ch_bids GROUP BY 1, 2) a
	JOIN (SELECT w, max(n) AS maxn
		  FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
				FROM ch_bids GROUP BY 1, 2) c
		  GROUP BY w) m
	ON a.w = m.w AND a.n >= m.maxn;
-- an aggregation of the aggregation, per window: the most bids an item
-- got, and how many items had bids
CREATE MATERIALIZED VIEW ch_max WITH (trigger = 'manual') AS
	SELECT w, max(n) AS maxn, count(*) AS items
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
		  FROM ch_bids GROUP BY 1, 2) x
	GROUP BY w;
-- a filter of the aggregation's rows (HAVING, one level up)
CREATE MATERIALIZED VIEW ch_big WITH (trigger = 'manual') AS
	SELECT * FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, sum(price) AS total
				   FROM ch_bids GROUP BY 1, 2) x
	WHERE total >= 10;
-- dedup -> aggregation -> top 1: each bid id once, the dearest item per window
CREATE MATERIALIZED VIEW ch_dtop WITH (trigger = 'manual') AS
	SELECT w, item, total FROM (
		SELECT w, item, total, dense_rank() OVER (PARTITION BY w ORDER BY total DESC) AS r
		FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, sum(price) AS total
			  FROM (SELECT DISTINCT ON (id) id, ts, item, price FROM ch_bids) d
			  GROUP BY 1, 2) x) y
	WHERE r <= 1;
-- an aggregation by a coarser window (30 minutes over 10): the most bids
-- an item got in 10 minutes, per half hour; the inner groups stay in the
-- state until their half hour is final
CREATE MATERIALIZED VIEW ch_coarse WITH (trigger = 'manual') AS
	SELECT stream.tumble(w, '30 minutes') AS w30, max(n) AS maxn, sum(n) AS bids, count(*) AS groups
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
		  FROM ch_bids GROUP BY 1, 2) x
	GROUP BY 1;
SELECT view, (SELECT output_mode FROM stream.queries q WHERE q.name = c.view) AS mode
FROM stream.cq c WHERE view::text LIKE 'ch\_%' ORDER BY 1;

-- batch 1: window 12:00: a 2, b 2, c 3 (prices a 5+6, b 1+2, c 1+1+1);
-- ids unique. Watermark after: 12:08 - 5 = 12:03: nothing final.
SELECT ch_feed($$('12:01', 'a', 5, 1), ('12:02', 'a', 6, 2), ('12:03', 'b', 1, 3), ('12:04', 'c', 1, 4),
				 ('12:05', 'c', 1, 5), ('12:06', 'c', 1, 6), ('12:08', 'b', 2, 7)$$);
SELECT ch_batch();
SELECT count(*) FROM ch_top;
SELECT count(*) FROM ch_max;
SELECT * FROM ch_stats;

-- batch 2 (watermark 12:03): 12:09 a joins 12:00 (a 3, total 5+6+1);
-- 12:10 - 12:20 gets a (12:11), b (12:12, 12:16). The watermark goes to 12:11 and the no-data batch makes 12:00 final:
--   ch_top: a 3 1, c 3 2 (row_number: ties by name)
--   ch_hot: a 3, c 3 (rank 1, a tie)
--   ch_max: 12:00 maxn 3, items 3
--   ch_big: a 12 (b 3 and c 3 are below 10)
--   ch_dtop: a 12 (ids once: a 5+6+1)
--   ch_coarse: nothing (12:00 - 12:30 is open); its state keeps 12:00's
--   groups: 5 state rows where the others have 2
SELECT ch_feed($$('12:11', 'a', 4, 8), ('12:12', 'b', 20, 9), ('12:09', 'a', 1, 10), ('12:16', 'b', 1, 11)$$);
SELECT ch_batch();
SELECT * FROM ch_top ORDER BY w, rn;
SELECT * FROM ch_hot ORDER BY w, item;
SELECT * FROM ch_max ORDER BY w;
SELECT * FROM ch_big ORDER BY w, item;
SELECT * FROM ch_dtop ORDER BY w, item;
SELECT * FROM ch_stats;
-- ch_q5 is ch_hot
SELECT count(*) FROM ((TABLE ch_q5 EXCEPT ALL TABLE ch_hot) UNION ALL (TABLE ch_hot EXCEPT ALL TABLE ch_q5)) d;

-- batch 3 (watermark 12:11): 12:07 c is late for 12:00 (final): dropped,
-- one late row in each view. 12:10 - 12:20 gets c (12:13, 12:14) and a
-- (12:19); the bid of id 9 again (12:15 c 50) is a duplicate for
-- ch_dtop, and counts for the others; 12:26 b opens 12:20 - 12:30. The
-- watermark goes to 12:21: 12:10 - 12:20 is final, with
-- a 2 (4 + 3), b 2 (20 + 1), c 3 (2 + 2 + 50):
--   ch_top: c 3 1, a 2 2 (a and b tie: by name)
--   ch_hot: c 3
--   ch_max: 12:10 maxn 3, items 3
--   ch_big: b 21, c 54
--   ch_dtop: b 21 (c is 2 + 2 without the duplicate)
--   ch_coarse: nothing; 12:00's and 12:10's groups and 12:20 b: 7 state rows
SELECT ch_feed($$('12:13', 'c', 2, 12), ('12:14', 'c', 2, 13), ('12:19', 'a', 3, 14), ('12:26', 'b', 7, 15)$$,
			   late => $$('12:07', 'c', 9, 16)$$);
INSERT INTO ch_bids VALUES ('2000-01-01 12:15', 'c', 50, 9);
INSERT INTO ch_ref VALUES ('2000-01-01 12:15', 'c', 50, 9);
SELECT ch_batch();
SELECT * FROM ch_top ORDER BY w, rn;
SELECT * FROM ch_hot ORDER BY w, item;
SELECT * FROM ch_max ORDER BY w;
SELECT * FROM ch_big ORDER BY w, item;
SELECT * FROM ch_dtop ORDER BY w, item;
SELECT * FROM ch_stats;

-- batch 4 (watermark 12:21): 12:40 d; the watermark goes to 12:35 and
-- 12:20 - 12:30 is final: b 1 (7), in every view but ch_big (7 < 10).
-- Only 12:40 - 12:50 stays in the state (ch_dtop: and the ids seen after
-- 12:30, 12:40 d's: DISTINCT ON keeps an id until its ts + 5 minutes).
SELECT ch_feed($$('12:40', 'd', 1, 17)$$);
SELECT ch_batch();
SELECT * FROM ch_top WHERE w >= '2000-01-01 12:20' ORDER BY w, rn;
SELECT * FROM ch_hot WHERE w >= '2000-01-01 12:20' ORDER BY w, item;
SELECT * FROM ch_max WHERE w >= '2000-01-01 12:20' ORDER BY w;
SELECT count(*) FROM ch_big WHERE w >= '2000-01-01 12:20';
SELECT * FROM ch_dtop WHERE w >= '2000-01-01 12:20' ORDER BY w, item;
-- 12:00 - 12:30 is final: maxn 3, 16 bids in 7 groups (the late 12:07 c
-- not counted); the state holds 12:40 d alone
SELECT * FROM ch_coarse;
SELECT * FROM ch_stats;
-- each view is its query over the same input, for the final windows
-- (ch_dtop's duplicate is in the table too, and dropped by its DISTINCT ON)
SELECT * FROM ch_check('12:35');
SELECT count(*) FROM ((TABLE ch_q5 EXCEPT ALL TABLE ch_hot) UNION ALL (TABLE ch_hot EXCEPT ALL TABLE ch_q5)) d;
SELECT matches_batch('ch_coarse', 'ch_bids', 'ch_ref', $$w30 + interval '30 minutes' <= '2000-01-01 12:35'$$);
-- a no-data batch changes nothing
SELECT ch_batch();
SELECT view, q.batches FROM stream.queries q JOIN stream.cq c ON c.view = q.name
WHERE view::text LIKE 'ch\_%' ORDER BY 1;

-- the windows written once, also to a sink (append mode)
CREATE TABLE ch_sink (w timestamptz, item text, n bigint);
CREATE MATERIALIZED VIEW ch_sunk WITH (trigger = 'manual', sink = 'ch_sink') AS
	SELECT w, item, n FROM (
		SELECT w, item, n, rank() OVER (PARTITION BY w ORDER BY n DESC) AS r
		FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
			  FROM ch_bids GROUP BY 1, 2) x) y
	WHERE r = 1;
SELECT ch_feed($$('12:41', 'd', 1, 18), ('12:42', 'e', 1, 19), ('12:58', 'e', 1, 20)$$);
SELECT ch_batch();
-- 12:40 - 12:50: d 1 (12:41; 12:40 d came before the view), e 1: a tie
SELECT * FROM ch_sink ORDER BY w, item;
SELECT * FROM ch_sunk ORDER BY w, item;

-- sliding windows: hot items per 10 minutes every 5 (Nexmark q5's shape)
CREATE MATERIALIZED VIEW ch_hop WITH (trigger = 'manual') AS
	SELECT w, item, n FROM (
		SELECT w, item, n, rank() OVER (PARTITION BY w ORDER BY n DESC) AS r
		FROM (SELECT h.w, b.item, count(*) AS n
			  FROM ch_bids b, stream.hop(b.ts, '10 minutes', '5 minutes') AS h(w)
			  GROUP BY 1, 2) x) y
	WHERE r = 1;
-- 13:00 f, 13:02 g, 13:04 g, 13:06 f, 13:07 f; then 13:30 moves the
-- watermark to 13:25: 12:55 - 13:05 g 2; 13:00 - 13:10 f 3; 13:05 - 13:15 f 2
-- (12:58 e came before the view)
SELECT ch_feed($$('13:00', 'f', 1, 21), ('13:02', 'g', 1, 22), ('13:04', 'g', 1, 23), ('13:06', 'f', 1, 24),
				 ('13:07', 'f', 1, 25)$$);
SELECT ch_feed($$('13:30', 'h', 1, 26)$$);
SELECT ch_batch();
SELECT * FROM ch_hop ORDER BY w, item;
-- 12:30 - 13:00 is final (watermark 13:25): 12:40 d 2, e 1, 12:50 e 1
SELECT * FROM ch_coarse ORDER BY w30;
SELECT matches_batch('ch_coarse', 'ch_bids', 'ch_ref', $$w30 + interval '30 minutes' <= '2000-01-01 13:25'$$);

-- a coarser window with another origin, on the inner windows' grid:
-- half hours from 20 past, over 10-minute windows
CREATE MATERIALIZED VIEW ch_half WITH (trigger = 'manual') AS
	SELECT stream.tumble(w, '30 minutes', '2000-01-01 00:20') AS w30, max(n) AS maxn,
		   sum(n) AS bids, count(*) AS groups
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
		  FROM ch_bids GROUP BY 1, 2) x
	GROUP BY 1;

-- defined WITH NO DATA (as pg_dump writes it), started by its REFRESH; a
-- level above may read a table (the items of interest)
CREATE TABLE ch_wanted (item text);
INSERT INTO ch_wanted VALUES ('f'), ('h');
CREATE MATERIALIZED VIEW ch_later AS
	SELECT * FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
				   FROM ch_bids GROUP BY 1, 2) x
	WHERE item IN (SELECT item FROM ch_wanted)
	WITH NO DATA;
REFRESH MATERIALIZED VIEW ch_later;
-- 13:40 f, 13:41 g, 13:42 h, then 14:00 closes 13:40 - 13:50: f 1, h 1
SELECT ch_feed($$('13:40', 'f', 1, 27), ('13:41', 'g', 1, 28), ('13:42', 'h', 1, 29), ('14:00', 'h', 1, 30)$$);
REFRESH MATERIALIZED VIEW ch_later;
SELECT * FROM ch_later ORDER BY w, item;
SELECT output_mode, state_rows FROM stream.queries WHERE name = 'ch_later'::regclass;
-- watermark 13:55: 13:20 - 13:50 is final for ch_half: f, g, h 1 each
-- (13:30 h came before the view); 14:00 h stays in its state
REFRESH MATERIALIZED VIEW ch_half;
SELECT * FROM ch_half ORDER BY w30;
SELECT state_rows FROM stream.queries WHERE name = 'ch_half'::regclass;
-- other modes are refused by ALTER too
ALTER MATERIALIZED VIEW ch_later SET (output_mode = 'update');
-- RESET (output_mode) leaves it append, as stream.queries says (it said
-- update, an aggregation's default), and other options leave it alone
ALTER MATERIALIZED VIEW ch_later RESET (output_mode);
SELECT output_mode FROM stream.queries WHERE name = 'ch_later'::regclass;
ALTER MATERIALIZED VIEW ch_later SET (max_batch_rows = 100), RESET (output_mode);
SELECT output_mode, trigger FROM stream.queries WHERE name = 'ch_later'::regclass;
SELECT obj_description('ch_later'::regclass);
DROP MATERIALIZED VIEW ch_later;
DROP TABLE ch_wanted;

-- the tables of the levels above are read as the owner: its creator
-- needs SELECT on them at CREATE, and each batch checks it again (a
-- REVOKE makes the next batch fail, it does not read as a superuser)
CREATE ROLE ch_alice;
GRANT USAGE, CREATE ON SCHEMA public TO ch_alice;
GRANT SELECT ON ch_bids TO ch_alice;
CREATE TABLE ch_wanted (item text);
INSERT INTO ch_wanted VALUES ('i');
SET ROLE ch_alice;
CREATE MATERIALIZED VIEW ch_alices WITH (trigger = 'manual') AS
	SELECT * FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
				   FROM ch_bids GROUP BY 1, 2) x
	WHERE item IN (SELECT item FROM ch_wanted);
RESET ROLE;
GRANT SELECT ON ch_wanted TO ch_alice;
SET ROLE ch_alice;
CREATE MATERIALIZED VIEW ch_alices WITH (trigger = 'manual') AS
	SELECT * FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
				   FROM ch_bids GROUP BY 1, 2) x
	WHERE item IN (SELECT item FROM ch_wanted);
RESET ROLE;
-- 14:10 i, 14:11 j, then 14:30 closes 14:10 - 14:20: i 1 (j is not wanted)
SELECT ch_feed($$('14:10', 'i', 1, 31), ('14:11', 'j', 1, 32), ('14:30', 'j', 1, 33)$$);
SET ROLE ch_alice;
REFRESH MATERIALIZED VIEW ch_alices;
SELECT * FROM ch_alices ORDER BY w, item;
RESET ROLE;
REVOKE SELECT ON ch_wanted FROM ch_alice;
SELECT ch_feed($$('14:50', 'i', 1, 34)$$);
SET ROLE ch_alice;
REFRESH MATERIALIZED VIEW ch_alices;
SELECT count(*) FROM ch_alices;
RESET ROLE;
-- watermark 14:45: 13:50 - 14:20 is final for ch_half: 14:00 h, 14:10 i,
-- 14:10 j; 14:30 j and 14:50 i stay in its state
REFRESH MATERIALIZED VIEW ch_half;
SELECT * FROM ch_half ORDER BY w30;
SELECT state_rows FROM stream.queries WHERE name = 'ch_half'::regclass;
-- its query over the table, for the windows after the view's start
WITH b AS (SELECT * FROM (
		SELECT stream.tumble(w, '30 minutes', '2000-01-01 00:20') AS w30, max(n) AS maxn,
			   sum(n) AS bids, count(*) AS groups
		FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
			  FROM ch_ref GROUP BY 1, 2) x
		GROUP BY 1) q
	WHERE w30 >= '2000-01-01 13:50' AND w30 + interval '30 minutes' <= '2000-01-01 14:45'),
	 v AS (SELECT * FROM ch_half WHERE w30 >= '2000-01-01 13:50')
SELECT (SELECT count(*) FROM (TABLE v EXCEPT ALL TABLE b) x) AS extra,
	   (SELECT count(*) FROM (TABLE b EXCEPT ALL TABLE v) x) AS missing;
DROP MATERIALIZED VIEW ch_half;
DROP MATERIALIZED VIEW ch_alices;
DROP TABLE ch_wanted;
REVOKE ALL ON SCHEMA public FROM ch_alice;
REVOKE ALL ON ch_bids FROM ch_alice;
DROP ROLE ch_alice;

-- refused, with a hint
CREATE MATERIALIZED VIEW ch_bad WITH (output_mode = 'update') AS
	SELECT * FROM (SELECT w, item, n, rank() OVER (PARTITION BY w ORDER BY n DESC) AS r
		FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
			  FROM ch_bids GROUP BY 1, 2) x) y WHERE r <= 3;
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT w, item, n, lag(n) OVER (PARTITION BY w ORDER BY n) AS prev
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
		  FROM ch_bids GROUP BY 1, 2) x;
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT w, item, n, rank() OVER (PARTITION BY item ORDER BY n) AS r
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
		  FROM ch_bids GROUP BY 1, 2) x;
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT item, r FROM (SELECT item, n, rank() OVER (ORDER BY n) AS r
		FROM (SELECT item, n FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
			  FROM ch_bids GROUP BY 1, 2) x) x2) y;
-- an outer window that does not hold whole inner windows (25 minutes; a
-- 30 minutes from 5 past, off the 10-minute grid); over sliding windows
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT stream.tumble(w, '25 minutes') AS w25, max(n) AS maxn
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
		  FROM ch_bids GROUP BY 1, 2) x GROUP BY 1;
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT stream.tumble(w, '30 minutes', '2000-01-01 00:05') AS w30, max(n) AS maxn
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
		  FROM ch_bids GROUP BY 1, 2) x GROUP BY 1;
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT stream.tumble(w, '30 minutes') AS w30, max(n) AS maxn
	FROM (SELECT h.w, b.item, count(*) AS n
		  FROM ch_bids b, stream.hop(b.ts, '10 minutes', '5 minutes') AS h(w) GROUP BY 1, 2) x
	GROUP BY 1;
-- joins: not on the window; two different aggregations; a stream and an
-- aggregation of it (Nexmark q7 as published)
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT a.w, a.item FROM
		(SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n FROM ch_bids GROUP BY 1, 2) a
	JOIN (SELECT w, max(n) AS maxn FROM
			(SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n FROM ch_bids GROUP BY 1, 2) c
		  GROUP BY w) m ON a.n >= m.maxn;
-- (two different aggregations joined on their windows, and the bids
-- joined with their window's max, are sql/agg_join.sql's)
-- an operator named "=" that is not the window type's equality: it may
-- be true of two windows (this one always is)
CREATE FUNCTION ch_anyeq(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql IMMUTABLE
	AS 'SELECT true';
CREATE OPERATOR public.= (leftarg = timestamptz, rightarg = timestamptz, function = ch_anyeq);
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT a.w, a.item, m.w AS mw FROM
		(SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n FROM ch_bids GROUP BY 1, 2) a
	JOIN (SELECT w, max(n) AS maxn FROM
			(SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n FROM ch_bids GROUP BY 1, 2) c
		  GROUP BY w) m ON a.w OPERATOR(public.=) m.w AND a.n >= m.maxn;
DROP OPERATOR public.= (timestamptz, timestamptz);
DROP FUNCTION ch_anyeq(timestamptz, timestamptz);
-- grouped by something else than the window
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT item, max(n) AS maxn
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, item, count(*) AS n
		  FROM ch_bids GROUP BY 1, 2) x GROUP BY 1;
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT * FROM (SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n
				   FROM ch_bids GROUP BY 1) x ORDER BY n LIMIT 3;
CREATE MATERIALIZED VIEW ch_bad WITH (retention = '1 day') AS
	SELECT * FROM (SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n
				   FROM ch_bids GROUP BY 1) x WHERE n > 1;
-- without a window, in append mode (update mode runs: sql/agg_agg.sql)
CREATE MATERIALIZED VIEW ch_bad WITH (output_mode = 'append') AS
	SELECT max(n) FROM (SELECT item, count(*) AS n FROM ch_bids GROUP BY 1) x;
-- a session window under it
CREATE MATERIALIZED VIEW ch_bad AS
	SELECT * FROM (SELECT item, stream.session(ts, '5 minutes') AS s, count(*) AS n
				   FROM ch_bids GROUP BY 1, 2) x WHERE n > 1;

DROP MATERIALIZED VIEW ch_top, ch_hot, ch_q5, ch_max, ch_big, ch_dtop, ch_sunk, ch_hop, ch_coarse;
SELECT count(*) FROM stream.cq WHERE view::text LIKE 'ch\_%';
DROP TABLE ch_sink, ch_ref;
DROP FOREIGN TABLE ch_bids;
