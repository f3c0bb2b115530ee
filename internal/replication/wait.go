package replication

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// WALEnd is the end of the source's WAL as a position the walsender will
// reach: the position to pass to WaitApplied to wait for everything
// committed on the source so far.
//
// It is the insert position, not pg_current_wal_lsn (the write position):
// with synchronous_commit off, a commit already visible to clients may not
// be written yet, and waiting for the write position would stop short of it.
// At the start of a page the insert position points past the page header,
// where no record ends; the walsender stops at the page boundary, so that is
// where to wait for.
func WALEnd(ctx context.Context, src *pgx.Conn) (string, error) {
	var pos string
	var block uint64
	err := src.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text, current_setting('wal_block_size')::bigint`).Scan(&pos, &block)
	if err != nil {
		return "", fmt.Errorf("read the source's WAL position: %w", err)
	}
	lsn, err := ParseLSN(pos)
	if err != nil {
		return "", err
	}
	const shortHeader, longHeader = 24, 40
	if off := uint64(lsn) % block; off == shortHeader || off == longHeader {
		lsn -= LSN(off)
	}
	return lsn.String(), nil
}

// LSN is a WAL position.
type LSN uint64

// ParseLSN reads a WAL position in PostgreSQL's text form, e.g. 16/B374D848:
// two hexadecimal numbers of at most 32 bits each, and nothing else. It is
// pgvecrep's one reader of that form (metrics, verify and the waits use it).
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse LSN %q: want two hexadecimal numbers as in 16/B374D848", s)
	}
	return LSN(h<<32 | l), nil
}

// String formats the position the way PostgreSQL does.
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint32(l)) }

// appliedQuery judges every slot at once; the missing ones are named.
const appliedQuery = `SELECT coalesce(bool_and(coalesce(s.confirmed_flush_lsn >= $2::pg_lsn, false)), false),
       coalesce(array_agg(n) FILTER (WHERE s.slot_name IS NULL), '{}')
FROM unnest($1::text[]) n LEFT JOIN pg_replication_slots s ON s.slot_name = n`

// Applied reports whether the target has applied, and made durable, every
// transaction the source committed before lsn, judged by the
// confirmed_flush_lsn of the subscription's slot on the source.
//
// Why that column: it is the position the subscriber itself reports as
// flushed. The apply worker reports a source commit as flushed only once its
// own commit of that transaction is on the target's disk, and reports the
// position it has received up to only when nothing received is still
// pending, i.e. everything before it has been applied. It is also the
// subscriber's promise to the source: WAL below it may be recycled, so
// nothing below it is ever sent again. pg_stat_subscription.latest_end_lsn,
// by contrast, is the WAL end of the last keepalive the apply worker
// received: it is a statistic about receiving, it can be ahead of what the
// target has flushed (subscriptions commit with synchronous_commit off), and
// it is lost in a target crash. A switchover that detached on it could drop
// the slot while the last transactions exist only in the target's memory.
//
// A group with several apply streams (package parallel) has applied lsn
// when every one of its slots has: Applied judges them all.
func Applied(ctx context.Context, src *pgx.Conn, slots []string, lsn string) (bool, error) {
	var done bool
	var missing []string
	err := src.QueryRow(ctx, appliedQuery, slots, lsn).Scan(&done, &missing)
	if err == nil && len(missing) > 0 {
		return false, hint.New(fmt.Sprintf("replication slot %s not found on the source", strings.Join(missing, ", ")),
			"the group is not replicating: see pgvecrep stats, or start it again with stop_sync and start_sync")
	}
	if err != nil {
		return false, fmt.Errorf("read replication slot %s on the source: %w", strings.Join(slots, ", "), err)
	}
	return done, nil
}

// firstPause is the first pause of WaitApplied; each next one doubles up to
// the poll interval, so a target that is nearly caught up is seen at once
// and one far behind is not asked in a busy loop.
const firstPause = 10 * time.Millisecond

// WaitApplied returns nil once Applied reports lsn applied. It checks at
// least once; after that it stops with an error wrapping
// context.DeadlineExceeded when deadline (if not zero) has passed, or with
// ctx's error when ctx ends. The deadline is checked between queries rather
// than put on ctx: a query cut off by its context closes the connection,
// and callers go on using it after a timeout. poll is the longest pause
// between checks; 0 means 250ms.
func WaitApplied(ctx context.Context, src *pgx.Conn, slots []string, lsn string, deadline time.Time, poll time.Duration) error {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	pause := min(firstPause, poll)
	for {
		done, err := Applied(ctx, src, slots, lsn)
		if err != nil || done {
			return err
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return fmt.Errorf("wait for the target to apply up to %s: %w", lsn, context.DeadlineExceeded)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the target to apply up to %s: %w", lsn, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, poll)
	}
}
