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

// writeItems inserts one item per transaction until stop is closed, and
// counts them; it runs while start_sync creates the slots.
func writeItems(t *testing.T, src pgtest.DB, stop <-chan struct{}, n *int, mu *sync.Mutex) {
	conn := src.Conn(t)
	defer conn.Close(context.Background())
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if _, err := conn.Exec(context.Background(), "INSERT INTO items (embedding, note) SELECT "+randomVector+", 'w'"); err != nil {
			t.Errorf("writer: %v", err)
			return
		}
		mu.Lock()
		*n++
		mu.Unlock()
	}
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
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, parallelSchema)
	tgt.Exec(t, parallelSchema)
	src.Exec(t, "INSERT INTO items (embedding, note) SELECT "+randomVector+", 'seed' FROM generate_series(1, 200)")
	src.Exec(t, "INSERT INTO docs (email, embedding) SELECT 'u' || i || '@x', '[1,2,3]' FROM generate_series(1, 20) i")
	src.Exec(t, "INSERT INTO plain SELECT i, i FROM generate_series(1, 50) i")

	stop := make(chan struct{})
	var mu sync.Mutex
	var written int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); writeItems(t, src, stop, &written, &mu) }()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()

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
	mu.Lock()
	at := written
	mu.Unlock()
	pgtest.WaitFor(t, "the writer to go on after start_sync", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return written >= at+50
	})
	close(stop)
	wg.Wait()
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
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, parallelSchema)
	tgt.Exec(t, parallelSchema)
	src.Exec(t, "INSERT INTO items (embedding, note) SELECT "+randomVector+", 'seed' FROM generate_series(1, 100)")
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
