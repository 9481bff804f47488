-- Option validation of the foreign-data wrappers and of continuous views.

-- stream: only the event-time options
CREATE FOREIGN TABLE o_s (x int) SERVER stream OPTIONS (topic 'x');
CREATE SERVER o_srv FOREIGN DATA WRAPPER stream OPTIONS (host 'x');
CREATE FOREIGN TABLE o_s (x int OPTIONS (meta 'key')) SERVER stream;
CREATE FOREIGN TABLE o_s (x int) SERVER stream;

-- rate: rows_per_second, a positive integer
CREATE FOREIGN TABLE o_r (ts timestamptz, value bigint) SERVER rate OPTIONS (rowspersecond '5');
CREATE FOREIGN TABLE o_r (ts timestamptz, value bigint) SERVER rate OPTIONS (rows_per_second 'fast');
CREATE FOREIGN TABLE o_r (ts timestamptz, value bigint) SERVER rate OPTIONS (rows_per_second '0');
CREATE FOREIGN TABLE o_r (ts timestamptz, value bigint) SERVER rate OPTIONS (rows_per_second '5');
ALTER FOREIGN TABLE o_r OPTIONS (SET rows_per_second '-1');
CREATE FOREIGN TABLE o_r2 (ts timestamptz, value bigint, other text) SERVER rate;
CREATE MATERIALIZED VIEW o_r2v AS SELECT value FROM o_r2;
SELECT count(*) FROM o_r2;

-- view options
CREATE MATERIALIZED VIEW o_v WITH (trigger = 'sometimes') AS SELECT x FROM o_s;
CREATE MATERIALIZED VIEW o_v WITH (trigger = '-5 seconds') AS SELECT x FROM o_s;
CREATE MATERIALIZED VIEW o_v WITH (output_mode = 'upsert') AS SELECT x FROM o_s;
CREATE MATERIALIZED VIEW o_v WITH (max_batch_rows = 0) AS SELECT x FROM o_s;
CREATE MATERIALIZED VIEW o_v WITH (max_batch_rows = 'many') AS SELECT x FROM o_s;
CREATE MATERIALIZED VIEW o_v WITH (output_mode = 'complete') AS SELECT x FROM o_s;
CREATE MATERIALIZED VIEW o_v WITH (output_mode = 'append') AS SELECT x, count(*) FROM o_s GROUP BY x;
CREATE MATERIALIZED VIEW o_v WITH (trigger = '2 seconds', max_batch_rows = 10, fillfactor = 50)
	AS SELECT x, count(*) FROM o_s GROUP BY x;
SELECT name, trigger, output_mode FROM stream.queries WHERE name = 'o_v'::regclass;
SELECT options FROM stream.cq WHERE view = 'o_v'::regclass;
SELECT reloptions FROM pg_class WHERE oid = 'o_v'::regclass;
ALTER MATERIALIZED VIEW o_v SET (output_mode = 'complete', trigger = 'manual');
SELECT name, trigger, output_mode FROM stream.queries WHERE name = 'o_v'::regclass;
ALTER MATERIALIZED VIEW o_v SET (output_mode = 'append');
ALTER MATERIALIZED VIEW o_v SET (trigger = 'never');
ALTER MATERIALIZED VIEW o_v RESET (trigger, output_mode);
SELECT options FROM stream.cq WHERE view = 'o_v'::regclass;
ALTER MATERIALIZED VIEW o_v SET (fillfactor = 70);
SELECT reloptions FROM pg_class WHERE oid = 'o_v'::regclass;

-- our options on anything else
CREATE TABLE o_t (x int) WITH (trigger = '1 second');
CREATE MATERIALIZED VIEW o_m WITH (output_mode = 'update') AS SELECT 1 AS one;
CREATE TABLE o_t (x int);
ALTER TABLE o_t SET (max_batch_rows = 5);
DROP TABLE o_t;
DROP MATERIALIZED VIEW o_v;
DROP FOREIGN TABLE o_s, o_r, o_r2 CASCADE;

-- kafka: server options are librdkafka properties (brokers is required);
-- values are never shown, they may be secrets
CREATE SERVER o_k0 FOREIGN DATA WRAPPER kafka;
CREATE SERVER o_k0 FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1', "no.such.property" 'x');
CREATE SERVER o_k0 FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1', "session.timeout.ms" 'secret-looking');
CREATE SERVER o_k FOREIGN DATA WRAPPER kafka
	OPTIONS (brokers '127.0.0.1:1', "security.protocol" 'plaintext', "fetch.max.bytes" '1048576');
CREATE USER MAPPING FOR CURRENT_USER SERVER o_k OPTIONS ("sasl.username" 'me', "sasl.password" 'hunter2');
CREATE USER MAPPING FOR PUBLIC SERVER o_k OPTIONS ("sasl.pasword" 'hunter2');
-- table and column options
CREATE FOREIGN TABLE o_kt (x int) SERVER o_k;
CREATE FOREIGN TABLE o_kt (x int) SERVER o_k OPTIONS (topic 't', format 'protobuf');
CREATE FOREIGN TABLE o_kt (x int) SERVER o_k OPTIONS (topic 't', partitions '3-1');
CREATE FOREIGN TABLE o_kt (x int) SERVER o_k OPTIONS (topic 't', partitions '0,x');
CREATE FOREIGN TABLE o_kt (x int) SERVER o_k OPTIONS (topic 't', start_offset 'newest');
CREATE FOREIGN TABLE o_kt (x int) SERVER o_k OPTIONS (topic 't', on_error 'ignore');
CREATE FOREIGN TABLE o_kt (x int) SERVER o_k OPTIONS (topic 't', batch_size '10');
CREATE FOREIGN TABLE o_kt (x int OPTIONS (meta 'header')) SERVER o_k OPTIONS (topic 't');
CREATE FOREIGN TABLE o_kt (x int OPTIONS (metadata 'offset')) SERVER o_k OPTIONS (topic 't');
CREATE FOREIGN TABLE o_kt (x int, p int OPTIONS (meta 'partition'), o bigint OPTIONS (meta 'offset'))
	SERVER o_k OPTIONS (topic 't', format 'csv', partitions '0-3,7', start_offset '42', on_error 'stop');
-- properties that load code, run commands or read server files: superuser only
CREATE ROLE o_kafka_user;
GRANT USAGE ON FOREIGN SERVER o_k TO o_kafka_user;
SET ROLE o_kafka_user;
CREATE USER MAPPING FOR o_kafka_user SERVER o_k OPTIONS ("plugin.library.paths" '/tmp/evil.so');
CREATE USER MAPPING FOR o_kafka_user SERVER o_k OPTIONS ("sasl.kerberos.kinit.cmd" 'touch /tmp/x');
CREATE USER MAPPING FOR o_kafka_user SERVER o_k OPTIONS ("ssl.key.location" '/etc/shadow');
CREATE USER MAPPING FOR o_kafka_user SERVER o_k OPTIONS ("sasl.username" 'u', "sasl.password" 'p');
RESET ROLE;
DROP SERVER o_k CASCADE;
DROP ROLE o_kafka_user;
