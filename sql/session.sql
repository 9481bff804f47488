-- Session windows: stream.session(ts, gap) in GROUP BY (engine/session.c).
-- A session of a key is [first event, last event + gap): a row less than
-- gap after (or before) a session's rows joins it, a row that reaches two
-- sessions merges them. Final once the watermark passes its end; a row
-- before the watermark is late.
SET timezone = 'UTC';
CREATE FUNCTION t(text) RETURNS timestamptz LANGUAGE sql
	AS $$ SELECT ('2026-01-01 ' || $1 || '+00')::timestamptz $$;

--
-- The function: one row's window, [ts, ts + gap)
--
SELECT stream.session(t('12:00'), '5 minutes');
SELECT stream.session('2026-01-01 12:00'::timestamp, '90 seconds');
SELECT stream.session('infinity'::timestamptz, '5 minutes') IS NULL AS infinite_is_null;
SELECT stream.session(NULL::timestamptz, '5 minutes') IS NULL AS null_is_null;
SELECT stream.session(t('12:00'), '0 minutes');
SELECT stream.session(t('12:00'), '-5 minutes');
SELECT stream.session(t('12:00'), '1 month');
-- a gap whose microseconds would not fit in 64 bits
SELECT stream.session(t('12:00'), '213503983 days');

--
-- What CREATE refuses
--
CREATE FOREIGN TABLE clicks (ts timestamptz, usr text, n int, g interval) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE FOREIGN TABLE nowm (ts timestamptz, usr text) SERVER stream;
-- the gap: a positive constant
CREATE MATERIALIZED VIEW bad AS
	SELECT stream.session(ts, g) AS s, count(*) FROM clicks GROUP BY 1;
CREATE MATERIALIZED VIEW bad AS
	SELECT stream.session(ts, '0 minutes') AS s, count(*) FROM clicks GROUP BY 1;
CREATE MATERIALIZED VIEW bad AS
	SELECT stream.session(ts, '-1 minute') AS s, count(*) FROM clicks GROUP BY 1;
CREATE MATERIALIZED VIEW bad AS
	SELECT stream.session(ts, '1 month') AS s, count(*) FROM clicks GROUP BY 1;
CREATE MATERIALIZED VIEW bad AS
	SELECT stream.session(ts, NULL) AS s, count(*) FROM clicks GROUP BY 1;
-- the session must be a column of the view, by itself, and alone
CREATE MATERIALIZED VIEW bad AS
	SELECT usr, count(*) FROM clicks GROUP BY stream.session(ts, '5 minutes'), usr;
CREATE MATERIALIZED VIEW bad AS
	SELECT upper(stream.session(ts, '5 minutes')) AS e, count(*) FROM clicks GROUP BY 1;
CREATE MATERIALIZED VIEW bad AS
	SELECT stream.session(ts, '5 minutes') AS s, stream.session(ts, '1 hour') AS l, count(*)
	FROM clicks GROUP BY 1, 2;
CREATE MATERIALIZED VIEW bad AS
	SELECT stream.session(ts, '5 minutes') AS s, stream.tumble(ts, '1 hour') AS w, count(*)
	FROM clicks GROUP BY 1, 2;
-- a session taken in FROM (a subquery, a function) is each row's range
CREATE MATERIALIZED VIEW bad AS
	SELECT usr, s, count(*) FROM
		(SELECT usr, stream.session(ts, '5 minutes') AS s FROM clicks) x GROUP BY usr, s;
CREATE MATERIALIZED VIEW bad AS
	SELECT usr, s, count(*) FROM clicks, stream.session(clicks.ts, '5 minutes') s GROUP BY usr, s;
CREATE MATERIALIZED VIEW bad AS
	SELECT usr, count(stream.session(ts, '5 minutes')) FROM clicks GROUP BY usr;
-- append mode needs a watermark
CREATE MATERIALIZED VIEW bad WITH (output_mode = 'append') AS
	SELECT stream.session(ts, '5 minutes') AS s, count(*) FROM nowm GROUP BY 1;
-- not over a join of two streams
CREATE MATERIALIZED VIEW bad AS
	SELECT stream.session(a.ts, '5 minutes') AS s, count(*)
	FROM clicks a JOIN nowm b ON b.usr = a.usr AND b.ts BETWEEN a.ts AND a.ts + interval '1 minute'
	GROUP BY 1;

--
-- Update, append and complete modes, by hand: gap 5 minutes, watermark
-- 10 minutes behind the latest event time
--
CREATE TABLE clicks_all (ts timestamptz, usr text, n int);
CREATE TABLE sunk (s tstzrange, usr text, clicks bigint, total bigint);
CREATE UNIQUE INDEX ON sunk (s, usr);
CREATE TABLE sunk_append (usr text, s tstzrange, clicks bigint, total bigint);
-- the session key first (the state gets an index on (usr, session)) ...
CREATE MATERIALIZED VIEW sess_update WITH (trigger = 'manual', sink = 'sunk') AS
	SELECT stream.session(ts, '5 minutes') AS s, usr, count(*) AS clicks, sum(n) AS total
	FROM clicks GROUP BY 1, 2;
-- ... or last (its unique index on the keys serves)
CREATE MATERIALIZED VIEW sess_append
	WITH (trigger = 'manual', output_mode = 'append', sink = 'sunk_append') AS
	SELECT usr, stream.session(ts, '5 minutes') AS s, count(*) AS clicks, sum(n) AS total
	FROM clicks GROUP BY 1, 2;
CREATE MATERIALIZED VIEW sess_complete WITH (trigger = 'manual', output_mode = 'complete') AS
	SELECT usr, stream.session(ts, '5 minutes') AS s, count(*) AS clicks, sum(n) AS total
	FROM clicks GROUP BY 1, 2;
-- the state's indexes: the keys (unique), the other keys and the session,
-- and the session's end (eviction)
SELECT regexp_replace(indexdef, 'state_[0-9]+', 'state_N', 'g') AS index FROM pg_indexes
WHERE schemaname = 'stream' AND tablename = (SELECT r.relname FROM stream.cq c, pg_class r
												 WHERE c.view = 'sess_update'::regclass
												   AND r.oid = c.state_table)
ORDER BY 1;

CREATE FUNCTION show(v regclass) RETURNS TABLE (usr text, s text, clicks bigint, total bigint)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format('SELECT usr, to_char(lower(s), ''HH24:MI'') || '' - '' || '
		'to_char(upper(s), ''HH24:MI''), clicks, total FROM %s ORDER BY 1, 2', v);
END $$;
CREATE VIEW status AS
	SELECT name, to_char(watermark, 'HH24:MI') AS watermark, state_rows, rows_late
	FROM stream.queries WHERE name::text LIKE 'sess\_%' ORDER BY 1;
-- a batch: the rows into the stream and a table; then each view REFRESHed
CREATE FUNCTION feed(VARIADIC r text[]) RETURNS void LANGUAGE sql AS $$
	INSERT INTO clicks (ts, usr, n)
		SELECT t(split_part(x, ' ', 1)), split_part(x, ' ', 2), split_part(x, ' ', 3)::int
		FROM unnest(r) x;
	INSERT INTO clicks_all
		SELECT t(split_part(x, ' ', 1)), split_part(x, ' ', 2), split_part(x, ' ', 3)::int
		FROM unnest(r) x;
$$;
CREATE FUNCTION batch() RETURNS SETOF status LANGUAGE plpgsql AS $$
BEGIN
	REFRESH MATERIALIZED VIEW sess_update;
	REFRESH MATERIALIZED VIEW sess_append;
	REFRESH MATERIALIZED VIEW sess_complete;
	RETURN QUERY SELECT * FROM status;
END $$;
-- sessions in plain SQL: a row at least gap after the previous one of its
-- key starts a new session
CREATE VIEW clicks_ref AS
	SELECT usr, tstzrange(min(ts), max(ts) + interval '5 minutes') AS s, count(*) AS clicks,
		   sum(n) AS total
	FROM (SELECT *, sum(new) OVER (PARTITION BY usr ORDER BY ts) AS sid
		  FROM (SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY usr ORDER BY ts)
							   < interval '5 minutes' THEN 0 ELSE 1 END AS new
				FROM clicks_all) a) b
	GROUP BY usr, sid;

-- batch 1: ann has two sessions, bob one; the watermark moves to 12:10,
-- and the no-data batch that follows makes final the sessions that end at
-- or before it: ann 12:00 - 12:07 and bob 12:01 - 12:06 (evicted from the
-- state; append mode writes them)
SELECT feed('12:00 ann 1', '12:02 ann 2', '12:20 ann 4', '12:01 bob 8');
SELECT * FROM batch();
SELECT * FROM show('sess_update');
SELECT * FROM show('sunk');
SELECT * FROM show('sess_append');
SELECT * FROM show('sunk_append');

-- batch 2: (12:06 ann) is before the watermark (12:10): late, dropped,
-- although it would only extend a final session. (12:17 ann) reaches
-- back into 12:20 - 12:25: that session grows to 12:17 - 12:25, its old
-- row is deleted from the view and from the sink. (12:11 ann) starts a
-- session. Watermark 12:13.
SELECT feed('12:11 ann 16', '12:06 ann 32', '12:17 ann 64', '12:23 bob 1');
SELECT * FROM batch();
SELECT * FROM show('sess_update');
SELECT * FROM show('sunk');
SELECT * FROM show('sess_append');

-- batch 3: (12:14 ann) bridges 12:11 - 12:16 and 12:17 - 12:25, two
-- sessions of earlier batches: one session 12:11 - 12:25 (both old rows
-- go); (12:27 bob) extends bob's session; (12:09 bob) is late.
-- Watermark 12:17.
SELECT feed('12:14 ann 128', '12:27 bob 2', '12:09 bob 256');
SELECT * FROM batch();
SELECT * FROM show('sess_update');
SELECT * FROM show('sunk');
SELECT * FROM show('sess_append');

-- batch 4: the watermark moves to 12:30: ann 12:11 - 12:25 is final
-- (append writes it), bob 12:23 - 12:32 is not
SELECT feed('12:40 cat 1');
SELECT * FROM batch();
SELECT * FROM show('sess_update');
SELECT * FROM show('sess_append');
SELECT * FROM show('sunk_append');

-- batch 5: (12:30 ann) is at the watermark, not before it: not late, and
-- it cannot reach ann's final session, which ended at 12:25: a new
-- session. (12:29 dog) is late. (12:31 bob) extends bob's session.
SELECT feed('12:30 ann 8', '12:29 dog 1', '12:31 bob 4');
SELECT * FROM batch();
SELECT * FROM show('sess_update');
SELECT * FROM show('sunk');
SELECT * FROM show('sess_append');

-- batch 6: a row exactly gap after another starts a session (their
-- windows [12:40, 12:45) and [12:45, 12:50) meet but do not overlap):
-- cat has three sessions. Watermark 12:40: bob's and ann's are final.
SELECT feed('12:50 cat 2', '12:45 cat 4');
SELECT * FROM batch();
SELECT * FROM show('sess_update');
SELECT * FROM show('sunk');
SELECT * FROM show('sess_append');
SELECT usr, to_char(lower(s), 'HH24:MI') AS s, count(*) AS times_written
FROM sunk_append GROUP BY 1, 2 ORDER BY 1, 2;
-- complete mode: every session, the late rows in them, nothing evicted,
-- as the plain SQL sessionization of all the rows
SELECT * FROM show('sess_complete');
SELECT count(*) AS differences FROM (
	(SELECT usr, s, clicks, total FROM sess_complete EXCEPT ALL SELECT * FROM clicks_ref)
	UNION ALL
	(SELECT * FROM clicks_ref EXCEPT ALL SELECT usr, s, clicks, total FROM sess_complete)) d;
-- update mode holds the sessions that are not final yet too
SELECT * FROM show('sess_update') EXCEPT ALL SELECT * FROM show('sess_append') ORDER BY 1, 2;

--
-- A timestamp column: tsrange sessions; several keys; NULL keys and event
-- times; HAVING; a watermark 30 minutes behind
--
CREATE FOREIGN TABLE taps (ts timestamp, usr text, dev text) SERVER stream
	OPTIONS (event_time 'ts', watermark '30 minutes');
CREATE MATERIALIZED VIEW taps_keys WITH (trigger = 'manual') AS
	SELECT usr, dev, stream.session(ts, '10 minutes') AS s, count(*) AS n, max(ts) AS last
	FROM taps GROUP BY usr, dev, s;
CREATE MATERIALIZED VIEW taps_having WITH (trigger = 'manual') AS
	SELECT usr, stream.session(ts, '10 minutes') AS s, count(*) AS n
	FROM taps GROUP BY usr, s HAVING count(*) > 1;
INSERT INTO taps VALUES ('2026-01-01 08:00', 'ann', 'phone'), ('2026-01-01 08:05', 'ann', 'laptop'),
	('2026-01-01 08:20', 'ann', 'phone'), ('2026-01-01 08:09', 'ann', 'phone'),
	('2026-01-01 08:01', 'bob', NULL), (NULL, 'bob', NULL);
REFRESH MATERIALIZED VIEW taps_keys;
REFRESH MATERIALIZED VIEW taps_having;
SELECT usr, dev, s, n, last FROM taps_keys ORDER BY 1, 2, 3;
SELECT * FROM taps_having ORDER BY 1, 2;
-- (08:15 ann phone) bridges ann's phone sessions (and ann's sessions of
-- any device: HAVING now keeps 08:00 - 08:30); bob's taps 9 minutes apart
-- make one session
INSERT INTO taps VALUES ('2026-01-01 08:15', 'ann', 'phone'), (NULL, 'bob', NULL),
	('2026-01-01 08:10', 'bob', NULL);
REFRESH MATERIALIZED VIEW taps_keys;
REFRESH MATERIALIZED VIEW taps_having;
SELECT usr, dev, s, n, last FROM taps_keys ORDER BY 1, 2, 3;
SELECT * FROM taps_having ORDER BY 1, 2;
SELECT name, watermark, state_rows, rows_late FROM stream.queries
WHERE name::text LIKE 'taps\_%' ORDER BY 1;
-- (09:00 carl) moves the watermark to 08:30: every session but carl's and
-- the NULL ones is final and leaves the state (the views keep them)
INSERT INTO taps VALUES ('2026-01-01 09:00', 'carl', NULL);
REFRESH MATERIALIZED VIEW taps_keys;
REFRESH MATERIALIZED VIEW taps_having;
SELECT name, watermark, state_rows, rows_late FROM stream.queries
WHERE name::text LIKE 'taps\_%' ORDER BY 1;
-- (08:25 ann phone) is before the watermark: late, although ann's phone
-- session ended at 08:30
INSERT INTO taps VALUES ('2026-01-01 08:25', 'ann', 'phone'), ('2026-01-01 09:05', 'carl', NULL);
REFRESH MATERIALIZED VIEW taps_keys;
REFRESH MATERIALIZED VIEW taps_having;
SELECT usr, dev, s, n, last FROM taps_keys ORDER BY 1, 2, 3;
SELECT * FROM taps_having ORDER BY 1, 2;
SELECT name, watermark, state_rows, rows_late FROM stream.queries
WHERE name::text LIKE 'taps\_%' ORDER BY 1;

--
-- Randomized: batches of rows for 20 keys against the plain SQL
-- sessionization of the rows that are not late (complete mode: of every
-- row); the sink against the view; append mode against the sessions the
-- watermark has passed
--
CREATE FOREIGN TABLE rnd (ts timestamptz, k int, v int) SERVER stream
	OPTIONS (event_time 'ts', watermark '15 minutes');
CREATE TABLE rnd_all (ts timestamptz, k int, v int);	-- the rows not late
CREATE TABLE rnd_every (ts timestamptz, k int, v int);	-- late ones too
CREATE TABLE rnd_sunk (k int, s tstzrange, n bigint, total bigint, mean numeric, vs int[],
					   big numeric);
CREATE UNIQUE INDEX ON rnd_sunk (k, s);
CREATE MATERIALIZED VIEW rnd_update WITH (trigger = 'manual', sink = 'rnd_sunk') AS
	SELECT k, stream.session(ts, '5 minutes') AS s, count(*) AS n, sum(v) AS total,
		   avg(v) AS mean, array[min(v), max(v)] AS vs, avg(v::bigint) AS big
	FROM rnd GROUP BY 1, 2;
CREATE MATERIALIZED VIEW rnd_append WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT k, stream.session(ts, '5 minutes') AS s, count(*) AS n, sum(v) AS total,
		   avg(v) AS mean, array[min(v), max(v)] AS vs, avg(v::bigint) AS big
	FROM rnd GROUP BY 1, 2;
CREATE MATERIALIZED VIEW rnd_complete WITH (trigger = 'manual', output_mode = 'complete') AS
	SELECT stream.session(ts, '5 minutes') AS s, k, count(*) AS n, sum(v) AS total,
		   avg(v) AS mean, array[min(v), max(v)] AS vs, avg(v::bigint) AS big
	FROM rnd GROUP BY 1, 2;
CREATE VIEW rnd_ref AS
	SELECT k, tstzrange(min(ts), max(ts) + interval '5 minutes') AS s, count(*) AS n,
		   sum(v) AS total, avg(v) AS mean, array[min(v), max(v)] AS vs, avg(v::bigint) AS big
	FROM (SELECT *, sum(new) OVER (PARTITION BY k ORDER BY ts) AS sid
		  FROM (SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY k ORDER BY ts)
							   < interval '5 minutes' THEN 0 ELSE 1 END AS new
				FROM rnd_all) a) b
	GROUP BY k, sid;
-- ... and of every row, late ones too
CREATE VIEW rnd_ref_every AS
	SELECT k, tstzrange(min(ts), max(ts) + interval '5 minutes') AS s, count(*) AS n,
		   sum(v) AS total, avg(v) AS mean, array[min(v), max(v)] AS vs, avg(v::bigint) AS big
	FROM (SELECT *, sum(new) OVER (PARTITION BY k ORDER BY ts) AS sid
		  FROM (SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY k ORDER BY ts)
							   < interval '5 minutes' THEN 0 ELSE 1 END AS new
				FROM rnd_every) a) b
	GROUP BY k, sid;
-- rows differing between two queries (both ways)
CREATE FUNCTION diff(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE format('SELECT count(*) FROM ((%s EXCEPT ALL %s) UNION ALL (%s EXCEPT ALL %s)) d',
				   a, b, b, a) INTO n;
	RETURN n;
END $$;
CREATE TABLE rnd_new (ts timestamptz, k int, v int);
-- new rows: whole minutes (some exactly gap apart), after the watermark
-- new rows: whole minutes (some exactly gap apart), from the watermark on,
-- and one in ten up to 20 minutes before it: late, but for complete mode
CREATE FUNCTION rnd_feed(rows int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	wm timestamptz := (SELECT watermark FROM stream.queries WHERE name = 'rnd_update'::regclass);
BEGIN
	DELETE FROM rnd_new;
	INSERT INTO rnd_new
		SELECT date_trunc('minute', coalesce(wm, t('00:00')))
			   + CASE WHEN random() < 0.1 THEN -1 - floor(random() * 20)
					  ELSE floor(random() * 40) END * interval '1 minute',
			   (random() * 19)::int, (random() * 100)::int
		FROM generate_series(1, rows);
	INSERT INTO rnd SELECT * FROM rnd_new;
	INSERT INTO rnd_every SELECT * FROM rnd_new;
	INSERT INTO rnd_all SELECT * FROM rnd_new WHERE wm IS NULL OR ts >= wm;
END $$;
CREATE FUNCTION rnd_batch(OUT upd bigint, OUT sink bigint, OUT app bigint,
						  OUT compl bigint, OUT late bigint, OUT late_ok boolean)
LANGUAGE plpgsql AS $$
DECLARE
	wm timestamptz;
BEGIN
	-- which way rnd_update reads its state (a walk when the batch is dense)
	SET LOCAL client_min_messages = debug1;
	REFRESH MATERIALIZED VIEW rnd_update;
	SET LOCAL client_min_messages = notice;
	REFRESH MATERIALIZED VIEW rnd_append;
	REFRESH MATERIALIZED VIEW rnd_complete;
	wm := (SELECT watermark FROM stream.queries WHERE name = 'rnd_update'::regclass);
	upd := diff('SELECT k, s, n, total, mean, vs, big FROM rnd_update', 'SELECT * FROM rnd_ref');
	sink := diff('SELECT * FROM rnd_sunk', 'SELECT k, s, n, total, mean, vs, big FROM rnd_update');
	app := diff('SELECT * FROM rnd_append',
				format('SELECT * FROM rnd_ref WHERE upper(s) <= %L', wm));
	compl := diff('SELECT k, s, n, total, mean, vs, big FROM rnd_complete', 'SELECT * FROM rnd_ref_every');
	-- counted by the update and the append view (complete mode drops nothing)
	late := (SELECT sum(rows_late) FROM stream.queries WHERE name::text LIKE 'rnd\_%');
	late_ok := late = 2 * ((SELECT count(*) FROM rnd_every) - (SELECT count(*) FROM rnd_all));
END $$;
SELECT setseed(0.19);
SELECT rnd_feed(60);
SELECT * FROM rnd_batch();
SELECT rnd_feed(60);
SELECT * FROM rnd_batch();
SELECT rnd_feed(200);
SELECT * FROM rnd_batch();
SELECT rnd_feed(5);
SELECT * FROM rnd_batch();
SELECT rnd_feed(100);
SELECT * FROM rnd_batch();
SELECT rnd_feed(60);
SELECT * FROM rnd_batch();
SELECT rnd_feed(300);
SELECT * FROM rnd_batch();
SELECT rnd_feed(60);
SELECT * FROM rnd_batch();
SELECT count(*) > 100 AS sessions, count(*) FILTER (WHERE n > 3) > 20 AS merged FROM rnd_ref;
-- the state holds the sessions the watermark has not passed, no more
SELECT (SELECT state_rows FROM stream.queries WHERE name = 'rnd_update'::regclass) =
	   (SELECT count(*) FROM rnd_ref WHERE upper(s) > (SELECT watermark FROM stream.queries
													  WHERE name = 'rnd_update'::regclass))
	AS state_bounded;

--
-- The two ways a batch reads the stored sessions: a few batch sessions
-- against many stored ones descend the state's index, one each; a batch
-- with a group for every 16 stored sessions or fewer walks it once (the
-- randomized batches above all did). 800 sessions of 400 keys, at 12:00
-- and 12:10.
--
CREATE FOREIGN TABLE many (ts timestamptz, k int) SERVER stream;
CREATE TABLE many_all (ts timestamptz, k int);
CREATE TABLE many_new (ts timestamptz, k int);
-- (string_agg: a merged session lists its stored sessions' rows in the
-- order of their ranges, then the batch's rows, by event time)
CREATE MATERIALIZED VIEW many_v WITH (trigger = 'manual') AS
	SELECT k, stream.session(ts, '5 minutes') AS s, count(*) AS n,
		   string_agg(to_char(ts, 'HH24:MI'), ' ') AS times
	FROM many GROUP BY 1, 2;
CREATE VIEW many_ref AS
	SELECT k, tstzrange(min(ts), max(ts) + interval '5 minutes') AS s, count(*) AS n
	FROM (SELECT *, sum(new) OVER (PARTITION BY k ORDER BY ts) AS sid
		  FROM (SELECT *, CASE WHEN ts - lag(ts) OVER (PARTITION BY k ORDER BY ts)
							   < interval '5 minutes' THEN 0 ELSE 1 END AS new
				FROM many_all) a) b
	GROUP BY k, sid;
CREATE FUNCTION many_feed() RETURNS void LANGUAGE sql AS $$
	INSERT INTO many SELECT * FROM many_new;
	INSERT INTO many_all SELECT * FROM many_new;
	DELETE FROM many_new;
$$;
INSERT INTO many_new SELECT t('12:00') + (i % 2) * interval '10 minutes', i / 2
	FROM generate_series(0, 799) i;
SELECT many_feed();
REFRESH MATERIALIZED VIEW many_v;
-- 5 rows (a descent each): key 7's (12:04) and (12:07) bridge its two sessions, key 8's
-- (11:58) extends its first back, key 9's (12:14) its second on; key 1000
-- is new
INSERT INTO many_new VALUES (t('12:04'), 7), (t('12:07'), 7), (t('11:58'), 8), (t('12:14'), 9),
	(t('12:00'), 1000);
SELECT many_feed();
SET client_min_messages = debug1;
REFRESH MATERIALIZED VIEW many_v;
RESET client_min_messages;
SELECT k, to_char(lower(s), 'HH24:MI') || ' - ' || to_char(upper(s), 'HH24:MI') AS s, n, times
FROM many_v WHERE k IN (6, 7, 8, 9, 1000) ORDER BY 1, 2;
SELECT diff('SELECT k, s, n FROM many_v', 'SELECT * FROM many_ref') AS differences;
-- 600 rows: every key at 12:12 (into its second session), every other
-- key at 12:20 (a new session), key 1000 at 12:03 (extends its own)
INSERT INTO many_new SELECT t('12:12'), i FROM generate_series(0, 399) i;
INSERT INTO many_new SELECT t('12:20'), i FROM generate_series(0, 399, 2) i;
INSERT INTO many_new VALUES (t('12:03'), 1000);
SELECT many_feed();
SET client_min_messages = debug1;
REFRESH MATERIALIZED VIEW many_v;
RESET client_min_messages;
SELECT k, to_char(lower(s), 'HH24:MI') || ' - ' || to_char(upper(s), 'HH24:MI') AS s, n, times
FROM many_v WHERE k IN (6, 7, 8, 9, 1000) ORDER BY 1, 2;
SELECT diff('SELECT k, s, n FROM many_v', 'SELECT * FROM many_ref') AS differences;
SELECT state_rows FROM stream.queries WHERE name = 'many_v'::regclass;

--
-- A view that evicted sessions and evicts no more (switched to complete
-- mode): a late row of an evicted session's range finds that row (its
-- count starts again: the state it had is gone)
--
CREATE FOREIGN TABLE again (ts timestamptz, u text) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE MATERIALIZED VIEW again_v WITH (trigger = 'manual') AS
	SELECT u, stream.session(ts, '5 minutes') AS s, count(*) AS n FROM again GROUP BY 1, 2;
INSERT INTO again VALUES (t('13:00'), 'a'), (t('13:30'), 'a');
REFRESH MATERIALIZED VIEW again_v;
ALTER MATERIALIZED VIEW again_v SET (output_mode = 'complete');
INSERT INTO again VALUES (t('13:00'), 'a');
REFRESH MATERIALIZED VIEW again_v;
SELECT u, to_char(lower(s), 'HH24:MI') || ' - ' || to_char(upper(s), 'HH24:MI') AS s, n
FROM again_v ORDER BY 2;
SELECT state_rows, last_error FROM stream.queries WHERE name = 'again_v'::regclass;

-- a view with a table sink switched from update to append mode: the
-- sessions (and windows) its sink already has are not sent again
CREATE FOREIGN TABLE sw (ts timestamptz, u text) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE TABLE sw_sessions (u text, s tstzrange, n bigint);
CREATE UNIQUE INDEX ON sw_sessions (u, s) NULLS NOT DISTINCT;
CREATE TABLE sw_windows (w timestamptz, n bigint);
CREATE UNIQUE INDEX ON sw_windows (w) NULLS NOT DISTINCT;
CREATE MATERIALIZED VIEW sw_s WITH (trigger = 'manual', sink = 'sw_sessions') AS
	SELECT u, stream.session(ts, '5 minutes') AS s, count(*) AS n FROM sw GROUP BY 1, 2;
CREATE MATERIALIZED VIEW sw_w WITH (trigger = 'manual', sink = 'sw_windows') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n FROM sw GROUP BY 1;
INSERT INTO sw VALUES (t('13:00'), 'a'), (t('13:02'), 'a');
REFRESH MATERIALIZED VIEW sw_s;
REFRESH MATERIALIZED VIEW sw_w;
ALTER MATERIALIZED VIEW sw_s SET (output_mode = 'append');
ALTER MATERIALIZED VIEW sw_w SET (output_mode = 'append');
INSERT INTO sw VALUES (t('13:40'), 'b');
REFRESH MATERIALIZED VIEW sw_s;
REFRESH MATERIALIZED VIEW sw_w;
SELECT u, to_char(lower(s), 'HH24:MI') || ' - ' || to_char(upper(s), 'HH24:MI') AS s, n
FROM sw_sessions ORDER BY 1;
SELECT to_char(w, 'HH24:MI') AS w, n FROM sw_windows ORDER BY 1;
SELECT name, last_error FROM stream.queries WHERE name IN ('sw_s'::regclass, 'sw_w'::regclass) ORDER BY name::text;

SET client_min_messages = warning;
DROP FOREIGN TABLE clicks, nowm, taps, rnd, again, many, sw CASCADE;
DROP TABLE clicks_all, sunk, sunk_append, rnd_all, rnd_sunk, rnd_new, rnd_every, many_all, many_new, sw_sessions, sw_windows CASCADE;
DROP FUNCTION t(text), show(regclass), feed(text[]), batch(), diff(text, text), rnd_feed(int), rnd_batch(), many_feed();
RESET client_min_messages;
