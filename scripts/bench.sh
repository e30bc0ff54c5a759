#!/usr/bin/env bash
# Benchmarks, measured side by side in one run; results go to reports/bench/*.json.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p reports/bench
echo "No benchmarks yet: later issues add the SigV4, manifest, report and fleet benchmarks here."
