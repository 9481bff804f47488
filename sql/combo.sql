-- How the shapes of several features go together: a query over an
-- aggregation without a window (engine/reagg.c) over a stacked outer join
-- (engine/join.c) or a union; streams read beside a windowed aggregation
-- (engine/stage_side.c) over a join or a union; and what is refused
-- where they meet. Each view is checked after every batch against the
-- same query over tables of the same input, or over a view of its inner
-- part alone.
SET timezone = 'UTC';
CREATE FOREIGN TABLE co_a (ts timestamptz, k int) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE co_b (ts timestamptz, k int) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE co_c (ts timestamptz, k int) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE TABLE co_a_ref (LIKE co_a);
CREATE TABLE co_b_ref (LIKE co_b);
CREATE TABLE co_c_ref (LIKE co_c);
-- batch b's rows into each stream and its table: minutes 3b to 3b + 3,
-- keys 0 to 4 (unevenly), more rows each batch
CREATE FUNCTION co_feed(b int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['co_a', 'co_b', 'co_c'] LOOP
		EXECUTE format($q$INSERT INTO %I SELECT '2000-01-01'::timestamptz + (%s * 3 + i %% 4) * interval '1 minute',
								 (i * i + %s + ascii(right(%L, 1))) %% 5
						  FROM generate_series(1, 4 + %s) i$q$, t, b, b, t, b);
		EXECUTE format($q$INSERT INTO %I SELECT '2000-01-01'::timestamptz + (%s * 3 + i %% 4) * interval '1 minute',
								 (i * i + %s + ascii(right(%L, 1))) %% 5
						  FROM generate_series(1, 4 + %s) i$q$, t || '_ref', b, b, t, b);
	END LOOP;
END $$;
CREATE FUNCTION co_batch() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'co\_%' ORDER BY 1 LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
	END LOOP;
END $$;

-- An aggregation without a window over a stacked outer join: the
-- histogram of each key's joined count, in update mode. The inner
-- aggregation's padded rows come when the watermark makes them certain,
-- so the view is checked against the same histogram over a view of the
-- inner aggregation alone.
CREATE MATERIALIZED VIEW co_outer WITH (trigger = 'manual') AS
	SELECT n, count(*) AS keys FROM (
		SELECT a.k, count(b.ts) + count(c.ts) AS n
		FROM co_a a
		LEFT JOIN co_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
		LEFT JOIN co_c c ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
		GROUP BY a.k) q
	GROUP BY n;
CREATE MATERIALIZED VIEW co_outer_inner WITH (trigger = 'manual') AS
	SELECT a.k, count(b.ts) + count(c.ts) AS n
	FROM co_a a
	LEFT JOIN co_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	LEFT JOIN co_c c ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	GROUP BY a.k;
-- the same over a stacked inner join: equal to the batch query each batch
CREATE MATERIALIZED VIEW co_inner WITH (trigger = 'manual') AS
	SELECT n, count(*) AS keys FROM (
		SELECT a.k, count(*) AS n
		FROM co_a a
		JOIN co_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
		JOIN co_c c ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
		GROUP BY a.k) q
	GROUP BY n;
-- over a union of two streams, and the keys at the most rows (the
-- aggregation joined with its own max)
CREATE MATERIALIZED VIEW co_union WITH (trigger = 'manual') AS
	SELECT n, count(*) AS keys FROM (
		SELECT k, count(*) AS n
		FROM (SELECT ts, k FROM co_a UNION ALL SELECT ts, k FROM co_b) u GROUP BY k) q
	GROUP BY n;
CREATE MATERIALIZED VIEW co_union_top WITH (trigger = 'manual') AS
	SELECT q.k, q.n FROM (
		SELECT k, count(*) AS n FROM (SELECT ts, k FROM co_a UNION ALL SELECT ts, k FROM co_b) u GROUP BY k) q
	JOIN (SELECT max(n) AS m FROM (
		SELECT k, count(*) AS n FROM (SELECT ts, k FROM co_a UNION ALL SELECT ts, k FROM co_b) u GROUP BY k) x) mx
	  ON q.n = mx.m;
-- a windowed aggregation of a union joined with a third stream's rows
-- (co_c beside it: its rows wait until their window is final)
CREATE MATERIALIZED VIEW co_union_side WITH (trigger = 'manual') AS
	SELECT c.k, c.ts, m.n
	FROM co_c c
	JOIN (SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n
		  FROM (SELECT ts, k FROM co_a UNION ALL SELECT ts, k FROM co_b) u GROUP BY 1) m
	  ON stream.tumble(c.ts, '10 minutes') = m.w;
SELECT view, output_mode FROM stream.cq c JOIN stream.queries q ON q.name = c.view
WHERE view::text LIKE 'co\_%' ORDER BY 1;
CREATE FUNCTION co_check() RETURNS TABLE (view text, ok boolean) LANGUAGE sql AS $$
	SELECT 'co_outer', matches_query('co_outer', 'SELECT n, count(*) FROM co_outer_inner GROUP BY n')
	UNION ALL
	SELECT 'co_inner', matches_query('co_inner', $q$SELECT n, count(*) FROM (
		SELECT a.k, count(*) AS n
		FROM co_a_ref a
		JOIN co_b_ref b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
		JOIN co_c_ref c ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
		GROUP BY a.k) q GROUP BY n$q$)
	UNION ALL
	SELECT 'co_union', matches_query('co_union', $q$SELECT n, count(*) FROM (
		SELECT k, count(*) AS n
		FROM (SELECT ts, k FROM co_a_ref UNION ALL SELECT ts, k FROM co_b_ref) u GROUP BY k) q GROUP BY n$q$)
	UNION ALL
	SELECT 'co_union_top', matches_query('co_union_top', $q$SELECT q.k, q.n FROM (
		SELECT k, count(*) AS n FROM (SELECT ts, k FROM co_a_ref UNION ALL SELECT ts, k FROM co_b_ref) u GROUP BY k) q
	JOIN (SELECT max(n) AS m FROM (
		SELECT k, count(*) AS n FROM (SELECT ts, k FROM co_a_ref UNION ALL SELECT ts, k FROM co_b_ref) u GROUP BY k) x) mx
	  ON q.n = mx.m$q$)
	UNION ALL
	-- the windows final under the view's watermark
	SELECT 'co_union_side', matches_query('co_union_side', format($q$SELECT c.k, c.ts, m.n
	FROM co_c_ref c
	JOIN (SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n
		  FROM (SELECT ts, k FROM co_a_ref UNION ALL SELECT ts, k FROM co_b_ref) u GROUP BY 1) m
	  ON stream.tumble(c.ts, '10 minutes') = m.w
	WHERE m.w + interval '10 minutes' <= %L$q$, (SELECT watermark FROM stream.queries WHERE name = 'co_union_side'::regclass)))
$$;
SELECT co_feed(0);
SELECT co_batch();
SELECT * FROM co_check();
SELECT co_feed(1);
SELECT co_batch();
SELECT * FROM co_check();
SELECT co_feed(2);
SELECT co_batch();
SELECT * FROM co_check();
SELECT co_feed(3);
SELECT co_batch();
SELECT * FROM co_check();
SELECT co_feed(4);
SELECT co_batch();
SELECT * FROM co_check();
-- after the last batch: rows of minutes 0 to 15; co_union_side's
-- watermark is 00:14, so its window 00:00 is final and 00:10 is not
SELECT * FROM co_outer ORDER BY n;
SELECT * FROM co_union ORDER BY n;
SELECT * FROM co_union_top ORDER BY k;
SELECT to_char(watermark, 'HH24:MI') AS watermark FROM stream.queries WHERE name = 'co_union_side'::regclass;
SELECT count(*), min(ts), max(ts), sum(n) FROM co_union_side;

-- A query over an aggregation without a window whose state is large and
-- whose batches are sparse in it (engine/store.c's gallop: 3000 groups,
-- then 40 keys a batch, spread over them, some new): the inner GROUP BY
-- key k selected, and not (q4's rule), checked after every batch
CREATE FOREIGN TABLE co_m (ts timestamptz, k int, v int) SERVER stream;
CREATE TABLE co_m_ref (LIKE co_m);
CREATE MATERIALIZED VIEW co_m_cat WITH (trigger = 'manual') AS
	SELECT cat, max(best) AS best, sum(best) AS total, count(*) AS keys FROM (
		SELECT k, k % 7 AS cat, max(v) AS best FROM co_m GROUP BY k, k % 7) q
	GROUP BY cat;
CREATE MATERIALIZED VIEW co_m_hidden WITH (trigger = 'manual') AS
	SELECT cat, sum(best) AS total, count(*) AS keys FROM (
		SELECT k % 7 AS cat, max(v) AS best FROM co_m GROUP BY k, k % 7) q
	GROUP BY cat;
CREATE FUNCTION co_m_feed(b int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO co_m SELECT now(), CASE WHEN b = 0 THEN i WHEN i <= 3 THEN 3000 + 10 * b + i ELSE (i * 73 + b * 13) % 3000 + 1 END,
		(i * 31 + b * 17) % 1000
		FROM generate_series(1, CASE WHEN b = 0 THEN 3000 ELSE 40 END) i;
	INSERT INTO co_m_ref SELECT now(), CASE WHEN b = 0 THEN i WHEN i <= 3 THEN 3000 + 10 * b + i ELSE (i * 73 + b * 13) % 3000 + 1 END,
		(i * 31 + b * 17) % 1000
		FROM generate_series(1, CASE WHEN b = 0 THEN 3000 ELSE 40 END) i;
$$;
CREATE FUNCTION co_m_check() RETURNS TABLE (view text, ok boolean) LANGUAGE sql AS $$
	SELECT 'co_m_cat', matches_query('co_m_cat', $q$SELECT cat, max(best), sum(best), count(*) FROM (
		SELECT k, k % 7 AS cat, max(v) AS best FROM co_m_ref GROUP BY k, k % 7) q GROUP BY cat$q$)
	UNION ALL
	SELECT 'co_m_hidden', matches_query('co_m_hidden', $q$SELECT cat, sum(best), count(*) FROM (
		SELECT k % 7 AS cat, max(v) AS best FROM co_m_ref GROUP BY k, k % 7) q GROUP BY cat$q$)
$$;
SELECT co_m_feed(0);
REFRESH MATERIALIZED VIEW co_m_cat;
REFRESH MATERIALIZED VIEW co_m_hidden;
SELECT * FROM co_m_check();
SELECT co_m_feed(1);
REFRESH MATERIALIZED VIEW co_m_cat;
REFRESH MATERIALIZED VIEW co_m_hidden;
SELECT * FROM co_m_check();
SELECT co_m_feed(2);
REFRESH MATERIALIZED VIEW co_m_cat;
REFRESH MATERIALIZED VIEW co_m_hidden;
SELECT * FROM co_m_check();
SELECT co_m_feed(3);
REFRESH MATERIALIZED VIEW co_m_cat;
REFRESH MATERIALIZED VIEW co_m_hidden;
SELECT * FROM co_m_check();
SELECT sum(keys) AS keys, sum(total) AS total FROM co_m_hidden;
SELECT count(DISTINCT k) AS keys FROM co_m_ref;

-- Refused: an aggregation without a window joined with a stream's rows.
-- Its rows are never final, so each of the stream's rows would have to be
-- kept forever, to be joined again with every new value of its group.
CREATE MATERIALIZED VIEW co_nowin_side WITH (trigger = 'manual') AS
	SELECT a.k, a.ts, m.n
	FROM co_a a
	JOIN (SELECT k, count(*) AS n FROM co_b GROUP BY k) m ON a.k = m.k;
-- Refused: a windowed aggregation over a join (two streams, or stacked)
-- joined with the rows of one of the joined streams: the stream has one
-- state in the view, and the join's is the one it would need twice
CREATE MATERIALIZED VIEW co_join_side WITH (trigger = 'manual') AS
	SELECT b.k, b.ts, m.n
	FROM co_b b
	JOIN (SELECT stream.tumble(a.ts, '10 minutes') AS w, count(*) AS n
		  FROM co_a a JOIN co_b b2 ON b2.k = a.k AND b2.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
		  GROUP BY 1) m
	  ON stream.tumble(b.ts, '10 minutes') = m.w;
CREATE MATERIALIZED VIEW co_outer_side WITH (trigger = 'manual') AS
	SELECT c.k, c.ts, m.n
	FROM co_c c
	JOIN (SELECT stream.tumble(a.ts, '10 minutes') AS w, count(b.ts) AS n
		  FROM co_a a
		  LEFT JOIN co_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
		  LEFT JOIN co_c c2 ON c2.k = a.k AND c2.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
		  GROUP BY 1) m
	  ON stream.tumble(c.ts, '10 minutes') = m.w;
-- Nexmark q7's literal text: its inner aggregation selects the window's
-- end, not the window, and the BETWEEN bounds the bids by that end
CREATE MATERIALIZED VIEW co_q7_text WITH (trigger = 'manual') AS
	SELECT B.k, B.ts
	FROM co_a B
	JOIN (SELECT max(B1.k) AS maxk, stream.tumble(B1.ts, '10 minutes') + interval '10 minutes' AS dt
		  FROM co_a B1 GROUP BY stream.tumble(B1.ts, '10 minutes')) B1
	  ON B.k = B1.maxk
	WHERE B.ts BETWEEN B1.dt - interval '10 minutes' AND B1.dt;

-- (each view has a worker: free them for the tests after this one)
DROP MATERIALIZED VIEW co_outer, co_outer_inner, co_inner, co_union, co_union_top, co_union_side,
	co_m_cat, co_m_hidden;
DROP FOREIGN TABLE co_a, co_b, co_c, co_m;
DROP TABLE co_a_ref, co_b_ref, co_c_ref, co_m_ref;
DROP FUNCTION co_feed, co_batch, co_check, co_m_feed, co_m_check;
SELECT count(*) FROM stream.cq WHERE view::text LIKE 'co\_%';
