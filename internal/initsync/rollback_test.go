package initsync

import (
	"context"
	"errors"
	"testing"

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
