# tlog — two commands for a new machine:
#   make run    a working log on 127.0.0.1:8080, data in ./data
#   make test   the whole test suite (what CI runs)
GO ?= go
PYTHON ?= python3
BIN := bin

.PHONY: browser install run test test-python bench build fmt vet race clean crash-test soak fuzz vectors

# -buildvcs=auto stamps the git revision into the binaries (tlog version)
# even where GOFLAGS turns it off.
build:
	$(GO) build -buildvcs=auto -o $(BIN)/tlog ./cmd/tlog
	$(GO) build -buildvcs=auto -o $(BIN)/witness ./cmd/witness

# Install both commands into $(GOBIN) (or $(GOPATH)/bin).
install:
	$(GO) install -buildvcs=auto ./cmd/tlog ./cmd/witness

run: build
	$(BIN)/tlog serve

# gofmt and vet, every test, then the race detector over the packages with
# concurrency (the log's sequencer, its HTTP surface, the client, the
# monitor), and the Python SDK's tests against a real tlog serve.
TEST_ENV := TESSERA_POSIX=$(CURDIR)/$(BIN)/tessera-posix TLOG_MINIO=$(CURDIR)/$(BIN)/minio

test: fmt vet browser $(BIN)/tessera-posix $(BIN)/minio
	$(TEST_ENV) $(GO) test -count=1 ./...
	$(TEST_ENV) $(GO) test -count=1 -race ./log/ ./api/ ./witness/ ./client/ ./monitor/ ./mirror/ ./publish/ ./internal/...
	$(MAKE) test-python

# The explorer's test drives a real headless Chromium (Debian's chromium):
# installed here with apt-get when missing and we may (root), else the
# command to run is printed. TLOG_SKIP_BROWSER=1 skips the browser test
# outside CI (it then says so); with CI set it fails without a browser.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "$$TLOG_BROWSER" ] || [ "$$TLOG_SKIP_BROWSER" = 1 ] || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium for the explorer's browser test (apt-get)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "the explorer's browser test needs Chromium: sudo apt-get install chromium (or set TLOG_BROWSER=/path/to/chrome, or TLOG_SKIP_BROWSER=1 to skip it)"; exit 1; \
	fi

# Tessera's POSIX conformance server, for the mirror's test against a
# Tessera log (mirror.TestTesseraPOSIX); built from the module proxy,
# outside this module.
TESSERA_VERSION := v1.0.4
$(BIN)/tessera-posix:
	@mkdir -p $(BIN)
	GOBIN=$(CURDIR)/$(BIN)/.tessera $(GO) install github.com/transparency-dev/tessera/cmd/conformance/posix@$(TESSERA_VERSION)
	mv $(BIN)/.tessera/posix $@ && rmdir $(BIN)/.tessera

# A real MinIO server for the S3 publishing tests (publish/, tlog serve
# --publish); built from the module proxy, outside this module, and kept.
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
$(BIN)/minio:
	@mkdir -p $(BIN)
	GOBIN=$(CURDIR)/$(BIN)/.minio $(GO) install github.com/minio/minio@$(MINIO_VERSION)
	mv $(BIN)/.minio/minio $@ && rmdir $(BIN)/.minio

# The Python SDK's tests (clients/python), with the standard library and
# cryptography (pip install cryptography, or Debian's python3-cryptography),
# against the tlog binary built here.
test-python: build
	$(GO) build -o $(BIN)/testsigstore ./internal/tools/testsigstore
	@$(PYTHON) -c 'import cryptography' 2>/dev/null || { echo "the Python SDK needs cryptography: $(PYTHON) -m pip install cryptography (or apt-get install python3-cryptography)"; exit 1; }
	cd clients/python && TLOG_BIN=$(CURDIR)/$(BIN)/tlog WITNESS_BIN=$(CURDIR)/$(BIN)/witness TESTSIGSTORE_BIN=$(CURDIR)/$(BIN)/testsigstore $(PYTHON) -m unittest discover -s tests -t .

# Regenerate the cross-language test vectors (testdata/vectors).
vectors:
	$(GO) run ./internal/tools/genvectors -out testdata/vectors

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Go benchmarks (not run by make test): Add throughput, tile reads, proofs,
# bulk decision records through the API handler, tlog monitor's reading.
bench:
	$(GO) test -run '^$$' -bench . -benchtime 2s ./log/ ./proofs/
	$(GO) test -run '^$$' -bench 'DecisionsBulk|AccessBulk' -benchtime 400000x ./api/
	$(GO) test -run '^$$' -bench MonitorPass -benchtime 3x ./monitor/

# Every fuzz target of the repository, one after another, FUZZTIME each
# (make fuzz FUZZTIME=5s in CI). Targets are found by name in the test
# files, so new ones run without editing this.
FUZZTIME ?= 30s
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do \
		dir=$$(dirname $$f); \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "$(GO) test -run '^\$$' -fuzz '^$$t\$$' -fuzztime $(FUZZTIME) $$dir/"; \
			$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) $$dir/; \
		done; \
	done

# 50 kill -9 of a witnessed log under concurrent writes, witnessing and
# reads; every acknowledged entry and every checkpoint seen checked after
# each restart, fsck at the end (not run by make test, which runs 3).
crash-test:
	TLOG_CRASH_ROUNDS=50 $(GO) test -count=1 -run TestCrashRounds -v -timeout 30m ./cmd/tlog/

# Mixed load against one tlog serve for DURATION, RSS sampled every 10 s,
# 0 errors allowed (make test runs it for 3 s).
DURATION ?= 10m
soak:
	TLOG_SOAK_DURATION=$(DURATION) $(GO) test -count=1 -run TestSoak -v -timeout 0 ./cmd/tlog/

clean:
	rm -rf $(BIN)
