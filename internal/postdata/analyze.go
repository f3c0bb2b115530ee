package postdata

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

const (
	// minBudget is the least pgvecrep gives its builds in total. The
	// server's default of 64MB is sized for routine VACUUMs on a busy
	// server; a target being seeded has no users yet, and an HNSW build whose
	// graph outgrows maintenance_work_mem slows down several times.
	minBudget = 512 << 20
	// maxBudget caps what pgvecrep chooses on its own: the target's memory is
	// unknown (it may be remote), and 2GB is where the measured 100k x 128-d
	// HNSW build stops gaining (DESIGN.md).
	maxBudget = 2 << 30
)

// DefaultBudget chooses the memory budget for the post-data builds from the
// target's maintenance_work_mem: at least 512MB, at most 2GB, except that a
// setting above 2GB is kept as is, since an admin chose it on purpose.
func DefaultBudget(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var cur int64
	err := conn.QueryRow(ctx, "SELECT pg_size_bytes(current_setting('maintenance_work_mem'))").Scan(&cur)
	if err != nil {
		return 0, fmt.Errorf("read maintenance_work_mem: %w", err)
	}
	if cur >= maxBudget {
		return cur, nil
	}
	return min(max(cur, minBudget), maxBudget), nil
}

// Analyze gathers planner statistics for tables on the target. A copy
// leaves none (COPY does not analyze, and autovacuum comes later), and the
// first queries after a switchover should not be planned blind.
func Analyze(ctx context.Context, cfg *pgx.ConnConfig, tables []pg.Name) error {
	if len(tables) == 0 {
		return nil
	}
	conn, err := pg.ConnectConfig(ctx, pg.Target, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "ANALYZE "+t.Quoted()); err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
	}
	return nil
}
