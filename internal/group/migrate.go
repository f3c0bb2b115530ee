package group

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Versions before the (schema_name, table_name) layout kept a table as one
// table_name column holding quoted SQL ("public"."docs"), which was then
// pasted into statements. migrate turns such metadata into the new layout in
// place, so groups started by an earlier version can still be watched,
// stopped, switched over and cleaned up: it adds schema_name and splits the
// old text with pg.ParseName, the parser that reads names as PostgreSQL does.

// migrated lists the metadata tables with a table name, and the primary key
// each gets in the new layout.
var migrated = []struct{ table, key string }{
	{"tables", "group_name, schema_name, table_name"},
	{"deferred_objects", "group_name, schema_name, table_name, name"},
}

// oldLayoutQuery reports whether a metadata table exists without the
// schema_name column.
const oldLayoutQuery = `SELECT to_regclass($1) IS NOT NULL AND NOT EXISTS (
	SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'schema_name' AND NOT attisdropped)`

// migrate brings metadata written by an earlier version to the current
// layout, in one transaction; a no-op (one catalog query per table) when it
// is current. Two pgvecrep processes that start it at once are serialized by
// the table locks, and the second finds nothing left to do.
func migrate(ctx context.Context, conn *pgx.Conn) error {
	old := false
	for _, m := range migrated {
		var o bool
		if err := conn.QueryRow(ctx, oldLayoutQuery, Schema+"."+m.table).Scan(&o); err != nil {
			return fmt.Errorf("read the layout of %s.%s: %w", Schema, m.table, err)
		}
		old = old || o
	}
	if !old {
		return nil
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	for _, m := range migrated {
		if err := migrateTable(ctx, tx, m.table, m.key); err != nil {
			return hint.Wrap(fmt.Errorf("upgrade metadata table %s.%s: %w", Schema, m.table, err),
				"run pgvecrep as the owner of schema "+Schema+" on the target, which can alter its tables")
		}
	}
	return tx.Commit(ctx)
}

// migrateTable moves one metadata table to the new layout. The old primary
// key goes first: two tables of the same name in different schemas share a
// table_name once it is split.
func migrateTable(ctx context.Context, tx pgx.Tx, table, key string) error {
	qualified := pgx.Identifier{Schema, table}.Sanitize()
	if _, err := tx.Exec(ctx, "LOCK TABLE "+qualified+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		return err
	}
	var old bool
	if err := tx.QueryRow(ctx, oldLayoutQuery, Schema+"."+table).Scan(&old); err != nil || !old {
		return err
	}
	var pkey string
	err := tx.QueryRow(ctx, `SELECT coalesce((SELECT conname::text FROM pg_constraint
		WHERE conrelid = $1::regclass AND contype = 'p'), '')`, Schema+"."+table).Scan(&pkey)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "ALTER TABLE "+qualified+" ADD COLUMN IF NOT EXISTS schema_name text"); err != nil {
		return err
	}
	if pkey != "" {
		if _, err := tx.Exec(ctx, "ALTER TABLE "+qualified+" DROP CONSTRAINT "+pgx.Identifier{pkey}.Sanitize()); err != nil {
			return err
		}
	}
	if err := splitNames(ctx, tx, qualified); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "ALTER TABLE "+qualified+" ALTER COLUMN schema_name SET NOT NULL, ADD PRIMARY KEY ("+key+")")
	return err
}

// splitNames replaces each old quoted table_name by its schema and name.
func splitNames(ctx context.Context, tx pgx.Tx, qualified string) error {
	olds, err := pg.Strings(ctx, tx, "SELECT DISTINCT table_name FROM "+qualified+" WHERE schema_name IS NULL")
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
	return nil
}
