package cli

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// jobsTables are the tables of TestVerifyJobs, in the group's order; t3 is
// the one whose target diverges.
var jobsTables = []string{"t1", "t2", "t3", "t4", "t5"}

// jobsGroup builds a streaming group over five tables with a vector index
// each, the same rows on both sides (copy_data off). The first tables are
// the largest, so with several workers the later ones tend to finish first.
func jobsGroup(t *testing.T, name string) (src, tgt pgtest.DB) {
	t.Helper()
	var ddl strings.Builder
	var tables []pg.Name
	for i, tb := range jobsTables {
		fmt.Fprintf(&ddl, `CREATE TABLE %[1]s (id int PRIMARY KEY, emb vector(3) NOT NULL, note text);
INSERT INTO %[1]s SELECT g, ARRAY[g %% 7, g %% (11 + %[2]d), 1]::real[]::vector, 'n' || g FROM generate_series(1, %[3]d) g;
CREATE INDEX %[1]s_emb ON %[1]s USING hnsw (emb vector_l2_ops);
`, tb, i, 1000-150*i)
		tables = append(tables, pg.Name{Schema: "public", Name: tb})
	}
	return streamingGroup(t, name, ddl.String(), tables)
}

// TestVerifyJobs: verify with three workers finds what one finds, table by
// table and index by index, and lists the tables in the same order.
func TestVerifyJobs(t *testing.T) {
	const name = "verify-jobs"
	src, tgt := jobsGroup(t, name)
	tgt.Exec(t, `DELETE FROM t3 WHERE id = 42; UPDATE t3 SET note = 'edited' WHERE id = 77`)
	run := func(jobs string) (code int, doc string) {
		r := verifyCLI(t, src, tgt, "verify", "-g", name, "--json", "--chunk-rows", "60", "--jobs", jobs)
		if !onlyProgress(r.stderr) {
			t.Errorf("--jobs %s: stderr holds more than progress:\n%s", jobs, r.stderr)
		}
		if n := strings.Count(r.stderr, "compared public."); n != len(jobsTables) {
			t.Errorf("--jobs %s: %d \"compared\" progress lines, want %d:\n%s", jobs, n, len(jobsTables), r.stderr)
		}
		return r.code, r.stdout
	}
	code1, out1 := run("1")
	doc1 := verifyDoc(t, out1)
	var order []string
	for _, tr := range doc1.Tables {
		order = append(order, tr.Table)
		if wantOK := tr.Table != "public.t3"; tr.OK() != wantOK {
			t.Errorf("--jobs 1: %s ok = %v, want %v", tr.Table, tr.OK(), wantOK)
		}
	}
	if want := []string{"public.t1", "public.t2", "public.t3", "public.t4", "public.t5"}; code1 != 1 || !slices.Equal(order, want) {
		t.Fatalf("--jobs 1: exit %d, tables %v; want exit 1, tables %v\n%s", code1, order, want, out1)
	}
	if tr := doc1.Tables[2]; !slices.Equal(tr.Missing, []string{"42"}) || !slices.Equal(tr.Different, []string{"77"}) {
		t.Errorf("--jobs 1: t3 = %+v, want 42 missing and 77 different", tr)
	}
	if len(doc1.ANN) != len(jobsTables) {
		t.Errorf("--jobs 1: %d nearest-neighbour results, want one per table", len(doc1.ANN))
	}
	// Twice with three workers: the order must not depend on which finishes first.
	for round := 1; round <= 2; round++ {
		code3, out3 := run("3")
		doc3 := verifyDoc(t, out3)
		if code3 != code1 {
			t.Errorf("--jobs 3 (round %d): exit %d, want %d", round, code3, code1)
		}
		if !reflect.DeepEqual(doc3.Tables, doc1.Tables) {
			t.Errorf("--jobs 3 (round %d) tables differ from --jobs 1:\n%s\nwant:\n%s", round, out3, out1)
		}
		if !reflect.DeepEqual(doc3.ANN, doc1.ANN) || !slices.Equal(doc3.Notes, doc1.Notes) {
			t.Errorf("--jobs 3 (round %d) nearest neighbours or notes differ from --jobs 1:\n%s\nwant:\n%s", round, out3, out1)
		}
	}
}
