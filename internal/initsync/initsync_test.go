package initsync

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const tutorialDDL = `CREATE TABLE test (id integer PRIMARY KEY, embedding vector(10) NOT NULL);
CREATE INDEX test_embedding_idx ON test USING hnsw (embedding vector_l2_ops);`

// setup creates the tutorial table on both sides, rows on the source, and a
// bootstrapped group; it returns connections and options for Start.
func setup(t *testing.T, rows int) (pgtest.DB, pgtest.DB, *pgx.Conn, *pgx.Conn, Options) {
	t.Helper()
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, tutorialDDL)
	tgt.Exec(t, tutorialDDL)
	src.Exec(t, `INSERT INTO test SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 10) WHERE i > 0)::real[]::vector
		FROM generate_series(1, $1::int) i`, rows)
	sconn, tconn, opts, _ := newGroup(t, src, tgt, catalog.Filter{}, Native)
	return src, tgt, sconn, tconn, opts
}

func TestStartSync(t *testing.T) {
	for _, mode := range []string{Native, Fast} {
		t.Run(mode, func(t *testing.T) { testStartSync(t, mode) })
	}
}

func testStartSync(t *testing.T, mode string) {
	src, tgt, sconn, tconn, opts := setup(t, 500)
	opts.CopyMode = mode
	ctx := context.Background()
	if err := Start(ctx, sconn, tconn, opts); err != nil {
		t.Fatal(err)
	}
	g, err := group.Get(ctx, tconn, "g1")
	if err != nil || g.Phase != group.Streaming {
		t.Fatalf("group = %+v, %v; want streaming", g, err)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM test"); n != 500 {
		t.Errorf("target rows = %d, want 500", n)
	}
	// The vector index is back, valid, and built after the data.
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname = 'test_embedding_idx' AND i.indisvalid`); n != 1 {
		t.Errorf("vector index test_embedding_idx valid count = %d, want 1", n)
	}
	// Streaming: a new row arrives.
	src.Exec(t, "INSERT INTO test VALUES (100000, '[1,2,3,4,5,6,7,8,9,10]')")
	tgt.WaitCount(t, "test", 501)
	// A second start_sync on a streaming group is refused and changes nothing.
	err = Start(ctx, sconn, tconn, opts)
	if err == nil {
		t.Fatal("second start_sync on a streaming group succeeded")
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots"); n != 1 {
		t.Errorf("slots after refused start_sync = %d, want 1", n)
	}
}

func TestFailureLeavesNothing(t *testing.T) {
	points := map[string][]string{
		Native: {"after-publication", "after-subscription", "before-indexes"},
		Fast:   {"copying", "before-indexes", "after-indexes"},
	}
	for mode, list := range points {
		for _, point := range list {
			t.Run(mode+"/"+point, func(t *testing.T) { testFailure(t, mode, point) })
		}
	}
}

func testFailure(t *testing.T, mode, point string) {
	src, tgt, sconn, tconn, opts := setup(t, 200)
	opts.CopyMode = mode
	boom := errors.New("injected failure")
	opts.Hook = func(p string) error {
		if p == point {
			return boom
		}
		return nil
	}
	ctx := context.Background()
	if err := Start(ctx, sconn, tconn, opts); !errors.Is(err, boom) {
		t.Fatalf("Start = %v, want injected failure", err)
	}
	pgtest.AssertNoReplication(t, src, tgt)
	if n := tgt.QueryInt(t, "SELECT count(*) FROM test"); n != 0 {
		t.Errorf("target keeps %d partly copied rows", n)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_indexes WHERE indexname = 'test_embedding_idx'"); n != 1 {
		t.Errorf("vector index not restored after failure")
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'test'::regclass AND contype = 'p'"); n != 1 {
		t.Errorf("primary key not restored after failure")
	}
	// A failure may close a connection whose statement it cancelled; the
	// next command opens its own, as pgvecrep's commands do.
	if sconn.IsClosed() {
		sconn = src.Conn(t)
	}
	if tconn.IsClosed() {
		tconn = tgt.Conn(t)
	}
	g, _ := group.Get(ctx, tconn, "g1")
	if g.Phase != group.Failed || g.LastError == "" {
		t.Errorf("group = %s %q, want failed with the error recorded", g.Phase, g.LastError)
	}
	// And the next start_sync completes.
	opts.Hook = nil
	if err := Start(ctx, sconn, tconn, opts); err != nil {
		t.Fatalf("start_sync after failure: %v", err)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM test"); n != 200 {
		t.Errorf("target rows after retry = %d, want 200", n)
	}
}
