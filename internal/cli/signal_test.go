package cli

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

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

// startBigSync fills a table large enough that start_sync is still building
// its indexes when the test interrupts it, starts start_sync as a real
// process, and returns once an index build runs.
func startBigSync(t *testing.T, src, tgt pgtest.DB) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	out := &lockedBuffer{}
	return startBigSyncTo(t, src, tgt, out, out), out
}

// startBigSyncTo is startBigSync with the child's output going to w; out
// is what a failure prints.
func startBigSyncTo(t *testing.T, src, tgt pgtest.DB, w io.Writer, out *lockedBuffer) *exec.Cmd {
	t.Helper()
	table := `CREATE TABLE big (id bigint PRIMARY KEY, v vector(4), note text);`
	src.Exec(t, table)
	tgt.Exec(t, table+`CREATE INDEX big_v ON big USING hnsw (v vector_l2_ops); CREATE INDEX big_note ON big (note);`)
	src.Exec(t, `INSERT INTO big SELECT i, format('[%s,%s,%s,%s]', random(), random(), random(), random())::vector,
		md5(i::text) || repeat('x', 400) FROM generate_series(1, 80000) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "k")
	cmd := subprocess(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2")
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	// The copy of 36 MiB may be over in a fraction of a second; the HNSW
	// build that follows takes seconds, so the signal reliably lands there.
	waitFor(t, out, tgt, "SELECT count(*) FROM pg_stat_progress_create_index", "the index builds to start")
	return cmd
}

// waitFor polls probe on one connection to the target until it counts a
// row; it gives up after two minutes, which only a hung run reaches.
func waitFor(t *testing.T, out *lockedBuffer, tgt pgtest.DB, probe, what string) {
	t.Helper()
	conn := tgt.Conn(t)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int64
		if err := conn.QueryRow(context.Background(), probe).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s; output:\n%s", what, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
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

// TestInterruptStartSync sends one SIGINT while start_sync builds indexes: the run
// rolls back, says what it undoes, exits 130, and the group starts again.
func TestInterruptStartSync(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	cmd, out := startBigSync(t, src, tgt)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, cmd, out); code != interruptedCode {
		t.Errorf("exit code %d, want %d", code, interruptedCode)
	}
	for _, want := range []string{"interrupted (Ctrl-C); stopping and undoing", "interrupted (Ctrl-C); removing what it created",
		"dropped replication slot pgvecrep_k", "restored vector big_v", "pgvecrep: interrupted (Ctrl-C)\n",
		"hint: what this run created was removed and the target's indexes restored (see above); start again with: pgvecrep start_sync -g k"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "context canceled") {
		t.Errorf("output says Go's context canceled:\n%s", out.String())
	}
	pgtest.AssertNoReplication(t, src, tgt)
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pgvecrep.groups WHERE phase = 'failed' AND last_error = 'interrupted'"); n != 1 {
		t.Error("group not recorded as failed with 'interrupted'")
	}

	rerun(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2")
	if a, b := tableSum(t, src), tableSum(t, tgt); a != b {
		t.Errorf("after restart: source %s, target %s", a, b)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "k")
	pgtest.AssertNoReplication(t, src, tgt)
}

// TestSecondInterrupt sends a second SIGINT while the rollback waits for a
// lock the test holds on the target: pgvecrep quits at once, says what may
// be left and how to remove it, and cleanup then removes it.
func TestSecondInterrupt(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	cmd, out := startBigSync(t, src, tgt)

	// The rollback empties the partly copied table; an open transaction
	// holding a share lock on it makes that wait, without blocking the copy.
	ctx := context.Background()
	blocker := tgt.Conn(t)
	tx, err := blocker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE big IN ACCESS SHARE MODE"); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, out, tgt, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND wait_event_type = 'Lock' AND query LIKE 'TRUNCATE%'`, "the rollback to wait for the table lock")
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, cmd, out); code != interruptedCode {
		t.Errorf("exit code %d, want %d", code, interruptedCode)
	}
	for _, want := range []string{"removing what it created", "interrupted again (Ctrl-C)", "replication slot pgvecrep_k",
		"pgvecrep cleanup -g k"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	rerun(t, src, tgt, "cleanup", "-g", "k")
	pgtest.AssertNoReplication(t, src, tgt)
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_indexes WHERE tablename = 'big' AND indexname IN ('big_v', 'big_note', 'big_pkey')"); n != 3 {
		t.Errorf("after cleanup the target has %d of big's 3 indexes", n)
	}
}
