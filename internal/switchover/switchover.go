// Package switchover moves a group's users from the source to the target:
// a planned switchover with zero loss (wait for the lag, freeze writes on
// the source, drain, copy sequences, detach), and a failover for when the
// source is gone (detach without it, advance sequences from the data).
// Sequences means every sequence in the replicated schemas, not only those
// behind a column; a switchover also refreshes the target's materialized
// views once the data is drained.
//
// A switchover refuses while the group's DDL capture has work pending that
// only a pgvecrep process can finish (a vector index to build, a new table
// to subscribe): the new primary would silently lack it, and the source
// that could finish it is frozen and detached afterwards. --force goes
// ahead and names what is missing.
//
// The order in a switchover is what makes it lossless: writes stop on the
// source before the final WAL position is read, so everything any client was
// told was committed lies below that position, and the target is detached
// only after it has applied up to it. If anything fails before the detach,
// the freeze is lifted and the group keeps streaming: the user is back where
// they were, with an error that says what happened.
//
// The freeze is short because it starts only once what the target has not
// committed, a transaction it is in the middle of applying included, fits
// the lag delta (lag.go), and it is bounded: a drain that would outlast
// Options.MaxFreeze is given up and the freeze lifted (drain.go).
package switchover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/parallel"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Options describe one switchover.
type Options struct {
	Group      string
	LagDelta   int64         // bytes of lag below which writes are frozen
	Timeout    time.Duration // for the whole wait-and-drain; 0 = 10 minutes
	SkipVacuum bool
	Roles      []string // roles to freeze; all writing roles when empty
	// Force switches over although DDL work is pending (vector indexes not
	// built, new tables not subscribed: see Pending); Result.Missing says
	// what the new primary lacks then.
	Force bool
	// MaxFreeze bounds the write freeze: when the target cannot apply what
	// is left by then, the freeze is lifted and the run fails with a
	// *FreezeTooLong; 0 = DefaultMaxFreeze.
	MaxFreeze time.Duration
	// Events receives what the run does, step by step (package event);
	// when nil, they are rendered on Out (package progress).
	Events event.Sink
	// Reverse leaves a reverse stream behind (reverse.go): the source
	// follows the target afterwards, the way back that switchback takes.
	// When the two sides cannot carry it (ReverseNeeds), the switchover
	// warns in Result.ReverseSkipped and goes on without it.
	Reverse bool
	// ReverseConnInfo is how the source reaches the target, for the
	// reverse subscription. It holds a password, so it is redacted from
	// every error.
	ReverseConnInfo string
	Out             io.Writer
	PollInterval    time.Duration
	// Hook, when set (tests), runs at named points and may fail the run.
	Hook func(point string) error
}

// Result is what a switchover measured.
type Result struct {
	FreezeWindow time.Duration
	DrainLSN     string
	Sequences    []string
	// Matviews are the materialized views refreshed on the target after
	// the detach.
	Matviews []string
	// Missing is what the new primary lacks after a switchover with
	// Force, one line each, with what to do about it.
	Missing []string
	// Reverse is the reverse stream left behind; nil without one.
	Reverse *ReverseResult
	// ReverseSkipped says why there is no reverse stream although
	// Options.Reverse asked for one, one line each.
	ReverseSkipped []string
}

// DefaultLagDelta is the lag, in bytes, at which the freeze starts.
const DefaultLagDelta = 200 * 1024

// DefaultMaxFreeze is the longest write freeze a switchover allows unless
// told otherwise: long enough for the drain of a lag within
// DefaultLagDelta on a busy target, short enough that an application sees
// a pause, not an outage.
const DefaultMaxFreeze = 30 * time.Second

// Run performs a switchover of a streaming group.
func Run(ctx context.Context, src, tgt *pgx.Conn, opts Options) (Result, error) {
	s, err := newRun(ctx, src, tgt, opts)
	if err != nil {
		return Result{}, err
	}
	if err := s.checkPending(ctx, &Result{}, false); err != nil {
		return Result{}, err
	}
	skipped, err := s.checkReverse(ctx)
	if err != nil {
		return Result{}, err
	}
	if err := s.waitLag(ctx); err != nil {
		return Result{}, err
	}
	res, err := s.cutOver(ctx)
	res.ReverseSkipped = skipped
	if err != nil {
		return res, s.abort(err)
	}
	if err := s.detach(ctx, &res); err != nil {
		return res, err
	}
	if res.Reverse != nil {
		s.attachReverse(ctx, &res)
	}
	return res, nil
}

// checkReverse turns Options.Reverse off, with the reasons, when the two
// sides cannot carry a reverse stream: a switchover is never refused for
// want of a way back, so pg_easy_replicate command lines keep working.
func (s *run) checkReverse(ctx context.Context) ([]string, error) {
	if !s.opts.Reverse {
		return nil, nil
	}
	needs, err := ReverseNeeds(ctx, s.src, s.tgt)
	if err != nil {
		return nil, err
	}
	var left []string
	if len(needs) == 0 {
		if s.revTables, left, err = splitByIdentity(ctx, s.tgt, reverseTables(s.g.Tables)); err != nil {
			return nil, err
		}
		for _, t := range left {
			s.say(event.Note, "warning: the way back leaves out %s: it has no key or replica identity on the target, and a publication would make its UPDATE and DELETE fail there; switchback refuses while it is left out (--force goes without it)", t)
		}
		if len(s.revTables) > 0 {
			return nil, nil
		}
		needs = append(needs, "no group table has a key or replica identity on the target")
	}
	s.opts.Reverse = false
	for _, n := range needs {
		s.say(event.Note, "warning: no way back after this switchover: %s", n)
	}
	return needs, nil
}

type run struct {
	src, tgt *pgx.Conn
	opts     Options
	g        group.Group
	ev       event.Sink
	deadline time.Time
	// catchup follows the target's progress from the wait for the lag
	// through the drain, for the wait line and the freeze's estimate.
	catchup replication.Catchup
	// follower names the side that applies, in progress lines: "the
	// target" unless set (switchback's is the source).
	follower string
	// revTables are the tables the reverse stream carries (checkReverse).
	revTables []pg.Name
}

func (s *run) followerName() string {
	if s.follower == "" {
		return "the target"
	}
	return s.follower
}

// withDefaults fills in the options left zero.
func (opts Options) withDefaults() Options {
	if opts.LagDelta <= 0 {
		opts.LagDelta = DefaultLagDelta
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Minute
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 200 * time.Millisecond
	}
	if opts.MaxFreeze <= 0 {
		opts.MaxFreeze = DefaultMaxFreeze
	}
	return opts
}

func newRun(ctx context.Context, src, tgt *pgx.Conn, opts Options) (*run, error) {
	opts = opts.withDefaults()
	g, err := group.Get(ctx, tgt, opts.Group)
	if err != nil {
		return nil, err
	}
	if g.Phase != group.Streaming {
		return nil, hint.New(fmt.Sprintf("group %q is %s, not streaming", g.Name, g.Phase),
			fmt.Sprintf("switchover needs a streaming group; see pgvecrep stats -g %s", g.Name))
	}
	if err := group.Claim(ctx, tgt, g.Name); err != nil {
		return nil, err
	}
	return &run{src: src, tgt: tgt, opts: opts, g: g, ev: sinkOf(opts.Events, opts.Out), deadline: time.Now().Add(opts.Timeout)}, nil
}

// sinkOf is where a run's events go: events, else the terminal renderer
// on out.
func sinkOf(events event.Sink, out io.Writer) event.Sink {
	if events != nil {
		return events
	}
	return progress.NewAuto(out)
}

// say emits a step's outcome that is about no one table.
func (s *run) say(phase event.Phase, format string, args ...any) {
	s.ev.Emit(event.Event{Phase: phase, Message: fmt.Sprintf(format, args...)})
}

func (s *run) hook(point string) error {
	if s.opts.Hook == nil {
		return nil
	}
	return s.opts.Hook(point)
}

// cutOver freezes, drains and copies sequences: the write-freeze window.
func (s *run) cutOver(ctx context.Context) (Result, error) {
	var res Result
	start := time.Now()
	s.say(event.Freeze, "freezing writes on %d table(s) on the source", len(s.g.Tables))
	if err := Freeze(ctx, s.src, s.g.Name, s.g.Tables, s.opts.Roles); err != nil {
		return res, err
	}
	if err := s.hook("after-freeze"); err != nil {
		return res, err
	}
	lsn, err := s.drain(ctx, start)
	if err != nil {
		return res, err
	}
	res.DrainLSN = lsn
	if err := s.checkPending(ctx, &res, true); err != nil {
		return res, err
	}
	seqs, err := Sequences(ctx, s.src, s.g.Tables)
	if err != nil {
		return res, err
	}
	if res.Sequences, err = CopySequences(ctx, s.src, s.tgt, seqs); err != nil {
		return res, err
	}
	for _, line := range res.Sequences {
		s.say(event.Finish, "sequence %s", line)
	}
	if s.opts.Reverse {
		if err := s.prepareReverse(ctx, &res); err != nil {
			return res, err
		}
	}
	if err := s.hook("before-detach"); err != nil {
		return res, err
	}
	res.FreezeWindow = time.Since(start)
	return res, nil
}

// abort lifts the freeze after a failure before the detach; the group was
// never touched, so it keeps streaming.
func (s *run) abort(cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if s.opts.Reverse {
		if err := dropReverseStream(ctx, s.tgt, s.g.Name, s.ev); err != nil {
			return fmt.Errorf("%w; and removing the reverse stream failed too: %v (run pgvecrep switchover -g %s again, which replaces it)", cause, err, s.g.Name)
		}
	}
	if _, err := UnfreezeGroup(ctx, s.src, s.g.Name); err != nil {
		return fmt.Errorf("%w; and lifting the write freeze failed too: %v (run pgvecrep cleanup -g %s --restore-source-writes)", cause, err, s.g.Name)
	}
	s.say(event.Freeze, "switchover stopped: %v; writes on the source are allowed again and the group keeps streaming", cause)
	var long *FreezeTooLong
	if errors.As(cause, &long) {
		return hint.Wrap(cause, long.retry(s.g.Name))
	}
	if errors.Is(cause, context.DeadlineExceeded) {
		return hint.Wrap(cause, "the target could not catch up in time; try again with a larger --timeout, or when the source is quieter")
	}
	if hint.Of(cause) != "" {
		return cause
	}
	return hint.Wrap(cause, fmt.Sprintf("nothing changed: the source is writable and the group streams; fix the cause and run pgvecrep switchover -g %s again", s.g.Name))
}

// detach drops the subscription, slot and publication, records the new
// phase, refreshes the materialized views and vacuums. Past this point the
// target is the primary.
func (s *run) detach(ctx context.Context, res *Result) error {
	if err := parallel.Detach(ctx, s.src, s.tgt, s.g, s.ev); err != nil {
		return hint.Wrap(err, fmt.Sprintf("writes on the source stay frozen; finish with pgvecrep stop_sync -g %s", s.g.Name))
	}
	if err := group.SetPhase(ctx, s.tgt, s.g.Name, group.SwitchedOver); err != nil {
		return err
	}
	// A switchback left the target frozen for applications; as the
	// primary again it takes their writes.
	if n, err := UnfreezeGroup(ctx, s.tgt, s.g.Name); err != nil {
		return err
	} else if n > 0 {
		s.say(event.Freeze, "lifted the write freeze on %d table(s) on the target", n)
	}
	var err error
	if res.Matviews, err = RefreshMatviews(ctx, s.tgt, s.g.Tables, s.ev); err != nil {
		return err
	}
	if len(res.Matviews) > 0 {
		s.say(event.Finish, "refreshed %d materialized view(s) on the target", len(res.Matviews))
	}
	if s.opts.SkipVacuum {
		return nil
	}
	for _, t := range s.g.Tables {
		s.ev.Emit(event.Event{Phase: event.Analyze, Table: t.String(), Message: "VACUUM ANALYZE " + t.Quoted()})
		if _, err := s.tgt.Exec(ctx, "VACUUM ANALYZE "+t.Quoted()); err != nil {
			return fmt.Errorf("vacuum analyze %s on the target: %w", t, err)
		}
	}
	return nil
}
