package switchover

import (
	"context"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestIndexMadeDuringSwitchover: an HNSW index created on the source once
// writes are frozen reaches the target with the drain, deferred. The check
// after the drain refuses it, names it with apply_ddl_change, lifts the
// freeze and leaves the group streaming; with Force the switchover goes
// ahead and Missing names the index.
func TestIndexMadeDuringSwitchover(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	streamingDDL(t, src, tgt, ddl.Auto)
	ctx := context.Background()
	indexOnce := func(p string) error {
		if p == "after-freeze" && src.QueryInt(t, "SELECT count(*) FROM pg_class WHERE relname = 'items_late'") == 0 {
			src.Exec(t, "CREATE INDEX items_late ON items USING hnsw (embedding vector_l2_ops)")
		}
		return nil
	}
	first := tgt.Conn(t) // holds the group's lock until it closes
	_, err := Run(ctx, src.Conn(t), first, Options{Group: "g", Out: out(), SkipVacuum: true, Hook: indexOnce})
	pid := first.PgConn().PID()
	first.Close(ctx)
	pgtest.WaitFor(t, "the first run's session to end", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid) == 0
	})
	if err == nil || !strings.Contains(err.Error(), "public.items_late") || !strings.Contains(hint.Of(err), "apply_ddl_change -g g") {
		t.Fatalf("Run = %v (hint %q), want a refusal naming items_late and apply_ddl_change", err, hint.Of(err))
	}
	src.Exec(t, "INSERT INTO items (embedding) VALUES ('[6,6,6]')") // writable again
	tgt.WaitCount(t, "items", src.QueryInt(t, "SELECT count(*) FROM items"))
	if g, _ := group.Get(ctx, tgt.Conn(t), "g"); g.Phase != group.Streaming {
		t.Errorf("phase = %s, want streaming", g.Phase)
	}

	res, err := Run(ctx, src.Conn(t), tgt.Conn(t), Options{Group: "g", Out: out(), SkipVacuum: true, Force: true})
	if err != nil {
		t.Fatalf("Run with Force: %v", err)
	}
	if len(res.Missing) != 1 || !strings.Contains(res.Missing[0], "public.items_late") {
		t.Errorf("Missing = %q, want the index", res.Missing)
	}
}
