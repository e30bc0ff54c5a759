#!/bin/sh
# make lint: swift-format's rules (.swift-format) over Sources, Tests and Package.swift, warnings as errors; then
# what the formatter leaves alone: lines over 120 columns (string literals, comments; counted in UTF-8 bytes, so an
# arrow or an ellipsis counts three) and source files over 450 lines.
set -eu
cd "$(dirname "$0")/.."
swift format lint --strict --parallel -r Sources Tests Package.swift
python3 - <<'PY'
import pathlib, sys
problems = []
for path in sorted(pathlib.Path(".").glob("[ST]*/**/*.swift")) + [pathlib.Path("Package.swift")]:
    lines = path.read_text(encoding="utf-8").split("\n")
    for number, line in enumerate(lines, 1):
        width = len(line.encode("utf-8"))
        if width > 120:
            problems.append(f"{path}:{number}:121: line is {width} bytes, over 120")
    if path.parts[0] == "Sources" and len(lines) > 450:
        problems.append(f"{path}:1:1: {len(lines)} lines, over 450: split it by what each part does")
for problem in problems:
    print(problem, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
