package group

import (
	"context"
	"fmt"
	"time"

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
	if err := mustExist(ctx, conn, group); err != nil {
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
	if ok, err := SchemaExists(ctx, conn); err != nil || !ok {
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
	// StartedAt and FinishedAt are when pgvecrep's copy of the table began
	// and ended (the engine's copy, native mode, records neither); a table
	// that joined a streaming group has both at the time it joined. Set by
	// SetTableState and SetTables; nil until then.
	StartedAt, FinishedAt *time.Time
}

// Tables lists a group's per-table state, ordered by schema and name.
func Tables(ctx context.Context, conn *pgx.Conn, group string) ([]TableState, error) {
	rows, err := conn.Query(ctx, `SELECT schema_name, table_name, state, rows_copied, bytes_copied, started_at, finished_at
		FROM pgvecrep.tables WHERE group_name = $1 ORDER BY schema_name, table_name`, group)
	if err != nil {
		return nil, fmt.Errorf("read the tables of group %q: %w", group, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableState, error) {
		var ts TableState
		err := r.Scan(&ts.Table.Schema, &ts.Table.Name, &ts.State, &ts.RowsCopied, &ts.BytesCopied, &ts.StartedAt, &ts.FinishedAt)
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
