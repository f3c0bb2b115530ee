package upgrade

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestUpgradeTutorial is the seed tutorial from a PostgreSQL 15 source to a
// PostgreSQL 18 target: config_check names the upgrade path, bootstrap
// copies the schema, start_sync streams, the HNSW index answers the kNN
// query on the target, and verify finds the exact nearest neighbours equal.
func TestUpgradeTutorial(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	versions(t, src, tgt, pgtest.Upgrade)
	src.Exec(t, `CREATE TABLE test (id integer PRIMARY KEY, embedding vector(10) NOT NULL);
		CREATE INDEX ON test USING hnsw (embedding vector_l2_ops);`)
	insertRandom(t, src, "test", 1, 500)

	r := mustRun(t, src, tgt, "config_check", "--copy-schema")
	for _, want := range []string{"upgrade path: PostgreSQL 15 -> 18", "binary", "pg_create_subscription", "Config is looking good"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config_check output lacks %q:\n%s", want, r.stdout)
		}
	}
	mustRun(t, src, tgt, "bootstrap", "--group-name", "database-cluster-1", "--copy-schema")
	r = mustRun(t, src, tgt, "start_sync", "--group-name", "database-cluster-1")
	if !strings.Contains(r.stdout, "streaming") {
		t.Errorf("start_sync does not say it streams:\n%s", r.stdout)
	}
	insertRandom(t, src, "test", 501, 600)
	tgt.WaitCount(t, "test", 600)
	if a, b := topTen(t, src, "test"), topTen(t, tgt, "test"); a != b {
		t.Errorf("exact top 10 differ across versions: source %s, target %s", a, b)
	}
	nn := fmt.Sprintf(`SELECT id FROM test ORDER BY embedding <-> '%s' LIMIT 10`, probe)
	if n := tgt.IndexScan(t, nn, "test_embedding_idx"); n != 10 {
		t.Errorf("the HNSW index scan on the 18 target returned %d rows, want 10", n)
	}

	r = mustRun(t, src, tgt, "verify", "-g", "database-cluster-1", "--json")
	var doc struct {
		OK bool `json:"ok"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || !doc.OK {
		t.Errorf("verify across 15 -> 18: ok=%t err=%v\n%s", doc.OK, err, r.stdout)
	}
	mustRun(t, src, tgt, "stop_sync", "-g", "database-cluster-1")
	mustRun(t, src, tgt, "cleanup", "--everything")
	pgtest.AssertNoReplication(t, src, tgt)
}

// writer inserts rows into items on db one statement at a time, as an
// application does, until stop is closed or the source refuses writes (the
// switchover's freeze), and remembers every id the server acknowledged.
// It writes at a steady few hundred rows a second. When the switchover ends its session it reconnects and retries the
// unacknowledged row, as an application with a connection pool would.
type writer struct {
	mu          sync.Mutex
	acked       []int64
	reconnected int
	err         error
	done        chan struct{}
}

const writeRow = `INSERT INTO items (embedding) VALUES (ARRAY[$1::int % 97, $1::int % 89, 1]::real[]::vector) RETURNING id`

func startWriter(t *testing.T, db pgtest.DB, stop <-chan struct{}) *writer {
	t.Helper()
	w := &writer{done: make(chan struct{})}
	ctx := context.Background()
	go func() {
		defer close(w.done)
		var conn *pgx.Conn
		defer func() {
			if conn != nil {
				conn.Close(ctx)
			}
		}()
		for i := 0; ; {
			select {
			case <-stop:
				return
			default:
			}
			var err error
			if conn == nil {
				conn, err = pgx.Connect(ctx, db.URL)
			}
			var id int64
			if err == nil {
				err = conn.QueryRow(ctx, writeRow, i).Scan(&id)
			}
			w.mu.Lock()
			switch {
			case err == nil:
				w.acked = append(w.acked, id)
				i++
			case conn != nil && (conn.IsClosed() || pg.Code(err) == "57P01"):
				conn.Close(ctx)
				conn = nil
				w.reconnected++
			default:
				w.err = err
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			// A few hundred rows a second: an unthrottled writer on a
			// loaded machine can outrun the target's single apply
			// worker, and then no switchover ever finds the lag small.
			time.Sleep(3 * time.Millisecond)
		}
	}()
	return w
}

// count is how many rows the source acknowledged so far; it fails the test
// when the writer stopped on an error of its own.
func (w *writer) count(t *testing.T) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		t.Fatalf("the writer stopped early: %v", w.err)
	}
	return len(w.acked)
}

// TestUpgradeWriterSwitchover keeps a writer on the 15 source from before
// start_sync until the switchover freezes it, then checks that every row the
// source acknowledged is on the 18 target, that the target's sequence
// continues after the source's, and that verify passes.
func TestUpgradeWriterSwitchover(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	versions(t, src, tgt, pgtest.Upgrade)
	src.Exec(t, `CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3) NOT NULL);
		INSERT INTO items (embedding) SELECT ARRAY[i % 7, i % 11, i % 13]::real[]::vector FROM generate_series(1, 5000) i;
		CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops);`)
	mustRun(t, src, tgt, "bootstrap", "-g", "up", "--copy-schema")

	stop := make(chan struct{})
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()
	w := startWriter(t, src, stop)
	pgtest.WaitFor(t, "the writer's first rows", func() bool { return w.count(t) >= 10 })
	mustRun(t, src, tgt, "start_sync", "-g", "up")
	before := w.count(t)
	pgtest.WaitFor(t, "rows written while streaming", func() bool { return w.count(t) >= before+50 })

	r := mustRun(t, src, tgt, "switchover", "-g", "up", "--lag-delta-size", "100kB", "--skip-vacuum-analyze")
	if !strings.Contains(r.stdout, "Writes were frozen for") {
		t.Errorf("switchover does not print the freeze window:\n%s", r.stdout)
	}
	close(stop)
	<-w.done
	if w.err == nil || !strings.Contains(w.err.Error(), "read-only transaction") {
		t.Errorf("the writer stopped with %v, want the freeze error", w.err)
	}
	acked := w.acked
	t.Logf("writer: %d rows acknowledged by the 15 source, %d reconnection(s), stopped by: %v", len(acked), w.reconnected, w.err)

	// Nothing lost, nothing extra: the target holds exactly the source's rows.
	ids := make([]string, len(acked))
	for i, id := range acked {
		ids[i] = fmt.Sprint(id)
	}
	missing := tgt.QueryInt(t, fmt.Sprintf(`SELECT count(*) FROM unnest('{%s}'::bigint[]) a(id) WHERE NOT EXISTS (SELECT 1 FROM items WHERE items.id = a.id)`, strings.Join(ids, ",")))
	if missing != 0 {
		t.Errorf("%d acknowledged rows are missing on the target", missing)
	}
	if s, g := src.QueryInt(t, "SELECT count(*) FROM items"), tgt.QueryInt(t, "SELECT count(*) FROM items"); s != g || s != int64(5000+len(acked)) {
		t.Errorf("rows: source %d, target %d, want %d on both", s, g, 5000+len(acked))
	}
	srcSum := src.QueryStrings(t, "SELECT md5(string_agg(id || ':' || embedding::text, ',' ORDER BY id)) FROM items")[0]
	if tgtSum := tgt.QueryStrings(t, "SELECT md5(string_agg(id || ':' || embedding::text, ',' ORDER BY id)) FROM items")[0]; srcSum != tgtSum {
		t.Errorf("checksums differ: source %s, target %s", srcSum, tgtSum)
	}

	// The sequence continues on the target past everything the source handed out.
	maxID := src.QueryInt(t, "SELECT max(id) FROM items")
	if next := tgt.QueryInt(t, "INSERT INTO items (embedding) VALUES ('[0,0,0]') RETURNING id"); next <= maxID {
		t.Errorf("next id on the 18 target = %d, want above the source's %d", next, maxID)
	}
	mustRun(t, src, tgt, "stop_sync", "-g", "up") // the way back: -r refuses while it runs
	mustRun(t, src, tgt, "cleanup", "--restore-source-writes")
	mustRun(t, src, tgt, "cleanup", "--everything")
}

// TestUpgradeNativeBinary: with the engine's own copy, an 18 target gets
// binary = true, and the rows still match.
func TestUpgradeNativeBinary(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	versions(t, src, tgt, pgtest.Upgrade)
	src.Exec(t, `CREATE TABLE test (id integer PRIMARY KEY, embedding vector(10) NOT NULL, note text, h halfvec(10));
		CREATE INDEX ON test USING hnsw (embedding vector_l2_ops);`)
	insertRandom(t, src, "test", 1, 300)
	src.Exec(t, "UPDATE test SET note = 'n' || id, h = embedding::halfvec WHERE id % 3 = 0")
	mustRun(t, src, tgt, "bootstrap", "-g", "native", "--copy-schema")
	mustRun(t, src, tgt, "start_sync", "-g", "native", "--copy-mode", "native")
	if got := tgt.QueryStrings(t, "SELECT subbinary::text FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"); len(got) != 1 || got[0] != "true" {
		t.Errorf("subscription binary = %v on the 18 target, want [true]", got)
	}
	src.Exec(t, "UPDATE test SET h = embedding::halfvec, note = 'x' WHERE id <= 10")
	insertRandom(t, src, "test", 301, 320)
	tgt.WaitCount(t, "test", 320)
	pgtest.WaitFor(t, "the update to reach the target", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM test WHERE note = 'x'") == 10
	})
	sum := "SELECT md5(string_agg(id || ':' || embedding::text || coalesce(note, '-') || coalesce(h::text, '-'), ',' ORDER BY id)) FROM test"
	if a, b := src.QueryStrings(t, sum)[0], tgt.QueryStrings(t, sum)[0]; a != b {
		t.Errorf("checksums differ after the binary native copy: source %s, target %s", a, b)
	}
	mustRun(t, src, tgt, "stop_sync", "-g", "native")
	mustRun(t, src, tgt, "cleanup", "--everything")
}
