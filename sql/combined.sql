-- Features of separate branches in one view, each view compared with its
-- query run over tables of the same input after every batch (EXCEPT ALL
-- both ways): stream.hop in a batch's target list (engine/analyze.c)
-- under a query over its aggregation, over a join of streams, over a
-- UNION ALL, over a stacked outer join and over a view's rows; queries
-- by deltas (engine/reagg_delta.c) over a join of streams, a UNION ALL,
-- stacked outer joins (engine/join.c's padded rows) and a hop view's
-- rows; aggregation joins (engine/stage_side.c) whose aggregation reads a
-- UNION ALL or whose stream is a hop view's rows.
SET timezone = 'UTC';
CREATE FOREIGN TABLE cb_bid (ts timestamptz, auction int, price int, bidder int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE FOREIGN TABLE cb_auc (ts timestamptz, id int, category int, expires timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE FOREIGN TABLE cb_per (ts timestamptz, id int, bidder int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE TABLE cb_bid_t (ts timestamptz, auction int, price int, bidder int);
CREATE TABLE cb_auc_t (ts timestamptz, id int, category int, expires timestamptz);
CREATE TABLE cb_per_t (ts timestamptz, id int, bidder int);

-- sliding windows under a query over them, by the window
CREATE MATERIALIZED VIEW cb_hopq WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT q.w, count(*) AS n, sum(q.m) AS s FROM (
		SELECT h.w, b.auction, max(b.price) AS m FROM cb_bid b, stream.hop(b.ts, '10 minutes', '5 minutes') AS h(w)
		GROUP BY 1, 2) q GROUP BY q.w;
-- sliding windows of a join of streams, of a UNION ALL, with a WHERE
CREATE MATERIALIZED VIEW cb_jhop WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT h.w, A.category, count(*) AS n, max(B.price) AS m
	FROM cb_auc A JOIN cb_bid B ON A.id = B.auction AND B.ts BETWEEN A.ts AND A.ts + interval '10 minutes',
		stream.hop(B.ts, '10 minutes', '5 minutes') AS h(w) GROUP BY 1, 2;
CREATE MATERIALIZED VIEW cb_uhop WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT h.w, count(*) AS n, sum(u.bidder) AS s
	FROM (SELECT bidder, ts FROM cb_bid UNION ALL SELECT bidder, ts FROM cb_per) u,
		stream.hop(u.ts, '10 minutes', '5 minutes') AS h(w) GROUP BY 1;
CREATE MATERIALIZED VIEW cb_hopd WITH (trigger = 'manual') AS
	SELECT h.w, count(*) AS n, sum(b.price) AS s FROM cb_bid b, stream.hop(b.ts, '10 minutes', '5 minutes') AS h(w)
	WHERE b.price > 2 GROUP BY 1;
-- by deltas: over a join of streams (Nexmark q4), with a WHERE, over a UNION ALL
CREATE MATERIALIZED VIEW cb_q4 WITH (trigger = 'manual') AS
	SELECT Q.category, avg(Q.final) AS avg, count(*) AS n, sum(Q.final) AS s FROM (
		SELECT max(B.price) AS final, A.category FROM cb_auc A, cb_bid B
		WHERE A.id = B.auction AND B.ts BETWEEN A.ts AND A.expires
		GROUP BY A.id, A.category) Q GROUP BY Q.category;
CREATE MATERIALIZED VIEW cb_d1 WITH (trigger = 'manual') AS
	SELECT q.m % 4 AS g, count(*) AS n, sum(q.c) AS s, avg(q.m) AS a FROM (
		SELECT b.bidder, max(b.price) AS m, count(*) AS c FROM cb_bid b GROUP BY b.bidder) q
	WHERE q.c > 1 GROUP BY 1;
CREATE MATERIALIZED VIEW cb_du WITH (trigger = 'manual') AS
	SELECT q.c % 3 AS g, count(*) AS n, sum(q.c) AS s FROM (
		SELECT u.bidder, count(*) AS c FROM (SELECT bidder, ts FROM cb_bid UNION ALL SELECT bidder, ts FROM cb_per) u
		GROUP BY u.bidder) q GROUP BY 1;
-- stacked outer joins: their rows, by deltas over their aggregation, and
-- their sliding windows (rows NULL-padded once the watermark passes an
-- auction's 10 minutes)
CREATE MATERIALIZED VIEW cb_oj WITH (trigger = 'manual') AS
	SELECT A.id, A.ts, B.price, C.id AS pid FROM cb_auc A
	LEFT JOIN cb_bid B ON B.auction = A.id AND B.ts BETWEEN A.ts AND A.ts + interval '10 minutes'
	LEFT JOIN cb_per C ON C.bidder = A.id AND C.ts BETWEEN A.ts AND A.ts + interval '10 minutes';
CREATE MATERIALIZED VIEW cb_doj WITH (trigger = 'manual') AS
	SELECT q.category, count(*) AS n, sum(q.c) AS s, sum(q.nb) AS snb, avg(q.np) AS ap FROM (
		SELECT A.id, A.category, count(*) AS c, count(B.price) AS nb, count(C.id) AS np FROM cb_auc A
		LEFT JOIN cb_bid B ON B.auction = A.id AND B.ts BETWEEN A.ts AND A.ts + interval '10 minutes'
		LEFT JOIN cb_per C ON C.bidder = A.id AND C.ts BETWEEN A.ts AND A.ts + interval '10 minutes'
		GROUP BY A.id, A.category) q GROUP BY q.category;
CREATE MATERIALIZED VIEW cb_doj2 WITH (trigger = 'manual') AS
	SELECT q.c AS c, count(*) AS n, sum(q.sp) AS s FROM (
		SELECT A.id, count(*) AS c, sum(B.price) AS sp FROM cb_auc A
		LEFT JOIN cb_bid B ON B.auction = A.id AND B.ts BETWEEN A.ts AND A.ts + interval '10 minutes'
		LEFT JOIN cb_per C ON C.bidder = A.id AND C.ts BETWEEN A.ts AND A.ts + interval '10 minutes'
		GROUP BY A.id) q WHERE q.c > 1 GROUP BY q.c;
CREATE MATERIALIZED VIEW cb_hoj WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT h.w, count(*) AS n, count(B.price) AS nb, count(C.id) AS nc FROM cb_auc A
	LEFT JOIN cb_bid B ON B.auction = A.id AND B.ts BETWEEN A.ts AND A.ts + interval '10 minutes'
	LEFT JOIN cb_per C ON C.bidder = A.id AND C.ts BETWEEN A.ts AND A.ts + interval '10 minutes',
		stream.hop(A.ts, '10 minutes', '5 minutes') AS h(w) GROUP BY 1;
-- aggregation joins: q7, q8, q7 with its aggregation over a UNION ALL
CREATE MATERIALIZED VIEW cb_q7 WITH (trigger = 'manual') AS
	SELECT B.auction, B.price, B.bidder, B1.w FROM cb_bid B
	JOIN (SELECT max(price) AS m, stream.tumble(ts, '10 minutes') AS w FROM cb_bid GROUP BY 2) B1
	  ON B.price = B1.m AND stream.tumble(B.ts, '10 minutes') = B1.w;
CREATE MATERIALIZED VIEW cb_q8 WITH (trigger = 'manual') AS
	SELECT P.bidder, P.w, A.n FROM (SELECT bidder, stream.tumble(ts, '10 minutes') AS w FROM cb_bid GROUP BY 1, 2) P
	JOIN (SELECT id % 5 AS sel, stream.tumble(ts, '10 minutes') AS w, count(*) AS n FROM cb_auc GROUP BY 1, 2) A
	  ON P.bidder = A.sel AND P.w = A.w;
CREATE MATERIALIZED VIEW cb_q7u WITH (trigger = 'manual') AS
	SELECT B.auction, B.price, M.w FROM cb_bid B
	JOIN (SELECT max(u.p) AS m, stream.tumble(u.ts, '10 minutes') AS w
		  FROM (SELECT price AS p, ts FROM cb_bid UNION ALL SELECT bidder * 10, ts FROM cb_per) u GROUP BY 2) M
	  ON B.price = M.m AND stream.tumble(B.ts, '10 minutes') = M.w;
-- views over views (their names sort after the views they read): a hop
-- view's rows by deltas, as rows, recomputed (max), and joined with an
-- aggregation; a tumbling view's rows by deltas and in sliding windows
CREATE MATERIALIZED VIEW cb_hop1 WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT h.w, b.auction, max(b.price) AS m, count(*) AS c FROM cb_bid b, stream.hop(b.ts, '10 minutes', '5 minutes') AS h(w)
	GROUP BY 1, 2;
CREATE MATERIALIZED VIEW cb_tum1 WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(b.ts, '10 minutes') AS w, b.auction, max(b.price) AS m FROM cb_bid b GROUP BY 1, 2;
CREATE MATERIALIZED VIEW cb_x_hd WITH (trigger = 'manual') AS
	SELECT q.auction % 2 AS g, count(*) AS n, sum(q.mm) AS s FROM (
		SELECT x.auction, max(x.m) AS mm FROM cb_hop1 x GROUP BY x.auction) q GROUP BY 1;
CREATE MATERIALIZED VIEW cb_x_hr WITH (trigger = 'manual') AS SELECT * FROM cb_hop1;
CREATE MATERIALIZED VIEW cb_x_hm WITH (trigger = 'manual') AS
	SELECT q.auction % 2 AS g, max(q.mm) AS s FROM (
		SELECT x.auction, max(x.m) AS mm FROM cb_hop1 x GROUP BY x.auction) q GROUP BY 1;
CREATE MATERIALIZED VIEW cb_x_hj WITH (trigger = 'manual') AS
	SELECT x.auction, x.m, x.c, M.w FROM cb_hop1 x
	JOIN (SELECT max(price) AS mp, stream.tumble(ts, '10 minutes') AS w FROM cb_bid GROUP BY 2) M
	  ON x.m = M.mp AND stream.tumble(x.w, '10 minutes') = M.w;
CREATE MATERIALIZED VIEW cb_x_td WITH (trigger = 'manual') AS
	SELECT q.auction % 2 AS g, count(*) AS n, sum(q.mm) AS s FROM (
		SELECT x.auction, max(x.m) AS mm FROM cb_tum1 x GROUP BY x.auction) q GROUP BY 1;
CREATE MATERIALIZED VIEW cb_x_th WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT h.w2, count(*) AS n, sum(x.m) AS s FROM cb_tum1 x, stream.hop(x.w, '20 minutes', '10 minutes') AS h(w2) GROUP BY 1;
CREATE MATERIALIZED VIEW cb_x_thu WITH (trigger = 'manual') AS
	SELECT h.w2, x.auction % 2 AS g, count(*) AS n, max(x.m) AS s
	FROM cb_tum1 x, stream.hop(x.w, '20 minutes', '10 minutes') AS h(w2) GROUP BY 1, 2;
-- which views go by deltas: their rows_table is the outer state (_pgs_n)
SELECT c.view FROM stream.cq c JOIN pg_attribute a ON a.attrelid = c.rows_table
WHERE c.view::text LIKE 'cb\_%' AND a.attname = '_pgs_n' ORDER BY 1;

-- auctions (20 minutes long), bids, and a person row of each bid of an even price
CREATE FUNCTION cb_feed(a text, b text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	IF a <> '' THEN
		EXECUTE format('INSERT INTO cb_auc SELECT t, id, cat, t + interval ''20 minutes'' FROM (SELECT (''2000-01-01 '' || ts)::timestamptz AS t, id, cat FROM (VALUES %s) v(ts, id, cat)) v', a);
		EXECUTE format('INSERT INTO cb_auc_t SELECT t, id, cat, t + interval ''20 minutes'' FROM (SELECT (''2000-01-01 '' || ts)::timestamptz AS t, id, cat FROM (VALUES %s) v(ts, id, cat)) v', a);
	END IF;
	EXECUTE format('INSERT INTO cb_bid SELECT (''2000-01-01 '' || ts)::timestamptz, au, p, bi FROM (VALUES %s) v(ts, au, p, bi)', b);
	EXECUTE format('INSERT INTO cb_bid_t SELECT (''2000-01-01 '' || ts)::timestamptz, au, p, bi FROM (VALUES %s) v(ts, au, p, bi)', b);
	EXECUTE format('INSERT INTO cb_per SELECT (''2000-01-01 '' || ts)::timestamptz, au, bi FROM (VALUES %s) v(ts, au, p, bi) WHERE p %% 2 = 0', b);
	EXECUTE format('INSERT INTO cb_per_t SELECT (''2000-01-01 '' || ts)::timestamptz, au, bi FROM (VALUES %s) v(ts, au, p, bi) WHERE p %% 2 = 0', b);
END $$;
-- each view in a transaction of its own, after the views it reads
CREATE PROCEDURE cb_batch() LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'cb\_%' ORDER BY view::text LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
		COMMIT;
	END LOOP;
END $$;
-- the view's query over the tables (a view read by a view is read as
-- its table), of the rows final so far: windows the view's watermark has
-- passed (append), joined rows NULL-padded once it passes the auction's
-- 10 minutes
CREATE FUNCTION cb_ref(v regclass) RETURNS text LANGUAGE sql AS $$
	SELECT regexp_replace(rtrim(pg_get_viewdef(v), ';'), '\m(cb_bid|cb_auc|cb_per)\M', '\1_t', 'g')
$$;
CREATE FUNCTION cb_wm(v regclass) RETURNS text LANGUAGE sql AS $$
	SELECT quote_nullable(watermark) FROM stream.queries WHERE name = v
$$;
CREATE FUNCTION cb_oj_rows(v regclass) RETURNS text LANGUAGE sql AS $$
	SELECT format($q$(SELECT A.id, A.ts, A.category, B.price, C.id AS pid FROM cb_auc_t A
		LEFT JOIN cb_bid_t B ON B.auction = A.id AND B.ts BETWEEN A.ts AND A.ts + interval '10 minutes'
		LEFT JOIN cb_per_t C ON C.bidder = A.id AND C.ts BETWEEN A.ts AND A.ts + interval '10 minutes'
		WHERE (B.price IS NOT NULL AND C.id IS NOT NULL) OR A.ts + interval '10 minutes' < %s) j$q$, cb_wm(v))
$$;
CREATE FUNCTION cb_check() RETURNS TABLE (view regclass, ok boolean) LANGUAGE sql AS $$
	SELECT v, matches_query(v, CASE
		WHEN v::text IN ('cb_hopq', 'cb_jhop', 'cb_uhop', 'cb_q7', 'cb_q8', 'cb_q7u', 'cb_hop1', 'cb_tum1', 'cb_x_hj') THEN
			format('SELECT * FROM (%s) b WHERE w + interval ''10 minutes'' <= %s', cb_ref(v), cb_wm(v))
		WHEN v::text = 'cb_x_th' THEN
			format('SELECT * FROM (%s) b WHERE w2 + interval ''20 minutes'' <= %s', cb_ref(v), cb_wm(v))
		WHEN v::text = 'cb_oj' THEN
			format('SELECT id, ts, price, pid FROM %s', cb_oj_rows(v))
		WHEN v::text = 'cb_doj' THEN
			format('SELECT q.category, count(*), sum(q.c), sum(q.nb), avg(q.np) FROM (
				SELECT id, category, count(*) AS c, count(price) AS nb, count(pid) AS np FROM %s
				GROUP BY id, category) q GROUP BY q.category', cb_oj_rows(v))
		WHEN v::text = 'cb_doj2' THEN
			format('SELECT q.c, count(*), sum(q.sp) FROM (SELECT id, count(*) AS c, sum(price) AS sp FROM %s
				GROUP BY id) q WHERE q.c > 1 GROUP BY q.c', cb_oj_rows(v))
		WHEN v::text = 'cb_hoj' THEN
			format('SELECT h.w, count(*), count(price), count(pid) FROM %s, stream.hop(j.ts, ''10 minutes'', ''5 minutes'') AS h(w)
				GROUP BY 1 HAVING h.w + interval ''20 minutes'' <= %s', cb_oj_rows(v), cb_wm(v))
		ELSE cb_ref(v) END)
	FROM (SELECT c.view AS v FROM stream.cq c WHERE c.view::text LIKE 'cb\_%') c ORDER BY 1
$$;

-- batch 1: auctions 1 - 3, bids of 1 - 4
SELECT cb_feed($$('12:00', 1, 1), ('12:01', 2, 2), ('12:03', 3, 1)$$,
	$$('12:00', 1, 10, 1), ('12:02', 1, 15, 2), ('12:02', 2, 7, 1), ('12:04', 3, 9, 3), ('12:04', 4, 9, 3)$$);
CALL cb_batch();
SELECT * FROM cb_check() WHERE NOT ok;
-- batch 2: the watermark past the first windows
SELECT cb_feed($$('12:08', 4, 2), ('12:09', 5, 3)$$,
	$$('12:06', 1, 20, 1), ('12:07', 2, 3, 2), ('12:08', 4, 30, 1), ('12:09', 5, 1, 4), ('12:11', 3, 40, 2), ('12:12', 1, 5, 1)$$);
CALL cb_batch();
SELECT * FROM cb_check() WHERE NOT ok;
-- batch 3: auctions 1 - 5 NULL-padded, new groups
SELECT cb_feed($$('12:20', 6, 1), ('12:31', 7, 2)$$,
	$$('12:21', 6, 8, 1), ('12:22', 1, 2, 3), ('12:24', 2, 50, 1), ('12:25', 5, 6, 2), ('12:33', 7, 11, 4), ('12:34', 6, 1, 1)$$);
CALL cb_batch();
SELECT * FROM cb_check() WHERE NOT ok;
-- batch 4: a gap, then 13:30
SELECT cb_feed($$('13:00', 8, 1)$$, $$('13:01', 8, 3, 1), ('13:02', 7, 99, 2), ('13:30', 8, 4, 4)$$);
CALL cb_batch();
SELECT * FROM cb_check() WHERE NOT ok;
-- batch 5: everything before final
SELECT cb_feed($$('15:00', 999, 9)$$, $$('15:00', 998, 2, 998)$$);
CALL cb_batch();
SELECT * FROM cb_check() WHERE NOT ok;
SELECT count(*) AS views, count(*) FILTER (WHERE ok) AS exact FROM cb_check();
SELECT * FROM cb_q4 ORDER BY 1;
SELECT * FROM cb_doj ORDER BY 1;
SELECT * FROM cb_x_hd ORDER BY 1;
SELECT * FROM cb_x_hj ORDER BY 4, 1, 2, 3;
SELECT name, watermark, rows_late FROM stream.queries WHERE name::text LIKE 'cb\_%' ORDER BY name::text;
