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

-- only kafka streams have shares
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
DROP FOREIGN TABLE pk_ev, pk_ev2, pk_ins, pk_rate;
DROP SERVER pk_srv;
