package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// ddlWriter inserts rows into items on the source until stopped.
func ddlWriter(t *testing.T, url string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var next atomic.Int64
	next.Store(100_000)
	wg.Add(1)
	go func() {
		defer wg.Done()
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(context.Background())
		for ctx.Err() == nil {
			if _, err := conn.Exec(context.Background(), `INSERT INTO items (id) VALUES ($1)`, next.Add(1)); err != nil {
				t.Errorf("writer: %v", err)
				return
			}
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// rowsSum is an ordered checksum of table's rows matching where on db.
func rowsSum(t *testing.T, conn *pgx.Conn, table, where string) string {
	t.Helper()
	var ok bool
	if err := conn.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "missing"
	}
	var s string
	q := fmt.Sprintf(`SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, ',' ORDER BY x.id)), '') FROM %s x WHERE %s`, table, where)
	if err := conn.QueryRow(context.Background(), q).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// sameRows waits until table's rows matching where are equal on both sides;
// while the writer runs, where must leave out the ids it is still adding.
func sameRows(t *testing.T, src, tgt *pgx.Conn, table, where string) {
	t.Helper()
	var a, b string
	pgtest.WaitFor(t, table+" to match by checksum", func() bool {
		a, b = rowsSum(t, src, table, where), rowsSum(t, tgt, table, where)
		return a == b
	})
	t.Logf("%s where %s: %s on both sides", table, where, a)
}

// writtenSoFar selects the items the writer has written up to now.
func writtenSoFar(t *testing.T, src *pgx.Conn) string {
	t.Helper()
	var max int64
	if err := src.QueryRow(context.Background(), "SELECT max(id) FROM items").Scan(&max); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("id <= %d", max)
}

// ddlChange is the part of list_ddl_changes' JSON the test reads.
type ddlChange struct {
	ID        int64  `json:"id"`
	Statement string `json:"statement"`
	Status    string `json:"status"`
}

func listDDL(t *testing.T, src, tgt pgtest.DB) []ddlChange {
	t.Helper()
	var out []ddlChange
	r := mustRun(t, src, tgt, "list_ddl_changes", "-g", "d")
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("list_ddl_changes output: %v\n%s", err, r.stdout)
	}
	return out
}

// TestDDLInStreamOrder runs start_sync with the default --ddl auto and a
// writer, then changes the schema on the source mid-stream: a vector column
// added and filled, an HNSW index, a new table, a dropped column, a renamed
// table; after each the target matches by ordered checksum. An unsafe
// change (the dimension of an indexed vector column) stalls the group with
// the statement in stats, and once the user fixes the target and applies
// it, nothing is lost. Cleanup leaves no event trigger or log table.
func TestDDLInStreamOrder(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	table := `CREATE TABLE items (id bigint PRIMARY KEY, note text)`
	src.Exec(t, table)
	tgt.Exec(t, table)
	src.Exec(t, `INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 2000) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "d")
	out := mustRun(t, src, tgt, "start_sync", "-g", "d", "--jobs", "2").stdout
	if !strings.Contains(out, "--ddl auto") {
		t.Errorf("start_sync does not say DDL is applied:\n%s", out)
	}
	sconn, tconn := src.Conn(t), tgt.Conn(t)
	stop := ddlWriter(t, src.URL)
	defer stop()

	src.Exec(t, `ALTER TABLE items ADD COLUMN emb vector(3)`)
	src.Exec(t, `UPDATE items SET emb = ARRAY[id, 1, 2]::real[]::vector WHERE id <= 1000`)
	sameRows(t, sconn, tconn, "items", writtenSoFar(t, sconn))

	src.Exec(t, `CREATE INDEX items_emb ON items USING hnsw (emb vector_l2_ops)`)
	pgtest.WaitFor(t, "the HNSW index to be deferred", func() bool {
		c := listDDL(t, src, tgt)
		return len(c) == 2 && c[1].Status == "deferred"
	})
	if r := mustRun(t, src, tgt, "stats", "-g", "d"); !strings.Contains(r.stdout, "items_emb") {
		t.Errorf("stats does not list the deferred index:\n%s", r.stdout)
	}
	mustRun(t, src, tgt, "apply_ddl_change", "-g", "d")
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE indexrelid = 'items_emb'::regclass AND indisvalid"); n != 1 {
		t.Error("the HNSW index was not built on the target")
	}

	src.Exec(t, `CREATE TABLE extra (id int PRIMARY KEY, v vector(2))`)
	src.Exec(t, `INSERT INTO extra SELECT i, ARRAY[i, i]::real[]::vector FROM generate_series(1, 300) i`)
	pgtest.WaitFor(t, "extra on the target", func() bool { return rowsSum(t, tconn, "extra", "true") != "missing" })
	mustRun(t, src, tgt, "apply_ddl_change", "-g", "d")
	sameRows(t, sconn, tconn, "extra", "true")

	src.Exec(t, `ALTER TABLE items DROP COLUMN note`)
	sameRows(t, sconn, tconn, "items", writtenSoFar(t, sconn))
	src.Exec(t, `ALTER TABLE extra RENAME TO extra2`)
	src.Exec(t, `INSERT INTO extra2 VALUES (301, '[3,3]')`)
	sameRows(t, sconn, tconn, "extra2", "true")

	unsafeChange(t, src, tgt, sconn, tconn)
	stop()
	sameRows(t, sconn, tconn, "items", "true")
	sameRows(t, sconn, tconn, "extra2", "true")

	mustRun(t, src, tgt, "cleanup", "-g", "d")
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_event_trigger"); n != 0 {
		t.Errorf("%d event trigger(s) left on the source", n)
	}
	for _, db := range []pgtest.DB{src, tgt} {
		if n := db.QueryInt(t, "SELECT count(*) FROM pg_class WHERE relname LIKE 'ddl\\_d%'"); n != 0 {
			t.Errorf("%d DDL log object(s) left on %s", n, db.Cluster.Dir)
		}
	}
	pgtest.AssertNoReplication(t, src, tgt)
}

// unsafeChange changes the dimension of the HNSW-indexed column: stats must
// show the group stalled with the statement, and after the user drops the
// index on the target and applies the change, the rows flow again.
func unsafeChange(t *testing.T, src, tgt pgtest.DB, sconn, tconn *pgx.Conn) {
	t.Helper()
	src.Exec(t, `UPDATE items SET emb = NULL`)
	src.Exec(t, `ALTER TABLE items ALTER COLUMN emb TYPE vector(4)`)
	var doc struct {
		Pgvecrep struct {
			Phase string `json:"phase"`
			Stall *struct {
				Statement string `json:"statement"`
				DDLID     int64  `json:"ddl_id"`
				Reason    string `json:"reason"`
				Hint      string `json:"hint"`
			} `json:"stall"`
		} `json:"pgvecrep"`
	}
	rep := &doc.Pgvecrep
	pgtest.WaitFor(t, "stats to show the group stalled", func() bool {
		r := mustRun(t, src, tgt, "stats", "-g", "d", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("stats --json: %v\n%s", err, r.stdout)
		}
		return rep.Phase == "stalled"
	})
	if rep.Stall == nil || !strings.Contains(rep.Stall.Statement, "vector(4)") || !strings.Contains(rep.Stall.Reason, "items_emb") {
		t.Fatalf("stats does not name the statement and the reason: %+v", rep.Stall)
	}
	if !strings.Contains(rep.Stall.Hint, "apply_ddl_change") {
		t.Errorf("the stall's hint does not say what to run: %q", rep.Stall.Hint)
	}
	tgt.Exec(t, `DROP INDEX items_emb`)
	mustRun(t, src, tgt, "apply_ddl_change", "-g", "d", "-i", fmt.Sprint(rep.Stall.DDLID))
	sameRows(t, sconn, tconn, "items", writtenSoFar(t, sconn))
	if phase := statsPhase(t, src, tgt, "d"); phase != "streaming" {
		t.Errorf("stats after the fix: phase %q, want streaming", phase)
	}
}

// TestStatsShowsApplyFailure: an apply failure that is not DDL (a row on
// the target that makes the source's insert a unique violation) shows the
// group stalled in stats, never STREAMING; once the user removes the row,
// the apply worker goes on and nothing is lost.
func TestStatsShowsApplyFailure(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	table := `CREATE TABLE items (id bigint PRIMARY KEY, note text)`
	src.Exec(t, table)
	tgt.Exec(t, table)
	src.Exec(t, `INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 100) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "d")
	mustRun(t, src, tgt, "start_sync", "-g", "d", "--ddl", "off")
	tgt.Exec(t, `INSERT INTO items VALUES (101, 'only on the target')`)
	src.Exec(t, `INSERT INTO items VALUES (101, 'from the source')`)
	var doc struct {
		Pgvecrep struct {
			Phase string `json:"phase"`
			Stall *struct {
				Reason string `json:"reason"`
			} `json:"stall"`
		} `json:"pgvecrep"`
	}
	rep := &doc.Pgvecrep
	pgtest.WaitFor(t, "stats to show the group stalled", func() bool {
		r := mustRun(t, src, tgt, "stats", "-g", "d", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("stats --json: %v\n%s", err, r.stdout)
		}
		return rep.Phase == "stalled"
	})
	if rep.Stall == nil || !strings.Contains(rep.Stall.Reason, "apply worker keeps failing") {
		t.Errorf("stall: %+v", rep.Stall)
	}
	tgt.Exec(t, `DELETE FROM items WHERE id = 101`)
	sconn, tconn := src.Conn(t), tgt.Conn(t)
	sameRows(t, sconn, tconn, "items", "true")
	src.Exec(t, `INSERT INTO items VALUES (102, 'after the fix')`)
	sameRows(t, sconn, tconn, "items", "true")
	if phase := statsPhase(t, src, tgt, "d"); phase != "streaming" {
		t.Errorf("stats after the fix: phase %q, want streaming", phase)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "d")
	pgtest.AssertNoReplication(t, src, tgt)
}

// TestTrackDDL: bootstrap --track-ddl (pg_easy_replicate's flag) makes
// start_sync record schema changes without applying them; list_ddl_changes
// shows them as recorded, and apply_ddl_change applies them, after which
// the rows that need them arrive.
func TestTrackDDL(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	table := `CREATE TABLE items (id bigint PRIMARY KEY, note text)`
	src.Exec(t, table)
	tgt.Exec(t, table)
	mustRun(t, src, tgt, "bootstrap", "-g", "d", "-d")
	if out := mustRun(t, src, tgt, "start_sync", "-g", "d").stdout; !strings.Contains(out, "--track-ddl") {
		t.Errorf("start_sync does not say it tracks DDL:\n%s", out)
	}
	src.Exec(t, `ALTER TABLE items ADD COLUMN v vector(2)`)
	pgtest.WaitFor(t, "the change to be recorded on the target", func() bool {
		c := listDDL(t, src, tgt)
		return len(c) == 1 && c[0].Status == "recorded"
	})
	src.Exec(t, `INSERT INTO items VALUES (1, 'a', '[1,2]')`)
	mustRun(t, src, tgt, "apply_ddl_change", "-g", "d")
	if c := listDDL(t, src, tgt); c[0].Status != "resolved" {
		t.Errorf("status after apply_ddl_change: %+v", c)
	}
	sameRows(t, src.Conn(t), tgt.Conn(t), "items", "true")
}

// statsPhase is the group's phase as stats --json reports it.
func statsPhase(t *testing.T, src, tgt pgtest.DB, group string) string {
	t.Helper()
	var doc struct {
		Pgvecrep struct {
			Phase string `json:"phase"`
		} `json:"pgvecrep"`
	}
	r := mustRun(t, src, tgt, "stats", "-g", group, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, r.stdout)
	}
	return doc.Pgvecrep.Phase
}
