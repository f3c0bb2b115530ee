package pgtest

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// CLI is pgvecrep's in-process entry point, cli.RunEnv: pgtest cannot import
// cli (cli's own tests import pgtest), so callers pass it in.
type CLI func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int

// CLIResult is what one in-process run of pgvecrep returned and printed.
type CLIResult struct {
	Code           int
	Stdout, Stderr string
}

// cliTimeout bounds one command: the longest, start_sync over a test's
// data, ends in well under a minute; a hung one fails the test instead of
// the whole package's run.
const cliTimeout = 5 * time.Minute

// RunCLI runs pgvecrep in-process, as a user's shell would run it with
// vars as its whole environment (SOURCE_DB_URL, TARGET_DB_URL, ...), and
// logs the command line and what it printed (shown with -v or when the
// test fails). It and RunCLITo are the tests' one way to run a command
// in-process; ctx may carry a cancel of the caller's (Ctrl-C's stand-in).
func RunCLI(ctx context.Context, t testing.TB, run CLI, vars map[string]string, args ...string) CLIResult {
	t.Helper()
	var out, errb bytes.Buffer
	start := time.Now()
	code := RunCLITo(ctx, run, &out, &errb, vars, args...)
	r := CLIResult{Code: code, Stdout: out.String(), Stderr: errb.String()}
	t.Logf("pgvecrep %s -> exit %d in %s\n%s%s", strings.Join(args, " "), code,
		time.Since(start).Round(time.Millisecond), r.Stdout, r.Stderr)
	return r
}

// RunCLITo is RunCLI for a command whose output the test reads while it
// runs (a terminal, a buffer another goroutine watches): it writes to
// stdout and stderr as it goes and returns the exit code. It logs nothing,
// so a goroutine may run it.
func RunCLITo(ctx context.Context, run CLI, stdout, stderr io.Writer, vars map[string]string, args ...string) int {
	ctx, cancel := context.WithTimeout(ctx, cliTimeout)
	defer cancel()
	return run(ctx, args, stdout, stderr, func(k string) string { return vars[k] })
}

// URLs is the environment that points pgvecrep at src and tgt.
func URLs(src, tgt DB) map[string]string {
	return map[string]string{"SOURCE_DB_URL": src.URL, "TARGET_DB_URL": tgt.URL}
}
