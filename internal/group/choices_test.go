package group

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestDDLChoices: the DDL mode and scope are read back as saved, "" for a
// group with none and for a target without metadata, and saving one for an
// unknown group is ErrNotFound.
func TestDDLChoices(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "choices_test")
	ctx := context.Background()
	conn := db.Conn(t)
	if mode, err := DDLMode(ctx, conn, "g"); err != nil || mode != "" {
		t.Fatalf("DDL mode without metadata = %q, %v; want none", mode, err)
	}
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"g", "h"} {
		if _, err := Create(ctx, conn, name); err != nil {
			t.Fatal(err)
		}
	}
	if err := SetDDLMode(ctx, conn, "g", "track"); err != nil {
		t.Fatal(err)
	}
	if err := SetDDLScope(ctx, conn, "g", "tables"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		group, mode, scope string
	}{{"g", "track", "tables"}, {"h", "", ""}, {"nope", "", ""}} {
		mode, err := DDLMode(ctx, conn, tc.group)
		scope, err2 := DDLScope(ctx, conn, tc.group)
		if mode != tc.mode || scope != tc.scope || err != nil || err2 != nil {
			t.Errorf("DDL choices of %s = %q, %q (%v, %v); want %q, %q", tc.group, mode, scope, err, err2, tc.mode, tc.scope)
		}
	}
	if err := SetDDLMode(ctx, conn, "nope", "off"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DDL mode of an unknown group: %v, want ErrNotFound", err)
	}
}

// TestHoldings: the read-only readers list the groups and the tables of
// the ones that copied, read metadata in the quoted-name layout as none,
// and leave it as it is.
func TestHoldings(t *testing.T) {
	env := pgtest.Get(t)
	ctx := context.Background()

	old := env.NewDB(t, env.Target, "holdings_old_test")
	old.Exec(t, quotedLayout)
	old.Exec(t, `INSERT INTO pgvecrep.groups (name, phase, object_name) VALUES ('g', 'streaming', 'pgvecrep_g');
		INSERT INTO pgvecrep.tables (group_name, table_name) VALUES ('g', '"public"."docs"')`)
	conn := old.Conn(t)
	held, err := Holdings(ctx, conn)
	names, err2 := Names(ctx, conn)
	if len(held) != 0 || len(names) != 0 || err != nil || err2 != nil {
		t.Errorf("on the quoted-name layout: holdings %+v (%v), names %q (%v); want none", held, err, names, err2)
	}
	if n := old.QueryInt(t, `SELECT count(*) FROM pg_class WHERE relname = 'migrations' AND relnamespace = 'pgvecrep'::regnamespace`); n != 0 {
		t.Error("a read-only reader migrated the metadata")
	}

	db := env.NewDB(t, env.Target, "holdings_test")
	conn = db.Conn(t)
	if held, err := Holdings(ctx, conn); len(held) != 0 || err != nil {
		t.Errorf("without metadata: holdings %+v, %v", held, err)
	}
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	docs := pg.Name{Schema: "public", Name: "docs"}
	for _, g := range []struct {
		name  string
		phase Phase
	}{{"a", Streaming}, {"b", Failed}, {"c", Bootstrapped}} {
		if _, err := Create(ctx, conn, g.name); err != nil {
			t.Fatal(err)
		}
		if g.phase != Bootstrapped {
			if err := Start(ctx, conn, g.name, []pg.Name{docs}, "fast"); err != nil {
				t.Fatal(err)
			}
			if err := SetPhase(ctx, conn, g.name, g.phase); err != nil {
				t.Fatal(err)
			}
		}
	}
	held, err = Holdings(ctx, conn)
	if err != nil || !slices.Equal(held, []Holding{{Group: "a", Phase: Streaming, Table: docs}}) {
		t.Errorf("holdings = %+v, %v; want docs held by a", held, err)
	}
	names, err = Names(ctx, conn)
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Errorf("names = %q, %v", names, err)
	}
}
