-- Deduplication (engine/dedup.c): SELECT DISTINCT (Spark's
-- dropDuplicates), DISTINCT ON (the first row of each key, in arrival
-- order; with a watermark, Spark's dropDuplicatesWithinWatermark),
-- either under an aggregation, and aggregate(DISTINCT ...). Each batch's
-- results are computed by hand in the comments and checked after it: the
-- views, the keys kept (state_rows) and the late rows. Views without a
-- watermark are also compared with their batch query.

-- event time ts, watermark 10 minutes behind the latest ts
CREATE FOREIGN TABLE dd_src (id int, k text, ts timestamptz, v int) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
-- no event time
CREATE FOREIGN TABLE dd_plain (id int, k text, v int) SERVER stream;
CREATE TABLE dd_ref (seq serial, id int, k text, ts timestamptz, v int);
CREATE TABLE dd_new (id int, k text, ts timestamptz, v int);
SET timezone = 'UTC';
CREATE FUNCTION dd_feed() RETURNS void LANGUAGE sql AS $$
	INSERT INTO dd_src SELECT * FROM dd_new;
	INSERT INTO dd_plain SELECT id, k, v FROM dd_new;
	INSERT INTO dd_ref (id, k, ts, v) SELECT * FROM dd_new;
	DELETE FROM dd_new;
$$;
CREATE FUNCTION dd_batch() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	v regclass;
BEGIN
	FOR v IN SELECT view FROM stream.cq WHERE view::text LIKE 'dd\_%' ORDER BY 1 LOOP
		EXECUTE format('REFRESH MATERIALIZED VIEW %s', v);
	END LOOP;
END $$;
CREATE VIEW dd_stats AS
	SELECT name, to_char(watermark, 'HH24:MI') AS watermark, state_rows, rows_late
	FROM stream.queries WHERE name::text LIKE 'dd\_%' ORDER BY name::text;
-- DISTINCT ON over a table, in arrival order: what dd_on_plain must hold
CREATE VIEW dd_on_ref AS
	SELECT DISTINCT ON (id) id, k, v FROM dd_ref ORDER BY id, seq;

CREATE MATERIALIZED VIEW dd_keys WITH (trigger = 'manual') AS
	SELECT DISTINCT k FROM dd_plain;
CREATE MATERIALIZED VIEW dd_pairs WITH (trigger = 'manual') AS
	SELECT DISTINCT k, v % 2 AS parity FROM dd_plain;
CREATE MATERIALIZED VIEW dd_on_plain WITH (trigger = 'manual') AS
	SELECT DISTINCT ON (id) id, k, v FROM dd_plain;
-- the event time among the keys: a key is kept until the watermark
-- reaches it, and rows at or before the watermark are late
CREATE MATERIALIZED VIEW dd_kt WITH (trigger = 'manual') AS
	SELECT DISTINCT k, ts FROM dd_src;
-- a key lives until the watermark reaches its first ts + 10 minutes
CREATE MATERIALIZED VIEW dd_on WITH (trigger = 'manual') AS
	SELECT DISTINCT ON (id) id, k, v FROM dd_src;
-- dedup, then a windowed count, in append mode
CREATE MATERIALIZED VIEW dd_stage WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n, sum(v) AS s
	FROM (SELECT DISTINCT ON (id) id, ts, v FROM dd_src) d GROUP BY 1;
-- distinct values per window, evicted with it (update mode)
CREATE MATERIALIZED VIEW dd_cnt WITH (trigger = 'manual') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n,
		count(DISTINCT v) AS dv, sum(DISTINCT v) AS sv, count(DISTINCT k) AS dk
	FROM dd_src GROUP BY 1;
-- distinct values kept forever (a notice says so, with the hll hint)
CREATE MATERIALIZED VIEW dd_cnt_all WITH (trigger = 'manual') AS
	SELECT k, count(*) AS n, count(DISTINCT v) AS dv, avg(DISTINCT v) AS av,
		count(DISTINCT v) FILTER (WHERE id > 2) AS dv2
	FROM dd_plain GROUP BY k;

-- each filter has its table: the keys, their expiry, and two indexes
SELECT c.view, array_length(c.seen_tables, 1) AS filters FROM stream.cq c
WHERE c.view::text LIKE 'dd\_%' ORDER BY 1;
SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = (SELECT seen_tables[1] FROM stream.cq WHERE view = 'dd_kt'::regclass)
  AND a.attnum > 0 ORDER BY a.attnum;
SELECT regexp_replace(pg_get_indexdef(i.indexrelid), 'seen_[0-9]+', 'seen_N', 'g') AS index
FROM pg_index i
WHERE i.indrelid = (SELECT seen_tables[1] FROM stream.cq WHERE view = 'dd_kt'::regclass)
ORDER BY 1;

-- batch 1: duplicates inside the batch (id 2 twice; k 'a' three times)
INSERT INTO dd_new VALUES
	(1, 'a', '2026-01-01 12:00', 1), (1, 'b', '2026-01-01 12:01', 2),
	(2, 'a', '2026-01-01 12:00', 1), (3, NULL, '2026-01-01 12:02', NULL),
	(4, NULL, '2026-01-01 12:03', 1), (2, 'a', '2026-01-01 12:00', 1);
SELECT dd_feed();
SELECT dd_batch();
-- keys a, b, NULL
SELECT * FROM dd_keys ORDER BY 1;
-- (a,1) (b,0) (NULL,NULL) (NULL,1)
SELECT * FROM dd_pairs ORDER BY 1, 2;
-- the first row of each id: 1 a, 2 a, 3, 4
SELECT * FROM dd_on_plain ORDER BY 1;
SELECT * FROM dd_on ORDER BY 1;
-- (a 12:00) (b 12:01) (NULL 12:02) (NULL 12:03)
SELECT k, to_char(ts, 'HH24:MI') AS ts FROM dd_kt ORDER BY 2, 1;
-- window 12:00: 6 rows, v 1, 2, NULL: 2 distinct, sum 3; k a, b: 2
SELECT to_char(w, 'HH24:MI') AS w, n, dv, sv, dk FROM dd_cnt ORDER BY 1;
SELECT * FROM dd_cnt_all ORDER BY 1;
-- nothing final yet
SELECT * FROM dd_stage;
-- watermark 11:53. Keys: dd_keys 3, dd_pairs 4, dd_on_plain 4, dd_kt 4,
-- dd_on 4, dd_stage 4 ids + 1 group, dd_cnt 1 group + 3 values (v 1, 2,
-- NULL) twice + 3 k, dd_cnt_all 3 groups + 4 (k, v) + 4 + 2 (id > 2)
SELECT * FROM dd_stats;

-- batch 2: id 2 again (not late: 12:00 is after 11:53), id 5 twice,
-- id 1 again with a new k
INSERT INTO dd_new VALUES
	(1, 'c', '2026-01-01 12:30', 5), (2, 'a', '2026-01-01 12:00', 1),
	(5, 'a', '2026-01-01 12:21', 1), (6, 'a', '2026-01-01 12:31', 1),
	(5, 'a', '2026-01-01 12:21', 1);
SELECT dd_feed();
SELECT dd_batch();
-- + c
SELECT * FROM dd_keys ORDER BY 1;
-- + (c,1)
SELECT * FROM dd_pairs ORDER BY 1, 2;
-- + 5 a, 6 a
SELECT * FROM dd_on_plain ORDER BY 1;
SELECT * FROM dd_on ORDER BY 1;
-- + (c 12:30) (a 12:21) (a 12:31) (the view keeps its rows); the
-- watermark is 12:21 after it, so the state keeps (c 12:30) (a 12:31)
SELECT k, to_char(ts, 'HH24:MI') AS ts FROM dd_kt ORDER BY 2, 1;
-- window 12:00: + id 2 (7 rows, nothing new); 12:20: 5 a 1 twice:
-- 2 rows, 1 value; 12:30: (c 5) (a 1): 2, 2 values, sum 6, 2 k
SELECT to_char(w, 'HH24:MI') AS w, n, dv, sv, dk FROM dd_cnt ORDER BY 1;
SELECT * FROM dd_cnt_all ORDER BY 1;
-- the batch ran with watermark 11:53 and the no-data batch after it
-- with 12:21: window 12:00 - 12:10 is final: ids 1 2 3 4, v 1 1 NULL 1
SELECT to_char(w, 'HH24:MI') AS w, n, s FROM dd_stage ORDER BY 1;
-- dd_on: ids 1 2 3 4 expire at 12:10 12:10 12:12 12:13, all at or
-- before 12:21: 5 (12:31) and 6 (12:41) are left
SELECT * FROM dd_stats;

-- batch 3: (2 a 12:00) and (8 d 12:21) are late for the dedups (at or
-- before 12:21); id 1 comes out again in dd_on (its key expired), not in
-- dd_on_plain
INSERT INTO dd_new VALUES
	(7, 'c', '2026-01-01 12:40', 5), (2, 'a', '2026-01-01 12:00', 1),
	(8, 'd', '2026-01-01 12:21', 3), (9, 'a', '2026-01-01 12:22', 1),
	(1, 'e', '2026-01-01 12:35', 9);
SELECT dd_feed();
SELECT dd_batch();
-- + d, e
SELECT * FROM dd_keys ORDER BY 1;
SELECT * FROM dd_pairs ORDER BY 1, 2;
-- + 7 c, 8 d, 9 a
SELECT * FROM dd_on_plain ORDER BY 1;
-- id 1's new first row replaces nothing: the view is append-only, so it
-- holds both first rows of id 1
SELECT * FROM dd_on ORDER BY 1, 2;
-- + (c 12:40) (a 12:22) (e 12:35); the watermark is 12:30 after it
SELECT k, to_char(ts, 'HH24:MI') AS ts FROM dd_kt ORDER BY 2, 1;
-- (2 a 12:00) is late: 12:00 - 12:10 is final; (8 d 12:21) is not: its
-- window 12:20 - 12:30 is not. 12:20: + (8 d 3) (9 a 1): 4 rows, values
-- 1 3, sum 4, k a d; 12:30: + (e 9): 3, values 5 1 9, sum 15, 3 k;
-- 12:40: (c 5)
SELECT to_char(w, 'HH24:MI') AS w, n, dv, sv, dk FROM dd_cnt ORDER BY 1;
SELECT * FROM dd_cnt_all ORDER BY 1;
-- 12:20 - 12:30 final under 12:30: ids 5 and 9
SELECT to_char(w, 'HH24:MI') AS w, n, s FROM dd_stage ORDER BY 1;
-- late: 2 rows in dd_kt, dd_on, dd_stage (its dedup stage drops them),
-- 1 in dd_cnt. dd_cnt keeps 12:30 and 12:40 (12:20 is final at 12:30)
-- and their values (3 + 1 a filter, 3 filters); dd_kt (c 12:40) (a 12:31)
-- (e 12:35); dd_on ids 5 6 7 9 1 (the first expires at 12:31)
SELECT * FROM dd_stats;

-- the views without a watermark equal their batch queries
SELECT matches_batch('dd_keys', 'dd_plain', 'dd_ref') AS keys,
	matches_batch('dd_pairs', 'dd_plain', 'dd_ref') AS pairs,
	matches_batch('dd_cnt_all', 'dd_plain', 'dd_ref') AS cnt_all;
SELECT (SELECT count(*) FROM (TABLE dd_on_plain EXCEPT ALL TABLE dd_on_ref) x) AS extra,
	(SELECT count(*) FROM (TABLE dd_on_ref EXCEPT ALL TABLE dd_on_plain) x) AS missing;

-- many keys in one batch, most of them seen before, some twice
INSERT INTO dd_new SELECT i % 700, 'k' || (i % 13), '2026-01-01 12:45', i % 50
	FROM generate_series(1, 3000) i;
SELECT dd_feed();
SELECT dd_batch();
SELECT matches_batch('dd_keys', 'dd_plain', 'dd_ref') AS keys,
	matches_batch('dd_pairs', 'dd_plain', 'dd_ref') AS pairs,
	matches_batch('dd_cnt_all', 'dd_plain', 'dd_ref') AS cnt_all;
SELECT (SELECT count(*) FROM (TABLE dd_on_plain EXCEPT ALL TABLE dd_on_ref) x) AS extra,
	(SELECT count(*) FROM (TABLE dd_on_ref EXCEPT ALL TABLE dd_on_plain) x) AS missing;
-- the keys kept are the view's rows
SELECT (SELECT count(*) FROM dd_keys) = (SELECT state_rows FROM dd_stats WHERE name = 'dd_keys'::regclass) AS keys_kept;

-- what cannot be deduplicated is refused, naming it
CREATE MATERIALIZED VIEW dd_bad AS SELECT DISTINCT k, count(*) FROM dd_src GROUP BY k;
CREATE MATERIALIZED VIEW dd_bad AS
	SELECT * FROM (SELECT DISTINCT ON (id) id, v FROM dd_src ORDER BY id, v) d;
CREATE MATERIALIZED VIEW dd_bad AS SELECT DISTINCT v::money AS m FROM dd_src;
CREATE MATERIALIZED VIEW dd_bad AS SELECT DISTINCT random() > 0.5 AS r FROM dd_src;
CREATE FOREIGN TABLE dd_src2 (id int, ts timestamptz) SERVER stream;
CREATE MATERIALIZED VIEW dd_bad AS
	SELECT DISTINCT s.k FROM dd_src s JOIN dd_src2 t ON s.id = t.id;
CREATE MATERIALIZED VIEW dd_bad AS
	SELECT s.id, count(DISTINCT s.v) FROM dd_src s JOIN dd_src2 t ON s.id = t.id GROUP BY 1;
CREATE MATERIALIZED VIEW dd_bad AS
	SELECT k, stream.session(ts, '5 minutes') AS s, count(DISTINCT v) FROM dd_src GROUP BY 1, 2;
-- a DISTINCT subquery must be read whole: not joined (a join may stop
-- reading it, or read it again), not through a WITH, not LATERAL
CREATE TABLE dd_tj (x int, name text);
CREATE MATERIALIZED VIEW dd_bad AS
	SELECT t.name, d.id FROM (SELECT DISTINCT ON (id) id, v FROM dd_src) d JOIN dd_tj t ON t.x = d.v;
CREATE MATERIALIZED VIEW dd_bad AS
	SELECT count(*) FROM (WITH c AS (SELECT DISTINCT k FROM dd_src) SELECT * FROM c) d;
CREATE MATERIALIZED VIEW dd_bad AS
	SELECT t.name, d.k FROM dd_tj t, LATERAL (SELECT DISTINCT k FROM dd_src s WHERE s.v <= t.x) d;
-- the elements of an array key must hash too
CREATE MATERIALIZED VIEW dd_bad AS SELECT DISTINCT ARRAY[v::money] AS a FROM dd_src;
-- the filter is pg_stream's own
CREATE MATERIALIZED VIEW dd_bad AS
	SELECT k FROM dd_src WHERE stream._first_seen(0, ts, k);
SELECT stream._first_seen(0, 0, now(), 'x'::text);
-- nor from a function a batch runs: a call that is not the engine's
CREATE FUNCTION dd_evil(int) RETURNS boolean LANGUAGE plpgsql VOLATILE COST 100000 AS
	$$BEGIN RETURN stream._first_seen(0::bigint, 0, NULL::timestamptz, 12345); END$$;
CREATE MATERIALIZED VIEW dd_evil_v WITH (trigger = 'manual') AS
	SELECT DISTINCT k FROM dd_plain WHERE dd_evil(v);
INSERT INTO dd_plain (k, v) VALUES ('x', 1), ('y', 2);
REFRESH MATERIALIZED VIEW dd_evil_v;
DROP MATERIALIZED VIEW dd_evil_v;

-- the filter sees the level's rows, after its joins, conditions and
-- functions, and nothing from above is pushed below it
CREATE FOREIGN TABLE dd_p2 (id int, k text, v int) SERVER stream;
CREATE TABLE dd_p2_ref (id int, k text, v int);
CREATE TABLE dd_t1 (id int, name text);
INSERT INTO dd_t1 VALUES (1, 'one');
CREATE TABLE dd_t2 (id int, name text);
INSERT INTO dd_t2 VALUES (1, 'a'), (1, 'b');
CREATE FUNCTION dd_positive(int) RETURNS boolean LANGUAGE plpgsql COST 10000 AS
	$$BEGIN RETURN $1 > 0; END$$;
CREATE MATERIALIZED VIEW dd_join WITH (trigger = 'manual') AS
	SELECT DISTINCT r.k FROM dd_p2 r JOIN dd_t1 t ON r.id = t.id;
CREATE MATERIALIZED VIEW dd_join_on WITH (trigger = 'manual') AS
	SELECT DISTINCT ON (r.k) r.k, t.name FROM dd_p2 r JOIN dd_t1 t ON r.id = t.id;
CREATE MATERIALIZED VIEW dd_join_two WITH (trigger = 'manual') AS
	SELECT DISTINCT r.k FROM dd_p2 r JOIN dd_t2 t USING (id);
CREATE MATERIALIZED VIEW dd_semi WITH (trigger = 'manual') AS
	SELECT DISTINCT k FROM dd_p2 WHERE id IN (SELECT id FROM dd_t1);
CREATE MATERIALIZED VIEW dd_srf WITH (trigger = 'manual') AS
	SELECT DISTINCT r.k FROM dd_p2 r, generate_series(1, r.v) g;
CREATE MATERIALIZED VIEW dd_costly WITH (trigger = 'manual') AS
	SELECT DISTINCT k FROM dd_p2 WHERE dd_positive(v);
CREATE MATERIALIZED VIEW dd_above WITH (trigger = 'manual') AS
	SELECT id, v FROM (SELECT DISTINCT ON (id) id, v FROM dd_p2) d WHERE v > 5;
CREATE MATERIALIZED VIEW dd_nested WITH (trigger = 'manual') AS
	SELECT DISTINCT k FROM (SELECT DISTINCT ON (md5(id::text)) id, k FROM dd_p2) d;
CREATE MATERIALIZED VIEW dd_fnull WITH (trigger = 'manual') AS
	SELECT k, count(DISTINCT v) FILTER (WHERE id > 0) AS n FROM dd_p2 GROUP BY k;
WITH r AS (INSERT INTO dd_p2_ref VALUES
	(99, 'seven', -1), (1, 'seven', 0), (1, 'two', 2), (1, 'f', 1), (1, 'f', 10),
	(NULL, 'g', 4), (1, 'g', 4), (2, 'f', 3)
	RETURNING *) INSERT INTO dd_p2 SELECT * FROM r;
REFRESH MATERIALIZED VIEW dd_join;
REFRESH MATERIALIZED VIEW dd_join_on;
REFRESH MATERIALIZED VIEW dd_join_two;
REFRESH MATERIALIZED VIEW dd_semi;
REFRESH MATERIALIZED VIEW dd_srf;
REFRESH MATERIALIZED VIEW dd_costly;
REFRESH MATERIALIZED VIEW dd_above;
REFRESH MATERIALIZED VIEW dd_nested;
REFRESH MATERIALIZED VIEW dd_fnull;
-- seven (its id 1 row joins), two, f, g: each once
SELECT * FROM dd_join ORDER BY 1;
SELECT * FROM dd_join_on ORDER BY 1;
SELECT * FROM dd_join_two ORDER BY 1;
SELECT * FROM dd_semi ORDER BY 1;
-- seven has no row with v >= 1; two, f, g
SELECT * FROM dd_srf ORDER BY 1;
SELECT * FROM dd_costly ORDER BY 1;
-- id 1's first row has v = -1: nothing; id 2's first has 3: nothing; NULL's 4
SELECT * FROM dd_above ORDER BY 1;
-- the first row of each id: 99 seven, 1 seven, NULL g, 2 f
SELECT * FROM dd_nested ORDER BY 1;
-- g: v 4 counts once, from the row whose FILTER is true, not NULL
SELECT * FROM dd_fnull ORDER BY 1;
SELECT matches_batch('dd_join', 'dd_p2', 'dd_p2_ref') AS j, matches_batch('dd_join_two', 'dd_p2', 'dd_p2_ref') AS j2,
	matches_batch('dd_semi', 'dd_p2', 'dd_p2_ref') AS semi, matches_batch('dd_srf', 'dd_p2', 'dd_p2_ref') AS srf,
	matches_batch('dd_costly', 'dd_p2', 'dd_p2_ref') AS costly, matches_batch('dd_fnull', 'dd_p2', 'dd_p2_ref') AS fnull;
DROP MATERIALIZED VIEW dd_join, dd_join_on, dd_join_two, dd_semi, dd_srf, dd_costly, dd_above, dd_nested, dd_fnull;

-- DISTINCT ON through a derived stream has its event time too; and under
-- a complete-mode aggregation nothing is late and nothing evicted
CREATE VIEW dd_derived AS SELECT id, ts FROM dd_src WHERE id > 0;
CREATE MATERIALIZED VIEW dd_on_derived WITH (trigger = 'manual') AS
	SELECT DISTINCT ON (id) id, ts FROM dd_derived;
CREATE MATERIALIZED VIEW dd_complete WITH (trigger = 'manual', output_mode = 'complete') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n
	FROM (SELECT DISTINCT ON (id) id, ts FROM dd_src) d GROUP BY 1;
INSERT INTO dd_src (id, ts) VALUES (1, '2026-01-01 13:00'), (1, '2026-01-01 13:05');
SELECT dd_batch();
-- the watermark is 12:55: (2 12:00) is late in dd_on_derived, counted in dd_complete
INSERT INTO dd_src (id, ts) VALUES (2, '2026-01-01 12:00'), (1, '2026-01-01 13:30');
SELECT dd_batch();
SELECT id, to_char(ts, 'HH24:MI') AS ts FROM dd_on_derived ORDER BY 1, 2;
SELECT to_char(w, 'HH24:MI') AS w, n FROM dd_complete ORDER BY 1;
-- dd_on_derived: id 1's key lived until 13:10, and the watermark is
-- 13:20: evicted; dd_complete keeps both ids and both windows
SELECT * FROM dd_stats WHERE name IN ('dd_on_derived'::regclass, 'dd_complete'::regclass);
DROP MATERIALIZED VIEW dd_on_derived, dd_complete;

DROP MATERIALIZED VIEW dd_keys, dd_pairs, dd_on_plain, dd_kt, dd_on, dd_stage, dd_cnt, dd_cnt_all;
-- their tables went with them
SELECT count(*) FROM pg_class WHERE relname LIKE 'seen\_%';

-- a batch big enough for a hashed aggregation, sorted after it: the
-- plan repeats count(*) (the query's and the late rows') in a Result
CREATE FOREIGN TABLE dd_big (id int, uid int, ts timestamptz, v int) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE MATERIALIZED VIEW dd_users WITH (trigger = 'manual') AS
	SELECT stream.tumble(ts, '10 seconds') AS w, count(*) AS n,
		count(DISTINCT uid) AS users, sum(DISTINCT v) AS sv
	FROM dd_big GROUP BY 1;
INSERT INTO dd_big SELECT g, (g * 7919) % 5000, '2026-01-01'::timestamptz + g * interval '1 ms', g % 1000
	FROM generate_series(1, 55000) g;
REFRESH MATERIALIZED VIEW dd_users;
SELECT count(*) AS windows, sum(n) AS n, max(users) AS users, max(sv) AS sv FROM dd_users;
DROP MATERIALIZED VIEW dd_users;

-- a list aggregate refuses DISTINCT (PostgreSQL sorts its values), and
-- takes deduplicated values from a subquery, in arrival order
CREATE MATERIALIZED VIEW dd_bad AS SELECT k, string_agg(DISTINCT k, ',') FROM dd_plain GROUP BY k;
CREATE MATERIALIZED VIEW dd_list WITH (trigger = 'manual') AS
	SELECT k, array_agg(v) AS vs, count(*) AS n FROM (SELECT DISTINCT k, v FROM dd_plain) d GROUP BY k;
INSERT INTO dd_plain (k, v) VALUES ('x', 3), ('x', 1), ('x', 3), ('y', NULL), ('x', 2), ('y', NULL);
REFRESH MATERIALIZED VIEW dd_list;
INSERT INTO dd_plain (k, v) VALUES ('x', 1), ('x', 0), ('y', 5), ('y', NULL);
REFRESH MATERIALIZED VIEW dd_list;
-- x: 3 1 2, then 0; y: NULL, then 5
SELECT * FROM dd_list ORDER BY k;
DROP MATERIALIZED VIEW dd_list;

-- a key longer than a btree entry can hold (2.7 kB) is kept all the same
CREATE MATERIALIZED VIEW dd_long WITH (trigger = 'manual') AS SELECT DISTINCT k FROM dd_plain;
INSERT INTO dd_plain (k) SELECT string_agg(md5(i::text), '') FROM generate_series(1, 300) i;
INSERT INTO dd_plain (k) SELECT string_agg(md5(i::text), '') FROM generate_series(1, 300) i
	UNION ALL SELECT 'short';
REFRESH MATERIALIZED VIEW dd_long;
INSERT INTO dd_plain (k) SELECT string_agg(md5(i::text), '') FROM generate_series(1, 300) i;
REFRESH MATERIALIZED VIEW dd_long;
SELECT length(k), count(*) FROM dd_long GROUP BY 1 ORDER BY 1;
DROP MATERIALIZED VIEW dd_long;
