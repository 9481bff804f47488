-- The option parallelism (engine/parallel.c): validation at CREATE and
-- ALTER, what is refused, and the monitoring rows of the shares. The
-- kafka server points at a closed port: the views are manual, so their
-- workers run without asking the broker anything.
CREATE SERVER pk_srv FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1');
CREATE FOREIGN TABLE pk_ev (k text, v int, ts timestamptz) SERVER pk_srv
	OPTIONS (topic 'ev', event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE pk_ev2 (k text, ts timestamptz) SERVER pk_srv
	OPTIONS (topic 'ev2', event_time 'ts', watermark '1 minute');
CREATE FOREIGN TABLE pk_ins (k text, v int) SERVER stream;
CREATE FOREIGN TABLE pk_rate (ts timestamptz, value bigint) SERVER rate OPTIONS (rows_per_second '5');

-- bounds: an integer from 1 to 64
CREATE MATERIALIZED VIEW pk_bad WITH (parallelism = 0) AS SELECT k, count(*) FROM pk_ev GROUP BY k;
CREATE MATERIALIZED VIEW pk_bad WITH (parallelism = 65) AS SELECT k, count(*) FROM pk_ev GROUP BY k;
CREATE MATERIALIZED VIEW pk_bad WITH (parallelism = 'two') AS SELECT k, count(*) FROM pk_ev GROUP BY k;
CREATE MATERIALIZED VIEW pk_bad WITH (parallelism = 1.5) AS SELECT k, count(*) FROM pk_ev GROUP BY k;

-- only kafka and file streams have shares
CREATE MATERIALIZED VIEW pk_bad WITH (parallelism = 2) AS SELECT k, count(*) FROM pk_ins GROUP BY k;
CREATE MATERIALIZED VIEW pk_bad WITH (parallelism = 2) AS SELECT count(*) FROM pk_rate;
-- 1 is always fine
CREATE MATERIALIZED VIEW pk_one WITH (parallelism = 1) AS SELECT k, count(*) FROM pk_ins GROUP BY k;
-- a join of two streams is refused
CREATE MATERIALIZED VIEW pk_bad WITH (parallelism = 2) AS
	SELECT a.k, count(*) FROM pk_ev a JOIN pk_ev2 b ON a.k = b.k
		AND b.ts BETWEEN a.ts AND a.ts + interval '1 minute' GROUP BY a.k;

-- an aggregation and a window over a kafka stream
CREATE MATERIALIZED VIEW pk_agg WITH (parallelism = 2, trigger = 'manual') AS
	SELECT k, count(*) AS n, sum(v) AS total FROM pk_ev GROUP BY k;
CREATE MATERIALIZED VIEW pk_win WITH (parallelism = 3, trigger = 'manual') AS
	SELECT stream.tumble(ts, '1 minute') AS w, count(*) AS n FROM pk_ev GROUP BY 1;

-- a worker per share (bounded wait for the manager to start them; the
-- waits read stream._worker_status, as stream.queries asks each kafka
-- view's lag of the brokers, which takes a second here)
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN (SELECT count(*) = 6 FROM stream._worker_status()
				   WHERE view IN ('pk_agg'::regclass, 'pk_win'::regclass, 'pk_one'::regclass)
				   AND pid IS NOT NULL AND (share IS NOT NULL OR view = 'pk_one'::regclass));
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT name, status, parallelism,
	   (SELECT array_agg((s->>'share')::int ORDER BY (s->>'share')::int) FROM jsonb_array_elements(shares) s) AS shares,
	   (SELECT count(DISTINCT s->>'pid') FROM jsonb_array_elements(shares) s) AS workers,
	   worker_pid = (shares->0->>'pid')::int AS worker_pid_is_share_0
FROM stream.queries WHERE name IN ('pk_agg'::regclass, 'pk_win'::regclass, 'pk_one'::regclass)
ORDER BY name::text;
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'pg_stream worker' AND query LIKE 'pg_stream batch of public.pk_win, share _ of 3';
SELECT view::regclass, share FROM stream._worker_status()
WHERE view IN ('pk_agg'::regclass, 'pk_win'::regclass) ORDER BY view::regclass::text, share;
-- the progress of a batch says which share it read (NULL: all of them)
SELECT attname FROM pg_attribute WHERE attrelid = 'stream.progress'::regclass AND attname = 'share';

-- the workers' rows only for the roles that may see the view
CREATE ROLE pgs_pnobody;
SET ROLE pgs_pnobody;
SELECT count(*) FROM stream.queries WHERE name IN ('pk_agg'::regclass, 'pk_win'::regclass);
SELECT count(*) FROM stream._worker_status() WHERE view IN ('pk_agg'::regclass, 'pk_win'::regclass);
RESET ROLE;
GRANT pg_read_all_stats TO pgs_pnobody;
SET ROLE pgs_pnobody;
SELECT name, parallelism, jsonb_array_length(shares) FROM stream.queries
WHERE name = 'pk_win'::regclass;
RESET ROLE;
DROP ROLE pgs_pnobody;

-- ALTER: checked as CREATE is
ALTER MATERIALIZED VIEW pk_agg SET (parallelism = 65);
ALTER MATERIALIZED VIEW pk_one SET (parallelism = 2);
-- re-divided: the old division's workers go, the new one's start
ALTER MATERIALIZED VIEW pk_agg SET (parallelism = 4);
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN (SELECT count(*) = 4 FROM stream._worker_status()
				   WHERE view = 'pk_agg'::regclass AND pid IS NOT NULL AND share IS NOT NULL);
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT parallelism, jsonb_array_length(shares) FROM stream.queries WHERE name = 'pk_agg'::regclass;
ALTER MATERIALIZED VIEW pk_agg RESET (parallelism);
DO $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN (SELECT count(*) = 1 AND bool_and(pid IS NOT NULL AND share IS NULL)
				   FROM stream._worker_status() WHERE view = 'pk_agg'::regclass);
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT parallelism, shares, worker_pid IS NOT NULL AS has_worker FROM stream.queries WHERE name = 'pk_agg'::regclass;
SELECT count(*) FROM stream._worker_status() WHERE view = 'pk_agg'::regclass;
-- the comment of the view names what it was given
SELECT obj_description('pk_win'::regclass, 'pg_class');

DROP MATERIALIZED VIEW pk_agg, pk_win, pk_one;
-- a view of one stream with parallelism gives its readers no event time:
-- its shares write their rows as they read them, one share behind
-- another, and a reader's watermark would drop the lagging share's rows
CREATE MATERIALIZED VIEW pk_filt WITH (parallelism = 2, trigger = 'manual', output_mode = 'append') AS
	SELECT k, v, ts FROM pk_ev WHERE v > 0;
CREATE MATERIALIZED VIEW pk_filt_r WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT k, v, ts FROM pk_filt;
SELECT ftoptions FROM pg_catalog.pg_foreign_table WHERE ftrelid = 'stream.pk_filt_out'::regclass;
DROP MATERIALIZED VIEW pk_filt CASCADE;
-- nor can such a view whose readers have event time get parallelism
CREATE MATERIALIZED VIEW pk_filt1 WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT k, v, ts FROM pk_ev WHERE v > 0;
CREATE MATERIALIZED VIEW pk_filt1_r WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT k, v, ts FROM pk_filt1;
ALTER MATERIALIZED VIEW pk_filt1 SET (parallelism = 2);
DROP MATERIALIZED VIEW pk_filt1 CASCADE;
DROP FOREIGN TABLE pk_ev, pk_ev2, pk_ins, pk_rate;
DROP SERVER pk_srv;

-- file streams: share s of N reads the files whose name hashes to s
-- (sources/file/position.c); csv files, and Parquet files our writer writes
COPY (SELECT 1) TO PROGRAM 'rm -rf /tmp/pgs_regress_parfiles && mkdir -p /tmp/pgs_regress_parfiles/c /tmp/pgs_regress_parfiles/p';
CREATE FOREIGN TABLE pf_ev (k text, v int, file text OPTIONS (meta 'filename')) SERVER file
	OPTIONS (path '/tmp/pgs_regress_parfiles/c', format 'csv', pattern '*.csv');
CREATE FOREIGN TABLE pf_pq (k text, v int) SERVER file
	OPTIONS (path '/tmp/pgs_regress_parfiles/p', format 'parquet');
CREATE TABLE pf_ref (k text, v int, file text);
DO $$
BEGIN
	FOR f IN 1..8 LOOP
		-- (written under a hidden name, then moved in)
		EXECUTE format('COPY (SELECT ''k'' || (i %% 7), i * %s FROM generate_series(1, 500) i) TO PROGRAM %L (FORMAT csv)',
					   f, format('cat > /tmp/pgs_regress_parfiles/.f%s && mv /tmp/pgs_regress_parfiles/.f%s /tmp/pgs_regress_parfiles/c/f%s.csv', f, f, f));
		INSERT INTO pf_ref SELECT 'k' || (i % 7), i * f, 'f' || f || '.csv' FROM generate_series(1, 500) i;
	END LOOP;
END $$;
INSERT INTO pf_pq SELECT 'k' || (i % 5), i FROM generate_series(1, 300) i;
INSERT INTO pf_pq SELECT 'k' || (i % 5), i * 2 FROM generate_series(1, 300) i;
INSERT INTO pf_pq SELECT 'k' || (i % 5), i * 3 FROM generate_series(1, 300) i;
-- a per-key aggregation every share touches, split over batches, and a
-- count per file; Parquet files by two shares
CREATE MATERIALIZED VIEW pf_agg WITH (parallelism = 2, max_batch_rows = 150) AS
	SELECT k, count(*) AS n, sum(v) AS total FROM pf_ev GROUP BY k;
CREATE MATERIALIZED VIEW pf_per_file WITH (parallelism = 3) AS
	SELECT file, count(*) AS n FROM pf_ev GROUP BY file;
CREATE MATERIALIZED VIEW pf_pq_agg WITH (parallelism = 2) AS
	SELECT k, count(*) AS n, sum(v) AS total FROM pf_pq GROUP BY k;
CREATE FUNCTION pf_wait(rows bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..300 LOOP
		EXIT WHEN (SELECT sum(n) FROM pf_agg) = rows AND (SELECT sum(n) FROM pf_per_file) = rows
			AND (SELECT sum(n) FROM pf_pq_agg) = 900;
		PERFORM pg_sleep(0.1);
	END LOOP;
END $$;
SELECT pf_wait(4000);
-- equal to the same queries as batches over the same files
SELECT count(*) AS differences FROM
	((TABLE pf_agg EXCEPT ALL SELECT k, count(*), sum(v) FROM pf_ref GROUP BY k)
	 UNION ALL (SELECT k, count(*), sum(v) FROM pf_ref GROUP BY k EXCEPT ALL TABLE pf_agg)) d;
SELECT count(*) AS differences FROM
	((TABLE pf_per_file EXCEPT ALL SELECT file, count(*) FROM pf_ref GROUP BY file)
	 UNION ALL (SELECT file, count(*) FROM pf_ref GROUP BY file EXCEPT ALL TABLE pf_per_file)) d;
SELECT k, n, total FROM pf_pq_agg ORDER BY k;
-- batches of both shares; one position, every file done in it, none in progress
SELECT count(DISTINCT share) FROM stream.progress WHERE name = 'pf_agg'::regclass;
SELECT jsonb_array_length(position->'done') AS done, position ? 'file' AS in_progress
FROM stream.positions WHERE view = 'pf_agg'::regclass;
-- re-divided into 3, then back to one: each file read once whoever reads it
ALTER MATERIALIZED VIEW pf_agg SET (parallelism = 3);
DO $$
BEGIN
	FOR f IN 9..12 LOOP
		-- (written under a hidden name, then moved in)
		EXECUTE format('COPY (SELECT ''k'' || (i %% 7), i * %s FROM generate_series(1, 500) i) TO PROGRAM %L (FORMAT csv)',
					   f, format('cat > /tmp/pgs_regress_parfiles/.f%s && mv /tmp/pgs_regress_parfiles/.f%s /tmp/pgs_regress_parfiles/c/f%s.csv', f, f, f));
		INSERT INTO pf_ref SELECT 'k' || (i % 7), i * f, 'f' || f || '.csv' FROM generate_series(1, 500) i;
	END LOOP;
END $$;
SELECT pf_wait(6000);
ALTER MATERIALIZED VIEW pf_agg RESET (parallelism);
COPY (SELECT 'k1', 1000) TO '/tmp/pgs_regress_parfiles/c/f13.csv' (FORMAT csv);
INSERT INTO pf_ref VALUES ('k1', 1000, 'f13.csv');
SELECT pf_wait(6001);
SELECT count(*) AS differences FROM
	((TABLE pf_agg EXCEPT ALL SELECT k, count(*), sum(v) FROM pf_ref GROUP BY k)
	 UNION ALL (SELECT k, count(*), sum(v) FROM pf_ref GROUP BY k EXCEPT ALL TABLE pf_agg)) d;
SELECT count(*) AS differences FROM
	((TABLE pf_per_file EXCEPT ALL SELECT file, count(*) FROM pf_ref GROUP BY file)
	 UNION ALL (SELECT file, count(*) FROM pf_ref GROUP BY file EXCEPT ALL TABLE pf_per_file)) d;
SELECT parallelism, shares FROM stream.queries WHERE name = 'pf_agg'::regclass;
-- a REFRESH of a manual view with parallelism reads every share's files
CREATE MATERIALIZED VIEW pf_manual WITH (parallelism = 2, trigger = 'manual') AS
	SELECT count(*) AS n, sum(v) AS total FROM pf_ev;
REFRESH MATERIALIZED VIEW pf_manual;
SELECT n, total, (SELECT sum(v) FROM pf_ref) AS expected FROM pf_manual;
DROP FUNCTION pf_wait(bigint);
DROP MATERIALIZED VIEW pf_agg, pf_per_file, pf_pq_agg, pf_manual;
DROP FOREIGN TABLE pf_ev, pf_pq;
DROP TABLE pf_ref;
COPY (SELECT 1) TO PROGRAM 'rm -rf /tmp/pgs_regress_parfiles';
