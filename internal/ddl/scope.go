package ddl

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
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

// SaveScope records what the group's DDL capture follows (in the group's
// metadata on the target, until Install reads it); start_sync calls it
// before it installs the capture.
func SaveScope(ctx context.Context, tgt *pgx.Conn, groupName string, scope Scope) error {
	return group.SetDDLScope(ctx, tgt, groupName, string(scope))
}

// savedScope is the group's recorded Scope; WholeSchemas when none was
// recorded (groups started before scopes existed, and callers that start a
// group without start_sync's flags).
func savedScope(ctx context.Context, tgt *pgx.Conn, groupName string) (Scope, error) {
	scope, err := group.DDLScope(ctx, tgt, groupName)
	if err != nil || scope == "" {
		return WholeSchemas, err
	}
	return Scope(scope), nil
}
