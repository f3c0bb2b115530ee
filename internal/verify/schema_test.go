package verify

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// schemaDDL has one of each kind of object verify compares: a serial, an
// identity and a free sequence used in a default, a typmod'd vector, a
// collation, a generated column, a deferrable foreign key, a NOT VALID
// check, an index that is the replica identity and carries a comment, a
// vector index, a trigger, row-level security with a policy, comments.
const schemaDDL = `
CREATE SCHEMA app;
CREATE TABLE app.customers (id bigserial PRIMARY KEY, name text COLLATE "C" NOT NULL, note text DEFAULT 'n/a');
CREATE SEQUENCE app.sku_seq;
CREATE TABLE app.tags (
    sku bigint NOT NULL DEFAULT nextval('app.sku_seq'),
    tag text NOT NULL,
    emb vector(4),
    customer bigint CONSTRAINT tags_customer_fkey REFERENCES app.customers DEFERRABLE INITIALLY DEFERRED,
    n int GENERATED ALWAYS AS IDENTITY,
    doubled bigint GENERATED ALWAYS AS (sku * 2) STORED);
ALTER TABLE app.tags ADD CONSTRAINT tags_sku_positive CHECK (sku > 0) NOT VALID;
CREATE UNIQUE INDEX tags_sku_tag ON app.tags (sku, tag);
ALTER TABLE app.tags REPLICA IDENTITY USING INDEX tags_sku_tag;
CREATE INDEX tags_emb ON app.tags USING hnsw (emb vector_cosine_ops);
COMMENT ON INDEX app.tags_sku_tag IS 'one tag per sku';
COMMENT ON TABLE app.tags IS 'tags of products';
COMMENT ON COLUMN app.tags.tag IS 'lower case';
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER tags_touch BEFORE UPDATE ON app.tags FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.tags ENABLE ROW LEVEL SECURITY;
CREATE POLICY tags_read ON app.tags FOR SELECT USING (tag <> 'secret');`

// schemaPair is a fresh pair of databases, each with schemaDDL.
func schemaPair(t *testing.T) (src, tgt pgtest.DB) {
	t.Helper()
	src, tgt = pgtest.Get(t).Pair(t)
	src.Exec(t, schemaDDL)
	tgt.Exec(t, schemaDDL)
	return src, tgt
}

// compareOnly runs verify with SchemaOnly over tables, the group being
// replicated (all of tables when nil).
func compareOnly(t *testing.T, src, tgt pgtest.DB, tables, replicated []pg.Name) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, src.Conn(t), tgt.Conn(t), Options{Tables: tables, Replicated: replicated, SchemaOnly: true})
	if err != nil {
		t.Fatalf("verify --schema-only: %v", err)
	}
	if rep.Schema == nil || rep.Tables != nil || rep.ANN != nil {
		t.Fatalf("schema-only report compared data or no schema: %+v", rep)
	}
	return rep
}

func TestSchemaIdentical(t *testing.T) {
	src, tgt := schemaPair(t)
	// Sequences' values legitimately differ: replication does not carry them.
	src.Exec(t, `INSERT INTO app.customers (name) SELECT 'c' || i FROM generate_series(1, 5) i;
		SELECT setval('app.sku_seq', 500); INSERT INTO app.tags (tag) VALUES ('a'), ('b')`)
	rep := compareOnly(t, src, tgt, names(t, "app.customers", "app.tags"), nil)
	if !rep.OK() || len(rep.Schema.Differences) != 0 || len(rep.Schema.Expected) != 0 || rep.Schema.Tables != 2 {
		t.Fatalf("identical schemas reported as:\n%s", text(t, rep))
	}
	if out := text(t, rep); !strings.Contains(out, "SCHEMA of 2 table(s): identical") || strings.Contains(out, "TABLE") {
		t.Errorf("schema-only output:\n%s", out)
	}
}

// TestSchemaDifferences changes one thing on one side per case; verify
// must report exactly that, as the person reads it.
func TestSchemaDifferences(t *testing.T) {
	tests := []struct {
		name     string
		src, tgt string // run on each side after schemaDDL
		want     []string
	}{
		{name: "vector typmod", tgt: `ALTER TABLE app.tags ALTER emb TYPE vector(8)`,
			want: []string{"column app.tags.emb: type: source public.vector(4), target public.vector(8)"}},
		{name: "replica identity lost", tgt: `ALTER TABLE app.tags REPLICA IDENTITY DEFAULT`,
			want: []string{"table app.tags: replica identity: source index, target default",
				"index app.tags_sku_tag: replica identity: source yes, target no"}},
		{name: "index comment missing", tgt: `COMMENT ON INDEX app.tags_sku_tag IS NULL`,
			want: []string{"index app.tags_sku_tag: comment: source one tag per sku, target none"}},
		{name: "cluster on", src: `ALTER TABLE app.tags CLUSTER ON tags_sku_tag`,
			want: []string{"index app.tags_sku_tag: clustered: source yes, target no"}},
		{name: "not valid check validated on the target", tgt: `ALTER TABLE app.tags VALIDATE CONSTRAINT tags_sku_positive`,
			want: []string{"constraint app.tags.tags_sku_positive: valid: source no, target yes"}},
		{name: "foreign key not deferrable", tgt: `ALTER TABLE app.tags ALTER CONSTRAINT tags_customer_fkey NOT DEFERRABLE`,
			want: []string{"constraint app.tags.tags_customer_fkey: definition: source FOREIGN KEY (customer) REFERENCES app.customers(id) DEFERRABLE INITIALLY DEFERRED, target FOREIGN KEY (customer) REFERENCES app.customers(id)"}},
		{name: "trigger missing", tgt: `DROP TRIGGER tags_touch ON app.tags`,
			want: []string{"trigger app.tags.tags_touch: exists: source yes, target no"}},
		{name: "trigger disabled", tgt: `ALTER TABLE app.tags DISABLE TRIGGER tags_touch`,
			want: []string{"trigger app.tags.tags_touch: enabled: source origin, target disabled"}},
		{name: "policy", tgt: `ALTER POLICY tags_read ON app.tags USING (tag <> 'hidden')`,
			want: []string{"policy app.tags.tags_read: using: source (tag <> 'secret'::text), target (tag <> 'hidden'::text)"}},
		{name: "row-level security forced", tgt: `ALTER TABLE app.tags FORCE ROW LEVEL SECURITY`,
			want: []string{"table app.tags: forced row-level security: source no, target yes"}},
		{name: "sequence increment", tgt: `ALTER SEQUENCE app.sku_seq INCREMENT BY 5`,
			want: []string{"sequence app.sku_seq: increment: source 1, target 5"}},
		{name: "identity sequence cycles", tgt: `ALTER TABLE app.tags ALTER n SET CYCLE`,
			want: []string{"sequence app.tags_n_seq: cycle: source no, target yes"}},
		{name: "collation and default", tgt: `ALTER TABLE app.customers ALTER name TYPE text COLLATE "POSIX", ALTER note SET DEFAULT 'none'`,
			want: []string{`column app.customers.name: collation: source "C", target "POSIX"`,
				"column app.customers.note: default: source 'n/a'::text, target 'none'::text"}},
		{name: "not null and index missing", tgt: `ALTER TABLE app.tags ALTER customer SET NOT NULL; DROP INDEX app.tags_emb`,
			want: []string{"column app.tags.customer: not null: source no, target yes",
				"index app.tags_emb: exists: source yes, target no"}},
	}
	tables := names(t, "app.customers", "app.tags")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, tgt := schemaPair(t)
			if tt.src != "" {
				src.Exec(t, tt.src)
			}
			if tt.tgt != "" {
				tgt.Exec(t, tt.tgt)
			}
			rep := compareOnly(t, src, tgt, tables, nil)
			got := strs(rep.Schema.Differences)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if rep.OK() {
				t.Error("report with schema differences is OK")
			}
			out := text(t, rep)
			for _, w := range tt.want {
				if !strings.Contains(out, w+"\n") {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestSchemaForeignKeyOutsideGroup: the target's copy of a key that
// references a table the group does not replicate is NOT VALID, as
// start_sync builds it: a note. The same key NOT VALID while the group
// replicates the referenced table is a difference.
func TestSchemaForeignKeyOutsideGroup(t *testing.T) {
	src, tgt := schemaPair(t)
	tgt.Exec(t, `ALTER TABLE app.tags DROP CONSTRAINT tags_customer_fkey;
		ALTER TABLE app.tags ADD CONSTRAINT tags_customer_fkey FOREIGN KEY (customer) REFERENCES app.customers
			DEFERRABLE INITIALLY DEFERRED NOT VALID`)
	tags := names(t, "app.tags")
	rep := compareOnly(t, src, tgt, tags, tags)
	const diff = "constraint app.tags.tags_customer_fkey: valid: source yes, target no"
	if !rep.OK() || len(rep.Schema.Differences) != 0 || len(rep.Schema.Expected) != 1 || rep.Schema.Expected[0].String() != diff {
		t.Fatalf("want the key as an expected difference only:\n%s", text(t, rep))
	}
	if out := text(t, rep); !strings.Contains(out, "note: expected: "+diff+": it references app.customers") {
		t.Errorf("output lacks the note:\n%s", out)
	}
	// Verifying part of the group: the referenced table is still replicated.
	rep = compareOnly(t, src, tgt, tags, names(t, "app.tags", "app.customers"))
	if rep.OK() || strings.Join(strs(rep.Schema.Differences), "\n") != diff {
		t.Errorf("key NOT VALID inside the group not reported:\n%s", text(t, rep))
	}
}

// TestSchemaTableMissing: a table missing on the target is one difference
// (not one per column), and the other table is still compared.
func TestSchemaTableMissing(t *testing.T) {
	src, tgt := schemaPair(t)
	src.Exec(t, `CREATE TABLE app.extra (id int PRIMARY KEY); COMMENT ON TABLE app.customers IS 'people'`)
	rep := compareOnly(t, src, tgt, names(t, "app.customers", "app.extra"), nil)
	want := "table app.customers: comment: source people, target none\ntable app.extra: exists: source yes, target no"
	if got := strings.Join(strs(rep.Schema.Differences), "\n"); got != want {
		t.Errorf("differences:\n%s\nwant:\n%s", got, want)
	}
}

// TestSchemaOwnObjectsIgnored: pgvecrep's write-freeze trigger (a function
// in its schema) on a group table is not the application's schema.
func TestSchemaOwnObjectsIgnored(t *testing.T) {
	src, tgt := schemaPair(t)
	src.Exec(t, `CREATE SCHEMA pgvecrep;
		CREATE FUNCTION pgvecrep.write_freeze() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$;
		CREATE TRIGGER pgvecrep_freeze BEFORE INSERT ON app.tags FOR EACH STATEMENT EXECUTE FUNCTION pgvecrep.write_freeze();
		CREATE SEQUENCE pgvecrep.ids; ALTER TABLE app.tags ADD COLUMN own bigint;
		ALTER TABLE app.tags ALTER own SET DEFAULT nextval('pgvecrep.ids')`)
	tgt.Exec(t, `ALTER TABLE app.tags ADD COLUMN own bigint`)
	rep := compareOnly(t, src, tgt, names(t, "app.tags"), nil)
	want := "column app.tags.own: default: source nextval('pgvecrep.ids'::regclass), target none"
	if got := strings.Join(strs(rep.Schema.Differences), "\n"); got != want {
		t.Errorf("differences:\n%s\nwant only the default (no trigger, no sequence of pgvecrep's):\n%s", got, want)
	}
}

// TestSchemaWithData: without SchemaOnly, the schemas and the rows of a
// streaming replica are both compared.
func TestSchemaWithData(t *testing.T) {
	r := itemsReplica(t)
	r.tgt.Exec(t, `COMMENT ON COLUMN items.note IS 'free text'`)
	rep := r.verify(t, Options{Tables: names(t, "items"), Schema: true, Sample: -1}, nil)
	if tr := tableResult(t, rep, "public.items"); !tr.OK() || tr.SourceRows != 3000 {
		t.Errorf("items = %+v, want 3000 rows, no divergence", tr)
	}
	want := "column public.items.note: comment: source none, target free text"
	if rep.OK() || rep.Schema == nil || strings.Join(strs(rep.Schema.Differences), "\n") != want {
		t.Errorf("want the comment as the only difference:\n%s", text(t, rep))
	}
}

// TestSchemaAcrossVersions: a 15 and an 18 database made by the same DDL
// compare identical either way round, although 18 keeps NOT NULL (and a
// primary key's columns) as constraints; an 18 NOT NULL that is NOT VALID
// still shows. (The schema is not restored from pg_dump here: this
// machine's 15 gives every column an option, pg_attver, that 18's pg_dump
// copies and 18 refuses; verify does not compare column options.)
func TestSchemaAcrossVersions(t *testing.T) {
	env := pgtest.Get(t)
	_, err := localpg.FindMajor(18)
	testenv.Need(t, "PostgreSQL 18 for the cross-version schema comparison", err)
	old := env.Source
	if old.Major != 15 {
		old = pgtest.Cluster(t, localpg.Options{Major: 15})
	}
	c18 := pgtest.Cluster(t, localpg.Options{Major: 18})
	db15 := env.NewDB(t, old, fmt.Sprintf("verify_xv15_%d", time.Now().UnixNano()))
	db18 := env.NewDB(t, c18, fmt.Sprintf("verify_xv18_%d", time.Now().UnixNano()))
	db15.Exec(t, schemaDDL)
	db18.Exec(t, schemaDDL)
	if n := db18.QueryInt(t, `SELECT count(*) FROM pg_constraint WHERE contype = 'n' AND connamespace = 'app'::regnamespace`); n == 0 {
		t.Fatal("the 18 target records no NOT NULL constraint: not what this test is about")
	}
	tables := names(t, "app.customers", "app.tags")
	for _, p := range []struct{ from, to pgtest.DB }{{db15, db18}, {db18, db15}} {
		if rep := compareOnly(t, p.from, p.to, tables, nil); !rep.OK() || len(rep.Schema.Expected) != 0 {
			t.Errorf("%d -> %d: same schema reported as:\n%s", p.from.Cluster.Major, p.to.Cluster.Major, text(t, rep))
		}
	}
	db15.Exec(t, `ALTER TABLE app.customers ALTER note SET NOT NULL`)
	db18.Exec(t, `ALTER TABLE app.customers ADD CONSTRAINT customers_note_nn NOT NULL note NOT VALID`)
	rep := compareOnly(t, db15, db18, tables, nil)
	want := "column app.customers.note: not null: source yes, target yes, not valid"
	if got := strings.Join(strs(rep.Schema.Differences), "\n"); got != want {
		t.Errorf("differences:\n%s\nwant:\n%s", got, want)
	}
}
