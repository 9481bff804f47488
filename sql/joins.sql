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
-- an outer join among three streams; a stream read three times
CREATE MATERIALIZED VIEW j_bad AS
	SELECT i.ad FROM imps i LEFT JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	JOIN third t ON t.ad = i.ad;
CREATE MATERIALIZED VIEW j_bad AS
	SELECT a.ad FROM imps a JOIN imps b ON a.ad = b.ad JOIN imps c ON c.ad = a.ad;
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
-- an append-mode window over the time of a stream the join NULL-pads:
-- its padded rows' window is NULL, never final, never written (refused;
-- the preserved side's window, as j_agg's, is fine; update mode too)
CREATE MATERIALIZED VIEW j_bad WITH (output_mode = 'append') AS
	SELECT stream.tumble(c.ts, '1 hour') AS w, count(*)
	FROM imps i LEFT JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	GROUP BY 1;
CREATE MATERIALIZED VIEW j_bad WITH (output_mode = 'append') AS
	SELECT stream.tumble(i.ts, '1 hour') AS w, count(*)
	FROM imps i FULL JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	GROUP BY 1;
CREATE MATERIALIZED VIEW j_ok WITH (output_mode = 'update') AS
	SELECT stream.tumble(c.ts, '1 hour') AS w, count(*)
	FROM imps i LEFT JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	GROUP BY 1;
ALTER MATERIALIZED VIEW j_ok SET (output_mode = 'append');
DROP MATERIALIZED VIEW j_ok;

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

--
-- Nexmark q8: the persons who opened auctions, per 10-second window; a
-- join on equal tumbling windows grouped by the window and columns, with
-- no aggregate (the batch's only one is the count(*) of its late rows),
-- in update and append modes, with HAVING, and with count(*). After each
-- batch every view equals its query run as a batch over tables holding
-- the same rows but the late ones (one replace turns both streams' names,
-- nx_..., into the tables', nxlog_...). Each batch's rows are a day or so
-- apart, the watermark a day behind.
--
CREATE FOREIGN TABLE nx_person (id int, name text, date_time timestamptz) SERVER stream
	OPTIONS (event_time 'date_time', watermark '1 day');
CREATE FOREIGN TABLE nx_auction (id int, seller int, category int, date_time timestamptz,
								 expires timestamptz) SERVER stream
	OPTIONS (event_time 'date_time', watermark '1 day');
CREATE TABLE nxlog_person (id int, name text, date_time timestamptz);
CREATE TABLE nxlog_auction (id int, seller int, category int, date_time timestamptz,
							expires timestamptz);
CREATE MATERIALIZED VIEW nx_q8 WITH (trigger = 'manual') AS
	SELECT P.id, P.name, stream.tumble(P.date_time, '10 seconds') AS starttime
	FROM nx_person P JOIN nx_auction A
	ON P.id = A.seller AND stream.tumble(P.date_time, '10 seconds') = stream.tumble(A.date_time, '10 seconds')
	GROUP BY P.id, P.name, stream.tumble(P.date_time, '10 seconds');
CREATE MATERIALIZED VIEW nx_q8_final WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT P.id, P.name, stream.tumble(P.date_time, '10 seconds') AS starttime
	FROM nx_person P JOIN nx_auction A
	ON P.id = A.seller AND stream.tumble(P.date_time, '10 seconds') = stream.tumble(A.date_time, '10 seconds')
	GROUP BY P.id, P.name, stream.tumble(P.date_time, '10 seconds');
CREATE MATERIALIZED VIEW nx_q8_having WITH (trigger = 'manual') AS
	SELECT P.id, P.name, stream.tumble(P.date_time, '10 seconds') AS starttime
	FROM nx_person P JOIN nx_auction A
	ON P.id = A.seller AND stream.tumble(P.date_time, '10 seconds') = stream.tumble(A.date_time, '10 seconds')
	GROUP BY P.id, P.name, stream.tumble(P.date_time, '10 seconds') HAVING P.id % 2 = 0;
CREATE MATERIALIZED VIEW nx_q8_count WITH (trigger = 'manual') AS
	SELECT P.id, P.name, stream.tumble(P.date_time, '10 seconds') AS starttime, count(*) AS n
	FROM nx_person P JOIN nx_auction A
	ON P.id = A.seller AND stream.tumble(P.date_time, '10 seconds') = stream.tumble(A.date_time, '10 seconds')
	GROUP BY P.id, P.name, stream.tumble(P.date_time, '10 seconds');
CREATE TABLE nx_in_person (b int, late bool, id int, name text, date_time timestamptz);
CREATE TABLE nx_in_auction (b int, late bool, id int, seller int, date_time timestamptz);
-- 1: bob's auction is in another window than bob, carol's auction comes
-- before carol; 2: carol and bob's second row match auctions in the
-- state, alice's third auction adds nothing to her group, and dave's row
-- moves the watermark to Jan 1 12:00; 3: eve and her auction are late;
-- 4 and 5 move the watermark past dave's window, then frank's
INSERT INTO nx_in_person VALUES
	(1, false, 1, 'alice', '2026-01-01 10:00:01'), (1, false, 2, 'bob', '2026-01-01 10:00:05'),
	(2, false, 3, 'carol', '2026-01-01 10:00:02'), (2, false, 2, 'bob', '2026-01-01 10:00:14'),
	(2, false, 4, 'dave', '2026-01-02 12:00:09'),
	(3, true, 5, 'eve', '2026-01-01 10:00:01'), (3, false, 6, 'frank', '2026-01-03 09:00:00'),
	(4, false, 7, 'gina', '2026-01-04 00:00:00'),
	(5, false, 8, 'hal', '2026-01-05 00:00:00');
INSERT INTO nx_in_auction VALUES
	(1, false, 10, 1, '2026-01-01 10:00:03'), (1, false, 11, 1, '2026-01-01 10:00:09'),
	(1, false, 12, 2, '2026-01-01 10:00:12'), (1, false, 13, 3, '2026-01-01 10:00:04'),
	(2, false, 14, 1, '2026-01-01 10:00:07'), (2, false, 15, 4, '2026-01-02 12:00:00'),
	(3, true, 16, 5, '2026-01-01 10:00:02'), (3, false, 17, 6, '2026-01-03 09:00:05'),
	(3, false, 18, 4, '2026-01-02 12:00:05'),
	(4, false, 19, 7, '2026-01-04 00:00:01'),
	(5, false, 20, 8, '2026-01-05 00:00:09');
-- 6: a batch large enough to be aggregated by hashing, then sorted
INSERT INTO nx_in_person
	SELECT 6, false, i, 'p' || i, '2026-01-06'::timestamptz + (i % 50) * interval '1 second'
	FROM generate_series(100, 10099) i;
INSERT INTO nx_in_auction
	SELECT 6, false, i, i - 10000,
		   '2026-01-06'::timestamptz + ((i - 10000) % 50 + i % 3) * interval '1 second'
	FROM generate_series(10100, 20099) i;
CREATE FUNCTION nx_insert(n int) RETURNS bigint LANGUAGE sql AS $$
	INSERT INTO nx_person SELECT id, name, date_time FROM nx_in_person WHERE b = n;
	INSERT INTO nx_auction SELECT id, seller, 0, date_time, NULL FROM nx_in_auction WHERE b = n;
	INSERT INTO nxlog_person SELECT id, name, date_time FROM nx_in_person WHERE b = n AND NOT late;
	INSERT INTO nxlog_auction SELECT id, seller, 0, date_time, NULL FROM nx_in_auction
	WHERE b = n AND NOT late;
	SELECT (SELECT count(*) FROM nx_in_person WHERE b = n) +
		   (SELECT count(*) FROM nx_in_auction WHERE b = n);
$$;
-- in append mode, the windows final: those that end a window's length
-- (the join's bound) before the watermark the batch leaves, or earlier
CREATE FUNCTION nx_batch() RETURNS TABLE (v regclass, matches boolean)
LANGUAGE plpgsql AS $$
DECLARE
	final text;
BEGIN
	REFRESH MATERIALIZED VIEW nx_q8;
	REFRESH MATERIALIZED VIEW nx_q8_final;
	REFRESH MATERIALIZED VIEW nx_q8_having;
	REFRESH MATERIALIZED VIEW nx_q8_count;
	final := format('starttime + interval ''20 seconds'' <= %L',
					(SELECT watermark FROM stream.queries WHERE name = 'nx_q8_final'::regclass));
	RETURN QUERY SELECT x, matches_batch(x, 'nx_', 'nxlog_',
										 CASE WHEN x = 'nx_q8_final'::regclass THEN final ELSE 'true' END)
		FROM unnest('{nx_q8, nx_q8_final, nx_q8_having, nx_q8_count}'::regclass[]) x;
END $$;
CREATE VIEW nx_status AS
	SELECT name, watermark, rows_late, (SELECT count(*) FROM nx_q8) AS update_rows,
		   (SELECT count(*) FROM nx_q8_final) AS final_rows
	FROM stream.queries WHERE name = 'nx_q8_final'::regclass;
SELECT nx_insert(1);
SELECT * FROM nx_batch();
SELECT * FROM nx_status;
SELECT nx_insert(2);
SELECT * FROM nx_batch();
SELECT * FROM nx_status;
SELECT nx_insert(3);
SELECT * FROM nx_batch();
SELECT * FROM nx_status;
SELECT nx_insert(4);
SELECT * FROM nx_batch();
SELECT * FROM nx_status;
SELECT nx_insert(5);
SELECT * FROM nx_batch();
SELECT * FROM nx_status;
SELECT nx_insert(6);
SELECT * FROM nx_batch();
SELECT * FROM nx_status;
SELECT * FROM nx_q8_final ORDER BY starttime, id;
SELECT * FROM nx_q8_count WHERE id < 100 ORDER BY starttime, id;
DROP VIEW nx_status;
DROP FUNCTION nx_insert(int), nx_batch();
DROP MATERIALIZED VIEW nx_q8, nx_q8_final, nx_q8_having, nx_q8_count;
DROP FOREIGN TABLE nx_person, nx_auction;
DROP TABLE nxlog_person, nxlog_auction, nx_in_person, nx_in_auction;

-- A plan that relies on a table index's order through the join of
-- streams (forced here: a sorted aggregation right over a merge join led
-- by the table's primary key, and another with a nested loop between):
-- the batch's copies of the join lose that order, so the batch is planned
-- again without index scans, and each view equals its batch query
CREATE FOREIGN TABLE io_a (k int, ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE io_b (k int, ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark '1 minute');
CREATE TABLE io_a_log (k int, ts timestamptz);
CREATE TABLE io_b_log (k int, ts timestamptz);
CREATE TABLE io_t (id int PRIMARY KEY, name text);
CREATE TABLE io_u (id int PRIMARY KEY, w int);
INSERT INTO io_t SELECT i, 'n' || i FROM generate_series(1, 20000) i;
INSERT INTO io_u SELECT i, i FROM generate_series(1, 20000) i;
ANALYZE io_t, io_u;
CREATE MATERIALIZED VIEW io_v WITH (trigger = 'manual') AS
	SELECT t.id, count(*) AS n
	FROM io_t t JOIN io_a a ON a.k = t.id
	JOIN io_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	GROUP BY 1;
CREATE MATERIALIZED VIEW io_v2 WITH (trigger = 'manual') AS
	SELECT t.id, count(*) AS n, sum(u.w) AS w
	FROM io_t t JOIN io_a a ON a.k = t.id
	JOIN io_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	JOIN io_u u ON u.id = b.k
	GROUP BY 1;
CREATE FUNCTION io_refresh() RETURNS void LANGUAGE plpgsql
SET enable_hashagg = off SET enable_hashjoin = off SET enable_sort = off SET enable_material = off AS $$
BEGIN
	REFRESH MATERIALIZED VIEW io_v;
	REFRESH MATERIALIZED VIEW io_v2;
END $$;
CREATE FUNCTION io_feed(n int, at timestamptz) RETURNS void LANGUAGE sql AS $$
	INSERT INTO io_a_log SELECT i % 700, at FROM generate_series(1, n) i;
	INSERT INTO io_b_log SELECT i % 500, at + interval '1 minute' FROM generate_series(1, n) i;
	INSERT INTO io_a SELECT * FROM io_a_log WHERE ts = at;
	INSERT INTO io_b SELECT * FROM io_b_log WHERE ts = at + interval '1 minute';
$$;
SELECT io_feed(2000, '2026-01-01 12:00');
SELECT io_refresh();
SELECT io_feed(1500, '2026-01-01 12:02');
SELECT io_refresh();
SELECT count(*) AS groups, sum(n) AS pairs FROM io_v;
SELECT matches_query('io_v', replace(replace(rtrim(pg_get_viewdef('io_v'), ';'),
		'io_a ', 'io_a_log '), 'io_b ', 'io_b_log ')) AS io_v_ok,
	matches_query('io_v2', replace(replace(rtrim(pg_get_viewdef('io_v2'), ';'),
		'io_a ', 'io_a_log '), 'io_b ', 'io_b_log ')) AS io_v2_ok;
SELECT name, last_error FROM stream.queries WHERE name::text LIKE 'io\_v%' ORDER BY 1;
-- a sorted aggregation over a merge join whose key the join passes on
-- only as the other stream's column (GROUP BY a.k, b.k in the join's
-- output): its order is not known here, so the batch, whose copies lose
-- it, plans again without merge joins (before: one group twice, the
-- batch failing every retry on the view's unique index)
CREATE MATERIALIZED VIEW io_g WITH (trigger = 'manual') AS
	SELECT a.k, count(*) AS n, sum(b.k) AS w FROM io_a a
	JOIN io_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes' GROUP BY a.k;
TRUNCATE io_a_log, io_b_log;  -- (the new view reads the streams from its creation on)
INSERT INTO io_a_log SELECT i, '2026-01-01 13:00' FROM generate_series(1, 3000) i;
INSERT INTO io_a SELECT * FROM io_a_log WHERE ts = '2026-01-01 13:00';
REFRESH MATERIALIZED VIEW io_g;
INSERT INTO io_a_log SELECT i, '2026-01-01 13:00:10' FROM generate_series(1, 3000) i;
INSERT INTO io_b_log SELECT i, '2026-01-01 13:00:20' FROM generate_series(1, 3000) i;
INSERT INTO io_a SELECT * FROM io_a_log WHERE ts = '2026-01-01 13:00:10';
INSERT INTO io_b SELECT * FROM io_b_log WHERE ts = '2026-01-01 13:00:20';
REFRESH MATERIALIZED VIEW io_g;
SELECT matches_query('io_g', replace(replace(rtrim(pg_get_viewdef('io_g'), ';'),
		'io_a ', 'io_a_log '), 'io_b ', 'io_b_log ')) AS io_g_ok;
DROP MATERIALIZED VIEW io_v, io_v2, io_g;
DROP FUNCTION io_refresh(), io_feed(int, timestamptz);
DROP FOREIGN TABLE io_a, io_b;
DROP TABLE io_a_log, io_b_log, io_t, io_u;

DROP MATERIALIZED VIEW j_inner, j_left, j_right, j_full, j_agg, j_window, j_comma, j_unbounded;
DROP VIEW join_state, imps_derived;
DROP FUNCTION refresh_all();
DROP FOREIGN TABLE imps, clks, plain_clks, third;
DROP TABLE imps_log, clks_log, campaigns;
-- the views' join state tables went with them
SELECT count(*) - :join_tables_before AS join_tables_left FROM pg_class
WHERE relnamespace = 'stream'::regnamespace AND relname LIKE 'join\_%';
