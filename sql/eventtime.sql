-- Event time: windows, watermarks, late rows, final results.
SET timezone = 'UTC';

--
-- Declaring event time
--
CREATE FOREIGN TABLE et_bad (ts timestamptz) SERVER stream OPTIONS (event_time '');
CREATE FOREIGN TABLE et_bad (ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark 'soon');
CREATE FOREIGN TABLE et_bad (ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark '1 month');
CREATE FOREIGN TABLE et_bad (ts timestamptz) SERVER stream OPTIONS (event_time 'ts', watermark '-1 minute');
CREATE FOREIGN TABLE et_bad (ts timestamptz, x int) SERVER stream OPTIONS (event_time 'tss', watermark '1 minute');
CREATE MATERIALIZED VIEW et_v AS SELECT x FROM et_bad;
DROP FOREIGN TABLE et_bad;
CREATE FOREIGN TABLE et_bad (ts text, x int) SERVER stream OPTIONS (event_time 'ts', watermark '1 minute');
CREATE MATERIALIZED VIEW et_v AS SELECT x FROM et_bad;
DROP FOREIGN TABLE et_bad;
CREATE FOREIGN TABLE et_bad (ts timestamptz, x int) SERVER stream OPTIONS (watermark '1 minute');
CREATE MATERIALIZED VIEW et_v AS SELECT x FROM et_bad;
DROP FOREIGN TABLE et_bad;
CREATE FOREIGN TABLE et_nowm (ts timestamptz, x int) SERVER stream;
CREATE MATERIALIZED VIEW et_v WITH (watermark = '1 minute') AS SELECT x FROM et_nowm;
CREATE MATERIALIZED VIEW et_v WITH (output_mode = 'append') AS
	SELECT stream.tumble(ts, '1 minute') AS w, count(*) FROM et_nowm GROUP BY 1;
-- every kind of stream takes the options
CREATE FOREIGN TABLE et_rate (ts timestamptz, value bigint) SERVER rate
	OPTIONS (rows_per_second '10', event_time 'ts', watermark '5 seconds');
CREATE SERVER et_sock FOREIGN DATA WRAPPER socket OPTIONS (host '127.0.0.1', port '9');
CREATE FOREIGN TABLE et_socket (ts timestamptz, line text) SERVER et_sock
	OPTIONS (format 'csv', event_time 'ts', watermark '0 seconds');
CREATE FOREIGN TABLE et_file (ts timestamptz, x int) SERVER file
	OPTIONS (path '/nonexistent', event_time 'ts', watermark '1 hour');
DROP FOREIGN TABLE et_rate, et_socket, et_file;
DROP SERVER et_sock;

--
-- Windows
--
SELECT stream.tumble('2026-01-01 12:07:30+00', '5 minutes');
SELECT w FROM stream.hop('2026-01-01 12:07:30+00'::timestamptz, '10 minutes', '5 minutes') AS w;
SELECT w FROM stream.hop('2026-01-01 12:10:00'::timestamp, '10 minutes', '5 minutes') AS w;
SELECT w FROM stream.hop('2026-01-01 12:07:30+00'::timestamptz, '15 minutes', '5 minutes',
						 '2026-01-01 00:01:00+00') AS w;
-- a slide longer than the size leaves gaps that hold no window
SELECT count(*) FROM stream.hop('2026-01-01 12:07:30+00'::timestamptz, '1 minute', '5 minutes');
SELECT count(*) FROM stream.hop('2026-01-01 12:05:30+00'::timestamptz, '1 minute', '5 minutes');
SELECT w FROM stream.hop('infinity'::timestamptz, '10 minutes', '5 minutes') AS w;
SELECT w FROM stream.hop(now(), '10 minutes', '0 minutes') AS w;
CREATE MATERIALIZED VIEW et_v AS
	SELECT w, count(*) FROM et_nowm, stream.hop(ts, '1 month', '1 day') AS w GROUP BY w;

--
-- The windowed word count of Spark's Structured Streaming guide
-- ("Handling Late Data and Watermarking"): 10-minute windows sliding every
-- 5 minutes, a watermark 10 minutes behind the latest event time, the
-- guide's events in the guide's batches, REFRESH after each.
--
CREATE FOREIGN TABLE words (ts timestamptz, word text) SERVER stream
	OPTIONS (event_time 'ts', watermark '10 minutes');
CREATE FUNCTION t(text) RETURNS timestamptz LANGUAGE sql
	AS $$ SELECT ('2026-01-01 ' || $1 || '+00')::timestamptz $$;
-- what each batch wrote to the sink (the guide's purple rows)
CREATE TYPE word_count AS (window_start timestamptz, word text, n bigint);
CREATE TABLE sunk (view text, batch_id bigint, window_start timestamptz, word text, n bigint);
CREATE FUNCTION sink_update(b bigint, r word_count) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO sunk VALUES ('update', b, r.window_start, r.word, r.n) $$;
CREATE FUNCTION sink_append(b bigint, r word_count) RETURNS void LANGUAGE sql
	AS $$ INSERT INTO sunk VALUES ('append', b, r.window_start, r.word, r.n) $$;

CREATE MATERIALIZED VIEW wc_update
	WITH (trigger = 'manual', sink_function_per_row = 'sink_update') AS
	SELECT w.window_start, s.word, count(*) AS n
	FROM words s, stream.hop(s.ts, '10 minutes', '5 minutes') AS w(window_start)
	GROUP BY w.window_start, s.word;
CREATE MATERIALIZED VIEW wc_append
	WITH (trigger = 'manual', output_mode = 'append', sink_function_per_row = 'sink_append') AS
	SELECT w.window_start, s.word, count(*) AS n
	FROM words s, stream.hop(s.ts, '10 minutes', '5 minutes') AS w(window_start)
	GROUP BY w.window_start, s.word;

CREATE FUNCTION show(v regclass) RETURNS TABLE ("window" text, word text, n bigint)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY EXECUTE format('SELECT to_char(window_start, ''HH24:MI'') || '' - '' || '
		'to_char(window_start + interval ''10 minutes'', ''HH24:MI''), word, n '
		'FROM %s ORDER BY 1, 2', v);
END $$;
CREATE FUNCTION sunk_in(v text, b bigint) RETURNS TABLE ("window" text, word text, n bigint)
LANGUAGE sql AS $$
	SELECT to_char(window_start, 'HH24:MI') || ' - ' ||
		to_char(window_start + interval '10 minutes', 'HH24:MI'), word, n
	FROM sunk WHERE view = v AND batch_id = b ORDER BY 1, 2
$$;
CREATE VIEW status AS
	SELECT name, to_char(watermark, 'HH24:MI') AS watermark, state_rows, rows_late
	FROM stream.queries WHERE name IN ('wc_update'::regclass, 'wc_append'::regclass) ORDER BY 1;

-- 12:05 - 12:10
INSERT INTO words VALUES (t('12:07'), 'dog'), (t('12:08'), 'owl');
REFRESH MATERIALIZED VIEW wc_update;
REFRESH MATERIALIZED VIEW wc_append;
SELECT * FROM show('wc_update');
SELECT * FROM sunk_in('update', 1);
SELECT * FROM show('wc_append');
SELECT * FROM status;		-- 12:08 - 10 minutes

-- 12:10 - 12:15: (12:09, cat) is out of order, and counted
INSERT INTO words VALUES (t('12:14'), 'dog'), (t('12:09'), 'cat');
REFRESH MATERIALIZED VIEW wc_update;
REFRESH MATERIALIZED VIEW wc_append;
SELECT * FROM show('wc_update');
SELECT * FROM sunk_in('update', 2);
SELECT * FROM show('wc_append');
SELECT * FROM status;		-- 12:14 - 10 minutes

-- 12:15 - 12:20: late rows within the watermark (12:04) are counted;
-- (12:21, owl) moves the watermark to 12:11, which makes 12:00 - 12:10
-- final: append mode writes it, update mode evicts its state
INSERT INTO words VALUES (t('12:15'), 'cat'), (t('12:08'), 'dog'), (t('12:13'), 'owl'), (t('12:21'), 'owl');
REFRESH MATERIALIZED VIEW wc_update;
REFRESH MATERIALIZED VIEW wc_append;
SELECT * FROM show('wc_update');
SELECT * FROM sunk_in('update', 3);
SELECT * FROM show('wc_append');
SELECT * FROM sunk_in('append', 4);	-- the no-data batch after batch 3
SELECT * FROM status;

-- 12:20 - 12:25: (12:04, donkey) is too late for both its windows, which
-- are final: dropped, and counted in rows_late (once per window);
-- (12:17, owl) is late but within the watermark
INSERT INTO words VALUES (t('12:04'), 'donkey'), (t('12:17'), 'owl');
REFRESH MATERIALIZED VIEW wc_update;
REFRESH MATERIALIZED VIEW wc_append;
SELECT * FROM show('wc_update');
SELECT * FROM sunk_in('update', 5);
SELECT * FROM show('wc_append');
SELECT * FROM status;

-- 12:25 - 12:30 (the append-mode figure): (12:09, cat) is too late for
-- 12:00 - 12:10, final, but still counts in 12:05 - 12:15, still open;
-- (12:26, owl) moves the watermark to 12:16, and 12:05 - 12:15 is final
INSERT INTO words VALUES (t('12:26'), 'owl'), (t('12:09'), 'cat');
REFRESH MATERIALIZED VIEW wc_update;
REFRESH MATERIALIZED VIEW wc_append;
SELECT * FROM show('wc_append');
SELECT * FROM sunk_in('append', 7);
SELECT * FROM show('wc_update');
SELECT * FROM status;
-- every batch, with the watermark it ran with and the late rows it
-- dropped; batches 4 and 7 are the batches without new data that
-- followed a watermark's move
SELECT name, batch_id, rows_in, rows_out, to_char(watermark, 'HH24:MI') AS watermark, state_rows,
	rows_late
FROM stream.progress WHERE name IN ('wc_update'::regclass, 'wc_append'::regclass)
ORDER BY name, batch_id;
-- append mode wrote each final row once
SELECT view, window_start, word, count(*) FROM sunk WHERE view = 'append'
GROUP BY 1, 2, 3 HAVING count(*) > 1;

-- an idle stream: the watermark only moves with data, so REFRESH without
-- new input finalizes nothing more
REFRESH MATERIALIZED VIEW wc_append;
SELECT * FROM status;
SELECT count(*) FROM wc_append;

--
-- Tumbling windows, out of order, within the watermark: the view equals
-- the same query run as a batch over the same rows
--
CREATE FOREIGN TABLE clicks (at timestamp, page text, ms int) SERVER stream
	OPTIONS (event_time 'at', watermark '1 hour');
CREATE TABLE clicks_all (at timestamp, page text, ms int);
CREATE MATERIALIZED VIEW per_page WITH (trigger = 'manual') AS
	SELECT stream.tumble(at, '15 minutes') AS quarter, page, count(*) AS n, sum(ms) AS ms,
		   max(at) AS last
	FROM clicks GROUP BY 1, 2;
CREATE MATERIALIZED VIEW per_page_final WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(at, '15 minutes') AS quarter, page, count(*) AS n, sum(ms) AS ms,
		   max(at) AS last
	FROM clicks GROUP BY 1, 2;
-- 2,000 clicks over 10 hours, in blocks of 100 (30 minutes), each block
-- shuffled and read in two batches: out of order within a batch and
-- across batches, never by more than the watermark's hour
CREATE TEMP TABLE gen AS
	SELECT '2026-03-01 08:00'::timestamp + (i * interval '18 seconds') AS at,
		   'p' || (i % 7) AS page, (i * 37) % 1000 AS ms, i / 100 AS block,
		   row_number() OVER (PARTITION BY i / 100 ORDER BY md5(i::text)) AS k
	FROM generate_series(0, 1999) AS i;
\set ECHO none
SELECT stmt FROM generate_series(0, 19) AS b,
	unnest(ARRAY[format('INSERT INTO clicks SELECT at, page, ms FROM gen WHERE block = %s AND k <= 50 ORDER BY k', b),
				 'REFRESH MATERIALIZED VIEW per_page', 'REFRESH MATERIALIZED VIEW per_page_final',
				 format('INSERT INTO clicks SELECT at, page, ms FROM gen WHERE block = %s AND k > 50 ORDER BY k', b),
				 'REFRESH MATERIALIZED VIEW per_page', 'REFRESH MATERIALIZED VIEW per_page_final'])
		WITH ORDINALITY AS u(stmt, o)
ORDER BY b, o \gexec
\set ECHO all
INSERT INTO clicks_all SELECT at, page, ms FROM gen;
CREATE VIEW per_page_batch AS
	SELECT stream.tumble(at, '15 minutes') AS quarter, page, count(*) AS n, sum(ms) AS ms,
		   max(at) AS last
	FROM clicks_all GROUP BY 1, 2;
SELECT count(*) AS groups FROM per_page;
(SELECT * FROM per_page EXCEPT ALL SELECT * FROM per_page_batch)
UNION ALL (SELECT * FROM per_page_batch EXCEPT ALL SELECT * FROM per_page);
-- append mode: exactly the windows that end at or before the watermark
SELECT name, watermark, rows_late FROM stream.queries
WHERE name IN ('per_page'::regclass, 'per_page_final'::regclass) ORDER BY 1;
(SELECT * FROM per_page_final
 EXCEPT ALL SELECT * FROM per_page_batch
 WHERE quarter + interval '15 minutes' <= (SELECT max(at) - interval '1 hour' FROM clicks_all))
UNION ALL
(SELECT * FROM per_page_batch
 WHERE quarter + interval '15 minutes' <= (SELECT max(at) - interval '1 hour' FROM clicks_all)
 EXCEPT ALL SELECT * FROM per_page_final);
-- state: only the windows not final yet
SELECT name, state_rows FROM stream.queries
WHERE name IN ('per_page'::regclass, 'per_page_final'::regclass) ORDER BY 1;
-- late rows: two clicks in a final quarter are dropped, one in an open
-- quarter is counted; the batch query over the rows that were not late
INSERT INTO clicks VALUES ('2026-03-01 08:10', 'p1', 5), ('2026-03-01 16:44', 'p2', 5),
	('2026-03-01 17:59', 'p3', 5);
INSERT INTO clicks_all VALUES ('2026-03-01 17:59', 'p3', 5);
REFRESH MATERIALIZED VIEW per_page;
REFRESH MATERIALIZED VIEW per_page_final;
SELECT name, rows_late FROM stream.queries
WHERE name IN ('per_page'::regclass, 'per_page_final'::regclass) ORDER BY 1;
(SELECT * FROM per_page EXCEPT ALL SELECT * FROM per_page_batch)
UNION ALL (SELECT * FROM per_page_batch EXCEPT ALL SELECT * FROM per_page);

--
-- More rules
--
-- complete mode keeps every window and drops nothing, as in Spark
CREATE MATERIALIZED VIEW wc_complete WITH (trigger = 'manual', output_mode = 'complete') AS
	SELECT stream.tumble(ts, '10 minutes') AS w, count(*) AS n FROM words GROUP BY 1;
INSERT INTO words VALUES (t('12:30'), 'owl'), (t('12:01'), 'emu');
REFRESH MATERIALIZED VIEW wc_complete;
SELECT to_char(w, 'HH24:MI') AS w, n FROM wc_complete ORDER BY 1;
SELECT to_char(watermark, 'HH24:MI') AS watermark, state_rows, rows_late
FROM stream.queries WHERE name = 'wc_complete'::regclass;
-- the view's watermark overrides the stream's delay; grouping by the
-- event time itself is a window of size zero; HAVING applies when final
CREATE MATERIALIZED VIEW exact WITH (trigger = 'manual', output_mode = 'append', watermark = '0 seconds') AS
	SELECT ts, count(*) AS n FROM words GROUP BY ts HAVING count(*) > 0;
INSERT INTO words VALUES (t('12:40'), 'a'), (t('12:41'), 'b'), (t('12:41'), 'c'), (t('12:42'), 'd');
REFRESH MATERIALIZED VIEW exact;
SELECT to_char(ts, 'HH24:MI') AS ts, n FROM exact ORDER BY 1;
INSERT INTO words VALUES (t('12:41'), 'late'), (t('12:42'), 'e'), (t('12:43'), 'f');
REFRESH MATERIALIZED VIEW exact;
SELECT to_char(ts, 'HH24:MI') AS ts, n FROM exact ORDER BY 1;
SELECT to_char(watermark, 'HH24:MI') AS watermark, rows_late FROM stream.queries WHERE name = 'exact'::regclass;
-- windows through a derived stream
CREATE VIEW long_words AS SELECT ts AS at, word FROM words WHERE length(word) > 3;
CREATE MATERIALIZED VIEW long_final WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(at, '30 minutes') AS half, count(*) AS n FROM long_words GROUP BY 1;
INSERT INTO words VALUES (t('12:50'), 'zebra'), (t('13:05'), 'horse'), (t('13:45'), 'moose');
REFRESH MATERIALIZED VIEW long_final;
SELECT to_char(half, 'HH24:MI') AS half, n FROM long_final ORDER BY 1;
-- no window over the event time: append mode is refused
CREATE MATERIALIZED VIEW per_word WITH (output_mode = 'append') AS
	SELECT word, count(*) FROM words GROUP BY word;
CREATE MATERIALIZED VIEW per_word WITH (output_mode = 'append') AS
	SELECT stream.tumble(ts + interval '1 hour', '10 minutes') AS w, count(*) FROM words GROUP BY 1;
-- without aggregation every row is final: hop gives a row per window
CREATE MATERIALIZED VIEW word_windows WITH (trigger = 'manual') AS
	SELECT w, word FROM words, stream.hop(ts, '10 minutes', '5 minutes') AS w WHERE word = 'yak';
INSERT INTO words VALUES (t('14:03'), 'yak');
REFRESH MATERIALIZED VIEW word_windows;
SELECT to_char(w, 'HH24:MI') AS w, word FROM word_windows ORDER BY 1;

--
-- GROUP BY a window and no aggregate (the shape of Nexmark q8): the
-- batch's only aggregate is the count(*) of its late rows. Update and
-- append modes, HAVING, a hopping window, and GROUP BY without a window;
-- after each batch every view equals its query run as a batch over a
-- table holding the same rows but the late ones.
--
CREATE FOREIGN TABLE gw_bid (auction int, date_time timestamptz) SERVER stream
	OPTIONS (event_time 'date_time', watermark '1 minute');
CREATE TABLE gw_bid_all (auction int, date_time timestamptz);
CREATE MATERIALIZED VIEW gw_update WITH (trigger = 'manual') AS
	SELECT auction, stream.tumble(date_time, '10 seconds') AS w FROM gw_bid GROUP BY 1, 2;
CREATE MATERIALIZED VIEW gw_final WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT auction, stream.tumble(date_time, '10 seconds') AS w FROM gw_bid GROUP BY 1, 2;
CREATE MATERIALIZED VIEW gw_having WITH (trigger = 'manual') AS
	SELECT stream.tumble(date_time, '10 seconds') AS w, auction FROM gw_bid
	GROUP BY 1, 2 HAVING auction % 2 = 1;
CREATE MATERIALIZED VIEW gw_having_final WITH (trigger = 'manual', output_mode = 'append') AS
	SELECT stream.tumble(date_time, '10 seconds') AS w, auction FROM gw_bid
	GROUP BY 1, 2 HAVING auction % 2 = 1;
CREATE MATERIALIZED VIEW gw_hop WITH (trigger = 'manual') AS
	SELECT auction, w FROM gw_bid, stream.hop(date_time, '20 seconds', '10 seconds') AS w
	GROUP BY 1, 2;
CREATE MATERIALIZED VIEW gw_keys WITH (trigger = 'manual') AS
	SELECT auction FROM gw_bid GROUP BY 1;
-- the rows of each batch; the late rows' auctions are there already (gw_keys,
-- without a window, keeps them), one of them in its window too
CREATE TABLE gw_in (b int, auction int, date_time timestamptz, late bool DEFAULT false);
INSERT INTO gw_in (b, auction, date_time) VALUES
	(1, 1, t('00:00:01')), (1, 1, t('00:00:02')), (1, 2, t('00:00:15')), (1, 3, t('00:00:31')),
	(2, 2, t('00:01:05')), (2, 1, t('00:00:45')), (2, 4, t('00:01:20')), (2, 3, t('00:01:40')),
	(3, 5, t('00:02:30')), (3, 2, t('00:01:50')),
	(4, 1, t('00:02:41')), (4, 5, t('00:02:35')), (4, 6, t('00:03:50'));
INSERT INTO gw_in VALUES (3, 1, t('00:00:01'), true), (3, 1, t('00:00:12'), true),
	(4, 3, t('00:01:05'), true);
-- a batch large enough to be aggregated by hashing, then sorted
INSERT INTO gw_in (b, auction, date_time)
	SELECT 5, i % 50, t('00:03:00') + i * interval '0.1 seconds' FROM generate_series(0, 1999) i;
-- a batch: its rows into the stream and the table; then each view
-- refreshed and compared (in append mode: with the windows final under
-- the watermark the batch leaves)
CREATE FUNCTION gw_insert(n int) RETURNS bigint LANGUAGE sql AS $$
	INSERT INTO gw_bid SELECT i.auction, i.date_time FROM gw_in i WHERE b = n;
	INSERT INTO gw_bid_all SELECT i.auction, i.date_time FROM gw_in i WHERE b = n AND NOT late;
	SELECT count(*) FROM gw_in WHERE b = n;
$$;
CREATE FUNCTION gw_batch() RETURNS TABLE (v regclass, matches boolean)
LANGUAGE plpgsql AS $$
DECLARE
	final text;
BEGIN
	REFRESH MATERIALIZED VIEW gw_update;
	REFRESH MATERIALIZED VIEW gw_final;
	REFRESH MATERIALIZED VIEW gw_having;
	REFRESH MATERIALIZED VIEW gw_having_final;
	REFRESH MATERIALIZED VIEW gw_hop;
	REFRESH MATERIALIZED VIEW gw_keys;
	final := format('w + interval ''10 seconds'' <= %L',
					(SELECT watermark FROM stream.queries WHERE name = 'gw_final'::regclass));
	RETURN QUERY SELECT x, matches_batch(x, 'gw_bid', 'gw_bid_all',
										 CASE WHEN x::text LIKE '%final' THEN final ELSE 'true' END)
		FROM unnest('{gw_update, gw_final, gw_having, gw_having_final, gw_hop, gw_keys}'::regclass[]) x;
END $$;
CREATE VIEW gw_status AS
	SELECT name, to_char(watermark, 'HH24:MI:SS') AS watermark, rows_late,
		   (SELECT count(*) FROM gw_update) AS update_rows,
		   (SELECT count(*) FROM gw_final) AS final_rows
	FROM stream.queries WHERE name = 'gw_final'::regclass;
SELECT gw_insert(1);
SELECT * FROM gw_batch();
SELECT * FROM gw_status;
SELECT gw_insert(2);
SELECT * FROM gw_batch();
SELECT * FROM gw_status;
-- two late rows: their windows are final under the watermark 00:00:40
SELECT gw_insert(3);
SELECT * FROM gw_batch();
SELECT * FROM gw_status;
-- one late row, under the watermark 00:01:30
SELECT gw_insert(4);
SELECT * FROM gw_batch();
SELECT * FROM gw_status;
SELECT gw_insert(5);
SELECT * FROM gw_batch();
SELECT * FROM gw_status;
SELECT auction, to_char(w, 'HH24:MI:SS') AS w FROM gw_final WHERE w < t('00:03:00') ORDER BY 2, 1;
SELECT name, rows_late, state_rows FROM stream.queries
WHERE name::text LIKE 'gw\_%' ORDER BY name::text;

SET client_min_messages = warning;
DROP FOREIGN TABLE words, clicks, et_nowm, gw_bid CASCADE;
DROP TABLE clicks_all, sunk, gw_bid_all, gw_in CASCADE;
DROP TYPE word_count CASCADE;
DROP FUNCTION t(text), show(regclass), sunk_in(text, bigint), gw_insert(int), gw_batch();
RESET client_min_messages;
