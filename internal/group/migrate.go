package group

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// The metadata schema has one history: migrations, oldest first. Migration
// i (counting from 1) brings the schema from version i-1 to version i, and
// pgvecrep.migrations records each one applied. A fresh install runs them
// all; an install that records version v runs the ones after v.
//
// Versions before the migrations table wrote their tables without recording
// anything, in one of several layouts (a table as one quoted table_name
// column, no restore column, no selection column, the DDL mode and scope
// in tables of their own). They count as version 0, so every migration is
// written to be a no-op on a layout that has it already: CREATE ... IF NOT
// EXISTS, ADD COLUMN IF NOT EXISTS, and a catalog check before a rewrite.
// That is also what makes a rerun after a crash safe, though the whole list
// runs in one transaction and a crash leaves the version where it was.
//
// Never edit or reorder a migration that has shipped: append a new one.

// migration is one step of the metadata schema's history.
type migration struct {
	name string // what it changes and why, recorded with its version
	run  func(ctx context.Context, tx pgx.Tx) error
}

// migrations is the metadata schema's history; len(migrations) is the
// current version.
var migrations = []migration{
	{"create groups, tables and deferred_objects", execSQL(baseDDL)},
	{"key tables and deferred_objects by (schema_name, table_name)", splitNames},
	{"add deferred_objects.restore", execSQL(`ALTER TABLE pgvecrep.deferred_objects
		ADD COLUMN IF NOT EXISTS restore text[] NOT NULL DEFAULT '{}'`)},
	{"add groups.selection", execSQL(`ALTER TABLE pgvecrep.groups
		ADD COLUMN IF NOT EXISTS selection jsonb NOT NULL DEFAULT '{}'`)},
	{"move ddl_modes and ddl_scopes into groups.ddl_mode and groups.ddl_scope", moveDDLChoices},
	// groups.tables was a quoted copy of pgvecrep.tables that nothing read.
	// groups.snapshot_lsn and tables.finished_at stay: stats reads them
	// (Group.SnapshotLSN, TableState.FinishedAt).
	{"drop groups.tables, read by nothing", execSQL(`ALTER TABLE pgvecrep.groups DROP COLUMN IF EXISTS tables`)},
	// A foreign key's referenced table was kept in memory by the run that
	// deferred it, so a rerun after a crash built the key without it.
	// Kinds other than Kind's (an earlier "exclusion") build as indexes.
	{"add deferred_objects.references_schema and references_name; kinds outside Kind become index", execSQL(`
		ALTER TABLE pgvecrep.deferred_objects
			ADD COLUMN IF NOT EXISTS references_schema text NOT NULL DEFAULT '',
			ADD COLUMN IF NOT EXISTS references_name text NOT NULL DEFAULT '';
		UPDATE pgvecrep.deferred_objects SET kind = 'index'
			WHERE kind NOT IN ('primary', 'unique', 'index', 'vector', 'foreign', 'check')`)},
	// follow's continuous verifier records the differences that outlast
	// the lag, so stats, the metrics and a restarted follow all see them.
	{"add verify_mismatches", execSQL(addMismatchTable)},
	// switchover's way back: the reverse stream's state per group.
	{"add reverse", execSQL(addReverseTable)},
	// parallel apply: how many streams (publication, slot, subscription)
	// a group's changes are spread across; 1 is the engine's one worker.
	{"add groups.apply_streams", execSQL(`ALTER TABLE pgvecrep.groups
		ADD COLUMN IF NOT EXISTS apply_streams int NOT NULL DEFAULT 1`)},
}

// Version is the metadata schema version this pgvecrep writes.
func Version() int { return len(migrations) }

func execSQL(sql string) func(context.Context, pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sql)
		return err
	}
}

// baseDDL is the first version: the three tables in the (schema_name,
// table_name) layout, which is what migration 2 brings older ones to.
const baseDDL = `
COMMENT ON SCHEMA pgvecrep IS 'pgvecrep replication metadata; remove with pgvecrep cleanup --everything';
CREATE TABLE IF NOT EXISTS pgvecrep.groups (
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
CREATE TABLE IF NOT EXISTS pgvecrep.tables (
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
CREATE TABLE IF NOT EXISTS pgvecrep.deferred_objects (
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

// migrationsDDL is the table that records the applied migrations.
const migrationsDDL = `CREATE TABLE IF NOT EXISTS pgvecrep.migrations (
    version    int PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)`

// migrateLockKey serializes migrations: two pgvecrep processes that find
// the schema behind at once run the list one after the other, and the
// second finds nothing left to do.
const migrateLockKey = `SELECT pg_advisory_xact_lock(hashtextextended('pgvecrep:migrate', 0))`

// versionQuery reads the recorded version; run only when the table exists.
const versionQuery = `SELECT coalesce(max(version), 0) FROM pgvecrep.migrations`

// version is the schema's recorded version: 0 before the migrations table
// (metadata of an earlier pgvecrep, or none yet).
func version(ctx context.Context, q querier) (int, error) {
	if ok, err := relationExists(ctx, q, "migrations"); err != nil || !ok {
		return 0, err
	}
	var v int
	err := q.QueryRow(ctx, versionQuery).Scan(&v)
	return v, err
}

// migrate brings the metadata schema to Version, in one transaction: one
// catalog query and one read when it is current. A schema a newer pgvecrep
// wrote is refused: this one would not know what its columns mean.
func migrate(ctx context.Context, conn *pgx.Conn) error {
	return migrateTo(ctx, conn, Version())
}

// migrateTo runs the migrations up to version target; tests stop short of
// the current version to make the metadata an earlier version wrote.
func migrateTo(ctx context.Context, conn *pgx.Conn, target int) error {
	v, err := version(ctx, conn)
	if err != nil {
		return fmt.Errorf("read the version of metadata schema %s: %w", Schema, err)
	}
	if v > Version() {
		return newerError(v)
	}
	if v >= target {
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, migrateLockKey); err != nil {
		return fmt.Errorf("lock metadata schema %s for its upgrade: %w", Schema, err)
	}
	if _, err := tx.Exec(ctx, migrationsDDL); err != nil {
		return upgradeError(0, err)
	}
	if v, err = version(ctx, tx); err != nil {
		return fmt.Errorf("read the version of metadata schema %s: %w", Schema, err)
	}
	for i := v; i < target; i++ {
		m := migrations[i]
		if err := m.run(ctx, tx); err != nil {
			return upgradeError(i+1, fmt.Errorf("%s: %w", m.name, err))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO pgvecrep.migrations (version, name) VALUES ($1, $2)`, i+1, m.name); err != nil {
			return upgradeError(i+1, err)
		}
	}
	return tx.Commit(ctx)
}

func upgradeError(v int, err error) error {
	return hint.Wrap(fmt.Errorf("upgrade metadata schema %s to version %d: %w", Schema, v, err),
		"run pgvecrep as the owner of schema "+Schema+" on the target, which can alter its tables")
}

func newerError(v int) error {
	return hint.Wrap(fmt.Errorf("metadata schema %s is at version %d, newer than this pgvecrep's %d", Schema, v, Version()),
		"run the pgvecrep that wrote it, or a later one")
}

// querier is what the catalog checks need: a connection or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// relationExists reports whether pgvecrep.<name> exists.
func relationExists(ctx context.Context, q querier, name string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{Schema, name}.Sanitize()).Scan(&ok)
	return ok, err
}

// hasColumn reports whether pgvecrep.<table> exists and has column.
func hasColumn(ctx context.Context, q querier, table, column string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
		WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped)`,
		pgx.Identifier{Schema, table}.Sanitize(), column).Scan(&ok)
	return ok, err
}

// Versions before the (schema_name, table_name) layout kept a table as one
// table_name column holding quoted SQL ("public"."docs"), which was then
// pasted into statements. splitNames turns such metadata into the new
// layout in place, so groups started by an earlier version can still be
// watched, stopped, switched over and cleaned up: it adds schema_name and
// splits the old text with pg.ParseName, the parser that reads names as
// PostgreSQL does.

// splitTables lists the metadata tables with a table name, and the primary key
// each gets in the new layout.
var splitTables = []struct{ table, key string }{
	{"tables", "group_name, schema_name, table_name"},
	{"deferred_objects", "group_name, schema_name, table_name, name"},
}

func splitNames(ctx context.Context, tx pgx.Tx) error {
	for _, m := range splitTables {
		has, err := hasColumn(ctx, tx, m.table, "schema_name")
		if err != nil {
			return err
		}
		if !has {
			if err := splitTable(ctx, tx, m.table, m.key); err != nil {
				return fmt.Errorf("%s.%s: %w", Schema, m.table, err)
			}
		}
	}
	return nil
}

// splitTable moves one metadata table to the new layout. The old primary
// key goes first: two tables of the same name in different schemas share a
// table_name once it is split.
func splitTable(ctx context.Context, tx pgx.Tx, table, key string) error {
	qualified := pgx.Identifier{Schema, table}.Sanitize()
	var pkey string
	err := tx.QueryRow(ctx, `SELECT coalesce((SELECT conname::text FROM pg_constraint
		WHERE conrelid = $1::regclass AND contype = 'p'), '')`, qualified).Scan(&pkey)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "ALTER TABLE "+qualified+" ADD COLUMN schema_name text"); err != nil {
		return err
	}
	if pkey != "" {
		if _, err := tx.Exec(ctx, "ALTER TABLE "+qualified+" DROP CONSTRAINT "+pgx.Identifier{pkey}.Sanitize()); err != nil {
			return err
		}
	}
	olds, err := pg.Strings(ctx, tx, "SELECT DISTINCT table_name FROM "+qualified)
	if err != nil {
		return err
	}
	for _, old := range olds {
		n, err := pg.ParseName(old, "public")
		if err != nil {
			return fmt.Errorf("split the stored name: %w", err)
		}
		if _, err := tx.Exec(ctx, "UPDATE "+qualified+" SET schema_name = $1, table_name = $2 WHERE schema_name IS NULL AND table_name = $3",
			n.Schema, n.Name, old); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, "ALTER TABLE "+qualified+" ALTER COLUMN schema_name SET NOT NULL, ADD PRIMARY KEY ("+key+")")
	return err
}

// moveDDLChoices moves the DDL mode (bootstrap's --ddl) and scope
// (start_sync's way of choosing tables) from the tables package ddl used
// to create for them lazily into the group's own row. Missing values read
// as "", which ddl takes as its defaults, as it did a missing row.
func moveDDLChoices(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `ALTER TABLE pgvecrep.groups
		ADD COLUMN IF NOT EXISTS ddl_mode text NOT NULL DEFAULT '',
		ADD COLUMN IF NOT EXISTS ddl_scope text NOT NULL DEFAULT ''`); err != nil {
		return err
	}
	for _, m := range []struct{ table, column, from string }{
		{"ddl_modes", "ddl_mode", "mode"},
		{"ddl_scopes", "ddl_scope", "scope"},
	} {
		ok, err := relationExists(ctx, tx, m.table)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		old := pgx.Identifier{Schema, m.table}.Sanitize()
		if _, err := tx.Exec(ctx, fmt.Sprintf(`UPDATE pgvecrep.groups g SET %s = o.%s FROM %s o WHERE o.group_name = g.name`,
			pgx.Identifier{m.column}.Sanitize(), pgx.Identifier{m.from}.Sanitize(), old)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DROP TABLE "+old); err != nil {
			return err
		}
	}
	return nil
}
