package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Progress is one reading of how far a subscription's target has got: the
// source's position, the slot's, the walsender's, and what the target's
// apply worker is doing. Its methods turn it into what the target has
// committed and what is left.
//
// Why not the slot's confirmed_flush_lsn alone: it is what the apply worker
// last reported, and the worker reports the position it has *received*
// whenever it has no committed transaction waiting for a flush, which
// includes the whole time it spends applying a large transaction. The
// walsender's keepalives carry the WAL position it has read up to, so while
// a 4000-row insert is being applied the slot reads a few kilobytes short of
// the source's position (measured on PostgreSQL 15: 6.8 kB short for 30 s
// of a 26 MB transaction). A lag built on it says "caught up" while most of
// the work is still ahead. The worker's own transaction (an xid in
// pg_stat_activity) is what tells that a transaction is in flight, and the
// replication origin's progress, or the slot's restart_lsn, says where the
// target's committed work ends then.
type Progress struct {
	At time.Time
	// SourceKnown is false when there was no source to ask; the source
	// fields below are zero then.
	SourceKnown bool
	Current     LSN // the source's pg_current_wal_lsn
	Slot        bool
	Confirmed   LSN // the slot's confirmed_flush_lsn
	Restart     LSN // the slot's restart_lsn
	// Sent is how far the walsender has read the source's WAL (0 when no
	// walsender serves the slot); ReplayLag its replay_lag in seconds.
	Sent      LSN
	ReplayLag *float64

	// Subscription is false when the target has no such subscription.
	Subscription bool
	Worker       bool // an apply worker runs
	// Received is the last position the worker heard of (0: no message
	// yet); LastMessageAge is how long ago that was.
	Received       LSN
	LastMessageAge *float64
	// WorkerAge is how long the apply worker has run, for a worker that has
	// had no message yet.
	WorkerAge *float64
	// Origin is the end of the last source transaction the target
	// committed (the subscription's replication origin); 0 when unknown:
	// reading it takes a superuser or a grant on pg_replication_origin_status.
	Origin LSN
	// Applying is how long the apply worker has been in its current
	// transaction; nil when it is in none.
	Applying *float64
}

// InFlight is the transaction the target's apply worker is applying.
type InFlight struct {
	// Bytes is the WAL from the target's committed position to where the
	// source's walsender has read: the transaction, and anything decoded
	// behind it. PostgreSQL does not tell how far through it the worker
	// is (received_lsn moves with the walsender's keepalives, not with the
	// rows applied), so this is all of it.
	Bytes int64 `json:"bytes"`
	// Seconds is how long the worker has been applying it.
	Seconds float64 `json:"applying_seconds"`
}

// inFlightAfter is how long a transaction must have been applied before it
// is reported as in flight, and, when the origin's progress is unknown,
// before it moves the committed position back: the slot's restart_lsn is
// then the only committed position, and it trails by up to the source's
// running-transactions interval, which would make every short transaction
// of a busy source look like megabytes of lag.
const inFlightAfter = time.Second

// InFlight returns the transaction being applied, or nil when none has
// been for inFlightAfter: the short transactions of a busy source come and
// go between two readings and are no news.
func (p Progress) InFlight() *InFlight {
	if !p.counts() || *p.Applying < inFlightAfter.Seconds() {
		return nil
	}
	c := p.Committed()
	end := max(p.Sent, p.Confirmed)
	if end <= c {
		end = p.Current
	}
	return &InFlight{Bytes: int64(max(end, c) - c), Seconds: *p.Applying}
}

// Committed is the source position up to which the target has committed
// every transaction: the later of the replication origin's progress (the
// end of the last transaction the target committed; it moves with every
// commit, while the slot's confirmed flush moves only when the worker
// reports, every few seconds during a backlog) and the slot's confirmed
// flush (which also covers WAL with nothing to apply). While a transaction
// is in flight the confirmed flush may run ahead of it, so it is the
// origin's progress or the slot's restart point (which stays before any
// transaction not yet confirmed), whichever is later. Without the source
// it is the origin's progress.
func (p Progress) Committed() LSN {
	if !p.SourceKnown || !p.Slot {
		return p.Origin
	}
	if p.counts() {
		return max(p.Origin, p.Restart)
	}
	return max(p.Origin, p.Confirmed)
}

// counts reports whether the apply worker's transaction moves the committed
// position back from the confirmed flush: always when the origin's progress
// says where the last commit ended, otherwise only once the transaction has
// taken inFlightAfter.
func (p Progress) counts() bool {
	if p.Applying == nil || !p.SourceKnown || !p.Slot {
		return false
	}
	return p.Origin != 0 || *p.Applying >= inFlightAfter.Seconds()
}

// Pending is how many bytes of the source's WAL the target has not
// committed, counting the transaction in flight; ok is false when that
// cannot be known (no source, no slot).
func (p Progress) Pending() (bytes int64, ok bool) {
	if !p.SourceKnown || !p.Slot {
		return 0, false
	}
	c := p.Committed()
	if p.Current <= c {
		return 0, true
	}
	return int64(p.Current - c), true
}

// progressSourceQuery reads the source's side of a subscription's progress:
// its WAL position, the slot ($1) and the walsender serving it (whose
// application_name is the subscription's name, also $1).
const progressSourceQuery = `SELECT pg_current_wal_lsn()::text, s.slot_name IS NOT NULL,
	coalesce(s.confirmed_flush_lsn, '0/0')::text, coalesce(s.restart_lsn, '0/0')::text,
	coalesce(r.sent_lsn, '0/0')::text, extract(epoch FROM r.replay_lag)::float8
FROM (SELECT 1) one
LEFT JOIN pg_replication_slots s ON s.slot_name = $1
LEFT JOIN LATERAL (SELECT sent_lsn, replay_lag FROM pg_stat_replication WHERE application_name = $1 LIMIT 1) r ON true`

// progressTargetQuery reads the target's side: the subscription ($1), its
// apply worker and that worker's transaction, and whether this role may
// read the replication origins.
const progressTargetQuery = `SELECT su.oid IS NOT NULL, w.pid IS NOT NULL,
	coalesce(w.received_lsn, '0/0')::text, extract(epoch FROM now() - w.last_msg_receipt_time)::float8,
	extract(epoch FROM now() - a.backend_start)::float8,
	CASE WHEN a.backend_xid IS NOT NULL THEN extract(epoch FROM now() - a.xact_start)::float8 END,
	has_table_privilege('pg_catalog.pg_replication_origin_status', 'SELECT'), coalesce('pg_' || su.oid, '')
FROM (SELECT 1) one
LEFT JOIN pg_subscription su ON su.subname = $1 AND su.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
LEFT JOIN pg_stat_subscription w ON w.subid = su.oid AND w.relid IS NULL
LEFT JOIN pg_stat_activity a ON a.pid = w.pid`

const originQuery = `SELECT coalesce(remote_lsn, '0/0')::text FROM pg_replication_origin_status WHERE external_id = $1`

// ReadProgress reads subscription name's progress (the slot, walsender and
// subscription all carry that name, as pgvecrep makes them). src may be nil
// when the source is unreachable.
func ReadProgress(ctx context.Context, src, tgt *pgx.Conn, name string) (Progress, error) {
	p := Progress{At: time.Now()}
	if err := readTarget(ctx, tgt, name, &p); err != nil {
		return p, err
	}
	if src == nil {
		return p, nil
	}
	var cur, conf, restart, sent string
	err := src.QueryRow(ctx, progressSourceQuery, name).Scan(&cur, &p.Slot, &conf, &restart, &sent, &p.ReplayLag)
	if err != nil {
		return p, fmt.Errorf("read replication progress on the source: %w", err)
	}
	p.SourceKnown = true
	return p, parseLSNs([]string{cur, conf, restart, sent}, []*LSN{&p.Current, &p.Confirmed, &p.Restart, &p.Sent})
}

func readTarget(ctx context.Context, tgt *pgx.Conn, name string, p *Progress) error {
	var received, origin string
	var mayReadOrigin bool
	err := tgt.QueryRow(ctx, progressTargetQuery, name).Scan(&p.Subscription, &p.Worker, &received,
		&p.LastMessageAge, &p.WorkerAge, &p.Applying, &mayReadOrigin, &origin)
	if err != nil {
		return fmt.Errorf("read replication progress on the target: %w", err)
	}
	if p.Received, err = ParseLSN(received); err != nil {
		return err
	}
	if !p.Subscription || !mayReadOrigin {
		return nil
	}
	var remote string
	err = tgt.QueryRow(ctx, originQuery, origin).Scan(&remote)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the replication origin of subscription %s: %w", name, err)
	}
	p.Origin, err = ParseLSN(remote)
	return err
}

func parseLSNs(texts []string, into []*LSN) error {
	for i, s := range texts {
		l, err := ParseLSN(s)
		if err != nil {
			return err
		}
		*into[i] = l
	}
	return nil
}
