package switchover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/initsync"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// bigRows is the size of the large transaction: 1536-d vectors into a
// table with an HNSW index on the target, which the target takes well
// over ten seconds to apply (about 50 s for 4000 rows on an idle two-core
// machine) while the source writes it in about a second. A trigger on the
// target adds 5 ms a row, so that it takes 7.5 s at least on any machine.
const bigRows = 1500

// bigInsert is the large transaction.
var bigInsert = fmt.Sprintf(`INSERT INTO vecs SELECT i, (SELECT array_agg(random())::vector(1536) FROM generate_series(1, 1536) WHERE i > 0)
	FROM generate_series(1, %d) i`, bigRows)

// vectorGroup starts group "g" streaming table vecs, with an HNSW index on
// the target only (as after a migration that builds it there first).
func vectorGroup(t *testing.T, src, tgt pgtest.DB) {
	t.Helper()
	ddl := `CREATE TABLE vecs (id int PRIMARY KEY, emb vector(1536))`
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	ctx := context.Background()
	sconn, err := pgx.Connect(ctx, src.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer sconn.Close(ctx)
	tconn, err := pgx.Connect(ctx, tgt.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer tconn.Close(ctx)
	if err := group.EnsureSchema(ctx, tconn); err != nil {
		t.Fatal(err)
	}
	if _, err := group.Create(ctx, tconn, "g"); err != nil {
		t.Fatal(err)
	}
	tables, err := catalog.Tables(ctx, sconn, catalog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	err = initsync.Start(ctx, sconn, tconn, initsync.Options{Group: "g", Source: src.Config(t), Target: tgt.Config(t),
		SubscriptionConnInfo: src.URL, Tables: tables, CopyMode: initsync.Native, Out: out(), PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tgt.Exec(t, `CREATE INDEX ON vecs USING hnsw (emb vector_l2_ops);
		CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.005); RETURN NEW; END $$;
		CREATE TRIGGER slow BEFORE INSERT ON vecs FOR EACH ROW EXECUTE FUNCTION slow();
		ALTER TABLE vecs ENABLE ALWAYS TRIGGER slow`)
}

// TestFreezeWaitsForTransactionInFlight: a large transaction is being
// applied on the target when the switchover starts. The slot then reads a
// few kilobytes behind, well within --lag-delta-size, but the switchover
// counts the transaction and waits for it before it freezes, so the freeze
// stays under --max-freeze, and it said what it waited for.
func TestFreezeWaitsForTransactionInFlight(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	vectorGroup(t, src, tgt)
	src.Exec(t, bigInsert)
	pgtest.WaitFor(t, "the target to apply the large transaction for a second", func() bool {
		return tgt.QueryInt(t, `SELECT count(*) FROM pg_stat_activity a JOIN pg_stat_subscription w ON w.pid = a.pid
			WHERE w.subname = 'pgvecrep_g' AND a.backend_xid IS NOT NULL AND a.xact_start < now() - interval '1 s'`) > 0
	})
	if n := tgt.QueryInt(t, "SELECT count(*) FROM vecs"); n != 0 {
		t.Fatalf("the target had applied %d rows already: the transaction is not in flight", n)
	}
	const bound = 5 * time.Second
	var log bytes.Buffer
	res, err := Run(context.Background(), src.Conn(t), tgt.Conn(t), Options{Group: "g", MaxFreeze: bound, SkipVacuum: true, Out: &log})
	t.Logf("switchover:\n%s", log.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.FreezeWindow >= bound {
		t.Errorf("writes were frozen for %s, more than --max-freeze %s", res.FreezeWindow, bound)
	}
	if !strings.Contains(log.String(), "applying a transaction of up to") {
		t.Errorf("the wait line never named the transaction in flight")
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM vecs"); n != bigRows {
		t.Errorf("%d rows on the target after the switchover, want %d", n, bigRows)
	}
}

// TestFreezeLiftedWhenDrainTooLong: a large transaction commits on the
// source just as the freeze begins (written by a session the freeze does
// not stop, as one that committed a moment before it would be), so the
// drain would take far longer than --max-freeze. The switchover lifts the
// freeze within the bound, fails saying why and when to try again, and the
// group keeps streaming until the target has the same rows as the source.
func TestFreezeLiftedWhenDrainTooLong(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	vectorGroup(t, src, tgt)
	ctx := context.Background()
	const bound = 6 * time.Second
	var frozenAt time.Time
	var log bytes.Buffer
	_, err := Run(ctx, src.Conn(t), tgt.Conn(t), Options{Group: "g", MaxFreeze: bound, Out: &log,
		Hook: func(point string) error {
			if point != "after-freeze" {
				return nil
			}
			frozenAt = time.Now()
			// A session of its own, opened after the freeze ended the
			// writing ones.
			late := src.Conn(t)
			if _, err := late.Exec(ctx, "SET session_replication_role = replica"); err != nil {
				return err
			}
			_, err := late.Exec(ctx, bigInsert)
			return err
		}})
	frozen := time.Since(frozenAt)
	t.Logf("switchover:\n%s", log.String())
	var long *FreezeTooLong
	if !errors.As(err, &long) {
		t.Fatalf("Run = %v, want a *FreezeTooLong", err)
	}
	if h := hint.Of(err); !strings.Contains(h, "keeps streaming") || !strings.Contains(h, "switchover -g g again") {
		t.Errorf("hint %q does not say the group streams on and when to try again", h)
	}
	if frozen > bound+time.Second {
		t.Errorf("the freeze lasted %s (until Run returned), more than --max-freeze %s", frozen, bound)
	}
	src.Exec(t, "INSERT INTO vecs VALUES (0, array_fill(0, ARRAY[1536])::vector)") // writable again
	g, err := group.Get(ctx, tgt.Conn(t), "g")
	if err != nil || g.Phase != group.Streaming {
		t.Errorf("group after the lifted freeze: %s, %v; want streaming", g.Phase, err)
	}
	pgtest.SameRows(t, src.Conn(t), tgt.Conn(t), "vecs", "true")
}
