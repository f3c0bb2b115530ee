package postdata

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pool"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// builder is one Build call's shared state. mu serializes the callbacks and
// guards running.
type builder struct {
	opts     Options
	mu       sync.Mutex
	running  map[uint32]*running // by backend pid
	pollConn *pgx.Conn           // the progress session, opened at the first poll
}

// running is a build in progress.
type running struct {
	obj   Object
	start time.Time
}

// Build creates objs on the target, stage by stage (keys, indexes, foreign
// keys), up to opts.Parallel at a time. An object that already exists and is
// valid counts as built, so Build can be run again after an interruption.
// The first failure cancels the other builds of its stage and is returned
// naming the object.
func Build(ctx context.Context, objs []Object, opts Options) error {
	ss, err := stages(objs)
	if err != nil || len(ss) == 0 {
		return err
	}
	opts.Parallel = max(opts.Parallel, 1)
	b := &builder{opts: opts, running: map[uint32]*running{}}
	defer b.closePoll(ctx)
	for _, s := range ss {
		if err := b.stage(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

// stage builds one stage's objects with up to Parallel sessions, each given
// an equal share of the memory budget.
func (b *builder) stage(ctx context.Context, objs []Object) error {
	n := min(b.opts.Parallel, len(objs))
	popts := pool.Options[*pgx.Conn]{
		Workers:  n,
		Open:     func(ctx context.Context) (*pgx.Conn, error) { return b.session(ctx, n) },
		Close:    func(ctx context.Context, c *pgx.Conn) { _ = c.Close(ctx) },
		Interval: pollInterval,
	}
	if b.opts.Progress != nil {
		popts.Progress = b.poll
	}
	return pool.Run(ctx, pool.Feed(objs), popts, b.build)
}

// session opens a build session with its share of the memory budget and the
// parallel worker setting. A build can take hours; no timeout applies.
func (b *builder) session(ctx context.Context, share int) (*pgx.Conn, error) {
	conn, err := pg.ConnectConfig(ctx, pg.Target, b.opts.Target)
	if err != nil {
		return nil, err
	}
	set := vector.BuildSettings{ParallelWorkers: -1}
	if b.opts.MemoryBudget > 0 {
		set.MaintenanceWorkMem = vector.FormatBytes(b.opts.MemoryBudget / int64(share))
	}
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

// Two foreign keys that point at each other's tables lock the two tables in
// opposite orders; when both are added at once PostgreSQL aborts one with a
// deadlock, which succeeds when simply run again.
const (
	deadlockDetected = "40P01"
	deadlockRetries  = 3
)

// build creates one object, unless it exists already.
func (b *builder) build(ctx context.Context, conn *pgx.Conn, o Object) error {
	done, err := exists(ctx, conn, o)
	if err != nil {
		return fmt.Errorf("build %s: %w", o, err)
	}
	start := time.Now()
	if done {
		return b.finish(o, "already built", start)
	}
	pid := conn.PgConn().PID()
	b.begin(pid, o, start)
	for attempt := 1; ; attempt++ {
		_, err = conn.Exec(ctx, o.Def)
		if pg.Code(err) != deadlockDetected || attempt == deadlockRetries {
			break
		}
	}
	b.mu.Lock()
	delete(b.running, pid)
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("build %s: %w", o, err)
	}
	return b.finish(o, "done", start)
}

func (b *builder) begin(pid uint32, o Object, start time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running[pid] = &running{obj: o, start: start}
	if b.opts.Progress != nil {
		b.opts.Progress(BuildEvent{Object: o, Phase: "starting"})
	}
}

// finish reports a built object and hands it to OnBuilt.
func (b *builder) finish(o Object, phase string, start time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
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
// index must also be valid; a constraint, validated.
const (
	indexExistsQuery = `
SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = $1 AND c.relname = $2 AND i.indisvalid)`
	constraintExistsQuery = `
SELECT EXISTS (SELECT 1 FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid
               JOIN pg_namespace n ON n.oid = t.relnamespace
               WHERE n.nspname = $1 AND t.relname = $2 AND k.conname = $3 AND k.convalidated)`
)

func exists(ctx context.Context, conn *pgx.Conn, o Object) (bool, error) {
	var ok bool
	var err error
	if o.constraint() {
		err = conn.QueryRow(ctx, constraintExistsQuery, o.Table.Schema, o.Table.Name, o.Name).Scan(&ok)
	} else {
		err = conn.QueryRow(ctx, indexExistsQuery, o.Table.Schema, o.Name).Scan(&ok)
	}
	if err != nil {
		return false, fmt.Errorf("check whether it exists: %w", err)
	}
	return ok, nil
}
