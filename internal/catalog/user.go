package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// userTablesQuery lists the tables as Tables sees them:
// ordinary and partitioned roots, outside the system schemas, pgvecrep's
// and extensions'.
const userTablesQuery = `
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgvecrep')
  AND n.nspname NOT LIKE 'pg\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname`

// UserTables lists the names of the database's tables that Tables could
// select, schema by schema: the choices a user has for -s, -t and -e.
func UserTables(ctx context.Context, conn *pgx.Conn) ([]pg.Name, error) {
	rows, err := conn.Query(ctx, userTablesQuery)
	if err != nil {
		return nil, fmt.Errorf("list the tables: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (pg.Name, error) {
		var n pg.Name
		err := r.Scan(&n.Schema, &n.Name)
		return n, err
	})
}
