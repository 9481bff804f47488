-- Queries over an aggregation without a window (engine/reagg.c), the
-- edges: functions that are not immutable (the skip of a batch that
-- changes no row of the aggregation must not keep a stale result), NULL
-- keys and values, HAVING, DISTINCT and list aggregates under, a GROUP
-- BY expression not selected, refusals. Each batch's results are
-- computed by hand in the comments, and each view is compared with its
-- query run over a table of the same input (EXCEPT ALL both ways).
SET timezone = 'UTC';
CREATE FOREIGN TABLE ae_s (k int, x int, ts timestamptz)
	SERVER stream OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE TABLE ae_t (k int, x int, ts timestamptz);
CREATE TABLE ae_thr_t (v int);
INSERT INTO ae_thr_t VALUES (10);
-- a stable function: the same result within a batch, not across batches
CREATE FUNCTION ae_thr() RETURNS int STABLE LANGUAGE sql AS 'SELECT v FROM ae_thr_t';
CREATE FUNCTION ae_feed(r text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO ae_s SELECT k, x, (''2000-01-01 '' || ts)::timestamptz FROM (VALUES %s) v(k, x, ts)', r);
	EXECUTE format('INSERT INTO ae_t SELECT k, x, (''2000-01-01 '' || ts)::timestamptz FROM (VALUES %s) v(k, x, ts)', r);
END $$;
CREATE FUNCTION ae_batch() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'ae\_%' ORDER BY 1 LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
	END LOOP;
END $$;
CREATE FUNCTION ae_check() RETURNS TABLE (view regclass, ok boolean) LANGUAGE sql AS $$
	SELECT c.view, matches_query(c.view, replace(rtrim(pg_get_viewdef(c.view), ';'), 'ae_s ', 'ae_t '))
	FROM stream.cq c WHERE c.view::text LIKE 'ae\_%' ORDER BY 1
$$;

-- the inner groups with a max of at least ae_thr(), a stable function above
CREATE MATERIALIZED VIEW ae_stable WITH (trigger = 'manual') AS
	SELECT count(*) AS n FROM (SELECT s.k, max(s.x) AS m FROM ae_s s GROUP BY s.k) q
	WHERE q.m >= ae_thr();
-- ... in the aggregation's select list
CREATE MATERIALIZED VIEW ae_innerstable WITH (trigger = 'manual') AS
	SELECT sum(q.d) AS d FROM (SELECT s.k, max(s.x) - ae_thr() AS d FROM ae_s s GROUP BY s.k) q;
-- ... and a sub-SELECT of the same table (a table read)
CREATE MATERIALIZED VIEW ae_sub WITH (trigger = 'manual') AS
	SELECT count(*) AS n FROM (SELECT s.k, max(s.x) AS m FROM ae_s s GROUP BY s.k) q
	WHERE q.m >= (SELECT v FROM ae_thr_t);
-- NULL keys and values, grouped by an expression of the inner max
CREATE MATERIALIZED VIEW ae_nulls WITH (trigger = 'manual') AS
	SELECT q.m % 2 AS parity, count(*) AS n, count(q.m) AS nm, sum(q.m) AS total, count(q.k) AS nk
	FROM (SELECT s.k, max(s.x) AS m FROM ae_s s GROUP BY s.k) q GROUP BY q.m % 2;
-- HAVING under
CREATE MATERIALIZED VIEW ae_having WITH (trigger = 'manual') AS
	SELECT sum(q.m) AS total, count(*) AS n
	FROM (SELECT s.k, max(s.x) AS m FROM ae_s s GROUP BY s.k HAVING count(*) >= 2) q;
-- a DISTINCT aggregate and a list aggregate under (their notices)
CREATE MATERIALIZED VIEW ae_dist WITH (trigger = 'manual') AS
	SELECT q.d, count(*) AS n FROM (SELECT s.k, count(DISTINCT s.x) AS d FROM ae_s s GROUP BY s.k) q
	GROUP BY q.d;
CREATE MATERIALIZED VIEW ae_list WITH (trigger = 'manual') AS
	SELECT count(*) AS n, max(length(q.l)) AS longest
	FROM (SELECT s.k, string_agg(s.x::text, ',') AS l FROM ae_s s GROUP BY s.k) q;
-- a GROUP BY expression not selected; and a selected column named as
-- the column a key not selected becomes
CREATE MATERIALIZED VIEW ae_expr WITH (trigger = 'manual') AS
	SELECT count(*) AS n, sum(q.m) AS total FROM (SELECT max(s.x) AS m FROM ae_s s GROUP BY s.k % 3) q;
CREATE MATERIALIZED VIEW ae_name WITH (trigger = 'manual') AS
	SELECT sum(q.pgs_key1) AS total FROM (SELECT max(s.x) AS pgs_key1 FROM ae_s s GROUP BY s.k) q;
-- an outer GROUP BY expression not selected; and the same run by its
-- background worker (not REFRESHed: aew_, not ae_)
CREATE MATERIALIZED VIEW ae_junk WITH (trigger = 'manual') AS
	SELECT count(*) AS n, sum(q.m) AS total FROM (SELECT s.k, max(s.x) AS m FROM ae_s s GROUP BY s.k) q
	GROUP BY q.m > 10;
CREATE MATERIALIZED VIEW aew_worker AS
	SELECT count(*) AS n, sum(q.m) AS total FROM (SELECT s.k, max(s.x) AS m FROM ae_s s GROUP BY s.k) q
	GROUP BY q.m > 10;

-- batch 1 (ae_thr() 10): groups k 1: max 12 (2 rows, 2 distinct), 2: 20
-- (1, 1), NULL: 7 (2, 1), 3: NULL (1, 0).
-- ae_stable 2 (12, 20); ae_innerstable 9 (2 + 10 - 3); ae_sub 2;
-- ae_nulls: 0: 2 2 32 2, 1: 1 1 7 0, NULL: 1 0 NULL 1; ae_having 19 2;
-- ae_dist: 0: 1, 1: 2, 2: 1; ae_expr (k % 3: 1, 2, NULL, 0) 4 39
SELECT ae_feed($$(1, 5, '12:00'), (1, 12, '12:01'), (2, 20, '12:02'), (NULL, 7, '12:03'), (3, NULL, '12:04'), (NULL, NULL, '12:05')$$);
SELECT ae_batch();
SELECT * FROM ae_stable;
SELECT * FROM ae_innerstable;
SELECT * FROM ae_sub;
SELECT * FROM ae_nulls ORDER BY 1;
SELECT * FROM ae_having;
SELECT * FROM ae_dist ORDER BY 1;
SELECT * FROM ae_expr;
SELECT * FROM ae_check();

-- batch 2: ae_thr() becomes 15; bids below their max change no max
-- (k 1's count and distinct values do change; k 3 gets its second row:
-- HAVING now true). ae_stable 1 (20); ae_innerstable -6 (-3 + 5 - 8);
-- ae_sub 1; ae_having 19 3 (12, 7, NULL); ae_dist: 0:
-- 1, 1: 2, 3: 1 (k 1: 3, 5, 12); the others as before
UPDATE ae_thr_t SET v = 15;
SELECT ae_feed($$(1, 3, '12:06'), (3, NULL, '12:07')$$);
SELECT ae_batch();
SELECT * FROM ae_stable;
SELECT * FROM ae_innerstable;
SELECT * FROM ae_sub;
SELECT * FROM ae_having;
SELECT * FROM ae_dist ORDER BY 1;
SELECT * FROM ae_check();

-- batch 3: k 3's max 4, NULL's 9, k 4 new (1, twice). k 1: 12 (3 rows),
-- 2: 20 (2), NULL: 9 (4), 3: 4 (3), 4: 1 (2).
-- ae_stable 1; ae_innerstable -29 (-3 + 5 - 6 - 11 - 14); ae_nulls: 0: 3
-- 3 36 3, 1: 2 2 10 1; ae_having 46 5; ae_dist 1: 3, 2: 1, 3: 1;
-- ae_expr 4 45 (1: 12, 2: 20, NULL: 9, 0: 4)
SELECT ae_feed($$(3, 4, '12:08'), (NULL, 9, '12:09'), (2, 20, '12:10'), (4, 1, '12:11'), (4, 1, '12:12'), (NULL, NULL, '12:13')$$);
SELECT ae_batch();
SELECT * FROM ae_stable;
SELECT * FROM ae_innerstable;
SELECT * FROM ae_nulls ORDER BY 1;
SELECT * FROM ae_having;
SELECT * FROM ae_dist ORDER BY 1;
SELECT * FROM ae_expr;
SELECT * FROM ae_check();

-- batch 4: ae_thr() becomes 1, a bid below its max: ae_stable 5;
-- ae_innerstable 41 (11 + 19 + 8 + 3 + 0); ae_sub 5
UPDATE ae_thr_t SET v = 1;
SELECT ae_feed($$(2, 3, '12:14')$$);
SELECT ae_batch();
SELECT * FROM ae_stable;
SELECT * FROM ae_innerstable;
SELECT * FROM ae_sub;
SELECT * FROM ae_check();
-- ae_junk (and aew_worker, once its worker has read it all): 2 32
-- (12, 20), 3 14 (9, 4, 1)
SELECT * FROM ae_junk ORDER BY 1, 2;
SELECT wait_for($$(SELECT array_agg(n ORDER BY n) = '{2,3}' AND sum(total) = 46 FROM aew_worker)$$);
SELECT matches_query('aew_worker', replace(rtrim(pg_get_viewdef('aew_worker'), ';'), 'ae_s ', 'ae_t '));

-- By deltas (engine/reagg_delta.c): one GROUP BY over the aggregation,
-- an optional WHERE, count, sum and avg. An inner group's old row is
-- retracted from its outer group and its new row added: groups move
-- between outer groups (grouped by the inner count, every new row of a
-- key moves it), leave the WHERE, an outer group whose count reaches 0
-- goes; NULLs in the key and the aggregated column; numeric sums keep
-- their largest input's scale (as PostgreSQL's sum does: a retraction
-- must not leave 3.0 where the batch query says 3), NaN and infinities.
-- Checked after each batch against the batch query, by EXCEPT ALL and by
-- the rows' text (which tells 3.0 from 3).
CREATE FOREIGN TABLE ad_s (k int, x numeric) SERVER stream;
CREATE TABLE ad_t (k int, x numeric);
CREATE FUNCTION ad_feed(r text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO ad_s SELECT k, x::numeric FROM (VALUES %s) v(k, x)', r);
	EXECUTE format('INSERT INTO ad_t SELECT k, x::numeric FROM (VALUES %s) v(k, x)', r);
END $$;
CREATE FUNCTION ad_batch() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'ad\_%' ORDER BY 1 LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
	END LOOP;
END $$;
-- equal to the batch query by value and by text
CREATE FUNCTION ad_check() RETURNS TABLE (view regclass, ok boolean, same_text boolean) LANGUAGE plpgsql AS $$
DECLARE
	b text;
	d bigint;
BEGIN
	FOR view IN SELECT c.view FROM stream.cq c WHERE c.view::text LIKE 'ad\_%' ORDER BY 1 LOOP
		b := replace(rtrim(pg_get_viewdef(view), ';'), 'ad_s ', 'ad_t ');
		ok := matches_query(view, b);
		EXECUTE format('SELECT count(*) FROM (((SELECT v::text FROM %s v) EXCEPT ALL (SELECT b::text FROM (%s) b)) UNION ALL ((SELECT b::text FROM (%s) b) EXCEPT ALL (SELECT v::text FROM %s v))) d',
					   view, b, b, view) INTO d;
		same_text := d = 0;
		RETURN NEXT;
	END LOOP;
END $$;
CREATE MATERIALIZED VIEW ad_bycount WITH (trigger = 'manual') AS
	SELECT q.c, count(*) AS n, count(q.m) AS nm, sum(q.m) AS total, avg(q.m) AS mean
	FROM (SELECT s.k, max(s.x) AS m, count(*) AS c FROM ad_s s GROUP BY s.k) q GROUP BY q.c;
CREATE MATERIALIZED VIEW ad_where WITH (trigger = 'manual') AS
	SELECT q.k % 2 AS parity, count(*) AS n, sum(q.m) AS total, avg(q.m) AS mean
	FROM (SELECT s.k, max(s.x) AS m FROM ad_s s GROUP BY s.k) q WHERE q.m < 10 GROUP BY q.k % 2;
-- smallint, integer and bigint inputs (the finite values below 1000)
CREATE MATERIALIZED VIEW ad_ints WITH (trigger = 'manual') AS
	SELECT q.c > 1 AS many, sum(q.mi) AS si, avg(q.mi) AS ai, sum(q.ms) AS ss, avg(q.ms) AS sa,
		sum(q.mb) AS sb, avg(q.mb) AS ab, count(q.mb) AS cb
	FROM (SELECT s.k, (max(s.x) FILTER (WHERE s.x < 1000))::int AS mi,
				 (max(s.x) FILTER (WHERE s.x < 1000))::smallint AS ms,
				 (max(s.x) FILTER (WHERE s.x < 1000))::bigint AS mb, count(*) AS c
		  FROM ad_s s GROUP BY s.k) q
	GROUP BY q.c > 1;
-- recomputed: min and max cannot be taken back (nor can a float sum,
-- exactly: (a + b) - a need not be b)
CREATE MATERIALIZED VIEW ad_minmax WITH (trigger = 'manual') AS
	SELECT q.c, min(q.m) AS least, max(q.m) AS most
	FROM (SELECT s.k, max(s.x) AS m, count(*) AS c FROM ad_s s GROUP BY s.k) q GROUP BY q.c;
-- which views keep an outer state (by deltas)
SELECT c.view, EXISTS (SELECT FROM pg_attribute a WHERE a.attrelid = c.rows_table AND a.attname = '_pgs_n') AS by_deltas
FROM stream.cq c WHERE c.view::text ~ '^(ad|ae)_' ORDER BY 1;

-- batch 1: max per key 1: 1.5, 2: 2.25, 3: 3, NULL: 4, 5: NULL (one row each).
-- ad_bycount 1: 5 4 10.75 2.6875; ad_where 0: 1 2.25, 1: 2 4.5, NULL: 1 4;
-- ad_ints (as int 2, 2, 3, 4) f: 11 2.75 11 2.75 11 2.75 4
SELECT ad_feed($$(1, '1.5'), (2, '2.25'), (3, '3'), (NULL, '4'), (5, NULL)$$);
SELECT ad_batch();
SELECT * FROM ad_bycount ORDER BY 1;
SELECT * FROM ad_where ORDER BY 1;
SELECT * FROM ad_ints ORDER BY 1;
SELECT * FROM ad_check();

-- batch 2: 1: 20 (2 rows), 2: 2.5 (2), 3: 3 (2), 6: 7.125 (1); keys 1, 2
-- and 3 move from count 1 to count 2; key 1 leaves ad_where.
-- ad_bycount 1: 3 2 11.125 5.5625 (NULL 4, 5 NULL, 6 7.125), 2: 3 3 25.5 8.5;
-- ad_where 0: 2 9.625 4.8125, 1: 1 3 3 (not 3.0: 1.5 went out), NULL: 1 4;
-- ad_ints f: 11 5.5 (4, 7) ..., t: 26 (20, 3, 3) ...
SELECT ad_feed($$(1, '20'), (2, '2.5'), (3, '1'), (6, '7.125')$$);
SELECT ad_batch();
SELECT * FROM ad_bycount ORDER BY 1;
SELECT * FROM ad_where ORDER BY 1;
SELECT * FROM ad_ints ORDER BY 1;
SELECT * FROM ad_check();

-- batch 3: NULL: 50 (2), 5: Infinity (2), 6: 7.125 (2), 7: 1.000 (1).
-- ad_bycount 1: 1 1 1.000 (7 alone), 2: 6 6 Infinity Infinity;
-- ad_where: NULL's group reaches 0 and goes (50 fails the WHERE);
-- 1: 2 4.000 2 (3, 1.000); ad_ints f: 1 1 ..., t: 83 (20, 3, 3, 50, 7) ...
SELECT ad_feed($$(NULL, '50'), (5, 'Infinity'), (6, '0.5'), (7, '1.000')$$);
SELECT ad_batch();
SELECT * FROM ad_bycount ORDER BY 1;
SELECT * FROM ad_where ORDER BY 1;
SELECT * FROM ad_ints ORDER BY 1;
SELECT * FROM ad_check();

-- batch 4: 5: NaN (3), 7: 2 (2), 8: -5 (1). Infinity goes out of count
-- 2's sum (finite again), NaN comes into count 3's.
-- ad_bycount 1: 1 1 -5 -5, 2: 6 6 84.625 14.104..., 3: 1 1 NaN NaN;
-- ad_where 0: 3 4.625 (2.5, 7.125, -5), 1: 2 5 2.5 (3, 2: no scale 3 left);
-- ad_ints f: -5 -5 ..., t: 85 (20, 3, 3, 50, 7, 2) ...
SELECT ad_feed($$(5, 'NaN'), (7, '2'), (8, '-5')$$);
SELECT ad_batch();
SELECT * FROM ad_bycount ORDER BY 1;
SELECT * FROM ad_where ORDER BY 1;
SELECT * FROM ad_ints ORDER BY 1;
SELECT * FROM ad_check();

-- a VACUUM FULL of the views moves their rows away from where the outer
-- states say they are: the next batch that touches one finds its row
-- gone or another there, and rebuilds the view and its outer state from
-- the inner state. batch 5: 8: 1 (2), 9: 3.5 (1).
-- ad_bycount 1: 1 1 3.5 3.5, 2: 7 7 85.625 ..., 3: 1 1 NaN NaN;
-- ad_where 0: 3 10.625 (2.5, 7.125, 1), 1: 3 8.5 (3, 2, 3.5)
VACUUM FULL ad_bycount;
VACUUM FULL ad_where;
SELECT ad_feed($$(8, '1'), (9, '3.5')$$);
SELECT ad_batch();
SELECT * FROM ad_bycount ORDER BY 1;
SELECT * FROM ad_where ORDER BY 1;
SELECT * FROM ad_check();

-- 60 random batches of 1 to 16 rows (keys 1 to 30 or NULL, values of
-- scale 0 to 3 or NULL), each view checked after each batch: the
-- failures are counted
CREATE TABLE ad_fail (batch int, view regclass, ok boolean, same_text boolean);
SELECT setseed(0.25);
\o /dev/null
SELECT format($f$SELECT ad_feed(%L)$f$, (SELECT string_agg(format('(%s, %s)',
		CASE WHEN random() < 0.05 THEN 'NULL' ELSE (1 + (random() * 29)::int)::text END,
		CASE WHEN random() < 0.05 THEN 'NULL' ELSE quote_literal(round((random() * 200 - 20)::numeric, (random() * 3)::int)::text) END), ', ')
		FROM generate_series(1, 1 + b * 7 % 16))),
	'SELECT ad_batch()',
	format('INSERT INTO ad_fail SELECT %s, * FROM ad_check() WHERE NOT ok OR NOT same_text', b)
FROM generate_series(1, 60) b \gexec
\o
SELECT count(*) AS failures FROM ad_fail;
SELECT * FROM ad_check();

-- A VACUUM FULL of a view whose rows do not show its keys (so two
-- groups' rows can be equal): the outer state of group 20 then names the
-- row of group 30 (both (1)), the same values, and its update writes a
-- row where the stale tid of group 40 (2) points; a batch touching both
-- must not update that row twice ("tuple already updated by self"), but
-- rebuild. Group 10 at (0,1) goes first, so that the VACUUM FULL moves
-- every row down by one (it is tried again, a few times, while a snapshot
-- still sees the dead row).
CREATE FOREIGN TABLE aj_s (k int, x int) SERVER stream;
CREATE TABLE aj_t (k int, x int);
CREATE FUNCTION aj_feed(r text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO aj_s VALUES %s', r);
	EXECUTE format('INSERT INTO aj_t VALUES %s', r);
END $$;
CREATE MATERIALIZED VIEW aj_junk WITH (trigger = 'manual') AS
	SELECT count(*) AS n FROM (SELECT s.k, max(s.x) AS m FROM aj_s s GROUP BY s.k) q
	WHERE q.m < 100 GROUP BY q.m;
-- one group per batch: groups 10, 20, 30 (1 each) and 40 (2) at (0,1) to (0,4)
SELECT aj_feed('(1, 10)');
REFRESH MATERIALIZED VIEW aj_junk;
SELECT aj_feed('(2, 20)');
REFRESH MATERIALIZED VIEW aj_junk;
SELECT aj_feed('(3, 30)');
REFRESH MATERIALIZED VIEW aj_junk;
SELECT aj_feed('(4, 40), (5, 40)');
REFRESH MATERIALIZED VIEW aj_junk;
SELECT ctid, n FROM aj_junk ORDER BY ctid;
-- group 10 goes (1000 fails the WHERE), then the rows are packed
SELECT aj_feed('(1, 1000)');
REFRESH MATERIALIZED VIEW aj_junk;
VACUUM FULL aj_junk;
\o /dev/null
SELECT min(ctid) = '(0,1)' AS packed FROM aj_junk \gset
\if :packed
\else
SELECT pg_sleep(0.2);
VACUUM FULL aj_junk;
SELECT min(ctid) = '(0,1)' AS packed FROM aj_junk \gset
\if :packed
\else
SELECT pg_sleep(0.2);
VACUUM FULL aj_junk;
SELECT min(ctid) = '(0,1)' AS packed FROM aj_junk \gset
\if :packed
\else
SELECT pg_sleep(0.2);
VACUUM FULL aj_junk;
SELECT min(ctid) = '(0,1)' AS packed FROM aj_junk \gset
\if :packed
\else
SELECT pg_sleep(0.2);
VACUUM FULL aj_junk;
SELECT min(ctid) = '(0,1)' AS packed FROM aj_junk \gset
\if :packed
\else
SELECT pg_sleep(0.2);
VACUUM FULL aj_junk;
\endif
\endif
\endif
\endif
\endif
\o
SELECT ctid, n FROM aj_junk ORDER BY ctid;
-- group 20 to 2 (its update at (0,4), where group 40's stale tid points),
-- then groups 20 and 40 to 3 in one batch
SELECT aj_feed('(6, 20)');
REFRESH MATERIALIZED VIEW aj_junk;
SELECT aj_feed('(7, 20), (8, 40)');
REFRESH MATERIALIZED VIEW aj_junk;
SELECT n FROM aj_junk ORDER BY n;
SELECT matches_query('aj_junk', replace(rtrim(pg_get_viewdef('aj_junk'), ';'), 'aj_s ', 'aj_t '));
DROP MATERIALIZED VIEW aj_junk;
-- a view by deltas whose query stops qualifying for them (a function of
-- its outer key made volatile: recomputed) and then qualifies again:
-- the outer state, not kept while it was recomputed, is made again
-- rather than trusted (a group new meanwhile would get a second row)
TRUNCATE aj_t;  -- (the new view reads the stream from its creation on)
CREATE FUNCTION aj_band(m int) RETURNS int IMMUTABLE LANGUAGE sql AS 'SELECT m / 10';
CREATE MATERIALIZED VIEW aj_flip WITH (trigger = 'manual') AS
	SELECT aj_band(q.m) AS band, count(*) AS n, sum(q.m) AS s
	FROM (SELECT s.k, max(s.x) AS m FROM aj_s s GROUP BY s.k) q GROUP BY 1;
SELECT aj_feed('(20, 5), (21, 15)');
REFRESH MATERIALIZED VIEW aj_flip;
ALTER FUNCTION aj_band(int) VOLATILE;
-- recomputed: band 2 is new, key 20 moves from band 0 to band 3
SELECT aj_feed('(22, 25), (20, 35)');
REFRESH MATERIALIZED VIEW aj_flip;
ALTER FUNCTION aj_band(int) IMMUTABLE;
-- by deltas again: band 2 gets a second group (45 is band 4: new)
SELECT aj_feed('(23, 26), (24, 45)');
REFRESH MATERIALIZED VIEW aj_flip;
-- band 0: none; 1: 15; 2: 25, 26; 3: 35; 4: 45
SELECT band, n, s FROM aj_flip ORDER BY band;
SELECT matches_query('aj_flip', replace(rtrim(pg_get_viewdef('aj_flip'), ';'), 'aj_s ', 'aj_t '));
DROP MATERIALIZED VIEW aj_flip;
DROP FUNCTION aj_band;
DROP FOREIGN TABLE aj_s;
DROP TABLE aj_t;
DROP FUNCTION aj_feed;

-- refused
CREATE MATERIALIZED VIEW ae_bad WITH (retention = '1 day') AS
	SELECT count(*) FROM (SELECT s.k, max(s.x) AS m FROM ae_s s GROUP BY s.k) q;
ALTER MATERIALIZED VIEW ae_stable SET (retention = '1 day');
SELECT stream.purge('ae_stable', '2100-01-01');
-- another view cannot read it (its rows are retracted)
CREATE MATERIALIZED VIEW ae_bad AS SELECT n FROM ae_stable;
-- the table the query above reads is the view's dependency
DROP TABLE ae_thr_t;
-- an ordinary role needs SELECT on the tables read above the aggregation
CREATE ROLE ae_alice;
GRANT USAGE, CREATE ON SCHEMA public TO ae_alice;
GRANT SELECT ON ae_s TO ae_alice;
SET ROLE ae_alice;
CREATE MATERIALIZED VIEW ae_bad AS
	SELECT count(*) FROM (SELECT s.k, max(s.x) AS m FROM ae_s s GROUP BY s.k) q
	WHERE q.m >= (SELECT v FROM ae_thr_t);
RESET ROLE;

DROP MATERIALIZED VIEW ae_stable, ae_innerstable, ae_sub, ae_nulls, ae_having, ae_dist, ae_list, ae_expr, ae_name,
	ae_junk, aew_worker, ad_bycount, ad_where, ad_ints, ad_minmax;
SELECT count(*) FROM stream.cq WHERE view::text LIKE 'ad%';
DROP FOREIGN TABLE ad_s;
DROP TABLE ad_t, ad_fail;
DROP FUNCTION ad_feed, ad_batch, ad_check;
SELECT count(*) FROM stream.cq WHERE view::text LIKE 'ae%';
DROP FOREIGN TABLE ae_s;
DROP TABLE ae_t, ae_thr_t;
DROP FUNCTION ae_thr, ae_feed, ae_batch, ae_check;
REVOKE ALL ON SCHEMA public FROM ae_alice;
DROP ROLE ae_alice;

-- A recompute larger than work_mem: the view and its result are each
-- sorted by their rows' hash (spilling to disk), not held in memory. The
-- rows repeat (a multiset: one view row per inner group, many alike), and
-- each batch moves some groups, so rows are kept, deleted and inserted.
SET work_mem = '64kB';
CREATE FOREIGN TABLE as_s (k int, x int) SERVER stream;
CREATE TABLE as_t (k int, x int);
CREATE FUNCTION as_feed(r text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO as_s %s', r);
	EXECUTE format('INSERT INTO as_t %s', r);
END $$;
CREATE MATERIALIZED VIEW as_rows WITH (trigger = 'manual') AS
	SELECT q.m % 13 AS band, q.m / 100 AS hundred, repeat('x', q.m % 40) AS pad
	FROM (SELECT s.k, max(s.x) AS m FROM as_s s GROUP BY s.k) q;
CREATE MATERIALIZED VIEW as_rank WITH (trigger = 'manual') AS
	SELECT q.k, q.m, rank() OVER (PARTITION BY q.m % 5 ORDER BY q.m, q.k) AS r
	FROM (SELECT s.k, max(s.x) AS m FROM as_s s GROUP BY s.k) q;
SELECT as_feed('SELECT i, (i * 37) % 1000 FROM generate_series(1, 6000) i');
REFRESH MATERIALIZED VIEW as_rows;
REFRESH MATERIALIZED VIEW as_rank;
SELECT count(*) AS n, count(DISTINCT (band, hundred, pad)) AS distinct_rows FROM as_rows;
SELECT matches_query('as_rows', replace(rtrim(pg_get_viewdef('as_rows'), ';'), 'as_s ', 'as_t ')),
	matches_query('as_rank', replace(rtrim(pg_get_viewdef('as_rank'), ';'), 'as_s ', 'as_t '));
-- every seventh group up, then new groups and a few more up
SELECT as_feed('SELECT i, 1000 + i % 300 FROM generate_series(7, 6000, 7) i');
REFRESH MATERIALIZED VIEW as_rows;
REFRESH MATERIALIZED VIEW as_rank;
SELECT matches_query('as_rows', replace(rtrim(pg_get_viewdef('as_rows'), ';'), 'as_s ', 'as_t ')),
	matches_query('as_rank', replace(rtrim(pg_get_viewdef('as_rank'), ';'), 'as_s ', 'as_t '));
SELECT as_feed('SELECT i, i % 1500 FROM generate_series(5990, 7000) i');
REFRESH MATERIALIZED VIEW as_rows;
REFRESH MATERIALIZED VIEW as_rank;
SELECT count(*) AS n FROM as_rows;
SELECT matches_query('as_rows', replace(rtrim(pg_get_viewdef('as_rows'), ';'), 'as_s ', 'as_t ')),
	matches_query('as_rank', replace(rtrim(pg_get_viewdef('as_rank'), ';'), 'as_s ', 'as_t '));
-- a view by deltas rebuilt (its outer state emptied here by hand, as a
-- state that does not match the view is): 3000 outer groups, written
-- past work_mem in parts, each adding to what the parts before wrote
CREATE MATERIALIZED VIEW as_delta WITH (trigger = 'manual') AS
	SELECT q.k % 3000 AS g, count(*) AS n, sum(q.m) AS s, avg(q.m) AS a
	FROM (SELECT s.k, max(s.x) AS m FROM as_s s GROUP BY s.k) q GROUP BY 1;
TRUNCATE as_t;  -- (the new view reads the stream from its creation on)
SELECT as_feed('SELECT i, i % 977 FROM generate_series(1, 9000) i');
REFRESH MATERIALIZED VIEW as_delta;
SELECT matches_query('as_delta', replace(rtrim(pg_get_viewdef('as_delta'), ';'), 'as_s ', 'as_t '));
SELECT rows_table AS as_state FROM stream.cq WHERE view = 'as_delta'::regclass \gset
SELECT count(*) AS outer_groups FROM :as_state;
DELETE FROM :as_state;
SELECT as_feed('SELECT i, 2000 + i FROM generate_series(1, 9000, 5) i');
REFRESH MATERIALIZED VIEW as_delta;
SELECT count(*) AS groups FROM as_delta;
SELECT matches_query('as_delta', replace(rtrim(pg_get_viewdef('as_delta'), ';'), 'as_s ', 'as_t '));
SELECT count(*) AS outer_groups FROM :as_state;
RESET work_mem;
DROP MATERIALIZED VIEW as_rows, as_rank, as_delta;
DROP FOREIGN TABLE as_s;
DROP TABLE as_t;
DROP FUNCTION as_feed;
