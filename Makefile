# pgvecrep — the two commands a user needs: `make demo` and `make test`.
GO       ?= go
BIN      := bin/pgvecrep
# The newer server the cross-version (upgrade) tests run against, built once
# per machine into /usr/local/pgvecrep/pg$(PG_EXTRA_MAJOR); empty skips it.
PG_EXTRA_MAJOR ?= 18

.PHONY: all build deps deps-demo demo test lint bench bench-quick bench-copy bench-apply fmt vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/pgvecrep

# deps installs what the tests need: the system's server, its headers,
# pgvector, and PostgreSQL $(PG_EXTRA_MAJOR) for the upgrade tests (a build of
# 3 to 20 minutes, once per machine). deps-demo installs only what the demo
# needs, so a new user's first `make demo` never builds a second server;
# `make deps` (or `pgvecrep demo --upgrade`'s hint) brings 18 when wanted.
deps:
	PG_EXTRA_MAJOR=$(PG_EXTRA_MAJOR) bash scripts/install-deps.sh

deps-demo:
	PG_EXTRA_MAJOR= bash scripts/install-deps.sh

demo: deps-demo build
	./$(BIN) demo

test: deps lint
	$(GO) test -race -count=1 -timeout 45m ./...

# lint is the static half of `make test`: gofmt, vet, and three linters
# pinned by go.mod's tool block (fetched from the Go module proxy on first
# use): staticcheck; errcheck on everything but _test.go files (a test's
# unchecked Close leaks nothing past the test process), its exceptions each
# with a reason in .errcheck-excludes; and deadcode, which counts code
# reached only from tests as used and fails on anything else it lists.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) tool errcheck -ignoretests -exclude .errcheck-excludes ./...
	@out=$$($(GO) tool deadcode -test ./...); \
	  if [ -n "$$out" ]; then echo "deadcode found unreachable functions:"; echo "$$out"; exit 1; fi

# The benchmark: five ways to the same target, side by side, results in
# bench/results/. The full run takes an hour or more; bench-quick a few
# minutes. bench-copy compares pgvecrep's copy with one psql binary COPY
# pipe per row shape. pgcopydb, for scenario 5, is fetched here only: the
# tests do not need it (without it the scenario is skipped and says why).
bench: deps build
	$(GO) run ./bench -bin $(BIN) -pgcopydb "$$(bash scripts/install-bench-deps.sh)" -copy-rate $(BENCHFLAGS)

bench-quick: deps build
	$(GO) run ./bench -quick -bin $(BIN) -pgcopydb "$$(bash scripts/install-bench-deps.sh)" -copy-rate $(BENCHFLAGS)

bench-copy: deps build
	$(GO) run ./bench -datasets "" -copy-rate -bin $(BIN) $(BENCHFLAGS)

# bench-apply measures the streaming phase instead of the copy: a 30 s
# pgbench insert load and a bulk re-embedding applied by the engine's one
# worker and by start_sync --apply-workers 1, 2 and 4, then one backlog
# applied with and without the target's HNSW index (about 15 minutes).
bench-apply: deps build
	$(GO) run ./bench -datasets "" -apply -bin $(BIN) $(BENCHFLAGS)

clean:
	rm -rf bin
