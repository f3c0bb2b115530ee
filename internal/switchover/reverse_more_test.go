package switchover

import (
	"context"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// TestReverseWithoutLogicalTarget: a target whose wal_level is replica
// cannot publish; the switchover warns, says why, and switches over
// without a way back.
func TestReverseWithoutLogicalTarget(t *testing.T) {
	env := pgtest.Get(t)
	own := pgtest.Cluster(t, localpg.Options{WALLevel: "replica"})
	src, _ := env.Pair(t)
	tgt := env.NewDB(t, own, "reverse_replica_tgt")
	streaming(t, src, tgt)
	res, err := Run(context.Background(), src.Conn(t), tgt.Conn(t), Options{Group: "g", Out: out(), Reverse: true, ReverseConnInfo: tgt.URL})
	if err != nil {
		t.Fatal(err)
	}
	if res.Reverse != nil || len(res.ReverseSkipped) != 1 || !strings.Contains(res.ReverseSkipped[0], "wal_level is replica") {
		t.Errorf("reverse = %+v, skipped = %q; want none, for wal_level", res.Reverse, res.ReverseSkipped)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_publication"); n != 0 {
		t.Errorf("%d publication(s) on the target", n)
	}
}

// TestSwitchbackRefusesSchemaDrift: a column added on the new primary
// stalls the reverse apply (the source has no such column) and switchback
// refuses, naming the table and saying what to do; once the source has the
// column too, the stalled rows apply and switchback loses nothing.
func TestSwitchbackRefusesSchemaDrift(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	streaming(t, src, tgt)
	ctx := context.Background()
	sc, tc := src.Conn(t), tgt.Conn(t)
	if _, err := Run(ctx, sc, tc, Options{Group: "g", Out: out(), Reverse: true, ReverseConnInfo: tgt.URL}); err != nil {
		t.Fatal(err)
	}
	tgt.Exec(t, "ALTER TABLE items ADD COLUMN extra int")
	id := tgt.QueryInt(t, "INSERT INTO items (embedding, extra) VALUES ('[3,3,3]', 42) RETURNING id")
	pgtest.WaitFor(t, "the reverse apply to fail on the missing column", func() bool {
		h, err := replication.SubscriptionHealth(ctx, sc, "pgvecrep_g_rev")
		if err != nil {
			t.Fatal(err)
		}
		return h.ApplyErrors > 0
	})
	_, err := Switchback(ctx, sc, tc, SwitchbackOptions{Group: "g", Out: out(), ForwardConnInfo: src.URL})
	if err == nil || !strings.Contains(err.Error(), "schema changed on the target") || !strings.Contains(err.Error(), "public.items") ||
		!strings.Contains(hint.Of(err), "make the same change on the source") {
		t.Fatalf("switchback with a column only on the target: %v (hint %q)", err, hint.Of(err))
	}
	tgt.Exec(t, "INSERT INTO items (embedding) VALUES ('[4,4,4]')") // the target was not frozen by the refusal
	src.Exec(t, "ALTER TABLE items ADD COLUMN extra int")           // DDL passes the source's freeze
	if _, err := Switchback(ctx, sc, tc, SwitchbackOptions{Group: "g", Out: out(), ForwardConnInfo: src.URL}); err != nil {
		t.Fatal(err)
	}
	if got := src.QueryInt(t, "SELECT extra FROM items WHERE id = $1", id); got != 42 {
		t.Errorf("the stalled row arrived with extra = %d, want 42", got)
	}
	if a, b := pgtest.RowsSum(t, sc, "items", "true"), pgtest.RowsSum(t, tc, "items", "true"); a != b {
		t.Errorf("items differ: source %s, target %s", a, b)
	}
}

// TestReverseFailover: the new primary dies after a switchover; the old
// primary takes over with every write the reverse stream brought it, takes
// writes again, and hands out ids past the data.
func TestReverseFailover(t *testing.T) {
	env := pgtest.Get(t)
	ctx := context.Background()
	own := pgtest.Cluster(t, localpg.Options{})
	src, _ := env.Pair(t)
	tgt := env.NewDB(t, own, "reverse_failover_tgt")
	streaming(t, src, tgt)
	if _, err := Run(ctx, src.Conn(t), tgt.Conn(t), Options{Group: "g", Out: out(), Reverse: true, ReverseConnInfo: tgt.URL}); err != nil {
		t.Fatal(err)
	}
	w, stop := startWriting(t, tgt.URL)
	pgtest.WaitFor(t, "30 inserts on the target", func() bool { return w.count(nil) >= 30 })
	stop()
	pgtest.WaitFor(t, "the source to have the target's rows", func() bool { return len(missing(t, src, w.acked)) == 0 })
	if err := own.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := FailoverReverse(ctx, src.Conn(t), FailoverOptions{Group: "g", Out: out()})
	if err != nil {
		t.Fatal(err)
	}
	if res.LastAppliedLSN == "" || res.Unfrozen != 2 || len(res.Tables) != 2 || res.DropSlotSQL == "" {
		t.Errorf("failover result: %+v", res)
	}
	maxID := src.QueryInt(t, "SELECT max(id) FROM items")
	if id := src.QueryInt(t, "INSERT INTO items (embedding) VALUES ('[5,5,5]') RETURNING id"); id <= maxID {
		t.Errorf("new id %d on the source is not past the data's %d", id, maxID)
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"); n != 0 {
		t.Errorf("%d subscription(s) left on the source", n)
	}
	if _, err := FailoverReverse(ctx, src.Conn(t), FailoverOptions{Group: "g", Out: out()}); err == nil || hint.Of(err) == "" {
		t.Errorf("a second failover: %v, want an error with a hint", err)
	}
}

// TestReverseLeavesOutKeyless: a table with no usable replica identity on
// the target is left out of the reverse publication (in it, the
// application's UPDATE and DELETE on the new primary would fail), with a
// warning; switchback refuses while it is left out, and --force goes on.
func TestReverseLeavesOutKeyless(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	streaming(t, src, tgt)
	ctx := context.Background()
	tgt.Exec(t, "ALTER TABLE other REPLICA IDENTITY NOTHING")
	sc, tc := src.Conn(t), tgt.Conn(t)
	res, err := Run(ctx, sc, tc, Options{Group: "g", Out: out(), Reverse: true, ReverseConnInfo: tgt.URL})
	if err != nil || res.Reverse == nil {
		t.Fatalf("switchover: %v, reverse %+v", err, res.Reverse)
	}
	if got := strings.Join(tgt.QueryStrings(t, "SELECT tablename::text FROM pg_publication_tables ORDER BY 1"), ","); got != "items" {
		t.Errorf("reverse publication carries %q, want items alone", got)
	}
	tgt.Exec(t, "UPDATE other SET v = v + 1; DELETE FROM other WHERE id = 1") // not refused on the new primary
	_, err = Switchback(ctx, sc, tc, SwitchbackOptions{Group: "g", Out: out(), ForwardConnInfo: src.URL})
	if err == nil || !strings.Contains(err.Error(), "does not carry public.other") || !strings.Contains(hint.Of(err), "--force") {
		t.Fatalf("switchback with other left out: %v (hint %q)", err, hint.Of(err))
	}
	if _, err := Switchback(ctx, sc, tc, SwitchbackOptions{Group: "g", Out: out(), ForwardConnInfo: src.URL, Force: true}); err != nil {
		t.Fatal(err)
	}
	if a, b := pgtest.RowsSum(t, sc, "items", "true"), pgtest.RowsSum(t, tc, "items", "true"); a != b {
		t.Errorf("items differ: source %s, target %s", a, b)
	}
}
