#!/usr/bin/env bash
# test/lib.sh: what the demo, the tests and the benchmarks share.
#
#   pgs_install_deps   Debian packages (as root; skipped when present);
#                      postgresql-15 brings pgbench and dblink
#   pgs_build          build and install the extension
#   pgs_start_cluster  a throwaway PostgreSQL with pg_stream preloaded,
#                      owned by a non-root user (PostgreSQL refuses root)
#   pgs_psql           psql against it
#   pgs_stop_cluster   stop it and remove it
#
# Variables: PGS_PORT (default: a free port from PGS_PORT_BASE, 55432),
# PGS_DIR (cluster directory), PGS_USER (the OS user running the server:
# postgres), PG_BIN (PostgreSQL's programs; its pg_config decides where the
# extension is installed, so a copy of PostgreSQL elsewhere gives a
# private install that runs beside another), PGS_MAKE_ARGS (given to make:
# test/run-tests.sh builds with ASSERTS=1).

set -euo pipefail

PGS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
PG_CONFIG="${PG_CONFIG:-$PG_BIN/pg_config}"
PGS_MAKE_ARGS="${PGS_MAKE_ARGS:-}"
export PG_BIN PG_CONFIG PGS_MAKE_ARGS
PGS_USER="${PGS_USER:-postgres}"

pgs_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# PGS_SANITIZE=address: servers and the test broker under ASan (see
# test/sanitize.sh); it replaces PG_BIN with wrappers
[ -z "${PGS_SANITIZE:-}" ] || source "$PGS_ROOT/test/sanitize_lib.sh"

# pgs_install_deps [more Debian packages...]
pgs_install_deps() {
	local pkgs="postgresql-15 postgresql-server-dev-15 postgresql-15-hll librdkafka-dev build-essential $*"
	local missing=""
	for p in $pkgs; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages:$missing (run as root to install them)" >&2
		return 1
	fi
	pgs_log "installing Debian packages:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq $missing >/dev/null
}

# Build and install into PostgreSQL's directories (needs root, or write
# access to them).
pgs_build() {
	[ -z "${PGS_SANITIZE:-}" ] || { pgs_sanitize_build; return; }
	pgs_log "building pg_stream"
	make -C "$PGS_ROOT" -s PG_CONFIG="$PG_CONFIG" $PGS_MAKE_ARGS >/dev/null
	if [ "$(id -u)" = 0 ]; then
		make -C "$PGS_ROOT" -s PG_CONFIG="$PG_CONFIG" $PGS_MAKE_ARGS install >/dev/null
	else
		sudo -n make -C "$PGS_ROOT" -s PG_CONFIG="$PG_CONFIG" $PGS_MAKE_ARGS install >/dev/null
	fi
}

# Run a command as the cluster's OS user.
pgs_as_user() {
	if [ "$(id -un)" = "$PGS_USER" ]; then
		"$@"
	elif [ "$(id -u)" = 0 ]; then
		runuser -u "$PGS_USER" -- "$@"
	else
		sudo -n -u "$PGS_USER" "$@"
	fi
}

pgs_free_port() {
	local port=${1:-${PGS_PORT_BASE:-55432}}
	while (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
	echo $port
}

# pgs_start_cluster [extra postgresql.conf lines...]
pgs_start_cluster() {
	PGS_PORT="${PGS_PORT:-$(pgs_free_port)}"
	PGS_DIR="${PGS_DIR:-$(mktemp -d /tmp/pg_stream.XXXXXX)}"
	export PGS_PORT PGS_DIR
	id "$PGS_USER" >/dev/null 2>&1 || useradd -m "$PGS_USER"
	chown "$PGS_USER" "$PGS_DIR"
	chmod 755 "$PGS_DIR"
	pgs_as_user "$PG_BIN/initdb" -D "$PGS_DIR/data" -A trust -U postgres >/dev/null
	{
		cat "$PGS_ROOT/test/pg_stream.conf"
		echo "port = $PGS_PORT"
		echo "listen_addresses = '127.0.0.1'"
		echo "unix_socket_directories = '$PGS_DIR'"
		echo "log_min_messages = log"
		for line in "$@"; do echo "$line"; done
	} | pgs_as_user tee -a "$PGS_DIR/data/postgresql.conf" >/dev/null
	pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -l "$PGS_DIR/log" -w -t 60 start >/dev/null
}

pgs_psql() {
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGS_DIR" -p "$PGS_PORT" -U postgres "$@"
}

# start it again after a crash; after a kill -9 of the postmaster its
# children take a moment to notice and exit, and until then the server
# refuses to start
pgs_restart_cluster() {
	local i=0
	until pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -l "$PGS_DIR/log" -w start >/dev/null 2>&1; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "server does not start" >&2; return 1; }
		sleep 0.2
	done
}

pgs_stop_cluster() {
	[ -n "${PGS_DIR:-}" ] && [ -d "$PGS_DIR/data" ] || return 0
	pgs_as_user "$PG_BIN/pg_ctl" -D "$PGS_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
	if [ -n "${PGS_KEEP:-}" ]; then
		echo "cluster kept in $PGS_DIR" >&2
	else
		rm -rf "$PGS_DIR"
	fi
}

# pgs_start_peer STATUS_FILE ACTION...: the scripted socket peer
# (test/socket/peer.py) on a loopback port the kernel picks. Sets
# PGS_PEER_PORT and PGS_PEER_PID (the caller kills it); fails if it does
# not listen within 10 s.
pgs_start_peer() {
	local status=$1 i=0
	shift
	rm -f "$status"
	python3 "$PGS_ROOT/test/socket/peer.py" 0 "$status" "$@" &
	PGS_PEER_PID=$!
	until grep -q '^listening ' "$status" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$PGS_PEER_PID" 2>/dev/null; then
			echo "socket peer did not start" >&2
			return 1
		fi
		sleep 0.1
	done
	PGS_PEER_PORT=$(awk '/^listening /{ print $2 }' "$status")
}

# pgs_wait_for SQL [timeout seconds]: poll until the query returns true
pgs_wait_for() {
	local sql="$1" timeout="${2:-60}" i=0
	while [ "$(pgs_psql -At -c "$sql")" != t ]; do
		i=$((i + 1))
		if [ $i -gt $((timeout * 10)) ]; then
			echo "timed out waiting for: $sql" >&2
			return 1
		fi
		sleep 0.1
	done
}

# pgs_start_broker [BROKERS]: the test Kafka cluster (test/kafka/test_broker.c,
# on librdkafka's mock cluster) on loopback. Sets PGS_BROKERS (bootstrap
# address); pgs_broker CMD sends it a command (create TOPIC N, down ID,
# up ID). It stops with pgs_stop_broker.
# With PGS_BROKER_TXN=1 the broker is built on librdkafka 2.15's mock
# cluster, whose transactions read_committed consumers see as Kafka's do
# (test/kafka/build_broker.sh; built once per checkout, in test/kafka/build).
pgs_start_broker() {
	PGS_BROKER_DIR=$(mktemp -d /tmp/pg_stream_broker.XXXXXX)
	if [ -n "${PGS_BROKER_TXN:-}" ]; then
		pgs_log "building the test broker on librdkafka 2.15 (once per checkout)"
		PGS_BROKER_CFLAGS="${PGS_SANITIZE:+-g $PGS_SAN_COPT}" \
			bash "$PGS_ROOT/test/kafka/build_broker.sh" "$PGS_ROOT/test/kafka/build/test_broker"
		cp "$PGS_ROOT/test/kafka/build/test_broker" "$PGS_BROKER_DIR/test_broker"
	else
		gcc -O2 ${PGS_SANITIZE:+-g $PGS_SAN_COPT} -Wall -Wextra -Werror -o "$PGS_BROKER_DIR/test_broker" \
			"$PGS_ROOT/test/kafka/test_broker.c" -lrdkafka
	fi
	: >"$PGS_BROKER_DIR/cmds"
	tail -n +1 -f --pid=$$ "$PGS_BROKER_DIR/cmds" | "$PGS_BROKER_DIR/test_broker" "${1:-1}" \
		>"$PGS_BROKER_DIR/out" 2>"$PGS_BROKER_DIR/log" &
	PGS_BROKER_PID=$!
	local i=0
	until grep -q '^bootstrap ' "$PGS_BROKER_DIR/out"; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "test broker did not start" >&2; return 1; }
		sleep 0.1
	done
	PGS_BROKERS=$(awk '/^bootstrap /{print $2; exit}' "$PGS_BROKER_DIR/out")
	export PGS_BROKERS PGS_BROKER_DIR PGS_BROKER_PID
}

# pgs_broker COMMAND: wait for its answer, fail on an error
pgs_broker() {
	local before
	before=$(grep -c -E '^(ok|error)' "$PGS_BROKER_DIR/out" || true)
	echo "$*" >>"$PGS_BROKER_DIR/cmds"
	local i=0
	until [ "$(grep -c -E '^(ok|error)' "$PGS_BROKER_DIR/out" || true)" -gt "$before" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "test broker: no answer to $*" >&2; return 1; }
		sleep 0.05
	done
	! tail -1 "$PGS_BROKER_DIR/out" | grep -q '^error' || { tail -1 "$PGS_BROKER_DIR/out" >&2; return 1; }
}

pgs_stop_broker() {
	[ -n "${PGS_BROKER_DIR:-}" ] || return 0
	echo quit >>"$PGS_BROKER_DIR/cmds"
	kill "$PGS_BROKER_PID" 2>/dev/null || true
	pkill -f "$PGS_BROKER_DIR/" 2>/dev/null || true
	rm -rf "$PGS_BROKER_DIR"
}

# Benchmarks (test/bench/).
# pgs_result WORKLOAD VALUE UNIT [BASELINE BASELINE_VALUE]: one row of the
# table test/bench/run.sh prints (each benchmark also prints its own).
pgs_result() {
	echo "RESULT|$1|$2|$3|${4:-}|${5:-}"
}

# For the crash tests. pgs_wait_up N: the server accepts connections
# again (crash recovery) and N views have their workers running.
# pgs_pid_of TYPE [CONDITION]: a process of the server by backend type.
# pgs_batch_pid [VIEW]: a worker in the middle of a batch (of VIEW: its
# name in the worker's query; waits up to 6 s; empty if none).
pgs_wait_up() {
	local i=0
	until "$PG_BIN/pg_isready" -q -h "$PGS_DIR" -p "$PGS_PORT"; do
		i=$((i + 1)); [ $i -gt 600 ] && { echo "server did not come back"; exit 1; }
		sleep 0.1
	done
	pgs_wait_for "SELECT count(*) = $1 FROM stream.queries WHERE status = 'running'" 120
}
pgs_pid_of() {
	pgs_psql -At -c "SELECT pid FROM pg_stat_activity WHERE backend_type = '$1' ${2:-} LIMIT 1" 2>/dev/null
}
pgs_batch_pid() {
	local i pid=""
	for i in $(seq 1 300); do
		pid=$(pgs_pid_of 'pg_stream worker' "AND state = 'active' AND query LIKE 'pg_stream batch%${1:-}%'")
		[ -n "$pid" ] && break
		sleep 0.02
	done
	echo "$pid"
}

# The benchmarks of state (test/bench/state.sh, dedup.sh, session.sh): a
# server sized for a batch of millions of rows in one backend (parallel
# query off); pgs_wall SQL prints the wall-clock seconds SQL took (psql's
# own start is a few ms), pgs_rate N SECONDS the rate.
pgs_start_bench_cluster() {
	pgs_start_cluster "shared_buffers = 1GB" "max_wal_size = 4GB" "checkpoint_timeout = 30min" \
		"max_parallel_workers_per_gather = 0" "work_mem = 64MB" \
		"log_min_messages = warning" "$@"
}
pgs_wall() {
	local t0 t1
	t0=$(date +%s.%N)
	pgs_psql -q -c "$1" >/dev/null
	t1=$(date +%s.%N)
	python3 -c "print($t1 - $t0)"
}
pgs_rate() { python3 -c "print(f'{$1 / $2:.0f}')"; }

# pgs_timed SQL: run SQL in one backend; prints the wall-clock seconds it
# took and the CPU seconds the backend used meanwhile (all its threads,
# librdkafka's included), so a rate can be given per core.
pgs_timed() {
	local f
	f=$(mktemp /tmp/pgs_timed.XXXXXX)
	chmod 666 "$f"
	pgs_psql -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
SELECT pg_backend_pid() AS pid \gset
\setenv PGS_TIMED_PID :pid
\! { date +%s.%N; awk '{ print \$14 + \$15 }' /proc/\$PGS_TIMED_PID/stat; } >$f
$1;
\! { date +%s.%N; awk '{ print \$14 + \$15 }' /proc/\$PGS_TIMED_PID/stat; } >>$f
SQL
	awk -v hz="$(getconf CLK_TCK)" 'NR == 1 { t0 = $1 } NR == 2 { c0 = $1 } NR == 3 { t1 = $1 } NR == 4 { c1 = $1 }
		END { printf "%.3f %.3f\n", t1 - t0, (c1 - c0) / hz }' "$f"
	rm -f "$f"
}
