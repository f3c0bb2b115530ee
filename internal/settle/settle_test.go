package settle

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
	"github.com/pgvecrep/pgvecrep/internal/progress"
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
	if err := ddl.Install(ctx, sconn, tconn, "g", mode, []string{"public"}); err != nil {
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

// settle runs Settle for group g, failing the test on an error, and
// returns what it printed.
func settle(t *testing.T, sconn, tconn *pgx.Conn) string {
	t.Helper()
	g, err := group.Get(context.Background(), tconn, "g")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := Settle(context.Background(), sconn, tconn, g, progress.New(&out)); err != nil {
		t.Fatalf("settle: %v\n%s", err, out.String())
	}
	t.Logf("settle: %s", out.String())
	return out.String()
}

func TestAutoDDLWithWriter(t *testing.T) {
	src, tgt, sconn, tconn := stream(t, ddl.Auto)
	ctx := context.Background()
	stop := pgtest.StartWriter(t, src.URL, "items", 1000)
	defer stop()

	// A vector column, filled in the same transaction that adds it.
	src.Exec(t, `BEGIN; ALTER TABLE items ADD COLUMN emb vector(3); UPDATE items SET emb = ARRAY[id, id + 1, id + 2]::real[]::vector WHERE id <= 50; COMMIT`)
	pgtest.SameRows(t, sconn, tconn, "items", pgtest.WrittenSoFar(t, sconn, "items"))
	// An HNSW index mid-stream: deferred, built concurrently by Settle.
	src.Exec(t, `CREATE INDEX items_emb ON items USING hnsw (emb vector_l2_ops)`)
	waitDeferred(t, tgt)
	if out := settle(t, sconn, tconn); tgt.QueryInt(t, "SELECT count(*) FROM pg_indexes WHERE indexname = 'items_emb'") != 1 {
		t.Errorf("index items_emb not built on the target:\n%s", out)
	}
	// A new table in the schema.
	src.Exec(t, `CREATE TABLE extra (id int PRIMARY KEY, v vector(2))`)
	src.Exec(t, `INSERT INTO extra SELECT i, ARRAY[i, i]::real[]::vector FROM generate_series(1, 20) i`)
	pgtest.WaitFor(t, "extra on the target", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM pg_tables WHERE tablename = 'extra'") == 1
	})
	settle(t, sconn, tconn)
	pgtest.SameRows(t, sconn, tconn, "extra", "true")
	// Drop a column, rename a table.
	src.Exec(t, `ALTER TABLE items DROP COLUMN note`)
	pgtest.SameRows(t, sconn, tconn, "items", pgtest.WrittenSoFar(t, sconn, "items"))
	src.Exec(t, `ALTER TABLE extra RENAME TO extra2`)
	src.Exec(t, `INSERT INTO extra2 VALUES (21, '[1,2]')`)
	pgtest.SameRows(t, sconn, tconn, "extra2", "true")
	// A dropped table leaves the target and, once settled, the group.
	src.Exec(t, `DROP TABLE extra2`)
	pgtest.WaitFor(t, "extra2 to be dropped on the target", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM pg_tables WHERE tablename = 'extra2'") == 0
	})
	settle(t, sconn, tconn)
	if g, err := group.Get(ctx, tconn, "g"); err != nil || len(g.Tables) != 1 || g.Tables[0] != (pg.Name{Schema: "public", Name: "items"}) {
		t.Errorf("group tables after the drop: %v, %v", g.Tables, err)
	}
	// Types: a new enum, a value added, a column of it with a default.
	src.Exec(t, `CREATE TYPE mood AS ENUM ('calm', 'busy')`)
	src.Exec(t, `ALTER TYPE mood ADD VALUE 'stalled'`)
	src.Exec(t, `ALTER TABLE items ADD COLUMN m mood`)
	src.Exec(t, `ALTER TABLE items ALTER COLUMN m SET DEFAULT 'calm'`)
	src.Exec(t, `UPDATE items SET m = 'stalled' WHERE id <= 10`)
	pgtest.SameRows(t, sconn, tconn, "items", pgtest.WrittenSoFar(t, sconn, "items"))
	if d := tgt.QueryStrings(t, "SELECT column_default FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'm'"); len(d) != 1 || d[0] != "'calm'::mood" {
		t.Errorf("default on the target: %v", d)
	}
	stop()
	pgtest.SameRows(t, sconn, tconn, "items", "true")
	if h, err := replication.SubscriptionHealth(ctx, tconn, group.ObjectName("g")); err != nil || h.Stalled {
		t.Errorf("health %+v, %v", h, err)
	}
}

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
		err := postdata.BuildConcurrently(ctx, conn, "public.wide_v_idx", "CREATE INDEX wide_v_idx ON public.wide USING hnsw (v vector_cosine_ops)")
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

// TestDeferredIndexOnPartitionedTable: an HNSW index created on a
// partitioned table while the group streams is built on the target too:
// CREATE INDEX CONCURRENTLY refuses a partitioned table, so each leaf is
// built concurrently and attached to the parent's index (through its own
// ON ONLY index for a sub-partitioned child), which ends valid. What a
// failed earlier try left is taken up: an equal valid leaf index is
// attached, not built twice; an invalid one is dropped and built again.
func TestDeferredIndexOnPartitionedTable(t *testing.T) {
	src, tgt, sconn, tconn := stream(t, ddl.Auto)
	src.Exec(t, `CREATE TABLE docs (id bigint, emb vector(3), PRIMARY KEY (id)) PARTITION BY RANGE (id);
CREATE TABLE docs_a PARTITION OF docs FOR VALUES FROM (0) TO (1000);
CREATE TABLE docs_b PARTITION OF docs FOR VALUES FROM (1000) TO (2000);
CREATE TABLE docs_c PARTITION OF docs FOR VALUES FROM (2000) TO (3000) PARTITION BY RANGE (id);
CREATE TABLE docs_c1 PARTITION OF docs_c FOR VALUES FROM (2000) TO (3000)`)
	pgtest.WaitFor(t, "the partitions on the target", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM pg_tables WHERE tablename IN ('docs_a', 'docs_b', 'docs_c1')") == 3
	})
	settle(t, sconn, tconn)
	src.Exec(t, `INSERT INTO docs SELECT i, format('[%s,1,2]', i)::vector FROM generate_series(1, 2999) i`)
	pgtest.SameRows(t, sconn, tconn, "docs", "true")
	tgt.Exec(t, `CREATE INDEX docs_a_kept ON docs_a USING hnsw (emb vector_l2_ops);
CREATE INDEX docs_b_broken ON docs_b USING hnsw (emb vector_l2_ops);
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'docs_b_broken'::regclass`)
	src.Exec(t, `CREATE INDEX docs_emb ON docs USING hnsw (emb vector_l2_ops)`)
	waitDeferred(t, tgt)
	settle(t, sconn, tconn)
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE indexrelid = 'docs_emb'::regclass AND indisvalid"); n != 1 {
		t.Error("docs_emb is not there and valid on the target")
	}
	hnsw := tgt.QueryStrings(t, `SELECT x.relname || CASE WHEN i.indisvalid THEN '' ELSE ' (invalid)' END
FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_am a ON a.oid = x.relam
WHERE a.amname = 'hnsw' ORDER BY 1`)
	if want := "docs_a_kept,docs_b_emb_idx,docs_c1_emb_idx,docs_c_emb_idx,docs_emb"; strings.Join(hnsw, ",") != want {
		t.Errorf("HNSW indexes on the target: %v, want %s", hnsw, want)
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_partition_tree('docs_emb') WHERE level > 0`); n != 4 {
		t.Errorf("docs_emb's tree holds %d indexes below it, want 4 (docs_a, docs_b, docs_c and docs_c1's)", n)
	}
	src.Exec(t, `INSERT INTO docs VALUES (0, '[0,1,2]')`)
	pgtest.SameRows(t, sconn, tconn, "docs", "true")
	if n := tgt.IndexScan(t, "SELECT id FROM docs ORDER BY emb <-> '[5,1,2]' LIMIT 3", "docs_a_kept"); n != 3 {
		t.Errorf("a nearest-neighbour query through the leaves' indexes gave %d rows, want 3", n)
	}
}

// TestSettleWaitsForNewTable: apply_ddl_change run right after a table is
// created on the source waits for the apply worker to create it on the
// target before refreshing the subscription (held back here by disabling
// the subscription for a moment), and says what to do when it never comes.
func TestSettleWaitsForNewTable(t *testing.T) {
	src, tgt, sconn, tconn := stream(t, ddl.Auto)
	ctx := context.Background()
	g, err := group.Get(ctx, tconn, "g")
	if err != nil {
		t.Fatal(err)
	}
	tgt.Exec(t, "ALTER SUBSCRIPTION "+g.ObjectName+" DISABLE")
	// DISABLE only asks the apply worker to stop; it exits when it next
	// looks. A worker still running when the table is created may have
	// taken the transaction in already (the first Settle below then found
	// a table it should not, now and then under load).
	pgtest.WaitFor(t, "the apply worker to stop", func() bool {
		return tgt.QueryInt(t, `SELECT count(*) FROM pg_stat_subscription WHERE subname = $1 AND pid IS NOT NULL`, g.ObjectName) == 0
	})
	src.Exec(t, `CREATE TABLE fresh (id bigint PRIMARY KEY, emb vector(2));
INSERT INTO fresh SELECT i, format('[%s,1]', i)::vector FROM generate_series(1, 50) i`)

	// The worker is stopped, so the table cannot come: one look is the
	// whole proof, and a longer wait would only make the test slower.
	defer func(d time.Duration) { createdWait = d }(createdWait)
	createdWait = time.Nanosecond
	var out strings.Builder
	err = Settle(ctx, sconn, tconn, g, progress.New(&out))
	if err == nil || !strings.Contains(err.Error(), "public.fresh") || !strings.Contains(hint.Of(err), "apply_ddl_change again") {
		t.Fatalf("Settle with the table never created on the target: %v (hint %q)", err, hint.Of(err))
	}

	// Enabled again, the worker starts when the launcher next looks and
	// then creates the table: Settle must wait for it.
	createdWait = time.Minute
	tgt.Exec(t, "ALTER SUBSCRIPTION "+g.ObjectName+" ENABLE")
	if err := Settle(ctx, sconn, tconn, g, progress.New(&out)); err != nil {
		t.Fatal(err)
	}
	pgtest.SameRows(t, sconn, tconn, "fresh", "true")
}

// TestDeferredBuildReplacesInvalidIndex: an interrupted CREATE INDEX
// CONCURRENTLY leaves its index invalid in the catalog (here: a unique
// build that failed). The deferred build must not take that leftover for
// the index (IF NOT EXISTS would) but drop it and build a valid one.
func TestDeferredBuildReplacesInvalidIndex(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	tgt.Exec(t, `CREATE TABLE items (id int, v vector(2));
		INSERT INTO items SELECT i % 5, format('[%s,1]', i)::vector FROM generate_series(1, 50) i`)
	conn := tgt.Conn(t)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "CREATE UNIQUE INDEX CONCURRENTLY items_v_idx ON items (id)"); err == nil {
		t.Fatal("the unique build on duplicate ids succeeded; the test needs it to fail")
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE indexrelid = 'items_v_idx'::regclass AND NOT indisvalid"); n != 1 {
		t.Fatal("no invalid leftover to start from")
	}
	if err := postdata.BuildConcurrently(ctx, conn, "public.items_v_idx", "CREATE INDEX items_v_idx ON public.items USING hnsw (v vector_l2_ops)"); err != nil {
		t.Fatal(err)
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
		WHERE i.indexrelid = 'items_v_idx'::regclass AND i.indisvalid AND a.amname = 'hnsw'`); n != 1 {
		t.Error("items_v_idx is not a valid HNSW index after the deferred build")
	}
}

// TestNewTablesOnlyWhileStreaming: a table the publication has and the
// subscription lacks is a new table to subscribe only once the group
// streams; during start_sync's index builds every table is so, and stats
// listed the group's own tables under "new table(s) to subscribe".
func TestNewTablesOnlyWhileStreaming(t *testing.T) {
	src, tgt, sconn, tconn := stream(t, ddl.Auto)
	src.Exec(t, `CREATE TABLE later (id int PRIMARY KEY)`)
	pgtest.WaitFor(t, "later created on the target", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM pg_class WHERE relname = 'later'") == 1
	})
	ctx := context.Background()
	g, err := group.Get(ctx, tconn, "g")
	if err != nil {
		t.Fatal(err)
	}
	g.Phase = group.Streaming // the fixture streams without start_sync's phases
	st, err := ddl.GetStatus(ctx, sconn, tconn, g)
	if err != nil || st == nil || strings.Join(st.NewTables, ",") != "public.later" {
		t.Fatalf("streaming: new tables %v (%v), want public.later", st, err)
	}
	g.Phase = group.Indexing
	if st, err = ddl.GetStatus(ctx, sconn, tconn, g); err != nil || len(st.NewTables) != 0 {
		t.Errorf("indexing: new tables %v (%v), want none", st.NewTables, err)
	}
}
