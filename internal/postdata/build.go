package postdata

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pool"
	"github.com/pgvecrep/pgvecrep/internal/retry"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// builder is one Build call's shared state. mu serializes the callbacks and
// guards running.
type builder struct {
	opts     Options
	mu       sync.Mutex
	running  map[uint32]*running // by backend pid
	pollConn *pgx.Conn           // the progress session, opened at the first poll
	sched    *schedule
	mem      *memory
}

// running is a build in progress.
type running struct {
	obj   Object
	start time.Time
	// part is the partition a leaf-by-leaf build is on, since partStart.
	part      string
	partStart time.Time
}

// Build creates objs on the target, up to opts.Parallel at a time, each as
// soon as what it depends on is there (see schedule): with opts.Copied set,
// a table's keys and indexes start while other tables are still copying. An
// object that already exists and is valid counts as built, so Build can be
// run again after an interruption. The first failure cancels the other
// builds and is returned naming the object.
func Build(ctx context.Context, objs []Object, opts Options) error {
	if err := check(objs); err != nil || len(objs) == 0 {
		drain(opts.Copied)
		return err
	}
	opts.Parallel = max(opts.Parallel, 1)
	b := &builder{opts: opts, running: map[uint32]*running{},
		sched: newSchedule(objs, opts.Copied == nil), mem: newMemory(opts.MemoryBudget, opts.Parallel)}
	defer b.closePoll(ctx)
	popts := pool.Options[*pgx.Conn]{
		Workers:  opts.Parallel,
		Open:     b.session,
		Close:    func(ctx context.Context, c *pgx.Conn) { _ = c.Close(ctx) },
		Interval: pollInterval,
	}
	if opts.Progress != nil {
		popts.Progress = b.poll
	}
	g, gctx := errgroup.WithContext(ctx)
	ready := make(chan Object)
	g.Go(func() error { return b.sched.dispatch(gctx, opts.Copied, ready) })
	g.Go(func() error { return pool.Run(gctx, ready, popts, b.build) })
	return g.Wait()
}

// drain reads a copied channel nobody else will, so its sender never blocks.
func drain(copied <-chan pg.Name) {
	if copied != nil {
		go func() {
			for range copied {
			}
		}()
	}
}

// session opens a build session with the parallel worker setting. A build
// can take hours; no timeout applies. maintenance_work_mem is set for each
// build, from what the builds running beside it left free.
func (b *builder) session(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pg.ConnectConfig(ctx, pg.Target, b.opts.Target)
	if err != nil {
		return nil, err
	}
	set := vector.BuildSettings{ParallelWorkers: -1}
	switch {
	case b.opts.Workers > 0:
		set.ParallelWorkers = b.opts.Workers
	case b.opts.Workers < 0:
		set.ParallelWorkers = 0
	}
	for _, sql := range append([]string{"SET statement_timeout = 0"}, set.SQL()...) {
		if _, err := conn.Exec(ctx, sql); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("prepare build session (%s): %w", sql, err)
		}
	}
	return conn, nil
}

// deadlockRetry runs a definition again when PostgreSQL aborted it as a
// deadlock victim (40P01), and for no other error. Two foreign keys that
// point at each other's tables lock the two tables in opposite orders; when
// both are added at once PostgreSQL aborts one, which succeeds when run
// again a moment later. Three attempts.
var deadlockRetry = retry.Policy{Attempts: 3, Pause: 50 * time.Millisecond, MaxPause: 200 * time.Millisecond,
	Retryable: retry.Codes("40P01")}

// build creates one object, unless it exists already, then runs its
// restore statements: also for one that exists, which a crash between the
// two may have left without them.
func (b *builder) build(ctx context.Context, conn *pgx.Conn, o Object) error {
	done, err := exists(ctx, conn, o)
	if err != nil {
		return fmt.Errorf("build %s: %w", o, err)
	}
	start := time.Now()
	phase := "already built"
	if !done {
		if err := b.create(ctx, conn, o, start); err != nil {
			return fmt.Errorf("build %s: %w", o, err)
		}
		phase = "done"
	}
	if err := runRestore(ctx, conn, o.Restore); err != nil {
		return fmt.Errorf("build %s: %w", o, err)
	}
	return b.finish(o, phase, start)
}

// create runs o's definition with its share of the memory budget, which is
// given back before anything waiting for o may start. A vector index on a
// partitioned table is built leaf by leaf first (see leafBuilds), so that
// each leaf's build is sized by its own table.
func (b *builder) create(ctx context.Context, conn *pgx.Conn, o Object, start time.Time) error {
	var share int64
	if b.mem != nil {
		share = b.mem.claim()
		defer b.mem.release(share)
	}
	pid := conn.PgConn().PID()
	b.begin(pid, o, start)
	defer func() {
		b.mu.Lock()
		delete(b.running, pid)
		b.mu.Unlock()
	}()
	if o.Kind == group.VectorIndex {
		leaves, err := leafBuilds(ctx, conn, o)
		if err != nil {
			return err
		}
		for i, l := range leaves {
			b.building(pid, fmt.Sprintf("partition %s (%d of %d)", l.table, i+1, len(leaves)))
			if err := b.statement(ctx, conn, l.table, l.def, true, share); err != nil {
				return fmt.Errorf("partition %s: %w", l.table, err)
			}
		}
		b.building(pid, "")
	}
	return b.statement(ctx, conn, o.Table.Quoted(), o.Def, o.Kind == group.VectorIndex, share)
}

// statement runs one definition on table (regclass text), with the memory
// and parallel workers its build calls for (see PrepareVectorBuild).
func (b *builder) statement(ctx context.Context, conn *pgx.Conn, table, def string, isVector bool, share int64) error {
	switch {
	case isVector:
		undo, err := PrepareVectorBuild(ctx, conn, table, def, share)
		if err != nil {
			return err
		}
		defer undo()
	case b.mem != nil:
		sql := vector.BuildSettings{MaintenanceWorkMem: vector.FormatBytes(share), ParallelWorkers: -1}.SQL()[0]
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return retry.Do(ctx, deadlockRetry, func(ctx context.Context) error {
		_, err := conn.Exec(ctx, def)
		return err
	})
}

// PrepareVectorBuild sets conn up for one vector index build of def on
// table (regclass text): maintenance_work_mem is budget, or less for an
// HNSW graph that needs less (see vector.HNSWMemory; a budget of 0 keeps
// the session's), and the build may use its parallel workers whatever its
// table's heap size (see vector.WholeTableWorkersSQL). undo resets both,
// for a session that goes on to run other statements.
func PrepareVectorBuild(ctx context.Context, conn *pgx.Conn, table, def string, budget int64) (undo func(), err error) {
	var reset []string
	undo = func() {
		for _, sql := range reset {
			_, _ = conn.Exec(context.WithoutCancel(ctx), sql) // a session that failed is closed
		}
	}
	if budget > 0 {
		mem, err := memoryFor(ctx, conn, table, def, budget)
		if err != nil {
			return undo, err
		}
		sql := vector.BuildSettings{MaintenanceWorkMem: vector.FormatBytes(mem), ParallelWorkers: -1}.SQL()[0]
		if _, err := conn.Exec(ctx, sql); err != nil {
			return undo, fmt.Errorf("%s: %w", sql, err)
		}
		reset = append(reset, "RESET maintenance_work_mem")
	}
	reset = append(reset, vector.ResetWorkersSQL)
	if _, err := conn.Exec(ctx, vector.WholeTableWorkersSQL, table); err != nil {
		return undo, fmt.Errorf("size the build's parallel workers: %w", err)
	}
	return undo, nil
}

// memoryFor is the maintenance_work_mem a vector build of def on table
// gets out of share: the share, or less for an HNSW graph that needs less.
// The row count is the target table's own: exact once a key or index was
// built on the copied table (which this schedule does before its vector
// indexes); unknown (-1) otherwise, and then the build gets the whole share.
func memoryFor(ctx context.Context, conn *pgx.Conn, table, def string, share int64) (int64, error) {
	var rows, bytes int64
	var workers int
	err := conn.QueryRow(ctx, `SELECT c.reltuples::bigint, pg_table_size(c.oid), current_setting('max_parallel_maintenance_workers')::int
FROM pg_class c WHERE c.oid = $1::regclass`, table).Scan(&rows, &bytes, &workers)
	if err != nil {
		return 0, fmt.Errorf("size the build's memory: %w", err)
	}
	if need := vector.HNSWMemory(def, bytes, rows, workers); need > 0 && need < share {
		return need, nil
	}
	return share, nil
}

func (b *builder) begin(pid uint32, o Object, start time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running[pid] = &running{obj: o, start: start}
	if b.opts.Progress != nil {
		b.opts.Progress(BuildEvent{Object: o, Phase: "starting"})
	}
}

// finish reports a built object, hands it to OnBuilt and lets what waited
// for it start.
func (b *builder) finish(o Object, phase string, start time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.sched.finished(o)
	if b.opts.Progress != nil {
		b.opts.Progress(BuildEvent{Object: o, Phase: phase, Percent: 100, Done: true, Elapsed: time.Since(start)})
	}
	if b.opts.OnBuilt != nil {
		if err := b.opts.OnBuilt(o); err != nil {
			return fmt.Errorf("record %s as built: %w", o, err)
		}
	}
	return nil
}

// Existence is checked by name: a non-concurrent CREATE INDEX or ALTER TABLE
// that was interrupted rolled back, so an object that exists is complete. An
// index must also be valid; a constraint, validated, unless it is added NOT
// VALID on purpose.
const (
	indexExistsQuery = `
SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = $1 AND c.relname = $2 AND i.indisvalid)`
	constraintExistsQuery = `
SELECT EXISTS (SELECT 1 FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
               JOIN pg_namespace n ON n.oid = t.relnamespace
               WHERE n.nspname = $1 AND t.relname = $2 AND k.conname = $3 AND (k.convalidated OR $4))`
)

func exists(ctx context.Context, conn *pgx.Conn, o Object) (bool, error) {
	var ok bool
	var err error
	if isConstraint(o) {
		err = conn.QueryRow(ctx, constraintExistsQuery, o.Table.Schema, o.Table.Name, o.Name, addedNotValid(o)).Scan(&ok)
	} else {
		err = conn.QueryRow(ctx, indexExistsQuery, o.Table.Schema, o.Name).Scan(&ok)
	}
	if err != nil {
		return false, fmt.Errorf("check whether it exists: %w", err)
	}
	return ok, nil
}

// memory shares the maintenance_work_mem budget between the builds running
// at a time. A build's setting is fixed when it starts, so each takes an
// equal part of what is free among the sessions not building: never more
// than the budget in all, a build that starts after a bigger one ended gets
// what that one gave back, and with one session a build gets everything.
type memory struct {
	mu   sync.Mutex
	free int64
	idle int
}

// newMemory is nil (keep the server's setting) when budget is 0.
func newMemory(budget int64, sessions int) *memory {
	if budget <= 0 {
		return nil
	}
	return &memory{free: budget, idle: sessions}
}

func (m *memory) claim() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	share := m.free / int64(max(m.idle, 1))
	m.free -= share
	m.idle--
	return share
}

func (m *memory) release(share int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.free += share
	m.idle++
}
