-- Joins of two streams: inner, left, right, full; bounds, late rows,
-- duplicates of the key, state per side, an aggregation over a join.
SET timezone = 'UTC';
SELECT count(*) AS join_tables_before FROM pg_class
WHERE relnamespace = 'stream'::regnamespace AND relname LIKE 'join\_%' \gset

-- Two streams, each with event time and a 10-minute watermark. Every row
-- also goes into a log table, except the late rows, so each view can be
-- compared at the end with the same query run as a batch over the logs.
CREATE FOREIGN TABLE imps (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE FOREIGN TABLE clks (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE TABLE imps_log (ad int, ts timestamptz);
CREATE TABLE clks_log (ad int, ts timestamptz);
CREATE TABLE campaigns (ad int PRIMARY KEY, campaign text);
INSERT INTO campaigns VALUES (1, 'red'), (2, 'red'), (3, 'blue'), (4, 'blue'),
	(5, 'red'), (6, 'red');

-- a click counts for an impression when it comes within the hour after it
CREATE MATERIALIZED VIEW j_inner WITH (trigger = 'manual') AS
	SELECT i.ad, i.ts AS its, c.ts AS cts
	FROM imps i JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour';
CREATE MATERIALIZED VIEW j_left WITH (trigger = 'manual') AS
	SELECT i.ad, i.ts AS its, c.ts AS cts
	FROM imps i LEFT JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour';
CREATE MATERIALIZED VIEW j_right WITH (trigger = 'manual') AS
	SELECT c.ad, i.ts AS its, c.ts AS cts
	FROM imps i RIGHT JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour';
CREATE MATERIALIZED VIEW j_full WITH (trigger = 'manual') AS
	SELECT i.ad AS iad, c.ad AS cad, i.ts AS its, c.ts AS cts
	FROM imps i FULL JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour';
-- two streams and a table, aggregated per campaign and hour of the impression
CREATE MATERIALIZED VIEW j_agg WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT k.campaign, stream.tumble(i.ts, '1 hour') AS w, count(*) AS n, count(c.ad) AS clicks
	FROM imps i LEFT JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	JOIN campaigns k ON k.ad = i.ad
	GROUP BY 1, 2;

CREATE FUNCTION refresh_all() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	REFRESH MATERIALIZED VIEW j_inner;
	REFRESH MATERIALIZED VIEW j_left;
	REFRESH MATERIALIZED VIEW j_right;
	REFRESH MATERIALIZED VIEW j_full;
	REFRESH MATERIALIZED VIEW j_agg;
END $$;
CREATE VIEW join_state AS
	SELECT name, watermark, rows_late, state_rows, state_rows_by_stream
	FROM stream.queries WHERE name::text LIKE 'j\_%' ORDER BY name::text;

--
-- Batch 1: two impressions of ad 1 at the same time (a duplicate key on
-- the left), clicks exactly at both bounds (12:00 and 13:00: 2 x 2 pairs).
-- Nothing is late (no watermark yet); afterwards the watermark is
-- min(12:30, 13:00) - 10 min = 12:20, and the click at 12:00 expires
-- (no impression after the watermark can be before it).
--
INSERT INTO imps_log VALUES (1, '2026-01-01 12:00'), (1, '2026-01-01 12:00'), (2, '2026-01-01 12:30');
INSERT INTO clks_log VALUES (1, '2026-01-01 12:00'), (1, '2026-01-01 13:00');
INSERT INTO imps SELECT * FROM imps_log;
INSERT INTO clks SELECT * FROM clks_log;
SELECT refresh_all();
SELECT * FROM j_inner ORDER BY 1, 2, 3;
SELECT count(*) FROM j_left WHERE cts IS NULL;	-- no NULL-padded row before its time
SELECT count(*) FROM j_right WHERE its IS NULL;
SELECT * FROM join_state;

--
-- Batch 2: the impression (2, 12:15) is late (at or before 12:20) and
-- dropped; a click exactly one hour after impression 2 matches; a click
-- one microsecond after ad 1's bound and one a second before impression
-- 3 match nothing. Watermark after: min(12:40, 13:20) = 12:30.
--
INSERT INTO imps VALUES (2, '2026-01-01 12:15');
INSERT INTO imps_log VALUES (3, '2026-01-01 12:40');
INSERT INTO clks_log VALUES (2, '2026-01-01 13:30'), (1, '2026-01-01 13:00:00.000001'),
	(3, '2026-01-01 12:39:59');
INSERT INTO imps SELECT * FROM imps_log WHERE ad = 3;
INSERT INTO clks SELECT * FROM clks_log WHERE ts > '2026-01-01 13:00' OR ad = 3;
SELECT refresh_all();
SELECT * FROM j_inner ORDER BY 1, 2, 3;
SELECT count(*) FROM j_left WHERE cts IS NULL;
SELECT count(*) FROM j_right WHERE its IS NULL;
SELECT * FROM join_state;

--
-- Batch 3: the click (1, 12:30) is exactly at the watermark: late. The
-- watermark moves to min(13:50, 13:35) = 13:35: the impressions of 12:00
-- and 12:30 expire (matched: no NULL-padded row), and so do the clicks
-- up to 13:35; the two that never matched come out NULL-padded in the
-- right and full joins, now.
--
INSERT INTO clks VALUES (1, '2026-01-01 12:30');
INSERT INTO imps_log VALUES (4, '2026-01-01 14:00');
INSERT INTO clks_log VALUES (3, '2026-01-01 13:45');
INSERT INTO imps SELECT * FROM imps_log WHERE ad = 4;
INSERT INTO clks SELECT * FROM clks_log WHERE ts = '2026-01-01 13:45';
SELECT refresh_all();
SELECT * FROM j_left WHERE cts IS NULL;
SELECT * FROM j_right WHERE its IS NULL ORDER BY cts;
SELECT * FROM j_full WHERE iad IS NULL OR cad IS NULL ORDER BY its, cts;
SELECT * FROM join_state;

--
-- Batch 4: a match at 16:00; the watermark moves to 15:50. Impressions 3
-- (12:40, one click 1 s before it and one 5 min after its hour) and 4
-- never matched: NULL-padded in the left and full joins. The click
-- (3, 13:45) too, in the right and full joins.
--
INSERT INTO imps_log VALUES (5, '2026-01-01 16:00');
INSERT INTO clks_log VALUES (5, '2026-01-01 16:00');
INSERT INTO imps SELECT * FROM imps_log WHERE ad = 5;
INSERT INTO clks SELECT * FROM clks_log WHERE ad = 5;
SELECT refresh_all();
SELECT * FROM j_left ORDER BY 1, 2, 3;
SELECT * FROM j_right ORDER BY 1, 2, 3;
SELECT * FROM join_state;
-- the aggregation's windows are final one hour (the join's bound) after
-- the watermark: 12:00 - 13:00 only
SELECT * FROM j_agg ORDER BY 1, 2;

--
-- Batch 5: a later pair moves the watermark to 18:20: windows up to
-- 16:00 - 17:00 are final.
--
INSERT INTO imps_log VALUES (6, '2026-01-01 18:30');
INSERT INTO clks_log VALUES (6, '2026-01-01 18:30');
INSERT INTO imps SELECT * FROM imps_log WHERE ad = 6;
INSERT INTO clks SELECT * FROM clks_log WHERE ad = 6;
SELECT refresh_all();
SELECT * FROM j_full ORDER BY 3, 4;
SELECT * FROM j_agg ORDER BY 1, 2;
SELECT * FROM join_state;

-- Each view equals its query run as a batch over the rows that were not
-- late: the outer joins once their unmatched rows have expired (all but
-- the rows of 18:30, which matched).
SELECT count(*) AS inner_diff FROM (
	(SELECT i.ad, i.ts, c.ts FROM imps_log i JOIN clks_log c
	 ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	 EXCEPT ALL SELECT * FROM j_inner)
	UNION ALL
	(SELECT * FROM j_inner EXCEPT ALL
	 SELECT i.ad, i.ts, c.ts FROM imps_log i JOIN clks_log c
	 ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour')) d;
SELECT count(*) AS left_diff FROM (
	(SELECT i.ad, i.ts, c.ts FROM imps_log i LEFT JOIN clks_log c
	 ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	 EXCEPT ALL SELECT * FROM j_left)
	UNION ALL
	(SELECT * FROM j_left EXCEPT ALL
	 SELECT i.ad, i.ts, c.ts FROM imps_log i LEFT JOIN clks_log c
	 ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour')) d;
SELECT count(*) AS right_diff FROM (
	(SELECT c.ad, i.ts, c.ts FROM imps_log i RIGHT JOIN clks_log c
	 ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	 EXCEPT ALL SELECT * FROM j_right)
	UNION ALL
	(SELECT * FROM j_right EXCEPT ALL
	 SELECT c.ad, i.ts, c.ts FROM imps_log i RIGHT JOIN clks_log c
	 ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour')) d;
SELECT count(*) AS full_diff FROM (
	(SELECT i.ad, c.ad, i.ts, c.ts FROM imps_log i FULL JOIN clks_log c
	 ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	 EXCEPT ALL SELECT * FROM j_full)
	UNION ALL
	(SELECT * FROM j_full EXCEPT ALL
	 SELECT i.ad, c.ad, i.ts, c.ts FROM imps_log i FULL JOIN clks_log c
	 ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour')) d;
-- the aggregation: its final windows (ending at or before 18:20 - 1 hour)
SELECT count(*) AS agg_diff FROM (
	(SELECT k.campaign, stream.tumble(i.ts, '1 hour') AS w, count(*) AS n, count(c.ad) AS clicks
	 FROM imps_log i LEFT JOIN clks_log c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	 JOIN campaigns k ON k.ad = i.ad
	 WHERE i.ts < '2026-01-01 17:00' GROUP BY 1, 2
	 EXCEPT ALL SELECT * FROM j_agg)
	UNION ALL
	(SELECT * FROM j_agg EXCEPT ALL
	 SELECT k.campaign, stream.tumble(i.ts, '1 hour') AS w, count(*) AS n, count(c.ad) AS clicks
	 FROM imps_log i LEFT JOIN clks_log c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	 JOIN campaigns k ON k.ad = i.ad
	 WHERE i.ts < '2026-01-01 17:00' GROUP BY 1, 2)) d;

--
-- Equal tumbling windows, and a comma join bounded in WHERE; a row
-- without event time matches nothing under a time bound and is not kept.
--
CREATE MATERIALIZED VIEW j_window WITH (trigger = 'manual') AS
	SELECT i.ad, stream.tumble(i.ts, '1 hour') AS w, i.ts AS its, c.ts AS cts
	FROM imps i JOIN clks c
	ON c.ad = i.ad AND stream.tumble(i.ts, '1 hour') = stream.tumble(c.ts, '1 hour');
CREATE MATERIALIZED VIEW j_comma WITH (trigger = 'manual') AS
	SELECT i.ad, i.ts AS its, c.ts AS cts FROM clks c, imps i
	WHERE c.ad = i.ad AND c.ts >= i.ts AND c.ts < i.ts + interval '30 minutes';
INSERT INTO imps VALUES (7, '2026-01-01 20:00'), (7, '2026-01-01 20:50'), (7, NULL);
INSERT INTO clks VALUES (7, '2026-01-01 20:29:59'), (7, '2026-01-01 20:30'), (7, '2026-01-01 21:00'), (7, NULL);
REFRESH MATERIALIZED VIEW j_window;
REFRESH MATERIALIZED VIEW j_comma;
SELECT * FROM j_window ORDER BY 3, 4;
SELECT * FROM j_comma ORDER BY 2, 3;
-- watermark min(20:40, 20:50) = 20:40: the windows of 20:00 - 21:00 stay
SELECT name, watermark, state_rows_by_stream FROM stream.queries
WHERE name::text IN ('j_window', 'j_comma') ORDER BY name::text;
INSERT INTO imps VALUES (8, '2026-01-01 21:30');
INSERT INTO clks VALUES (8, '2026-01-01 21:30');
REFRESH MATERIALIZED VIEW j_window;
REFRESH MATERIALIZED VIEW j_comma;
-- watermark 21:20: the 20:00 windows expired; of j_comma's clicks, those
-- up to 21:20; of its impressions, those whose 30 minutes ended
SELECT name, watermark, state_rows_by_stream FROM stream.queries
WHERE name::text IN ('j_window', 'j_comma') ORDER BY name::text;

--
-- What is refused
--
CREATE FOREIGN TABLE plain_clks (ad int, ts timestamptz) SERVER stream;
CREATE FOREIGN TABLE third (ad int) SERVER stream;
CREATE VIEW imps_derived AS SELECT * FROM imps WHERE ad > 0;
-- outer joins need watermarks on both sides, and a bound each way
CREATE MATERIALIZED VIEW j_bad AS
	SELECT i.ad FROM imps i LEFT JOIN plain_clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour';
CREATE MATERIALIZED VIEW j_bad AS
	SELECT i.ad FROM imps i FULL JOIN clks c ON c.ad = i.ad;
CREATE MATERIALIZED VIEW j_bad AS
	SELECT i.ad FROM imps i LEFT JOIN clks c ON c.ad = i.ad AND c.ts >= i.ts;
-- an outer join of derived streams; a stream on the nullable side of a table
CREATE MATERIALIZED VIEW j_bad AS
	SELECT i.ad FROM imps_derived i LEFT JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour';
CREATE MATERIALIZED VIEW j_bad AS
	SELECT i.ad FROM campaigns k LEFT JOIN imps i ON i.ad = k.ad;
-- three streams; a stream joined with itself
CREATE MATERIALIZED VIEW j_bad AS
	SELECT i.ad FROM imps i JOIN clks c ON c.ad = i.ad JOIN third t ON t.ad = i.ad;
CREATE MATERIALIZED VIEW j_bad AS
	SELECT a.ad FROM imps a JOIN imps b ON a.ad = b.ad;
-- an inner join without a bound is allowed, but its state is never evicted
CREATE MATERIALIZED VIEW j_unbounded AS
	SELECT i.ad FROM imps i JOIN plain_clks c ON c.ad = i.ad;
-- only imps has a watermark: nothing is late in this join, however old
INSERT INTO imps VALUES (9, '2026-01-01 23:00');
INSERT INTO plain_clks VALUES (9, '2026-01-01 08:00');
REFRESH MATERIALIZED VIEW j_unbounded;
INSERT INTO imps VALUES (9, '2026-01-01 10:00');
REFRESH MATERIALIZED VIEW j_unbounded;
SELECT ad, count(*) FROM j_unbounded GROUP BY ad;
SELECT watermark, rows_late, state_rows_by_stream FROM stream.queries
WHERE name = 'j_unbounded'::regclass;
-- and an append-mode aggregation over its unbounded side has no final window
CREATE MATERIALIZED VIEW j_bad WITH (output_mode = 'append') AS
	SELECT stream.tumble(i.ts, '1 hour') AS w, count(*)
	FROM imps i JOIN plain_clks c ON c.ad = i.ad GROUP BY 1;

-- a function a join's query calls that reads one of its streams gets a
-- bounded read (what is there now), not the batch's own rows of it
CREATE FOREIGN TABLE pa (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 hour');
CREATE FOREIGN TABLE pb (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 hour');
CREATE FUNCTION pa_now() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM public.pa';
-- a reader never refreshed: every row of pa stays there
CREATE MATERIALIZED VIEW pa_idle WITH (trigger = 'manual') AS SELECT k FROM pa;
CREATE MATERIALIZED VIEW j_peek WITH (trigger = 'manual') AS
	SELECT a.k, pa_now() AS seen
	FROM pa a JOIN pb b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '1 hour';
INSERT INTO pa VALUES (1, '2026-01-01 10:00'), (2, '2026-01-01 10:00');
INSERT INTO pb VALUES (1, '2026-01-01 10:10');
REFRESH MATERIALIZED VIEW j_peek;
INSERT INTO pa VALUES (3, '2026-01-01 10:20');
INSERT INTO pb VALUES (3, '2026-01-01 10:30');
REFRESH MATERIALIZED VIEW j_peek;
-- 3 rows of pa are there at the second batch, which read 1 of them
SELECT k, seen FROM j_peek ORDER BY k;
DROP MATERIALIZED VIEW j_peek, pa_idle;
DROP FUNCTION pa_now();
DROP FOREIGN TABLE pa, pb;

DROP MATERIALIZED VIEW j_inner, j_left, j_right, j_full, j_agg, j_window, j_comma, j_unbounded;
DROP VIEW join_state, imps_derived;
DROP FUNCTION refresh_all();
DROP FOREIGN TABLE imps, clks, plain_clks, third;
DROP TABLE imps_log, clks_log, campaigns;
-- the views' join state tables went with them
SELECT count(*) - :join_tables_before AS join_tables_left FROM pg_class
WHERE relnamespace = 'stream'::regnamespace AND relname LIKE 'join\_%';
