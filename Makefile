# fleetstrap: the two commands a newcomer needs (`make demo`, `make test`) and the benchmarks (`make bench`).
SWIFT ?= swift
SWIFT_BUILD_FLAGS ?=

.PHONY: deps build release demo lint test test-faults bench fuzz clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build $(SWIFT_BUILD_FLAGS)

release: deps
	$(SWIFT) build -c release $(SWIFT_BUILD_FLAGS)

## The main job: build, start the lab, bootstrap its fleet of 30 clusters, rotate, audit, report (scripts/demo.sh).
demo: build
	@scripts/demo.sh

## swift-format's rules (.swift-format), no line over 120 columns, no source file over 450 lines (scripts/lint.sh).
lint:
	@scripts/lint.sh

## Everything CI checks: install what is missing, lint, build, run the whole test suite.
test: deps lint
	$(SWIFT) build --build-tests $(SWIFT_BUILD_FLAGS)
	$(SWIFT) test --skip-build $(SWIFT_BUILD_FLAGS)

## The fault, crash and concurrency campaigns alone (also part of `make test`, the concurrency one with 4 rounds a pair
## there, 20 here): prints the table of faults survived and the campaign's seed.
test-faults: deps
	$(SWIFT) build --build-tests $(SWIFT_BUILD_FLAGS)
	FLEETSTRAP_CAMPAIGN_ROUNDS=20 $(SWIFT) test --skip-build $(SWIFT_BUILD_FLAGS) \
		--filter "FaultCampaignTests|CrashCampaignTests|ConcurrencyCampaignTests"

## Benchmarks in release builds (built by the script, within the time it reports); results printed and written as JSON
## to reports/bench/.
bench: deps
	@scripts/bench.sh

## libFuzzer over the parsers of untrusted input for FUZZ_SECONDS (default 300); see scripts/fuzz.sh.
fuzz: deps
	@scripts/fuzz.sh

clean:
	$(SWIFT) package clean
