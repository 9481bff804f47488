#!/usr/bin/env bash
# PostgreSQL's code style in src/: the rules of pgindent's output that a
# script can check exactly (test/tools/style.py).
set -euo pipefail
python3 "$(dirname "$0")/../tools/style.py" "$(dirname "$0")/../.."
