-- Every aggregate is maintained by combining each batch's partial states
-- with the stored ones; the view must equal the same query run as one
-- batch over a plain table holding the same input. Exactly: NULLs, NULL
-- groups and empty input included.

CREATE FOREIGN TABLE agg_src (g int, i int, b bigint, n numeric, f float8,
	t text, flag bool, ts timestamptz) SERVER stream;
CREATE TABLE agg_ref (g int, i int, b bigint, n numeric, f float8,
	t text, flag bool, ts timestamptz);

-- small batches: many merges
CREATE MATERIALIZED VIEW agg_builtin WITH (max_batch_rows = 10) AS
SELECT g,
	count(*) AS c, count(i) AS ci,
	sum(i) AS si, sum(b) AS sb, sum(n) AS sn, sum(f) AS sf,
	avg(i) AS ai, avg(b) AS ab, avg(n) AS an, avg(f) AS af,
	min(i) AS mini, max(i) AS maxi, min(t) AS mint, max(t) AS maxt,
	min(ts) AS mints, max(ts) AS maxts, min(n) AS minn, max(f) AS maxf,
	stddev(n) AS sdn, stddev(i) AS sdi, stddev_pop(b) AS sdpb,
	variance(n) AS vn, var_pop(i) AS vpi, var_samp(b) AS vsb,
	bool_and(flag) AS band, bool_or(flag) AS bor, every(flag) AS ev,
	bit_and(i) AS bitand, bit_or(i) AS bitor,
	count(*) FILTER (WHERE flag) AS cflag, sum(n) FILTER (WHERE i > 50) AS sfilt,
	corr(i, b) IS NULL AS corr_null, regr_count(i, b) AS rc
FROM agg_src GROUP BY g;

-- a global aggregate has its row from the start, as over an empty table
CREATE MATERIALIZED VIEW agg_global AS
SELECT count(*) AS c, sum(i) AS s, avg(n) AS a, min(t) AS m, bool_and(flag) AS ba
FROM agg_src;
SELECT * FROM agg_global;
SELECT matches_batch('agg_global', 'agg_src', 'agg_ref');

-- a user-defined aggregate with a combine function
CREATE FUNCTION sumsq_acc(int8, int) RETURNS int8 LANGUAGE sql IMMUTABLE
	AS 'SELECT coalesce($1, 0) + coalesce($2::int8 * $2, 0)';
CREATE FUNCTION sumsq_comb(int8, int8) RETURNS int8 LANGUAGE sql IMMUTABLE STRICT
	AS 'SELECT $1 + $2';
CREATE AGGREGATE sumsq(int) (SFUNC = sumsq_acc, STYPE = int8, COMBINEFUNC = sumsq_comb,
	INITCOND = '0');
-- an initial state and a non-strict combine function: a new group starts
-- from INITCOND, as in one pass (a NULL start would stay NULL)
CREATE FUNCTION cs_acc(int8[], int) RETURNS int8[] LANGUAGE sql IMMUTABLE
	AS 'SELECT ARRAY[$1[1] + 1, $1[2] + coalesce($2, 0)]';
CREATE FUNCTION cs_comb(int8[], int8[]) RETURNS int8[] LANGUAGE sql IMMUTABLE
	AS 'SELECT ARRAY[$1[1] + $2[1], $1[2] + $2[2]]';
CREATE FUNCTION cs_final(int8[]) RETURNS text LANGUAGE sql IMMUTABLE
	AS 'SELECT $1[1] || '' rows, sum '' || $1[2]';
CREATE AGGREGATE count_sum(int) (SFUNC = cs_acc, STYPE = int8[], COMBINEFUNC = cs_comb,
	FINALFUNC = cs_final, INITCOND = '{0,0}');
CREATE MATERIALIZED VIEW agg_initcond WITH (max_batch_rows = 5) AS
SELECT g, count_sum(i) AS cs FROM agg_src GROUP BY g;
-- GROUP BY without aggregates (a Group plan without hash aggregation)
CREATE MATERIALIZED VIEW agg_keys AS SELECT g, i % 3 AS m FROM agg_src GROUP BY g, i % 3;
-- and extension aggregates: hll
CREATE MATERIALIZED VIEW agg_ext WITH (max_batch_rows = 7) AS
SELECT g % 3 AS g3, sumsq(i) AS sq, hll_cardinality(hll_add_agg(hll_hash_integer(i))) AS approx,
	hll_add_agg(hll_hash_text(t)) AS h
FROM agg_src GROUP BY g % 3;

-- expressions over aggregates, and HAVING
CREATE MATERIALIZED VIEW agg_expr AS
SELECT g, t IS NULL AS no_t, count(*) * 10 AS c10, sum(i)::numeric / NULLIF(count(i), 0) AS mean,
	coalesce(max(t), '-') || '/' || g AS label
FROM agg_src GROUP BY g, t IS NULL HAVING count(*) > 3;

-- input in many transactions, with NULL values, a NULL group and groups
-- that appear late
DO $$
BEGIN
	FOR k IN 1..12 LOOP
		WITH r AS (
			INSERT INTO agg_ref
			SELECT CASE WHEN x % 7 = 0 THEN NULL ELSE (x * k) % 5 END,
				CASE WHEN x % 11 = 0 THEN NULL ELSE x * k % 97 END,
				x::bigint * 1000000 * k,
				CASE WHEN x % 13 = 0 THEN NULL ELSE (x * k % 1000) / 7.0 END,
				CASE WHEN x % 5 = 0 THEN NULL ELSE (x * k % 50)::float8 END,
				CASE WHEN x % 3 = 0 THEN NULL ELSE 'w' || (x * k % 17) END,
				CASE WHEN x % 4 = 0 THEN NULL ELSE (x * k) % 3 = 0 END,
				'2026-01-01'::timestamptz + (x * k) * interval '1 minute'
			FROM generate_series(1, 5 * k) x
			RETURNING *)
		INSERT INTO agg_src SELECT * FROM r;
		COMMIT;
	END LOOP;
END $$;
-- a group seen only later
WITH r AS (INSERT INTO agg_ref VALUES (42, NULL, NULL, NULL, NULL, NULL, NULL, NULL) RETURNING *)
INSERT INTO agg_src SELECT * FROM r;

REFRESH MATERIALIZED VIEW agg_builtin;
REFRESH MATERIALIZED VIEW agg_global;
REFRESH MATERIALIZED VIEW agg_ext;
REFRESH MATERIALIZED VIEW agg_expr;
REFRESH MATERIALIZED VIEW agg_initcond;
SET enable_hashagg = off;
REFRESH MATERIALIZED VIEW agg_keys;
RESET enable_hashagg;
SELECT count(*) AS input_rows FROM agg_ref;
SELECT matches_batch('agg_initcond', 'agg_src', 'agg_ref');
SELECT matches_batch('agg_keys', 'agg_src', 'agg_ref');
SELECT * FROM agg_initcond ORDER BY g;
SELECT matches_batch('agg_builtin', 'agg_src', 'agg_ref');
SELECT matches_batch('agg_global', 'agg_src', 'agg_ref');
SELECT matches_batch('agg_expr', 'agg_src', 'agg_ref');
-- hll: compare the cardinalities (the hll values' encodings may differ)
SELECT count(*) AS groups,
	bool_and(v.sq = r.sq AND v.approx = r.approx AND
		hll_cardinality(v.h) = hll_cardinality(r.h)) AS same
FROM agg_ext v
FULL JOIN (SELECT g % 3 AS g3, sumsq(i) AS sq, hll_cardinality(hll_add_agg(hll_hash_integer(i))) AS approx,
			hll_add_agg(hll_hash_text(t)) AS h FROM agg_ref GROUP BY g % 3) r
	ON coalesce(v.g3, -1) = coalesce(r.g3, -1);
SELECT * FROM agg_builtin WHERE g IS NULL OR g = 42 ORDER BY g;
SELECT count(*) FROM agg_builtin;
-- many batches were merged
SELECT batches > 10 AS many_batches, rows_in FROM stream.queries WHERE name = 'agg_builtin'::regclass;

-- what cannot be maintained is refused, naming it
CREATE MATERIALIZED VIEW agg_bad AS SELECT json_object_agg(t, i) FROM agg_src;
CREATE MATERIALIZED VIEW agg_bad AS SELECT array_agg(i ORDER BY i) FROM agg_src;
CREATE MATERIALIZED VIEW agg_bad AS SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY f) FROM agg_src;
CREATE MATERIALIZED VIEW agg_bad AS SELECT count(*) FROM agg_src GROUP BY g;
CREATE MATERIALIZED VIEW agg_bad AS SELECT g, count(*) FROM agg_src GROUP BY ROLLUP (g);
CREATE MATERIALIZED VIEW agg_bad AS SELECT g, sum(i) OVER () FROM agg_src;
CREATE MATERIALIZED VIEW agg_bad AS SELECT g, count(*) FROM agg_src GROUP BY g ORDER BY g;
CREATE MATERIALIZED VIEW agg_bad AS SELECT g, count(*) FROM agg_src GROUP BY g LIMIT 5;
CREATE MATERIALIZED VIEW agg_bad AS SELECT DISTINCT g, count(*) FROM agg_src GROUP BY g;
CREATE MATERIALIZED VIEW agg_bad AS SELECT g, generate_series(1, count(*)) FROM agg_src GROUP BY g;
CREATE MATERIALIZED VIEW agg_bad AS SELECT point(1,1) AS p, count(*) FROM agg_src GROUP BY 1;
CREATE AGGREGATE nocomb(int) (SFUNC = int4pl, STYPE = int);
CREATE MATERIALIZED VIEW agg_bad AS SELECT nocomb(i) FROM agg_src;
