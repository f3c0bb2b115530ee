package cli

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/verify"
)

const verifyDDL = `
CREATE TABLE items (id int PRIMARY KEY, emb vector(4) NOT NULL);
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Odd ""T""" ("K 1" int, k2 text, PRIMARY KEY ("K 1", k2));
CREATE TABLE other (id int PRIMARY KEY);
INSERT INTO items SELECT i, ARRAY[i % 7, i % 11, i % 13, 1]::real[]::vector FROM generate_series(1, 300) i;
INSERT INTO "Odd Schema"."Odd ""T""" SELECT i, 'v' || i FROM generate_series(1, 50) i;
CREATE INDEX items_emb ON items USING hnsw (emb vector_l2_ops);`

// verifyGroup builds by hand what start_sync leaves behind: the same rows on
// both sides, a group in phase streaming, and a publication and a
// subscription named after it (copy_data off: the rows are there already).
func verifyGroup(t *testing.T, name string) (src, tgt pgtest.DB) {
	t.Helper()
	tables := []pg.Name{{Schema: "public", Name: "items"}, {Schema: "Odd Schema", Name: `Odd "T"`}}
	return streamingGroup(t, name, verifyDDL, tables)
}

// streamingGroup makes a fresh pair with ddl run on both sides and a group
// over tables marked streaming, with its publication and subscription
// (copy_data off: both sides already hold the same rows).
func streamingGroup(t *testing.T, name, ddl string, tables []pg.Name) (src, tgt pgtest.DB) {
	t.Helper()
	env := pgtest.Get(t)
	src, tgt = env.Pair(t)
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	ctx := context.Background()
	conn := tgt.Conn(t)
	if err := group.EnsureSchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if _, err := group.Create(ctx, conn, name); err != nil {
		t.Fatal(err)
	}
	if err := group.Start(ctx, conn, name, tables, "native"); err != nil {
		t.Fatal(err)
	}
	if err := group.SetPhase(ctx, conn, name, group.Streaming); err != nil {
		t.Fatal(err)
	}
	obj := group.ObjectName(name)
	env.Stream(t, src, tgt, pgtest.Stream{Publication: obj, Subscription: obj, Tables: catalog.QuotedNames(tables)})
	return src, tgt
}

// verifyCLI runs pgvecrep with the URLs as flags.
func verifyCLI(t *testing.T, src, tgt pgtest.DB, args ...string) cliResult {
	t.Helper()
	return runWith(context.Background(), t, nil, append(args, "--source-url", src.URL, "--target-url", tgt.URL)...)
}

// verifyDoc decodes verify --json output.
func verifyDoc(t *testing.T, out string) (doc struct {
	OK bool `json:"ok"`
	verify.Report
}) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("verify --json printed invalid JSON: %v\n%s", err, out)
	}
	return doc
}

func TestVerifyCommand(t *testing.T) {
	const name = "verify cli"
	src, tgt := verifyGroup(t, name)
	// The cases run in order on the same databases; the last ones break the target.
	tests := []struct {
		name     string
		mutate   string // run on the target first
		args     []string
		code     int
		stdout   []string
		stderr   string
		jsonWant func(t *testing.T, out string)
	}{
		{name: "healthy replica", args: []string{"verify", "-g", name}, code: 0,
			stdout: []string{"public.items", `"Odd Schema"."Odd ""T"""`, "items_emb", "identical", "verify: ok"}},
		{name: "json for one table", args: []string{"verify", "--group-name", name, "--tables", "items", "--json"}, code: 0,
			jsonWant: func(t *testing.T, out string) {
				doc := verifyDoc(t, out)
				if !doc.OK || len(doc.Tables) != 1 || doc.Tables[0].SourceRows != 300 || len(doc.ANN) != 1 || !doc.ANN[0].ExactOK {
					t.Errorf("want ok with items only (300 rows, exact neighbours identical):\n%s", out)
				}
			}},
		{name: "table not in the group", args: []string{"verify", "-g", name, "-t", "other"}, code: 2,
			stderr: "not in group"},
		{name: "unknown group", args: []string{"verify", "-g", "nope"}, code: 1, stderr: "hint: groups on the target:"},
		{name: "no group", args: []string{"verify"}, code: 2, stderr: "--group-name is required"},
		{name: "row deleted on the target", mutate: `DELETE FROM "Odd Schema"."Odd ""T""" WHERE "K 1" = 7`,
			args: []string{"verify", "-g", name, "--sample", "0"}, code: 1,
			stdout: []string{`"Odd Schema"."Odd ""T""": missing on the target: (7,v7)`, "DIVERGENT"}},
		{name: "vector altered on the target", mutate: `UPDATE items SET emb = '[100,100,100,100]' WHERE id = 5`,
			args: []string{"verify", "-g", name, "-t", "public.items", "--json"}, code: 1,
			jsonWant: func(t *testing.T, out string) {
				doc := verifyDoc(t, out)
				if doc.OK || len(doc.Tables) != 1 || !slices.Equal(doc.Tables[0].Different, []string{"5"}) {
					t.Errorf("want items row 5 different:\n%s", out)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mutate != "" {
				tgt.Exec(t, tt.mutate)
			}
			r := verifyCLI(t, src, tgt, tt.args...)
			if testing.Verbose() {
				t.Logf("pgvecrep %s -> %d\n%s%s", strings.Join(tt.args, " "), r.code, r.stdout, r.stderr)
			}
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			// Besides an error, stderr holds only timestamped progress lines.
			if !strings.Contains(r.stderr, tt.stderr) || (tt.stderr == "" && !onlyProgress(r.stderr)) {
				t.Errorf("stderr = %q, want %q", r.stderr, tt.stderr)
			}
			if tt.jsonWant != nil {
				tt.jsonWant(t, r.stdout)
			}
		})
	}
}

// TestVerifyAfterStartSync runs verify on what start_sync really built, after
// writes that streamed, and again once stop_sync has detached the target.
func TestVerifyAfterStartSync(t *testing.T) {
	src, tgt := pgtest.Get(t).Pair(t)
	src.Exec(t, verifyDDL)
	const g = "verify-e2e"
	for _, args := range [][]string{{"bootstrap", "-g", g, "--copy-schema"}, {"start_sync", "-g", g}} {
		if r := verifyCLI(t, src, tgt, args...); r.code != 0 {
			t.Fatalf("pgvecrep %v exited %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}
	src.Exec(t, `INSERT INTO items SELECT i, ARRAY[i % 5, 1, 2, 3]::real[]::vector FROM generate_series(301, 400) i;
UPDATE items SET emb = '[1,1,1,1]' WHERE id <= 20; DELETE FROM items WHERE id BETWEEN 50 AND 60`)
	r := verifyCLI(t, src, tgt, "verify", "-g", g, "--json", "--chunk-rows", "40")
	doc := verifyDoc(t, r.stdout)
	if r.code != 0 || !doc.OK || len(doc.Tables) != 2 || len(doc.ANN) != 1 || len(doc.Notes) != 0 {
		t.Fatalf("verify after start_sync: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Progress goes to stderr as timestamped lines (not a terminal here).
	for _, want := range []string{"] comparing public.items (table ", "] compared public.items: 389 rows on the source, 389 on the target, 0 of 10 checksum ranges differ",
		"] checking nearest neighbours on ", "] verified 2 table(s) in "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("verify's progress lacks %q:\n%s", want, r.stderr)
		}
	}
	for _, it := range doc.Tables {
		if it.Table == "public.items" && (it.SourceRows != 389 || it.TargetRows != 389 || it.Chunks != 10) {
			t.Errorf("items = %+v, want 389 rows on both sides in 10 chunks", it)
		}
	}

	if r := verifyCLI(t, src, tgt, "stop_sync", "-g", g); r.code != 0 {
		t.Fatalf("stop_sync exited %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = verifyCLI(t, src, tgt, "verify", "-g", g)
	if r.code != 0 || !strings.Contains(r.stdout, "not found on the target") || !strings.Contains(r.stdout, "is stopped") {
		t.Errorf("verify after stop_sync: exit %d, want 0 with notes on the subscription and the phase\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// onlyProgress reports whether every line of s is a timestamped progress line.
func onlyProgress(s string) bool {
	for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "[") {
			return false
		}
	}
	return true
}
