package preflight

import (
	"context"
	"fmt"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// withoutUnlogged drops the unlogged tables from the selection with a
// warning naming them: CREATE PUBLICATION refuses an unlogged table (its
// changes never reach the WAL), so keeping one would fail start_sync after
// the checks passed. Start_sync replicates what the report's Tables hold.
func (c *checker) withoutUnlogged(ts []catalog.Table) []catalog.Table {
	var kept []catalog.Table
	var skipped []pg.Name
	for _, t := range ts {
		if t.Unlogged {
			skipped = append(skipped, t.Name)
			continue
		}
		kept = append(kept, t)
	}
	if len(skipped) > 0 {
		c.add(Finding{Check: "unlogged_tables", Status: StatusWarn,
			Detail: fmt.Sprintf("%s skipped: an unlogged table cannot be replicated: %s", plural(len(skipped), "unlogged table"), nameList(skipped, 10)),
			Hint:   fmt.Sprintf("to replicate one, run ALTER TABLE %s SET LOGGED on the source; to silence this, leave them out with -e", skipped[0].Quoted())})
	}
	return kept
}

// tempTablesQuery counts the temporary tables of every session: they live
// in pg_temp_N schemas, which no selection reaches.
const tempTablesQuery = `SELECT count(*) FROM pg_class WHERE relpersistence = 't' AND relkind IN ('r', 'p')`

// tempTables notes the temporary tables present, so a user who sees them in
// psql knows why they are not replicated; it says nothing when there are none.
func (c *checker) tempTables(ctx context.Context) {
	var n int64
	if err := c.src.QueryRow(ctx, tempTablesQuery).Scan(&n); err != nil {
		c.broken("temporary_tables", fmt.Errorf("count temporary tables on the source: %w", err))
		return
	}
	if n > 0 {
		c.ok("temporary_tables", "%s on the source skipped: a temporary table belongs to its session and is never replicated", plural(int(n), "temporary table"))
	}
}

// largeObjects warns about large objects (lo_import, pg_largeobject):
// logical replication carries table rows only, so they stay behind, and an
// oid column pointing at one would point at nothing on the target.
func (c *checker) largeObjects(ctx context.Context) {
	var n int64
	if err := c.src.QueryRow(ctx, `SELECT count(*) FROM pg_largeobject_metadata`).Scan(&n); err != nil {
		c.broken("large_objects", fmt.Errorf("count large objects on the source: %w", err))
		return
	}
	if n == 0 {
		c.ok("large_objects", "no large objects on the source")
		return
	}
	c.add(Finding{Check: "large_objects", Status: StatusWarn,
		Detail: fmt.Sprintf("%s on the source: logical replication does not carry them, so they will not be on the target", plural(int(n), "large object")),
		Hint:   "copy them to the target yourself before the switchover (lo_export and lo_import), or move them into bytea columns, which do replicate"})
}
