#!/usr/bin/env bash
# librdkafka properties set by an ordinary role run nothing as the server's
# OS user, against the test broker (test/kafka/test_broker.c):
# - the kinit exploit: on a superuser's GSSAPI server, an ordinary role's
#   user mapping with a shell command in sasl.kerberos.principal is refused;
#   written with the validator off, the SELECT (a backend) and the
#   continuous view (a worker) fail and the command never runs;
# - ssl.providers naming a shared library (whose constructor would write a
#   file): refused, and with the validator off never loaded, in a backend
#   and a worker;
# - a user mapping that names the brokers cannot redirect the connection
#   (the server points at a closed port, the mapping at the broker);
# - an ordinary role's mapping with allowed tuning reads, in a backend and
#   a worker.
# Each check reports on its own, so a run on code without the allowlist
# shows every hole.
source "$(dirname "$0")/../lib.sh"
cleanup() {
	pgs_stop_broker
	pgs_stop_cluster
	rm -rf "$WORK"
}
WORK=$(mktemp -d /tmp/pgs_kafka_props.XXXXXX)
chmod 777 "$WORK"
trap cleanup EXIT

pgs_start_broker
pgs_start_cluster
pgs_broker create ev 1
printf '{"id": %d}\n' 1 2 3 | kcat -P -b "$PGS_BROKERS" -t ev -p 0
closed=$(pgs_free_port 47000)

fail=0
bad() { echo "FAIL: $*"; fail=1; }
q() { pgs_psql -At -c "$1"; }
alice() { "$PG_BIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$PGS_DIR" -p "$PGS_PORT" -U pgs_alice -d postgres "$@"; }
# a file written by a command or a constructor shows up within 3 s if ever
appears() {
	local i=0
	while [ $i -lt 30 ]; do
		[ -e "$1" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
# the statement fails, saying $1
refused() {
	local want=$1 out sql
	shift
	sql="$*"
	if out=$(alice -c "SET statement_timeout = '15s'" -c "$@" 2>&1); then
		bad "accepted: $*"
		return 1
	fi
	grep -q -- "$want" <<<"$out" || { bad "refused for another reason: $out"; return 1; }
	echo "refused: ${sql:0:90}... ($(head -1 <<<"$out"))"
}
# a superuser writes an ordinary role's catalog entry with the validator off
bypass() {
	q "ALTER FOREIGN DATA WRAPPER kafka NO VALIDATOR" >/dev/null
	alice -c "$1"
	q "ALTER FOREIGN DATA WRAPPER kafka VALIDATOR stream.kafka_fdw_validator" 2>/dev/null >/dev/null
}
# a shared library whose constructor leaves a file behind
cat >"$WORK/evil.c" <<EOF
#include <stdio.h>
__attribute__((constructor)) static void evil(void)
{
	FILE *f = fopen("$WORK/loaded", "w");
	if (f)
		fclose(f);
}
EOF
gcc -shared -fPIC -o "$WORK/evil.so" "$WORK/evil.c"

pgs_psql <<SQL
CREATE EXTENSION pg_stream;
CREATE ROLE pgs_alice LOGIN;
GRANT USAGE, CREATE ON SCHEMA public TO pgs_alice;
CREATE SERVER gss FOREIGN DATA WRAPPER kafka
	OPTIONS (brokers '$PGS_BROKERS', "security.protocol" 'sasl_plaintext', "sasl.mechanism" 'GSSAPI',
		"sasl.kerberos.keytab" '/etc/krb5.keytab');
CREATE SERVER tls FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS', "security.protocol" 'ssl');
CREATE SERVER away FOREIGN DATA WRAPPER kafka OPTIONS (brokers '127.0.0.1:$closed');
CREATE SERVER plain FOREIGN DATA WRAPPER kafka OPTIONS (brokers '$PGS_BROKERS');
GRANT USAGE ON FOREIGN SERVER gss, tls, away, plain TO pgs_alice;
SQL
alice <<'SQL'
CREATE FOREIGN TABLE ev_gss (id int) SERVER gss OPTIONS (topic 'ev');
CREATE FOREIGN TABLE ev_tls (id int) SERVER tls OPTIONS (topic 'ev');
CREATE FOREIGN TABLE ev_away (id int) SERVER away OPTIONS (topic 'ev');
CREATE FOREIGN TABLE ev_plain (id int) SERVER plain OPTIONS (topic 'ev');
SQL

echo "== the kinit exploit: a shell command in sasl.kerberos.principal"
if refused "invalid value for librdkafka property \"sasl.kerberos.principal\"" \
	"CREATE USER MAPPING FOR pgs_alice SERVER gss OPTIONS (\"sasl.kerberos.principal\" 'x; id > $WORK/pwned_mapping; echo')"; then
	:
else
	alice -c "SET statement_timeout = '15s'" -c "SELECT count(*) FROM ev_gss" >/dev/null 2>&1 || true
	appears "$WORK/pwned_mapping" && bad "kinit ran the mapping's command: $(cat "$WORK/pwned_mapping")"
	alice -c "DROP USER MAPPING IF EXISTS FOR pgs_alice SERVER gss"
fi
echo "-- the same mapping written with the validator off: a backend"
bypass "CREATE USER MAPPING FOR pgs_alice SERVER gss OPTIONS (\"sasl.kerberos.principal\" 'x; id > $WORK/pwned_backend; echo')"
refused "invalid value for librdkafka property \"sasl.kerberos.principal\"" "SELECT count(*) FROM ev_gss" || true
appears "$WORK/pwned_backend" && bad "kinit ran in a backend: $(cat "$WORK/pwned_backend")"
echo "-- and a worker (a continuous view)"
bypass "ALTER USER MAPPING FOR pgs_alice SERVER gss OPTIONS (SET \"sasl.kerberos.principal\" 'x; id > $WORK/pwned_worker; echo')"
alice -c "CREATE MATERIALIZED VIEW gss_count AS SELECT count(*) AS n FROM ev_gss"
pgs_wait_for "SELECT last_error LIKE '%sasl.kerberos.principal%' FROM stream.queries WHERE name = 'gss_count'::regclass" 20 ||
	bad "the worker did not refuse: $(q "SELECT status || ': ' || coalesce(last_error, '') FROM stream.queries WHERE name = 'gss_count'::regclass")"
appears "$WORK/pwned_worker" && bad "kinit ran in a worker: $(cat "$WORK/pwned_worker")"
echo "worker: $(q "SELECT last_error FROM stream.queries WHERE name = 'gss_count'::regclass")"
alice -c "DROP MATERIALIZED VIEW gss_count"

echo "== ssl.providers naming a shared library"
if refused "only a superuser may set librdkafka property \"ssl.providers\"" \
	"CREATE USER MAPPING FOR pgs_alice SERVER tls OPTIONS (\"ssl.providers\" '$WORK/evil.so')"; then
	bypass "CREATE USER MAPPING FOR pgs_alice SERVER tls OPTIONS (\"ssl.providers\" '$WORK/evil.so')"
fi
refused "ssl.providers" "SELECT count(*) FROM ev_tls" || true
appears "$WORK/loaded" && { bad "the library was loaded in a backend"; rm -f "$WORK/loaded"; }
alice -c "CREATE MATERIALIZED VIEW tls_count AS SELECT count(*) AS n FROM ev_tls"
pgs_wait_for "SELECT last_error LIKE '%ssl.providers%' FROM stream.queries WHERE name = 'tls_count'::regclass" 20 ||
	bad "the worker did not refuse: $(q "SELECT status || ': ' || coalesce(last_error, '') FROM stream.queries WHERE name = 'tls_count'::regclass")"
appears "$WORK/loaded" && bad "the library was loaded in a worker"
alice -c "DROP MATERIALIZED VIEW tls_count"

echo "== a user mapping cannot redirect the connection"
for p in bootstrap.servers metadata.broker.list brokers; do
	refused "a user mapping may not set librdkafka property \"$p\"" \
		"CREATE USER MAPPING FOR pgs_alice SERVER away OPTIONS (\"$p\" '$PGS_BROKERS')" ||
		alice -c "DROP USER MAPPING IF EXISTS FOR pgs_alice SERVER away"
done
bypass "CREATE USER MAPPING FOR pgs_alice SERVER away OPTIONS (\"bootstrap.servers\" '$PGS_BROKERS')"
refused "a user mapping may not set librdkafka property \"bootstrap.servers\"" "SELECT count(*) FROM ev_away" || true

echo "== allowed tuning in an ordinary role's mapping is taken, in a backend and a worker"
alice -c "CREATE USER MAPPING FOR pgs_alice SERVER plain OPTIONS (\"client.id\" 'alice-1', \"fetch.wait.max.ms\" '50', \"check.crcs\" 'true', \"queued.max.messages.kbytes\" '1024')"
[ "$(alice -c "SELECT count(*), sum(id) FROM ev_plain")" = "3|6" ] || bad "the backend's read"
alice -c "CREATE MATERIALIZED VIEW plain_count AS SELECT count(*) AS n, sum(id) AS s FROM ev_plain"
pgs_wait_for "SELECT count(*) = 1 FROM plain_count WHERE n = 3 AND s = 6" 20 || bad "the worker's read"
echo "alice's view read $(q "SELECT n FROM plain_count") messages"

[ $fail = 0 ] || exit 1
echo "ok"
