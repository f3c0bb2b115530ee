package switchover

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestFreezeRetryCodes pins what Freeze tries again for: only a table lock
// not granted within the lock timeout (55P03). A frozen or missing table,
// a deadlock or a privilege error is reported at once.
func TestFreezeRetryCodes(t *testing.T) {
	pgtest.Retries(t, freezeRetry.Retryable, map[string]bool{"55P03": true, "40P01": false, "25006": false, "42P01": false, "42501": false})
	if freezeRetry.Attempts != 5 || freezeRetry.Pause <= 0 {
		t.Errorf("policy %+v, want 5 attempts with a pause", freezeRetry)
	}
}

// lockedTable makes table a on a fresh source database, a role whose
// sessions Freeze would end, and a transaction of another role holding an
// ACCESS EXCLUSIVE lock on a (rolled back at the end of the test).
func lockedTable(t *testing.T) (src pgtest.DB, role string, tx pgx.Tx) {
	t.Helper()
	env := pgtest.Get(t)
	src, _ = env.Pair(t)
	ctx := context.Background()
	role = "frozen_writer_" + src.Name
	src.Role(t, role, "")
	src.Exec(t, "CREATE TABLE a (id serial)")
	tx, err := src.Conn(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, "LOCK TABLE a IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	return src, role, tx
}

// TestFreezeLockedTable: a table locked by a session that Freeze does not
// end (its role is not among the frozen roles) makes PostgreSQL's lock
// timeout fail with the SQLSTATE the policy retries; when the attempts run
// out, Freeze says the tables stayed locked and installs nothing.
func TestFreezeLockedTable(t *testing.T) {
	src, role, tx := lockedTable(t)
	ctx := context.Background()
	err := Freeze(ctx, src.Conn(t), "g", []pg.Name{{Schema: "public", Name: "a"}}, []string{role})
	if pg.Code(err) != "55P03" || !strings.Contains(err.Error(), "stayed locked") {
		t.Fatalf("Freeze with a table locked by another role = %v; want 55P03 and 'stayed locked'", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_trigger WHERE tgname = $1", TriggerName("g")); n != 0 {
		t.Errorf("%d freeze trigger(s) left after the failed freeze", n)
	}
}

// TestFreezeWaitsOutALock: a table stays locked past the first attempt's
// lock timeout by a session Freeze does not end; once it lets go, the
// next attempt installs the freeze.
func TestFreezeWaitsOutALock(t *testing.T) {
	src, role, tx := lockedTable(t)
	ctx := context.Background()
	conn := src.Conn(t)
	pid := conn.PgConn().PID()
	done := make(chan error, 1)
	go func() { done <- Freeze(ctx, conn, "g", []pg.Name{{Schema: "public", Name: "a"}}, []string{role}) }()
	waiting := func() bool {
		return src.QueryInt(t, "SELECT count(*) FROM pg_locks WHERE pid = $1 AND NOT granted", pid) > 0
	}
	pgtest.WaitFor(t, "the first attempt to wait for the lock", waiting)
	pgtest.WaitFor(t, "the first attempt to time out", func() bool { return !waiting() })
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Freeze = %v, want the freeze installed once the lock went", err)
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_trigger WHERE tgname = $1", TriggerName("g")); n != 1 {
		t.Errorf("%d freeze triggers after Freeze, want 1", n)
	}
}
