#!/usr/bin/env bash
# build_broker.sh OUT: the test broker (test_broker.c) on librdkafka 2.15's
# mock cluster, written to OUT.
#
# Debian 12's librdkafka is 2.0.2, whose mock cluster hands read_committed
# consumers the messages of aborted and open transactions. 2.15's mock
# keeps transactions' states, aborted ranges and a last stable offset per
# partition, but its Fetch did not use them either; its source comes in
# the npm package @confluentinc/kafka-javascript (deps/librdkafka),
# pinned in package.json here and installed without running its build.
# mock.patch adds, where the mock lacked Kafka's behaviour:
# - Fetch for read_committed: no batch at or past the last stable offset,
#   and the batch's aborted transactions, so the consumer drops them;
# - InitProducerId aborts the transaction a fenced producer left open,
#   as Kafka's coordinator does (2.15's left it open, and the next commit
#   of that id committed it too);
# - ListOffsets by timestamp: the first offset at or after it (2.15's
#   answered -1).
# Only the static library is built (no TLS, SASL or
# compression libraries: the tests need none), once per checkout: OUT is
# kept while test_broker.c and the package's version stay the same. The
# extension and kcat keep Debian's librdkafka: only the broker is 2.15.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out=$1
build="$here/build"
stamp="$(sha1sum "$here/test_broker.c" "$here/package-lock.json" "$here/mock.patch" |
	sha1sum | cut -c1-16)"
[ -x "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$stamp" ] && exit 0

if [ ! -d "$here/node_modules/@confluentinc/kafka-javascript/deps/librdkafka" ]; then
	(cd "$here" && npm ci --ignore-scripts --no-audit --no-fund >/dev/null)
fi
src="$here/node_modules/@confluentinc/kafka-javascript/deps/librdkafka"
if [ ! -f "$build/librdkafka/src/librdkafka.a" ] || [ "$(cat "$build/lib.stamp" 2>/dev/null)" != "$stamp" ]; then
	rm -rf "$build"
	mkdir -p "$build"
	cp -a "$src" "$build/librdkafka"
	patch -s -d "$build/librdkafka" -p1 <"$here/mock.patch"
	(cd "$build/librdkafka" &&
		./configure --disable-ssl --disable-gssapi --disable-sasl --disable-zstd \
			--disable-lz4-ext --disable-curl --disable-regex-ext >"$build/configure.log" 2>&1 &&
		make -C src -j"$(nproc)" librdkafka.a >"$build/make.log" 2>&1) ||
		{ tail -20 "$build/configure.log" "$build/make.log" >&2; exit 1; }
	echo "$stamp" >"$build/lib.stamp"
fi
# its own headers, where test_broker.c includes them from
mkdir -p "$build/include/librdkafka"
cp "$build/librdkafka/src/rdkafka.h" "$build/librdkafka/src/rdkafka_mock.h" "$build/include/librdkafka/"
gcc -O2 -Wall -Wextra -Werror ${PGS_BROKER_CFLAGS:-} -isystem "$build/include" -o "$out" "$here/test_broker.c" \
	"$build/librdkafka/src/librdkafka.a" -lm -lz -ldl -lpthread -lrt
echo "$stamp" >"$out.stamp"
