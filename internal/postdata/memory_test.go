package postdata

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestHNSWBuildMemory: an HNSW build gets the memory its graph needs
// rather than the whole share, sized from the target table's row count
// (known once its key is built) and size, and that is enough for pgvector
// to keep the graph in memory. The control, the same build with a quarter
// of it, makes pgvector say the graph no longer fits, which is what the
// first half would show if the estimate were too small. At this size the
// 32MB-per-participant floor decides; vector.TestHNSWMemory pins the
// formula against the graph sizes measured at 100k x 128-d and 50k x 768-d.
func TestHNSWBuildMemory(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	tgt.Exec(t, `CREATE TABLE items (id int NOT NULL, v vector(128));
INSERT INTO items SELECT i, (SELECT array_agg(random())::vector FROM generate_series(1, 128) WHERE i > 0)
FROM generate_series(1, 20000) i`)
	objs := []Object{
		{Table: name("items"), Name: "items_pkey", Kind: group.PrimaryKey, Def: "ALTER TABLE items ADD CONSTRAINT items_pkey PRIMARY KEY (id)"},
		{Table: name("items"), Name: "items_v_idx", Kind: group.VectorIndex, Def: "CREATE INDEX items_v_idx ON public.items USING hnsw (v vector_l2_ops)"},
	}
	var mu sync.Mutex
	var notices []string
	cfg := tgt.Config(t)
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		notices = append(notices, n.Message)
		mu.Unlock()
	}
	const share = 1 << 30
	opts := Options{Target: cfg, Parallel: 1, MemoryBudget: share, Workers: 2}
	if err := Build(context.Background(), objs, opts); err != nil {
		t.Fatal(err)
	}
	for _, n := range notices {
		if strings.Contains(n, "no longer fits") {
			t.Errorf("the HNSW build ran out of its memory: %s", n)
		}
	}

	conn := tgt.Conn(t)
	got, err := memoryFor(context.Background(), conn, objs[1].Table.Quoted(), objs[1].Def, share)
	if err != nil {
		t.Fatal(err)
	}
	// 1274 bytes a row is what a 128-d graph was measured to take.
	if got >= share || got < 20000*1274 {
		t.Fatalf("memory for 20k x 128-d: %d bytes, want between the graph (%d) and the share (%d)", got, 20000*1274, share)
	}
	t.Logf("memory for 20k x 128-d: %d MB of a %d MB share", got>>20, share>>20)

	tgt.Exec(t, "DROP INDEX items_v_idx")
	notices = nil
	cconn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cconn.Close(context.Background())
	for _, sql := range []string{fmt.Sprintf("SET maintenance_work_mem = '%dkB'", got/4/1024), objs[1].Def} {
		if _, err := cconn.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(notices, "\n"), "no longer fits") {
		t.Errorf("a quarter of the estimate kept the graph in memory (notices %q): the check above proves nothing", notices)
	}
}
