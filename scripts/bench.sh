#!/usr/bin/env bash
# Benchmarks in a release build, measured side by side in one run; results go to reports/bench/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build -c release --show-bin-path)
swift build -c release --product fleetstrap-bench >/dev/null
# Options given first win (the benchmark reads the first of each): a --out given here replaces the default.
"$bin/fleetstrap-bench" "$@" --out=reports/bench
