package initsync

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/copier"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
)

// copyProgress turns copier events into one line per table every few
// seconds (bytes, rate, ETA against the table's size on the source) and a
// total, and records each table's totals in the metadata once copied.
type copyProgress struct {
	s       *syncer
	mu      sync.Mutex
	size    map[pg.Name]int64   // bytes on the source (the ETA's yardstick)
	done    map[pg.Name]int64   // bytes of finished jobs
	running map[string]jobBytes // running jobs, by job
	start   time.Time
	last    time.Time
	total   int64
}

type jobBytes struct {
	table pg.Name
	bytes int64
}

func newCopyProgress(s *syncer, jobs []copier.Job) *copyProgress {
	cp := &copyProgress{s: s, size: map[pg.Name]int64{}, done: map[pg.Name]int64{},
		running: map[string]jobBytes{}, start: time.Now()}
	for _, t := range s.opts.Tables {
		cp.size[t.Name] = t.Bytes
		cp.total += t.Bytes
	}
	return cp
}

func (cp *copyProgress) event(e copier.Event) {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	key := e.Job.String()
	if e.Done {
		delete(cp.running, key)
		cp.done[e.Job.Table] += e.Bytes
	} else {
		cp.running[key] = jobBytes{table: e.Job.Table, bytes: e.Bytes}
	}
	if !e.Done && time.Since(cp.last) < 2*time.Second {
		return
	}
	cp.last = time.Now()
	cp.print()
}

// print writes the per-table and total lines. The stream is a little larger
// than the table on disk (COPY framing), so percentages are capped at 99
// until a table is done.
func (cp *copyProgress) print() {
	perTable := map[pg.Name]int64{}
	for t, b := range cp.done {
		perTable[t] += b
	}
	for _, j := range cp.running {
		perTable[j.table] += j.bytes
	}
	var sum int64
	elapsed := time.Since(cp.start).Seconds()
	for _, t := range cp.s.opts.Tables {
		b := perTable[t.Name]
		sum += b
		if b == 0 {
			continue
		}
		cp.s.p.Changed("copy "+t.Name.String(), "copy %s: %s of ~%s, %s/s", t.Name, progress.Bytes(b),
			progress.Bytes(cp.size[t.Name]), progress.Bytes(int64(float64(b)/max(elapsed, 0.001))))
	}
	rate := float64(sum) / max(elapsed, 0.001)
	eta := "?"
	if rate > 0 && cp.total > sum {
		eta = progress.Elapsed(time.Duration(float64(cp.total-sum) / rate * float64(time.Second)))
	}
	cp.s.p.Printf("copy total: %s of ~%s, %s/s, ETA %s", progress.Bytes(sum), progress.Bytes(cp.total),
		progress.Bytes(int64(rate)), eta)
}

// record stores each table's copied rows and bytes on the group.
func (cp *copyProgress) record(ctx context.Context, res copier.Result) error {
	for name, t := range res.Tables {
		ts := group.TableState{Table: name.Quoted(), State: "copied", RowsCopied: t.Rows, BytesCopied: t.Bytes}
		if err := group.SetTableState(ctx, cp.s.tgt, cp.s.opts.Group, ts); err != nil {
			return fmt.Errorf("record copy of %s: %w", name, err)
		}
	}
	return nil
}
