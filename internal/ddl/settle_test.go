package ddl

import (
	"context"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestDeferredBuildSizing: a vector index deferred from the source is built
// concurrently with the workers and memory start_sync would give it, not
// the session's: a 768-d table keeps its vectors in TOAST and PostgreSQL
// alone plans its build no worker (postdata's workers test has that
// control). The session is left with its own settings afterwards.
func TestDeferredBuildSizing(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	tgt.ToastedVectorTable(t, "wide", 4000)
	conn := tgt.Conn(t)
	ctx := context.Background()
	var before [2]string
	if err := conn.QueryRow(ctx, "SELECT current_setting('maintenance_work_mem'), current_setting('min_parallel_table_scan_size')").
		Scan(&before[0], &before[1]); err != nil {
		t.Fatal(err)
	}
	workers := tgt.ParallelWorkers(t, "CONCURRENTLY IF NOT EXISTS wide_v_idx", func() {
		err := buildConcurrently(ctx, conn, "public.wide_v_idx", "CREATE INDEX wide_v_idx ON public.wide USING hnsw (v vector_cosine_ops)")
		if err != nil {
			t.Fatal(err)
		}
	})
	if workers == 0 {
		t.Error("the deferred build of a TOAST-stored vector table ran with no parallel worker")
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE indexrelid = 'wide_v_idx'::regclass AND indisvalid"); n != 1 {
		t.Error("wide_v_idx is not valid after the build")
	}
	var after [2]string
	if err := conn.QueryRow(ctx, "SELECT current_setting('maintenance_work_mem'), current_setting('min_parallel_table_scan_size')").
		Scan(&after[0], &after[1]); err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("the session was left with maintenance_work_mem, min_parallel_table_scan_size = %v, had %v", after, before)
	}
}
