package initsync

import (
	"context"
	"errors"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestCatchUpFirst: with CatchUpFirst the subscription attaches before the
// vector index exists, the rows written meanwhile arrive, and the index is
// then built concurrently, valid, before the group is streaming; a failure
// after the catch-up leaves nothing behind and the index restored.
func TestCatchUpFirst(t *testing.T) {
	t.Run("streams", func(t *testing.T) {
		src, tgt, sconn, tconn, opts := setup(t, 300)
		opts.CopyMode, opts.CatchUpFirst = Fast, true
		ctx := context.Background()
		opts.Hook = func(p string) error {
			if p == "after-indexes" { // the keys are built, the vector index is not
				if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_indexes WHERE indexname = 'test_embedding_idx'"); n != 0 {
					t.Errorf("the vector index exists before the catch-up")
				}
				src.Exec(t, "INSERT INTO test SELECT i, '[1,2,3,4,5,6,7,8,9,10]' FROM generate_series(1001, 1200) i")
			}
			return nil
		}
		if err := Start(ctx, sconn, tconn, opts); err != nil {
			t.Fatal(err)
		}
		if n := tgt.QueryInt(t, "SELECT count(*) FROM test"); n != 500 {
			t.Errorf("target rows = %d, want the 300 copied and the 200 written during the sync", n)
		}
		if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
			WHERE c.relname = 'test_embedding_idx' AND i.indisvalid`); n != 1 {
			t.Errorf("vector index valid count = %d, want 1", n)
		}
		g, err := group.Get(ctx, tconn, "g1")
		if err != nil || g.Phase != group.Streaming {
			t.Errorf("group = %s (%v), want streaming", g.Phase, err)
		}
		if n := tgt.QueryInt(t, "SELECT count(*) FROM pgvecrep.deferred_objects WHERE group_name = 'g1' AND built_at IS NULL"); n != 0 {
			t.Errorf("%d deferred objects not marked built", n)
		}
	})
	t.Run("fails after the catch-up", func(t *testing.T) {
		src, tgt, sconn, tconn, opts := setup(t, 300)
		opts.CopyMode, opts.CatchUpFirst = Fast, true
		boom := errors.New("injected failure")
		opts.Hook = func(p string) error {
			if p == "caught-up" {
				return boom
			}
			return nil
		}
		if err := Start(context.Background(), sconn, tconn, opts); !errors.Is(err, boom) {
			t.Fatalf("Start = %v, want the injected failure", err)
		}
		pgtest.AssertNoReplication(t, src, tgt)
		if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_indexes WHERE indexname IN ('test_embedding_idx', 'test_pkey')"); n != 2 {
			t.Errorf("%d of 2 deferred indexes restored", n)
		}
	})
}
