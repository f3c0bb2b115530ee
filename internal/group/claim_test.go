package group

import (
	"context"
	"errors"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestClaim pins the three outcomes of Claim: the lock is taken, the lock is
// held by another session (a BusyError with a hint), and the question could
// not be asked (wrapped, never reported as busy).
func TestClaim(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "claim_test")
	ctx := context.Background()
	first, second := db.Conn(t), db.Conn(t)

	if err := Claim(ctx, first, "g"); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	err := Claim(ctx, second, "g")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Group != "g" || hint.Of(err) == "" {
		t.Fatalf("second claim = %v, want a BusyError for g with a hint", err)
	}
	if err := Claim(ctx, second, "other"); err != nil {
		t.Fatalf("claim of another group: %v", err)
	}

	closed := db.Conn(t)
	closed.Close(ctx)
	err = Claim(ctx, closed, "g")
	if err == nil || errors.As(err, &busy) {
		t.Fatalf("claim on a closed connection = %v, want a plain error", err)
	}

	// A session's advisory locks end with it. Its backend exits a moment
	// after the client closes, later still on a loaded machine: wait for it.
	pid := first.PgConn().PID()
	first.Close(ctx)
	pgtest.WaitFor(t, "the first session's backend to exit", func() bool {
		return db.QueryInt(t, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid) == 0
	})
	if err := Claim(ctx, second, "g"); err != nil {
		t.Fatalf("claim after the holder left: %v", err)
	}
}
