package initsync

import (
	"fmt"
	"sync"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/copier"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
)

// copyProgress turns copier events into one line per table every few
// seconds (bytes, rate, ETA against the table's size on the source) and a
// total, and hands each table on (copied) once its last job is done.
type copyProgress struct {
	s        *syncer
	mu       sync.Mutex
	size     map[pg.Name]int64   // bytes on the source (the ETA's yardstick)
	done     map[pg.Name]int64   // bytes of finished jobs
	running  map[string]jobBytes // running jobs, by job
	rows     map[pg.Name]int64   // rows of finished jobs
	jobsLeft map[pg.Name]int     // jobs not finished, per table
	start    time.Time
	last     time.Time
	total    int64
	// copied receives each table once its last job is done; it has room
	// for every table, so the copy never waits for its reader.
	copied chan tableCopy
}

// tableCopy is a table whose copy is complete, and what was copied.
type tableCopy struct {
	table       pg.Name
	rows, bytes int64
}

type jobBytes struct {
	table pg.Name
	bytes int64
}

func newCopyProgress(s *syncer, jobs []copier.Job) *copyProgress {
	cp := &copyProgress{s: s, size: map[pg.Name]int64{}, done: map[pg.Name]int64{},
		running: map[string]jobBytes{}, rows: map[pg.Name]int64{}, jobsLeft: map[pg.Name]int{}, start: time.Now(),
		copied: make(chan tableCopy, len(s.opts.Tables))}
	for _, j := range jobs {
		cp.jobsLeft[j.Table]++
	}
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
		cp.rows[e.Job.Table] += e.Rows
		cp.jobsLeft[e.Job.Table]--
		if cp.jobsLeft[e.Job.Table] == 0 {
			rows, bytes := cp.rows[e.Job.Table], cp.done[e.Job.Table]
			cp.s.ev.Emit(event.Event{Phase: event.Copy, Table: e.Job.Table.String(), Rows: rows, Bytes: bytes, Duration: time.Since(cp.start),
				Message: fmt.Sprintf("copied %s: %d rows, %s", e.Job.Table, rows, progress.Bytes(bytes))})
			cp.copied <- tableCopy{table: e.Job.Table, rows: cp.rows[e.Job.Table], bytes: cp.done[e.Job.Table]}
		}
	} else {
		cp.running[key] = jobBytes{table: e.Job.Table, bytes: e.Bytes}
	}
	// Plain output gets a snapshot every few seconds; a terminal every event.
	if !event.Live(cp.s.ev) && time.Since(cp.last) < 2*time.Second {
		return
	}
	cp.last = time.Now()
	cp.print()
}

// print updates the per-table lines (bar, bytes, estimated rows, rate, ETA
// against the table's size on the source) and the total. The COPY stream is
// a little larger than the table on disk, so bars stop short of 100% only
// until a table's last job is done.
func (cp *copyProgress) print() {
	perTable := map[pg.Name]int64{}
	for t, b := range cp.done {
		perTable[t] += b
	}
	for _, j := range cp.running {
		perTable[j.table] += j.bytes
	}
	var sum int64
	elapsed := max(time.Since(cp.start).Seconds(), 0.001)
	for _, t := range cp.s.opts.Tables {
		b := perTable[t.Name]
		sum += b
		if b == 0 || cp.jobsLeft[t.Name] == 0 {
			continue
		}
		rows := estRows(t, b)
		cp.s.ev.Emit(event.Event{Phase: event.Copy, Table: t.Name.String(), Rows: rows, Bytes: b, Duration: time.Since(cp.start), Progress: true,
			Message: fmt.Sprintf("%s\t%s %s, ~%d rows, %s/s, ETA %s", t.Name, progress.Bar(b, cp.size[t.Name]),
				progress.Bytes(b), rows, progress.Bytes(int64(float64(b)/elapsed)), eta(cp.size[t.Name]-b, float64(b)/elapsed))})
	}
	rate := float64(sum) / elapsed
	cp.s.ev.Emit(event.Event{Phase: event.Copy, Bytes: sum, Duration: time.Since(cp.start), Progress: true,
		Message: fmt.Sprintf("total %s %s of ~%s, %s/s, ETA %s", progress.Bar(sum, cp.total), progress.Bytes(sum),
			progress.Bytes(cp.total), progress.Bytes(int64(rate)), eta(cp.total-sum, rate))})
}

// estRows estimates rows copied from bytes copied and the table's statistics.
func estRows(t catalog.Table, bytes int64) int64 {
	if t.EstRows <= 0 || t.Bytes <= 0 {
		return 0
	}
	return min(int64(float64(bytes)/float64(t.Bytes)*float64(t.EstRows)), t.EstRows)
}

func eta(left int64, rate float64) string {
	if rate <= 0 {
		return "?"
	}
	if left <= 0 {
		return "0:00.0"
	}
	return progress.Elapsed(time.Duration(float64(left) / rate * float64(time.Second)))
}
