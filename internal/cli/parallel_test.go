package cli

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// parallelSchema: items is spread (HNSW, a bigint key, 1536-d vectors that
// are TOASTed); docs has a vector index but a unique email, so it stays
// whole in stream 0; plain has no vector index.
const parallelSchema = `
CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(1536), note text);
CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops);
CREATE TABLE docs (id serial PRIMARY KEY, email text UNIQUE, embedding vector(3));
CREATE INDEX docs_hnsw ON docs USING hnsw (embedding vector_l2_ops);
CREATE TABLE plain (id int PRIMARY KEY, v int);`

const randomVector = `(SELECT array_agg(random())::vector FROM generate_series(1, 1536))`

// contentQuery sums up a table's rows, vectors included, so two sides
// compare in one string.
const contentQuery = `SELECT count(*) || ' nulls=' || count(*) FILTER (WHERE embedding IS NULL) || ' ' ||
	coalesce(md5(string_agg(id || ':' || coalesce(md5(embedding::text), '-') || ':' || coalesce(note, '-'), ',' ORDER BY id)), '') FROM items`

// itemWriter inserts one item per transaction until stopped, counting
// them; it runs while start_sync creates the slots.
type itemWriter struct {
	mu      sync.Mutex
	written int
	quit    chan struct{}
	done    sync.WaitGroup
}

func startItemWriter(t *testing.T, src pgtest.DB) *itemWriter {
	w := &itemWriter{quit: make(chan struct{})}
	w.done.Add(1)
	go func() { defer w.done.Done(); w.run(t, src) }()
	t.Cleanup(w.stop)
	return w
}

func (w *itemWriter) run(t *testing.T, src pgtest.DB) {
	conn := src.Conn(t)
	defer conn.Close(context.Background())
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-w.quit:
			return
		case <-tick.C:
		}
		if _, err := conn.Exec(context.Background(), "INSERT INTO items (embedding, note) SELECT "+randomVector+", 'w'"); err != nil {
			t.Errorf("writer: %v", err)
			return
		}
		w.mu.Lock()
		w.written++
		w.mu.Unlock()
	}
}

func (w *itemWriter) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// stop ends the writer and waits for it; a second call does nothing.
func (w *itemWriter) stop() {
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	w.done.Wait()
}

// parallelPair is a source and a target with parallelSchema, and seed
// items on the source.
func parallelPair(t *testing.T, seed int) (src, tgt pgtest.DB) {
	src, tgt = pgtest.Get(t).Pair(t)
	src.Exec(t, parallelSchema)
	tgt.Exec(t, parallelSchema)
	src.Exec(t, "INSERT INTO items (embedding, note) SELECT "+randomVector+", 'seed' FROM generate_series(1, $1::int)", seed)
	return src, tgt
}

func sameItems(t *testing.T, src, tgt pgtest.DB) bool {
	return src.QueryStrings(t, contentQuery)[0] == tgt.QueryStrings(t, contentQuery)[0]
}

// TestParallelApply: three apply streams, with a writer running while the
// slots are made; a key update moves rows between streams with their
// TOASTed vectors; TRUNCATE is refused on the source with a hint; the
// table with a second unique index stays whole; switchover waits for every
// stream, leaves source and target identical, the guard gone, and the
// sequences continuing.
func TestParallelApply(t *testing.T) {
	src, tgt := parallelPair(t, 200)
	src.Exec(t, "INSERT INTO docs (email, embedding) SELECT 'u' || i || '@x', '[1,2,3]' FROM generate_series(1, 20) i")
	src.Exec(t, "INSERT INTO plain SELECT i, i FROM generate_series(1, 50) i")

	w := startItemWriter(t, src)
	mustRun(t, src, tgt, "bootstrap", "-g", "par")
	r := mustRun(t, src, tgt, "start_sync", "-g", "par", "--apply-workers", "3")
	for _, want := range []string{"public.docs stays whole in stream 0: unique index or exclusion constraint besides the key (docs_email_key)",
		"3 apply streams: 1 table(s) spread", "created subscription pgvecrep_par_p2 on the target", "recorded, not applied (--ddl track)"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("start_sync's output lacks %q:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_subscription WHERE subname LIKE 'pgvecrep_par%'"); n != 3 {
		t.Fatalf("%d subscriptions on the target, want 3", n)
	}
	// start_sync says streaming once every stream has its apply worker:
	// made one after another, the target's launcher starts them 5 s apart.
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_stat_subscription WHERE subname LIKE 'pgvecrep_par%' AND pid IS NOT NULL AND relid IS NULL"); n != 3 {
		t.Errorf("%d of 3 apply workers running when start_sync returned", n)
	}
	if st := mustRun(t, src, tgt, "stats", "-g", "par", "--json"); !strings.Contains(st.stdout, `"pgvecrep_par_p2"`) {
		t.Errorf("stats --json does not list stream pgvecrep_par_p2:\n%s", st.stdout)
	}
	at := w.count()
	pgtest.WaitFor(t, "the writer to go on after start_sync", func() bool { return w.count() >= at+50 })
	w.stop()
	pgtest.WaitFor(t, "the writer's rows on the target", func() bool { return sameItems(t, src, tgt) })

	// A key update: rows move to another stream as a DELETE and an INSERT,
	// the INSERT with the vector the UPDATE left alone.
	moved := src.QueryInt(t, `SELECT count(*) FROM items WHERE id <= 60 AND
		(hashint8(id) & 2147483647) % 3 <> (hashint8(id + 100000) & 2147483647) % 3`)
	if moved == 0 {
		t.Fatal("no key update crosses streams: the test proves nothing")
	}
	src.Exec(t, "UPDATE items SET id = id + 100000 WHERE id <= 60")
	src.Exec(t, "UPDATE items SET note = 'touched' WHERE id % 5 = 0")
	err := src.Cluster.Exec(t.Context(), src.Name, "TRUNCATE items")
	if err == nil || !strings.Contains(err.Error(), "TRUNCATE of public.items is refused: group par applies its rows in 3 parallel streams") {
		t.Errorf("TRUNCATE items on the source: %v, want the guard's refusal", err)
	}
	src.Exec(t, "DELETE FROM items WHERE id % 11 = 0")
	src.Exec(t, "UPDATE docs SET email = 'v' || id || '@x', embedding = '[3,2,1]' WHERE id <= 5")
	pgtest.WaitFor(t, "the moved, touched and deleted rows on the target", func() bool { return sameItems(t, src, tgt) })
	if n := tgt.QueryInt(t, "SELECT count(*) FROM items WHERE id > 100000 AND embedding IS NOT NULL"); n != 60-src.QueryInt(t, "SELECT count(*) FROM generate_series(1, 60) i WHERE (i + 100000) % 11 = 0") {
		t.Errorf("%d moved rows with their vector on the target", n)
	}

	// Writes right before the switchover must be in, in every stream.
	src.Exec(t, "INSERT INTO items (embedding, note) SELECT "+randomVector+", 'last' FROM generate_series(1, 30)")
	mustRun(t, src, tgt, "switchover", "-g", "par", "--lag-delta-size", "100kB", "--skip-vacuum-analyze", "--no-reverse")
	if !sameItems(t, src, tgt) {
		t.Errorf("items differ after the switchover:\nsource %s\ntarget %s", src.QueryStrings(t, contentQuery)[0], tgt.QueryStrings(t, contentQuery)[0])
	}
	for _, q := range []string{"SELECT count(*) || md5(string_agg(id || email || embedding::text, ',' ORDER BY id)) FROM docs",
		"SELECT count(*) || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM plain"} {
		if s, g := src.QueryStrings(t, q)[0], tgt.QueryStrings(t, q)[0]; s != g {
			t.Errorf("%s: source %s, target %s", q, s, g)
		}
	}
	if n := src.QueryInt(t, `SELECT count(*) FROM pg_trigger WHERE tgname IN ('zz_pgvecrep_par_rekey', 'pgvecrep_par_no_truncate')`); n != 0 {
		t.Errorf("%d guard triggers left on the source after the switchover", n)
	}
	if next, last := tgt.QueryInt(t, "INSERT INTO items (note) VALUES ('after') RETURNING id"), src.QueryInt(t, "SELECT last_value FROM items_id_seq"); next != last+1 {
		t.Errorf("next id on the target %d, want the source sequence's next, %d", next, last+1)
	}
	mustRun(t, src, tgt, "cleanup", "--everything")
	pgtest.AssertNoReplication(t, src, tgt)
}

// TestParallelApplyNative: --ddl auto is refused with parallel apply before
// anything is made; the engine's own copy splits by the row filters too;
// stop_sync takes every stream and the guard down, and TRUNCATE works on
// the source again.
func TestParallelApplyNative(t *testing.T) {
	src, tgt := parallelPair(t, 100)
	mustRun(t, src, tgt, "bootstrap", "-g", "nat")
	before := src.Fingerprint(t)
	r := pgvecrep(t, src, tgt, "start_sync", "-g", "nat", "--apply-workers", "2", "--ddl", "auto")
	assertUserError(t, r, "--ddl auto cannot go with --apply-workers above 1", "--ddl track")
	if after := src.Fingerprint(t); after != before {
		t.Errorf("the refused start_sync changed the source:\nbefore %s\nafter  %s", before, after)
	}
	mustRun(t, src, tgt, "start_sync", "-g", "nat", "--apply-workers", "2", "--copy-mode", "native", "--ddl", "off")
	src.Exec(t, "INSERT INTO items (embedding, note) SELECT "+randomVector+", 'more' FROM generate_series(1, 40)")
	src.Exec(t, "UPDATE items SET id = id + 1000 WHERE id <= 30")
	pgtest.WaitFor(t, "the target to match the source", func() bool { return sameItems(t, src, tgt) })
	mustRun(t, src, tgt, "stop_sync", "-g", "nat")
	pgtest.AssertNoReplication(t, src, tgt)
	src.Exec(t, "TRUNCATE items")
}

// TestKillParallelStartSync kills start_sync --apply-workers 2 while it
// builds indexes: the next start_sync cleans every stream and the guard up
// and completes with identical data and exactly the group's two slots.
func TestKillParallelStartSync(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	fillBig(t, src, tgt)
	src.Exec(t, "CREATE INDEX big_v ON big USING hnsw (v vector_l2_ops)") // what spreads a table
	mustRun(t, src, tgt, "bootstrap", "-g", "k")
	out := &lockedBuffer{}
	cmd := subprocess(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2", "--apply-workers", "2")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	killWhen(t, cmd, tgt, indexingProbe, out)
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"); n != 2 {
		t.Errorf("%d slots on the source after the kill, want the two streams'", n)
	}
	r := rerun(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2", "--apply-workers", "2")
	if !strings.Contains(r.stdout, "left in phase indexing") || !strings.Contains(r.stdout, "dropped replication slot pgvecrep_k_p1") {
		t.Errorf("the rerun did not say it cleaned both streams of the broken group:\n%s", r.stdout)
	}
	src.Exec(t, "UPDATE big SET id = id + 1000000 WHERE id <= 500")
	pgtest.WaitFor(t, "the moved rows on the target", func() bool { return tableSum(t, src) == tableSum(t, tgt) })
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"); n != 2 {
		t.Errorf("%d slots on the source, want exactly the group's two", n)
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'big'::regclass AND tgname LIKE '%pgvecrep_k%'"); n != 2 {
		t.Errorf("%d guard triggers on big, want 2 (re-key and TRUNCATE)", n)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "k")
	pgtest.AssertNoReplication(t, src, tgt)
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'big'::regclass AND tgname LIKE '%pgvecrep_k%'"); n != 0 {
		t.Errorf("%d guard triggers left on big after cleanup", n)
	}
}

// TestParallelRoundTrip: a group with two apply streams switches over with
// its way back, takes writes on the target, and switches back: the source
// has every row, and the group streams again as one stream.
func TestParallelRoundTrip(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, parallelSchema)
	src.Exec(t, "INSERT INTO items (embedding, note) SELECT "+randomVector+", 'seed' FROM generate_series(1, 100)")
	mustRun(t, src, tgt, "bootstrap", "-g", "rt", "--copy-schema")
	mustRun(t, src, tgt, "start_sync", "-g", "rt", "--apply-workers", "2")
	src.Exec(t, "UPDATE items SET id = id + 1000 WHERE id <= 20")
	mustRun(t, src, tgt, "switchover", "-g", "rt")
	tgt.Exec(t, "INSERT INTO items (embedding, note) SELECT "+randomVector+", 'on the target' FROM generate_series(1, 25)")
	tgt.Exec(t, "UPDATE items SET note = 'changed on the target' WHERE id % 3 = 0")
	mustRun(t, src, tgt, "switchback", "-g", "rt")
	if !sameItems(t, src, tgt) {
		t.Errorf("items differ after the switchback:\nsource %s\ntarget %s", src.QueryStrings(t, contentQuery)[0], tgt.QueryStrings(t, contentQuery)[0])
	}
	src.Exec(t, "INSERT INTO items (embedding, note) SELECT "+randomVector+", 'after' FROM generate_series(1, 5)")
	pgtest.WaitFor(t, "the source's new rows on the target through the one forward stream", func() bool { return sameItems(t, src, tgt) })
	if n := tgt.QueryInt(t, "SELECT apply_streams FROM pgvecrep.groups WHERE name = 'rt'"); n != 1 {
		t.Errorf("apply_streams = %d after the switchback, want 1", n)
	}
	mustRun(t, src, tgt, "stop_sync", "-g", "rt")
	pgtest.AssertNoReplication(t, src, tgt)
}

// TestCatchUpFirstCLI: start_sync --catch-up-first --apply-workers 2 with a
// writer running: the subscriptions attach before the vector index is
// built, the index is built concurrently afterwards, and verify finds the
// same rows and the same nearest neighbours on both sides.
func TestCatchUpFirstCLI(t *testing.T) {
	src, tgt := parallelPair(t, 150)
	w := startItemWriter(t, src)
	mustRun(t, src, tgt, "bootstrap", "-g", "cf")
	r := mustRun(t, src, tgt, "start_sync", "-g", "cf", "--catch-up-first", "--apply-workers", "2")
	w.stop()
	attached := strings.Index(r.stdout, "created subscription pgvecrep_cf_p1")
	caught := strings.Index(r.stdout, "applying what the source wrote during the copy")
	built := strings.Index(r.stdout, "built items_hnsw concurrently")
	if attached < 0 || caught < attached || built < caught {
		t.Errorf("want the subscriptions, then the catch-up, then the concurrent build (at %d, %d, %d):\n%s", attached, caught, built, r.stdout)
	}
	pgtest.WaitFor(t, "the writer's rows on the target", func() bool { return sameItems(t, src, tgt) })
	mustRun(t, src, tgt, "verify", "-g", "cf")
	mustRun(t, src, tgt, "stop_sync", "-g", "cf")
	r = pgvecrep(t, src, tgt, "start_sync", "-g", "cf", "--truncate-target", "--catch-up-first", "--copy-mode", "native")
	assertUserError(t, r, "--catch-up-first goes with --copy-mode fast only", "leave out --copy-mode native")
	pgtest.AssertNoReplication(t, src, tgt)
}
