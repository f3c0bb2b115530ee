// Package testenv decides, in one place, what a test does when something it
// needs from the machine is missing: PostgreSQL's binaries, pgvector, the
// newer server of the upgrade tests, pg_dump, a pseudo-terminal.
//
// By default the test fails. A suite that skipped two thirds of itself still
// printed "ok", and `go test` hides a passing package's output, so a skip
// there is silent: only a failure is loud enough. PGVECREP_REQUIRE_PG=0 is
// the explicit opt-out, for a machine that cannot run clusters: the tests
// skip instead, each naming what is missing, and [Main] prints the count
// (seen with -v, or when one package is tested on its own).
//
// testenv imports nothing of pgvecrep's, so every package's tests can use
// it, localpg's own included.
package testenv

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
)

// OptOut is the environment variable that, set to 0, lets tests skip when
// the machine lacks what they need.
const OptOut = "PGVECREP_REQUIRE_PG"

// Required reports whether a missing prerequisite fails the test (the
// default) rather than skipping it.
func Required() bool { return os.Getenv(OptOut) != "0" }

var (
	skipped atomic.Int64
	mu      sync.Mutex
	reason  string
)

// Need fails t when err is not nil, saying that what is missing and how to
// opt out; under the opt-out it skips t instead and counts the skip.
func Need(t testing.TB, what string, err error) {
	if err == nil {
		return
	}
	t.Helper()
	msg := fmt.Sprintf("%s: %v", what, err)
	if Required() {
		t.Fatalf("%s\n(run scripts/install-deps.sh, or set %s=0 to skip such tests)", msg, OptOut)
		return
	}
	Skip(t, msg)
}

// Skip skips t under the opt-out, counting the skip for [Main]'s summary.
// Callers that have already decided a skip is allowed use it directly.
func Skip(t testing.TB, msg string) {
	t.Helper()
	skipped.Add(1)
	mu.Lock()
	if reason == "" {
		reason = msg
	}
	mu.Unlock()
	t.Skip("skipping: " + msg)
}

// Main runs the package's tests and then prints one line with the number of
// tests skipped and the first reason, so a skip is never silent.
func Main(m *testing.M) int {
	code := m.Run()
	Summary()
	return code
}

// Summary prints the skip count line, if there were skips.
func Summary() {
	if n := skipped.Load(); n > 0 {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stderr, "testenv: %d test(s) SKIPPED (%s=0): %s\n", n, OptOut, reason)
	}
}
