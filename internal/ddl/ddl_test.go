package ddl

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// stream sets up group g by hand the way start_sync leaves it: the
// publication of table items, DDL capture installed in mode, then the
// subscription, streaming.
func stream(t *testing.T, mode string) (src, tgt pgtest.DB, sconn, tconn *pgx.Conn) {
	t.Helper()
	env := pgtest.Get(t)
	src, tgt = env.Pair(t)
	t.Cleanup(func() {
		if t.Failed() {
			for _, c := range []string{env.Source.Dir, env.Target.Dir} {
				b, _ := os.ReadFile(c + "/server.log")
				if len(b) > 6000 {
					b = b[len(b)-6000:]
				}
				t.Logf("%s:\n%s", c, b)
			}
		}
	})
	table := `CREATE TABLE items (id bigint PRIMARY KEY, note text)`
	src.Exec(t, table)
	tgt.Exec(t, table)
	src.Exec(t, `INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 100) i`)
	tgt.Exec(t, `INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 100) i`)
	ctx := context.Background()
	sconn, tconn = src.Conn(t), tgt.Conn(t)
	if err := group.EnsureSchema(ctx, tconn); err != nil {
		t.Fatal(err)
	}
	if _, err := group.Create(ctx, tconn, "g"); err != nil {
		t.Fatal(err)
	}
	obj := group.ObjectName("g")
	src.Exec(t, "CREATE PUBLICATION "+obj+" FOR TABLE items")
	if err := Install(ctx, sconn, tconn, "g", mode, []string{"public"}); err != nil {
		t.Fatal(err)
	}
	tgt.Exec(t, fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION '%s' PUBLICATION %s WITH (copy_data = false)", obj, src.URL, obj))
	return src, tgt, sconn, tconn
}

// waitDeferred waits until group g's DDL log on the target holds one
// index deferred for a concurrent build.
func waitDeferred(t *testing.T, tgt pgtest.DB) {
	t.Helper()
	pgtest.WaitFor(t, "the index to be deferred on the target", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM pgvecrep.ddl_g WHERE status = 'deferred'") == 1
	})
}

// waitStalled waits until the subscription's health says stalled.
func waitStalled(t *testing.T, tconn *pgx.Conn) replication.Health {
	t.Helper()
	var h replication.Health
	pgtest.WaitFor(t, "the group to stall", func() bool {
		var err error
		if h, err = replication.SubscriptionHealth(context.Background(), tconn, group.ObjectName("g")); err != nil {
			t.Fatal(err)
		}
		return h.Stalled
	})
	return h
}

// TestUnsafeChangeStalls: a dimension change of a vector column an HNSW
// index covers is refused on the target; the group stalls with the
// statement and the reason, and once the user drops the index on the
// target and applies the change by hand, every row arrives.
func TestUnsafeChangeStalls(t *testing.T) {
	src, tgt, sconn, tconn := stream(t, Auto)
	ctx := context.Background()
	g, err := group.Get(ctx, tconn, "g")
	if err != nil {
		t.Fatal(err)
	}
	src.Exec(t, `ALTER TABLE items ADD COLUMN emb vector(3)`)
	src.Exec(t, `CREATE INDEX items_emb ON items USING hnsw (emb vector_l2_ops)`)
	waitDeferred(t, tgt)
	// What internal/settle would build (it imports this package: its
	// tests cannot be used here).
	tgt.Exec(t, `CREATE INDEX items_emb ON items USING hnsw (emb vector_l2_ops)`)
	stop := pgtest.StartWriter(t, src.URL, "items", 1000)
	defer stop()
	src.Exec(t, `ALTER TABLE items ALTER COLUMN emb TYPE vector(4)`)
	h := waitStalled(t, tconn)
	st, err := GetStatus(ctx, sconn, tconn, g)
	if err != nil {
		t.Fatal(err)
	}
	if st.Next == nil || !strings.Contains(st.Next.Statement, "TYPE vector(4)") || !strings.Contains(st.Refused, "items_emb") {
		t.Fatalf("status does not name the refused statement: %+v (next %+v), health %+v", st, st.Next, h)
	}
	t.Logf("stalled: %s; refused: %s", h.Reason, st.Refused)
	t.Logf("source rows while stalled: %d", src.QueryInt(t, "SELECT count(*) FROM items"))
	// The user's fix: drop the index on the target, let pgvecrep run the change there.
	tgt.Exec(t, `DROP INDEX items_emb`)
	if err := Apply(ctx, tconn, "g", *st.Next, false, io.Discard); err != nil {
		t.Fatal(err)
	}
	pgtest.SameRows(t, sconn, tconn, "items", pgtest.WrittenSoFar(t, sconn, "items"))
	stop()
	pgtest.SameRows(t, sconn, tconn, "items", "true")
	if h, _ := replication.SubscriptionHealth(ctx, tconn, g.ObjectName); h.Stalled {
		t.Errorf("still stalled after the fix: %+v", h)
	}
}

// TestTrackRecordsOnly: --track-ddl records the change on the target and
// runs nothing; the first row that needs it stalls the group, and applying
// the recorded change by hand lets every row through.
func TestTrackRecordsOnly(t *testing.T) {
	src, tgt, sconn, tconn := stream(t, Track)
	ctx := context.Background()
	src.Exec(t, `ALTER TABLE items ADD COLUMN extra int`)
	src.Exec(t, `INSERT INTO items VALUES (5000, 'x', 42)`)
	waitStalled(t, tconn)
	if n := tgt.QueryInt(t, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'extra'"); n != 0 {
		t.Fatal("track mode applied the change")
	}
	changes, err := List(ctx, sconn, tconn, "g", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 1 || changes[0].Status != StatusRecorded || changes[0].Statement != "ALTER TABLE items ADD COLUMN extra int" {
		t.Fatalf("changes: %+v", changes)
	}
	if err := Apply(ctx, tconn, "g", changes[0], false, io.Discard); err != nil {
		t.Fatal(err)
	}
	pgtest.SameRows(t, sconn, tconn, "items", "true")
}
