package initsync

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestRollbackReconnects closes the run's own connections before it fails,
// as pgx does when a Ctrl-C cancels a running statement: the rollback opens
// new ones from the options and still leaves nothing behind.
func TestRollbackReconnects(t *testing.T) {
	for _, tc := range []struct{ mode, point, close string }{
		{Fast, "after-indexes", "both"},
		{Native, "before-indexes", "target"},
		{Fast, "copying", "source"},
		{Fast, "after-indexes", "cancelled"},
	} {
		t.Run(tc.mode+"/"+tc.close, func(t *testing.T) {
			src, tgt, sconn, tconn, opts := setup(t, 200)
			opts.CopyMode = tc.mode
			boom := errors.New("injected failure")
			ctx := context.Background()
			opts.Hook = func(p string) error {
				if p != tc.point {
					return nil
				}
				if tc.close == "cancelled" {
					// A cancelled statement: pgx drops the connection at
					// once while the server session, lock and all, sleeps on.
					short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
					defer cancel()
					if _, err := tconn.Exec(short, "SELECT pg_sleep(60)"); err == nil || !tconn.IsClosed() {
						t.Errorf("the cancelled statement left the connection open (%v)", err)
					}
					return boom
				}
				if tc.close != "source" {
					tconn.Close(ctx)
				}
				if tc.close != "target" {
					sconn.Close(ctx)
				}
				return boom
			}
			if err := Start(ctx, sconn, tconn, opts); !errors.Is(err, boom) {
				t.Fatalf("Start = %v, want injected failure", err)
			}
			pgtest.AssertNoReplication(t, src, tgt)
			if n := tgt.QueryInt(t, "SELECT count(*) FROM test"); n != 0 {
				t.Errorf("target keeps %d partly copied rows", n)
			}
			if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_indexes WHERE indexname IN ('test_embedding_idx', 'test_pkey')"); n != 2 {
				t.Errorf("%d of 2 deferred indexes restored", n)
			}
			tc2 := tgt.Conn(t)
			g, err := group.Get(ctx, tc2, "g1")
			if err != nil || g.Phase != group.Failed || g.LastError != boom.Error() {
				t.Errorf("group = %s %q (%v), want failed with the error recorded", g.Phase, g.LastError, err)
			}
			// The rollback's own target connection is closed, and the
			// group's lock with it.
			if tc.close == "source" {
				return
			}
			if err := group.Claim(ctx, tc2, "g1"); err != nil {
				t.Errorf("group still locked after the rollback: %v", err)
			}
		})
	}
}

// TestReclaim: the session of a connection pgx has closed may still hold the
// group's lock for a moment; reclaim ends that session and takes the lock.
// A session under the pid given that does not hold the lock (the server may
// have reused the pid) is left alone, and another holder keeps the group.
func TestReclaim(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	ctx := context.Background()
	s := &syncer{opts: Options{Group: "g1"}}
	old := tgt.Conn(t)
	if err := group.Claim(ctx, old, "g1"); err != nil {
		t.Fatal(err)
	}
	if err := s.reclaim(ctx, tgt.Conn(t), old.PgConn().PID()); err != nil {
		t.Fatalf("reclaim from a lingering session: %v", err)
	}
	if err := old.Ping(ctx); err == nil {
		t.Error("the lingering session that held the lock is still there")
	}

	holder, bystander := tgt.Conn(t), tgt.Conn(t)
	if err := group.Claim(ctx, holder, "g2"); err != nil {
		t.Fatal(err)
	}
	s.opts.Group = "g2"
	var busy *group.BusyError
	if err := s.reclaim(ctx, tgt.Conn(t), bystander.PgConn().PID()); !errors.As(err, &busy) {
		t.Errorf("reclaim of a group another session holds = %v, want BusyError", err)
	}
	for name, c := range map[string]*pgx.Conn{"holder": holder, "bystander": bystander} {
		if err := c.Ping(ctx); err != nil {
			t.Errorf("the %s's session was ended: %v", name, err)
		}
	}
}
