package follow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Verifier re-checks the group's tables one key-range chunk at a time, at
// most VerifyRate chunks a second: a count and an md5 of the chunk's rows
// in key order, on both sides. The rate bounds its cost on the source (one
// index range scan of ChunkRows rows per chunk, twice: once to find the
// chunk's end, once to checksum it).
//
// A chunk that differs may only be behind: the verifier then reads the
// source's WAL position, waits until the group's slot has confirmed it
// (the lag has drained past it), and checks again, up to recheckTimes.
// Only a chunk that differs every time is reported: a row the target lost
// or gained behind replication's back, not one in flight. It is recorded in
// the group's metadata (group.OpenMismatch), which stats, the metrics and
// notify read, until a later pass finds its range healthy.
type Verifier struct {
	f *Follower

	mu         sync.Mutex
	checked    int64
	mismatches int64
	nnChecked  int64 // nearest-neighbour samples compared
	nnMismatch int64 // samples that still differed after the lag drained
	lastPass   time.Time

	// skipped are the tables not verified and why, as last reported.
	skipped map[string]string

	cursor map[string]*cursor
	tables []pg.Name
	next   int // index into tables
	passOK bool

	probes     []*probe // see sample
	probeNext  int
	sinceProbe int // chunks since the last sample
}

// recheckTimes is how often a mismatched chunk is checked again, each time
// after the lag has drained past the source's WAL position.
const recheckTimes = 3

func newVerifier(f *Follower) *Verifier {
	return &Verifier{f: f, cursor: map[string]*cursor{}, skipped: map[string]string{}}
}

// Counts returns chunks checked, persistent mismatches found, and when the
// last full pass over every table ended (zero before the first).
func (v *Verifier) Counts() (checked, mismatches int64, lastPass time.Time) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checked, v.mismatches, v.lastPass
}

// NeighbourCounts returns nearest-neighbour samples compared, and those
// that differed after the lag drained.
func (v *Verifier) NeighbourCounts() (checked, mismatches int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.nnChecked, v.nnMismatch
}

// loop checks one chunk per tick until ctx ends. Lost connections are
// opened again at the next tick.
func (v *Verifier) loop(ctx context.Context) error {
	var src, tgt *pgx.Conn
	defer func() {
		for _, c := range []*pgx.Conn{src, tgt} {
			if c != nil {
				c.Close(context.Background())
			}
		}
	}()
	tick := time.NewTicker(time.Duration(float64(time.Second) / v.f.opt.VerifyRate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if src = v.f.reconnect(ctx, src, pg.Source); src == nil {
			continue
		}
		if tgt = v.f.reconnect(ctx, tgt, pg.Target); tgt == nil {
			continue
		}
		if err := v.step(ctx, src, tgt); err != nil && ctx.Err() == nil {
			v.f.log.Debug("verify: chunk skipped", "group", v.f.opt.Group, "err", err.Error())
		}
	}
}

// step checks the next chunk of the table whose turn it is.
func (v *Verifier) step(ctx context.Context, src, tgt *pgx.Conn) error {
	g, err := group.Get(ctx, tgt, v.f.opt.Group)
	if err != nil {
		return err
	}
	if g.Phase != group.Streaming {
		return nil // nothing streams: a copy in progress or an ended group
	}
	if v.next >= len(v.tables) {
		v.startPass(g.Tables)
		if err := group.ClearMismatchesOutside(ctx, tgt, g.Name, g.Tables); err != nil {
			return err
		}
		if len(v.tables) == 0 {
			return nil
		}
	}
	t := v.tables[v.next]
	c := v.cursor[t.String()]
	if c == nil {
		if c, err = newCursor(ctx, src, t, v.f.opt.ChunkRows); err != nil {
			v.next++ // the next table, after this one whole or not at all
			if errors.Is(err, errNoKey) {
				return v.checkKeyless(ctx, src, tgt, g, t)
			}
			return err // gone
		}
		v.cursor[t.String()] = c
	}
	ch, done, err := c.next(ctx, src)
	if err != nil {
		delete(v.cursor, t.String())
		v.next++
		return err
	}
	if err := v.check(ctx, src, tgt, g, c, ch); err != nil {
		return err
	}
	if done {
		delete(v.cursor, t.String())
		v.next++
		if err := v.endTable(ctx, tgt, g, c); err != nil {
			return err
		}
	}
	return v.maybeSample(ctx, src, tgt, g)
}

// startPass begins a new pass over tables, and records the end of the
// last one.
func (v *Verifier) startPass(tables []pg.Name) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tables != nil && v.passOK {
		v.lastPass = time.Now()
	}
	v.tables, v.next, v.passOK = tables, 0, true
}

// check compares chunk ch on both sides, again after the lag drains when
// it differs, and records it when it still differs.
func (v *Verifier) check(ctx context.Context, src, tgt *pgx.Conn, g group.Group, c *cursor, ch chunk) error {
	same, err := v.settled(ctx, src, g, func() (bool, error) { return c.same(ctx, src, tgt, ch) })
	if err != nil {
		return err
	}
	v.count(same)
	if !same {
		c.bad = append(c.bad, ch.String())
	}
	msg := fmt.Sprintf("rows of %s with key in %s differ between source and target after the lag drained", c.table, ch)
	return v.record(ctx, tgt, g, group.Mismatch{Table: c.table, Kind: group.MismatchRows, Range: ch.String(), Message: msg}, same)
}

// count counts one chunk (or keyless table) checked.
func (v *Verifier) count(same bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.checked++
	if !same {
		v.mismatches++
	}
}

// endTable ends a pass over c's table: the rows mismatches recorded
// before and not found again in this pass go (the chunk boundaries move
// with the source's rows, so an old range may never be checked as such
// again).
func (v *Verifier) endTable(ctx context.Context, tgt *pgx.Conn, g group.Group, c *cursor) error {
	gone, err := group.ClearMismatchesExcept(ctx, tgt, g.Name, c.table, group.MismatchRows, c.bad)
	for _, r := range gone {
		v.f.emit(Event{Kind: "cleared", Table: c.table.String(), Range: r,
			Message: fmt.Sprintf("verify: %s %s matches again (a pass over the table found no difference there)", c.table, r)})
	}
	return err
}

// settled runs same, and again after the lag has drained past the
// source's WAL position while it says the sides differ, up to recheckTimes:
// a difference that is only in flight goes away, one made behind
// replication's back stays.
func (v *Verifier) settled(ctx context.Context, src *pgx.Conn, g group.Group, same func() (bool, error)) (bool, error) {
	ok, err := same()
	for i := 0; err == nil && !ok && i < recheckTimes; i++ {
		var lsn string
		if err = src.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
			break
		}
		// A group that stalls is stats' business, not a mismatch: the
		// wait is bounded, and its error skips the check.
		if err = replication.WaitApplied(ctx, src, g.StreamNames(), lsn, time.Now().Add(2*time.Minute), time.Second); err != nil {
			break
		}
		ok, err = same()
	}
	return ok, err
}

// record opens m in the group's metadata when the sides differ (and
// reports it), or clears it when they are the same again.
func (v *Verifier) record(ctx context.Context, tgt *pgx.Conn, g group.Group, m group.Mismatch, same bool) error {
	if same {
		cleared, err := group.ClearMismatch(ctx, tgt, g.Name, m.Table, m.Range)
		if cleared {
			v.f.emit(Event{Kind: "cleared", Table: m.Table.String(), Range: m.Range,
				Message: fmt.Sprintf("verify: %s %s matches again", m.Table, m.Range)})
		}
		return err
	}
	v.mu.Lock()
	v.passOK = false
	v.mu.Unlock()
	isNew, err := group.OpenMismatch(ctx, tgt, g.Name, m)
	v.f.emit(Event{Kind: "mismatch", Table: m.Table.String(), Range: m.Range, Message: m.Message, Again: err == nil && !isNew})
	return err
}
