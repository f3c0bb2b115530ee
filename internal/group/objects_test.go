package group

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestDeferredRestore saves a deferred object's restore statements and
// reads them back, on metadata written before the restore column existed:
// a user who upgrades runs start_sync or stop_sync on a group bootstrapped
// earlier, and bootstrap (the only caller of EnsureSchema) is not run again.
func TestDeferredRestore(t *testing.T) {
	env := pgtest.Get(t)
	_, db := env.Pair(t)
	conn := db.Conn(t)
	ctx := context.Background()
	db.Exec(t, splitLayout)
	db.Exec(t, `INSERT INTO pgvecrep.groups (name, phase, object_name) VALUES ('g', 'copying', 'pgvecrep_g');
		INSERT INTO pgvecrep.deferred_objects (group_name, schema_name, table_name, name, kind, definition)
		VALUES ('g', 'public', 'old', 'old_pkey', 'primary', 'ALTER TABLE old')`)
	ds, err := PendingDeferred(ctx, conn, "g")
	if err != nil || len(ds) != 1 || len(ds[0].Restore) != 0 {
		t.Fatalf("pending deferred on the earlier layout = %+v, %v; want old_pkey with nothing to restore", ds, err)
	}
	restore := []string{`ALTER TABLE public."T" REPLICA IDENTITY USING INDEX "T_k"`, `COMMENT ON INDEX public."T_k" IS 'it''s'`}
	saved := []Deferred{{Table: pg.Name{Schema: "public", Name: "T"}, Name: "T_k", Kind: PlainIndex, Def: "CREATE INDEX", Restore: restore}}
	for range 2 { // saved again, as a rerun of start_sync does
		if err := SaveDeferred(ctx, conn, "g", saved); err != nil {
			t.Fatal(err)
		}
	}
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatalf("EnsureSchema on upgraded metadata: %v", err)
	}
	ds, err = PendingDeferred(ctx, conn, "g")
	if err != nil || len(ds) != 2 {
		t.Fatalf("pending deferred = %+v, %v; want 2", ds, err)
	}
	for _, d := range ds {
		if d.Name == "T_k" && !slices.Equal(d.Restore, restore) {
			t.Errorf("restore of T_k read back as %q, want %q", d.Restore, restore)
		}
	}
}

// TestDeferredRoundTrip: every kind, with what a build needs (a foreign
// key's referenced table, restore statements, odd names), reads back as it
// was saved, so a rerun after a crash builds what the first run deferred.
func TestDeferredRoundTrip(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "deferred_test")
	conn := db.Conn(t)
	ctx := context.Background()
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(ctx, conn, "g"); err != nil {
		t.Fatal(err)
	}
	tbl := pg.Name{Schema: "public", Name: `My "t"`}
	saved := []Deferred{
		{Table: tbl, Name: "pk", Kind: PrimaryKey, Def: "ALTER TABLE a", Bytes: 60,
			Restore: []string{`ALTER TABLE public."My ""t""" REPLICA IDENTITY USING INDEX pk`}},
		{Table: tbl, Name: "uq", Kind: UniqueKey, Def: "ALTER TABLE b", Bytes: 50},
		{Table: tbl, Name: "btree", Kind: PlainIndex, Def: "CREATE INDEX c", Bytes: 40},
		{Table: tbl, Name: "hnsw", Kind: VectorIndex, Def: "CREATE INDEX d", Bytes: 30},
		{Table: tbl, Name: "fk", Kind: ForeignKey, Def: "ALTER TABLE e", Bytes: 20, References: pg.Name{Schema: "x.y", Name: "P"}},
		{Table: tbl, Name: "ck", Kind: CheckConstraint, Def: "ALTER TABLE f NOT VALID", Bytes: 10},
	}
	if err := SaveDeferred(ctx, conn, "g", saved); err != nil {
		t.Fatal(err)
	}
	got, err := PendingDeferred(ctx, conn, "g")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(saved)
	for i := range want {
		want[i].Restore = nonNil(want[i].Restore) // saved as an empty list, read back as one
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, want)
	}
	if err := SaveDeferred(ctx, conn, "g", []Deferred{{Table: tbl, Name: "t", Kind: "trigger"}}); err == nil {
		t.Error("SaveDeferred took an unknown kind")
	}
}
