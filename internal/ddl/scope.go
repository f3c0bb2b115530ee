package ddl

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Scope is what a group's DDL capture follows, from the way its tables were
// chosen.
type Scope string

const (
	// WholeSchemas follows every statement in the group's schemas, and a
	// table created there joins the group (start_sync -s, with or without
	// -e): what the user chose is the schema.
	WholeSchemas Scope = "schemas"
	// TablesOnly follows the group's own tables and nothing else
	// (start_sync -t): what the user chose is those tables, and a table
	// created next to them belongs to whichever group covers it, or none.
	// Two groups of chosen tables in one schema (pg_easy_replicate's own
	// pattern) then never see each other's statements.
	TablesOnly Scope = "tables"
)

// scopesDDL keeps each group's Scope on the target from start_sync's flags
// until Install, which initsync calls, reads it; removed with the group.
// It belongs in the group's own row (pgvecrep.groups), which package group
// owns: move it there with the next metadata migration, as ddl_modes.
const scopesDDL = `CREATE TABLE IF NOT EXISTS pgvecrep.ddl_scopes (
    group_name text PRIMARY KEY REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    scope      text NOT NULL
)`

// SaveScope records what the group's DDL capture follows; start_sync calls
// it before it installs the capture.
func SaveScope(ctx context.Context, tgt *pgx.Conn, groupName string, scope Scope) error {
	if _, err := tgt.Exec(ctx, scopesDDL); err != nil {
		return fmt.Errorf("record the DDL scope of group %q: %w", groupName, err)
	}
	_, err := tgt.Exec(ctx, `INSERT INTO pgvecrep.ddl_scopes VALUES ($1, $2)
		ON CONFLICT (group_name) DO UPDATE SET scope = EXCLUDED.scope`, groupName, string(scope))
	if err != nil {
		return fmt.Errorf("record the DDL scope of group %q: %w", groupName, err)
	}
	return nil
}

// savedScope is the group's recorded Scope; WholeSchemas when none was
// recorded (groups started before scopes existed, and callers that start a
// group without start_sync's flags).
func savedScope(ctx context.Context, tgt *pgx.Conn, groupName string) (Scope, error) {
	var exists bool
	if err := tgt.QueryRow(ctx, `SELECT to_regclass('pgvecrep.ddl_scopes') IS NOT NULL`).Scan(&exists); err != nil {
		return "", fmt.Errorf("read the DDL scope of group %q: %w", groupName, err)
	}
	if !exists {
		return WholeSchemas, nil
	}
	var scope string
	err := tgt.QueryRow(ctx, `SELECT scope FROM pgvecrep.ddl_scopes WHERE group_name = $1`, groupName).Scan(&scope)
	if errors.Is(err, pgx.ErrNoRows) {
		return WholeSchemas, nil
	}
	if err != nil {
		return "", fmt.Errorf("read the DDL scope of group %q: %w", groupName, err)
	}
	return Scope(scope), nil
}
