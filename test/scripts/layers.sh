#!/usr/bin/env bash
# The units of pg_stream depend on each other in one direction only: a
# check of the built objects' symbols (test/tools/layers.py).
source "$(dirname "$0")/../lib.sh"
pgs_build
python3 "$PGS_ROOT/test/tools/layers.py" "$PGS_ROOT"
