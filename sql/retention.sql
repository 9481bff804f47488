-- Retention (engine/retention.c): the option retention deletes, in every
-- batch, the rows of windows that ended more than that before the
-- watermark, from the view and from its copy (stream.rows_<oid>);
-- stream.purge(view, before) deletes the windows that ended before a time
-- on demand. Only final windows are deleted, so none is written again.
SET timezone = 'UTC';
CREATE FUNCTION t(text) RETURNS timestamptz LANGUAGE sql
	AS $$ SELECT ('2026-01-01 ' || $1 || '+00')::timestamptz $$;
CREATE FOREIGN TABLE ev (ts timestamptz, k text, n int) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE FOREIGN TABLE ev_nowm (ts timestamptz, k text) SERVER stream;
CREATE TABLE ev_all (ts timestamptz, k text, n int);
CREATE FUNCTION feed(VARIADIC evs text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	e text;
BEGIN
	FOREACH e IN ARRAY evs LOOP
		INSERT INTO ev VALUES (t(split_part(e, ' ', 1)), split_part(e, ' ', 2), 1);
		INSERT INTO ev_all VALUES (t(split_part(e, ' ', 1)), split_part(e, ' ', 2), 1);
	END LOOP;
END $$;
-- the view's rows and its copy's (which must hold the same final rows)
CREATE FUNCTION copy_of(v regclass) RETURNS regclass LANGUAGE sql
	AS $$ SELECT rows_table FROM stream.cq WHERE view OPERATOR(pg_catalog.=) v $$;
CREATE FUNCTION copy_rows(v regclass) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM %s', copy_of(v)) INTO n;
	RETURN n;
END $$;
CREATE FUNCTION wm(v regclass) RETURNS text LANGUAGE sql
	AS $$ SELECT to_char(watermark, 'HH24:MI') FROM stream.queries
		  WHERE name OPERATOR(pg_catalog.=) v $$;

--
-- What CREATE and ALTER refuse
--
-- negative, months, not an interval
CREATE MATERIALIZED VIEW bad WITH (retention = '-1 minute') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) FROM ev GROUP BY 1;
CREATE MATERIALIZED VIEW bad WITH (retention = '1 month') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) FROM ev GROUP BY 1;
CREATE MATERIALIZED VIEW bad WITH (retention = 'soon') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) FROM ev GROUP BY 1;
-- no event time with a watermark
CREATE MATERIALIZED VIEW bad WITH (retention = '1 hour') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) FROM ev_nowm GROUP BY 1;
-- no window in the output: a plain aggregation, rows without aggregation
CREATE MATERIALIZED VIEW bad WITH (retention = '1 hour') AS
	SELECT k, count(*) FROM ev GROUP BY k;
CREATE MATERIALIZED VIEW bad WITH (retention = '1 hour') AS
	SELECT ts, k FROM ev;
-- complete mode keeps every window and drops no late row
CREATE MATERIALIZED VIEW bad WITH (retention = '1 hour', output_mode = 'complete') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) FROM ev GROUP BY 1;
-- WITH NO DATA takes no option (set it after the REFRESH)
CREATE MATERIALIZED VIEW bad WITH (retention = '1 hour') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) FROM ev GROUP BY 1 WITH NO DATA;
-- ALTER checks the same
CREATE MATERIALIZED VIEW per_k WITH (trigger = 'manual') AS
	SELECT k, count(*) FROM ev GROUP BY k;
ALTER MATERIALIZED VIEW per_k SET (retention = '1 hour');
CREATE MATERIALIZED VIEW comp WITH (trigger = 'manual', output_mode = 'complete') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) FROM ev GROUP BY 1;
ALTER MATERIALIZED VIEW comp SET (retention = '1 hour');
ALTER MATERIALIZED VIEW comp SET (retention = '-1 hour');
-- nor may a view with retention become complete
CREATE MATERIALIZED VIEW upd WITH (trigger = 'manual', retention = '1 hour') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) FROM ev GROUP BY 1;
ALTER MATERIALIZED VIEW upd SET (output_mode = 'complete');
SELECT options FROM stream.cq WHERE view OPERATOR(pg_catalog.=) 'upd'::regclass;
DROP MATERIALIZED VIEW per_k, comp, upd;

--
-- A timeline, batch by batch (one REFRESH each; it runs the no-data batch
-- with the watermark the input left). Watermark: 10 minutes behind the
-- latest event time.
--   ret_tumble: append, 10-minute windows, retention 20 minutes (the
--     window is the first key: the view's unique index serves), with a
--     table sink, which keeps every row it got;
--   ret_hop: update, 10-minute windows every 5 minutes, retention 15
--     minutes (the window is the second key: an index is made for it);
--   ret_session: update, sessions with a 5-minute gap, retention 10
--     minutes (an index on upper(session)).
-- A window is deleted when its end is more than the retention before the
-- watermark: end < watermark - retention.
--
CREATE TABLE ret_sunk (w timestamptz, k text, c bigint, s bigint);
CREATE MATERIALIZED VIEW ret_tumble
	WITH (trigger = 'manual', output_mode = 'append', retention = '20 minutes', sink = 'ret_sunk') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, k, count(*) AS c, sum(n) AS s
	FROM ev GROUP BY 1, 2;
CREATE MATERIALIZED VIEW ret_hop WITH (trigger = 'manual', retention = '15 minutes') AS
	SELECT e.k, h.w, count(*) AS c
	FROM ev e, stream.hop(e.ts, '10 minutes', '5 minutes') AS h(w) GROUP BY e.k, h.w;
CREATE MATERIALIZED VIEW ret_session WITH (trigger = 'manual', retention = '10 minutes') AS
	SELECT k, stream.session(ts, '5 minutes') AS sess, count(*) AS c
	FROM ev GROUP BY k, sess;
-- the indexes retention reads: on the view's window column (ret_tumble's
-- unique index leads with it) and on its copy's
SELECT regexp_replace(pg_get_indexdef(i.indexrelid), '(rows_|idx)[0-9]+', '\1<oid>', 'g') AS def
FROM pg_class c JOIN pg_index i ON i.indrelid = c.oid
WHERE c.oid IN ('ret_hop'::regclass, 'ret_session'::regclass, 'ret_tumble'::regclass,
				copy_of('ret_tumble'), copy_of('ret_hop'), copy_of('ret_session'))
ORDER BY c.relname ~ '^rows_', 1;

CREATE FUNCTION show() RETURNS TABLE (v text, win text, k text, c bigint) LANGUAGE sql AS $$
	SELECT 'tumble', to_char(w, 'HH24:MI') || '-' || to_char(w + interval '10 minutes', 'HH24:MI'), k, c
	FROM ret_tumble
	UNION ALL
	SELECT 'hop', to_char(w, 'HH24:MI') || '-' || to_char(w + interval '10 minutes', 'HH24:MI'), k, c
	FROM ret_hop
	UNION ALL
	SELECT 'session', to_char(lower(sess), 'HH24:MI') || '-' || to_char(upper(sess), 'HH24:MI'), k, c
	FROM ret_session
	ORDER BY 1, 2, 3
$$;
CREATE FUNCTION step() RETURNS TABLE (tumble text, hop text, sess text) LANGUAGE sql AS $$
	REFRESH MATERIALIZED VIEW ret_tumble;
	REFRESH MATERIALIZED VIEW ret_hop;
	REFRESH MATERIALIZED VIEW ret_session;
	SELECT wm('ret_tumble'), wm('ret_hop'), wm('ret_session')
$$;

-- Batch 1: no watermark yet; after it 12:15 (12:25 - 10 minutes). The
-- no-data batch makes 12:00-12:10 final (tumble: now in the view; hop:
-- 11:55-12:05 and 12:00-12:10; sessions a 12:01-12:06, b 12:04-12:09).
-- Retention cut 12:15 - retention: tumble 11:55, hop 12:00, session
-- 12:05: hop 11:55-12:05 ended at 12:05, not before 12:00; session
-- a 12:01-12:06 ended after 12:05: nothing deleted yet.
SELECT feed('12:01 a', '12:04 b', '12:12 a', '12:25 b');
SELECT * FROM step();
SELECT * FROM show();

-- Batch 2: 12:41 a moves the watermark to 12:31. Cuts: tumble 12:11,
-- hop 12:16, session 12:21. Gone: tumble 12:00-12:10 (a and b);
-- hop 11:55-12:05, 12:00-12:10, 12:05-12:15 (ended 12:15 < 12:16);
-- sessions a 12:01-12:06, b 12:04-12:09, a 12:12-12:17.
SELECT feed('12:41 a');
SELECT * FROM step();
SELECT * FROM show();
SELECT copy_rows('ret_tumble') AS tumble_copy, copy_rows('ret_hop') AS hop_copy,
	   copy_rows('ret_session') AS session_copy;

-- A late event for a deleted window (12:05: before the watermark, and its
-- windows are final) is dropped: it re-creates nothing. 12:34 a is on
-- time: it counts in the open windows.
SELECT feed('12:05 a', '12:34 a');
SELECT * FROM step();
SELECT * FROM show();
SELECT name, rows_late FROM stream.queries
WHERE name::text LIKE 'ret\_%' ORDER BY 1::text;

-- Every row kept is exact: equal to the batch query over the same input,
-- restricted to the windows the view keeps (final or open, not cut).
-- For append: final (end <= 12:31) and not cut (end >= 12:11); for hop
-- (update): end >= 12:16; sessions: end >= 12:21.
SELECT matches_batch('ret_tumble', 'ev', 'ev_all',
	'w + interval ''10 minutes'' BETWEEN t(''12:11'') AND t(''12:31'')') AS tumble_exact,
	   matches_batch('ret_hop', 'ev', 'ev_all',
	'w + interval ''10 minutes'' >= t(''12:16'')') AS hop_exact,
	   matches_batch('ret_session', 'ev', 'ev_all', 'upper(sess) >= t(''12:21'')') AS session_exact;

-- Batch 3, no new window data but a heartbeat far ahead: the watermark
-- moves to 13:10 and the no-data batch deletes what it cut (tumble: end
-- before 12:50; hop: before 12:55; session: before 13:00): what the
-- watermark finalizes in that same batch may be deleted in it at once.
SELECT feed('13:20 z');
SELECT * FROM step();
SELECT * FROM show();
SELECT copy_rows('ret_tumble') AS tumble_copy, copy_rows('ret_hop') AS hop_copy,
	   copy_rows('ret_session') AS session_copy;
-- the sink was never told: it has every final window
SELECT to_char(w, 'HH24:MI') AS w, k, c FROM ret_sunk ORDER BY 1, 2;

--
-- ALTER ... SET and RESET
--
-- a longer retention keeps what is there; RESET stops deleting
ALTER MATERIALIZED VIEW ret_hop RESET (retention);
SELECT feed('13:40 z');
SELECT * FROM step();
SELECT * FROM show() WHERE v = 'hop';
-- set again, shorter: the next batch (here REFRESH's no-data batch) cuts
ALTER MATERIALIZED VIEW ret_hop SET (retention = '0 seconds');
SELECT options FROM stream.cq WHERE view OPERATOR(pg_catalog.=) 'ret_hop'::regclass;
SELECT * FROM step();
SELECT * FROM show() WHERE v = 'hop';

--
-- stream.purge(view, before)
--
CREATE MATERIALIZED VIEW kept WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS c FROM ev GROUP BY 1;
SELECT stream.purge('kept', t('12:00'));	-- no watermark yet
SELECT feed('14:01 a', '14:11 a', '14:21 a', '14:35 a', '14:50 a');
REFRESH MATERIALIZED VIEW kept;
SELECT wm('kept'), to_char(w, 'HH24:MI') AS w, c FROM kept ORDER BY 1, 2;
-- windows that end after the watermark (14:40) are not final
SELECT stream.purge('kept', t('14:41'));
-- windows that ended before 14:30: 14:00-14:10, 14:10-14:20 (not 14:20-14:30)
SELECT stream.purge('kept', t('14:30'));
SELECT to_char(w, 'HH24:MI') AS w, c FROM kept ORDER BY 1;
SELECT copy_rows('kept') AS copy;
-- again: nothing more; then up to the watermark
SELECT stream.purge('kept', t('14:30'));
SELECT stream.purge('kept', t('14:40'));
SELECT count(*) FROM kept;
-- in the caller's transaction: rolled back with it
SELECT feed('15:20 a');
REFRESH MATERIALIZED VIEW kept;
SELECT to_char(w, 'HH24:MI') AS w, c FROM kept ORDER BY 1;
BEGIN;
SELECT stream.purge('kept', t('15:10'));
SELECT count(*) FROM kept;
ROLLBACK;
SELECT to_char(w, 'HH24:MI') AS w, c FROM kept ORDER BY 1;
-- not in a read-only transaction
BEGIN READ ONLY;
SELECT stream.purge('kept', t('15:10'));
ROLLBACK;
-- only the owner: another role may not, even to read the view
CREATE ROLE retention_other;
GRANT SELECT ON kept TO retention_other;
SET ROLE retention_other;
SELECT stream.purge('kept', t('15:10'));
RESET ROLE;
DROP OWNED BY retention_other;
DROP ROLE retention_other;
-- on what is not a continuous view, or one without windows
CREATE TABLE plain (w timestamptz);
SELECT stream.purge('plain', t('12:00'));
CREATE MATERIALIZED VIEW per_k WITH (trigger = 'manual') AS
	SELECT k, count(*) FROM ev GROUP BY k;
SELECT stream.purge('per_k', t('12:00'));
DROP TABLE plain;
DROP MATERIALIZED VIEW per_k;

-- DELETE and TRUNCATE stay refused, and say what to use
DELETE FROM kept;
DELETE FROM kept WHERE w < t('15:00');
WITH d AS (DELETE FROM kept RETURNING *) SELECT count(*) FROM d;
TRUNCATE kept;
-- an ordinary materialized view keeps PostgreSQL's own errors
CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x;
DELETE FROM mv;
DROP MATERIALIZED VIEW mv;

--
-- A timestamp (without time zone) window: stream.purge converts `before`
-- to timestamp in the session's TimeZone, as the cast does
--
CREATE FOREIGN TABLE ev_local (ts timestamp, k text) SERVER stream
	OPTIONS (event_time 'ts', watermark '0 seconds');
CREATE MATERIALIZED VIEW local_sess WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT k, stream.session(ts, '5 minutes') AS sess, count(*) AS c
	FROM ev_local GROUP BY k, sess;
INSERT INTO ev_local VALUES ('2026-01-01 12:00', 'a'), ('2026-01-01 12:20', 'a'),
	('2026-01-01 12:40', 'a'), ('2026-01-01 13:00', 'a');
REFRESH MATERIALIZED VIEW local_sess;
SELECT sess, c FROM local_sess ORDER BY 1;
SET timezone = 'Europe/Paris';
-- 13:30+02 is 12:30 in Paris (UTC+1): the sessions that ended before
-- 12:30 go, 12:00-12:05 and 12:20-12:25, not 12:40-12:45
SELECT stream.purge('local_sess', '2026-01-01 13:30+02');
SELECT sess, c FROM local_sess ORDER BY 1;
-- 12:01 UTC is 13:01 in Paris, after the watermark (13:00): refused
SELECT stream.purge('local_sess', '2026-01-01 12:01+00');
-- and 13:00 in Paris is at the watermark: 12:40-12:45 goes
SELECT stream.purge('local_sess', '2026-01-01 13:00+01');
SELECT count(*) FROM local_sess;
SET timezone = 'UTC';

--
-- Over a join of two streams: windows are final a join's bound after the
-- watermark (an impression waits an hour for its click), and so is the
-- retention cut; stream.purge refuses a time after the watermark minus
-- that bound
--
CREATE FOREIGN TABLE imps (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE FOREIGN TABLE clks (ad int, ts timestamptz) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE MATERIALIZED VIEW j_keep
	WITH (trigger = 'manual', output_mode = 'append', retention = '30 minutes') AS
	SELECT stream.tumble(i.ts, '1 hour') AS w, count(*) AS n, count(c.ad) AS clicks
	FROM imps i LEFT JOIN clks c ON c.ad = i.ad AND c.ts BETWEEN i.ts AND i.ts + interval '1 hour'
	GROUP BY 1;
INSERT INTO imps VALUES (1, t('12:10'));
INSERT INTO clks VALUES (1, t('12:20'));
REFRESH MATERIALIZED VIEW j_keep;
-- the watermark 14:10: 12:00-13:00 is final (13:00 <= 14:10 - 1 hour), not cut
INSERT INTO imps VALUES (2, t('14:20'));
INSERT INTO clks VALUES (2, t('14:30'));
REFRESH MATERIALIZED VIEW j_keep;
SELECT wm('j_keep'), to_char(w, 'HH24:MI') AS w, n, clicks FROM j_keep ORDER BY 2;
SELECT stream.purge('j_keep', t('13:15'));
-- the watermark 14:50: the cut is 13:20 (14:50 - 1 hour - 30 minutes),
-- 12:00-13:00 goes; 13:00-14:00 is not final yet (14:00 > 13:50)
INSERT INTO imps VALUES (3, t('15:00'));
INSERT INTO clks VALUES (3, t('15:00'));
REFRESH MATERIALIZED VIEW j_keep;
SELECT wm('j_keep'), (SELECT count(*) FROM j_keep) AS n, copy_rows('j_keep') AS copy;

--
-- Through the workers: a view with retention run by its worker; the
-- watermark moves, the no-data batch deletes, with no REFRESH
--
CREATE FOREIGN TABLE ev_w (ts timestamptz, k text) SERVER stream
	OPTIONS (event_time 'ts', watermark '0 seconds');
CREATE MATERIALIZED VIEW by_worker WITH (retention = '30 minutes') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS c FROM ev_w GROUP BY 1;
INSERT INTO ev_w VALUES (t('16:01'), 'a'), (t('16:02'), 'a'), (t('16:11'), 'a');
SELECT wait_for($$(SELECT watermark FROM stream.queries
				   WHERE name OPERATOR(pg_catalog.=) 'by_worker'::regclass) = t('16:11')$$);
SELECT to_char(w, 'HH24:MI') AS w, c FROM by_worker ORDER BY 1;
-- 16:55: the cut is 16:25; 16:00-16:10 and 16:10-16:20 go
INSERT INTO ev_w VALUES (t('16:55'), 'a');
SELECT wait_for($$(SELECT count(*) FROM by_worker) = 1$$);
SELECT to_char(w, 'HH24:MI') AS w, c FROM by_worker ORDER BY 1;
SELECT batches > 0 AS ran, last_error FROM stream.queries
WHERE name OPERATOR(pg_catalog.=) 'by_worker'::regclass;

DROP MATERIALIZED VIEW ret_tumble, ret_hop, ret_session, kept, local_sess, by_worker, j_keep;
DROP FOREIGN TABLE ev, ev_nowm, ev_local, ev_w, imps, clks;
DROP TABLE ev_all, ret_sunk;
DROP FUNCTION t(text), feed(text[]), copy_of(regclass), copy_rows(regclass), wm(regclass),
	show(), step();
