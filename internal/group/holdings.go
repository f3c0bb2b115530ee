package group

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// The readers here change nothing, not even metadata an earlier version
// wrote: config_check is read-only. Metadata older than the (schema_name,
// table_name) layout holds no table identity they trust, and reads as none
// until the first command that opens a group migrates it.

// Holding is a target table a group holds, with the group's phase.
type Holding struct {
	Group string
	Phase Phase
	Table pg.Name
}

// holdingsQuery reads which group holds which target table, by the table's
// identity as the metadata stores it (schema and name as data). Groups that
// never copied (bootstrapped) or whose copy was undone (failed) hold
// nothing a person would miss.
const holdingsQuery = `SELECT g.name, g.phase, t.schema_name, t.table_name
	FROM pgvecrep.groups g JOIN pgvecrep.tables t ON t.group_name = g.name
	WHERE g.phase NOT IN ('bootstrapped', 'failed')`

// Holdings lists the tables of every group that copied them, without
// changing anything (see above).
func Holdings(ctx context.Context, conn *pgx.Conn) ([]Holding, error) {
	if ok, err := readable(ctx, conn); err != nil || !ok {
		return nil, err
	}
	rows, err := conn.Query(ctx, holdingsQuery)
	if err != nil {
		return nil, fmt.Errorf("read which group holds which table: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Holding, error) {
		var h Holding
		err := r.Scan(&h.Group, &h.Phase, &h.Table.Schema, &h.Table.Name)
		return h, err
	})
}

// Names lists every group's name, without changing anything (see above).
// Unlike List it needs no particular order.
func Names(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	if ok, err := readable(ctx, conn); err != nil || !ok {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT name FROM pgvecrep.groups`)
	if err != nil {
		return nil, fmt.Errorf("list groups: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// readable reports whether the target has metadata in a layout the
// read-only readers trust: groups, and tables keyed by schema and name
// (the same check migration 2 makes before it splits the old names).
func readable(ctx context.Context, conn *pgx.Conn) (bool, error) {
	if ok, err := relationExists(ctx, conn, "groups"); err != nil || !ok {
		return false, err
	}
	return hasColumn(ctx, conn, "tables", "schema_name")
}
