package catalog_test

import (
	"context"
	"os"
	"reflect"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestForeignKeysTouching pins what ForeignKeys returns for a set of tables:
// the keys declared on them and the keys elsewhere that reference them (the
// second kind is what keeps a referenced primary key from being dropped),
// each with the table it references; never a key between two other tables.
func TestForeignKeysTouching(t *testing.T) {
	db, _ := pgtest.Get(t).Pair(t)
	db.Exec(t, `CREATE SCHEMA "Odd s";
		CREATE TABLE parent (id int PRIMARY KEY);
		CREATE TABLE child (id int PRIMARY KEY, p int REFERENCES parent);
		CREATE TABLE "Odd s"."Grand child" (c int CONSTRAINT gc_fk REFERENCES child);
		CREATE TABLE other (id int PRIMARY KEY);
		CREATE TABLE other_child (o int REFERENCES other);`)
	conn := db.Conn(t)
	ctx := context.Background()
	tables, err := catalog.Lookup(ctx, conn, []pg.Name{{Schema: "public", Name: "child"}})
	if err != nil {
		t.Fatal(err)
	}
	fks, err := catalog.ForeignKeys(ctx, conn, []uint32{tables[pg.Name{Schema: "public", Name: "child"}].OID})
	if err != nil {
		t.Fatal(err)
	}
	want := []catalog.ForeignKey{
		{Table: pg.Name{Schema: "Odd s", Name: "Grand child"}, Name: "gc_fk",
			Def:        `ALTER TABLE "Odd s"."Grand child" ADD CONSTRAINT gc_fk FOREIGN KEY (c) REFERENCES child(id)`,
			References: pg.Name{Schema: "public", Name: "child"}},
		{Table: pg.Name{Schema: "public", Name: "child"}, Name: "child_p_fkey",
			Def:        `ALTER TABLE public.child ADD CONSTRAINT child_p_fkey FOREIGN KEY (p) REFERENCES parent(id)`,
			References: pg.Name{Schema: "public", Name: "parent"}},
	}
	if len(fks) != len(want) {
		t.Fatalf("ForeignKeys = %+v, want %+v", fks, want)
	}
	for i := range want {
		if !reflect.DeepEqual(fks[i], want[i]) {
			t.Errorf("ForeignKeys[%d] = %+v, want %+v", i, fks[i], want[i])
		}
	}
}
