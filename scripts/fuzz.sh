#!/usr/bin/env bash
# libFuzzer over fleetstrap's parsers of untrusted input (Sources/fleetstrap-fuzz): the inventory's YAML front end, AWS
# XML, JSON and error bodies, credential documents, Kubernetes Status errors, timestamps. FUZZ_SECONDS (default 300)
# in all. The working corpus grows in .build-fuzz/corpus from Tests/Fuzz/seeds; a crash is written to .build-fuzz/crashes.
# Keep each one found in Tests/Fuzz/crashes, where the tests replay it, once it is fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-300}
# SwiftPM links with gold, which fails on libFuzzer's runtime here; the toolchain's lld does not.
flags=(--build-path .build-fuzz --product fleetstrap-fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xswiftc -use-ld=lld)
if ! swift build "${flags[@]}"; then
    echo "fuzz: this toolchain cannot build with -sanitize=fuzzer; the corpus replay in the tests still runs" >&2
    exit 3
fi
bin=$(swift build "${flags[@]}" --show-bin-path)/fleetstrap-fuzz
mkdir -p .build-fuzz/corpus .build-fuzz/crashes
cp -n Tests/Fuzz/seeds/* Tests/Fuzz/crashes/* .build-fuzz/corpus/ 2>/dev/null || true
export SWIFT_BACKTRACE=enable=no
"$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix=.build-fuzz/crashes/ .build-fuzz/corpus
echo "fuzz: no crash in ${seconds}s; corpus: $(ls .build-fuzz/corpus | wc -l) inputs in .build-fuzz/corpus"
