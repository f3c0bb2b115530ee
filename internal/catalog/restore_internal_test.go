package catalog

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// TestPlaceStorage pins where a tablespace and a key's storage options go
// in a definition: before the predicate and the DEFERRABLE clauses, and
// nowhere (placed false) when the definition does not end as the catalog
// says or is a partitioned index's.
func TestPlaceStorage(t *testing.T) {
	ix := func(conType, def string, partitioned bool) Index {
		return Index{Table: pg.Name{Schema: "s", Name: "t"}, Name: "i", ConType: conType, Def: def, Partitioned: partitioned}
	}
	tests := []struct {
		name   string
		f      indexFacts
		def    string
		placed bool
	}{
		{"nothing to place", indexFacts{Index: ix("", "CREATE INDEX i ON s.t USING btree (a)", false)},
			"CREATE INDEX i ON s.t USING btree (a)", true},
		{"plain", indexFacts{Index: ix("", "CREATE INDEX i ON s.t USING btree (a) WITH (fillfactor='70')", false), tablespace: "Fast"},
			`CREATE INDEX i ON s.t USING btree (a) WITH (fillfactor='70') TABLESPACE "Fast"`, true},
		{"partial", indexFacts{Index: ix("", "CREATE INDEX i ON s.t USING btree (a) WHERE (b > 0)", false), tablespace: "ts", predicate: "(b > 0)"},
			`CREATE INDEX i ON s.t USING btree (a) TABLESPACE "ts" WHERE (b > 0)`, true},
		{"partitioned", indexFacts{Index: ix("", "CREATE INDEX i ON ONLY s.t USING btree (a)", true), tablespace: "ts"},
			"CREATE INDEX i ON ONLY s.t USING btree (a)", false},
		{"unexpected end", indexFacts{Index: ix("", "CREATE INDEX i ON s.t USING btree (a) WHERE b", false), tablespace: "ts", predicate: "(b)"},
			"CREATE INDEX i ON s.t USING btree (a) WHERE b", false},
		{"primary key", indexFacts{Index: ix("p", "ALTER TABLE s.t ADD CONSTRAINT i PRIMARY KEY (a) INCLUDE (b)", false),
			tablespace: "ts", options: []string{"fillfactor='80'"}},
			`ALTER TABLE s.t ADD CONSTRAINT i PRIMARY KEY (a) INCLUDE (b) WITH (fillfactor='80') USING INDEX TABLESPACE "ts"`, true},
		{"deferrable unique", indexFacts{Index: ix("u", "ALTER TABLE s.t ADD CONSTRAINT i UNIQUE (a) DEFERRABLE INITIALLY DEFERRED", false),
			options: []string{"fillfactor='80'"}, deferrable: true, deferred: true},
			`ALTER TABLE s.t ADD CONSTRAINT i UNIQUE (a) WITH (fillfactor='80') DEFERRABLE INITIALLY DEFERRED`, true},
		{"exclusion", indexFacts{Index: ix("x", "ALTER TABLE s.t ADD CONSTRAINT i EXCLUDE USING btree (a WITH =) WITH (fillfactor='60') WHERE ((a > 0))", false),
			tablespace: "ts", options: []string{"fillfactor='60'"}, predicate: "(a > 0)"},
			`ALTER TABLE s.t ADD CONSTRAINT i EXCLUDE USING btree (a WITH =) WITH (fillfactor='60') USING INDEX TABLESPACE "ts" WHERE ((a > 0))`, true},
	}
	for _, tt := range tests {
		def, placed := tt.f.placeStorage()
		if def != tt.def || placed != tt.placed {
			t.Errorf("%s: placeStorage = %q, %v; want %q, %v", tt.name, def, placed, tt.def, tt.placed)
		}
	}
}

// TestRestoreStatements pins the statements for an index that lost
// everything a definition cannot say, quoted for odd names.
func TestRestoreStatements(t *testing.T) {
	f := indexFacts{
		Index:     Index{Table: pg.Name{Schema: "S", Name: "t"}, Name: "old", Constraint: "k y", ConType: "u", Def: "ALTER TABLE x"},
		replIdent: true, clustered: true, comment: "'ix'", conComment: `E'a\\b'`,
		statColumns: []int32{2}, statTargets: []int32{0},
	}
	want := []string{
		`COMMENT ON INDEX "S"."k y" IS 'ix'`,
		`COMMENT ON CONSTRAINT "k y" ON "S"."t" IS E'a\\b'`,
		`ALTER INDEX "S"."k y" ALTER COLUMN 2 SET STATISTICS 0`,
		`ALTER TABLE "S"."t" REPLICA IDENTITY USING INDEX "k y"`,
		`ALTER TABLE "S"."t" CLUSTER ON "k y"`,
	}
	if got := f.withRestore(nil).Restore; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Restore =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	f.Partitioned = true
	part := partIndex{table: pg.Name{Schema: "S", Name: "t_1"}, name: "$rename$", replIdent: true}
	got := f.withRestore([]partIndex{part}).Restore
	rename := got[len(got)-2]
	if !strings.HasPrefix(rename, "DO $rename0$") || !strings.HasSuffix(rename, "$rename0$") {
		t.Errorf("rename of a partition's index %q: want a dollar quote its names do not hold", rename)
	}
	if last := got[len(got)-1]; last != `ALTER TABLE "S"."t_1" REPLICA IDENTITY USING INDEX "$rename$"` {
		t.Errorf("last statement %q, want the partition's replica identity", last)
	}
}

func TestLiteral(t *testing.T) {
	for in, want := range map[string]string{`plain`: `'plain'`, `it's`: `'it''s'`, `a\b'`: `E'a\\b'''`} {
		if got := literal(in); got != want {
			t.Errorf("literal(%q) = %s, want %s", in, got, want)
		}
	}
}
