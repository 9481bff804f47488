-- stream.dashboard(): every text a user wrote (a view's name, an error
-- quoting the data) is escaped; a role sees the views stream.queries shows
-- it, and nothing of the others; the summary equals stream.queries and
-- the charts equal stream.progress. (test/scripts/dashboard.sh renders the
-- page in a browser.)
CREATE ROLE dash_alice;
CREATE ROLE dash_bob;
CREATE ROLE dash_stats IN ROLE pg_read_all_stats;
GRANT USAGE, CREATE ON SCHEMA public TO dash_alice, dash_bob;

-- Reading a page. Every '<' opens one of the page's own tags, so no text
-- of a user's made an element; the views it has a section for; its
-- summary cells (view, column, value, HTML unescaped); a chart's points.
CREATE FUNCTION dash_unescape(s text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT replace(replace(replace(replace(replace(s, '&lt;', '<'), '&gt;', '>'),
		'&quot;', '"'), '&#39;', ''''), '&amp;', '&')
$$;
CREATE FUNCTION dash_foreign_tags(page text) RETURNS bigint LANGUAGE sql IMMUTABLE AS $$
	SELECT count(*) FROM regexp_matches(page,
		'<(?!!DOCTYPE html>|/?(html|head|meta|title|style|body|h1|h2|div|b|p|table|tr|th|td|section|span|svg|rect|text|tspan|line|polyline|circle)[ >/])',
		'g')
$$;
CREATE FUNCTION dash_sections(page text) RETURNS SETOF text LANGUAGE sql IMMUTABLE AS $$
	SELECT dash_unescape(m[1]) FROM regexp_matches(page, '<section data-view="([^"]*)">', 'g') m
$$;
CREATE FUNCTION dash_cells(page text, OUT view text, OUT col text, OUT value text)
RETURNS SETOF record LANGUAGE sql IMMUTABLE SET search_path = public, pg_catalog AS $$
	SELECT dash_unescape(m[1]), m[2], dash_unescape(m[3])
	FROM regexp_matches(page,
		'<td class="[^"]*" data-view="([^"]*)" data-col="([^"]*)"(?: data-value="([^"]*)")?>', 'g') m
$$;
CREATE FUNCTION dash_section(page text, v text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT substring(page FROM position('<section data-view="' || stream._html(v) || '">' IN page)
					 FOR position('</section>' IN substring(page FROM position('<section data-view="'
							|| stream._html(v) || '">' IN page))))
$$;
CREATE FUNCTION dash_points(page text, v text, chart text, OUT batch bigint, OUT value float8)
RETURNS SETOF record LANGUAGE sql IMMUTABLE AS $$
	WITH s AS (SELECT dash_section(page, v) AS sec),
	c AS (SELECT substring(sec FROM position('data-chart="' || chart || '"' IN sec)) AS rest FROM s)
	SELECT m[1]::bigint, m[2]::float8
	FROM c, regexp_matches(substring(rest FOR position('</svg>' IN rest)),
						   'data-batch="([0-9]+)" data-value="([^"]*)"', 'g') m
$$;
-- the cells that differ from stream.queries as this role sees it (NULL
-- is a cell without data-value), and the cells missing from the page;
-- names as the page writes them, qualified
CREATE FUNCTION dash_mismatches(page text, views text DEFAULT '%') RETURNS bigint
LANGUAGE sql STABLE SET search_path = pg_catalog AS $$
	WITH q AS (
		SELECT s.name::text AS view, j.key AS col, j.value
		FROM stream.queries s, json_each_text(row_to_json(s)) j
		WHERE j.key NOT IN ('state_rows_by_stream', 'worker_pid', 'shares') AND s.name::text LIKE views),
	c AS (SELECT * FROM public.dash_cells(page) WHERE view LIKE views)
	SELECT count(*) FROM q FULL JOIN c ON c.view = q.view AND c.col = q.col
	WHERE q.view IS NULL OR c.view IS NULL OR c.value IS DISTINCT FROM q.value
$$;

-- A role with no view: an empty table, no section.
SET ROLE dash_bob;
SELECT stream.dashboard() AS page \gset
SELECT dash_foreign_tags(:'page') AS foreign_tags,
	position('no continuous view to show' IN :'page') > 0 AS says_none,
	(SELECT count(*) FROM dash_sections(:'page')) AS sections;
RESET ROLE;

-- alice: a view named as an attack (it has no batch yet), a view with
-- batches, and a view whose error quotes a row
SET ROLE dash_alice;
CREATE FOREIGN TABLE dash_src (t text) SERVER stream;
CREATE MATERIALIZED VIEW "<script>alert('x')</script>" WITH (trigger = 'manual') AS
	SELECT t FROM dash_src;
CREATE MATERIALIZED VIEW dash_counts WITH (trigger = 'manual') AS
	SELECT t, count(*) AS n FROM dash_src GROUP BY t;
INSERT INTO dash_src SELECT 'k' || i % 4 FROM generate_series(1, 100) i;
REFRESH MATERIALIZED VIEW dash_counts;
INSERT INTO dash_src SELECT 'k' || i % 6 FROM generate_series(1, 30) i;
REFRESH MATERIALIZED VIEW dash_counts;
CREATE MATERIALIZED VIEW dash_bad AS SELECT t::int AS n FROM dash_src;
INSERT INTO dash_src VALUES ('<img src=x onerror=alert(1)>');
RESET ROLE;
SELECT wait_for($$(SELECT last_error IS NOT NULL FROM stream.queries WHERE name = 'dash_bad'::regclass)$$);
SET ROLE dash_alice;
SELECT stream.stop('dash_bad');
RESET ROLE;
-- its worker gone, what the page and stream.queries read of it holds still
SELECT wait_for($$(SELECT worker_pid IS NULL AND tries = 0 FROM stream.queries
	WHERE name = 'dash_bad'::regclass)$$);

SET ROLE dash_bob;
CREATE FOREIGN TABLE dash_bob_src (x int) SERVER stream;
CREATE MATERIALIZED VIEW dash_bob_v WITH (trigger = 'manual') AS SELECT count(*) AS n FROM dash_bob_src;
INSERT INTO dash_bob_src VALUES (1), (2);
REFRESH MATERIALIZED VIEW dash_bob_v;
RESET ROLE;

-- alice sees her three views and not bob's; the names and the error are
-- text on the page, never markup; the numbers are stream.queries'
SET ROLE dash_alice;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT stream.dashboard() AS page \gset
SELECT dash_foreign_tags(:'page') AS foreign_tags,
	position('<script' IN :'page') = 0 AS no_script,
	position('<img' IN :'page') = 0 AS no_img,
	position('public.&quot;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;' IN :'page') > 0 AS name_escaped,
	position('invalid input syntax for type integer: &quot;&lt;img src=x onerror=alert(1)&gt;&quot;' IN :'page') > 0
		AS error_escaped,
	position('dash_bob' IN :'page') = 0 AS no_bob,
	dash_mismatches(:'page') AS mismatches,
	(SELECT count(*) FROM dash_cells(:'page')) AS cells;
SELECT * FROM dash_sections(:'page') ORDER BY 1;
-- the view without batches: empty charts that say so
SELECT (SELECT count(*) FROM regexp_matches(dash_section(:'page', 'public."<script>alert(''x'')</script>"'),
		'no batches yet', 'g')) AS empty_charts;
-- the charts are stream.progress's batches
SELECT p.batch_id, p.rows_in, r.value AS chart_rows_in, p.state_rows, s.value AS chart_state_rows,
	p.rows_late, l.value AS chart_rows_late,
	d.value = p.duration_ms AS chart_duration
FROM stream.progress p
JOIN dash_points(:'page', 'public.dash_counts', 'rows_in') r ON r.batch = p.batch_id
JOIN dash_points(:'page', 'public.dash_counts', 'state_rows') s ON s.batch = p.batch_id
JOIN dash_points(:'page', 'public.dash_counts', 'rows_late') l ON l.batch = p.batch_id
JOIN dash_points(:'page', 'public.dash_counts', 'duration_ms') d ON d.batch = p.batch_id
WHERE p.name = 'dash_counts'::regclass ORDER BY 1;
-- the input rate needs the batch before: none for the first
SELECT batch, value > 0 AS rate FROM dash_points(:'page', 'public.dash_counts', 'input_rate');
COMMIT;
RESET ROLE;

-- bob sees his view alone
SET ROLE dash_bob;
SELECT stream.dashboard() AS page \gset
SELECT dash_foreign_tags(:'page') AS foreign_tags, dash_mismatches(:'page') AS mismatches,
	(SELECT count(*) FROM dash_cells(:'page')) AS cells;
SELECT * FROM dash_sections(:'page') ORDER BY 1;
RESET ROLE;

-- pg_read_all_stats: every view, the figures, not the error
SET ROLE dash_stats;
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT stream.dashboard() AS page \gset
SELECT dash_foreign_tags(:'page') AS foreign_tags,
	dash_mismatches(:'page', 'public.dash%') AS mismatches,
	dash_mismatches(:'page', 'public."<script>%') AS script_mismatches,
	position('onerror' IN :'page') = 0 AS no_error_text,
	(SELECT value FROM dash_cells(:'page') WHERE view = 'public.dash_bad' AND col = 'last_error')
		AS last_error;
SELECT s FROM dash_sections(:'page') s WHERE s LIKE 'public.dash%' OR s LIKE '%script%' ORDER BY 1;
COMMIT;
RESET ROLE;

SET ROLE dash_alice;
DROP FOREIGN TABLE dash_src CASCADE;
RESET ROLE;
SET ROLE dash_bob;
DROP FOREIGN TABLE dash_bob_src CASCADE;
RESET ROLE;
DROP FUNCTION dash_unescape, dash_foreign_tags, dash_sections, dash_cells, dash_section,
	dash_points, dash_mismatches;
REVOKE ALL ON SCHEMA public FROM dash_alice, dash_bob;
DROP ROLE dash_alice, dash_bob, dash_stats;
