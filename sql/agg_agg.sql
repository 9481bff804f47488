-- A query over an aggregation without a window (engine/reagg.c): Nexmark
-- q4 as published, the average closing price per category over the max
-- bid of each auction, and other aggregations, a filter and a
-- re-grouping by an aggregate over the same inner aggregation. In update
-- mode with retraction: after each batch the view is the outer query
-- over the inner aggregation's rows, an inner group's old row out and
-- its new one in. Each batch's results are computed by hand in the
-- comments and checked after it, and each view is compared with its
-- query run over tables of the same input (EXCEPT ALL both ways).
SET timezone = 'UTC';
CREATE FOREIGN TABLE aa_auction (id int, category int, ts timestamptz, expires timestamptz)
	SERVER stream OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE FOREIGN TABLE aa_bid (auction int, price int, ts timestamptz)
	SERVER stream OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE TABLE aa_auctions (id int, category int, ts timestamptz, expires timestamptz);
CREATE TABLE aa_bids (auction int, price int, ts timestamptz);
-- the input, into the streams and (but the late bids) the tables
CREATE FUNCTION aa_feed(auctions text, bids text, late text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF auctions IS NOT NULL THEN
		EXECUTE format('INSERT INTO aa_auction SELECT id, cat, (''2000-01-01 '' || ts)::timestamptz, (''2000-01-01 '' || ex)::timestamptz FROM (VALUES %s) v(id, cat, ts, ex)', auctions);
		EXECUTE format('INSERT INTO aa_auctions SELECT id, cat, (''2000-01-01 '' || ts)::timestamptz, (''2000-01-01 '' || ex)::timestamptz FROM (VALUES %s) v(id, cat, ts, ex)', auctions);
	END IF;
	EXECUTE format('INSERT INTO aa_bid SELECT a, p, (''2000-01-01 '' || ts)::timestamptz FROM (VALUES %s) v(a, p, ts)', bids);
	EXECUTE format('INSERT INTO aa_bids SELECT a, p, (''2000-01-01 '' || ts)::timestamptz FROM (VALUES %s) v(a, p, ts)', bids);
	IF late IS NOT NULL THEN
		EXECUTE format('INSERT INTO aa_bid SELECT a, p, (''2000-01-01 '' || ts)::timestamptz FROM (VALUES %s) v(a, p, ts)', late);
	END IF;
END $$;
CREATE FUNCTION aa_batch() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'aa\_%' ORDER BY 1 LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
	END LOOP;
END $$;
CREATE FUNCTION aa_check() RETURNS TABLE (view regclass, ok boolean) LANGUAGE sql AS $$
	SELECT c.view, matches_query(c.view,
		replace(replace(rtrim(pg_get_viewdef(c.view), ';'), 'aa_auction ', 'aa_auctions '), 'aa_bid ', 'aa_bids '))
	FROM stream.cq c WHERE c.view::text LIKE 'aa\_%' AND c.view::text <> 'aa_win' ORDER BY 1
$$;
CREATE VIEW aa_stats AS
	SELECT name, output_mode, to_char(watermark, 'HH24:MI') AS watermark, state_rows, rows_late
	FROM stream.queries WHERE name::text LIKE 'aa\_%' ORDER BY name::text;

-- Nexmark q4 as published
CREATE MATERIALIZED VIEW aa_q4 WITH (trigger = 'manual') AS
	SELECT Q.category, AVG(Q.final) AS avg FROM (
		SELECT MAX(B.price) AS final, A.category FROM aa_auction A, aa_bid B
		WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
		GROUP BY A.id, A.category) Q
	GROUP BY Q.category;
-- max, count and HAVING over the same: recomputed, not inverted
CREATE MATERIALIZED VIEW aa_best WITH (trigger = 'manual') AS
	SELECT Q.category, max(Q.final) AS best, count(*) AS auctions FROM (
		SELECT MAX(B.price) AS final, A.category FROM aa_auction A, aa_bid B
		WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
		GROUP BY A.id, A.category) Q
	GROUP BY Q.category HAVING count(*) >= 2;
-- grouped by the inner aggregate: a changed max moves its auction to another group
CREATE MATERIALIZED VIEW aa_hist WITH (trigger = 'manual') AS
	SELECT Q.final, count(*) AS auctions FROM (
		SELECT MAX(B.price) AS final, A.category FROM aa_auction A, aa_bid B
		WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
		GROUP BY A.id, A.category) Q
	GROUP BY Q.final;
-- a filter: equal rows are kept as many times as they are in the result
CREATE MATERIALIZED VIEW aa_high WITH (trigger = 'manual') AS
	SELECT Q.final, Q.category FROM (
		SELECT MAX(B.price) AS final, A.category FROM aa_auction A, aa_bid B
		WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
		GROUP BY A.id, A.category) Q
	WHERE Q.final >= 20;
-- a global aggregate over it: its row from the start, over no auctions;
-- and the same defined WITH NO DATA (as pg_dump writes it), started by
-- its REFRESH
CREATE MATERIALIZED VIEW aa_sum WITH (trigger = 'manual') AS
	SELECT count(*) AS auctions, sum(Q.final) AS total FROM (
		SELECT MAX(B.price) AS final, A.category FROM aa_auction A, aa_bid B
		WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
		GROUP BY A.id, A.category) Q;
CREATE MATERIALIZED VIEW aa_sum2 AS
	SELECT count(*) AS auctions, sum(Q.final) AS total FROM (
		SELECT MAX(B.price) AS final, A.category FROM aa_auction A, aa_bid B
		WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
		GROUP BY A.id, A.category) Q
	WITH NO DATA;
REFRESH MATERIALIZED VIEW aa_sum2;
ALTER MATERIALIZED VIEW aa_sum2 SET (trigger = 'manual');
SELECT * FROM aa_sum;
SELECT * FROM aa_sum2;
SELECT * FROM aa_check();
-- a window function, and the aggregation joined with itself: each
-- auction's rank in its category, and its max against its category's best
CREATE MATERIALIZED VIEW aa_rank WITH (trigger = 'manual') AS
	SELECT Q.category, Q.final, rank() OVER (PARTITION BY Q.category ORDER BY Q.final DESC) AS r
	FROM (SELECT MAX(B.price) AS final, A.category FROM aa_auction A, aa_bid B
		  WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
		  GROUP BY A.id, A.category) Q;
CREATE MATERIALIZED VIEW aa_self WITH (trigger = 'manual') AS
	SELECT Q.category, Q.final, M.best - Q.final AS behind
	FROM (SELECT MAX(B.price) AS final, A.category FROM aa_auction A, aa_bid B
		  WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
		  GROUP BY A.id, A.category) Q
	JOIN (SELECT category, max(final) AS best
		  FROM (SELECT MAX(B.price) AS final, A.category FROM aa_auction A, aa_bid B
				WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
				GROUP BY A.id, A.category) Q2
		  GROUP BY category) M ON M.category = Q.category;
-- a table joined above: read by each batch that changes the aggregation
CREATE TABLE aa_cats (id int, name text);
INSERT INTO aa_cats VALUES (1, 'books'), (2, 'games');
CREATE MATERIALIZED VIEW aa_named WITH (trigger = 'manual') AS
	SELECT c.name, max(Q.final) AS best FROM (
		SELECT MAX(B.price) AS final, A.category FROM aa_auction A, aa_bid B
		WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
		GROUP BY A.id, A.category) Q JOIN aa_cats c ON c.id = Q.category
	GROUP BY c.name;
-- over a windowed aggregation (engine/stage.c, append mode), an inner
-- GROUP BY key need not be selected either: the most bids an auction got
-- per 10 minutes, and how many auctions had bids
CREATE MATERIALIZED VIEW aa_win WITH (trigger = 'manual') AS
	SELECT w, max(n) AS most, count(*) AS auctions FROM (
		SELECT stream.tumble(B.ts, '10 minutes') AS w, count(*) AS n
		FROM aa_bid B GROUP BY 1, B.auction) x
	GROUP BY w;
SELECT * FROM aa_stats;
-- by deltas (engine/reagg_delta.c: an outer state of sums and counts)
-- or recomputed (engine/reagg.c): q4 and the regrouping by the inner
-- max by deltas; max, HAVING, a filter, a global aggregate, window
-- functions, a join recomputed (aa_win is over a window)
SELECT c.view, EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.rows_table AND a.attname = '_pgs_n') AS by_deltas
FROM stream.cq c WHERE c.view::text LIKE 'aa\_%' ORDER BY 1;

-- batch 1: auctions 1 and 2 (category 1), 3 (category 2, until 12:30);
-- max per auction 1: 15, 2: 20, 3: 5.
-- aa_q4: 1 17.5, 2 5; aa_best: 1 20 2; aa_hist: 5 1, 15 1, 20 1; aa_high: 20 1;
-- aa_sum: 3 40; aa_named: books 20, games 5
SELECT aa_feed($$(1, 1, '12:00', '13:00'), (2, 1, '12:00', '13:00'), (3, 2, '12:15', '12:30')$$,
			   $$(1, 10, '12:01'), (2, 20, '12:02'), (3, 5, '12:16'), (1, 15, '12:03')$$);
SELECT aa_batch();
SELECT * FROM aa_q4 ORDER BY 1;
SELECT * FROM aa_best ORDER BY 1;
SELECT * FROM aa_hist ORDER BY 1;
SELECT * FROM aa_high ORDER BY 1, 2;
SELECT * FROM aa_sum;
SELECT * FROM aa_named ORDER BY 1;
SELECT * FROM aa_check();
SELECT * FROM aa_stats;

-- batch 2 (watermark 12:05): auction 1's max goes up, 15 -> 30; 3's bid of
-- 4 and 2's second 20 change nothing; a bid of 100 for auction 1 at
-- 12:04 is late (at or before the watermark): dropped, rows_late 1.
-- aa_q4: 1 25 (30, 20), 2 5; aa_best: 1 30 2; aa_hist: 5 1, 20 1, 30 1
-- (15's group is gone); aa_high: 20 1, 30 1; aa_sum: 3 55;
-- aa_named: books 30, games 5
SELECT aa_feed(NULL, $$(1, 30, '12:10'), (3, 4, '12:20'), (2, 20, '12:15')$$,
			   $$(1, 100, '12:04')$$);
SELECT aa_batch();
SELECT * FROM aa_q4 ORDER BY 1;
SELECT * FROM aa_best ORDER BY 1;
SELECT * FROM aa_hist ORDER BY 1;
SELECT * FROM aa_high ORDER BY 1, 2;
SELECT * FROM aa_sum;
SELECT * FROM aa_named ORDER BY 1;
SELECT * FROM aa_check();
SELECT * FROM aa_stats;

-- batch 3: auction 4 (category 2) with a bid of 50; auction 3 gets 7 at
-- 12:26 and 9 at 12:35, after it expired (no match); category 2 is
-- renamed toys before it.
-- aa_q4: 1 25, 2 28.5 (7, 50); aa_best: 1 30 2, 2 50 2 (HAVING now
-- true); aa_hist: 7 1, 20 1, 30 1, 50 1; aa_high: 20 1, 30 1, 50 2;
-- aa_sum: 4 107; aa_named: books 30, toys 50
UPDATE aa_cats SET name = 'toys' WHERE id = 2;
SELECT aa_feed($$(4, 2, '12:20', '12:40')$$,
			   $$(4, 50, '12:25'), (3, 7, '12:26'), (3, 9, '12:35')$$);
SELECT aa_batch();
SELECT * FROM aa_q4 ORDER BY 1;
SELECT * FROM aa_best ORDER BY 1;
SELECT * FROM aa_hist ORDER BY 1;
SELECT * FROM aa_high ORDER BY 1, 2;
SELECT * FROM aa_sum;
SELECT * FROM aa_named ORDER BY 1;
SELECT * FROM aa_check();

-- batch 4: auction 2's max goes 20 -> 30: two equal inner rows (30, 1).
-- aa_q4: 1 30, 2 28.5; aa_best: 1 30 2, 2 50 2; aa_hist: 7 1, 30 2, 50 1;
-- aa_high: 30 1 twice, 50 2; aa_sum: 4 117; aa_named: books 30, toys 50
SELECT aa_feed(NULL, $$(2, 30, '12:40')$$);
SELECT aa_batch();
SELECT * FROM aa_q4 ORDER BY 1;
SELECT * FROM aa_best ORDER BY 1;
SELECT * FROM aa_hist ORDER BY 1;
SELECT * FROM aa_high ORDER BY 1, 2;
SELECT * FROM aa_sum;
SELECT * FROM aa_named ORDER BY 1;
SELECT * FROM aa_check();
SELECT * FROM aa_stats;

-- batch 5: bids below their auction's max change no row of the inner
-- aggregation: the query over it is not computed again (it would give
-- the same rows), but for aa_named, which reads a table: category 1 is
-- renamed novels before it. aa_q4: 1 30, 2 28.5; aa_named: novels 30,
-- toys 50; the others as after batch 4
UPDATE aa_cats SET name = 'novels' WHERE id = 1;
SELECT aa_feed(NULL, $$(1, 5, '12:41'), (4, 49, '12:39')$$);
-- (DEBUG1 says when a view computes the query over its aggregation)
SET client_min_messages = debug1;
REFRESH MATERIALIZED VIEW aa_q4;
REFRESH MATERIALIZED VIEW aa_named;
RESET client_min_messages;
SELECT aa_batch();
SELECT * FROM aa_q4 ORDER BY 1;
SELECT * FROM aa_hist ORDER BY 1;
SELECT * FROM aa_named ORDER BY 1;
SELECT * FROM aa_check();

-- after batch 5: aa_rank: 1 30 1 twice; 2 50 1, 2 7 2; aa_self: 1 30 0
-- twice, 2 50 0, 2 7 43
SELECT * FROM aa_rank ORDER BY 1, 2 DESC;
SELECT * FROM aa_self ORDER BY 1, 2 DESC;

-- aa_win, over the bids alone (watermark 10 minutes behind them; the bid
-- late for the join, 12:04, is not for it: its window was open):
-- 12:00 - 12:10 (final in batch 2) auction 1: 3, 2: 1; 12:10 - 12:20
-- (batch 3) 1, 2, 3: 1 each; 12:20 - 12:30 (batch 4) 3: 2, 4: 1; 12:30
-- - 12:40 is open (the watermark is 12:31)
SELECT to_char(w, 'HH24:MI') AS w, most, auctions FROM aa_win ORDER BY 1;

-- (a restore computes the view again from the inner aggregation's
-- state: test/scripts/dump_restore.sh, key_mean)

-- refused, with a hint
CREATE MATERIALIZED VIEW aa_bad WITH (output_mode = 'append') AS
	SELECT category, count(*) FROM (SELECT A.category, count(*) AS n FROM aa_auction A GROUP BY A.id, A.category) Q
	GROUP BY category;
CREATE MATERIALIZED VIEW aa_bad WITH (output_mode = 'complete') AS
	SELECT category, count(*) FROM (SELECT A.category, count(*) AS n FROM aa_auction A GROUP BY A.id, A.category) Q
	GROUP BY category;
CREATE TABLE aa_sink (category int PRIMARY KEY, n bigint);
CREATE MATERIALIZED VIEW aa_bad WITH (sink = 'aa_sink') AS
	SELECT category, count(*) AS n FROM (SELECT A.category, count(*) AS n FROM aa_auction A GROUP BY A.id, A.category) Q
	GROUP BY category;
ALTER MATERIALIZED VIEW aa_q4 SET (sink = 'aa_sink');
ALTER MATERIALIZED VIEW aa_q4 SET (output_mode = 'append');
ALTER MATERIALIZED VIEW aa_q4 SET (parallelism = 2);
-- the view goes on as it was
SELECT * FROM aa_q4 ORDER BY 1;
CREATE MATERIALIZED VIEW aa_bad AS
	SELECT category, count(*) FROM (SELECT A.category, count(*) AS n FROM aa_auction A GROUP BY A.id, A.category) Q
	GROUP BY category ORDER BY 2;
CREATE MATERIALIZED VIEW aa_bad AS
	SELECT n + 1 FROM (SELECT count(*) AS n FROM aa_auction A) Q;

DROP MATERIALIZED VIEW aa_q4, aa_best, aa_hist, aa_high, aa_sum, aa_sum2, aa_win, aa_named, aa_rank, aa_self;
SELECT count(*) FROM stream.cq WHERE view::text LIKE 'aa\_%';
DROP FOREIGN TABLE aa_auction, aa_bid;
DROP TABLE aa_auctions, aa_bids, aa_sink, aa_cats;
DROP FUNCTION aa_feed, aa_batch, aa_check;
DROP VIEW aa_stats;
