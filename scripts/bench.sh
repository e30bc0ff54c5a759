#!/usr/bin/env bash
# Benchmarks in a release build, measured side by side in one run; results go to reports/bench/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
swift build -c release
bin=$(swift build -c release --show-bin-path)
# Options given first win (the benchmark reads the first of each): a --out given here replaces the default.
"$bin/fleetstrap-bench" "$@" --out=reports/bench
elapsed=$((SECONDS - started))
echo "make bench: $((elapsed / 60)) min $((elapsed % 60)) s in all, the release build included"
