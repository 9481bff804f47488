# pg_stream: continuous queries over streams, inside PostgreSQL (PGXS)

EXTENSION = pg_stream
MODULE_big = pg_stream
DATA = pg_stream--0.1.sql pg_stream--0.2.sql pg_stream--0.1--0.2.sql
PGFILEDESC = "pg_stream - continuous queries over streams"

OBJS = \
	src/pg_stream.o \
	src/base/roles.o \
	src/base/guc.o \
	src/base/util.o \
	src/base/batchrun.o \
	src/meta/meta.o \
	src/ddl.o \
	src/bgw/shmem.o \
	src/bgw/launcher.o \
	src/bgw/manager.o \
	src/bgw/worker.o \
	src/engine/options.o \
	src/engine/analyze.o \
	src/engine/eventtime.o \
	src/engine/join_analyze.o \
	src/engine/join.o \
	src/engine/aggstate.o \
	src/engine/listagg.o \
	src/engine/merge.o \
	src/engine/dedup.o \
	src/engine/stage.o \
	src/engine/reagg.o \
	src/engine/reagg_delta.o \
	src/engine/stage_side.o \
	src/engine/union.o \
	src/engine/chain.o \
	src/engine/parallel.o \
	src/engine/batch.o \
	src/engine/progress.o \
	src/engine/windows.o \
	src/engine/session.o \
	src/engine/retention.o \
	src/sources/source.o \
	src/sources/stream.o \
	src/sources/rate.o \
	src/sources/kafka/conf.o \
	src/sources/kafka/reader.o \
	src/sources/kafka/share.o \
	src/sources/kafka/producer.o \
	src/sources/kafka/outbox.o \
	src/sources/kafka/import.o \
	src/sources/kafka/registry.o \
	src/sources/file/fdw.o \
	src/sources/file/dir.o \
	src/sources/file/position.o \
	src/sources/file/read.o \
	src/sources/file/write.o \
	src/sources/file/import.o \
	src/sources/socket.o \
	src/formats/tuple.o \
	src/formats/decode.o \
	src/formats/encode.o \
	src/formats/infer.o \
	src/formats/thrift.o \
	src/formats/parquet.o \
	src/formats/avro.o \
	src/engine/store.o \
	src/sinks/sink.o

# The library's version is the extension's (pg_stream.control): it
# refuses to touch the objects of another version (base/util.c).
PGS_VERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(dir $(lastword $(MAKEFILE_LIST)))pg_stream.control)
PG_CPPFLAGS = -I$(srcdir)/src -DPGS_VERSION='"$(PGS_VERSION)"'
# make ASSERTS=1: an assert-enabled build (the tests use it). It runs on
# PostgreSQL's ordinary packages: the Asserts call ExceptionalCondition,
# which every server has.
ifeq ($(ASSERTS),1)
PG_CPPFLAGS += -DUSE_ASSERT_CHECKING
endif
SHLIB_LINK = -lrdkafka -lavro -lcurl -lsnappy -lzstd -lz
# Warnings are errors. PostgreSQL's own headers trip -Wextra's
# unused-parameter, sign-compare and missing-field-initializers checks,
# and PG_TRY trips -Wclobbered, so those are left out.
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers -Wno-clobbered

# pg_regress against a temporary instance with the library preloaded.
REGRESS = setup options kafka_options streams views aggregates state listagg dedup queries failures monitoring dashboard roles sinks eventtime session retention joins join_probe njoin njoin_outer njoin_full njoin_full2 chain agg_agg agg_agg_edge agg_join agg_join_chunks agg_join_cols combo parquet union chain_views parallel combined
REGRESS_OPTS = --temp-config=$(srcdir)/test/pg_stream.conf \
	--temp-instance=./tmp_check

# (before PGXS, which reads it when it is included)
EXTRA_CLEAN = $(OBJS:.o=.d) .build-flags

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Each object depends on the headers it includes, as the compiler lists
# them (-MMD): a change to one unit's header rebuilds only its users. In
# CFLAGS, which the bitcode compile (clang, for JIT) does not use: with
# -MMD it wrote the same .d file, naming the .bc, so a header change no
# longer rebuilt the objects.
override CFLAGS += -MMD -MP
-include $(OBJS:.o=.d)
# ... and on the flags they were built with (ASSERTS=1 or not)
BUILD_FLAGS := $(PG_CPPFLAGS) $(PG_CFLAGS)
ifneq ($(BUILD_FLAGS),$(shell cat .build-flags 2>/dev/null))
$(shell echo '$(BUILD_FLAGS)' > .build-flags)
endif
$(OBJS): .build-flags
