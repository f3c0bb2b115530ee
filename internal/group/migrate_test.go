package group

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// The layouts earlier versions wrote, without recording a version, each as
// that version left it. They are spelled out here, not derived from the
// migrations, so a change to a shipped migration shows up as a failure.

// quotedLayout is the metadata before the (schema_name, table_name)
// layout: a table as one column of quoted SQL.
const quotedLayout = `
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

// splitLayout is the (schema_name, table_name) layout before the restore
// and selection columns.
const splitLayout = `
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
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    state        text NOT NULL DEFAULT 'pending',
    rows_copied  bigint NOT NULL DEFAULT 0,
    bytes_copied bigint NOT NULL DEFAULT 0,
    started_at   timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (group_name, schema_name, table_name)
);
CREATE TABLE pgvecrep.deferred_objects (
    group_name  text NOT NULL REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL,
    definition  text NOT NULL,
    bytes       bigint NOT NULL DEFAULT 0,
    built_at    timestamptz,
    PRIMARY KEY (group_name, schema_name, table_name, name)
);`

// ddlTablesLayout is the last layout without a version: the split layout
// with the restore and selection columns, and the DDL mode and scope in
// the tables package ddl created for them on first use.
const ddlTablesLayout = splitLayout + `
ALTER TABLE pgvecrep.deferred_objects ADD COLUMN restore text[] NOT NULL DEFAULT '{}';
ALTER TABLE pgvecrep.groups ADD COLUMN selection jsonb NOT NULL DEFAULT '{}';
CREATE TABLE pgvecrep.ddl_modes (
    group_name text PRIMARY KEY REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    mode       text NOT NULL
);
CREATE TABLE pgvecrep.ddl_scopes (
    group_name text PRIMARY KEY REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    scope      text NOT NULL
);`

// TestMigrateFresh: a fresh install runs every migration, records each,
// and ends with the current columns: the DDL choices in the group's row,
// no groups.tables, and no table of its own for the DDL choices.
func TestMigrateFresh(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "migrate_fresh_test")
	conn := db.Conn(t)
	if err := EnsureSchema(context.Background(), conn); err != nil {
		t.Fatal(err)
	}
	checkCurrent(t, db)
}

// checkCurrent checks that db's metadata is at the current version, each
// migration recorded once under its name, and in the current layout.
func checkCurrent(t *testing.T, db pgtest.DB) {
	t.Helper()
	names := db.QueryStrings(t, `SELECT name FROM pgvecrep.migrations ORDER BY version`)
	if len(names) != Version() {
		t.Fatalf("recorded migrations = %q, want %d", names, Version())
	}
	for i, m := range migrations {
		if names[i] != m.name {
			t.Errorf("migration %d recorded as %q, want %q", i+1, names[i], m.name)
		}
	}
	columns := db.QueryStrings(t, `SELECT attrelid::regclass::text || '.' || attname FROM pg_attribute
		WHERE attrelid IN ('pgvecrep.groups'::regclass, 'pgvecrep.tables'::regclass, 'pgvecrep.deferred_objects'::regclass)
		AND attnum > 0 AND NOT attisdropped`)
	for _, want := range []string{"pgvecrep.groups.ddl_mode", "pgvecrep.groups.ddl_scope", "pgvecrep.groups.selection",
		"pgvecrep.groups.snapshot_lsn", "pgvecrep.tables.finished_at", "pgvecrep.tables.schema_name", "pgvecrep.deferred_objects.restore"} {
		if !slices.Contains(columns, want) {
			t.Errorf("column %s missing; columns: %q", want, columns)
		}
	}
	if slices.Contains(columns, "pgvecrep.groups.tables") {
		t.Error("groups.tables is still there")
	}
	if n := db.QueryInt(t, `SELECT count(*) FROM pg_class WHERE relnamespace = 'pgvecrep'::regnamespace
		AND relname IN ('ddl_modes', 'ddl_scopes')`); n != 0 {
		t.Errorf("%d of ddl_modes, ddl_scopes are still there", n)
	}
}

// TestMigrateUpgrade writes metadata as each earlier version did, with a
// group in it, and checks that the first reader (not bootstrap: users
// upgrade and run stats or stop_sync) brings it to the current version
// with nothing lost, and that running the migrations again changes
// nothing.
func TestMigrateUpgrade(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		layout string
		// version, when set, is a versioned install: migrateTo it on an
		// empty schema, then layout on top (what that version's pgvecrep
		// went on to write).
		version           int
		group             string // statements that record group g with table public.docs
		ddlMode, ddlScope string // the DDL choices the layout recorded
	}{
		{name: "quoted names", layout: quotedLayout, group: `
			INSERT INTO pgvecrep.groups (name, phase, tables, object_name) VALUES ('g', 'streaming', ARRAY['"public"."docs"'], 'pgvecrep_g');
			INSERT INTO pgvecrep.tables (group_name, table_name, state) VALUES ('g', '"public"."docs"', 'copied');
			INSERT INTO pgvecrep.deferred_objects (group_name, table_name, name, kind, definition) VALUES
			('g', '"public"."docs"', 'docs_pkey', 'primary', 'ALTER TABLE x')`},
		{name: "split names", layout: splitLayout, group: splitGroup},
		{name: "ddl tables", layout: ddlTablesLayout, group: splitGroup + `;
			INSERT INTO pgvecrep.ddl_modes VALUES ('g', 'track');
			INSERT INTO pgvecrep.ddl_scopes VALUES ('g', 'tables')`, ddlMode: "track", ddlScope: "tables"},
		{name: "version 4", version: 4, layout: `
			CREATE TABLE pgvecrep.ddl_modes (group_name text PRIMARY KEY REFERENCES pgvecrep.groups (name) ON DELETE CASCADE, mode text NOT NULL)`,
			group: splitGroup + `; INSERT INTO pgvecrep.ddl_modes VALUES ('g', 'off')`, ddlMode: "off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := pgtest.Get(t)
			db := env.NewDB(t, env.Target, "migrate_upgrade_test")
			conn := db.Conn(t)
			if tc.version > 0 {
				db.Exec(t, "CREATE SCHEMA pgvecrep")
				if err := migrateTo(ctx, conn, tc.version); err != nil {
					t.Fatal(err)
				}
			}
			db.Exec(t, tc.layout)
			db.Exec(t, tc.group)

			g, err := Get(ctx, conn, "g")
			if err != nil {
				t.Fatal(err)
			}
			if want := []pg.Name{{Schema: "public", Name: "docs"}}; !slices.Equal(g.Tables, want) || g.Phase != Streaming {
				t.Errorf("group after the upgrade = %+v, want streaming with %v", g, want)
			}
			checkCurrent(t, db)
			mode, err := DDLMode(ctx, conn, "g")
			if err != nil || mode != tc.ddlMode {
				t.Errorf("DDL mode = %q, %v; want %q", mode, err, tc.ddlMode)
			}
			scope, err := DDLScope(ctx, conn, "g")
			if err != nil || scope != tc.ddlScope {
				t.Errorf("DDL scope = %q, %v; want %q", scope, err, tc.ddlScope)
			}
			if ds, err := PendingDeferred(ctx, conn, "g"); err != nil || len(ds) != 1 || ds[0].Table != g.Tables[0] {
				t.Errorf("pending deferred = %+v, %v; want docs_pkey on public.docs", ds, err)
			}
			before := db.QueryStrings(t, `SELECT version || ' ' || applied_at FROM pgvecrep.migrations ORDER BY version`)
			if err := EnsureSchema(ctx, conn); err != nil {
				t.Fatalf("EnsureSchema on upgraded metadata: %v", err)
			}
			if after := db.QueryStrings(t, `SELECT version || ' ' || applied_at FROM pgvecrep.migrations ORDER BY version`); !slices.Equal(before, after) {
				t.Errorf("a second run recorded migrations again: %q, then %q", before, after)
			}
		})
	}
}

// splitGroup records group g with table public.docs in the split layout.
const splitGroup = `
	INSERT INTO pgvecrep.groups (name, phase, tables, object_name) VALUES ('g', 'streaming', ARRAY['"public"."docs"'], 'pgvecrep_g');
	INSERT INTO pgvecrep.tables (group_name, schema_name, table_name, state) VALUES ('g', 'public', 'docs', 'copied');
	INSERT INTO pgvecrep.deferred_objects (group_name, schema_name, table_name, name, kind, definition) VALUES
	('g', 'public', 'docs', 'docs_pkey', 'primary', 'ALTER TABLE x')`

// TestMigrateConcurrently: two pgvecrep processes that find old metadata at
// once both succeed, and the migrations are recorded once.
func TestMigrateConcurrently(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "migrate_concurrent_test")
	db.Exec(t, ddlTablesLayout)
	db.Exec(t, splitGroup)
	conns := []*pgx.Conn{db.Conn(t), db.Conn(t)}
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, conn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = Get(context.Background(), conn, "g")
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	checkCurrent(t, db)
}

// TestMigrateNewer: metadata a newer pgvecrep wrote is refused with a hint,
// by readers and by bootstrap alike.
func TestMigrateNewer(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "migrate_newer_test")
	ctx := context.Background()
	conn := db.Conn(t)
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	db.Exec(t, `INSERT INTO pgvecrep.migrations (version, name) VALUES ($1, 'from the future')`, Version()+1)
	for what, err := range map[string]error{"EnsureSchema": EnsureSchema(ctx, conn), "List": func() error { _, err := List(ctx, conn); return err }()} {
		if err == nil || !strings.Contains(err.Error(), "newer") || hint.Of(err) == "" {
			t.Errorf("%s on newer metadata = %v, want an error with a hint", what, err)
		}
	}
}

// TestMigrateOldLayout writes metadata as an earlier version did, with two
// tables that share a relation name in different schemas (the old primary
// key would refuse them once split), one with every odd character and a
// deferred object of a kind Kind does not have, and
// checks that readers see (schema, name) pairs, that writers find the rows,
// and that a second run changes nothing.
func TestMigrateOldLayout(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "migrate_test")
	ctx := context.Background()
	db.Exec(t, quotedLayout)
	db.Exec(t, `INSERT INTO pgvecrep.groups (name, phase, tables, object_name) VALUES
		('g', 'streaming', ARRAY['"public"."docs"', '"a.b"."docs"', '"a.b"."we""ird.T ä"'], 'pgvecrep_g');
		INSERT INTO pgvecrep.tables (group_name, table_name, state, rows_copied) VALUES
		('g', '"public"."docs"', 'copied', 1), ('g', '"a.b"."docs"', 'copied', 2), ('g', '"a.b"."we""ird.T ä"', 'copied', 3);
		INSERT INTO pgvecrep.deferred_objects (group_name, table_name, name, kind, definition) VALUES
		('g', '"public"."docs"', 'docs_pkey', 'primary', 'ALTER TABLE x'),
		('g', '"a.b"."docs"', 'docs_pkey', 'exclusion', 'ALTER TABLE y')`)

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
	if ts[1].StartedAt == nil || ts[1].FinishedAt == nil || ts[0].FinishedAt != nil {
		t.Errorf("copy times: %v-%v for the table set copied now, %v for one copied before", ts[1].StartedAt, ts[1].FinishedAt, ts[0].FinishedAt)
	}
	ds, err := PendingDeferred(ctx, conn, "g")
	if err != nil || len(ds) != 2 {
		t.Fatalf("pending deferred = %+v, %v", ds, err)
	}
	for _, d := range ds {
		if want := map[string]Kind{"public": PrimaryKey, "a.b": PlainIndex}[d.Table.Schema]; d.Kind != want {
			t.Errorf("%s read back as kind %q, want %q", d, d.Kind, want)
		}
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
// migration with the name in the error, and nothing is half changed, not
// even the version.
func TestMigrateRefusesGarbage(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "migrate_bad_test")
	db.Exec(t, quotedLayout)
	db.Exec(t, `INSERT INTO pgvecrep.groups (name, phase, object_name) VALUES ('g', 'streaming', 'pgvecrep_g');
		INSERT INTO pgvecrep.tables (group_name, table_name) VALUES ('g', '"public"."ok"'), ('g', '"unterminated')`)
	err := EnsureSchema(context.Background(), db.Conn(t))
	if err == nil || !strings.Contains(err.Error(), `"unterminated`) {
		t.Fatalf("EnsureSchema on a bad old name = %v, want an error naming it", err)
	}
	if n := db.QueryInt(t, `SELECT count(*) FROM pg_attribute WHERE attrelid = 'pgvecrep.tables'::regclass AND attname = 'schema_name'`); n != 0 {
		t.Errorf("a failed migration left schema_name behind")
	}
	if n := db.QueryInt(t, `SELECT count(*) FROM pg_class WHERE relname = 'migrations' AND relnamespace = 'pgvecrep'::regnamespace`); n != 0 {
		t.Errorf("a failed migration left its version table behind")
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
