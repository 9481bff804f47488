#!/usr/bin/env bash
# The README's first command works: the demo runs, its views follow their
# streams, and it ends with both views running. (PGS_DEMO_STOP=1 makes it
# stop its server instead of leaving it up.)
set -euo pipefail
out=$(PGS_DEMO_STOP=1 bash "$(dirname "$0")/../demo.sh" 2>&1)
echo "$out" | tail -12
# the last status table: both views running, with input read
last=$(echo "$out" | grep -E '^ (ticks_per_second|events_by_kind) ' | tail -2)
grep -qE <<<"$last" '^ ticks_per_second +\| running +\| +[1-9]' || { echo "rate view not running"; exit 1; }
grep -qE <<<"$last" '^ events_by_kind +\| running +\| +[1-9][0-9]* +\| +[1-9]' || { echo "events view read nothing"; exit 1; }
