#!/usr/bin/env bash
# test/sanitize_lib.sh: the tests under AddressSanitizer. Sourced by
# test/lib.sh when PGS_SANITIZE is set (test/sanitize.sh sets it); never on
# the normal path.
#
# PGS_SANITIZE=address:
#   - pgs_build builds pg_stream in a copy of the tree (so the worktree's
#     objects stay the normal ones) with
#     COPT='-fsanitize=address -fno-omit-frame-pointer' (PGXS adds COPT to
#     CFLAGS and LDFLAGS, so pg_stream.so needs libasan.so) and installs
#     that copy;
#   - PG_BIN becomes a directory of links to PostgreSQL's programs, except
#     that its postgres starts the real one with the ASan runtime in
#     LD_PRELOAD (and a one-line library that starts it first, see
#     pgs_sanitize_wrap) and its pg_ctl starts that postgres (pg_ctl -p). Every
#     server the tests start, restart or crash-restart, pg_regress's
#     temporary instance included (--bindir), runs with the runtime; psql,
#     pgbench, pg_dump and the rest run as they are;
#   - the test broker (test/kafka/test_broker.c) is built with ASan too;
#   - every report goes to $PGS_SAN_DIR/reports; pgs_sanitize_check NAME
#     files the reports written since the last check under NAME, prints
#     them and fails when there are any.
#
# ASAN_OPTIONS: detect_leaks=0 (PostgreSQL frees by memory context and
# exits without freeing), abort_on_error=1 (a finding kills the process:
# the postmaster sees a crash), allocator_may_return_null=1 (a huge request
# gets PostgreSQL's "out of memory" error, as without ASan), a smaller
# quarantine (dozens of backends on a shared machine), log_path.
#
# PGS_SAN_DIR (default: a new /tmp/pg_stream_asan.XXXXXX) is exported, so
# the test scripts run by test/run-tests.sh find the same wrappers and
# report directory.

case "$PGS_SANITIZE" in
address) ;;
*) echo "PGS_SANITIZE=$PGS_SANITIZE: only 'address' is supported" >&2; return 1 ;;
esac

PGS_SAN_COPT="${PGS_SAN_COPT:--fsanitize=address -fno-omit-frame-pointer}"
PGS_SAN_LIBASAN="${PGS_SAN_LIBASAN:-$(gcc -print-file-name=libasan.so)}"
[ -e "$PGS_SAN_LIBASAN" ] || { echo "no ASan runtime ($PGS_SAN_LIBASAN): install libasan8" >&2; return 1; }
PGS_SAN_DIR="${PGS_SAN_DIR:-$(mktemp -d /tmp/pg_stream_asan.XXXXXX)}"
# the real PostgreSQL programs: PG_BIN as it was before the first lib.sh
PGS_SAN_REAL_BIN="${PGS_SAN_REAL_BIN:-$PG_BIN}"
ASAN_OPTIONS="${PGS_SAN_OPTIONS:-detect_leaks=0:abort_on_error=1:allocator_may_return_null=1:quarantine_size_mb=64:disable_coredump=1}:log_path=$PGS_SAN_DIR/reports/asan"
# exported: only programs built with ASan read it (the broker, and the
# servers through their wrapper); LD_PRELOAD is not exported
export PGS_SAN_DIR PGS_SAN_REAL_BIN PGS_SAN_LIBASAN ASAN_OPTIONS

# the wrapped bin directory, made once per run
pgs_sanitize_wrap() {
	local bin="$PGS_SAN_DIR/bin" f
	[ -x "$bin/pg_ctl" ] && return 0
	mkdir -p "$bin" "$PGS_SAN_DIR/reports"
	chmod 755 "$PGS_SAN_DIR" "$bin"
	# servers run as $PGS_USER, the broker as whoever runs the tests
	chmod 1777 "$PGS_SAN_DIR/reports"
	for f in "$PGS_SAN_REAL_BIN"/*; do
		ln -s "$f" "$bin/$(basename "$f")"
	done
	rm -f "$bin/postgres" "$bin/pg_ctl"
	# With libasan only in LD_PRELOAD, Debian's postgres and psql hang
	# before main: libp11-kit's constructor (through libldap, gnutls) runs
	# before libasan's and calls newlocale(), whose malloc() starts ASan
	# inside glibc's locale lock; ASan's start calls dlerror(), which takes
	# and drops the same locks, and bindtextdomain() in main then waits
	# forever. A library marked -z initfirst starts ASan before any other
	# constructor.
	printf '%s\n' 'void __asan_init(void);' \
		'__attribute__((constructor)) static void asan_first(void) { __asan_init(); }' \
		>"$PGS_SAN_DIR/asan_first.c"
	gcc -shared -fPIC -O2 -Wl,-z,initfirst -o "$PGS_SAN_DIR/asan_first.so" "$PGS_SAN_DIR/asan_first.c"
	chmod 755 "$PGS_SAN_DIR/asan_first.so"
	# exec all the way: pg_ctl and kill -9 of postmaster.pid see the pid
	# pg_ctl's shell started
	cat >"$bin/postgres" <<EOF
#!/bin/sh
# postgres with the ASan runtime first (pg_stream.so is built with ASan)
export LD_PRELOAD="$PGS_SAN_LIBASAN:$PGS_SAN_DIR/asan_first.so\${LD_PRELOAD:+:\$LD_PRELOAD}"
export ASAN_OPTIONS="$ASAN_OPTIONS"
exec "$PGS_SAN_REAL_BIN/postgres" "\$@"
EOF
	cat >"$bin/pg_ctl" <<EOF
#!/bin/sh
exec "$PGS_SAN_REAL_BIN/pg_ctl" -p "$bin/postgres" "\$@"
EOF
	chmod 755 "$bin/postgres" "$bin/pg_ctl"
}
pgs_sanitize_wrap
PG_BIN="$PGS_SAN_DIR/bin"
export PG_BIN

# pgs_build, sanitized: build a copy of the tree, install it, and check
# that what got installed is the ASan build
pgs_sanitize_build() {
	local src="$PGS_SAN_DIR/build" so
	pgs_log "building pg_stream with $PGS_SAN_COPT (in $src)"
	mkdir -p "$src"
	tar -C "$PGS_ROOT" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . | tar -C "$src" -xf -
	make -C "$src" -s PG_CONFIG="$PG_CONFIG" COPT="$PGS_SAN_COPT" >/dev/null
	if [ "$(id -u)" = 0 ]; then
		make -C "$src" -s PG_CONFIG="$PG_CONFIG" COPT="$PGS_SAN_COPT" install >/dev/null
	else
		sudo -n make -C "$src" -s PG_CONFIG="$PG_CONFIG" COPT="$PGS_SAN_COPT" install >/dev/null
	fi
	so="$("$PG_CONFIG" --pkglibdir)/pg_stream.so"
	readelf -d "$so" | grep -q 'NEEDED.*libasan' ||
		{ echo "$so is not built with ASan" >&2; return 1; }
}

# pgs_sanitize_check NAME: reports since the last check go to
# reports/NAME/; print them and fail if there are any
pgs_sanitize_check() {
	local dir="$PGS_SAN_DIR/reports" f n=0
	for f in "$dir"/asan.*; do
		[ -e "$f" ] || continue
		mkdir -p "$dir/$1"
		mv "$f" "$dir/$1/"
		n=$((n + 1))
	done
	[ $n = 0 ] && return 0
	printf '\033[1;31m==> AddressSanitizer: %d report(s) during %s (in %s)\033[0m\n' \
		$n "$1" "$dir/$1" >&2
	for f in "$dir/$1"/asan.*; do
		echo "---- $f" >&2
		cat "$f" >&2
	done
	return 1
}
