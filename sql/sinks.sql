-- Sinks: where each batch's output goes besides the view, per output mode.
CREATE FOREIGN TABLE sales (shop text, item text, qty int) SERVER stream;

-- update mode into a table: upserted on the group keys
CREATE TABLE shop_totals (shop text, qty bigint, note text DEFAULT 'kept');
CREATE MATERIALIZED VIEW totals WITH (sink = 'shop_totals', trigger = 'manual') AS
	SELECT shop, sum(qty) AS qty FROM sales GROUP BY shop;
CREATE UNIQUE INDEX ON shop_totals (shop) NULLS NOT DISTINCT;
CREATE MATERIALIZED VIEW totals WITH (sink = 'shop_totals', trigger = 'manual') AS
	SELECT shop, sum(qty) AS qty FROM sales GROUP BY shop;
INSERT INTO sales VALUES ('north', 'tea', 2), ('south', 'tea', 1), (NULL, 'cup', 5);
REFRESH MATERIALIZED VIEW totals;
INSERT INTO sales VALUES ('north', 'cup', 3);
REFRESH MATERIALIZED VIEW totals;
SELECT * FROM shop_totals ORDER BY shop;
-- the sink equals the view
SELECT count(*) AS differences FROM
	((SELECT shop, qty FROM totals EXCEPT SELECT shop, qty FROM shop_totals)
	 UNION ALL (SELECT shop, qty FROM shop_totals EXCEPT SELECT shop, qty FROM totals)) d;

-- a group HAVING takes out of the view leaves the sink too
CREATE TABLE big_shops (shop text PRIMARY KEY, n bigint);
CREATE MATERIALIZED VIEW big WITH (sink = 'big_shops', trigger = 'manual') AS
	SELECT shop, count(*) AS n FROM sales GROUP BY shop HAVING count(*) < 3;
INSERT INTO sales VALUES ('east', 'tea', 1), ('east', 'tea', 1), ('west', 'tea', 1);
REFRESH MATERIALIZED VIEW big;
SELECT * FROM big_shops ORDER BY shop;
INSERT INTO sales VALUES ('east', 'tea', 1);
REFRESH MATERIALIZED VIEW big;
SELECT * FROM big_shops ORDER BY shop;

-- complete mode: the sink holds the whole result after each batch
CREATE TABLE item_snapshot (item text, n bigint);
INSERT INTO item_snapshot VALUES ('stale', 0);
CREATE MATERIALIZED VIEW items WITH (sink = 'item_snapshot', output_mode = 'complete', trigger = 'manual') AS
	SELECT item, count(*) AS n FROM sales GROUP BY item;
INSERT INTO sales VALUES ('north', 'tea', 1), ('north', 'pot', 1);
REFRESH MATERIALIZED VIEW items;
SELECT * FROM item_snapshot ORDER BY item;
INSERT INTO sales VALUES ('south', 'pot', 1);
REFRESH MATERIALIZED VIEW items;
SELECT * FROM item_snapshot ORDER BY item;
-- each batch sent the whole result: rows_out counts every row sent (2,
-- then 2 again although only pot changed)
SELECT batch_id, rows_in, rows_out FROM stream.progress WHERE name = 'items'::regclass ORDER BY batch_id;

-- append mode into a stream: a chain of views, in the same transactions
CREATE FOREIGN TABLE big_sales (shop text, item text, qty int, at_batch bigint) SERVER stream;
CREATE MATERIALIZED VIEW big_only WITH (sink = 'big_sales', trigger = 'manual') AS
	SELECT shop, item, qty, NULL::bigint AS at_batch FROM sales WHERE qty >= 3;
CREATE MATERIALIZED VIEW big_count WITH (trigger = 'manual') AS
	SELECT item, count(*) AS n, sum(qty) AS qty FROM big_sales GROUP BY item;
INSERT INTO sales VALUES ('north', 'tea', 7), ('south', 'cup', 1), ('west', 'cup', 4);
REFRESH MATERIALIZED VIEW big_only;
-- a batch that fails leaves neither the view nor the sink changed
BEGIN;
INSERT INTO sales VALUES ('north', 'pot', 9);
REFRESH MATERIALIZED VIEW big_only;
ROLLBACK;
REFRESH MATERIALIZED VIEW big_count;
SELECT * FROM big_count ORDER BY item;
SELECT shop, item, qty FROM big_only ORDER BY shop, item;

-- update mode into a stream: a changelog of the changed rows
CREATE FOREIGN TABLE total_changes (shop text, qty bigint) SERVER stream;
CREATE MATERIALIZED VIEW totals2 WITH (sink = 'total_changes', trigger = 'manual') AS
	SELECT shop, sum(qty) AS qty FROM sales GROUP BY shop;
CREATE MATERIALIZED VIEW changelog WITH (trigger = 'manual') AS
	SELECT shop, qty FROM total_changes;
INSERT INTO sales VALUES ('north', 'tea', 1), ('south', 'tea', 1);
REFRESH MATERIALIZED VIEW totals2;
INSERT INTO sales VALUES ('north', 'tea', 1);
REFRESH MATERIALIZED VIEW totals2;
REFRESH MATERIALIZED VIEW changelog;
SELECT * FROM changelog ORDER BY shop, qty;

-- sink_function (foreachBatch) and sink_function_per_row (foreach)
CREATE TABLE batches_seen (batch_id bigint, rows jsonb);
CREATE FUNCTION keep_batch(batch_id bigint, rows jsonb) RETURNS void
LANGUAGE sql AS $$ INSERT INTO batches_seen VALUES (batch_id, rows) $$;
CREATE TYPE shop_qty AS (shop text, qty bigint);
CREATE TABLE rows_seen (batch_id bigint, shop text, qty bigint);
CREATE FUNCTION keep_row(batch_id bigint, r shop_qty) RETURNS void
LANGUAGE sql AS $$ INSERT INTO rows_seen VALUES (batch_id, r.shop, r.qty) $$;
CREATE FUNCTION keep_array(batch_id bigint, rs shop_qty[]) RETURNS void
LANGUAGE sql AS $$ INSERT INTO rows_seen SELECT batch_id, 'array:' || r.shop, r.qty FROM unnest(rs) r $$;
CREATE MATERIALIZED VIEW totals3 WITH (sink_function = 'keep_batch', sink_function_per_row = 'keep_row', trigger = 'manual') AS
	SELECT shop, sum(qty) AS qty FROM sales WHERE shop IS NOT NULL GROUP BY shop;
INSERT INTO sales VALUES ('north', 'tea', 1), ('south', 'tea', 2);
REFRESH MATERIALIZED VIEW totals3;
INSERT INTO sales VALUES ('south', 'tea', 2);
REFRESH MATERIALIZED VIEW totals3;
ALTER MATERIALIZED VIEW totals3 SET (sink_function = 'keep_array');
INSERT INTO sales VALUES ('west', 'tea', 2);
REFRESH MATERIALIZED VIEW totals3;
SELECT batch_id, jsonb_path_query_array(rows, '$[*] ? (@.shop != null)') @> '[{"shop": "north"}]' AS has_north,
	jsonb_array_length(rows) AS n FROM batches_seen ORDER BY batch_id;
SELECT * FROM rows_seen ORDER BY batch_id, shop;
SELECT options FROM stream.cq WHERE view = 'totals3'::regclass;

-- what cannot be a sink, or a sink function
CREATE TABLE no_key (shop text, qty bigint);
CREATE MATERIALIZED VIEW bad1 WITH (sink = 'no_key') AS SELECT shop, sum(qty) AS qty FROM sales GROUP BY shop;
CREATE TABLE wrong_cols (shop text, amount bigint);
CREATE MATERIALIZED VIEW bad2 WITH (sink = 'wrong_cols') AS SELECT shop, qty FROM sales;
CREATE TABLE wrong_type (shop text, qty point);
CREATE MATERIALIZED VIEW bad3 WITH (sink = 'wrong_type') AS SELECT shop, qty FROM sales;
CREATE VIEW plain_view AS SELECT 1 AS shop, 2 AS qty;
CREATE MATERIALIZED VIEW bad4 WITH (sink = 'plain_view') AS SELECT shop, qty FROM sales;
CREATE MATERIALIZED VIEW bad5 WITH (sink = 'no_such_table') AS SELECT shop, qty FROM sales;
CREATE FUNCTION wrong_args(a int, b jsonb) RETURNS void LANGUAGE sql AS '';
CREATE MATERIALIZED VIEW bad6 WITH (sink_function = 'wrong_args') AS SELECT shop, qty FROM sales;
CREATE MATERIALIZED VIEW bad7 WITH (sink_function_per_row = 'keep_array') AS SELECT shop, qty FROM sales;
CREATE MATERIALIZED VIEW bad8 WITH (notify_channel = 'x') AS SELECT shop, qty FROM sales;
ALTER MATERIALIZED VIEW big_only SET (sink = 'big_only');
-- a sink cannot be dropped from under its view
DROP TABLE shop_totals;
DROP FUNCTION keep_row(bigint, shop_qty);

-- notify: each output row as JSON on a channel (here, this session's)
CREATE MATERIALIZED VIEW console WITH (sink = 'notify', notify_channel = 'sales_console', trigger = 'manual') AS
	SELECT shop, item FROM sales WHERE item = 'kettle';
SELECT options FROM stream.cq WHERE view = 'console'::regclass;

-- a file sink needs pg_write_server_files for the view's owner: refused
-- when the sink is set, naming the role and the table
CREATE ROLE pgs_sink_owner LOGIN;
GRANT CREATE ON SCHEMA public TO pgs_sink_owner;
CREATE FOREIGN TABLE file_out (shop text, qty int) SERVER file OPTIONS (path '/nonexistent/pgs_sink_test', format 'csv');
GRANT INSERT ON file_out TO pgs_sink_owner;
GRANT SELECT ON sales TO pgs_sink_owner;
SET ROLE pgs_sink_owner;
CREATE MATERIALIZED VIEW to_file WITH (sink = 'file_out', trigger = 'manual') AS SELECT shop, qty FROM sales;
CREATE MATERIALIZED VIEW to_nothing WITH (trigger = 'manual') AS SELECT shop, qty FROM sales;
ALTER MATERIALIZED VIEW to_nothing SET (sink = 'file_out');
DROP MATERIALIZED VIEW to_nothing;
RESET ROLE;
-- nor may such a role become the owner of a view with a file sink
CREATE MATERIALIZED VIEW to_file_su WITH (sink = 'file_out', trigger = 'manual') AS SELECT shop, qty FROM sales;
ALTER MATERIALIZED VIEW to_file_su OWNER TO pgs_sink_owner;
SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'to_file_su'::regclass;
DROP MATERIALIZED VIEW to_file_su;
-- nor through REASSIGN OWNED
CREATE ROLE pgs_sink_writer IN ROLE pg_write_server_files;
GRANT CREATE ON SCHEMA public TO pgs_sink_writer;
GRANT INSERT ON file_out TO pgs_sink_writer;
GRANT SELECT ON sales TO pgs_sink_writer;
SET ROLE pgs_sink_writer;
CREATE MATERIALIZED VIEW to_file_w WITH (sink = 'file_out', trigger = 'manual') AS SELECT shop, qty FROM sales;
RESET ROLE;
REASSIGN OWNED BY pgs_sink_writer TO pgs_sink_owner;
SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'to_file_w'::regclass;
DROP MATERIALIZED VIEW to_file_w;
REVOKE ALL ON file_out, sales FROM pgs_sink_writer;
REVOKE CREATE ON SCHEMA public FROM pgs_sink_writer;
DROP ROLE pgs_sink_writer;
-- a table sink is written as the view's owner: the new owner needs its privileges
CREATE MATERIALIZED VIEW to_table_su WITH (sink = 'no_key', trigger = 'manual') AS SELECT shop, qty FROM sales;
ALTER MATERIALIZED VIEW to_table_su OWNER TO pgs_sink_owner;
GRANT INSERT ON no_key TO pgs_sink_owner;
ALTER MATERIALIZED VIEW to_table_su OWNER TO pgs_sink_owner;
SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'to_table_su'::regclass;
DROP MATERIALIZED VIEW to_table_su;
REVOKE INSERT ON no_key FROM pgs_sink_owner;

-- every name in the SQL made for sinks is qualified: functions and an
-- operator of the same names in a schema before pg_catalog in the owner's
-- search_path are never called
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE FUNCTION evil.to_jsonb(anyelement) RETURNS jsonb LANGUAGE plpgsql AS
$$BEGIN RAISE NOTICE 'evil.to_jsonb ran'; RETURN pg_catalog.to_jsonb($1); END$$;
CREATE FUNCTION evil.pg_notify(text, text) RETURNS void LANGUAGE plpgsql AS
$$BEGIN RAISE NOTICE 'evil.pg_notify ran'; END$$;
CREATE FUNCTION evil.octet_length(text) RETURNS int LANGUAGE plpgsql AS
$$BEGIN RAISE NOTICE 'evil.octet_length ran'; RETURN 0; END$$;
CREATE FUNCTION evil.always(text, text) RETURNS bool LANGUAGE plpgsql AS
$$BEGIN RAISE NOTICE 'evil.= ran'; RETURN true; END$$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.always);
ALTER ROLE pgs_sink_owner SET search_path = evil, pg_catalog, public;
SELECT current_user AS regress_user \gset
\c - pgs_sink_owner
SHOW search_path;
CREATE FOREIGN TABLE public.h_sales (shop text, qty int) SERVER stream;
CREATE TABLE public.h_small (shop text PRIMARY KEY, n bigint);
CREATE TABLE public.h_batches (batch_id bigint, rows jsonb);
CREATE FUNCTION public.h_keep(batch_id bigint, rows jsonb) RETURNS void
LANGUAGE sql AS $$ INSERT INTO public.h_batches VALUES (batch_id, rows) $$;
CREATE MATERIALIZED VIEW public.h_view WITH (sink = 'public.h_small', trigger = 'manual') AS
	SELECT shop, pg_catalog.count(*) AS n FROM public.h_sales GROUP BY shop HAVING pg_catalog.count(*) OPERATOR(pg_catalog.<) 2;
CREATE MATERIALIZED VIEW public.h_fn WITH (sink_function = 'public.h_keep', sink_function_per_row = 'public.h_keep', trigger = 'manual') AS
	SELECT shop, qty FROM public.h_sales;
CREATE MATERIALIZED VIEW public.h_console WITH (sink = 'notify', trigger = 'manual') AS
	SELECT shop FROM public.h_sales;
INSERT INTO public.h_sales VALUES ('a', 1), ('b', 1);
REFRESH MATERIALIZED VIEW public.h_view;
REFRESH MATERIALIZED VIEW public.h_fn;
REFRESH MATERIALIZED VIEW public.h_console;
-- 'a' leaves the view through HAVING, and so the sink; 'b' stays
INSERT INTO public.h_sales VALUES ('a', 1);
REFRESH MATERIALIZED VIEW public.h_view;
SELECT * FROM public.h_small ORDER BY shop;
SELECT batch_id, pg_catalog.jsonb_typeof(rows) FROM public.h_batches ORDER BY batch_id, rows::text;
DROP MATERIALIZED VIEW public.h_view, public.h_fn, public.h_console;
DROP FOREIGN TABLE public.h_sales;
DROP TABLE public.h_small, public.h_batches;
DROP FUNCTION public.h_keep;
\c - :regress_user
DROP SCHEMA evil CASCADE;
DROP FOREIGN TABLE file_out;
REVOKE CREATE ON SCHEMA public FROM pgs_sink_owner;
REVOKE SELECT ON sales FROM pgs_sink_owner;
DROP ROLE pgs_sink_owner;

DROP MATERIALIZED VIEW totals, big, items, big_only, big_count, totals2, changelog, totals3, console;
DROP FOREIGN TABLE sales, big_sales, total_changes;
DROP TABLE shop_totals, big_shops, item_snapshot, batches_seen, rows_seen, no_key, wrong_cols, wrong_type;
DROP VIEW plain_view;
DROP FUNCTION keep_batch, keep_row, keep_array, wrong_args;
DROP TYPE shop_qty;
