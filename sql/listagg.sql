-- List aggregates (engine/listagg.c): string_agg, array_agg, json_agg,
-- jsonb_agg and jsonb_object_agg, which PostgreSQL 15 cannot combine.
-- Each view is checked after every batch: its rows as computed by hand
-- (the expected output), the batch query over a plain table holding the
-- same input (matches_batch), and the same aggregates over that table
-- with ORDER BY the arrival ordinal (id), which must give the view's
-- element order exactly.
SET timezone = 'UTC';
\pset null '(null)'

CREATE FOREIGN TABLE la_src (id int, g int, t text, d text, b bytea, i int, a int[], k text)
	SERVER stream;
CREATE TABLE la_ref (id int, g int, t text, d text, b bytea, i int, a int[], k text);
-- la_ref in arrival order (its heap reuses free space: not its order)
CREATE VIEW la_refo AS SELECT * FROM la_ref ORDER BY id;
CREATE TABLE la_new (id int, g int, t text, d text, b bytea, i int, a int[], k text);
-- into the stream and la_ref, in id order, in one transaction (its
-- chunks are read in the order they were written)
CREATE FUNCTION la_feed() RETURNS void LANGUAGE sql AS $$
	INSERT INTO la_src SELECT * FROM la_new ORDER BY id;
	INSERT INTO la_ref SELECT * FROM la_new ORDER BY id;
	DELETE FROM la_new;
$$;

CREATE MATERIALIZED VIEW la_str WITH (trigger = 'manual') AS
SELECT g, string_agg(t, d) AS s, string_agg(b, '\x2c'::bytea) AS sb, count(*) AS n
FROM la_src GROUP BY g;
CREATE MATERIALIZED VIEW la_arr WITH (trigger = 'manual') AS
SELECT g, array_agg(i) AS ai, array_agg(t) AS at,
	array_agg(a) FILTER (WHERE a IS NOT NULL) AS aa, array_agg(ARRAY[t, d]) AS atd
FROM la_src GROUP BY g;
-- json has no equality: compared as text
CREATE MATERIALIZED VIEW la_json WITH (trigger = 'manual') AS
SELECT g, json_agg(t)::text AS j, json_agg(a)::text AS ja, jsonb_agg(i) AS jb,
	jsonb_object_agg(k, i) FILTER (WHERE k IS NOT NULL) AS jo
FROM la_src GROUP BY g;
-- no GROUP BY, and a list aggregate inside an expression, with HAVING
CREATE MATERIALIZED VIEW la_all WITH (trigger = 'manual') AS
SELECT count(*) AS n, length(string_agg(t, '')) AS len,
	cardinality(array_agg(id)) AS ids
FROM la_src HAVING count(*) > 0;

-- pg_dump and \d+ show what the user wrote; the batch runs stream._*
SELECT pg_get_viewdef('la_arr');

-- the views against their queries over la_ref, and in arrival order
CREATE FUNCTION la_refresh() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	REFRESH MATERIALIZED VIEW la_str;
	REFRESH MATERIALIZED VIEW la_arr;
	REFRESH MATERIALIZED VIEW la_json;
	REFRESH MATERIALIZED VIEW la_all;
END $$;
CREATE FUNCTION la_check(OUT str boolean, OUT arr boolean, OUT json boolean,
						 OUT glob boolean, OUT ordered boolean)
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM la_refresh();
	-- the batch query over la_refo is PostgreSQL's own aggregation: hashed,
	-- so that it aggregates the rows in la_refo's order (a sort is not stable)
	PERFORM set_config('enable_sort', 'off', true);
	PERFORM set_config('jit', 'off', true);	-- the disabled sort's cost would JIT
	str := matches_batch('la_str', 'la_src', 'la_refo');
	arr := matches_batch('la_arr', 'la_src', 'la_refo');
	json := matches_batch('la_json', 'la_src', 'la_refo');
	glob := matches_batch('la_all', 'la_src', 'la_refo');
	SELECT count(*) = 0 INTO ordered FROM (
		(SELECT g, s, sb, ai, at, aa, atd, j, ja, jb, jo FROM la_str
		 JOIN la_arr USING (g) JOIN la_json USING (g)
		 EXCEPT ALL
		 SELECT g, string_agg(t, d ORDER BY id), string_agg(b, '\x2c'::bytea ORDER BY id),
			array_agg(i ORDER BY id), array_agg(t ORDER BY id),
			array_agg(a ORDER BY id) FILTER (WHERE a IS NOT NULL), array_agg(ARRAY[t, d] ORDER BY id),
			json_agg(t ORDER BY id)::text, json_agg(a ORDER BY id)::text,
			jsonb_agg(i ORDER BY id),
			jsonb_object_agg(k, i ORDER BY id) FILTER (WHERE k IS NOT NULL)
		 FROM la_ref GROUP BY g)) x;
END $$;

CREATE FUNCTION la_show() RETURNS TABLE (g int, s text, sb bytea, ai int[], at text[],
	aa int[], atd text[], j text, ja text, jb jsonb, jo jsonb)
LANGUAGE sql AS $$
	SELECT g, s, sb, ai, at, aa, atd, j, ja, jb, jo
	FROM la_str JOIN la_arr USING (g) JOIN la_json USING (g) ORDER BY g
$$;

-- Batch 1: group 1 with delimiters of each kind (a NULL delimiter is
-- empty, the first row's is left out); group 2 only NULLs; group 3 an
-- empty string after a NULL; duplicate keys in one batch (the last wins)
INSERT INTO la_new VALUES
	(1, 1, 'a', ',', '\x61', 1, '{1,2}', 'x'),
	(2, 2, NULL, ',', NULL, NULL, NULL, NULL),
	(3, 1, 'b', '-', '\x62', 2, '{3,4}', 'y'),
	(4, 3, NULL, '#', NULL, 7, NULL, 'z'),
	(5, 1, NULL, ';', NULL, NULL, NULL, 'y'),
	(6, 3, '', NULL, '\x', NULL, '{5,6}', 'z'),
	(7, 1, 'c', NULL, '\x63', 3, NULL, 'y');
SELECT la_feed();
SELECT * FROM la_check();
SELECT * FROM la_show();
SELECT * FROM la_all;

-- Batch 2: groups spanning batches; group 2, whose first batch had only
-- NULLs, gets its first value (its delimiter left out); duplicate keys
-- across batches (the later batch's value wins); group 4 is new
INSERT INTO la_new VALUES
	(8, 2, 'x', '+', '\x78', 5, '{{7,8}}', 'x'),
	(9, 1, 'd', '/', '\x64', NULL, '{9,NULL}', 'x'),
	(10, 4, '', '', '\x', 0, NULL, 'w'),
	(11, 3, 'e', '|', '\x65', 8, '{11,12}', 'q'),
	(12, 1, '', ',', '\x', 4, NULL, 'y'),
	(13, 2, 'y', NULL, '\x79', NULL, '{{9,10}}', NULL);
SELECT la_feed();
SELECT * FROM la_check();
SELECT * FROM la_show();
SELECT * FROM la_all;

-- Batch 3: 50 groups, their 1,000 rows interleaved (row i in group
-- 100 + i % 50), under planner settings that would sort: arrival order
-- is kept within the batch and after the state
INSERT INTO la_new SELECT i, 100 + i % 50, 'v' || i, ',', int4send(i), i,
	ARRAY[i, -i], 'k' || (i % 7)
	FROM generate_series(100, 1099) i;
SELECT la_feed();
SET enable_hashagg = off;
SET enable_nestloop = off;
SELECT la_refresh();
RESET enable_hashagg;
RESET enable_nestloop;
SELECT * FROM la_check();
SELECT g, left(s, 30) AS s, ai[1:4] AS ai, jo FROM la_show() WHERE g IN (100, 149) ORDER BY g;
-- (a sorted aggregation would not have kept it: PostgreSQL's sort is not stable)
SET enable_hashagg = off;
SELECT count(*) > 0 AS sorting_reorders FROM (
	SELECT g, string_agg(t, ',') AS s FROM la_ref WHERE g >= 100 GROUP BY g) x
	JOIN (SELECT g, string_agg(t, ',' ORDER BY id) AS s FROM la_ref WHERE g >= 100 GROUP BY g) y
	USING (g) WHERE x.s <> y.s;
RESET enable_hashagg;

-- Batch 4: 20,000 rows in 4,000 interleaved groups, old and new, with a
-- work_mem so small that the hashed aggregation spills to disk
INSERT INTO la_new SELECT i, 100 + i % 4000, 'w' || i, ';', int4send(i), i,
	ARRAY[i, i], 'k' || (i % 3)
	FROM generate_series(2000, 21999) i;
SELECT la_feed();
SET work_mem = '64kB';
SELECT la_refresh();
RESET work_mem;
SELECT * FROM la_check();
SELECT count(*) AS groups, sum(cardinality(ai)) AS elements FROM la_arr;
SELECT g, left(s, 40) AS s FROM la_str WHERE g IN (100, 4099) ORDER BY g;

--
-- A join with a table: the stream drives a nested loop, which keeps its order
--
CREATE TABLE la_names (g int PRIMARY KEY, name text);
INSERT INTO la_names SELECT g, 'group ' || g FROM generate_series(1, 200) g;
CREATE MATERIALIZED VIEW la_join WITH (trigger = 'manual') AS
SELECT n.name, string_agg(s.t, ' ') AS s, array_agg(s.id) AS ids
FROM la_src s JOIN la_names n ON n.g = s.g GROUP BY n.name;
INSERT INTO la_new SELECT i, 100 + i % 20, 'j' || i, NULL, NULL, i, NULL, NULL
	FROM generate_series(30000, 30199) i;
SELECT la_feed();
REFRESH MATERIALIZED VIEW la_join;
SELECT (SELECT count(*) FROM la_join) AS groups,
	(SELECT count(*) FROM la_join v JOIN (
		SELECT n.name, string_agg(r.t, ' ' ORDER BY r.id) AS s, array_agg(r.id ORDER BY r.id) AS ids
		FROM la_ref r JOIN la_names n ON n.g = r.g WHERE r.id >= 30000 GROUP BY n.name) x
		USING (name) WHERE v.s = x.s AND v.ids = x.ids) AS in_order;
SELECT * FROM la_check();
-- a table without an index, and small batches: the planner puts the
-- stream inside the nested loop; the batch swaps its sides
CREATE TABLE la_small (g int, name text);
INSERT INTO la_small SELECT g, 'small ' || g FROM generate_series(100, 119) g;
ANALYZE la_small;
CREATE MATERIALIZED VIEW la_join2 WITH (trigger = 'manual') AS
SELECT n.name, string_agg(s.t, ' ') AS s, array_agg(s.id) AS ids
FROM la_src s JOIN la_small n ON n.g = s.g GROUP BY n.name;
INSERT INTO la_new VALUES (30200, 101, 'p', NULL, NULL, 1, NULL, NULL),
	(30201, 102, 'q', NULL, NULL, 1, NULL, NULL), (30202, 101, 'r', NULL, NULL, 1, NULL, NULL);
SELECT la_feed();
SET client_min_messages = debug1;
REFRESH MATERIALIZED VIEW la_join2;
RESET client_min_messages;
SELECT * FROM la_join2 ORDER BY name;
INSERT INTO la_new SELECT i, 100 + i % 40, 'm' || i, NULL, NULL, i, NULL, NULL
	FROM generate_series(30300, 30399) i;
SELECT la_feed();
REFRESH MATERIALIZED VIEW la_join2;
SELECT (SELECT count(*) FROM la_join2) AS groups,
	(SELECT count(*) FROM la_join2 v JOIN (
		SELECT n.name, string_agg(r.t, ' ' ORDER BY r.id) AS s, array_agg(r.id ORDER BY r.id) AS ids
		FROM la_ref r JOIN la_small n ON n.g = r.g WHERE r.id >= 30200 GROUP BY n.name) x
		USING (name) WHERE v.s = x.s AND v.ids = x.ids) AS in_order;
SELECT * FROM la_check();

--
-- Windows, append mode with a watermark: a window's row is written once,
-- when final, with its elements in arrival order across batches
--
CREATE FOREIGN TABLE la_ev (ts timestamptz, w text) SERVER stream
	OPTIONS (event_time 'ts', watermark '1 minute');
CREATE MATERIALIZED VIEW la_win WITH (trigger = 'manual', output_mode = 'append') AS
SELECT stream.tumble(ts, '10 minutes') AS win, string_agg(w, ' ') AS words,
	array_agg(w) AS arr, jsonb_object_agg(w, ts) AS jo
FROM la_ev GROUP BY 1;
CREATE MATERIALIZED VIEW la_win_upd WITH (trigger = 'manual', output_mode = 'update') AS
SELECT stream.tumble(ts, '10 minutes') AS win, string_agg(w, ' ') AS words
FROM la_ev GROUP BY 1;
CREATE PROCEDURE la_ev_feed(VARIADIC r text[]) LANGUAGE sql AS $$
	INSERT INTO la_ev SELECT split_part(x, ' ', 1)::timestamptz, split_part(x, ' ', 2) FROM unnest(r) x;
$$;
CREATE FUNCTION la_ev_batch() RETURNS TABLE (view text, win timestamptz, words text, arr text[])
LANGUAGE plpgsql AS $$
BEGIN
	REFRESH MATERIALIZED VIEW la_win;
	REFRESH MATERIALIZED VIEW la_win_upd;
	RETURN QUERY SELECT 'append', a.win, a.words, a.arr FROM la_win a
		UNION ALL SELECT 'update', u.win, u.words, NULL FROM la_win_upd u ORDER BY 1, 2;
END $$;
CALL la_ev_feed('2026-01-01T12:01:00Z a', '2026-01-01T12:03:00Z b');
SELECT * FROM la_ev_batch();
-- out of event-time order, arrival order is kept; the watermark moves
-- to 12:10, and the first window is final
CALL la_ev_feed('2026-01-01T12:09:00Z c', '2026-01-01T12:02:00Z d', '2026-01-01T12:11:00Z e');
SELECT * FROM la_ev_batch();
-- the watermark (12:10) passed the first window's end: it was final
-- after the batch before; the second is not yet
CALL la_ev_feed('2026-01-01T12:15:00Z f');
SELECT * FROM la_ev_batch();
-- a late row is dropped, the first window's row is not written again;
-- the watermark (12:24) makes the second final
CALL la_ev_feed('2026-01-01T12:04:00Z late', '2026-01-01T12:25:00Z g');
SELECT * FROM la_ev_batch();
SELECT jo FROM la_win;
SELECT rows_late, state_rows FROM stream.queries WHERE name = 'la_win'::regclass;

--
-- jsonb_object_agg: a NULL key is an error, as in PostgreSQL
--
CREATE FOREIGN TABLE la_kv (k text, v int) SERVER stream;
CREATE MATERIALIZED VIEW la_obj WITH (trigger = 'manual') AS
SELECT jsonb_object_agg(k, v) AS o FROM la_kv;
INSERT INTO la_kv VALUES ('a', 1), (NULL, 2);
REFRESH MATERIALIZED VIEW la_obj;
SELECT jsonb_object_agg(k, v) FROM (VALUES ('a', 1), (NULL, 2)) x(k, v);
DROP MATERIALIZED VIEW la_obj;
-- array_agg of arrays: every array of the same dimensions, across batches too
CREATE FOREIGN TABLE la_dims (a int[]) SERVER stream;
CREATE MATERIALIZED VIEW la_dim WITH (trigger = 'manual') AS
SELECT array_agg(a) AS aa FROM la_dims;
INSERT INTO la_dims VALUES ('{1,2}');
REFRESH MATERIALIZED VIEW la_dim;
INSERT INTO la_dims VALUES ('{3,4,5}');
REFRESH MATERIALIZED VIEW la_dim;
SELECT * FROM la_dim;
DROP MATERIALIZED VIEW la_dim;
CREATE MATERIALIZED VIEW la_dim WITH (trigger = 'manual') AS
SELECT array_agg(a) AS aa FROM la_dims;
INSERT INTO la_dims VALUES (NULL);
REFRESH MATERIALIZED VIEW la_dim;
DROP MATERIALIZED VIEW la_dim;

--
-- Refused at CREATE
--
-- ORDER BY inside the aggregate: the elements are in arrival order
CREATE MATERIALIZED VIEW la_bad AS SELECT string_agg(t, ',' ORDER BY t) FROM la_src;
CREATE MATERIALIZED VIEW la_bad AS SELECT g, jsonb_agg(i ORDER BY id) FROM la_src GROUP BY g;
-- a join of two streams has no arrival order
CREATE MATERIALIZED VIEW la_bad AS
SELECT a.k, string_agg(b.w, ',') FROM la_kv a JOIN la_ev b ON a.k = b.w GROUP BY a.k;
-- group keys that cannot be hashed: the aggregation would sort the rows
CREATE MATERIALIZED VIEW la_bad AS
SELECT i::bit(8) AS bits, string_agg(t, ',') FROM la_src GROUP BY 1;

--
-- The support functions run only inside an aggregate, and not for PUBLIC
--
SELECT stream._array_agg_combine('{1}'::int[], '{2}'::int[]);
CREATE ROLE la_user;
SET ROLE la_user;
SELECT stream._array_agg_combine('{1}'::int[], '{2}'::int[]);
SELECT stream._string_agg(x, ',') FROM (VALUES ('a'), ('b')) v(x);
RESET ROLE;
DROP ROLE la_user;
SELECT has_function_privilege('public', 'stream._listagg_deserial(bytea, internal)', 'execute') AS public_deserial,
	has_function_privilege('public', 'stream._string_agg(text, text)', 'execute') AS public_aggregate;
-- the stand-ins are aggregates as good as the originals
SELECT stream._string_agg(t, d ORDER BY id) = string_agg(t, d ORDER BY id) AS same,
	stream._jsonb_object_agg(k, i) = jsonb_object_agg(k, i) AS same_obj
FROM la_ref WHERE k IS NOT NULL;
-- a damaged stored state is an error, not a crash: a separator longer
-- than the state, another version, a state shorter than its header
CREATE FOREIGN TABLE la_d (g int, t text) SERVER stream;
CREATE MATERIALIZED VIEW la_dmg1 WITH (trigger = 'manual') AS
SELECT g, string_agg(t, ',') AS s FROM la_d GROUP BY g;
CREATE MATERIALIZED VIEW la_dmg2 WITH (trigger = 'manual') AS
SELECT g, string_agg(t, ',') AS s FROM la_d GROUP BY g;
CREATE MATERIALIZED VIEW la_dmg3 WITH (trigger = 'manual') AS
SELECT g, string_agg(t, ',') AS s FROM la_d GROUP BY g;
INSERT INTO la_d VALUES (1, 'a');
REFRESH MATERIALIZED VIEW la_dmg1;
REFRESH MATERIALIZED VIEW la_dmg2;
REFRESH MATERIALIZED VIEW la_dmg3;
CREATE FUNCTION la_damage(v regclass, state bytea) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('UPDATE %s SET s1 = %L', (SELECT state_table FROM stream.cq WHERE view = v), state);
END $$;
SELECT la_damage('la_dmg1', '\x01ffffff0061'), la_damage('la_dmg2', '\x0200000000'),
	la_damage('la_dmg3', '\x01000000');
INSERT INTO la_d VALUES (1, 'z');
REFRESH MATERIALIZED VIEW la_dmg1;
REFRESH MATERIALIZED VIEW la_dmg2;
REFRESH MATERIALIZED VIEW la_dmg3;
-- a state that is whole reads back
SELECT la_damage('la_dmg1', '\x010000000178');
REFRESH MATERIALIZED VIEW la_dmg1;
SELECT * FROM la_dmg1;
DROP MATERIALIZED VIEW la_dmg1, la_dmg2, la_dmg3;
DROP FUNCTION la_damage(regclass, bytea);

DROP MATERIALIZED VIEW la_str, la_arr, la_json, la_all, la_join, la_join2, la_win, la_win_upd;
-- jsonb_object_agg stores each key once: the latest value of a key
-- 20,000 times over keeps a state the size of its result
CREATE FOREIGN TABLE la_latest (k text, v int) SERVER stream;
CREATE MATERIALIZED VIEW la_latest_v WITH (trigger = 'manual') AS
	SELECT jsonb_object_agg(k, v) AS o FROM la_latest;
INSERT INTO la_latest SELECT 'same', i FROM generate_series(1, 10000) i;
REFRESH MATERIALIZED VIEW la_latest_v;
INSERT INTO la_latest SELECT 'same', i FROM generate_series(1, 10000) i UNION ALL SELECT 'other', 7;
REFRESH MATERIALIZED VIEW la_latest_v;
SELECT o FROM la_latest_v;
SELECT state_table AS st FROM stream.cq WHERE view = 'la_latest_v'::regclass \gset
SELECT length(s1) < 64 AS state_is_the_result FROM :st;
DROP MATERIALIZED VIEW la_latest_v;
DROP FOREIGN TABLE la_latest;
DROP FOREIGN TABLE la_src, la_ev, la_kv, la_dims, la_d;
DROP VIEW la_refo;
DROP TABLE la_ref, la_new, la_names, la_small;
DROP PROCEDURE la_ev_feed(text[]);
DROP FUNCTION la_feed(), la_refresh(), la_check(), la_show(), la_ev_batch();
