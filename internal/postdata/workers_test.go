package postdata

import (
	"context"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// TestVectorBuildWorkersOnToastedTable: a 768-d vector is stored out of
// line, so the table's main heap is a few pages and PostgreSQL plans no
// parallel worker for its HNSW build. Build must use the workers anyway.
// The same CREATE INDEX from a plain session with the same
// max_parallel_maintenance_workers is the control: it gets none, which is
// what makes the first half able to fail. A small table keeps the
// planner's serial build.
func TestVectorBuildWorkersOnToastedTable(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	tgt.ToastedVectorTable(t, "wide", 4000)
	if pages := tgt.QueryInt(t, "SELECT relpages FROM pg_class WHERE relname = 'wide'"); pages > 64 {
		t.Fatalf("wide has %d heap pages; the test needs its vectors out of line", pages)
	}
	def := "CREATE INDEX wide_v_idx ON wide USING hnsw (v vector_cosine_ops)"
	obj := Object{Table: name("wide"), Name: "wide_v_idx", Kind: group.VectorIndex, Def: def}

	seen := tgt.ParallelWorkers(t, "wide_v_idx", func() {
		opts := Options{Target: tgt.Config(t), Parallel: 1, MemoryBudget: 512 << 20, Workers: 2}
		if err := Build(context.Background(), []Object{obj}, opts); err != nil {
			t.Fatal(err)
		}
	})
	if seen == 0 {
		t.Error("Build ran the HNSW build on a TOAST-stored table with no parallel worker")
	}
	t.Logf("Build: up to %d parallel workers", seen)

	tgt.Exec(t, "DROP INDEX wide_v_idx")
	conn := tgt.Conn(t)
	for _, sql := range []string{"SET maintenance_work_mem = '512MB'", "SET max_parallel_maintenance_workers = 2"} {
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	control := tgt.ParallelWorkers(t, "wide_v_idx", func() {
		if _, err := conn.Exec(context.Background(), def); err != nil {
			t.Fatal(err)
		}
	})
	if control != 0 {
		t.Errorf("a plain session got %d workers; the control no longer shows the planner's heap-size rule", control)
	}

	// A small table stays serial: a parallel HNSW build first maps its
	// share of maintenance_work_mem, which costs more than it saves.
	tgt.ToastedVectorTable(t, "small", 200)
	for _, tt := range []struct{ table, want string }{{"small", "8MB"}, {"wide", "0"}} {
		if _, err := conn.Exec(context.Background(), vector.WholeTableWorkersSQL, "public."+tt.table); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := conn.QueryRow(context.Background(), "SHOW min_parallel_table_scan_size").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s: min_parallel_table_scan_size %s for its build, want %s", tt.table, got, tt.want)
		}
		if _, err := conn.Exec(context.Background(), vector.ResetWorkersSQL); err != nil {
			t.Fatal(err)
		}
	}
}
