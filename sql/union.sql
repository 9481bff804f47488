-- UNION ALL of streams (engine/union.c), in a derived stream, a subquery
-- in FROM, and the view itself: each branch reads its own stream's batch
-- (a stream twice: the same rows in each branch), and the view's
-- watermark is the least of its streams'. Under aggregation, tumbling,
-- hopping and session windows, append, update and complete modes,
-- DISTINCT, and a table joined above the union. Each batch's results are
-- computed by hand in the comments; every view is also compared with its
-- query run as a batch over logs of the same input (late rows left out
-- of the logs). Refusals at the end.
SET timezone = 'UTC';
-- a: watermark 5 minutes; b: 10 minutes; c: no event time
CREATE FOREIGN TABLE u_a (k text, ts timestamptz, v int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE FOREIGN TABLE u_b (k text, ts timestamptz, v int) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE FOREIGN TABLE u_c (k text, v int) SERVER stream;
-- the logs have every row, and which views drop it as late: 'windows'
-- (the windowed views), 'hop' (u_hop alone), or NULL
CREATE TABLE u_a_log (k text, ts timestamptz, v int, late text);
CREATE TABLE u_b_log (k text, ts timestamptz, v int, late text);
CREATE TABLE u_c_log (k text, v int);
CREATE TABLE u_tab (k text PRIMARY KEY, label text);
INSERT INTO u_tab VALUES ('x', 'ex'), ('y', 'why');
-- the input of a batch: (stream, k, minute, v, late)
CREATE TABLE u_new (s text, k text, m int, v int, late text);
CREATE FUNCTION u_feed() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	r record;
BEGIN
	FOR r IN SELECT *, '2026-01-01 00:00+00'::timestamptz + m * interval '1 minute' AS ts
			 FROM u_new LOOP
		IF r.s = 'a' THEN
			INSERT INTO u_a VALUES (r.k, r.ts, r.v);
			INSERT INTO u_a_log VALUES (r.k, r.ts, r.v, r.late);
		ELSIF r.s = 'b' THEN
			INSERT INTO u_b VALUES (r.k, r.ts, r.v);
			INSERT INTO u_b_log VALUES (r.k, r.ts, r.v, r.late);
		ELSE
			INSERT INTO u_c VALUES (r.k, r.v);
			INSERT INTO u_c_log VALUES (r.k, r.v);
		END IF;
	END LOOP;
	DELETE FROM u_new;
END $$;
CREATE FUNCTION u_batch() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'u\_%' ORDER BY 1 LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
	END LOOP;
END $$;
CREATE VIEW u_stats AS
	SELECT name, to_char(watermark, 'HH24:MI') AS watermark, state_rows, rows_late
	FROM stream.queries WHERE name::text LIKE 'u\_%' ORDER BY name::text;

-- derived streams, and the same over the logs for the batch queries
CREATE VIEW u_ab AS
	SELECT 'a' AS src, k, ts, v FROM u_a
	UNION ALL SELECT 'b', k, ts, v FROM u_b;
CREATE VIEW u_ab_log AS
	SELECT 'a' AS src, k, ts, v FROM u_a_log
	UNION ALL SELECT 'b', k, ts, v FROM u_b_log;
CREATE VIEW u_ab_ontime AS
	SELECT 'a' AS src, k, ts, v FROM u_a_log WHERE late IS DISTINCT FROM 'windows'
	UNION ALL SELECT 'b', k, ts, v FROM u_b_log WHERE late IS DISTINCT FROM 'windows';
-- one stream twice: x's rows come out twice, the second time times 10
CREATE VIEW u_aa AS
	SELECT k, ts, v FROM u_a WHERE v > 1
	UNION ALL SELECT k, ts, v * 10 FROM u_a WHERE k = 'x';
-- (u_hop reads u_a alone, so its watermark is a's: y@7 of batch 3 is
-- late for it, and not for the others; see batch 3)
CREATE VIEW u_aa_hop_log AS
	SELECT k, ts, v FROM u_a_log WHERE v > 1 AND late IS NULL
	UNION ALL SELECT k, ts, v * 10 FROM u_a_log WHERE k = 'x' AND late IS NULL;
-- a stream with event time and one without
CREATE VIEW u_ac AS
	SELECT k, v FROM u_a UNION ALL SELECT k, v FROM u_c;
CREATE VIEW u_ac_log AS
	SELECT k, v FROM u_a_log UNION ALL SELECT k, v FROM u_c_log;

-- rows (append)
CREATE MATERIALIZED VIEW u_rows WITH (trigger = 'manual') AS
	SELECT src, k, ts, v FROM u_ab;
-- the view itself a UNION ALL
CREATE MATERIALIZED VIEW u_top WITH (trigger = 'manual') AS
	SELECT k, v, 'a' AS src FROM u_a WHERE v < 9
	UNION ALL SELECT k, v, 'c' FROM u_c;
-- a table joined above the union
CREATE MATERIALIZED VIEW u_join WITH (trigger = 'manual') AS
	SELECT u.src, u.k, t.label, u.v FROM u_ab u JOIN u_tab t ON t.k = u.k;
-- aggregation, update mode: a group per (src, k)
CREATE MATERIALIZED VIEW u_cnt WITH (trigger = 'manual') AS
	SELECT src, k, count(*) AS n, sum(v) AS s FROM u_ab GROUP BY src, k;
-- complete mode, over a subquery in FROM
CREATE MATERIALIZED VIEW u_comp WITH (trigger = 'manual', output_mode = 'complete') AS
	SELECT k, count(*) AS n, sum(v) AS s FROM u_ac GROUP BY k;
-- DISTINCT over the union
CREATE MATERIALIZED VIEW u_dist WITH (trigger = 'manual') AS
	SELECT DISTINCT src, k FROM u_ab;
-- a list aggregate: a batch's elements in arrival order, the union's
-- branches one after the other
CREATE MATERIALIZED VIEW u_list WITH (trigger = 'manual') AS
	SELECT k, string_agg(src || v, ',') AS l FROM u_ab GROUP BY k;
-- DISTINCT with the event time among the keys: a key is kept until the
-- watermark passes it, and older rows are late
CREATE MATERIALIZED VIEW u_dist_t WITH (trigger = 'manual') AS
	SELECT DISTINCT k, ts FROM u_ab;
-- tumbling windows, append: final once both streams have passed the end
CREATE MATERIALIZED VIEW u_win WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n, sum(v) AS s
	FROM u_ab GROUP BY 1;
-- the same windows computed in each branch
CREATE MATERIALIZED VIEW u_win2 WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT w, count(*) AS n, sum(v) AS s
	FROM (SELECT stream.tumble(ts, '10 minutes') AS w, v FROM u_a
		  UNION ALL SELECT stream.tumble(ts, '10 minutes'), v FROM u_b) u GROUP BY w;
-- hopping windows over the stream read twice, update mode
CREATE MATERIALIZED VIEW u_hop WITH (trigger = 'manual') AS
	SELECT h AS w, count(*) AS n, sum(v) AS s
	FROM u_aa, stream.hop(ts, '10 minutes', '5 minutes') AS h GROUP BY 1;
-- session windows, append, over a subquery in FROM
CREATE MATERIALIZED VIEW u_sess WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT k, stream.session(ts, '5 minutes') AS sess, count(*) AS n, sum(v) AS s
	FROM (SELECT k, ts, v FROM u_a UNION ALL SELECT k, ts, v FROM u_b) u
	GROUP BY k, stream.session(ts, '5 minutes');

-- one run by its worker, not by REFRESH: checked at the end
CREATE MATERIALIZED VIEW w_union AS
	SELECT src, k, count(*) AS n, sum(v) AS s FROM u_ab GROUP BY src, k;

SELECT name, output_mode FROM stream.queries
WHERE name::text LIKE 'u\_%' ORDER BY name::text;

-- sessions of the logs: a row less than 5 minutes after the previous one
-- of its key continues its session; those final under the watermark
CREATE FUNCTION u_sess_batch() RETURNS TABLE (k text, sess tstzrange, n bigint, s bigint)
LANGUAGE sql AS $$
	WITH r AS (SELECT k, ts, v FROM u_a_log WHERE late IS DISTINCT FROM 'windows'
			   UNION ALL SELECT k, ts, v FROM u_b_log WHERE late IS DISTINCT FROM 'windows'),
	m AS (SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY k ORDER BY ts) < '5 minutes'
						 THEN 0 ELSE 1 END AS brk FROM r),
	g AS (SELECT *, sum(brk) OVER (PARTITION BY k ORDER BY ts) AS sid FROM m)
	SELECT k, tstzrange(min(ts), max(ts) + interval '5 minutes'), count(*), sum(v)
	FROM g GROUP BY k, sid
	HAVING max(ts) + interval '5 minutes' <=
		(SELECT watermark FROM stream.queries WHERE name = 'u_sess'::regclass)
$$;
-- every view against its batch query
CREATE FUNCTION u_check() RETURNS TABLE (view text, ok boolean) LANGUAGE sql AS $$
	SELECT 'u_rows', matches_batch('u_rows', 'u_ab', 'u_ab_log')
	UNION ALL SELECT 'u_join', matches_batch('u_join', 'u_ab', 'u_ab_log')
	UNION ALL SELECT 'u_cnt', matches_batch('u_cnt', 'u_ab', 'u_ab_log')
	UNION ALL SELECT 'u_comp', matches_batch('u_comp', 'u_ac', 'u_ac_log')
	UNION ALL SELECT 'u_dist', matches_batch('u_dist', 'u_ab', 'u_ab_log')
	UNION ALL SELECT 'u_dist_t', matches_batch('u_dist_t', 'u_ab', 'u_ab_ontime')
	UNION ALL SELECT 'u_hop', matches_batch('u_hop', 'u_aa', 'u_aa_hop_log')
	UNION ALL SELECT 'u_win', matches_batch('u_win', 'u_ab', 'u_ab_ontime',
		format('w + interval ''10 minutes'' <= %L',
			   (SELECT watermark FROM stream.queries WHERE name = 'u_win'::regclass)))
	UNION ALL SELECT 'u_win2', NOT EXISTS (TABLE u_win EXCEPT ALL TABLE u_win2) AND
		NOT EXISTS (TABLE u_win2 EXCEPT ALL TABLE u_win)
	UNION ALL SELECT 'u_top',
		NOT EXISTS ((SELECT k, v, 'a' FROM u_a_log WHERE v < 9 UNION ALL
					 SELECT k, v, 'c' FROM u_c_log) EXCEPT ALL SELECT * FROM u_top) AND
		NOT EXISTS (SELECT * FROM u_top EXCEPT ALL (SELECT k, v, 'a' FROM u_a_log WHERE v < 9
					UNION ALL SELECT k, v, 'c' FROM u_c_log))
	UNION ALL SELECT 'u_sess',
		NOT EXISTS (SELECT * FROM u_sess EXCEPT ALL SELECT * FROM u_sess_batch()) AND
		NOT EXISTS (SELECT * FROM u_sess_batch() EXCEPT ALL SELECT * FROM u_sess)
$$;

-- batch 1: a x@1 1, y@3 2; b x@2 5; c x 7.
-- watermarks: a 00:03-5m = 23:58, b 00:02-10m = 23:52; the view's: 23:52
INSERT INTO u_new VALUES ('a', 'x', 1, 1), ('a', 'y', 3, 2), ('b', 'x', 2, 5), ('c', 'x', 0, 7);
SELECT u_feed();
SELECT u_batch();
-- u_rows: the three rows; u_top: a x 1, a y 2, c x 7
SELECT * FROM u_rows ORDER BY ts;
SELECT * FROM u_top ORDER BY src, k;
-- u_cnt: (a,x) 1/1, (a,y) 1/2, (b,x) 1/5
SELECT * FROM u_cnt ORDER BY src, k;
-- u_comp: x 2/8, y 1/2
SELECT * FROM u_comp ORDER BY k;
-- u_hop: u_aa has y@3 2 (v > 1) and x@1 10 (the x branch): windows
-- 23:55 (x 10, y 2), 00:00 (x 10, y 2)
SELECT * FROM u_hop ORDER BY w;
-- nothing final yet: u_win, u_sess empty
SELECT count(*) FROM u_win;
SELECT count(*) FROM u_sess;
SELECT * FROM u_stats;
SELECT * FROM u_check();

-- batch 2: a x@12 3, z@25 4; b y@14 6.
-- watermarks: a 00:25-5m = 00:20; b 00:14-10m = 00:04; the view's: 00:04
-- (a alone would have made windows 00:00 and 00:10 final: it waits for b)
INSERT INTO u_new VALUES ('a', 'x', 12, 3), ('a', 'z', 25, 4), ('b', 'y', 14, 6);
SELECT u_feed();
SELECT u_batch();
SELECT count(*) FROM u_win;
SELECT count(*) FROM u_sess;
SELECT * FROM u_cnt ORDER BY src, k;
-- u_list: batch 1's a then b rows, then batch 2's: x a1,b5,a3; y a2,b6; z a4
SELECT * FROM u_list ORDER BY k;
-- u_join: y rows joined with 'why', z has no label (inner join: no row)
SELECT * FROM u_join ORDER BY v;
SELECT * FROM u_stats;
SELECT * FROM u_check();

-- batch 3: a y@7 9 (not late: the view's watermark 00:04 is before its
-- window's end and its session's start); b x@31 8, z@6 1.
-- watermarks: a 00:20, b 00:31-10m = 00:21; the view's: 00:20.
-- u_win: window 00:00 = x@1 1, y@3 2, x@2 5, y@7 9, z@6 1: 5 rows, 18;
--        window 00:10 = x@12 3, y@14 6: 2 rows, 9; final (end <= 00:20)
-- u_sess, final (end <= 00:20): x [00:01,00:07) 2/6, x [00:12,00:17) 1/3,
--        y [00:03,00:12) 2/11, y [00:14,00:19) 1/6, z [00:06,00:11) 1/1
-- u_hop reads only u_a: its watermark was a's 00:20 already, so y@7 is
-- late there, in both its windows (00:00, 00:05): rows_late 2 (a row
-- counts once per window it is dropped from). Its windows: 23:55 and
-- 00:00 2/12 (x@1 10, y@3 2), 00:05 and 00:10 2/33 (x@12 3 and x@12 30,
-- the row through both branches), 00:20 and 00:25 1/4 (z@25 4)
INSERT INTO u_new VALUES ('a', 'y', 7, 9, 'hop'), ('b', 'x', 31, 8, NULL), ('b', 'z', 6, 1, NULL);
SELECT u_feed();
SELECT u_batch();
SELECT * FROM u_win ORDER BY w;
SELECT * FROM u_sess ORDER BY k, sess;
SELECT * FROM u_hop ORDER BY w;
SELECT * FROM u_stats;
SELECT * FROM u_check();

-- batch 4: a x@5 2 is late (its window 00:00 and its hop windows are
-- final: it is before the watermark 00:20): dropped by u_win (rows_late
-- 1), u_sess (1), u_dist_t (1: its ts is before the watermark) and u_hop, where it is two rows (v > 1, and k = 'x')
-- in two windows each: rows_late 2 + 4 = 6; the views without windows
-- take it. b y@45 1: b's watermark 00:35, a's still 00:20: the
-- view's stays 00:20, nothing more is final.
INSERT INTO u_new VALUES ('a', 'x', 5, 2, 'windows'), ('b', 'y', 45, 1, NULL);
SELECT u_feed();
SELECT u_batch();
SELECT * FROM u_win ORDER BY w;
SELECT * FROM u_stats;
-- u_cnt: (a,x) 3/6, (b,y) 2/7
SELECT * FROM u_cnt ORDER BY src, k;
SELECT * FROM u_check();

-- batch 5: a z@46 1, b y@52 1: a's watermark 00:41, b's 00:42, the
-- view's 00:41 (u_hop's, a's alone: 00:41): windows 00:20 (z@25 4) and
-- 00:30 (x@31 8) are final, 00:40 (y@45 1, z@46 1) not; sessions
-- z [00:25,00:30) 1/4 and x [00:31,00:36) 1/8 are final, y [00:45,00:50),
-- y [00:52,00:57), z [00:46,00:51) not
INSERT INTO u_new VALUES ('a', 'z', 46, 1, NULL), ('b', 'y', 52, 1, NULL);
SELECT u_feed();
SELECT u_batch();
SELECT * FROM u_win ORDER BY w;
SELECT * FROM u_sess ORDER BY k, sess;
SELECT * FROM u_stats;
SELECT * FROM u_check();

-- the worker's view has read everything, and equals its batch query
SELECT wait_for($$(SELECT lag = 0 FROM stream.queries WHERE name = 'w_union'::regclass)$$);
SELECT matches_batch('w_union', 'u_ab', 'u_ab_log');
DROP MATERIALIZED VIEW w_union;

-- Refused, with hints
CREATE MATERIALIZED VIEW u_bad AS
	SELECT k FROM u_a UNION SELECT k FROM u_b;
CREATE MATERIALIZED VIEW u_bad AS
	SELECT * FROM (SELECT k FROM u_a INTERSECT SELECT k FROM u_b) s;
CREATE MATERIALIZED VIEW u_bad AS
	SELECT * FROM (SELECT k FROM u_a EXCEPT ALL SELECT k FROM u_b) s;
-- a table as a branch
CREATE MATERIALIZED VIEW u_bad AS
	SELECT * FROM (SELECT k, v FROM u_a UNION ALL SELECT k, 1 FROM u_tab) s;
-- a union joined with another stream
CREATE MATERIALIZED VIEW u_bad AS
	SELECT * FROM u_ab u JOIN u_c c ON c.k = u.k;
CREATE MATERIALIZED VIEW u_bad AS
	SELECT * FROM u_ab u, u_aa w WHERE u.k = w.k;
-- a join of streams inside a branch (a branch keeps no join state)
CREATE MATERIALIZED VIEW u_bad WITH (output_mode = 'append') AS
	SELECT * FROM (SELECT a.k FROM u_a a LEFT JOIN u_b b ON b.k = a.k
		AND b.ts BETWEEN a.ts AND a.ts + interval '1 minute'
		UNION ALL SELECT k FROM u_c) s;
CREATE MATERIALIZED VIEW u_bad AS
	SELECT * FROM (SELECT a.k FROM u_a a JOIN u_a b ON b.k = a.k
		AND b.ts BETWEEN a.ts AND a.ts + interval '1 minute'
		UNION ALL SELECT k FROM u_c) s;
CREATE MATERIALIZED VIEW u_bad AS
	SELECT * FROM (SELECT a.k FROM u_a a JOIN (SELECT k FROM u_b UNION ALL SELECT k FROM u_c) b
		ON b.k = a.k UNION ALL SELECT k FROM u_c) s;
CREATE MATERIALIZED VIEW u_bad AS
	SELECT a.k FROM u_a a JOIN u_b b ON b.k = a.k
		AND b.ts BETWEEN a.ts AND a.ts + interval '1 minute'
	UNION ALL SELECT k FROM u_c;
-- a stream with event time but no watermark, with one that has one
CREATE FOREIGN TABLE u_nowm (k text, ts timestamptz, v int) SERVER stream
	OPTIONS (event_time 'ts');
CREATE MATERIALIZED VIEW u_bad AS
	SELECT stream.tumble(ts, '10 minutes'), count(*)
	FROM (SELECT ts FROM u_a UNION ALL SELECT ts FROM u_nowm) s GROUP BY 1;
-- the view's option watermark gives every stream one
CREATE MATERIALIZED VIEW u_viewwm WITH (trigger = 'manual', watermark = '1 minute') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*)
	FROM (SELECT ts FROM u_a UNION ALL SELECT ts FROM u_nowm) s GROUP BY 1;
-- windows of different sizes in the branches are not one window
CREATE MATERIALIZED VIEW u_bad WITH (output_mode = 'append') AS
	SELECT w, count(*) FROM (SELECT stream.tumble(ts, '10 minutes') AS w FROM u_a
		UNION ALL SELECT stream.tumble(ts, '5 minutes') FROM u_b) u GROUP BY w;
-- branches that pass on other columns than the event time: no window
-- over event time, so append mode is refused
CREATE MATERIALIZED VIEW u_bad WITH (output_mode = 'append') AS
	SELECT stream.tumble(t, '10 minutes'), count(*)
	FROM (SELECT ts AS t FROM u_a UNION ALL SELECT ts + interval '1 hour' FROM u_b) s GROUP BY 1;

-- a stream in three branches with batches cut by max_batch_rows (two
-- rows; each INSERT a transaction of its own): each branch reads each
-- batch's rows once, through its own read pointer, whatever the cuts.
-- Expected, as the batch query over the same rows: even k: 2, 4 and 40
-- (k > 2, times 10), n 3 s 46; odd k: 1, 3, 5, 3, 1, then 30, 50, 30,
-- n 8 s 123; in four batches: (1), (2) | (3) | (4), (5) | (3), (1)
CREATE FOREIGN TABLE u_cut (k int, v int) SERVER stream;
CREATE MATERIALIZED VIEW u_cutv WITH (trigger = 'manual', max_batch_rows = 2) AS
	SELECT k % 2 AS p, count(*) AS n, sum(v) AS s FROM (SELECT k, v FROM u_cut
		UNION ALL SELECT k, v * 10 FROM u_cut WHERE k > 2
		UNION ALL SELECT k, v FROM u_cut WHERE k < 0) u GROUP BY 1;
INSERT INTO u_cut VALUES (1, 1);
INSERT INTO u_cut VALUES (2, 2);
INSERT INTO u_cut VALUES (3, 3);
REFRESH MATERIALIZED VIEW u_cutv;
INSERT INTO u_cut VALUES (4, 4);
INSERT INTO u_cut VALUES (5, 5);
INSERT INTO u_cut VALUES (3, 3), (1, 1);
REFRESH MATERIALIZED VIEW u_cutv;
REFRESH MATERIALIZED VIEW u_cutv;
SELECT * FROM u_cutv ORDER BY p;
SELECT batches FROM stream.queries WHERE name = 'u_cutv'::regclass;
DROP MATERIALIZED VIEW u_cutv;
DROP FOREIGN TABLE u_cut;

DROP MATERIALIZED VIEW u_viewwm;
DROP MATERIALIZED VIEW u_rows, u_top, u_join, u_cnt, u_comp, u_dist, u_dist_t, u_list, u_win, u_win2, u_hop, u_sess;
DROP VIEW u_ab, u_aa, u_ac, u_ab_log, u_ab_ontime, u_aa_hop_log, u_ac_log, u_stats;
DROP FUNCTION u_check(), u_sess_batch(), u_feed(), u_batch();
DROP FOREIGN TABLE u_a, u_b, u_c, u_nowm;
DROP TABLE u_a_log, u_b_log, u_c_log, u_tab, u_new;
