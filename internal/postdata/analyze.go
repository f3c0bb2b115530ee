package postdata

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pool"
)

const (
	// minBudget is the least pgvecrep gives its builds in total. The
	// server's default of 64MB is sized for routine VACUUMs on a busy
	// server; a target being seeded has no users yet, and an HNSW build whose
	// graph outgrows maintenance_work_mem slows down several times.
	minBudget = 512 << 20
	// maxBudget caps what pgvecrep chooses on its own: the target's memory is
	// unknown (it may be remote), and 2GB is where the measured 100k x 128-d
	// HNSW build stops gaining (17.1 s with 2 workers on 2 cores).
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

// Analyze gathers planner statistics for tables on the target, on up to
// sessions connections at once. A copy leaves none (COPY does not analyze,
// and autovacuum comes later), and the first queries after a switchover
// should not be planned blind. It runs once every build is done, when
// nothing else uses the target's cores: one ANALYZE is a single process, so
// several tables at once end sooner than one after another.
func Analyze(ctx context.Context, cfg *pgx.ConnConfig, tables []pg.Name, sessions int) error {
	if len(tables) == 0 {
		return nil
	}
	popts := pool.Options[*pgx.Conn]{
		Workers: min(max(sessions, 1), len(tables)),
		Open:    func(ctx context.Context) (*pgx.Conn, error) { return pg.ConnectConfig(ctx, pg.Target, cfg) },
		Close:   func(ctx context.Context, c *pgx.Conn) { _ = c.Close(ctx) },
	}
	return pool.Run(ctx, pool.Feed(tables), popts, func(ctx context.Context, conn *pgx.Conn, t pg.Name) error {
		if _, err := conn.Exec(ctx, "ANALYZE "+t.Quoted()); err != nil {
			return fmt.Errorf("analyze %s: %w", t, err)
		}
		return nil
	})
}
