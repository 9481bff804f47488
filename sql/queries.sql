-- What a continuous query may contain: projection, WHERE, expressions,
-- set-returning functions in FROM, joins to tables, derived streams,
-- GROUP BY with stream.tumble(). Each view is compared with the same
-- query run as a batch over a plain table holding the same input.

CREATE FOREIGN TABLE q_src (id int, customer int, amount numeric, line text,
	ts timestamptz) SERVER stream;
CREATE TABLE q_ref (id int, customer int, amount numeric, line text, ts timestamptz);
CREATE TABLE customers (id int PRIMARY KEY, name text, country text);
INSERT INTO customers VALUES (1, 'Ann', 'DE'), (2, 'Bob', 'FR'), (3, 'Cy', 'DE');

-- projection, WHERE, any expression (append: the default without aggregation)
CREATE MATERIALIZED VIEW q_proj AS
SELECT id, upper(line) AS shout, amount * 1.19 AS gross,
	CASE WHEN amount > 50 THEN 'big' ELSE 'small' END AS size,
	date_trunc('hour', ts AT TIME ZONE 'UTC') AS hour, length(line) % 3 AS m
FROM q_src WHERE amount IS NOT NULL AND id % 4 <> 0;

-- set-returning function in FROM: word count
CREATE MATERIALIZED VIEW q_words AS
SELECT word, count(*) AS n
FROM q_src, regexp_split_to_table(line, '\s+') AS word GROUP BY word;

-- joins to a table: inner and left
CREATE MATERIALIZED VIEW q_inner AS
SELECT c.country, count(*) AS orders, sum(q.amount) AS total
FROM q_src q JOIN customers c ON c.id = q.customer GROUP BY c.country;
CREATE MATERIALIZED VIEW q_left AS
SELECT q.id, c.name FROM q_src q LEFT JOIN customers c ON c.id = q.customer;

-- a derived stream: a plain view over a stream, read by a continuous view
CREATE VIEW q_big AS SELECT id, customer, amount, ts FROM q_src WHERE amount > 20;
CREATE MATERIALIZED VIEW q_big_per_customer AS
SELECT customer, count(*) AS n, max(amount) AS top FROM q_big GROUP BY customer;

-- tumbling windows, with the default origin and with one
CREATE MATERIALIZED VIEW q_minutes AS
SELECT stream.tumble(ts, '1 minute') AS minute, count(*) AS n, sum(amount) AS total
FROM q_src GROUP BY 1;
CREATE MATERIALIZED VIEW q_windows AS
SELECT stream.tumble(ts, '10 minutes', '2026-01-01 00:03:00+00') AS w, customer, count(*) AS n
FROM q_src GROUP BY 1, 2;

-- feed both the stream and the reference table, in several transactions
CREATE PROCEDURE q_feed(lo int, hi int) LANGUAGE sql AS $$
	WITH r AS (
		INSERT INTO q_ref
		SELECT x, 1 + x % 4, CASE WHEN x % 9 = 0 THEN NULL ELSE (x * 37 % 100)::numeric END,
			(ARRAY['the quick brown fox', 'jumps over', 'the lazy dog', '', 'fox  and dog'])[1 + x % 5],
			'2026-01-01 00:00:00+00'::timestamptz + x * interval '17 seconds'
		FROM generate_series(lo, hi) x RETURNING *)
	INSERT INTO q_src SELECT * FROM r;
$$;
CALL q_feed(1, 100);
CALL q_feed(101, 250);
REFRESH MATERIALIZED VIEW q_proj;
REFRESH MATERIALIZED VIEW q_words;
REFRESH MATERIALIZED VIEW q_inner;
REFRESH MATERIALIZED VIEW q_left;
REFRESH MATERIALIZED VIEW q_big_per_customer;
REFRESH MATERIALIZED VIEW q_minutes;
REFRESH MATERIALIZED VIEW q_windows;
SELECT matches_batch('q_proj', 'q_src', 'q_ref');
SELECT matches_batch('q_words', 'q_src', 'q_ref');
SELECT matches_batch('q_inner', 'q_src', 'q_ref');
SELECT matches_batch('q_left', 'q_src', 'q_ref');
SELECT matches_batch('q_minutes', 'q_src', 'q_ref');
SELECT matches_batch('q_windows', 'q_src', 'q_ref');
CREATE VIEW q_big_ref AS SELECT id, customer, amount, ts FROM q_ref WHERE amount > 20;
SELECT matches_batch('q_big_per_customer', 'q_big', 'q_big_ref');
SELECT * FROM q_words ORDER BY word;
SELECT * FROM q_minutes ORDER BY minute LIMIT 3;
SELECT * FROM q_windows ORDER BY w, customer LIMIT 4;

-- a join sees the table as it is when each batch runs
UPDATE customers SET country = 'IT' WHERE id = 1;
INSERT INTO customers VALUES (4, 'Dee', 'ES');
CALL q_feed(251, 260);
REFRESH MATERIALIZED VIEW q_inner;
REFRESH MATERIALIZED VIEW q_left;
SELECT * FROM q_inner ORDER BY country;
SELECT id, name FROM q_left WHERE id > 245 ORDER BY id;

-- a materialized view that reads no stream stays an ordinary one
CREATE MATERIALIZED VIEW q_plain AS SELECT country, count(*) FROM customers GROUP BY country;
SELECT count(*) FROM stream.cq WHERE view = 'q_plain'::regclass;
INSERT INTO customers VALUES (5, 'Eve', 'ES');
REFRESH MATERIALIZED VIEW q_plain;
SELECT * FROM q_plain ORDER BY country;

-- refused shapes
CREATE FOREIGN TABLE q_other (id int) SERVER stream;
-- (two streams join, see joins.sql; without event time their state is kept forever)
CREATE MATERIALIZED VIEW q_bad AS SELECT * FROM q_src JOIN q_other USING (id);
DROP MATERIALIZED VIEW q_bad;
CREATE MATERIALIZED VIEW q_bad AS SELECT a.id FROM q_src a JOIN q_src b USING (id) JOIN q_src c USING (id);
CREATE MATERIALIZED VIEW q_bad AS SELECT c.name, q.id FROM customers c LEFT JOIN q_src q ON q.customer = c.id;
CREATE MATERIALIZED VIEW q_bad AS SELECT c.name, b.id FROM customers c LEFT JOIN q_big b ON b.customer = c.id;
CREATE MATERIALIZED VIEW q_bad AS SELECT * FROM (SELECT c.name, q.id FROM customers c LEFT JOIN q_src q ON q.customer = c.id) x;
CREATE MATERIALIZED VIEW q_bad AS SELECT customer, count(*) FROM q_src GROUP BY customer
	HAVING count(*) > (SELECT count(*) FROM customers);
CREATE MATERIALIZED VIEW q_bad AS SELECT c.name FROM customers c WHERE c.id IN (SELECT customer FROM q_src);
CREATE MATERIALIZED VIEW q_bad WITH (output_mode = 'append') AS SELECT * FROM (SELECT customer, count(*) FROM q_src GROUP BY customer) x;
CREATE MATERIALIZED VIEW q_bad AS SELECT id FROM q_src UNION ALL SELECT id FROM customers;
CREATE MATERIALIZED VIEW q_bad AS SELECT stream.tumble(ts, '1 month') AS m, count(*) FROM q_src GROUP BY 1;
SELECT stream.tumble('2026-01-01 10:17:00+00', '1 month');
SELECT stream.tumble('2026-01-01 10:17:00+00', '0 minutes');
SELECT stream.tumble('2026-01-01 10:17:00+00'::timestamptz, '15 minutes'),
	stream.tumble('2026-01-01 10:17:00'::timestamp, '15 minutes', '2026-01-01 00:05:00'),
	stream.tumble('1999-12-31 23:59:59+00'::timestamptz, '1 day');
