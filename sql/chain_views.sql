-- A continuous view read by another continuous view as a stream of its
-- new rows (engine/chain.c): a windowed aggregation over the windows of
-- another (10-minute windows rolled up into 30-minute ones), an
-- aggregation and windows over a view without aggregation, and the
-- refusals. Each batch's results are computed by hand in the comments
-- and every view is compared with its query run as a batch over what it
-- reads (the view it reads is a table: its rows so far).
SET timezone = 'UTC';
CREATE FOREIGN TABLE c_s (k text, ts timestamptz, v int) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE TABLE c_new (k text, m int, v int);
CREATE FUNCTION c_feed() RETURNS void LANGUAGE sql AS $$
	INSERT INTO c_s SELECT k, '2026-01-01 00:00+00'::timestamptz + m * interval '1 minute', v
		FROM c_new;
	DELETE FROM c_new;
$$;
-- views in order of their names, each after the views it reads, and in
-- a transaction of its own: a view's new rows are there for the views
-- reading it once its batch has committed
CREATE PROCEDURE c_batch() LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'c\_%' ORDER BY view::text LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
		COMMIT;
	END LOOP;
END $$;
CREATE VIEW c_stats AS
	SELECT name, output_mode, to_char(watermark, 'HH24:MI') AS watermark, rows_out, rows_late
	FROM stream.queries WHERE name::text LIKE 'c\_%' ORDER BY name::text;

-- 10-minute windows, append
CREATE MATERIALIZED VIEW c_1win WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, k, count(*) AS n, sum(v) AS s
	FROM c_s GROUP BY 1, 2;
-- rolled up into 30-minute windows: the event time is c_1win's window
CREATE MATERIALIZED VIEW c_2roll WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(w, '30 minutes') AS w30, k, sum(n) AS n, sum(s) AS s
	FROM c_1win GROUP BY 1, 2;
-- a view without aggregation, then an aggregation and windows over it
CREATE MATERIALIZED VIEW c_1rows WITH (trigger = 'manual') AS
	SELECT k, ts, v FROM c_s WHERE v <> 2;
CREATE MATERIALIZED VIEW c_2cnt WITH (trigger = 'manual') AS
	SELECT k, count(*) AS n, sum(v) AS s FROM c_1rows GROUP BY k;
-- the event time passed on with c_s's delay (5 minutes)
CREATE MATERIALIZED VIEW c_2win WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(ts, '30 minutes') AS w30, count(*) AS n
	FROM c_1rows GROUP BY 1;
-- the output streams, with the event time and the delay they carry
SELECT c.relname, ft.ftoptions FROM stream.cq q
	JOIN pg_class c ON c.oid = q.output_stream
	JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
	ORDER BY 1;
SELECT * FROM c_stats;

CREATE FUNCTION c_check() RETURNS TABLE (view text, ok boolean) LANGUAGE sql AS $$
	SELECT 'c_2roll', matches_batch('c_2roll', 'c_1win', 'c_1win',
		format('w30 + interval ''30 minutes'' <= %L',
			   (SELECT watermark FROM stream.queries WHERE name = 'c_2roll'::regclass)))
	UNION ALL SELECT 'c_2cnt', matches_batch('c_2cnt', 'c_1rows', 'c_1rows')
	UNION ALL SELECT 'c_2win', matches_batch('c_2win', 'c_1rows', 'c_1rows',
		format('w30 + interval ''30 minutes'' <= %L',
			   (SELECT watermark FROM stream.queries WHERE name = 'c_2win'::regclass)))
$$;

-- batch 1: x@1 1, y@3 2, x@12 3: c_s's watermark 00:07, no window final.
-- c_1rows: x@1, x@12 (y's v is 2); c_2cnt x 2/4; c_2win: its watermark
-- 00:12 - 5m = 00:07
INSERT INTO c_new VALUES ('x', 1, 1), ('y', 3, 2), ('x', 12, 3);
SELECT c_feed();
CALL c_batch();
SELECT count(*) FROM c_1win;
SELECT * FROM c_2cnt ORDER BY k;
SELECT * FROM c_stats;

-- batch 2: x@24 4, y@31 5: watermark 00:26: c_1win's windows 00:00 (x 1/1,
-- y 1/2) and 00:10 (x 1/3) are final. c_2roll reads them: its watermark
-- is the latest window start, 00:10; its window 00:00 is not final
INSERT INTO c_new VALUES ('x', 24, 4), ('y', 31, 5);
SELECT c_feed();
CALL c_batch();
SELECT * FROM c_1win ORDER BY w, k;
SELECT count(*) FROM c_2roll;
SELECT * FROM c_stats;
SELECT * FROM c_check();

-- batch 3: z@45 6, x@52 7: watermark 00:47: c_1win 00:20 (x 1/4), 00:30
-- (y 1/5). c_2roll's watermark 00:30: its window 00:00 is final,
-- x 3/8 (windows 00:00, 00:10, 00:20), y 1/2.
-- c_2win: watermark 00:47: window 00:00 final, x@1 x@12 x@24 = 3
INSERT INTO c_new VALUES ('z', 45, 6), ('x', 52, 7);
SELECT c_feed();
CALL c_batch();
SELECT * FROM c_2roll ORDER BY w30, k;
SELECT * FROM c_2win ORDER BY w30;
SELECT * FROM c_stats;
SELECT * FROM c_check();

-- batch 4: x@75 1: watermark 01:10: c_1win 00:40 (z 1/6), 00:50 (x 1/7),
-- c_2roll's watermark 00:50: nothing more final
INSERT INTO c_new VALUES ('x', 75, 1);
SELECT c_feed();
CALL c_batch();
SELECT * FROM c_2roll ORDER BY w30, k;
-- batch 5: y@90 2: watermark 01:25: c_1win 01:10 (x 1/1); c_2roll's
-- watermark 01:10: window 00:30 final: x 1/7, y 1/5, z 1/6.
-- c_2win: watermark 01:25: window 00:30 = y@31 z@45 x@52 = 3 final
-- (y@90 has v 2: not in c_1rows; x@75 is in window 01:00)
INSERT INTO c_new VALUES ('y', 90, 2);
SELECT c_feed();
CALL c_batch();
SELECT * FROM c_2roll ORDER BY w30, k;
SELECT * FROM c_2win ORDER BY w30;
SELECT * FROM c_2cnt ORDER BY k;
SELECT * FROM c_stats;
SELECT * FROM c_check();

-- a join or a union of two streams passes on no event time: a join's
-- match is written when its second side comes, up to the bound after the
-- first (an impression at 00:00 clicked at 00:50 is written when the
-- join's watermark is already 00:40), and a union's lagging stream's rows
-- after the other's; a reader's watermark, the latest time written minus
-- the delay, would drop them as late
CREATE FOREIGN TABLE c_t (k text, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '5 minutes');
CREATE MATERIALIZED VIEW c_join WITH (trigger = 'manual') AS
	SELECT s.k, s.ts, t.ts AS tts FROM c_s s
	JOIN c_t t ON t.k = s.k AND t.ts BETWEEN s.ts AND s.ts + interval '1 hour';
CREATE MATERIALIZED VIEW c_union WITH (trigger = 'manual') AS
	SELECT k, ts FROM (SELECT k, ts FROM c_s UNION ALL SELECT k, ts FROM c_t) u;
CREATE MATERIALIZED VIEW c_jrows WITH (trigger = 'manual') AS SELECT * FROM c_join;
CREATE MATERIALIZED VIEW c_urows WITH (trigger = 'manual') AS SELECT * FROM c_union;
SELECT c.relname, ft.ftoptions FROM stream.cq q
	JOIN pg_class c ON c.oid = q.output_stream
	JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
	WHERE c.relname IN ('c_join_out', 'c_union_out') ORDER BY 1;
CREATE MATERIALIZED VIEW c_bad WITH (output_mode = 'append') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) FROM c_join GROUP BY 1;
CREATE MATERIALIZED VIEW c_bad WITH (output_mode = 'append') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) FROM c_union GROUP BY 1;
SET client_min_messages = warning;
DROP MATERIALIZED VIEW c_join, c_union CASCADE;
RESET client_min_messages;
DROP FOREIGN TABLE c_t;

-- a view in update mode cannot be read
CREATE MATERIALIZED VIEW c_upd WITH (trigger = 'manual') AS
	SELECT k, count(*) FROM c_s GROUP BY k;
CREATE MATERIALIZED VIEW c_bad AS SELECT * FROM c_upd;
-- but a materialized view defined WITH NO DATA over one not started yet,
-- as pg_dump restores an ordinary materialized view over a continuous
-- view (as 0.1 made them all), stays ordinary at its first REFRESH
CREATE MATERIALIZED VIEW c_upd2 AS SELECT k, count(*) AS n FROM c_s GROUP BY k WITH NO DATA;
CREATE MATERIALIZED VIEW c_plain AS SELECT * FROM c_upd2 WITH NO DATA;
REFRESH MATERIALIZED VIEW c_upd2;
INSERT INTO c_new VALUES ('p', 100, 1);
SELECT c_feed();
CALL c_batch();
REFRESH MATERIALIZED VIEW c_plain;
SELECT * FROM c_plain;
SELECT count(*) FROM stream.cq WHERE view = 'c_plain'::regclass;
DROP MATERIALIZED VIEW c_plain;
DROP MATERIALIZED VIEW c_upd2;
-- a view that is read stays in append mode
ALTER MATERIALIZED VIEW c_1win SET (output_mode = 'update');
-- (a view without aggregation only appends, whatever its mode says)
ALTER MATERIALIZED VIEW c_1rows SET (output_mode = 'update');
ALTER MATERIALIZED VIEW c_1rows RESET (output_mode);
-- nor dropped while a view reads it, nor its output stream
DROP MATERIALIZED VIEW c_1win;
DROP FOREIGN TABLE stream.c_1win_out;
-- a view's owner needs SELECT on the view it reads
CREATE ROLE pgs_chain_user;
GRANT USAGE, CREATE ON SCHEMA public TO pgs_chain_user;
SET ROLE pgs_chain_user;
CREATE MATERIALIZED VIEW c_user WITH (trigger = 'manual') AS SELECT k FROM c_1rows;
RESET ROLE;
GRANT SELECT ON c_1rows TO pgs_chain_user;
SET ROLE pgs_chain_user;
CREATE MATERIALIZED VIEW c_user WITH (trigger = 'manual') AS SELECT k FROM c_1rows;
RESET ROLE;
INSERT INTO c_new VALUES ('q', 100, 9);
SELECT c_feed();
CALL c_batch();
SELECT * FROM c_user;
-- and keeps needing it: without, its batches fail
REVOKE SELECT ON c_1rows FROM pgs_chain_user;
REFRESH MATERIALIZED VIEW c_user;

-- once no view reads it, another mode drops its output stream (its
-- batches would write it for nobody), and a new reader is refused
CREATE MATERIALIZED VIEW c_m1 WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n FROM c_s GROUP BY 1;
CREATE MATERIALIZED VIEW c_m2 WITH (trigger = 'manual') AS SELECT w, n FROM c_m1;
DROP MATERIALIZED VIEW c_m2;
ALTER MATERIALIZED VIEW c_m1 SET (output_mode = 'update');
SELECT output_stream FROM stream.cq WHERE view = 'c_m1'::regclass;
SELECT count(*) FROM pg_class WHERE relname = 'c_m1_out';
INSERT INTO c_new VALUES ('m', 110, 1);
SELECT c_feed();
REFRESH MATERIALIZED VIEW c_m1;
SELECT to_char(w, 'HH24:MI') AS w, n FROM c_m1 ORDER BY w;
CREATE MATERIALIZED VIEW c_m2 WITH (trigger = 'manual') AS SELECT w, n FROM c_m1;
DROP MATERIALIZED VIEW c_m1;
SELECT count(*) FROM pg_class WHERE relname = 'c_m1_out';

-- a view started joining a stream with a continuous view as a table
-- (0.1's views; here defined before that view was started) goes on
-- reading it as a table, in update mode or in append mode with a reader
CREATE FOREIGN TABLE cl_s (k text, v int) SERVER stream;
CREATE FOREIGN TABLE cl_e (k text, v int) SERVER stream;
CREATE MATERIALIZED VIEW cl_upd AS SELECT k, count(*) AS n FROM cl_s GROUP BY k WITH NO DATA;
CREATE MATERIALIZED VIEW cl_app AS SELECT k, v FROM cl_s WITH NO DATA;
CREATE MATERIALIZED VIEW cl_x WITH (trigger = 'manual') AS
	SELECT e.k, e.v, u.n FROM cl_e e JOIN cl_upd u USING (k);
CREATE MATERIALIZED VIEW cl_y WITH (trigger = 'manual') AS
	SELECT e.k, e.v, a.v AS av FROM cl_e e JOIN cl_app a USING (k);
REFRESH MATERIALIZED VIEW cl_upd;
REFRESH MATERIALIZED VIEW cl_app;
ALTER MATERIALIZED VIEW cl_upd SET (trigger = 'manual');
ALTER MATERIALIZED VIEW cl_app SET (trigger = 'manual');
INSERT INTO cl_s VALUES ('a', 1), ('a', 2), ('b', 3);
REFRESH MATERIALIZED VIEW cl_upd;
REFRESH MATERIALIZED VIEW cl_app;
CREATE MATERIALIZED VIEW cl_r WITH (trigger = 'manual') AS SELECT k, v FROM cl_app;
INSERT INTO cl_e VALUES ('a', 10), ('b', 20);
REFRESH MATERIALIZED VIEW cl_x;
REFRESH MATERIALIZED VIEW cl_y;
SELECT * FROM cl_x ORDER BY 1, 2, 3;
SELECT * FROM cl_y ORDER BY 1, 2, 3;
SELECT v.view, p.stream FROM stream.cq v LEFT JOIN stream.positions p USING (view)
	WHERE v.view::text LIKE 'cl\_%' ORDER BY v.view::text, p.stream::text;
SET client_min_messages = warning;
DROP MATERIALIZED VIEW cl_upd, cl_app CASCADE;
RESET client_min_messages;
DROP FOREIGN TABLE cl_s, cl_e;

DROP MATERIALIZED VIEW c_1win CASCADE;
DROP MATERIALIZED VIEW c_1rows CASCADE;
DROP MATERIALIZED VIEW c_upd;
SELECT count(*) FROM pg_class WHERE relname LIKE 'c\_%out';
REVOKE ALL ON SCHEMA public FROM pgs_chain_user;
DROP ROLE pgs_chain_user;
DROP VIEW c_stats;
DROP FUNCTION c_check(), c_feed();
DROP PROCEDURE c_batch();
DROP FOREIGN TABLE c_s;
DROP TABLE c_new;
