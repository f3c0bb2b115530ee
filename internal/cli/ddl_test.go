package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

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
	stop := pgtest.StartWriter(t, src.URL, "items", 100_000)
	defer stop()

	src.Exec(t, `ALTER TABLE items ADD COLUMN emb vector(3)`)
	src.Exec(t, `UPDATE items SET emb = ARRAY[id, 1, 2]::real[]::vector WHERE id <= 1000`)
	pgtest.SameRows(t, sconn, tconn, "items", pgtest.WrittenSoFar(t, sconn, "items"))

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
	pgtest.WaitFor(t, "extra on the target", func() bool { return pgtest.RowsSum(t, tconn, "extra", "true") != "missing" })
	mustRun(t, src, tgt, "apply_ddl_change", "-g", "d")
	pgtest.SameRows(t, sconn, tconn, "extra", "true")

	src.Exec(t, `ALTER TABLE items DROP COLUMN note`)
	pgtest.SameRows(t, sconn, tconn, "items", pgtest.WrittenSoFar(t, sconn, "items"))
	src.Exec(t, `ALTER TABLE extra RENAME TO extra2`)
	src.Exec(t, `INSERT INTO extra2 VALUES (301, '[3,3]')`)
	pgtest.SameRows(t, sconn, tconn, "extra2", "true")

	unsafeChange(t, src, tgt, sconn, tconn)
	stop()
	pgtest.SameRows(t, sconn, tconn, "items", "true")
	pgtest.SameRows(t, sconn, tconn, "extra2", "true")

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
	st := waitStalled(t, src, tgt, "d")
	if st == nil || !strings.Contains(st.Statement, "vector(4)") || !strings.Contains(st.Reason, "items_emb") {
		t.Fatalf("stats does not name the statement and the reason: %+v", st)
	}
	if !strings.Contains(st.Hint, "apply_ddl_change") {
		t.Errorf("the stall's hint does not say what to run: %q", st.Hint)
	}
	tgt.Exec(t, `DROP INDEX items_emb`)
	mustRun(t, src, tgt, "apply_ddl_change", "-g", "d", "-i", fmt.Sprint(st.DDLID))
	pgtest.SameRows(t, sconn, tconn, "items", pgtest.WrittenSoFar(t, sconn, "items"))
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
	if st := waitStalled(t, src, tgt, "d"); st == nil || !strings.Contains(st.Reason, "apply worker keeps failing") {
		t.Errorf("stall: %+v", st)
	}
	tgt.Exec(t, `DELETE FROM items WHERE id = 101`)
	sconn, tconn := src.Conn(t), tgt.Conn(t)
	pgtest.SameRows(t, sconn, tconn, "items", "true")
	src.Exec(t, `INSERT INTO items VALUES (102, 'after the fix')`)
	pgtest.SameRows(t, sconn, tconn, "items", "true")
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
	pgtest.SameRows(t, src.Conn(t), tgt.Conn(t), "items", "true")
}

// stallReport is the stall stats --json reports for a stalled group.
type stallReport struct {
	Statement string `json:"statement"`
	DDLID     int64  `json:"ddl_id"`
	Reason    string `json:"reason"`
	Hint      string `json:"hint"`
}

// statsReport is pgvecrep's part of stats --json for group.
func statsReport(t *testing.T, src, tgt pgtest.DB, group string) (phase string, stall *stallReport) {
	t.Helper()
	var doc struct {
		Pgvecrep struct {
			Phase string       `json:"phase"`
			Stall *stallReport `json:"stall"`
		} `json:"pgvecrep"`
	}
	r := mustRun(t, src, tgt, "stats", "-g", group, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, r.stdout)
	}
	return doc.Pgvecrep.Phase, doc.Pgvecrep.Stall
}

// statsPhase is the group's phase as stats --json reports it.
func statsPhase(t *testing.T, src, tgt pgtest.DB, group string) string {
	t.Helper()
	phase, _ := statsReport(t, src, tgt, group)
	return phase
}

// waitStalled waits until stats --json shows group stalled and returns
// the stall it reports (nil when it reports none).
func waitStalled(t *testing.T, src, tgt pgtest.DB, group string) *stallReport {
	t.Helper()
	var stall *stallReport
	pgtest.WaitFor(t, "stats to show the group stalled", func() bool {
		var phase string
		phase, stall = statsReport(t, src, tgt, group)
		return phase == "stalled"
	})
	return stall
}
