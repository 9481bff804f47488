#!/usr/bin/env bash
# test/sanitize.sh: the tests with pg_stream built with AddressSanitizer and
# every PostgreSQL server they start run with the ASan runtime preloaded
# (the mechanism: test/sanitize_lib.sh).
#
#   bash test/sanitize.sh              the whole suite (test/run-tests.sh)
#   bash test/sanitize.sh crash kafka  those test/scripts/*.sh only
#   bash test/sanitize.sh regress      the pg_regress suite only
#
# A report fails the test it came from and is printed; all of them stay in
# $PGS_SAN_DIR/reports/TEST/asan.PID. At the end the normal build is
# installed again (PGS_SAN_KEEP=1 leaves the ASan one installed: it only
# loads into a server started with the runtime preloaded).
# Same variables as test/run-tests.sh (PG_BIN, PGS_PORT_BASE, ...).
export PGS_SANITIZE="${PGS_SANITIZE:-address}"
source "$(dirname "$0")/lib.sh"

restore() {
	[ -n "${PGS_SAN_KEEP:-}" ] && return 0
	pgs_log "installing the normal build again"
	env -u PGS_SANITIZE -u ASAN_OPTIONS PG_BIN="$PGS_SAN_REAL_BIN" \
		bash -c 'source "$1/test/lib.sh"; pgs_build' _ "$PGS_ROOT" ||
		echo "could not install the normal build again" >&2
}
trap restore EXIT

start=$(date +%s)
status=0
if [ $# = 0 ]; then
	bash "$PGS_ROOT/test/run-tests.sh" || status=1
else
	pgs_build
	for name in "$@"; do
		name=$(basename "$name" .sh)
		pgs_log "$name (AddressSanitizer)"
		if [ "$name" = regress ]; then
			work=$(mktemp -d /tmp/pg_stream_check.XXXXXX)
			tar -C "$PGS_ROOT" --exclude=.git -cf - . | tar -C "$work" -xf -
			chown -R "$PGS_USER" "$work"
			pgs_as_user make -C "$work" -s PG_CONFIG="$PG_CONFIG" installcheck \
				EXTRA_REGRESS_OPTS=--bindir="$PG_BIN" || { cat "$work/regression.diffs" 2>/dev/null; status=1; }
			rm -rf "$work"
			pgs_sanitize_check pg_regress || status=1
		else
			bash "$PGS_ROOT/test/scripts/$name.sh" || status=1
			pgs_sanitize_check "$name" || status=1
		fi
	done
fi

reports=$(find "$PGS_SAN_DIR/reports" -name 'asan.*' | sort)
echo "AddressSanitizer run: $(( $(date +%s) - start )) s, $(echo "$reports" | grep -c . || true) report(s) in $PGS_SAN_DIR/reports"
for f in $reports; do
	echo "  $f: $(grep -m1 -o 'ERROR: AddressSanitizer: [^ ]*' "$f" || echo '?')"
done
[ -z "$reports" ] || status=1
exit $status
