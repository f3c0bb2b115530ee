package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// drainer waits until the target's subscription has applied the source's WAL
// up to the moment of the call.
//
// The apply worker handles messages one at a time, in order, and the
// walsender's keepalives carry the position it has sent up to; so once
// pg_stat_subscription.latest_end_lsn (set from those keepalives) reaches an
// LSN, every transaction committed on the source before that LSN is visible
// on the target.
type drainer struct {
	src, tgt *pgx.Conn
	sub      string
	timeout  time.Duration
	active   bool
	note     string
	timeouts int
}

const subscriptionQuery = `SELECT subenabled FROM pg_subscription
WHERE subname = $1 AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`

const caughtUpQuery = `SELECT coalesce(bool_or(latest_end_lsn >= $2::pg_lsn), false)
FROM pg_stat_subscription WHERE subname = $1 AND relid IS NULL`

func newDrainer(ctx context.Context, src, tgt *pgx.Conn, sub string, timeout time.Duration) (*drainer, error) {
	d := &drainer{src: src, tgt: tgt, sub: sub, timeout: timeout}
	if sub == "" {
		d.note = "no subscription given: compared without waiting for replication lag"
		return d, nil
	}
	var enabled bool
	err := tgt.QueryRow(ctx, subscriptionQuery, sub).Scan(&enabled)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		d.note = fmt.Sprintf("subscription %s not found on the target (switched over?): compared without waiting for replication lag", sub)
	case err != nil:
		return nil, fmt.Errorf("read subscription %s: %w", sub, err)
	case !enabled:
		d.note = fmt.Sprintf("subscription %s is disabled: differences may be changes not applied yet", sub)
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
	lsn, err := sourcePosition(ctx, d.src)
	if err != nil {
		return err
	}
	limit := d.timeout
	if d.timeouts > 0 {
		// A lag that did not drain in a whole timeout will not drain in the
		// next one either (a stuck apply worker, most likely): look, but do
		// not wait again for every chunk and query of the run.
		limit = 0
	}
	deadline := time.Now().Add(limit)
	pause := 10 * time.Millisecond
	for {
		var done bool
		if err := d.tgt.QueryRow(ctx, caughtUpQuery, d.sub, lsn).Scan(&done); err != nil {
			return fmt.Errorf("read subscription %s progress: %w", d.sub, err)
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			d.timeouts++
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 250*time.Millisecond)
	}
}

func (d *drainer) notes() []string {
	var out []string
	if d.note != "" {
		out = append(out, d.note)
	}
	if d.timeouts > 0 {
		out = append(out, fmt.Sprintf("replication lag did not drain within %s: differences may be changes in flight; "+
			"check the subscription (pgvecrep stats, the target's log) and run verify again", d.timeout))
	}
	return out
}

// sourcePosition is the end of the source's WAL as a position the walsender
// will reach. It is the insert position, not pg_current_wal_lsn (the write
// position): with synchronous_commit off, a commit already visible may not
// be written yet. At the start of a page the insert position points past
// the page header, where no record ends; the walsender stops at the page
// boundary, so that is where to wait for.
func sourcePosition(ctx context.Context, src *pgx.Conn) (string, error) {
	var pos string
	var block uint64
	err := src.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text, current_setting('wal_block_size')::bigint`).Scan(&pos, &block)
	if err != nil {
		return "", fmt.Errorf("read the source's WAL position: %w", err)
	}
	lsn, err := parseLSN(pos)
	if err != nil {
		return "", err
	}
	const shortHeader, longHeader = 24, 40
	if off := lsn % block; off == shortHeader || off == longHeader {
		lsn -= off
	}
	return formatLSN(lsn), nil
}

func parseLSN(s string) (uint64, error) {
	var hi, lo uint32
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0, fmt.Errorf("parse LSN %q: %w", s, err)
	}
	return uint64(hi)<<32 | uint64(lo), nil
}

func formatLSN(n uint64) string { return fmt.Sprintf("%X/%X", n>>32, uint32(n)) }
