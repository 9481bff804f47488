#!/usr/bin/env bash
# Every test: the pg_regress suite (sql/, expected/) against a temporary
# instance with pg_stream preloaded, then the scripted tests in
# test/scripts/. Ends with "N passed, M failed". Run as root on a fresh
# Debian 12 (installs what it needs), or as a user who can run sudo.
# The tests run an assert-enabled build (-DUSE_ASSERT_CHECKING).
export PGS_MAKE_ARGS="${PGS_MAKE_ARGS-ASSERTS=1}"
source "$(dirname "$0")/lib.sh"

pgs_install_deps kcat gdb chromium python3-pil libsnappy-dev libzstd-dev zlib1g-dev nodejs \
	libavro-dev libcurl4-openssl-dev python3-avro
# npm (DuckDB's node package, librdkafka 2.15's source for the test broker):
# in some nodejs packages, a package of its own in Debian's
command -v npm >/dev/null || pgs_install_deps npm
pgs_build

passed=0
failed=0
failures=()

# pg_regress refuses to run as root and writes into the build tree: run it
# as the cluster user in a copy it owns.
work=$(mktemp -d /tmp/pg_stream_check.XXXXXX)
trap 'rm -rf "$work"' EXIT
tar -C "$PGS_ROOT" --exclude=.git -cf - . | tar -C "$work" -xf -
chown -R "$PGS_USER" "$work"
pgs_log "pg_regress"
set +e
pgs_as_user make -C "$work" -s PG_CONFIG="$PG_CONFIG" installcheck \
	${PGS_SANITIZE:+EXTRA_REGRESS_OPTS=--bindir=$PG_BIN} >"$work/installcheck.log" 2>&1
set -e
cat "$work/installcheck.log"
n_ok=$(grep -cE '^(ok|test|     ).* \.\.\. ok|^ok ' "$work/installcheck.log" || true)
n_bad=$(grep -cE '\.\.\. FAILED|^not ok' "$work/installcheck.log" || true)
if [ "$n_ok" = 0 ] && [ "$n_bad" = 0 ]; then
	n_bad=1
	failures+=("pg_regress did not run")
fi
passed=$((passed + n_ok))
failed=$((failed + n_bad))
if [ -f "$work/regression.diffs" ]; then
	cat "$work/regression.diffs"
	failures+=("pg_regress: see regression.diffs above")
fi
if [ -n "${PGS_SANITIZE:-}" ] && ! pgs_sanitize_check pg_regress; then
	failed=$((failed + 1))
	failures+=("pg_regress: AddressSanitizer, see the reports above")
fi

# scripted tests: each starts its own server
for t in "$PGS_ROOT"/test/scripts/*.sh; do
	name=$(basename "$t" .sh)
	pgs_log "test/scripts/$name"
	status=0
	bash "$t" || status=1
	# under the sanitizer: its reports, failed or not
	[ -z "${PGS_SANITIZE:-}" ] || pgs_sanitize_check "$name" || status=1
	if [ $status = 0 ]; then
		echo "ok - $name"
		passed=$((passed + 1))
	else
		echo "not ok - $name"
		failed=$((failed + 1))
		failures+=("test/scripts/$name")
	fi
done

for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
