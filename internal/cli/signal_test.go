package cli

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

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
	// The rollback emptied the copied table: stats says it waits for the
	// next start_sync, not that a copy is under way.
	st := readStats(t, src, tgt, "-g", "k")
	if len(st.Pgvecrep.Tables) != 1 || st.Pgvecrep.Tables[0].State != "pending" {
		t.Errorf("stats after the interrupt: tables %+v, want big pending", st.Pgvecrep.Tables)
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
