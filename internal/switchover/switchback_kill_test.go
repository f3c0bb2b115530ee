package switchover

import (
	"context"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// killedAt runs a switchback that dies at point the way a process killed
// with SIGKILL does: its goroutine stops there, no abort or deferred undo
// runs, and its sessions end (which frees the group's lock). What is left
// in both databases is exactly what a kill -9 at that step leaves.
func killedAt(t *testing.T, src, tgt pgtest.DB, point string) {
	t.Helper()
	ctx := context.Background()
	sc, err := pgx.Connect(ctx, src.URL)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := pgx.Connect(ctx, tgt.URL)
	if err != nil {
		t.Fatal(err)
	}
	reached := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := Switchback(ctx, sc, tc, SwitchbackOptions{Group: "g", Out: out(), ForwardConnInfo: src.URL,
			Hook: func(p string) error {
				if p == point {
					reached <- true
					runtime.Goexit()
				}
				return nil
			}})
		if err != nil {
			t.Errorf("switchback to be killed at %s failed before: %v", point, err)
		}
	}()
	<-done
	if len(reached) == 0 {
		t.Fatalf("switchback never reached %s", point)
	}
	sc.Close(ctx)
	tc.Close(ctx)
}

// TestSwitchbackKilledThenRerun kills a switchback at each of its steps,
// with a writer on the target, and runs it again: the rerun finishes (or
// starts over), every acknowledged row is on the source, both sides are
// equal, and the forward stream runs.
func TestSwitchbackKilledThenRerun(t *testing.T) {
	for _, point := range []string{"after-freeze", "after-sequences", "before-detach", "detaching", "after-detach", "after-subscribe"} {
		t.Run(point, func(t *testing.T) {
			env := pgtest.Get(t)
			src, tgt := env.Pair(t)
			streaming(t, src, tgt)
			ctx := context.Background()
			sc, tc := src.Conn(t), tgt.Conn(t)
			if _, err := Run(ctx, sc, tc, Options{Group: "g", Out: out(), Reverse: true, ReverseConnInfo: tgt.URL}); err != nil {
				t.Fatal(err)
			}
			tc.Close(ctx) // the switchover's process ends, and its lock with it
			w, stop := startWriting(t, tgt.URL)
			pgtest.WaitFor(t, "30 inserts on the target", func() bool { return w.count(nil) >= 30 })
			killedAt(t, src, tgt, point)
			stop()

			tc = tgt.Conn(t)
			res, err := Switchback(ctx, src.Conn(t), tc, SwitchbackOptions{Group: "g", Out: out(), ForwardConnInfo: src.URL})
			if err != nil {
				t.Fatalf("rerun after a kill at %s: %v", point, err)
			}
			t.Logf("rerun after a kill at %s: resumed=%t", point, res.Resumed)
			if m := missing(t, src, w.acked); len(m) > 0 {
				t.Errorf("acknowledged ids missing on the source: %v", m)
			}
			if a, b := pgtest.RowsSum(t, src.Conn(t), "items", "true"), pgtest.RowsSum(t, tgt.Conn(t), "items", "true"); a != b {
				t.Errorf("items differ: source %s, target %s", a, b)
			}
			id := src.QueryInt(t, "INSERT INTO items (embedding) VALUES ('[6,6,6]') RETURNING id")
			pgtest.WaitFor(t, "a source write to reach the target", func() bool {
				return tgt.QueryInt(t, "SELECT count(*) FROM items WHERE id = $1", id) == 1
			})
			if g, err := group.Get(ctx, tc, "g"); err != nil || g.Phase != group.Streaming {
				t.Errorf("phase = %s (%v), want streaming", g.Phase, err)
			}
		})
	}
}
