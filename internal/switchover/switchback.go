package switchover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Switchback is a switchover mirrored: it returns a switched-over group's
// users from the new primary (the target) to the old one (the source)
// through the reverse stream the switchover left, with the same guarantee
// of zero loss, and restarts the forward stream so that the group streams
// again as before the switchover. The steps:
//
//  1. wait until the source's lag behind the target is within the delta;
//  2. freeze writes on the target (Freeze, as the switchover does on the
//     source), and end the sessions that could write;
//  3. drain: wait until the source has applied the target's WAL up to its
//     position once frozen (the switchover's drain, sides swapped);
//  4. copy every sequence from the target to the source;
//  5. make the forward publication (with the DDL capture's log, as
//     start_sync's: forwardTables) and slot on the source; their start is
//     safe for the reason the reverse slot's is (reverse.go): the source is
//     still frozen for applications, and the reverse stream is drained;
//  6. record the stream as detaching, drop the reverse subscription, slot
//     and publication, subscribe the target to the source again, lift the
//     source's freeze, and mark the group streaming.
//
// The target stays frozen afterwards, as the source does after a
// switchover: a stray write there would never reach the source. The
// forward apply writes through the freeze (session_replication_role =
// replica). The next switchover lifts it.
//
// A failure before step 6 lifts the target's freeze and removes what step
// 5 made: the reverse stream goes on and the user is where they were. A
// switchback killed at any step is finished by running it again: before
// step 6 it starts over (a new drain, a new forward slot in place of a
// leftover one), from step 6 on it only completes the detach, since the
// drain was complete and the target has stayed frozen since.

// SwitchbackOptions describe one switchback.
type SwitchbackOptions struct {
	Group     string
	LagDelta  int64         // bytes of lag below which the target's writes are frozen
	Timeout   time.Duration // for the whole wait-and-drain; 0 = 10 minutes
	MaxFreeze time.Duration // as Options.MaxFreeze
	Roles     []string      // roles to freeze on the target; all writing roles when empty
	// Force switches back although a group table is not carried by the
	// reverse stream (see checkCarried), saying so.
	Force bool
	// ForwardConnInfo is how the target reaches the source, for the forward
	// subscription switchback restarts (SECONDARY_SOURCE_DB_URL).
	ForwardConnInfo string
	// ReverseConnInfo is how the source reaches the target: needed only to
	// finish a switchover killed before it subscribed the source.
	ReverseConnInfo string
	// Events receives what the run does (package event); when nil, they
	// are rendered on Out (package progress).
	Events       event.Sink
	Out          io.Writer
	PollInterval time.Duration
	// Hook, when set (tests), runs at named points and may fail the run.
	Hook func(point string) error
}

// SwitchbackResult is what a switchback measured.
type SwitchbackResult struct {
	// FreezeWindow is how long applications could write nowhere: from the
	// target's freeze to the lifting of the source's.
	FreezeWindow time.Duration
	DrainLSN     string // the target's position the source applied up to
	Sequences    []string
	ForwardLSN   string // where the restarted forward stream starts on the source
	// Resumed is set when the run finished a killed switchback's detach;
	// FreezeWindow is then unknown (zero).
	Resumed bool
}

// back is one switchback: a switchover run with the sides swapped (src is
// the target, tgt the source, the slot the reverse one), plus both
// connections under their own names.
type back struct {
	*run
	oldPrimary, newPrimary *pgx.Conn
	fwd                    string // the forward stream's name
	opts                   SwitchbackOptions
}

// Switchback performs a switchback. src is the source (the old primary),
// tgt the target (the new primary, which holds the group's metadata).
func Switchback(ctx context.Context, src, tgt *pgx.Conn, opts SwitchbackOptions) (SwitchbackResult, error) {
	var res SwitchbackResult
	b, rev, err := newBack(ctx, src, tgt, opts)
	if err != nil {
		return res, err
	}
	if rev.State == group.ReverseDetaching {
		b.say(event.Note, "finishing an interrupted switchback: the reverse stream was drained and the target has stayed frozen")
		res.Resumed = true
		return res, b.finish(ctx, &res, time.Time{})
	}
	if rev.State == group.ReversePreparing {
		if err := b.attach(ctx, rev); err != nil {
			return res, err
		}
	}
	if err := b.checkSchema(ctx); err != nil {
		return res, err
	}
	if err := b.checkCarried(ctx); err != nil {
		return res, err
	}
	if err := b.waitLag(ctx); err != nil {
		return res, err
	}
	start := time.Now()
	if err := b.cutBack(ctx, &res, start); err != nil {
		return res, b.abortBack(err)
	}
	return res, b.finish(ctx, &res, start)
}

func newBack(ctx context.Context, src, tgt *pgx.Conn, opts SwitchbackOptions) (*back, group.Reverse, error) {
	g, err := group.Get(ctx, tgt, opts.Group)
	if err != nil {
		return nil, group.Reverse{}, err
	}
	rev, ok, err := group.GetReverse(ctx, tgt, g.Name)
	if err != nil {
		return nil, rev, err
	}
	if g.Phase != group.SwitchedOver || !ok || rev.State == group.ReverseSwitchedBack {
		return nil, rev, hint.New(fmt.Sprintf("group %q is %s with no reverse stream to switch back through", g.Name, g.Phase),
			fmt.Sprintf("switchback follows a switchover that left a reverse stream (the default, unless --no-reverse); see pgvecrep stats -g %s", g.Name))
	}
	if err := group.Claim(ctx, tgt, g.Name); err != nil {
		return nil, rev, err
	}
	so := Options{Group: g.Name, LagDelta: opts.LagDelta, Timeout: opts.Timeout, MaxFreeze: opts.MaxFreeze,
		Roles: opts.Roles, Events: opts.Events, Out: opts.Out, PollInterval: opts.PollInterval, Hook: opts.Hook,
		ReverseConnInfo: opts.ReverseConnInfo}.withDefaults()
	opts.MaxFreeze = so.MaxFreeze
	swapped := g
	swapped.ObjectName = rev.ObjectName
	swapped.Streams = 1 // the way back is one stream, whatever the forward had
	r := &run{src: tgt, tgt: src, opts: so, g: swapped, ev: sinkOf(opts.Events, opts.Out), deadline: time.Now().Add(so.Timeout),
		follower: "the source"}
	return &back{run: r, oldPrimary: src, newPrimary: tgt, fwd: g.ObjectName, opts: opts}, rev, nil
}

// attach finishes a switchover that was killed between its detach and the
// reverse subscription: the reverse slot has held the target's writes
// since its start, so subscribing now loses none.
func (b *back) attach(ctx context.Context, rev group.Reverse) error {
	b.say(event.Setup, "subscribing the source to the target through %s (the switchover was interrupted before it could)", rev.ObjectName)
	if _, err := replication.DropSubscription(ctx, b.oldPrimary, rev.ObjectName); err != nil {
		return err
	}
	err := replication.CreateSubscription(ctx, b.oldPrimary, replication.Subscription{Name: rev.ObjectName,
		Publication: rev.ObjectName, Slot: rev.ObjectName, ConnInfo: b.run.opts.ReverseConnInfo})
	if err != nil {
		return err
	}
	return group.SetReverseState(ctx, b.newPrimary, b.g.Name, group.ReverseStreaming)
}

// cutBack freezes the target, drains the reverse stream, copies the
// sequences and makes the forward stream's slot on the source.
func (b *back) cutBack(ctx context.Context, res *SwitchbackResult, start time.Time) error {
	b.say(event.Freeze, "freezing writes on %d table(s) on the target", len(b.g.Tables))
	if err := Freeze(ctx, b.newPrimary, b.g.Name, b.g.Tables, b.run.opts.Roles); err != nil {
		return err
	}
	if err := b.hook("after-freeze"); err != nil {
		return err
	}
	lsn, err := b.drain(ctx, start)
	if err != nil {
		return err
	}
	res.DrainLSN = lsn
	seqs, err := Sequences(ctx, b.newPrimary, b.g.Tables)
	if err != nil {
		return err
	}
	if res.Sequences, err = CopySequences(ctx, b.newPrimary, b.oldPrimary, seqs); err != nil {
		return err
	}
	for _, line := range res.Sequences {
		b.say(event.Finish, "sequence %s (target -> source)", line)
	}
	if err := b.hook("after-sequences"); err != nil {
		return err
	}
	tables, err := b.forwardTables(ctx)
	if err != nil {
		return err
	}
	if res.ForwardLSN, err = createStream(ctx, b.oldPrimary, b.fwd, tables); err != nil {
		return fmt.Errorf("create the forward stream on the source: %w", err)
	}
	b.say(event.Setup, "forward stream %s starts on the source at %s", b.fwd, res.ForwardLSN)
	if err := b.hook("before-detach"); err != nil {
		return err
	}
	return group.SetReverseState(ctx, b.newPrimary, b.g.Name, group.ReverseDetaching)
}

// forwardTables is what the forward publication carries again: the
// group's tables and, when the group captures DDL, the capture's log, as
// start_sync's publication does (package ddl). The capture itself stayed
// installed on the source through the switchover, idle while its
// publication was gone; with the log in the publication again, a schema
// change on the source reaches the target in stream order once more. The
// log is in the publication from its creation, before the slot, so no
// change made after the slot's start is left out.
func (b *back) forwardTables(ctx context.Context) ([]pg.Name, error) {
	tables := reverseTables(b.g.Tables)
	log, onlyOn, err := ddl.LogTable(ctx, b.oldPrimary, b.newPrimary, b.fwd)
	if err != nil {
		return nil, fmt.Errorf("look up the group's DDL capture: %w", err)
	}
	if onlyOn != "" {
		b.say(event.Note, "warning: the DDL capture's log is only on the %s, so schema changes on the source will not reach the target; pgvecrep stop_sync -g %s then start_sync -g %s installs it again", onlyOn, b.g.Name, b.g.Name)
	}
	if log.Name != "" {
		tables = append(tables, log)
	}
	return tables, nil
}

// finish drops the reverse stream, subscribes the target to the source
// again and lifts the source's freeze. Every step is safe to repeat.
func (b *back) finish(ctx context.Context, res *SwitchbackResult, start time.Time) error {
	if err := b.hook("detaching"); err != nil {
		return err
	}
	rev := b.g.ObjectName
	if dropped, err := replication.DropSubscription(ctx, b.oldPrimary, rev); err != nil {
		return b.stuck(err)
	} else if dropped {
		b.say(event.Detach, "dropped reverse subscription %s on the source", rev)
	}
	dropped, err := dropStream(ctx, b.newPrimary, rev)
	if err != nil {
		return b.stuck(err)
	}
	for _, d := range dropped {
		b.say(event.Detach, "dropped reverse %s on the target", d)
	}
	if err := b.hook("after-detach"); err != nil {
		return err
	}
	if _, err := replication.DropSubscription(ctx, b.newPrimary, b.fwd); err != nil {
		return b.stuck(err)
	}
	if err := replication.CreateSubscription(ctx, b.newPrimary, replication.Subscription{Name: b.fwd,
		Publication: b.fwd, Slot: b.fwd, ConnInfo: b.opts.ForwardConnInfo, Log: b.ev}); err != nil {
		return b.stuck(err)
	}
	b.say(event.Setup, "the target follows the source again through subscription %s", b.fwd)
	if err := b.hook("after-subscribe"); err != nil {
		return err
	}
	n, err := UnfreezeGroup(ctx, b.oldPrimary, b.g.Name)
	if err != nil {
		return b.stuck(err)
	}
	if !start.IsZero() {
		res.FreezeWindow = time.Since(start)
	}
	b.say(event.Freeze, "lifted the write freeze on %d table(s) on the source", n)
	// The forward direction comes back as one stream: parallel apply's
	// streams and guard are made by start_sync only.
	if err := group.SetStreams(ctx, b.newPrimary, b.g.Name, 1); err != nil {
		return err
	}
	if err := group.SetPhase(ctx, b.newPrimary, b.g.Name, group.Streaming); err != nil {
		return err
	}
	return group.SetReverseState(ctx, b.newPrimary, b.g.Name, group.ReverseSwitchedBack)
}

// stuck is a failure past the point of no return: the reverse stream is
// drained and the target frozen, so nothing is lost, and running the
// switchback again completes it.
func (b *back) stuck(err error) error {
	return hint.Wrap(err, fmt.Sprintf("nothing is lost: the target stays frozen and the source has every write; fix the cause and run pgvecrep switchback -g %s again to finish", b.g.Name))
}

// abortBack lifts the target's freeze and removes the forward slot after a
// failure before the detach: the reverse stream goes on.
func (b *back) abortBack(cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := dropStream(ctx, b.oldPrimary, b.fwd); err != nil {
		return fmt.Errorf("%w; and removing the forward slot on the source failed too: %v (run pgvecrep switchback -g %s again)", cause, err, b.g.Name)
	}
	if _, err := UnfreezeGroup(ctx, b.newPrimary, b.g.Name); err != nil {
		return fmt.Errorf("%w; and lifting the write freeze on the target failed too: %v (run pgvecrep switchback -g %s again)", cause, err, b.g.Name)
	}
	b.say(event.Undo, "switchback stopped: %v; writes on the target are allowed again and the source keeps following it", cause)
	var long *FreezeTooLong
	switch {
	case errors.As(cause, &long):
		return hint.Wrap(cause, fmt.Sprintf("writes on the target are allowed again; run pgvecrep switchback -g %s again when pgvecrep stats -g %s shows the reverse lag small, or allow a longer freeze with --max-freeze", b.g.Name, b.g.Name))
	case errors.Is(cause, context.DeadlineExceeded):
		return hint.Wrap(cause, "the source could not catch up in time; try again with a larger --timeout, or when the target is quieter")
	case hint.Of(cause) != "":
		return cause
	}
	return hint.Wrap(cause, fmt.Sprintf("nothing changed: the target is writable and the source follows it; fix the cause and run pgvecrep switchback -g %s again", b.g.Name))
}
