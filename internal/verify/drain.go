package verify

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// drainer waits until the target's subscription has applied the source's WAL
// up to the moment of the call, the way replication.Applied judges it: by the
// position the subscriber has confirmed on its slot.
//
// Each verify worker has its own drainer (see on), reading the source's WAL
// position on that worker's own connection; they share what they learn about
// a lag that does not drain.
type drainer struct {
	src, tgt *pgx.Conn
	sub      string
	slot     string
	more     []string // the other apply streams' slots
	timeout  time.Duration
	active   bool
	note     string
	timeouts int // this drainer's waits that timed out
	// stuck is shared by a drainer and those made from it by on: set once
	// any of them timed out, so that the others stop waiting too.
	stuck *atomic.Bool
}

const subscriptionQuery = `SELECT subenabled, coalesce(subslotname::text, '') FROM pg_subscription
WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`

const slotQuery = `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`

func newDrainer(ctx context.Context, src, tgt *pgx.Conn, sub string, timeout time.Duration) (*drainer, error) {
	d := &drainer{src: src, tgt: tgt, sub: sub, timeout: timeout, stuck: &atomic.Bool{}}
	if sub == "" {
		d.note = "no subscription given: compared without waiting for replication lag"
		return d, nil
	}
	var enabled, slotFound bool
	err := tgt.QueryRow(ctx, subscriptionQuery, sub).Scan(&enabled, &d.slot)
	if err == nil && enabled {
		err = src.QueryRow(ctx, slotQuery, d.slot).Scan(&slotFound)
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		d.note = fmt.Sprintf("subscription %s not found on the target (switched over?): compared without waiting for replication lag", sub)
	case err != nil:
		return nil, fmt.Errorf("read subscription %s: %w", sub, err)
	case !enabled:
		d.note = fmt.Sprintf("subscription %s is disabled: differences may be changes not applied yet", sub)
	case !slotFound:
		d.note = fmt.Sprintf("replication slot %s of subscription %s not found on the source: compared without waiting for replication lag", d.slot, sub)
	default:
		d.active = true
	}
	return d, nil
}

// wait returns once the target has caught up with the source's current WAL
// position, or after the timeout: a lag that does not drain is reported in
// the notes, and the comparison goes on.
func (d *drainer) wait(ctx context.Context) error {
	if !d.active {
		return nil
	}
	lsn, err := replication.WALEnd(ctx, d.src)
	if err != nil {
		return err
	}
	limit := d.timeout
	if d.stuck.Load() {
		// A lag that did not drain in a whole timeout will not drain in the
		// next one either (a stuck apply worker, most likely): look, but do
		// not wait again for every chunk and query of the run.
		limit = 0
	}
	err = replication.WaitApplied(ctx, d.src, append([]string{d.slot}, d.more...), lsn, time.Now().Add(limit), 250*time.Millisecond)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		d.timeouts++
		d.stuck.Store(true)
		return nil
	}
	return err
}

// on is a drainer like d (active or not as d found the subscription, so
// the subscription is looked up once per run) that reads the source's WAL
// position on a worker's own connection. Its timeouts count for d's notes.
func (d *drainer) on(src, tgt *pgx.Conn) *drainer {
	c := *d
	c.src, c.tgt, c.timeouts = src, tgt, 0
	return &c
}

// notes are the caveats of the run, for every drainer made from d.
func (d *drainer) notes() []string {
	var out []string
	if d.note != "" {
		out = append(out, d.note)
	}
	if d.stuck.Load() {
		out = append(out, fmt.Sprintf("replication lag did not drain within %s: differences may be changes in flight; "+
			"check the subscription (pgvecrep stats, the target's log) and run verify again", d.timeout))
	}
	return out
}
