# TwinFlow: `make demo` runs the demo, `make test` runs every test (what CI runs).
GO ?= go
BIN := $(CURDIR)/.bin

.PHONY: demo test build vet fmtcheck unit bench fuzz fuzz-ci torture clean

# The demo keeps its state in .bin/demo.db (so `twinflow ledger verify --db
# file:.bin/demo.db` works from the repository root) and starts fresh every time.
demo: build
	rm -f $(BIN)/demo.db $(BIN)/demo.db-wal $(BIN)/demo.db-shm
	$(BIN)/twinflow serve --demo --db file:$(BIN)/demo.db

build:
	$(GO) build -o $(BIN)/ ./cmd/...

vet:
	$(GO) vet ./...

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# test: installs and starts what the tests need (.ci/setup), then runs vet, gofmt and
# every test with the race detector (saved fuzz crashers replay as ordinary tests), then
# a bounded fuzzing run. Integration tests are required, not optional, here.
test: build vet fmtcheck
	@eval "$$(.ci/setup)"; \
	export TWINFLOW_BIN=$(BIN) TWINFLOW_REQUIRE_INTEGRATION=1; \
	$(GO) test -race -count=1 -timeout 40m ./...
	@$(MAKE) --no-print-directory fuzz-ci

# fuzz-ci: every fuzz target for a few seconds each (4-6 minutes in all on 2 cores; see
# .ci/fuzz). fuzz: the same, a minute each.
fuzz-ci:
	@GO=$(GO) FUZZTIME=$${FUZZTIME:-2s} .ci/fuzz

fuzz:
	@GO=$(GO) FUZZTIME=$${FUZZTIME:-60s} .ci/fuzz

# unit: the fast tests only (no setup, integration tests skip).
unit:
	$(GO) test -count=1 ./...

# torture: the fault-injection harness (labs/torture, docs/reliability.md): TRIALS seeded
# trials (trial i runs seed SEED+i) of random commits with random faults, invariants
# checked after each. `make test` runs 30 of them (seed 1); a failing trial prints its
# replay command (make torture TRIALS=1 SEED=...). Needs root for the disk-full fault.
# PARALLEL=N runs N independent labs side by side; TORTURE_MAX_DURATION=30m (environment)
# starts no trial after that; TORTURE_OUT=FILE keeps the JSON summary; TORTURE_SEEDS=177,186
# runs those seeds in that order (one worker's sequence) instead of SEED..SEED+TRIALS-1.
TRIALS ?= 100
SEED ?= 1
PARALLEL ?= 1
torture: build
	@eval "$$(.ci/setup)"; \
	export TWINFLOW_BIN=$(BIN) TWINFLOW_REQUIRE_INTEGRATION=1 TORTURE_TRIALS=$(TRIALS) TORTURE_SEED=$(SEED) TORTURE_PARALLEL=$(PARALLEL); \
	$(GO) test -count=1 -timeout 0 -run '^TestTorture$$' -v ./labs/torture/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf $(BIN)
