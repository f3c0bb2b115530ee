package postdata

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// BuildConcurrently runs an index definition (as pg_get_indexdef prints it)
// with CONCURRENTLY (leaf by leaf on a partitioned table, see
// ConcurrentlyByLeaf), sized as start_sync sizes its vector builds
// (PrepareVectorBuild, out of start_sync's default budget): the
// session's own maintenance_work_mem is often the server's 64MB, which an
// HNSW graph of any size outgrows, and a table of 768-d vectors would get
// no parallel worker.
func BuildConcurrently(ctx context.Context, tgt *pgx.Conn, index, def string) error {
	budget, err := DefaultBudget(ctx, tgt)
	if err != nil {
		return err
	}
	if strings.Contains(def, " ON ONLY ") {
		// On a partitioned table: CREATE INDEX CONCURRENTLY refuses it.
		return ConcurrentlyByLeaf(ctx, tgt, index, def, budget)
	}
	if err := dropInvalid(ctx, tgt, index); err != nil {
		return err
	}
	sql := strings.Replace(def, " INDEX ", " INDEX CONCURRENTLY IF NOT EXISTS ", 1)
	if table := vector.IndexTable(def); table != "" {
		undo, err := PrepareVectorBuild(ctx, tgt, table, def, budget)
		defer undo()
		if err != nil {
			return fmt.Errorf("prepare the build of index %s: %w", index, err)
		}
	}
	if _, err := tgt.Exec(ctx, sql); err != nil {
		_, _ = tgt.Exec(context.WithoutCancel(ctx), "DROP INDEX CONCURRENTLY IF EXISTS "+index)
		return fmt.Errorf("build index %s on the target: %w", index, err)
	}
	return nil
}

// dropInvalid drops index when an earlier build left it invalid: a
// CREATE INDEX CONCURRENTLY cut off (a killed apply_ddl_change or follow)
// leaves the index in the catalog, unusable, and IF NOT EXISTS would then
// skip the build and record an index that answers no query. DROP INDEX
// CONCURRENTLY waits for a build still running in another session.
func dropInvalid(ctx context.Context, tgt *pgx.Conn, index string) error {
	var invalid bool
	err := tgt.QueryRow(ctx, `SELECT coalesce((SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)), false)`, index).Scan(&invalid)
	if err != nil {
		return fmt.Errorf("look up index %s on the target: %w", index, err)
	}
	if !invalid {
		return nil
	}
	if _, err := tgt.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+index); err != nil {
		return fmt.Errorf("drop the invalid index %s an interrupted build left: %w", index, err)
	}
	return nil
}
