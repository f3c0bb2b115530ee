package cli

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// The helpers below run pgvecrep as a real process, for the tests that
// kill it, interrupt it or give it a pseudo-terminal: a signal or a
// terminal needs a process of its own.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds bin/pgvecrep once per test run.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pgvecrep-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "pgvecrep")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/pgvecrep").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build pgvecrep: %v", buildErr)
	}
	return binPath
}

func subprocess(t *testing.T, src, tgt pgtest.DB, args ...string) *exec.Cmd {
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "SOURCE_DB_URL="+src.URL, "TARGET_DB_URL="+tgt.URL)
	return cmd
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bigTable is big, whose 80,000 rows (36 MiB) copy in about a second and
// whose HNSW index takes seconds to build: long enough for a test to send
// a signal during either. The target has big's indexes, which start_sync
// drops and builds again after the copy.
const (
	bigTable   = `CREATE TABLE big (id bigint PRIMARY KEY, v vector(4), note text);`
	bigIndexes = `CREATE INDEX big_v ON big USING hnsw (v vector_l2_ops); CREATE INDEX big_note ON big (note);`
)

// vectorRows fills table (id, v vector(4), note) with 80,000 random rows.
func vectorRows(table string) string {
	return `INSERT INTO ` + table + ` SELECT i, format('[%s,%s,%s,%s]', random(), random(), random(), random())::vector,
		md5(i::text) || repeat('x', 400) FROM generate_series(1, 80000) i`
}

// fillBig creates big on both sides, its indexes on the target, and its
// rows on the source.
func fillBig(t *testing.T, src, tgt pgtest.DB) {
	t.Helper()
	src.Exec(t, bigTable)
	tgt.Exec(t, bigTable+bigIndexes)
	src.Exec(t, vectorRows("big"))
}

// startSync bootstraps group k and starts `start_sync -g k --jobs 2` as a
// real process with its output going to w; the process is killed when the
// test ends, if it still runs.
func startSync(t *testing.T, src, tgt pgtest.DB, w io.Writer) *exec.Cmd {
	t.Helper()
	mustRun(t, src, tgt, "bootstrap", "-g", "k")
	cmd := subprocess(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd
}

// startBigSync fills big and starts start_sync on it, returning once an
// index build runs.
func startBigSync(t *testing.T, src, tgt pgtest.DB) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	out := &lockedBuffer{}
	return startBigSyncTo(t, src, tgt, out, out), out
}

// startBigSyncTo is startBigSync with the child's output going to w; out
// is what a failure prints.
func startBigSyncTo(t *testing.T, src, tgt pgtest.DB, w io.Writer, out *lockedBuffer) *exec.Cmd {
	t.Helper()
	fillBig(t, src, tgt)
	cmd := startSync(t, src, tgt, w)
	// The copy of 36 MiB may be over in a fraction of a second; the HNSW
	// build that follows takes seconds, so the signal reliably lands there.
	// The progress views are the whole cluster's: an earlier test's build
	// (a backend whose pgvecrep was killed goes on building) must not count,
	// nor the index of a table pgvecrep makes for itself (a metadata
	// table's primary key is a build too).
	waitFor(t, out, tgt, bigBuildProbe, "the index builds to start")
	return cmd
}

// bigBuildProbe fires while an index on table big is being built in the
// test's database.
const bigBuildProbe = `SELECT count(*) FROM pg_stat_progress_create_index
WHERE datname = current_database() AND relid = 'big'::regclass`

// waitFor waits until probe, run on one connection to the target, counts a
// row; a failure shows what the run printed so far.
func waitFor(t *testing.T, out *lockedBuffer, tgt pgtest.DB, probe, what string) {
	t.Helper()
	conn := tgt.Conn(t)
	defer func() { // runs on t.Fatal too
		if t.Failed() {
			t.Logf("pgvecrep's output so far:\n%s", out.String())
		}
	}()
	pgtest.WaitFor(t, what, func() bool {
		var n int64
		if err := conn.QueryRow(context.Background(), probe).Scan(&n); err != nil {
			t.Fatalf("probe for %s: %v", what, err)
		}
		return n > 0
	})
}

// killWhen sends SIGKILL as soon as probe (run on the target) counts a row.
func killWhen(t *testing.T, cmd *exec.Cmd, tgt pgtest.DB, probe string, out *lockedBuffer) {
	t.Helper()
	waitFor(t, out, tgt, probe, "the probe to fire")
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// exitCode waits for cmd and returns its exit code.
func exitCode(t *testing.T, cmd *exec.Cmd, out *lockedBuffer) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(2 * time.Minute):
		t.Fatalf("pgvecrep did not exit after the interrupt; output:\n%s", out.String())
		return -1
	}
}

// rerun runs a command, retrying while the killed process's session still
// holds the group's lock on the server.
func rerun(t *testing.T, src, tgt pgtest.DB, args ...string) cliResult {
	t.Helper()
	// Every attempt's output is kept: an attempt that cleaned the broken
	// group and then met a lock the killed run's backend still held (its
	// index build goes on after the kill) said so, and the next attempt
	// has nothing left to clean.
	var r cliResult
	var said strings.Builder
	pgtest.WaitFor(t, "the killed process's lock to go", func() bool {
		r = pgvecrep(t, src, tgt, args...)
		said.WriteString(r.stdout)
		if r.code != 0 && !strings.Contains(r.stderr, "another pgvecrep") {
			t.Fatalf("pgvecrep %s exited %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		return r.code == 0
	})
	r.stdout = said.String()
	return r
}

// tableSum is a checksum of big's rows in id order.
func tableSum(t *testing.T, db pgtest.DB) string {
	t.Helper()
	return db.QueryStrings(t, `SELECT count(*)::text || ':' || md5(string_agg(id::text || v::text || note, ',' ORDER BY id)) FROM big`)[0]
}
