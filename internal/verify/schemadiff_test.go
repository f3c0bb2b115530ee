package verify

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// obj builds a schemaObject with every aspect of its kind empty but those
// in set (aspect name -> value).
func obj(kind, schema, table, name string, set map[string]string) schemaObject {
	o := schemaObject{kind: kind, schema: schema, table: table, name: name}
	for _, a := range aspectsOf(kind) {
		o.vals = append(o.vals, set[a])
	}
	return o
}

func fk(valid string) schemaObject {
	o := obj("constraint", "app", "orders", "orders_customer_fkey",
		map[string]string{"definition": "FOREIGN KEY (customer) REFERENCES shared.customers(id)", "valid": valid})
	o.refs = &pg.Name{Schema: "shared", Name: "customers"}
	return o
}

// baseSchema is one table of every kind of object, as one side reads it.
func baseSchema() []schemaObject {
	return []schemaObject{
		obj("table", "app", "orders", "", map[string]string{"kind": "table", "replica identity": "default"}),
		obj("column", "app", "orders", "emb", map[string]string{"type": "public.vector(1536)", "not null": "no"}),
		obj("index", "app", "orders", "orders_pkey", map[string]string{"definition": "CREATE UNIQUE INDEX orders_pkey ON app.orders USING btree (id)", "valid": "yes", "replica identity": "no"}),
		fk("yes"),
		obj("sequence", "app", "", "orders_id_seq", map[string]string{"increment": "1", "owned by": "app.orders.id"}),
	}
}

// replace returns objs with the object of o's key swapped for o, or o
// added when there is none; drop removes the object with o's key.
func replace(objs []schemaObject, o schemaObject) []schemaObject {
	out := slices.Clone(objs)
	for i := range out {
		if out[i].key() == o.key() {
			out[i] = o
			return out
		}
	}
	return append(out, o)
}

func drop(objs []schemaObject, o schemaObject) []schemaObject {
	return slices.DeleteFunc(slices.Clone(objs), func(x schemaObject) bool { return x.key() == o.key() })
}

func TestDiffSchemas(t *testing.T) {
	base := baseSchema()
	orders := pg.Name{Schema: "app", Name: "orders"}
	customers := pg.Name{Schema: "shared", Name: "customers"}
	emb768 := obj("column", "app", "orders", "emb", map[string]string{"type": "public.vector(768)", "not null": "no"})
	tests := []struct {
		name       string
		src, tgt   []schemaObject
		replicated []pg.Name
		want       []string // SchemaDiff.String() of the differences
		expected   []string // of the expected ones
	}{
		{name: "identical", src: base, tgt: base},
		{name: "typmod differs", src: base, tgt: replace(base, emb768),
			want: []string{"column app.orders.emb: type: source public.vector(1536), target public.vector(768)"}},
		{name: "index missing on the target", src: base, tgt: drop(base, base[2]),
			want: []string{"index app.orders_pkey: exists: source yes, target no"}},
		{name: "column only on the target", src: drop(base, base[1]), tgt: base,
			want: []string{"column app.orders.emb: exists: source no, target yes"}},
		{name: "table missing hides its objects", src: base, tgt: base[4:],
			want: []string{"table app.orders: exists: source yes, target no"}},
		{name: "empty value reads none", src: base,
			tgt:  replace(base, obj("index", "app", "orders", "orders_pkey", map[string]string{"definition": base[2].vals[0], "valid": "yes", "replica identity": "no", "comment": "ids"})),
			want: []string{"index app.orders_pkey: comment: source none, target ids"}},
		{name: "foreign key outside the group NOT VALID is expected", src: base, tgt: replace(base, fk("no")),
			replicated: []pg.Name{orders},
			expected:   []string{"constraint app.orders.orders_customer_fkey: valid: source yes, target no"}},
		{name: "foreign key inside the group NOT VALID diverges", src: base, tgt: replace(base, fk("no")),
			replicated: []pg.Name{orders, customers},
			want:       []string{"constraint app.orders.orders_customer_fkey: valid: source yes, target no"}},
		{name: "foreign key validated only on the target diverges", src: replace(base, fk("no")), tgt: base,
			replicated: []pg.Name{orders},
			want:       []string{"constraint app.orders.orders_customer_fkey: valid: source no, target yes"}},
		{name: "sequence increment", src: base,
			tgt:  replace(base, obj("sequence", "app", "", "orders_id_seq", map[string]string{"increment": "5", "owned by": "app.orders.id"})),
			want: []string{"sequence app.orders_id_seq: increment: source 1, target 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := map[pg.Name]bool{}
			for _, n := range tt.replicated {
				in[n] = true
			}
			res := diffSchemas(tt.src, tt.tgt, in)
			if got := strs(res.Differences); !slices.Equal(got, tt.want) {
				t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if got := strs(res.Expected); !slices.Equal(got, tt.expected) {
				t.Errorf("expected:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.expected, "\n"))
			}
			for _, d := range res.Expected {
				if !strings.Contains(d.Reason, `VALIDATE CONSTRAINT "orders_customer_fkey"`) {
					t.Errorf("expected difference without the command to validate it: %+v", d)
				}
			}
			if res.OK() != (len(tt.want) == 0) {
				t.Errorf("OK() = %v with %d differences", res.OK(), len(res.Differences))
			}
		})
	}
}

func strs(ds []SchemaDiff) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.String())
	}
	return out
}

// TestDiffSchemasOrder: differences come table by table, the kinds in
// categories' order within a table, whatever order the catalog read them.
func TestDiffSchemasOrder(t *testing.T) {
	var src []schemaObject
	for _, o := range baseSchema() {
		src = append([]schemaObject{o}, src...)
	}
	b := obj("table", "app", "bills", "", map[string]string{"kind": "table"})
	src = append(src, b, obj("column", "app", "bills", "id", nil))
	res := diffSchemas(src, nil, nil)
	var got []string
	for _, d := range res.Differences {
		got = append(got, d.Kind+" "+d.Object)
	}
	want := []string{"sequence app.orders_id_seq", "table app.bills", "table app.orders"}
	if !slices.Equal(got, want) {
		t.Errorf("order = %q, want %q", got, want)
	}
}

func TestNormalizeConstraint(t *testing.T) {
	for in, want := range map[string]string{
		"FOREIGN KEY (a) REFERENCES b(id) NOT VALID":                      "FOREIGN KEY (a) REFERENCES b(id)",
		"FOREIGN KEY (a) REFERENCES b(id) DEFERRABLE INITIALLY DEFERRED":  "FOREIGN KEY (a) REFERENCES b(id) DEFERRABLE INITIALLY DEFERRED",
		"CHECK ((x > 0)) NOT VALID":                                       "CHECK ((x > 0))",
		"CHECK (((note)::text <> 'NOT VALID'::text))":                     "CHECK (((note)::text <> 'NOT VALID'::text))",
		"FOREIGN KEY (a) REFERENCES b(id) DEFERRABLE NOT VALID":           "FOREIGN KEY (a) REFERENCES b(id) DEFERRABLE",
		"FOREIGN KEY (a) REFERENCES b(id) DEFERRABLE INITIALLY DEFERRED ": "FOREIGN KEY (a) REFERENCES b(id) DEFERRABLE INITIALLY DEFERRED",
	} {
		vals := []string{in, "no", ""}
		if normalizeConstraint(vals); vals[0] != want {
			t.Errorf("normalizeConstraint(%q) = %q, want %q", in, vals[0], want)
		}
	}
}

func TestSchemaReportOutput(t *testing.T) {
	res := diffSchemas(baseSchema(), replace(replace(baseSchema(), fk("no")),
		obj("index", "app", "orders", "orders_pkey", map[string]string{"definition": baseSchema()[2].vals[0], "valid": "yes", "replica identity": "yes"})),
		map[pg.Name]bool{{Schema: "app", Name: "orders"}: true})
	res.Tables = 1
	rep := Report{Schema: res}
	if rep.OK() {
		t.Error("report with a schema difference is OK")
	}
	for _, tt := range []struct {
		file  string
		write func(Report, *bytes.Buffer) error
	}{
		{"schema.txt", func(r Report, b *bytes.Buffer) error { return r.WriteTable(b) }},
		{"schema.json", func(r Report, b *bytes.Buffer) error { return r.WriteJSON(b) }},
	} {
		var b bytes.Buffer
		if err := tt.write(rep, &b); err != nil {
			t.Fatal(err)
		}
		pgtest.Golden(t, tt.file, b.Bytes(), *update)
	}
	if (Report{Schema: &SchemaResult{Tables: 2}}).OK() != true {
		t.Error("identical schemas are not OK")
	}
}
