# pgvecrep — the two commands a user needs: `make demo` and `make test`.
GO       ?= go
BIN      := bin/pgvecrep
export PGVECREP_REQUIRE_PG ?= 1
# The newer server the cross-version (upgrade) tests run against, built once
# per machine into /usr/local/pgvecrep/pg$(PG_EXTRA_MAJOR); empty skips it.
PG_EXTRA_MAJOR ?= 18

.PHONY: all build deps demo test bench bench-quick bench-copy fmt vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/pgvecrep

deps:
	PG_EXTRA_MAJOR=$(PG_EXTRA_MAJOR) bash scripts/install-deps.sh

demo: deps build
	./$(BIN) demo

test: deps
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 45m ./...

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

clean:
	rm -rf bin
