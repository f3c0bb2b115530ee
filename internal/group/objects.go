package group

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Deferred is a target index or constraint dropped before the copy and to be
// built again after it.
type Deferred struct {
	Table      pg.Name
	Name       string
	Kind       string // vector, index, primary, unique, exclusion, foreign, check
	Definition string
	// Restore are the statements that give the object back what Definition
	// cannot say (replica identity, CLUSTER ON, comments, statistics
	// targets...), run after it is built; see catalog.Index.
	Restore []string
	Bytes   int64
	Built   bool
}

// SaveDeferred records objects about to be dropped, before they are dropped,
// so a crash between the drop and the rebuild never loses a definition.
func SaveDeferred(ctx context.Context, conn *pgx.Conn, group string, objs []Deferred) error {
	if err := ensureRestoreColumn(ctx, conn); err != nil {
		return err
	}
	for _, d := range objs {
		if _, err := conn.Exec(ctx, `INSERT INTO pgvecrep.deferred_objects
			(group_name, schema_name, table_name, name, kind, definition, bytes, restore) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (group_name, schema_name, table_name, name) DO UPDATE SET definition = EXCLUDED.definition,
			kind = EXCLUDED.kind, bytes = EXCLUDED.bytes, restore = EXCLUDED.restore, built_at = NULL`,
			group, d.Table.Schema, d.Table.Name, d.Name, d.Kind, d.Definition, d.Bytes, nonNil(d.Restore)); err != nil {
			return fmt.Errorf("record deferred %s %s: %w", d.Kind, d.Name, err)
		}
	}
	return nil
}

// PendingDeferred lists the objects not built yet, largest first.
func PendingDeferred(ctx context.Context, conn *pgx.Conn, group string) ([]Deferred, error) {
	if err := ensureRestoreColumn(ctx, conn); err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT schema_name, table_name, name, kind, definition, restore, bytes, built_at IS NOT NULL
		FROM pgvecrep.deferred_objects WHERE group_name = $1 AND built_at IS NULL
		ORDER BY bytes DESC, name`, group)
	if err != nil {
		return nil, fmt.Errorf("list deferred objects: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Deferred, error) {
		var d Deferred
		err := r.Scan(&d.Table.Schema, &d.Table.Name, &d.Name, &d.Kind, &d.Definition, &d.Restore, &d.Bytes, &d.Built)
		return d, err
	})
}

// addRestoreColumn brings deferred_objects to the current layout (see
// ensureRestoreColumn); schemaDDL ends with it.
const addRestoreColumn = `ALTER TABLE pgvecrep.deferred_objects ADD COLUMN IF NOT EXISTS restore text[] NOT NULL DEFAULT '{}'`

// restoreColumnQuery reports whether deferred_objects lacks the restore
// column.
const restoreColumnQuery = `SELECT to_regclass('pgvecrep.deferred_objects') IS NOT NULL AND NOT EXISTS (
	SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('pgvecrep.deferred_objects')
	AND attname = 'restore' AND NOT attisdropped)`

// ensureRestoreColumn adds the restore column to metadata written by an
// earlier version. schemaDDL adds it too, but only bootstrap runs that:
// stop_sync, cleanup or start_sync on a group bootstrapped before the
// upgrade come here first. Rows saved without it restore nothing more than
// they did then. One catalog query when the column is there.
func ensureRestoreColumn(ctx context.Context, conn *pgx.Conn) error {
	var missing bool
	if err := conn.QueryRow(ctx, restoreColumnQuery).Scan(&missing); err != nil {
		return fmt.Errorf("read the layout of %s.deferred_objects: %w", Schema, err)
	}
	if !missing {
		return nil
	}
	if _, err := conn.Exec(ctx, addRestoreColumn); err != nil {
		return fmt.Errorf("upgrade metadata table %s.deferred_objects: %w", Schema, err)
	}
	return nil
}

// nonNil is s, or an empty list for nil (which would be NULL).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// MarkBuilt records that a deferred object exists again.
func MarkBuilt(ctx context.Context, conn *pgx.Conn, group string, d Deferred) error {
	_, err := conn.Exec(ctx, `UPDATE pgvecrep.deferred_objects SET built_at = now()
		WHERE group_name = $1 AND schema_name = $2 AND table_name = $3 AND name = $4`,
		group, d.Table.Schema, d.Table.Name, d.Name)
	return err
}

// TableState is one table's progress in a group.
type TableState struct {
	Table       pg.Name
	State       string
	RowsCopied  int64
	BytesCopied int64
}

// Tables lists a group's per-table state.
func Tables(ctx context.Context, conn *pgx.Conn, group string) ([]TableState, error) {
	rows, err := conn.Query(ctx, `SELECT schema_name, table_name, state, rows_copied, bytes_copied
		FROM pgvecrep.tables WHERE group_name = $1 ORDER BY schema_name, table_name`, group)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableState, error) {
		var ts TableState
		err := r.Scan(&ts.Table.Schema, &ts.Table.Name, &ts.State, &ts.RowsCopied, &ts.BytesCopied)
		return ts, err
	})
}

// SetTableState records a table's copy progress.
func SetTableState(ctx context.Context, conn *pgx.Conn, group string, ts TableState) error {
	_, err := conn.Exec(ctx, `UPDATE pgvecrep.tables SET state = $3, rows_copied = $4, bytes_copied = $5,
		started_at = coalesce(started_at, now()),
		finished_at = CASE WHEN $3 = 'copied' THEN now() ELSE finished_at END
		WHERE group_name = $1 AND schema_name = $6 AND table_name = $2`,
		group, ts.Table.Name, ts.State, ts.RowsCopied, ts.BytesCopied, ts.Table.Schema)
	return err
}
