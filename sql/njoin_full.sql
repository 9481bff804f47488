-- FULL JOINs of three streams, stacked (engine/join.c, "Stacked joins";
-- join_analyze.c, stacked_full): a row of either side of each FULL JOIN
-- comes out NULL-padded once the watermark proves that no row can match
-- it, and a row padded for one join goes on to the next. Randomized
-- batches against the query run as a batch over tables, with several
-- seeds; then the shapes that stay refused.
SET timezone = 'UTC';

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
