package group

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// SetTables replaces a group's table list, for a group whose tables change
// while it streams (a table created, renamed or dropped on the source and
// followed by the DDL capture). Tables that stay keep their copy state; new
// ones are recorded as copied by the subscription.
func SetTables(ctx context.Context, conn *pgx.Conn, name string, tables []pg.Name) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("record the tables of group %q: %w", name, err)
	}
	defer tx.Rollback(ctx)
	schemas, rels := split(tables)
	for _, step := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE pgvecrep.groups SET tables = $2, updated_at = now() WHERE name = $1`, []any{name, catalog.QuotedNames(tables)}},
		{`DELETE FROM pgvecrep.tables WHERE group_name = $1 AND (schema_name, table_name) NOT IN
			(SELECT s, n FROM unnest($2::text[], $3::text[]) u(s, n))`, []any{name, schemas, rels}},
		{`INSERT INTO pgvecrep.tables (group_name, schema_name, table_name, state, started_at, finished_at)
			SELECT $1, s, n, 'copied', now(), now() FROM unnest($2::text[], $3::text[]) u(s, n) ON CONFLICT DO NOTHING`,
			[]any{name, schemas, rels}},
	} {
		if _, err := tx.Exec(ctx, step.sql, step.args...); err != nil {
			return fmt.Errorf("record the tables of group %q: %w", name, err)
		}
	}
	return tx.Commit(ctx)
}

// Stalled is the phase stats shows for a streaming group whose apply worker
// keeps failing (see replication.SubscriptionHealth). It is never stored:
// the group is still streaming in the metadata, and shows it again as soon
// as changes are applied.
const Stalled Phase = "stalled"
