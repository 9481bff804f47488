-- Who may set which librdkafka property on a kafka server or user mapping.
-- The validator needs no broker; the servers point at a closed port.
CREATE ROLE pgs_kalice;
GRANT USAGE, CREATE ON SCHEMA public TO pgs_kalice;

-- a superuser may set what librdkafka accepts, on a server
CREATE SERVER ko_su FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1',
	"security.protocol" 'sasl_plaintext', "sasl.mechanism" 'GSSAPI',
	"sasl.kerberos.principal" 'kafka/host.example.com@EXAMPLE.COM',
	"sasl.kerberos.keytab" '/etc/security/kafka.keytab',
	"ssl.providers" 'default', "ssl.engine.location" '/nonexistent/engine.so', debug 'broker');
-- librdkafka loads plugin.library.paths when it is set: a missing one is its refusal
CREATE SERVER ko_su2 FOREIGN DATA WRAPPER kafka
	OPTIONS (brokers '127.0.0.1:1', "plugin.library.paths" '/nonexistent/plugin.so');

-- values librdkafka pastes into the kinit shell command are plain, for a superuser too
CREATE SERVER ko_bad FOREIGN DATA WRAPPER kafka
	OPTIONS (brokers '127.0.0.1:1', "sasl.kerberos.principal" 'x; id > /tmp/pgs_pwned; echo');
CREATE SERVER ko_bad FOREIGN DATA WRAPPER kafka
	OPTIONS (brokers '127.0.0.1:1', "sasl.kerberos.keytab" '/tmp/a b');
CREATE SERVER ko_bad FOREIGN DATA WRAPPER kafka
	OPTIONS (brokers '127.0.0.1:1', "sasl.kerberos.service.name" 'kafka$(id)');
CREATE SERVER ko_bad FOREIGN DATA WRAPPER kafka
	OPTIONS (brokers '127.0.0.1:1', "sasl.kerberos.principal" '-Xx');
-- and so is a property a custom command names
CREATE SERVER ko_bad FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1',
	"sasl.kerberos.kinit.cmd" 'kinit %{sasl.username}', "sasl.username" 'me`id`');
CREATE SERVER ko_cmd FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1',
	"sasl.kerberos.kinit.cmd" 'kinit %{sasl.username}', "sasl.username" 'me@EXAMPLE.COM');

-- a user mapping never names the brokers, not even a superuser's
CREATE USER MAPPING FOR CURRENT_USER SERVER ko_su OPTIONS (brokers '10.0.0.1:9092');
CREATE USER MAPPING FOR CURRENT_USER SERVER ko_su OPTIONS ("bootstrap.servers" '10.0.0.1:9092');
CREATE USER MAPPING FOR CURRENT_USER SERVER ko_su OPTIONS ("metadata.broker.list" '10.0.0.1:9092');
-- a superuser's own mapping may hold other properties
CREATE USER MAPPING FOR CURRENT_USER SERVER ko_su OPTIONS ("sasl.kerberos.principal" 'admin@EXAMPLE.COM');

-- an ordinary role with USAGE on a superuser's server: the allowlist only
GRANT USAGE ON FOREIGN SERVER ko_su TO pgs_kalice;
SET ROLE pgs_kalice;
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("sasl.kerberos.principal" 'x; id > /tmp/pgs_pwned; echo');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("sasl.kerberos.principal" 'alice@EXAMPLE.COM');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("ssl.providers" '/tmp/evil.so');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("plugin.library.paths" '/tmp/evil.so');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("ssl.engine.location" '/tmp/evil.so');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("ssl.ca.location" '/etc/ssl/private');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("sasl.kerberos.kinit.cmd" 'touch /tmp/x');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS (debug 'all');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("group.id" 'other');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("enable.ssl.certificate.verification" 'false');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("SSL.PROVIDERS" '/tmp/evil.so');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("no.such.property" 'x');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS (brokers '10.0.0.1:9092');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("bootstrap.servers" '10.0.0.1:9092');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("metadata.broker.list" '10.0.0.1:9092');
-- the values it may set are bounded too (and never shown)
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("sasl.mechanism" 'GSSAPI');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("sasl.mechanisms" 'OAUTHBEARER');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("sasl.mechanism" 'plain');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("security.protocol" 'tls');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("fetch.wait.max.ms" '600000');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("queued.max.messages.kbytes" '2097151');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("linger.ms" '5 ms');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("check.crcs" 'yes');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("client.id" 'a b');
-- credentials and tuning are taken
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("security.protocol" 'SASL_SSL',
	"sasl.mechanism" 'SCRAM-SHA-512', "sasl.username" 'alice', "sasl.password" 'x; id > /tmp/pgs_pwned',
	"ssl.ca.pem" '-----BEGIN CERTIFICATE-----', "fetch.wait.max.ms" '100', "client.id" 'alice-1',
	acks 'all', "compression.type" 'zstd', "check.crcs" 'true', "isolation.level" 'read_uncommitted');
-- and nothing else can be added to them
ALTER USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS (ADD "ssl.providers" 'legacy');
ALTER USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS (SET "sasl.mechanism" 'GSSAPI');
ALTER USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS (SET "sasl.mechanism" 'PLAIN');
RESET ROLE;

-- an ordinary role that owns a server is held to the allowlist on it
GRANT USAGE ON FOREIGN DATA WRAPPER kafka TO pgs_kalice;
SET ROLE pgs_kalice;
CREATE SERVER ko_alice FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1', "ssl.providers" '/tmp/evil.so');
CREATE SERVER ko_alice FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1', "plugin.library.paths" '/tmp/evil.so');
CREATE SERVER ko_alice FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1', "sasl.mechanism" 'GSSAPI');
CREATE SERVER ko_alice FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1', "sasl.kerberos.keytab" '/etc/krb5.keytab');
CREATE SERVER ko_alice FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1',
	"security.protocol" 'sasl_plaintext', "sasl.mechanism" 'PLAIN', "fetch.max.bytes" '1048576');
ALTER SERVER ko_alice OPTIONS (ADD "ssl.ca.location" '/etc/ssl/certs');
ALTER SERVER ko_alice OPTIONS (SET brokers '127.0.0.1:2');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_alice OPTIONS ("bootstrap.servers" '127.0.0.1:3');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_alice OPTIONS ("sasl.username" 'alice', "sasl.password" 'secret');
-- table options are not librdkafka properties
CREATE FOREIGN TABLE ko_t (x int) SERVER ko_alice OPTIONS (topic 't', "ssl.providers" '/tmp/evil.so');
CREATE FOREIGN TABLE ko_t (x int) SERVER ko_alice OPTIONS (topic 't", "x": "y');
CREATE FOREIGN TABLE ko_t (x int) SERVER ko_alice OPTIONS (topic 'orders.v2_eu-1');
RESET ROLE;
-- nor are the wrapper's
ALTER FOREIGN DATA WRAPPER kafka OPTIONS (ADD "ssl.providers" 'legacy');

-- At use: a superuser may add a restricted property to a server an
-- ordinary role owns, but the client is refused (its owner can write the
-- server), before librdkafka sees the property
ALTER SERVER ko_alice OPTIONS (ADD "ssl.providers" 'legacy');
SELECT * FROM ko_t;
ALTER SERVER ko_alice OPTIONS (DROP "ssl.providers");
-- SASL turned on by an ordinary role's object, with GSSAPI (librdkafka's
-- default mechanism) would run kinit: refused
ALTER SERVER ko_alice OPTIONS (DROP "sasl.mechanism");
SELECT * FROM ko_t;

-- A catalog written with the validator off (or before the allowlist):
-- nothing in it reaches librdkafka unchecked
ALTER FOREIGN DATA WRAPPER kafka NO VALIDATOR;
SET ROLE pgs_kalice;
DROP USER MAPPING FOR pgs_kalice SERVER ko_su;
CREATE USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS ("sasl.kerberos.principal" 'x; id > /tmp/pgs_pwned; echo');
CREATE FOREIGN TABLE ko_su_t (x int) SERVER ko_su OPTIONS (topic 't');
RESET ROLE;
ALTER FOREIGN DATA WRAPPER kafka VALIDATOR stream.kafka_fdw_validator;
SET ROLE pgs_kalice;
SELECT * FROM ko_su_t;
RESET ROLE;
ALTER FOREIGN DATA WRAPPER kafka NO VALIDATOR;
ALTER USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS (DROP "sasl.kerberos.principal", ADD "ssl.providers" '/tmp/evil.so');
ALTER FOREIGN DATA WRAPPER kafka VALIDATOR stream.kafka_fdw_validator;
SET ROLE pgs_kalice;
SELECT * FROM ko_su_t;
RESET ROLE;
ALTER FOREIGN DATA WRAPPER kafka NO VALIDATOR;
ALTER USER MAPPING FOR pgs_kalice SERVER ko_su OPTIONS (DROP "ssl.providers", ADD brokers '10.0.0.1:9092');
ALTER FOREIGN DATA WRAPPER kafka VALIDATOR stream.kafka_fdw_validator;
SET ROLE pgs_kalice;
SELECT * FROM ko_su_t;
RESET ROLE;

-- an exactly-once sink's options (sources/kafka/outbox.c)
CREATE FOREIGN TABLE ko_d1 (x int) SERVER ko_alice OPTIONS (topic 't', delivery 'exactly_twice');
CREATE FOREIGN TABLE ko_d1 (x int) SERVER ko_alice OPTIONS (topic 't', progress_topic 'a/b');
CREATE FOREIGN TABLE ko_d1 (x int) SERVER ko_alice
	OPTIONS (topic 't', delivery 'at_least_once', progress_topic 'my.progress');
ALTER FOREIGN TABLE ko_d1 OPTIONS (SET delivery 'exactly_once');
DROP FOREIGN TABLE ko_d1;
-- schema_registry (format 'avro'): an http(s) URL on a server, a superuser's
CREATE SERVER ko_reg FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1', schema_registry 'ftp://r:1');
CREATE SERVER ko_reg FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1', schema_registry 'http://u:p@r:1');
CREATE SERVER ko_reg FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1', schema_registry 'http://r:8081/');
CREATE USER MAPPING FOR pgs_kalice SERVER ko_reg OPTIONS (schema_registry 'http://r:1');
CREATE FOREIGN TABLE ko_reg_t (x int) SERVER ko_reg OPTIONS (topic 't', format 'avro', avro_schema '{"type": "record"}');
CREATE FOREIGN TABLE ko_reg_t (x int) SERVER ko_reg OPTIONS (topic 't', format 'avro');
SET ROLE pgs_kalice;
CREATE SERVER ko_reg2 FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1', schema_registry 'http://169.254.169.254');
CREATE SERVER ko_reg2 FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:1');
CREATE FOREIGN TABLE ko_reg2_t (x int) SERVER ko_reg2 OPTIONS (topic 't', format 'avro');
RESET ROLE;
-- written with the validator off: refused at use, before any request
ALTER FOREIGN DATA WRAPPER kafka NO VALIDATOR;
SET ROLE pgs_kalice;
ALTER SERVER ko_reg2 OPTIONS (ADD schema_registry 'http://169.254.169.254');
RESET ROLE;
ALTER FOREIGN DATA WRAPPER kafka VALIDATOR stream.kafka_fdw_validator;
SET ROLE pgs_kalice;
SELECT * FROM ko_reg2_t;
RESET ROLE;
DROP SERVER ko_reg, ko_reg2 CASCADE;

DROP SERVER ko_su, ko_cmd, ko_alice CASCADE;
REVOKE USAGE ON FOREIGN DATA WRAPPER kafka FROM pgs_kalice;
REVOKE USAGE, CREATE ON SCHEMA public FROM pgs_kalice;
DROP ROLE pgs_kalice;
