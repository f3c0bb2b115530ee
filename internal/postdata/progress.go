package postdata

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// progressQuery reads the progress of the builds running in the given backends.
const progressQuery = `
SELECT pid, phase, blocks_total, blocks_done, tuples_total, tuples_done
FROM pg_stat_progress_create_index WHERE pid = ANY($1)`

// pollInterval is how often running builds are polled (a variable so tests
// can see short builds).
var pollInterval = 500 * time.Millisecond

// poll reports the progress of the running builds, on a session of its
// own opened at the first call. Progress is best effort: an error stops
// polling (the pool calls poll no more) and the builds go on.
func (b *builder) poll(ctx context.Context) error {
	if b.pollConn == nil {
		conn, err := pg.ConnectConfig(ctx, pg.Target, b.opts.Target)
		if err != nil {
			return err
		}
		b.pollConn = conn
	}
	return b.pollOnce(ctx, b.pollConn)
}

// closePoll closes the progress session, if poll opened one.
func (b *builder) closePoll(ctx context.Context) {
	if b.pollConn != nil {
		_ = b.pollConn.Close(context.WithoutCancel(ctx))
	}
}

// pollOnce reads pg_stat_progress_create_index once and reports each build
// still running.
func (b *builder) pollOnce(ctx context.Context, conn *pgx.Conn) error {
	b.mu.Lock()
	pids := make([]int32, 0, len(b.running))
	for pid := range b.running {
		pids = append(pids, int32(pid))
	}
	b.mu.Unlock()
	if len(pids) == 0 {
		return nil
	}
	rows, err := conn.Query(ctx, progressQuery, pids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var pid int32
		var phase string
		var blocksTotal, blocksDone, tuplesTotal, tuplesDone int64
		if err := rows.Scan(&pid, &phase, &blocksTotal, &blocksDone, &tuplesTotal, &tuplesDone); err != nil {
			return err
		}
		b.report(uint32(pid), phase, percent(blocksTotal, blocksDone, tuplesTotal, tuplesDone))
	}
	return rows.Err()
}

// percent is how far the current phase is: by tuples when the phase counts
// them (loading a sorted btree, for instance), else by blocks scanned.
func percent(blocksTotal, blocksDone, tuplesTotal, tuplesDone int64) float64 {
	switch {
	case tuplesTotal > 0:
		return min(100, 100*float64(tuplesDone)/float64(tuplesTotal))
	case blocksTotal > 0:
		return min(100, 100*float64(blocksDone)/float64(blocksTotal))
	}
	return 0
}

// report sends one progress event, unless the build ended meanwhile.
func (b *builder) report(pid uint32, phase string, pct float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.running[pid]
	if !ok {
		return
	}
	elapsed := time.Since(r.start)
	if r.part != "" {
		// The percentage is the partition's: so is the time it is read
		// against, or the time left would count the partitions before.
		phase, elapsed = r.part+": "+phase, time.Since(r.partStart)
	}
	b.opts.Progress(BuildEvent{Object: r.obj, Phase: phase, Percent: pct, Elapsed: elapsed})
}

// building notes which partition a leaf-by-leaf build is on, for the
// progress it reports.
func (b *builder) building(pid uint32, part string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r, ok := b.running[pid]; ok {
		r.part, r.partStart = part, time.Now()
	}
}
