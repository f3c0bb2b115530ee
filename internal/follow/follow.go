// Package follow is the long-running process for the life of a group:
// between start_sync and the cut-over it finishes what the apply worker
// cannot do inside its transaction (settle.Settle: subscribe new tables, build
// deferred vector indexes concurrently) and re-checks the target's rows
// against the source's at a low, bounded rate.
//
// Why one process: every peer that propagates DDL (pgcopydb follow,
// pgstream, PeerDB) keeps one running, because a CREATE TABLE or an HNSW
// index on the source needs work on the target that only a client can do
// (ALTER SUBSCRIPTION ... REFRESH PUBLICATION and CREATE INDEX CONCURRENTLY
// cannot run inside the apply worker). Without it a week of replication
// ends with tables without rows and a target without its vector index.
//
// Restart safety: follow keeps no state of its own. What is left to do is
// in the target's DDL log (ddl.GetStatus), which Settle updates once a step
// is done; a step cut short by kill -9 leaves an invalid index, which the
// next run drops and builds again (see reconcile). A session advisory lock
// on the target, keyed on the group, keeps a second follow out.
package follow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Connect opens a new connection to one side. Follow opens several (one
// holds the lock, one settles, one verifies) and opens them again when
// they are lost.
type Connect func(ctx context.Context, role pg.Role) (*pgx.Conn, error)

// Event is one thing follow did or found; the command renders it as a log
// line, a status line, a notification.
type Event struct {
	Kind    string // "settle", "mismatch", "cleared", "skip", "status", "ended", "warn"
	Table   string // the table a mismatch is in
	Range   string // the key range of a mismatch
	Message string
	// Again marks a mismatch the group's metadata held already: found
	// again by a later pass, not news.
	Again bool
}

// Options configure a Follower.
type Options struct {
	Group string
	// Every is how often follow looks for DDL work (and the group's phase).
	Every time.Duration
	// VerifyRate is how many chunks per second the verifier checks; 0
	// disables it.
	VerifyRate float64
	// ChunkRows is how many rows one verified chunk holds, at most.
	ChunkRows int
	// NeighbourEvery is how many chunks the verifier checks between two
	// nearest-neighbour samples; 0 disables them.
	NeighbourEvery int
	// KeylessRows is the most rows a table without a key may have to be
	// verified whole (see keyless.go); 0 verifies none.
	KeylessRows int
}

// Follower follows one group until it ends or ctx is cancelled.
type Follower struct {
	opt     Options
	connect Connect
	log     *slog.Logger
	emit    func(Event)
	// Verify holds the verifier's counters, for the metrics.
	Verify *Verifier
}

// New returns a follower; emit hears every event, from several goroutines
// (it must be safe for that).
func New(opt Options, connect Connect, log *slog.Logger, emit func(Event)) *Follower {
	if opt.Every <= 0 {
		opt.Every = 5 * time.Second
	}
	if opt.ChunkRows <= 0 {
		opt.ChunkRows = 1000
	}
	f := &Follower{opt: opt, connect: connect, log: log, emit: emit}
	f.Verify = newVerifier(f)
	return f
}

// ErrFollowed says another follow holds the group.
var ErrFollowed = errors.New("is already followed by another pgvecrep follow")

// lockQuery takes follow's own lock, apart from the group's lock
// (group.Lock), which follow takes only while it changes the group: a
// follow that held the group's lock for its whole life would keep
// switchover and stop_sync out.
const lockQuery = `SELECT pg_try_advisory_lock(hashtextextended('pgvecrep:follow:' || $1, 0))`

// Run follows the group until it is switched over, failed over, stopped or
// removed (it returns the phase then), fails, or ctx is cancelled (it
// returns ctx's error once the current step is finished or rolled back).
func (f *Follower) Run(ctx context.Context) (group.Phase, error) {
	tgt, err := f.connect(ctx, pg.Target)
	if err != nil {
		return "", err
	}
	defer tgt.Close(context.Background())
	var ok bool
	if err := tgt.QueryRow(ctx, lockQuery, f.opt.Group).Scan(&ok); err != nil {
		return "", fmt.Errorf("lock group %q for follow: %w", f.opt.Group, err)
	}
	if !ok {
		return "", hint.Wrap(fmt.Errorf("group %q %w", f.opt.Group, ErrFollowed),
			"one follow per group is enough: stop the other one first (e.g. systemctl stop pgvecrep-follow@"+f.opt.Group+")")
	}
	ended := make(chan group.Phase, 1)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return f.settleLoop(gctx, tgt, ended) })
	if f.opt.VerifyRate > 0 {
		g.Go(func() error { return f.Verify.loop(gctx) })
	}
	err = g.Wait()
	select {
	case p := <-ended:
		return p, nil
	default:
	}
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	return "", err
}

// errEnded stops the errgroup once the group has ended.
var errEnded = errors.New("group ended")

// settleLoop reads the phase every opt.Every and settles pending work.
func (f *Follower) settleLoop(ctx context.Context, tgt *pgx.Conn, ended chan<- group.Phase) error {
	var src *pgx.Conn
	defer func() {
		if src != nil {
			src.Close(context.Background())
		}
	}()
	for {
		g, err := group.Get(ctx, tgt, f.opt.Group)
		switch {
		case errors.Is(err, group.ErrNotFound):
			ended <- group.Stopped
			return errEnded
		case err != nil:
			return fmt.Errorf("read group %q: %w", f.opt.Group, err)
		}
		switch g.Phase {
		case group.SwitchedOver, group.FailedOver, group.Stopped, group.Failed:
			ended <- g.Phase
			return errEnded
		case group.Streaming:
			src = f.reconnect(ctx, src, pg.Source)
			if err := f.round(ctx, src, tgt, g); err != nil && ctx.Err() == nil {
				f.warn("settle failed; trying again at the next round", err)
				if src != nil && src.IsClosed() {
					src = nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(f.opt.Every):
		}
	}
}

// reconnect returns c when it is open, else a new connection to role, or
// nil (logged) when the side cannot be reached.
func (f *Follower) reconnect(ctx context.Context, c *pgx.Conn, role pg.Role) *pgx.Conn {
	if c != nil && !c.IsClosed() {
		return c
	}
	c, err := f.connect(ctx, role)
	if err != nil {
		if ctx.Err() == nil {
			f.warn(fmt.Sprintf("%s unreachable", role), err)
		}
		return nil
	}
	return c
}

func (f *Follower) warn(msg string, err error) {
	f.log.Warn(msg, "group", f.opt.Group, "err", err.Error())
}
