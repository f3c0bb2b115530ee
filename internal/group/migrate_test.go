package group

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// oldLayoutDDL is the metadata as versions before the (schema_name,
// table_name) layout wrote it: a table as one column of quoted SQL.
const oldLayoutDDL = `
CREATE SCHEMA pgvecrep;
CREATE TABLE pgvecrep.groups (
    name         text PRIMARY KEY,
    phase        text NOT NULL,
    tables       text[] NOT NULL DEFAULT '{}',
    object_name  text NOT NULL,
    copy_mode    text NOT NULL DEFAULT '',
    snapshot_lsn text NOT NULL DEFAULT '',
    last_error   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    synced_at    timestamptz
);
CREATE TABLE pgvecrep.tables (
    group_name   text NOT NULL REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    table_name   text NOT NULL,
    state        text NOT NULL DEFAULT 'pending',
    rows_copied  bigint NOT NULL DEFAULT 0,
    bytes_copied bigint NOT NULL DEFAULT 0,
    started_at   timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (group_name, table_name)
);
CREATE TABLE pgvecrep.deferred_objects (
    group_name  text NOT NULL REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    table_name  text NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL,
    definition  text NOT NULL,
    bytes       bigint NOT NULL DEFAULT 0,
    built_at    timestamptz,
    PRIMARY KEY (group_name, table_name, name)
);`

// TestMigrateOldLayout writes metadata as an earlier version did, with two
// tables that share a relation name in different schemas (the old primary
// key would refuse them once split) and one with every odd character, and
// checks that readers see (schema, name) pairs, that writers find the rows,
// and that a second run changes nothing.
func TestMigrateOldLayout(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "migrate_test")
	ctx := context.Background()
	db.Exec(t, oldLayoutDDL)
	db.Exec(t, `INSERT INTO pgvecrep.groups (name, phase, tables, object_name) VALUES
		('g', 'streaming', ARRAY['"public"."docs"', '"a.b"."docs"', '"a.b"."we""ird.T ä"'], 'pgvecrep_g');
		INSERT INTO pgvecrep.tables (group_name, table_name, state, rows_copied) VALUES
		('g', '"public"."docs"', 'copied', 1), ('g', '"a.b"."docs"', 'copied', 2), ('g', '"a.b"."we""ird.T ä"', 'copied', 3);
		INSERT INTO pgvecrep.deferred_objects (group_name, table_name, name, kind, definition) VALUES
		('g', '"public"."docs"', 'docs_pkey', 'primary', 'ALTER TABLE x'),
		('g', '"a.b"."docs"', 'docs_pkey', 'primary', 'ALTER TABLE y')`)

	conn := db.Conn(t)
	g, err := Get(ctx, conn, "g") // a reader migrates: users upgrade without bootstrapping again
	if err != nil {
		t.Fatal(err)
	}
	odd := pg.Name{Schema: "a.b", Name: `we"ird.T ä`}
	want := []pg.Name{{Schema: "a.b", Name: "docs"}, odd, {Schema: "public", Name: "docs"}}
	if !slices.Equal(g.Tables, want) {
		t.Errorf("tables after migration = %v, want %v", g.Tables, want)
	}
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatalf("EnsureSchema on migrated metadata: %v", err)
	}
	if err := SetTableState(ctx, conn, "g", TableState{Table: odd, State: "copied", RowsCopied: 30}); err != nil {
		t.Fatal(err)
	}
	ts, err := Tables(ctx, conn, "g")
	if err != nil || len(ts) != 3 || ts[1].Table != odd || ts[1].RowsCopied != 30 || ts[0].RowsCopied != 2 {
		t.Errorf("table states = %+v, %v", ts, err)
	}
	ds, err := PendingDeferred(ctx, conn, "g")
	if err != nil || len(ds) != 2 {
		t.Fatalf("pending deferred = %+v, %v", ds, err)
	}
	for _, d := range ds {
		if err := MarkBuilt(ctx, conn, "g", d); err != nil {
			t.Fatal(err)
		}
	}
	if ds, err := PendingDeferred(ctx, conn, "g"); err != nil || len(ds) != 0 {
		t.Errorf("after MarkBuilt, pending = %+v, %v", ds, err)
	}
	key := db.QueryStrings(t, `SELECT pg_get_constraintdef(oid) FROM pg_constraint
		WHERE conrelid = 'pgvecrep.tables'::regclass AND contype = 'p'`)
	if len(key) != 1 || key[0] != "PRIMARY KEY (group_name, schema_name, table_name)" {
		t.Errorf("primary key of pgvecrep.tables = %v", key)
	}
}

// TestMigrateRefusesGarbage: an old name that does not parse stops the
// migration with the name in the error, and nothing is half changed.
func TestMigrateRefusesGarbage(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "migrate_bad_test")
	db.Exec(t, oldLayoutDDL)
	db.Exec(t, `INSERT INTO pgvecrep.groups (name, phase, object_name) VALUES ('g', 'streaming', 'pgvecrep_g');
		INSERT INTO pgvecrep.tables (group_name, table_name) VALUES ('g', '"public"."ok"'), ('g', '"unterminated')`)
	err := EnsureSchema(context.Background(), db.Conn(t))
	if err == nil || !strings.Contains(err.Error(), `"unterminated`) {
		t.Fatalf("EnsureSchema on a bad old name = %v, want an error naming it", err)
	}
	if n := db.QueryInt(t, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'pgvecrep.tables'::regclass AND attname = 'schema_name'`); n != 0 {
		t.Errorf("a failed migration left schema_name behind")
	}
}

// TestStartStoresNames: a name that looks like SQL is stored as it is, as
// data, and read back the same.
func TestStartStoresNames(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "names_test")
	ctx := context.Background()
	conn := db.Conn(t)
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(ctx, conn, "g"); err != nil {
		t.Fatal(err)
	}
	names := []pg.Name{{Schema: "a.b", Name: `x"; DROP TABLE victim; --`}, {Schema: "public", Name: "T"}}
	if err := Start(ctx, conn, "g", names, "fast"); err != nil {
		t.Fatal(err)
	}
	g, err := Get(ctx, conn, "g")
	if err != nil || !slices.Equal(g.Tables, names) {
		t.Errorf("tables = %v, %v; want %v", g.Tables, err, names)
	}
	if got := db.QueryStrings(t, `SELECT schema_name || '|' || table_name FROM pgvecrep.tables ORDER BY 1`); !slices.Equal(got, []string{`a.b|x"; DROP TABLE victim; --`, "public|T"}) {
		t.Errorf("stored rows = %v", got)
	}
}
