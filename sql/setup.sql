-- Setup shared by the regression tests.
CREATE EXTENSION pg_stream;
CREATE EXTENSION hll;
CREATE EXTENSION dblink;

-- Bounded poll: true once cond is true, false after the timeout.
CREATE FUNCTION wait_for(cond text, timeout interval DEFAULT '60 seconds')
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	ok boolean;
	deadline timestamptz := clock_timestamp() + timeout;
BEGIN
	LOOP
		-- a transaction keeps its first look at pg_stat_activity (and the
		-- other statistics views) until it ends: look again each time
		PERFORM pg_stat_clear_snapshot();
		EXECUTE 'SELECT (' || cond || ')' INTO ok;
		IF ok THEN RETURN true; END IF;
		IF clock_timestamp() > deadline THEN RETURN false; END IF;
		PERFORM pg_sleep(0.05);
	END LOOP;
END $$;

-- Exact comparison of a continuous view with a query over plain tables
-- holding the same input (batch: its text). Multisets, NULLs included.
CREATE FUNCTION matches_query(v regclass, batch text)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
	missing bigint;
	extra bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM ((%s) EXCEPT ALL (SELECT * FROM %s)) x', batch, v)
		INTO missing;
	EXECUTE format('SELECT count(*) FROM ((SELECT * FROM %s) EXCEPT ALL (%s)) x', v, batch)
		INTO extra;
	IF missing <> 0 OR extra <> 0 THEN
		RAISE NOTICE 'view % differs from its batch query: % rows missing, % extra',
			v, missing, extra;
	END IF;
	RETURN missing = 0 AND extra = 0;
END $$;

-- The same query as the view, run as a batch: the view's definition with
-- the stream's name replaced by the table's. rows_where keeps only the
-- batch's rows that satisfy it (in append mode: the windows final so far).
CREATE FUNCTION matches_batch(v regclass, stream_name text, table_name text,
							  rows_where text DEFAULT 'true')
RETURNS boolean LANGUAGE sql AS $$
	SELECT matches_query(v, format('SELECT * FROM (%s) b WHERE %s',
		replace(rtrim(pg_get_viewdef(v), ';'), stream_name, table_name), rows_where))
$$;

-- The extension's objects
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = 'stream' AND p.proname NOT LIKE '\_%' ORDER BY 1;
SELECT fdwname FROM pg_foreign_data_wrapper ORDER BY 1;
SELECT srvname FROM pg_foreign_server ORDER BY 1;
SELECT relname, relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'stream' AND relkind IN ('r', 'v') ORDER BY 1;
