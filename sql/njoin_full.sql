-- FULL JOINs of three streams, stacked (engine/join.c, "Stacked joins";
-- join_analyze.c, stacked_full): a row of either side of each FULL JOIN
-- comes out NULL-padded once the watermark proves that no row can match
-- it, and a row padded for one join goes on to the next. A timeline
-- computed by hand; randomized batches of eight views against their
-- queries run as a batch over tables, with five seeds; then the shapes
-- that stay refused.
SET timezone = 'UTC';

-- A timeline, hand-computed batch by batch: a chain of FULL JOINs, b up
-- to 5 minutes after a, c up to 5 minutes after b, watermarks 1 minute
-- behind. An a is certain unmatched for b at a.ts + 5 min, a b for a at
-- b.ts (no a after it can match), for c at b.ts + 5 min, a c for b at c.ts.
CREATE FOREIGN TABLE nt_a (k int, ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE nt_b (k int, ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE nt_c (k int, ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark '1 minute');
CREATE TABLE nt_a_log (k int, ts timestamptz);
CREATE TABLE nt_b_log (k int, ts timestamptz);
CREATE TABLE nt_c_log (k int, ts timestamptz);
CREATE MATERIALIZED VIEW nt_chain WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM nt_a a
	FULL JOIN nt_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	FULL JOIN nt_c c ON c.k = b.k AND c.ts BETWEEN b.ts AND b.ts + interval '5 minutes';
CREATE FUNCTION nt_feed(a text, b text, c text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('INSERT INTO nt_a_log VALUES %s', a);
	EXECUTE format('INSERT INTO nt_b_log VALUES %s', b);
	EXECUTE format('INSERT INTO nt_c_log VALUES %s', c);
	EXECUTE format('INSERT INTO nt_a VALUES %s', a);
	EXECUTE format('INSERT INTO nt_b VALUES %s', b);
	EXECUTE format('INSERT INTO nt_c VALUES %s', c);
END $$;
-- Batch 1 (leaves 12:09 on every stream). 1: a 12:00, b 12:02, c 12:03,
-- all matched: written. a2 12:00 has no b and none can come (12:05):
-- padded for b (and so for c, whose condition reads b). b3 12:01 has no
-- a (none can come after 12:01) and no c (12:06): padded for both. c4
-- 12:04 has no b (12:04): padded. 9 at 12:10 on all three: written.
SELECT nt_feed($$(1, '2026-01-01 12:00'), (2, '2026-01-01 12:00'), (9, '2026-01-01 12:10')$$,
			   $$(1, '2026-01-01 12:02'), (3, '2026-01-01 12:01'), (9, '2026-01-01 12:10')$$,
			   $$(1, '2026-01-01 12:03'), (4, '2026-01-01 12:04'), (9, '2026-01-01 12:10')$$);
REFRESH MATERIALIZED VIEW nt_chain;
SELECT * FROM nt_chain ORDER BY coalesce(ak, bk, ck), ats, bts, cts;
-- Batch 2 (leaves 12:20 on every stream). a5 12:12: no b by 12:17 (b5
-- 12:20 is later): padded. b6 12:13 has no a (12:13) but its c 12:14:
-- the b-only row goes on to meet it. b5 12:20 has no a (a5 is 8 minutes
-- before it; certain at 12:20, the watermark) and meets c 12:21. 7 at
-- 12:21: a and b match, but a c can still come for b (until 12:26):
-- nothing written for them.
SELECT nt_feed($$(5, '2026-01-01 12:12'), (7, '2026-01-01 12:21')$$,
			   $$(6, '2026-01-01 12:13'), (5, '2026-01-01 12:20'), (7, '2026-01-01 12:21')$$,
			   $$(6, '2026-01-01 12:14'), (5, '2026-01-01 12:21')$$);
REFRESH MATERIALIZED VIEW nt_chain;
SELECT * FROM nt_chain WHERE coalesce(ak, bk, ck) NOT IN (1, 2, 3, 4, 9) ORDER BY coalesce(ak, bk, ck), ats, bts, cts;
-- Batch 3 (leaves 12:59): a7 with b7 is padded for c; 0 written; the view
-- is its batch query, the state only the rows of 0
SELECT nt_feed($$(0, '2026-01-01 13:00')$$, $$(0, '2026-01-01 13:00')$$, $$(0, '2026-01-01 13:00')$$);
REFRESH MATERIALIZED VIEW nt_chain;
SELECT * FROM nt_chain WHERE coalesce(ak, bk, ck) IN (0, 7) ORDER BY coalesce(ak, bk, ck), ats, bts, cts;
SELECT matches_query('nt_chain', replace(replace(replace(rtrim(pg_get_viewdef('nt_chain'), ';'),
		'nt_a ', 'nt_a_log '), 'nt_b ', 'nt_b_log '), 'nt_c ', 'nt_c_log ')) AS chain_ok;
SELECT rows_late, state_rows_by_stream FROM stream.queries WHERE name = 'nt_chain'::regclass;
DROP MATERIALIZED VIEW nt_chain;
DROP FUNCTION nt_feed(text, text, text);
DROP FOREIGN TABLE nt_a, nt_b, nt_c;
DROP TABLE nt_a_log, nt_b_log, nt_c_log;

CREATE FOREIGN TABLE nf_a (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE nf_b (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE nf_c (k int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE TABLE nf_a_log (k int, ts timestamptz);
CREATE TABLE nf_b_log (k int, ts timestamptz);
CREATE TABLE nf_c_log (k int, ts timestamptz);

-- a chain of FULL JOINs: c compared with b, which the first FULL JOIN
-- brought in (a b without an a still meets its c)
CREATE MATERIALIZED VIEW nf_chain WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM nf_a a
	FULL JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '2 minutes' AND a.ts + interval '3 minutes'
	FULL JOIN nf_c c ON c.k = b.k AND c.ts BETWEEN b.ts - interval '1 minute' AND b.ts + interval '2 minutes';
-- a star: c compared with a (a b without an a is padded for c at once,
-- as the batch query does: c's condition is false on a NULL a)
CREATE MATERIALIZED VIEW nf_star WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM nf_a a
	FULL JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '2 minutes' AND a.ts + interval '3 minutes'
	FULL JOIN nf_c c ON c.k = a.k AND c.ts BETWEEN a.ts - interval '3 minutes' AND a.ts + interval '1 minute';
-- FULL then LEFT: c only where b is
CREATE MATERIALIZED VIEW nf_full_left WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM nf_a a
	FULL JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '2 minutes' AND a.ts + interval '3 minutes'
	LEFT JOIN nf_c c ON c.k = b.k AND c.ts BETWEEN b.ts - interval '1 minute' AND b.ts + interval '2 minutes';
-- LEFT then FULL on the first stream (every a reaches the FULL JOIN)
CREATE MATERIALIZED VIEW nf_left_full WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM nf_a a
	LEFT JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '2 minutes' AND a.ts + interval '3 minutes'
	FULL JOIN nf_c c ON c.k = a.k AND c.ts BETWEEN a.ts - interval '3 minutes' AND a.ts + interval '1 minute';
-- FULL then an inner join: every row has its b and c
CREATE MATERIALIZED VIEW nf_full_inner WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM nf_a a
	FULL JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '2 minutes' AND a.ts + interval '3 minutes'
	JOIN nf_c c ON c.k = b.k AND c.ts BETWEEN b.ts - interval '1 minute' AND b.ts + interval '2 minutes';
-- the chain written the other way round, c first
CREATE MATERIALIZED VIEW nf_mirror WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM nf_c c
	FULL JOIN (nf_a a FULL JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '2 minutes' AND a.ts + interval '3 minutes')
	  ON c.k = b.k AND c.ts BETWEEN b.ts - interval '1 minute' AND b.ts + interval '2 minutes';
-- a FULL JOIN of a with a LEFT JOIN of b and c (a compared with b, every
-- b reaching it)
CREATE MATERIALIZED VIEW nf_nested WITH (trigger = 'manual') AS
	SELECT a.k AS ak, a.ts AS ats, b.k AS bk, b.ts AS bts, c.k AS ck, c.ts AS cts
	FROM nf_a a
	FULL JOIN (nf_b b LEFT JOIN nf_c c ON c.k = b.k AND c.ts BETWEEN b.ts - interval '1 minute' AND b.ts + interval '2 minutes')
	  ON b.k = a.k AND b.ts BETWEEN a.ts - interval '2 minutes' AND a.ts + interval '3 minutes';
-- an aggregation over the chain, per key of whichever stream is there
CREATE MATERIALIZED VIEW nf_count WITH (trigger = 'manual') AS
	SELECT coalesce(a.k, b.k, c.k) AS k, count(*) AS n, count(a.k) AS na, count(b.k) AS nb, count(c.k) AS nc
	FROM nf_a a
	FULL JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts - interval '2 minutes' AND a.ts + interval '3 minutes'
	FULL JOIN nf_c c ON c.k = b.k AND c.ts BETWEEN b.ts - interval '1 minute' AND b.ts + interval '2 minutes'
	GROUP BY 1;

CREATE FUNCTION nf_refresh() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	REFRESH MATERIALIZED VIEW nf_chain;
	REFRESH MATERIALIZED VIEW nf_star;
	REFRESH MATERIALIZED VIEW nf_full_left;
	REFRESH MATERIALIZED VIEW nf_left_full;
	REFRESH MATERIALIZED VIEW nf_full_inner;
	REFRESH MATERIALIZED VIEW nf_count;
	REFRESH MATERIALIZED VIEW nf_mirror;
	REFRESH MATERIALIZED VIEW nf_nested;
END $$;
-- the view equals its query over the logs
CREATE FUNCTION nf_ok(v regclass) RETURNS boolean LANGUAGE sql AS $$
	SELECT matches_query(v, replace(replace(replace(rtrim(pg_get_viewdef(v), ';'),
		'nf_a ', 'nf_a_log '), 'nf_b ', 'nf_b_log '), 'nf_c ', 'nf_c_log '))
$$;
-- batch i of a seed: rows of keys 1..6 at 10-second steps over 11
-- minutes from i * 10 minutes - 50 s, out of order (the last batch's
-- latest row was before i * 10 minutes, its watermark a minute before
-- that: none is late); written to the log, then to the stream
CREATE FUNCTION nf_batch(t timestamptz, i int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := t + i * interval '10 minutes' - interval '50 seconds';
BEGIN
	CREATE TEMP TABLE nf_new (s int, k int, ts timestamptz) ON COMMIT DROP;
	INSERT INTO nf_new
		SELECT s, 1 + floor(random() * 6)::int,
			t0 + floor(random() * 66) * interval '10 seconds'
		FROM generate_series(1, 3) s, generate_series(1, 8) n
		WHERE random() < 0.8;
	INSERT INTO nf_a_log SELECT k, ts FROM nf_new WHERE s = 1;
	INSERT INTO nf_b_log SELECT k, ts FROM nf_new WHERE s = 2;
	INSERT INTO nf_c_log SELECT k, ts FROM nf_new WHERE s = 3;
	INSERT INTO nf_a SELECT k, ts FROM nf_new WHERE s = 1 ORDER BY random();
	INSERT INTO nf_b SELECT k, ts FROM nf_new WHERE s = 2 ORDER BY random();
	INSERT INTO nf_c SELECT k, ts FROM nf_new WHERE s = 3 ORDER BY random();
	DROP TABLE nf_new;
END $$;
-- a seed (run n starts on day 2n: each run's rows come after the last's
-- heartbeat): five batches, refreshed after each (a REFRESH reads what is
-- committed), and a row of each stream a day later that moves every
-- watermark past everything; then each view must equal its batch query,
-- with no row late
CREATE PROCEDURE nf_seed(seed float8, n int) LANGUAGE plpgsql AS $$
DECLARE
	t timestamptz := '2026-01-01 12:00'::timestamptz + n * interval '2 days';
BEGIN
	PERFORM setseed(seed);
	FOR i IN 0..4 LOOP
		PERFORM nf_batch(t, i);
		COMMIT;
		PERFORM nf_refresh();
		COMMIT;
	END LOOP;
	INSERT INTO nf_a_log VALUES (0, t + interval '1 day');
	INSERT INTO nf_b_log VALUES (0, t + interval '1 day');
	INSERT INTO nf_c_log VALUES (0, t + interval '1 day');
	INSERT INTO nf_a VALUES (0, t + interval '1 day');
	INSERT INTO nf_b VALUES (0, t + interval '1 day');
	INSERT INTO nf_c VALUES (0, t + interval '1 day');
	COMMIT;
	PERFORM nf_refresh();
END $$;
CREATE VIEW nf_result AS
	SELECT nf_ok('nf_chain') AS chain, nf_ok('nf_star') AS star, nf_ok('nf_full_left') AS full_left,
		nf_ok('nf_left_full') AS left_full, nf_ok('nf_full_inner') AS full_inner, nf_ok('nf_count') AS count,
		nf_ok('nf_mirror') AS mirror, nf_ok('nf_nested') AS nested,
		(SELECT sum(rows_late) FROM stream.queries WHERE name::text LIKE 'nf\_%') AS late,
		(SELECT count(*) FROM nf_chain) AS chain_rows,
		(SELECT count(*) FROM nf_chain WHERE ats IS NULL) AS chain_no_a,
		(SELECT count(*) FROM nf_chain WHERE bts IS NULL) AS chain_no_b,
		(SELECT count(*) FROM nf_chain WHERE cts IS NULL) AS chain_no_c;
CALL nf_seed(0.1, 0);
SELECT * FROM nf_result;
CALL nf_seed(0.2, 1);
SELECT * FROM nf_result;
CALL nf_seed(-0.3, 2);
SELECT * FROM nf_result;
CALL nf_seed(0.4, 3);
SELECT * FROM nf_result;
CALL nf_seed(0.55, 4);
SELECT * FROM nf_result;
-- the states keep only what can still match: the last heartbeat rows
SELECT name, rows_late, state_rows_by_stream, last_error FROM stream.queries WHERE name::text LIKE 'nf\_%' ORDER BY 1;

-- Refused, with a hint: a FULL JOIN comparing a stream that a LEFT JOIN
-- brought in, or one after an inner join (a row of c matching only a b
-- that the join dropped would have to be padded: that depends on pairs of
-- rows, not on c's row alone); a FULL JOIN without a bound of the new
-- stream's rows by the anchor's time (when is its padded row certain);
-- a WHERE reading a stream a FULL JOIN pads
CREATE MATERIALIZED VIEW nf_bad AS
	SELECT a.k FROM nf_a a
	LEFT JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	FULL JOIN nf_c c ON c.k = b.k AND c.ts BETWEEN b.ts AND b.ts + interval '5 minutes';
CREATE MATERIALIZED VIEW nf_bad AS
	SELECT a.k FROM nf_a a
	JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	FULL JOIN nf_c c ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '5 minutes';
CREATE MATERIALIZED VIEW nf_bad AS
	SELECT a.k FROM nf_a a
	FULL JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	FULL JOIN nf_c c ON c.k = a.k AND c.ts <= a.ts + interval '5 minutes';
CREATE MATERIALIZED VIEW nf_bad AS
	SELECT a.k FROM nf_a a
	FULL JOIN nf_b b ON b.k = a.k AND b.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	FULL JOIN nf_c c ON c.k = a.k AND c.ts BETWEEN a.ts AND a.ts + interval '5 minutes'
	WHERE a.k > 0;

DROP VIEW nf_result;
DROP MATERIALIZED VIEW nf_chain, nf_star, nf_full_left, nf_left_full, nf_full_inner, nf_count,
	nf_mirror, nf_nested;
DROP PROCEDURE nf_seed(float8, int);
DROP FUNCTION nf_batch(timestamptz, int), nf_refresh(), nf_ok(regclass);
DROP FOREIGN TABLE nf_a, nf_b, nf_c;
DROP TABLE nf_a_log, nf_b_log, nf_c_log;
