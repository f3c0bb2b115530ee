package postdata

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestPartitionedVectorIndexLeafByLeaf: a vector index on a partitioned
// table of 768-d vectors is built leaf by leaf, each leaf with the workers
// its own size calls for (a plain CREATE INDEX on the parent, the control,
// gives its leaves none), and the parent ends up valid with exactly one
// attached index per leaf. A rerun after a kill that left a leaf's index
// built reuses it, and so does the restore of an undone run.
func TestPartitionedVectorIndexLeafByLeaf(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	ctx := context.Background()
	tgt.Exec(t, `CREATE TABLE docs (id int, v vector(768)) PARTITION BY RANGE (id);
CREATE TABLE docs_a PARTITION OF docs FOR VALUES FROM (0) TO (3000);
CREATE TABLE docs_b PARTITION OF docs FOR VALUES FROM (3000) TO (6000);
CREATE TABLE docs_c PARTITION OF docs FOR VALUES FROM (6000) TO (MAXVALUE);
INSERT INTO docs `+pgtest.Vectors768(6100)+`;
ANALYZE docs;
CREATE INDEX docs_v_idx ON docs USING hnsw (v vector_cosine_ops)`)
	conn := tgt.Conn(t)
	ixs, err := catalog.Indexes(ctx, conn, []uint32{uint32(tgt.QueryInt(t, "SELECT 'docs'::regclass::oid::int"))})
	if err != nil || len(ixs) != 1 {
		t.Fatalf("catalog indexes of docs: %v, %v", ixs, err)
	}
	obj := FromIndex(ixs[0])
	tgt.Exec(t, "DROP INDEX docs_v_idx")

	var mu sync.Mutex
	var phases []string
	opts := Options{Target: tgt.Config(t), Parallel: 1, MemoryBudget: 512 << 20, Workers: 2,
		Progress: func(e BuildEvent) {
			mu.Lock()
			phases = append(phases, e.Phase)
			mu.Unlock()
		}}
	var small int64
	big := tgt.ParallelWorkers(t, "ON public.docs_a", func() {
		small = tgt.ParallelWorkers(t, "ON public.docs_c", func() {
			if err := Build(ctx, []Object{obj}, opts); err != nil {
				t.Fatal(err)
			}
		})
	})
	if big == 0 {
		t.Error("the 9 MB leaf docs_a was built with no parallel worker")
	}
	if small != 0 {
		t.Errorf("the 100-row leaf docs_c was built with %d parallel workers; a small table stays serial", small)
	}
	checkLeafIndexes(t, tgt)
	if !strings.Contains(strings.Join(phases, "\n"), "partition public.docs_a (1 of 3)") {
		t.Errorf("progress never named the partition being built: %q", phases)
	}

	// A kill after docs_b's index was built: the rerun builds the others
	// and attaches the one that is there (which the restore statements
	// then give the name docs_b's index had: the same index, by OID).
	tgt.Exec(t, "DROP INDEX docs_v_idx; CREATE INDEX docs_b_kept ON docs_b USING hnsw (v vector_cosine_ops)")
	kept := tgt.QueryInt(t, "SELECT 'docs_b_kept'::regclass::oid::bigint")
	if err := Build(ctx, []Object{obj}, opts); err != nil {
		t.Fatal(err)
	}
	checkLeafIndexes(t, tgt)
	if n := tgt.QueryInt(t, "SELECT count(*)::int FROM pg_class WHERE oid = $1::bigint::oid AND relname = 'docs_b_v_idx'", kept); n != 1 {
		t.Error("the rerun did not reuse (and name as it was) the leaf index a killed run had built")
	}

	// Undoing a run empties the tables and runs the parent's definition,
	// which attaches a leaf index left by a kill too.
	tgt.Exec(t, "DROP INDEX docs_v_idx; TRUNCATE docs; CREATE INDEX ON docs_a USING hnsw (v vector_cosine_ops)")
	tgt.Exec(t, obj.Def)
	checkLeafIndexes(t, tgt)

	// The control: the parent's CREATE INDEX alone, with the same settings,
	// gives the large leaf no worker.
	tgt.Exec(t, "DROP INDEX docs_v_idx")
	tgt.Exec(t, "INSERT INTO docs "+pgtest.Vectors768(4000)+"; ANALYZE docs")
	for _, sql := range []string{"SET maintenance_work_mem = '512MB'", "SET max_parallel_maintenance_workers = 2"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	control := tgt.ParallelWorkers(t, "docs_v_idx", func() {
		if _, err := conn.Exec(ctx, obj.Def); err != nil {
			t.Fatal(err)
		}
	})
	if control != 0 {
		t.Errorf("the parent's own CREATE INDEX gave its leaves %d workers; the control no longer shows the heap-size rule", control)
	}
}

// checkLeafIndexes fails unless docs_v_idx is valid and each of docs's
// three leaves has exactly one index, attached to it.
func checkLeafIndexes(t *testing.T, db pgtest.DB) {
	t.Helper()
	if n := db.QueryInt(t, `SELECT count(*)::int FROM pg_index WHERE indexrelid = 'docs_v_idx'::regclass AND indisvalid`); n != 1 {
		t.Fatal("docs_v_idx is not there and valid")
	}
	leaves := db.QueryInt(t, `SELECT count(*)::int FROM pg_index WHERE indrelid IN ('docs_a'::regclass, 'docs_b'::regclass, 'docs_c'::regclass)`)
	attached := db.QueryInt(t, `SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'docs_v_idx'::regclass`)
	if leaves != 3 || attached != 3 {
		t.Fatalf("the leaves have %d indexes, %d of them attached to docs_v_idx; want 3 and 3", leaves, attached)
	}
}

// TestPartitionedVectorIndexLeafOfAnotherOwner: a role that owns the parent
// but not every leaf may run the parent's CREATE INDEX (PostgreSQL checks
// the parent only) but not a CREATE INDEX on that leaf. Build leaves such a
// leaf to the parent's statement instead of failing.
func TestPartitionedVectorIndexLeafOfAnotherOwner(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	tgt.Role(t, "pgvr_leaf_owner", "LOGIN")
	tgt.Role(t, "pgvr_leaf_other", "")
	tgt.Exec(t, `GRANT CREATE ON SCHEMA public TO pgvr_leaf_owner;
CREATE TABLE parts (id int, v vector(3)) PARTITION BY RANGE (id);
CREATE TABLE parts_mine PARTITION OF parts FOR VALUES FROM (0) TO (100);
CREATE TABLE parts_theirs PARTITION OF parts FOR VALUES FROM (100) TO (200);
INSERT INTO parts SELECT i, format('[%s,%s,%s]', random(), random(), random())::vector FROM generate_series(0, 199) i;
ALTER TABLE parts OWNER TO pgvr_leaf_owner;
ALTER TABLE parts_mine OWNER TO pgvr_leaf_owner;
ALTER TABLE parts_theirs OWNER TO pgvr_leaf_other`)
	t.Cleanup(func() { tgt.Exec(t, "DROP TABLE parts") })
	cfg := tgt.Config(t)
	cfg.User = "pgvr_leaf_owner"
	obj := Object{Table: name("parts"), Name: "parts_v_idx", Kind: group.VectorIndex,
		Def: "CREATE INDEX parts_v_idx ON public.parts USING hnsw (v vector_l2_ops)"}
	if err := Build(context.Background(), []Object{obj}, Options{Target: cfg, Parallel: 1, MemoryBudget: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	if n := tgt.QueryInt(t, `SELECT count(*)::int FROM pg_inherits h JOIN pg_index i ON i.indexrelid = h.inhrelid
WHERE h.inhparent = 'parts_v_idx'::regclass AND i.indisvalid`); n != 2 {
		t.Errorf("parts_v_idx has %d valid leaf indexes attached, want 2", n)
	}

	// The concurrent path (a deferred index) cannot leave the leaf to a
	// recursive CREATE INDEX: it fails, and says what to do.
	tgt.Exec(t, "DROP INDEX parts_v_idx")
	conn, err := pgx.ConnectConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	err = ConcurrentlyByLeaf(context.Background(), conn, "public.parts_v_idx",
		"CREATE INDEX parts_v_idx ON ONLY public.parts USING hnsw (v vector_l2_ops)", 64<<20)
	if err == nil || !strings.Contains(err.Error(), "parts_theirs") || !strings.Contains(hint.Of(err), "owner of public.parts_theirs") {
		t.Errorf("ConcurrentlyByLeaf on a leaf of another owner: %v (hint %q)", err, hint.Of(err))
	}
}

// TestPartitionedOddNames: leaf by leaf, in Build and concurrently, with
// a schema, a table and partitions whose names need quotes (a space, a
// dot, capitals): every leaf's index is found, built once and attached.
func TestPartitionedOddNames(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	ctx := context.Background()
	tgt.Exec(t, `CREATE SCHEMA "App Data";
CREATE TABLE "App Data"."My Docs" (id int, v vector(3)) PARTITION BY RANGE (id);
CREATE TABLE "App Data"."Part 1" PARTITION OF "App Data"."My Docs" FOR VALUES FROM (0) TO (100);
CREATE TABLE "App Data"."part.2" PARTITION OF "App Data"."My Docs" FOR VALUES FROM (100) TO (200) PARTITION BY RANGE (id);
CREATE TABLE "App Data"."Leaf ""3""" PARTITION OF "App Data"."part.2" FOR VALUES FROM (100) TO (200);
INSERT INTO "App Data"."My Docs" SELECT i, format('[%s,1,2]', i)::vector FROM generate_series(0, 199) i`)
	conn := tgt.Conn(t)
	const def = `CREATE INDEX "Odd Idx" ON ONLY "App Data"."My Docs" USING hnsw (v vector_l2_ops)`
	attached := func() int64 {
		return tgt.QueryInt(t, `SELECT count(*) FROM pg_partition_tree('"App Data"."Odd Idx"') t
JOIN pg_index i ON i.indexrelid = t.relid WHERE t.isleaf AND i.indisvalid`)
	}
	leafIndexes := `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
WHERE c.relnamespace = '"App Data"'::regnamespace AND c.relkind = 'r'`

	obj := Object{Table: pg.Name{Schema: "App Data", Name: "My Docs"}, Name: "Odd Idx", Kind: group.VectorIndex, Def: partitionedIndexDef(def)}
	if err := Build(ctx, []Object{obj}, Options{Target: tgt.Config(t), Parallel: 1, MemoryBudget: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	if n := attached(); n != 2 {
		t.Errorf("Build: %d valid leaf indexes under the parent's, want 2", n)
	}
	tgt.Exec(t, `DROP INDEX "App Data"."Odd Idx"`)
	if err := ConcurrentlyByLeaf(ctx, conn, `"App Data"."Odd Idx"`, def, 64<<20); err != nil {
		t.Fatal(err)
	}
	if n := attached(); n != 2 || tgt.QueryInt(t, leafIndexes) != 2 {
		t.Errorf("ConcurrentlyByLeaf: %d valid leaf indexes under the parent's, %d on the leaves; want 2 and 2", n, tgt.QueryInt(t, leafIndexes))
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_index WHERE indexrelid = '"App Data"."Odd Idx"'::regclass AND indisvalid`); n != 1 {
		t.Error("the parent's index is not valid")
	}
}
