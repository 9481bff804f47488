-- Joins of two streams read each side's state by key: the keys of the
-- other side's new rows probe an index of the state on the join's key
-- columns (engine/join.c); the NULL-padded rows of outer joins come by
-- the expiry index. Each view is compared after every batch with its
-- query run as a batch over the same input (EXCEPT ALL both ways); a
-- DEBUG1 message says how each batch reads each state.
SET timezone = 'UTC';

-- Both streams with event time and a 10-minute watermark; the right
-- one's key is a bigint (int4 = int8 across the join).
CREATE FOREIGN TABLE pl (k int, k2 int, t text, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE FOREIGN TABLE pr (k bigint, k2 int, t text, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE TABLE pl_log (k int, k2 int, t text, ts timestamptz, batch int);
CREATE TABLE pr_log (k bigint, k2 int, t text, ts timestamptz, batch int);

-- each view, and its query over the logs (the outer joins: the pairs,
-- and the unmatched rows whose expiry the view's watermark has reached)
CREATE TABLE checks (v regclass, q text);
CREATE FUNCTION pairs(cond text, cols text DEFAULT 'l.k, l.ts, r.ts') RETURNS text
LANGUAGE sql AS $$ SELECT format('SELECT %s FROM pl_log l JOIN pr_log r ON %s', cols, cond) $$;
CREATE FUNCTION wm(v text) RETURNS text LANGUAGE sql AS
$$ SELECT format('(SELECT watermark FROM stream.queries WHERE name = %L::regclass)', v) $$;
-- l's rows expire an hour after their time, r's at their time
CREATE FUNCTION unmatched_l(v text, cond text, cols text) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT %s FROM pl_log l WHERE l.ts + interval ''1 hour'' <= %s
		AND NOT EXISTS (SELECT FROM pr_log r WHERE %s)', cols, wm(v), cond) $$;
CREATE FUNCTION unmatched_r(v text, cond text, cols text) RETURNS text LANGUAGE sql AS $$
	SELECT format('SELECT %s FROM pr_log r WHERE r.ts <= %s
		AND NOT EXISTS (SELECT FROM pl_log l WHERE %s)', cols, wm(v), cond) $$;
CREATE FUNCTION view_diff(v regclass, q text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM ((TABLE %s EXCEPT ALL (%s)) UNION ALL ((%s) EXCEPT ALL TABLE %s)) d',
				   v, q, q, v) INTO n;
	RETURN n;
END $$;
CREATE FUNCTION view_rows(v regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM %s', v) INTO n;
	RETURN n;
END $$;

\set bound 'r.ts BETWEEN l.ts AND l.ts + interval ''1 hour'''
-- an int4 = int8 key and a time bound
CREATE MATERIALIZED VIEW v_cross WITH (trigger = 'manual') AS
	SELECT l.k, l.ts AS lts, r.ts AS rts
	FROM pl l JOIN pr r ON r.k = l.k AND r.ts BETWEEN l.ts AND l.ts + interval '1 hour';
INSERT INTO checks VALUES ('v_cross', pairs('r.k = l.k AND ' || :'bound'));
-- two key columns, an int and a text, in WHERE (a comma join)
CREATE MATERIALIZED VIEW v_multi WITH (trigger = 'manual') AS
	SELECT l.k AS lk, r.k AS rk, l.ts AS lts, r.ts AS rts
	FROM pl l, pr r WHERE l.k2 = r.k2 AND l.t = r.t AND r.ts BETWEEN l.ts AND l.ts + interval '1 hour';
INSERT INTO checks VALUES ('v_multi', pairs('l.k2 = r.k2 AND l.t = r.t AND ' || :'bound', 'l.k, r.k, l.ts, r.ts'));
-- a text key alone: no bound, the state is kept (and probed) forever
CREATE MATERIALIZED VIEW v_text WITH (trigger = 'manual') AS
	SELECT l.t, l.ts AS lts, r.ts AS rts FROM pl l JOIN pr r ON l.t = r.t;
INSERT INTO checks VALUES ('v_text', pairs('l.t = r.t', 'l.t, l.ts, r.ts'));
-- outer joins
CREATE MATERIALIZED VIEW v_left WITH (trigger = 'manual') AS
	SELECT l.k, l.ts AS lts, r.ts AS rts
	FROM pl l LEFT JOIN pr r ON l.k = r.k AND r.ts BETWEEN l.ts AND l.ts + interval '1 hour';
INSERT INTO checks VALUES ('v_left', pairs('l.k = r.k AND ' || :'bound') || ' UNION ALL ' ||
	unmatched_l('v_left', 'l.k = r.k AND ' || :'bound', 'l.k, l.ts, NULL::timestamptz'));
CREATE MATERIALIZED VIEW v_right WITH (trigger = 'manual') AS
	SELECT r.k, l.ts AS lts, r.ts AS rts
	FROM pl l RIGHT JOIN pr r ON l.k = r.k AND r.ts BETWEEN l.ts AND l.ts + interval '1 hour';
INSERT INTO checks VALUES ('v_right', pairs('l.k = r.k AND ' || :'bound', 'r.k, l.ts, r.ts') || ' UNION ALL ' ||
	unmatched_r('v_right', 'l.k = r.k AND ' || :'bound', 'r.k, NULL::timestamptz, r.ts'));
CREATE MATERIALIZED VIEW v_full WITH (trigger = 'manual') AS
	SELECT l.k AS lk, r.k AS rk, l.ts AS lts, r.ts AS rts
	FROM pl l FULL JOIN pr r ON l.k = r.k AND r.ts BETWEEN l.ts AND l.ts + interval '1 hour';
INSERT INTO checks VALUES ('v_full', pairs('l.k = r.k AND ' || :'bound', 'l.k, r.k, l.ts, r.ts') || ' UNION ALL ' ||
	unmatched_l('v_full', 'l.k = r.k AND ' || :'bound', 'l.k, NULL::bigint, l.ts, NULL::timestamptz') ||
	' UNION ALL ' ||
	unmatched_r('v_full', 'l.k = r.k AND ' || :'bound', 'NULL::int, r.k, NULL::timestamptz, r.ts'));
-- no equality: the states are read whole
CREATE MATERIALIZED VIEW v_noeq WITH (trigger = 'manual') AS
	SELECT l.k AS lk, r.k AS rk, l.ts AS lts, r.ts AS rts
	FROM pl l JOIN pr r ON l.k < r.k AND r.ts BETWEEN l.ts AND l.ts + interval '10 minutes';
INSERT INTO checks VALUES ('v_noeq',
	pairs('l.k < r.k AND r.ts BETWEEN l.ts AND l.ts + interval ''10 minutes''', 'l.k, r.k, l.ts, r.ts'));
-- an equality under another collation than the columns': not a key
CREATE MATERIALIZED VIEW v_collate WITH (trigger = 'manual') AS
	SELECT l.t, l.ts AS lts, r.ts AS rts
	FROM pl l JOIN pr r ON l.t = r.t COLLATE "C" AND r.ts BETWEEN l.ts AND l.ts + interval '1 hour';
INSERT INTO checks VALUES ('v_collate', pairs('l.t = r.t COLLATE "C" AND ' || :'bound', 'l.t, l.ts, r.ts'));
-- a view whose state has no key index (as one created before there were
-- key indexes): read whole
CREATE MATERIALIZED VIEW v_old WITH (trigger = 'manual') AS
	SELECT l.k, l.ts AS lts, r.ts AS rts
	FROM pl l JOIN pr r ON r.k = l.k AND r.ts BETWEEN l.ts AND l.ts + interval '1 hour';
INSERT INTO checks VALUES ('v_old', pairs('r.k = l.k AND ' || :'bound'));

-- the indexes of each state: the expiry, and the key columns
CREATE VIEW state_indexes AS
	SELECT p.view, p.stream, array_agg(
		(SELECT string_agg(a.attname, ', ' ORDER BY array_position(i.indkey::int2[], a.attnum))
		 FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey))
		ORDER BY i.indkey::int2[]) AS indexes
	FROM stream.positions p JOIN pg_index i ON i.indrelid = p.join_state
	WHERE p.view::text LIKE 'v\_%' GROUP BY 1, 2 ORDER BY 1::text, 2::text;
SELECT * FROM state_indexes;
DO $$
DECLARE
	idx regclass;
BEGIN
	FOR idx IN SELECT i.indexrelid::regclass FROM stream.positions p
		JOIN pg_index i ON i.indrelid = p.join_state
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
		WHERE p.view = 'v_old'::regclass AND a.attname <> '_pgs_expires'
	LOOP
		EXECUTE format('DROP INDEX %s', idx);
	END LOOP;
END $$;
SELECT * FROM state_indexes WHERE view = 'v_old'::regclass;

CREATE FUNCTION check_views() RETURNS TABLE (v regclass, rows bigint, diff bigint)
LANGUAGE sql AS $$ SELECT v, view_rows(v), view_diff(v, q) FROM checks ORDER BY v::text $$;

--
-- Batch 1: ten rows of each of keys 1-5 on the left, four of keys 1-3 on
-- the right; a NULL key on each side; on the right a key beyond int4 and
-- a row of key 1 whose second key column differs. The states are empty:
-- read whole. Watermark after: min(10:09, 10:08) - 10 min = 09:58.
--
INSERT INTO pl_log SELECT k, k % 2, 'x' || k, '2026-01-01 10:00'::timestamptz + j * interval '1 minute', 1
	FROM generate_series(1, 5) k, generate_series(0, 9) j;
INSERT INTO pl_log VALUES (NULL, NULL, NULL, '2026-01-01 10:05', 1);
INSERT INTO pr_log SELECT k, k % 2, 'x' || k, '2026-01-01 10:05'::timestamptz + j * interval '1 minute', 1
	FROM generate_series(1, 3) k, generate_series(0, 3) j;
INSERT INTO pr_log VALUES (NULL, 1, NULL, '2026-01-01 10:06', 1), (4294967297, 1, 'x1', '2026-01-01 10:06', 1),
	(1, 0, 'x1', '2026-01-01 10:07', 1);
INSERT INTO pl SELECT k, k2, t, ts FROM pl_log WHERE batch = 1;
INSERT INTO pr SELECT k, k2, t, ts FROM pr_log WHERE batch = 1;
SET client_min_messages = debug1;
REFRESH MATERIALIZED VIEW v_cross;
REFRESH MATERIALIZED VIEW v_full;
REFRESH MATERIALIZED VIEW v_left;
REFRESH MATERIALIZED VIEW v_multi;
REFRESH MATERIALIZED VIEW v_right;
REFRESH MATERIALIZED VIEW v_text;
REFRESH MATERIALIZED VIEW v_noeq;
REFRESH MATERIALIZED VIEW v_collate;
REFRESH MATERIALIZED VIEW v_old;
RESET client_min_messages;
SELECT * FROM check_views();
SELECT DISTINCT watermark FROM stream.queries WHERE name::text LIKE 'v\_%';

--
-- Batch 2: the left state (51 rows) is probed by the right's new keys
-- 1 (twice in the batch), 5 (only in the left's state so far) and 6 (in
-- no state); the right state (15 rows) by the left's new key 2. The
-- watermark moves to min(10:20, 10:32) - 10 min = 10:10: the right's
-- rows of batch 1 expire, and the unmatched ones (the NULL key, the key
-- beyond int4) come out NULL-padded, through the expiry index.
--
INSERT INTO pr_log VALUES (1, 1, 'x1', '2026-01-01 10:30', 2), (1, 1, 'x1', '2026-01-01 10:30', 2),
	(5, 1, 'x5', '2026-01-01 10:31', 2), (6, 0, 'x6', '2026-01-01 10:32', 2);
INSERT INTO pl_log VALUES (2, 0, 'x2', '2026-01-01 10:20', 2);
INSERT INTO pl SELECT k, k2, t, ts FROM pl_log WHERE batch = 2;
INSERT INTO pr SELECT k, k2, t, ts FROM pr_log WHERE batch = 2;
SET client_min_messages = debug1;
REFRESH MATERIALIZED VIEW v_cross;
REFRESH MATERIALIZED VIEW v_full;
REFRESH MATERIALIZED VIEW v_left;
REFRESH MATERIALIZED VIEW v_multi;
REFRESH MATERIALIZED VIEW v_right;
REFRESH MATERIALIZED VIEW v_text;
REFRESH MATERIALIZED VIEW v_noeq;
REFRESH MATERIALIZED VIEW v_collate;
REFRESH MATERIALIZED VIEW v_old;
RESET client_min_messages;
SELECT * FROM check_views();
SELECT DISTINCT watermark FROM stream.queries WHERE name::text LIKE 'v\_%';
-- rows of key 1 and 5 met state rows of many batches
SELECT k, count(*) FROM v_cross GROUP BY k ORDER BY k;

--
-- Batch 3: a pair of key 7 at 13:00 moves the watermark to 12:50: every
-- earlier row expires, the unmatched ones NULL-padded. The right state
-- of the bounded views holds 4 rows now, few for the left's two keys
-- (one state row a key is cheaper read whole): read whole.
--
INSERT INTO pl_log VALUES (7, 1, 'x7', '2026-01-01 13:00', 3), (8, 0, 'x8', '2026-01-01 13:00', 3);
INSERT INTO pr_log VALUES (7, 1, 'x7', '2026-01-01 13:00', 3);
INSERT INTO pl SELECT k, k2, t, ts FROM pl_log WHERE batch = 3;
INSERT INTO pr SELECT k, k2, t, ts FROM pr_log WHERE batch = 3;
SET client_min_messages = debug1;
REFRESH MATERIALIZED VIEW v_cross;
REFRESH MATERIALIZED VIEW v_full;
REFRESH MATERIALIZED VIEW v_left;
REFRESH MATERIALIZED VIEW v_multi;
REFRESH MATERIALIZED VIEW v_right;
REFRESH MATERIALIZED VIEW v_text;
REFRESH MATERIALIZED VIEW v_noeq;
REFRESH MATERIALIZED VIEW v_collate;
REFRESH MATERIALIZED VIEW v_old;
RESET client_min_messages;
SELECT * FROM check_views();
SELECT name, watermark, state_rows_by_stream FROM stream.queries
WHERE name::text LIKE 'v\_%' ORDER BY name::text;
SELECT * FROM v_full WHERE lk IS NULL OR rk IS NULL OR lts IS NULL OR rts IS NULL ORDER BY 3, 4, 1, 2;

-- A batch's keys are probed only while they fit in work_mem: beyond it
-- the state is read whole (the memory a batch holds stays bounded).
-- Each batch's rows are logged, and the view compared with its query
-- over the logs after each batch.
CREATE FOREIGN TABLE pw_a (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 hour');
CREATE FOREIGN TABLE pw_b (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 hour');
CREATE TABLE pw_a_log (k int, ts timestamptz);
CREATE TABLE pw_b_log (k int, ts timestamptz);
CREATE MATERIALIZED VIEW v_wm WITH (trigger = 'manual', max_batch_rows = 100000) AS
SELECT a.k, a.ts AS ats, b.ts AS bts FROM pw_a a JOIN pw_b b
	ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '1 minute';
-- a batch of v_wm under work_mem, with its DEBUG1 line, and the rows of
-- v_wm that its query over the logs does not give, or gives more of
CREATE FUNCTION wm_batch(mem text, OUT missing bigint, OUT extra bigint) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('work_mem', mem, true);
	PERFORM set_config('log_temp_files', '-1', true);
	PERFORM set_config('client_min_messages', 'debug1', true);
	REFRESH MATERIALIZED VIEW v_wm;
	PERFORM set_config('client_min_messages', 'notice', true);
	SELECT count(*) INTO missing FROM (
		SELECT a.k, a.ts, b.ts FROM pw_a_log a JOIN pw_b_log b
			ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '1 minute'
		EXCEPT ALL SELECT * FROM v_wm) d;
	SELECT count(*) INTO extra FROM (
		SELECT * FROM v_wm EXCEPT ALL
		SELECT a.k, a.ts, b.ts FROM pw_a_log a JOIN pw_b_log b
			ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '1 minute') d;
END $$;
INSERT INTO pw_a_log SELECT i, '2026-01-01 12:00' FROM generate_series(1, 40000) i;
INSERT INTO pw_a SELECT * FROM pw_a_log;
SELECT * FROM wm_batch('4MB');
-- 8,000 distinct keys: more than 64kB holds
INSERT INTO pw_b_log SELECT 4 * i, '2026-01-01 12:00:30' FROM generate_series(1, 8000) i;
INSERT INTO pw_b SELECT * FROM pw_b_log;
SELECT * FROM wm_batch('64kB');
-- the same under 4MB: probed
INSERT INTO pw_b SELECT 4 * i + 1, '2026-01-01 12:00:40' FROM generate_series(1, 8000) i;
INSERT INTO pw_b_log SELECT 4 * i + 1, '2026-01-01 12:00:40' FROM generate_series(1, 8000) i;
SELECT * FROM wm_batch('4MB');
-- many rows, few keys: made distinct as they fill 64kB, and probed
INSERT INTO pw_b SELECT 4 * (i % 5) + 2, '2026-01-01 12:00:50' FROM generate_series(1, 20000) i;
INSERT INTO pw_b_log SELECT 4 * (i % 5) + 2, '2026-01-01 12:00:50' FROM generate_series(1, 20000) i;
SELECT * FROM wm_batch('64kB');
SELECT count(*), count(DISTINCT k) FROM v_wm;
DROP MATERIALIZED VIEW v_wm;
DROP FUNCTION wm_batch(text);
DROP TABLE pw_a_log, pw_b_log;
DROP FOREIGN TABLE pw_a, pw_b;

DROP MATERIALIZED VIEW v_cross, v_multi, v_text, v_left, v_right, v_full, v_noeq, v_collate, v_old;
DROP VIEW state_indexes;
DROP FUNCTION check_views(), view_diff(regclass, text), view_rows(regclass), pairs(text, text), wm(text),
	unmatched_l(text, text, text), unmatched_r(text, text, text);
DROP TABLE checks, pl_log, pr_log;
DROP FOREIGN TABLE pl, pr;

--
-- Stacked outer joins: the rows NULL-padded for a stream reach the other
-- streams' states by key too (each state keyed with the padded rows'
-- stream, directly or through a third, is probed with their keys), and
-- they come by the expiry index: of the rows padded anew in a batch, the
-- expiry index gives those whose bound passed since the last batch. A
-- star whose second join keys another column of the anchor (c.j = a.k2,
-- NULL in some rows of a), a chain (c keyed with a through b, a bigint:
-- int4 = int8 across each join), and both as FULL joins. Each view
-- equals its query run as a batch once the watermark has passed every
-- logged row (the last rows, in the streams only, are pending).
--
CREATE FOREIGN TABLE sp_a (k int, k2 int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE sp_b (k bigint, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE sp_c (k int, j int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE TABLE sp_a_log (k int, k2 int, ts timestamptz);
CREATE TABLE sp_b_log (k bigint, ts timestamptz);
CREATE TABLE sp_c_log (k int, j int, ts timestamptz);
CREATE MATERIALIZED VIEW sp_star WITH (trigger = 'manual') AS
	SELECT a.k, a.k2, a.ts AS ats, b.ts AS bts, c.j, c.ts AS cts
	FROM sp_a a
	LEFT JOIN sp_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	LEFT JOIN sp_c c ON c.j = a.k2 AND c.ts BETWEEN a.ts AND a.ts + interval '10 minutes';
CREATE MATERIALIZED VIEW sp_chain WITH (trigger = 'manual') AS
	SELECT a.k, a.ts AS ats, b.ts AS bts, c.ts AS cts
	FROM sp_a a
	LEFT JOIN sp_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	LEFT JOIN sp_c c ON c.k = b.k AND c.ts BETWEEN b.ts AND b.ts + interval '5 minutes';
CREATE MATERIALIZED VIEW sp_full_star WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.k2, a.ts AS ats, b.k AS bk, b.ts AS bts, c.j, c.ts AS cts
	FROM sp_a a
	FULL JOIN sp_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	FULL JOIN sp_c c ON c.j = a.k2 AND c.ts BETWEEN a.ts AND a.ts + interval '10 minutes';
CREATE MATERIALIZED VIEW sp_full_chain WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM sp_a a
	FULL JOIN sp_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	FULL JOIN sp_c c ON c.k = b.k AND c.ts BETWEEN b.ts AND b.ts + interval '5 minutes';
-- rows i0 .. i0 + n - 1 of each stream, one every 3 seconds, b's 20 s
-- and c's 40 s after a's; keys that match some of the rows in reach
CREATE FUNCTION sp_feed(i0 int, n int) RETURNS void LANGUAGE sql AS $$
	INSERT INTO sp_a_log SELECT i % 97, CASE WHEN i % 10 <> 0 THEN (i * 7) % 401 END,
		'2026-01-01 12:00'::timestamptz + i * interval '3 seconds' FROM generate_series(i0, i0 + n - 1) i;
	INSERT INTO sp_b_log SELECT (i * 11) % 263,
		'2026-01-01 12:00:20'::timestamptz + i * interval '3 seconds' FROM generate_series(i0, i0 + n - 1) i;
	INSERT INTO sp_c_log SELECT (i * 13) % 263, (i * 5) % 401,
		'2026-01-01 12:00:40'::timestamptz + i * interval '3 seconds' FROM generate_series(i0, i0 + n - 1) i;
	INSERT INTO sp_a SELECT * FROM sp_a_log WHERE ts >= '2026-01-01 12:00'::timestamptz + i0 * interval '3 seconds';
	INSERT INTO sp_b SELECT * FROM sp_b_log WHERE ts >= '2026-01-01 12:00:20'::timestamptz + i0 * interval '3 seconds';
	INSERT INTO sp_c SELECT * FROM sp_c_log WHERE ts >= '2026-01-01 12:00:40'::timestamptz + i0 * interval '3 seconds';
$$;
CREATE FUNCTION sp_refresh() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	REFRESH MATERIALIZED VIEW sp_star;
	REFRESH MATERIALIZED VIEW sp_chain;
	REFRESH MATERIALIZED VIEW sp_full_star;
	REFRESH MATERIALIZED VIEW sp_full_chain;
END $$;
CREATE FUNCTION sp_matches(v regclass) RETURNS boolean LANGUAGE sql AS $$
	SELECT matches_query(v, replace(replace(replace(rtrim(pg_get_viewdef(v), ';'),
		'sp_a ', 'sp_a_log '), 'sp_b ', 'sp_b_log '), 'sp_c ', 'sp_c_log '))
$$;
CREATE VIEW sp_state AS
	SELECT name, watermark, state_rows_by_stream FROM stream.queries
	WHERE name::text LIKE 'sp\_%' ORDER BY name::text;
-- 10 minutes of rows, then batches of 90 seconds: in each, rows become
-- certain unmatched (padded) for b, for c, for a (the FULL joins) or for
-- several, and meet the other streams' states of their keys
SELECT sp_feed(0, 200);
SELECT sp_refresh();
SELECT sp_feed(200, 30);
SELECT sp_refresh();
-- how one batch reads each state (the padded rows' probes among them)
SELECT sp_feed(230, 30);
SET client_min_messages = debug1;
REFRESH MATERIALIZED VIEW sp_star;
REFRESH MATERIALIZED VIEW sp_full_chain;
RESET client_min_messages;
REFRESH MATERIALIZED VIEW sp_chain;
REFRESH MATERIALIZED VIEW sp_full_star;
SELECT sp_feed(260 + 30 * i, 30), sp_refresh() FROM generate_series(0, 5) i;
SELECT * FROM sp_state;
-- each view's rows by the streams present (NULL-padded for the others)
SELECT 'star' AS v, bts IS NOT NULL AS b, cts IS NOT NULL AS c, k2 IS NULL AS k2_null, count(*)
	FROM sp_star GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT 'full_chain' AS v, ats IS NOT NULL AS a, bts IS NOT NULL AS b, cts IS NOT NULL AS c, count(*)
	FROM sp_full_chain GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
-- a row far later in each stream (not logged, of keys matching nothing)
-- passes everything logged
INSERT INTO sp_a VALUES (-1, -1, '2026-01-02 12:00');
INSERT INTO sp_b VALUES (-2, '2026-01-02 12:00');
INSERT INTO sp_c VALUES (-3, -3, '2026-01-02 12:00');
SELECT sp_refresh();
SELECT v, sp_matches(v) FROM unnest('{sp_star, sp_chain, sp_full_star, sp_full_chain}'::regclass[]) v;
SELECT * FROM sp_state;
DROP MATERIALIZED VIEW sp_star, sp_chain, sp_full_star, sp_full_chain;
DROP VIEW sp_state;
DROP FUNCTION sp_feed(int, int), sp_refresh(), sp_matches(regclass);
DROP TABLE sp_a_log, sp_b_log, sp_c_log;
DROP FOREIGN TABLE sp_a, sp_b, sp_c;

--
-- Review of the padded rows' probes and expiry ranges: random rows, out
-- of order within each batch (none late), NULL keys, batches with rows of
-- one stream only and empty ones (the watermark stays), int4 = int8 and
-- text keys. After EVERY batch each view holds no row its query run as
-- a batch over the rows so far does not (none wrong, none twice), and
-- every row of it matched on all three streams; at the end, all its rows.
--
CREATE FOREIGN TABLE rp_a (k int, k2 text, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE rp_b (k bigint, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE rp_c (k int, j text, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE TABLE rp_a_log (k int, k2 text, ts timestamptz);
CREATE TABLE rp_b_log (k bigint, ts timestamptz);
CREATE TABLE rp_c_log (k int, j text, ts timestamptz);
CREATE MATERIALIZED VIEW rp_star WITH (trigger = 'manual') AS
	SELECT a.k, a.k2, a.ts AS ats, b.ts AS bts, c.j, c.ts AS cts
	FROM rp_a a
	LEFT JOIN rp_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '1 minute' AND a.ts + interval '2 minutes'
	LEFT JOIN rp_c c ON c.j = a.k2 AND c.ts BETWEEN a.ts - interval '2 minutes' AND a.ts + interval '1 minute';
CREATE MATERIALIZED VIEW rp_fstar WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.k2, a.ts AS ats, b.k AS bk, b.ts AS bts, c.j, c.ts AS cts
	FROM rp_a a
	FULL JOIN rp_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '1 minute' AND a.ts + interval '2 minutes'
	FULL JOIN rp_c c ON c.j = a.k2 AND c.ts BETWEEN a.ts - interval '2 minutes' AND a.ts + interval '1 minute';
CREATE MATERIALIZED VIEW rp_chain WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM rp_a a
	LEFT JOIN rp_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '1 minute' AND a.ts + interval '2 minutes'
	LEFT JOIN rp_c c ON c.k = b.k AND c.ts BETWEEN b.ts - interval '1 minute' AND b.ts + interval '1 minute';
CREATE MATERIALIZED VIEW rp_fchain WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM rp_a a
	FULL JOIN rp_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '1 minute' AND a.ts + interval '2 minutes'
	FULL JOIN rp_c c ON c.k = b.k AND c.ts BETWEEN b.ts - interval '1 minute' AND b.ts + interval '1 minute';
CREATE FUNCTION rp_q(v regclass) RETURNS text LANGUAGE sql AS $$
	SELECT replace(replace(replace(rtrim(pg_get_viewdef(v), ';'),
		'rp_a ', 'rp_a_log '), 'rp_b ', 'rp_b_log '), 'rp_c ', 'rp_c_log ')
$$;
-- rows of the view its batch query lacks, and rows of the batch query
-- whose three streams all matched that the view lacks (those are final)
CREATE FUNCTION rp_bad(v regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	extra bigint;
	missing bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %s) EXCEPT ALL (%s)) x', v, rp_q(v))
		INTO extra;
	EXECUTE format('SELECT count(*) FROM ((SELECT * FROM (%s) q WHERE ats IS NOT NULL AND bts IS NOT NULL AND cts IS NOT NULL) EXCEPT ALL (SELECT * FROM %s)) x',
		rp_q(v), v) INTO missing;
	IF extra <> 0 OR missing <> 0 THEN
		RAISE NOTICE 'view %: % rows wrong or twice, % matched rows missing', v, extra, missing;
	END IF;
	RETURN extra + missing;
END $$;
CREATE TABLE rp_checks (seed float8, batch int, bad bigint);
-- batch i: of each stream (or of one only, or none), rows of keys 1..4 or
-- NULL at random times in [t + i * 2 min - 50 s, t + i * 2 min + 2 min]
-- (the watermark was at most t + i * 2 min - 1 min: none late), or with
-- no time (matching nothing: padded in their own batch)
CREATE PROCEDURE rp_seed(seed float8, n int) LANGUAGE plpgsql AS $$
DECLARE
	t timestamptz := '2026-03-01 12:00'::timestamptz + n * interval '2 days';
	t0 timestamptz;
	one_s int;
BEGIN
	PERFORM setseed(seed);
	FOR i IN 0..15 LOOP
		t0 := t + i * interval '2 minutes' - interval '50 seconds';
		one_s := CASE WHEN random() < 0.25 THEN floor(random() * 4)::int END;
		CREATE TEMP TABLE rp_new (s int, k int, k2 text, ts timestamptz) ON COMMIT DROP;
		INSERT INTO rp_new
			SELECT s, CASE WHEN random() < 0.15 THEN NULL ELSE 1 + floor(random() * 4)::int END,
				CASE WHEN random() < 0.15 THEN NULL ELSE 'k' || floor(random() * 3)::int END,
				CASE WHEN random() >= 0.05 THEN t0 + floor(random() * 17) * interval '10 seconds' END
			FROM generate_series(1, 3) s, generate_series(1, 6) m
			WHERE random() < 0.8 AND (one_s IS NULL OR s = one_s);
		INSERT INTO rp_a_log SELECT k, k2, ts FROM rp_new WHERE s = 1;
		INSERT INTO rp_b_log SELECT k, ts FROM rp_new WHERE s = 2;
		INSERT INTO rp_c_log SELECT k, k2, ts FROM rp_new WHERE s = 3;
		INSERT INTO rp_a SELECT k, k2, ts FROM rp_new WHERE s = 1 ORDER BY random();
		INSERT INTO rp_b SELECT k, ts FROM rp_new WHERE s = 2 ORDER BY random();
		INSERT INTO rp_c SELECT k, k2, ts FROM rp_new WHERE s = 3 ORDER BY random();
		DROP TABLE rp_new;
		-- late (before the last seed's last row): dropped, in no log
		IF n > 0 THEN
			INSERT INTO rp_a VALUES (1, 'k1', t - interval '26 hours');
			INSERT INTO rp_b VALUES (1, t - interval '26 hours');
			INSERT INTO rp_c VALUES (1, 'k1', t - interval '26 hours');
		END IF;
		COMMIT;
		REFRESH MATERIALIZED VIEW rp_star;
		REFRESH MATERIALIZED VIEW rp_fstar;
		REFRESH MATERIALIZED VIEW rp_chain;
		REFRESH MATERIALIZED VIEW rp_fchain;
		COMMIT;
		INSERT INTO rp_checks SELECT seed, i, rp_bad('rp_star') + rp_bad('rp_fstar') +
			rp_bad('rp_chain') + rp_bad('rp_fchain');
		COMMIT;
	END LOOP;
	-- a row a day later in each stream (keys matching nothing) passes all
	INSERT INTO rp_a_log VALUES (0, 'z', t + interval '1 day');
	INSERT INTO rp_b_log VALUES (0, t + interval '1 day');
	INSERT INTO rp_c_log VALUES (-1, 'y', t + interval '1 day');
	INSERT INTO rp_a VALUES (0, 'z', t + interval '1 day');
	INSERT INTO rp_b VALUES (0, t + interval '1 day');
	INSERT INTO rp_c VALUES (-1, 'y', t + interval '1 day');
	COMMIT;
	REFRESH MATERIALIZED VIEW rp_star;
	REFRESH MATERIALIZED VIEW rp_fstar;
	REFRESH MATERIALIZED VIEW rp_chain;
	REFRESH MATERIALIZED VIEW rp_fchain;
END $$;
-- the last rows (a day after a seed's) wait for their padding: left out
CREATE FUNCTION rp_ok(v regclass) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE TEMP VIEW rp_done AS SELECT * FROM %s WHERE coalesce(ats, bts, cts, %L) < %L',
		v, '2026-01-01', '2026-03-06');
	RETURN matches_query('rp_done', format('SELECT * FROM (%s) q WHERE coalesce(ats, bts, cts, %L) < %L',
		rp_q(v), '2026-01-01', '2026-03-06'));
END $$;
CREATE VIEW rp_result AS
	SELECT (SELECT count(*) FROM rp_checks) AS checks, (SELECT sum(bad) FROM rp_checks) AS bad,
		(SELECT sum(rows_late) FROM stream.queries WHERE name::text LIKE 'rp\_%') AS late;
CALL rp_seed(0.41, 0);
CALL rp_seed(-0.52, 1);
CALL rp_seed(0.63, 2);
SELECT * FROM rp_result;
SELECT rp_ok('rp_star');
DROP VIEW rp_done;
SELECT rp_ok('rp_fstar');
DROP VIEW rp_done;
SELECT rp_ok('rp_chain');
DROP VIEW rp_done;
SELECT rp_ok('rp_fchain');
DROP VIEW rp_done;
-- each view's rows by the streams present: padded rows of every kind
SELECT 'fstar' AS v, ats IS NOT NULL AS a, bts IS NOT NULL AS b, cts IS NOT NULL AS c, count(*) > 0 AS some
	FROM rp_fstar GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
SELECT 'fchain' AS v, ats IS NOT NULL AS a, bts IS NOT NULL AS b, cts IS NOT NULL AS c, count(*) > 0 AS some
	FROM rp_fchain GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4;
DROP VIEW rp_result;
DROP MATERIALIZED VIEW rp_star, rp_fstar, rp_chain, rp_fchain;
DROP PROCEDURE rp_seed(float8, int);
DROP FUNCTION rp_q(regclass), rp_bad(regclass), rp_ok(regclass);
DROP TABLE rp_checks, rp_a_log, rp_b_log, rp_c_log;
DROP FOREIGN TABLE rp_a, rp_b, rp_c;
