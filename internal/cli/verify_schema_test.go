package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// schemaGroupDDL has a group table (items) whose foreign key references a
// table the group does not replicate (owners), and a serial sequence.
const schemaGroupDDL = `
CREATE TABLE owners (id int PRIMARY KEY);
INSERT INTO owners SELECT generate_series(1, 3);
CREATE TABLE items (id serial PRIMARY KEY, owner int CONSTRAINT items_owner_fkey REFERENCES owners, emb vector(3));
INSERT INTO items (owner, emb) SELECT 1 + i % 3, '[1,2,3]' FROM generate_series(1, 30) i;`

// TestVerifySchemaOnly: verify --schema-only exits 0 on identical schemas
// (the outside key NOT VALID on the target, as start_sync builds it, is a
// note; sequence values differ freely) and 1 on a difference, which plain
// verify reports too, beside the rows.
func TestVerifySchemaOnly(t *testing.T) {
	const name = "verify-schema"
	src, tgt := streamingGroup(t, name, schemaGroupDDL, []pg.Name{{Schema: "public", Name: "items"}})
	tgt.Exec(t, `ALTER TABLE items DROP CONSTRAINT items_owner_fkey;
		ALTER TABLE items ADD CONSTRAINT items_owner_fkey FOREIGN KEY (owner) REFERENCES owners NOT VALID`)
	src.Exec(t, `SELECT setval('items_id_seq', 1000)`)
	const clustered = "index public.items_pkey: clustered: source no, target yes"
	tests := []struct {
		name   string
		mutate string // run on the target first
		args   []string
		code   int
		stdout []string
		absent []string
	}{
		{name: "identical", args: []string{"verify", "-g", name, "--schema-only"}, code: 0,
			stdout: []string{"SCHEMA of 1 table(s): identical",
				"note: expected: constraint public.items.items_owner_fkey: valid: source yes, target no: it references public.owners",
				"verify: ok"},
			absent: []string{"SOURCE ROWS", "EXACT TOP"}},
		{name: "clustered on the target", mutate: `ALTER TABLE items CLUSTER ON items_pkey`,
			args: []string{"verify", "-g", name, "--schema-only"}, code: 1,
			stdout: []string{"SCHEMA of 1 table(s): 1 difference(s)\n" + clustered + "\n", "DIVERGENT"}},
		{name: "data and schema", args: []string{"verify", "-g", name, "--sample", "0"}, code: 1,
			stdout: []string{"public.items", "ok", clustered, "DIVERGENT"}},
		{name: "json", args: []string{"verify", "-g", name, "--schema-only", "--json"}, code: 1,
			stdout: []string{`"differences": [`, `"aspect": "clustered"`, `"expected": [`, `"tables": []`}},
		{name: "repaired", mutate: `ALTER TABLE items SET WITHOUT CLUSTER`,
			args: []string{"verify", "-g", name, "--schema-only"}, code: 0, stdout: []string{"identical"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mutate != "" {
				tgt.Exec(t, tt.mutate)
			}
			r := verifyCLI(t, src, tgt, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(r.stdout, s) {
					t.Errorf("stdout has %q:\n%s", s, r.stdout)
				}
			}
			if !onlyProgress(r.stderr) {
				t.Errorf("stderr is not only progress:\n%s", r.stderr)
			}
		})
	}
	doc := verifyDoc(t, verifyCLI(t, src, tgt, "verify", "-g", name, "--schema-only", "--json").stdout)
	if !doc.OK || doc.Schema == nil || doc.Schema.Tables != 1 || len(doc.Schema.Expected) != 1 {
		t.Errorf("json after the repair: %+v", doc)
	}
}
