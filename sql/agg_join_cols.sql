-- A side's state keeps only the columns stage 2 reads (engine/stage.c
-- side_used_cols), packed as arrays (engine/stage_side.c): columns read
-- only in a HAVING, a window function, a sub-select, the ON of a later
-- join or through a whole-row reference are kept; NULLs, toasted values,
-- domains, composites and array columns come back as they went in. Each
-- view equals its query over the same rows in tables.
SET timezone = 'UTC';
CREATE DOMAIN cl_pos AS int CHECK (VALUE > 0);
CREATE TYPE cl_pair AS (a int, b text);
CREATE FOREIGN TABLE cl_p (ts timestamptz, id int, name text) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE cl_a (ts timestamptz, id text, seller int, extra int, big text,
	d cl_pos, pair cl_pair, note varchar(20)) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE cl_t (ts timestamptz, seller int, tags int[], words varchar(8)[]) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE TABLE cl_p_ref (LIKE cl_p);
CREATE TABLE cl_a_ref (LIKE cl_a);
CREATE TABLE cl_t_ref (LIKE cl_t);
CREATE TABLE cl_lookup (k int, label text);
INSERT INTO cl_lookup SELECT i, 'label ' || i FROM generate_series(0, 9) i;
-- P: the persons of a window
CREATE MATERIALIZED VIEW cl_having WITH (trigger = 'manual') AS
	SELECT P.id, P.w, A.n
	FROM (SELECT id, stream.tumble(ts, '10 minutes') AS w FROM cl_p GROUP BY 1, 2) P
	JOIN (SELECT seller, count(*) AS n, stream.tumble(ts, '10 minutes') AS w
		  FROM cl_a GROUP BY seller, stream.tumble(ts, '10 minutes') HAVING max(extra) > 4) A
	  ON P.id = A.seller AND P.w = A.w;
CREATE MATERIALIZED VIEW cl_rank WITH (trigger = 'manual') AS
	SELECT P.w, A.id, rank() OVER (PARTITION BY P.w, A.seller ORDER BY A.extra) AS r
	FROM (SELECT id, stream.tumble(ts, '10 minutes') AS w FROM cl_p GROUP BY 1, 2) P
	JOIN cl_a A ON P.id = A.seller AND stream.tumble(A.ts, '10 minutes') = P.w;
CREATE MATERIALIZED VIEW cl_sub WITH (trigger = 'manual') AS
	SELECT P.w, A.id
	FROM (SELECT id, stream.tumble(ts, '10 minutes') AS w FROM cl_p GROUP BY 1, 2) P
	JOIN cl_a A ON P.id = A.seller AND stream.tumble(A.ts, '10 minutes') = P.w
	WHERE (SELECT A.extra) > 3 AND EXISTS (SELECT 1 FROM cl_lookup L WHERE L.k = A.extra - 1);
CREATE MATERIALIZED VIEW cl_later WITH (trigger = 'manual') AS
	SELECT P.w, A.id, L.label
	FROM (SELECT id, stream.tumble(ts, '10 minutes') AS w FROM cl_p GROUP BY 1, 2) P
	JOIN cl_a A ON P.id = A.seller AND stream.tumble(A.ts, '10 minutes') = P.w
	LEFT JOIN cl_lookup L ON L.k = A.extra;
CREATE MATERIALIZED VIEW cl_whole WITH (trigger = 'manual') AS
	SELECT P.w, A.id, A::text AS whole
	FROM (SELECT id, stream.tumble(ts, '10 minutes') AS w FROM cl_p GROUP BY 1, 2) P
	JOIN cl_a A ON P.id = A.seller AND stream.tumble(A.ts, '10 minutes') = P.w;
CREATE MATERIALIZED VIEW cl_values WITH (trigger = 'manual') AS
	SELECT P.w, A.id, A.big, A.d, A.pair, (A.pair).b AS pb, A.note, md5(A.big) AS h
	FROM (SELECT id, stream.tumble(ts, '10 minutes') AS w FROM cl_p GROUP BY 1, 2) P
	JOIN cl_a A ON P.id = A.seller AND stream.tumble(A.ts, '10 minutes') = P.w;
-- columns read through a join's alias, and merged by USING
CREATE MATERIALIZED VIEW cl_alias WITH (trigger = 'manual') AS
	SELECT j.w, j.id AS person, j.note
	FROM ((SELECT id, stream.tumble(ts, '10 minutes') AS w FROM cl_p GROUP BY 1, 2) P
	JOIN cl_a A ON P.id = A.seller AND stream.tumble(A.ts, '10 minutes') = P.w) j(person, w, ats, id);
CREATE MATERIALIZED VIEW cl_using WITH (trigger = 'manual') AS
	SELECT P.w, seller, A.d
	FROM (SELECT id AS seller, stream.tumble(ts, '10 minutes') AS w FROM cl_p GROUP BY 1, 2) P
	JOIN cl_a A USING (seller) WHERE stream.tumble(A.ts, '10 minutes') = P.w;
-- a column that is an array has no array type: kept in binary
CREATE MATERIALIZED VIEW cl_array WITH (trigger = 'manual') AS
	SELECT P.w, T.seller, T.tags, T.words, T::text AS whole
	FROM (SELECT id, stream.tumble(ts, '10 minutes') AS w FROM cl_p GROUP BY 1, 2) P
	JOIN cl_t T ON P.id = T.seller AND stream.tumble(T.ts, '10 minutes') = P.w;
CREATE FUNCTION cl_check() RETURNS TABLE (view regclass, ok boolean)
LANGUAGE sql AS $$
	SELECT c.view,
		matches_query(c.view, format('SELECT * FROM (%s) b WHERE w + interval ''10 minutes'' <= %L::timestamptz',
			regexp_replace(rtrim(pg_get_viewdef(c.view), ';'), '\m(cl_p|cl_a|cl_t)\M', '\1_ref', 'g'),
			q.watermark))
	FROM stream.cq c JOIN stream.queries q ON q.name = c.view
	WHERE c.view::text LIKE 'cl\_%'
	ORDER BY 1
$$;
-- batch k: 12 minutes from 12:00 + 12k; some values NULL, some big
-- (incompressible, toasted in the stream), some 10 kB compressible
CREATE FUNCTION cl_feed(k int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	t0 timestamptz := '2000-01-01 12:00'::timestamptz + k * interval '12 minutes';
BEGIN
	CREATE TEMP TABLE cl_new_p AS
		SELECT t0 + i * interval '1 minute' AS ts, i % 4 AS id, 'p' || i AS name
		FROM generate_series(0, 11) i, generate_series(1, 2) j;
	CREATE TEMP TABLE cl_new_a AS
		SELECT t0 + (i * 0.5) * interval '1 second' AS ts, 'a ' || k || ' ' || i AS id,
			   CASE WHEN i % 17 = 0 THEN NULL ELSE i % 4 END AS seller,
			   CASE WHEN i % 5 = 0 THEN NULL ELSE hashint4(i + k) & 7 END AS extra,
			   CASE WHEN i % 97 = 0 THEN (SELECT string_agg(md5(g::text || i), '') FROM generate_series(1, 400) g)
					WHEN i % 31 = 0 THEN repeat('y', 10000)
					WHEN i % 7 = 0 THEN NULL ELSE 'b' || i END AS big,
			   CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 50 + 1)::cl_pos END AS d,
			   CASE WHEN i % 13 = 0 THEN NULL ELSE ROW(i, CASE WHEN i % 2 = 0 THEN NULL ELSE 'x' || i END)::cl_pair END AS pair,
			   CASE WHEN i % 6 = 0 THEN NULL ELSE 'n' || i END AS note
		FROM generate_series(0, 1439) i ORDER BY hashint4(i - k);
	INSERT INTO cl_p SELECT * FROM cl_new_p;
	INSERT INTO cl_p_ref SELECT * FROM cl_new_p;
	INSERT INTO cl_a SELECT * FROM cl_new_a;
	INSERT INTO cl_a_ref SELECT * FROM cl_new_a;
	INSERT INTO cl_t SELECT ts, seller,
		CASE WHEN extra IS NULL THEN NULL WHEN extra % 2 = 0 THEN ARRAY[length(id), NULL] ELSE ARRAY[[extra, 1], [NULL, 2]] END,
		CASE WHEN d % 3 = 0 THEN NULL ELSE ARRAY[note, NULL, left(id, 8)] END FROM cl_new_a;
	INSERT INTO cl_t_ref SELECT ts, seller,
		CASE WHEN extra IS NULL THEN NULL WHEN extra % 2 = 0 THEN ARRAY[length(id), NULL] ELSE ARRAY[[extra, 1], [NULL, 2]] END,
		CASE WHEN d % 3 = 0 THEN NULL ELSE ARRAY[note, NULL, left(id, 8)] END FROM cl_new_a;
	DROP TABLE cl_new_p, cl_new_a;
END $$;
CREATE FUNCTION cl_batch() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'cl\_%' ORDER BY 1 LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
	END LOOP;
END $$;
SELECT cl_feed(0);
SELECT cl_batch();
SELECT * FROM cl_check();
SELECT cl_feed(1);
SELECT cl_batch();
SELECT * FROM cl_check();
SELECT cl_feed(2);
SELECT cl_batch();
SELECT * FROM cl_check();
-- the views wrote rows
SELECT (SELECT count(*) FROM cl_having) > 0 AS having, (SELECT count(*) FROM cl_rank) > 0 AS rank,
	(SELECT count(*) FROM cl_sub) > 0 AS sub, (SELECT count(*) FROM cl_later WHERE label IS NOT NULL) > 0 AS later,
	(SELECT count(*) FROM cl_whole) > 0 AS whole,
	(SELECT count(*) FROM cl_values WHERE length(big) > 10000) > 0 AS big,
	(SELECT count(*) FROM cl_array WHERE array_ndims(tags) = 2) > 0 AS arrays;
-- the columns each side's state keeps
SELECT c.view, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) AS state_columns
FROM stream.cq c JOIN stream.positions p ON p.view = c.view AND p.join_state IS NOT NULL
	JOIN pg_attribute a ON a.attrelid = p.join_state AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.view::text LIKE 'cl\_%' GROUP BY 1 ORDER BY 1;
DROP FUNCTION cl_check, cl_feed, cl_batch;
DROP MATERIALIZED VIEW cl_having, cl_rank, cl_sub, cl_later, cl_whole, cl_values, cl_alias, cl_using, cl_array;
DROP FOREIGN TABLE cl_p, cl_a, cl_t;
DROP TABLE cl_p_ref, cl_a_ref, cl_t_ref, cl_lookup;
DROP TYPE cl_pair;
DROP DOMAIN cl_pos;
