package cli

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// oddDDL makes, in a schema with a dot in its name, a table whose name has a
// quote, a dot, a space, upper case and a non-ASCII letter, one whose name
// is crafted to end a statement and drop another table, and that victim.
const oddDDL = `
CREATE TABLE victim (id int);
CREATE SCHEMA "a.b";
CREATE TABLE "a.b"."we""ird.T ä" (id serial PRIMARY KEY, "Emb V" vector(3));
CREATE INDEX "hnsw ä" ON "a.b"."we""ird.T ä" USING hnsw ("Emb V" vector_l2_ops);
CREATE TABLE "a.b"."x""; DROP TABLE victim; --" (id int PRIMARY KEY);`

// runBinary runs the pgvecrep binary and fails the test unless it exits 0.
func runBinary(t *testing.T, src, tgt pgtest.DB, args ...string) string {
	t.Helper()
	cmd := subprocess(t, src, tgt, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("pgvecrep %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// TestOddNamesEndToEnd drives the binary through a whole group whose tables
// have names that break any code pasting stored text into SQL: start_sync
// (deferred HNSW index, metadata), stats, verify, switchover (freeze
// trigger, sequence, VACUUM) and cleanup. The victim table survives
// everything, on both sides.
func TestOddNamesEndToEnd(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, oddDDL)
	tgt.Exec(t, oddDDL)
	src.Exec(t, `INSERT INTO "a.b"."we""ird.T ä" ("Emb V") SELECT format('[%s,1,2]', i)::vector FROM generate_series(1, 40) i;
		INSERT INTO "a.b"."x""; DROP TABLE victim; --" SELECT generate_series(1, 7)`)
	runBinary(t, src, tgt, "bootstrap", "-g", "odd", "--schema-name", "a.b")
	runBinary(t, src, tgt, "start_sync", "-g", "odd", "--schema-name", "a.b")

	got := tgt.QueryStrings(t, `SELECT schema_name || '|' || table_name FROM pgvecrep.tables ORDER BY 1`)
	if want := []string{`a.b|we"ird.T ä`, `a.b|x"; DROP TABLE victim; --`}; !slices.Equal(got, want) {
		t.Errorf("pgvecrep.tables holds %q, want %q", got, want)
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'a.b' AND indexname = 'hnsw ä'`); n != 1 {
		t.Errorf("the deferred HNSW index was not built again on the target")
	}

	var st struct {
		Pgvecrep struct {
			Tables []struct {
				Table, State string
				Rows         int64
			}
		}
	}
	if err := json.Unmarshal([]byte(runBinary(t, src, tgt, "stats", "-g", "odd")), &st); err != nil {
		t.Fatal(err)
	}
	if ts := st.Pgvecrep.Tables; len(ts) != 2 || ts[0].Table != `"a.b"."we""ird.T ä"` || ts[0].Rows != 40 ||
		ts[1].Table != `"a.b"."x""; DROP TABLE victim; --"` || ts[1].Rows != 7 || ts[0].State != "streaming" {
		t.Errorf("stats tables = %+v", ts)
	}

	doc := verifyDoc(t, runBinary(t, src, tgt, "verify", "-g", "odd", "--json"))
	if !doc.OK || len(doc.Tables) != 2 || doc.Tables[0].SourceRows+doc.Tables[1].SourceRows != 47 {
		t.Errorf("verify: ok %v, tables %+v", doc.OK, doc.Tables)
	}

	runBinary(t, src, tgt, "switchover", "-g", "odd", "--lag-delta-size", "100kB")
	if err := src.Cluster.Exec(t.Context(), src.Name, `INSERT INTO "a.b"."x""; DROP TABLE victim; --" VALUES (99)`); err == nil ||
		!strings.Contains(err.Error(), "cannot execute INSERT in a read-only transaction") {
		t.Errorf("insert on the switched-over source: %v, want the freeze error", err)
	}
	if id := tgt.QueryInt(t, `INSERT INTO "a.b"."we""ird.T ä" ("Emb V") VALUES ('[0,0,0]') RETURNING id`); id != 41 {
		t.Errorf("next id on the target = %d, want 41 (from the source's sequence)", id)
	}
	runBinary(t, src, tgt, "cleanup", "--sync", "--restore-source-writes", "-g", "odd") // --sync ends the way back first
	src.Exec(t, `INSERT INTO "a.b"."x""; DROP TABLE victim; --" VALUES (99)`)
	runBinary(t, src, tgt, "cleanup", "--everything")
	pgtest.AssertNoReplication(t, src, tgt)
	for side, db := range map[string]pgtest.DB{"source": src, "target": tgt} {
		if n := db.QueryInt(t, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'victim'`); n != 1 {
			t.Errorf("table victim is gone from the %s", side)
		}
	}
}
