package switchover

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// The freeze is bounded by Options.MaxFreeze. The wait before it counts the
// transaction in flight, but a large transaction can still commit on the
// source between that check and the freeze, or sit in the walsender's
// queue where no catalog shows it, and its drain would keep every writer
// waiting for as long as the target takes to apply it. So the drain gives
// up at the freeze's deadline (or before, once the rate the target applies
// at while frozen says it cannot make it), the freeze is lifted, and the
// group goes on streaming: the user is back where they were and is told
// when to try again.

// firstPause is the first pause between the drain's checks; each next one
// doubles up to maxPause (or the poll interval, if shorter), so a target
// that is caught up, the usual case, ends the freeze within milliseconds,
// and every writer waits at most maxPause longer than the target needs.
const (
	firstPause = 10 * time.Millisecond
	maxPause   = 50 * time.Millisecond
)

// drain reads the source's WAL position once writes are frozen (at
// frozenAt) and waits until the target has applied it (replication.Applied
// says how that is known): then every committed write is there. It shows
// what is left and the estimate once a second.
func (s *run) drain(ctx context.Context, frozenAt time.Time) (string, error) {
	lsn, err := replication.WALEnd(ctx, s.src)
	if err != nil {
		return "", err
	}
	deadline := s.freezeDeadline(frozenAt)
	s.say(event.Wait, "waiting for %s to apply everything up to %s (the freeze is lifted if that takes longer than %s)", s.followerName(), lsn, s.opts.MaxFreeze)
	d := drainer{run: s, lsn: lsn, frozenAt: frozenAt, deadline: deadline}
	defer s.ev.Emit(event.Event{Phase: event.Wait}) // ends the live line
	if err := d.wait(ctx); err != nil {
		return "", err
	}
	s.say(event.Wait, "%s has applied up to %s", strings.TrimPrefix(s.followerName(), "the "), lsn)
	return lsn, nil
}

// freezeDeadline is when the drain must give up for the freeze to end
// within MaxFreeze: what follows the drain (the sequences) takes a tenth of
// it at most, a second at most.
func (s *run) freezeDeadline(frozenAt time.Time) time.Time {
	d := frozenAt.Add(s.opts.MaxFreeze - min(s.opts.MaxFreeze/10, time.Second))
	if s.deadline.Before(d) {
		return s.deadline
	}
	return d
}

// drainer is one drain's state.
type drainer struct {
	*run
	lsn               string
	frozenAt          time.Time
	deadline          time.Time
	shown             time.Time
	start             *replication.Estimate // the first reading while frozen
	startAt, latestAt time.Time
	latest            replication.Estimate
}

func (d *drainer) wait(ctx context.Context) error {
	longest := min(maxPause, d.opts.PollInterval)
	pause := min(firstPause, longest)
	for {
		done, err := replication.Applied(ctx, d.src, d.g.StreamNames(), d.lsn)
		if err != nil || done {
			return err
		}
		if err := d.check(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for the target to apply up to %s: %w", d.lsn, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(2*pause, longest)
	}
}

// check shows the drain's progress once a second and gives up when the
// freeze would outlast its bound.
func (d *drainer) check(ctx context.Context) error {
	now := time.Now()
	late := !now.Before(d.deadline)
	if d.start != nil && now.Sub(d.shown) < showEvery && !late {
		return nil
	}
	e, err := d.progress(ctx)
	if err != nil {
		return err
	}
	if d.start == nil {
		d.start, d.startAt = &e, now
	}
	d.latest, d.latestAt, d.shown = e, now, now
	eta := d.eta()
	frozen := now.Sub(d.frozenAt)
	d.ev.Emit(event.Event{Phase: event.Wait, Bytes: e.Pending, Duration: frozen, Progress: true,
		Message: fmt.Sprintf("writes frozen for %s of at most %s: %s left to apply%s; done in %s",
			progress.Seconds(frozen), d.opts.MaxFreeze, progress.Bytes(e.Pending), inFlightText(e.InFlight), etaText(eta, e))})
	if late && d.deadline.Before(d.run.deadline) {
		return d.tooLong(eta, false)
	}
	if late {
		return fmt.Errorf("wait for the target to apply up to %s: %w", d.lsn, context.DeadlineExceeded)
	}
	// Give up early only when the rate measured while frozen says the
	// drain would overrun the bound by half again: a guess is never
	// allowed to lift a freeze that would have ended in time.
	if eta != nil && now.Sub(d.startAt) >= 2*showEvery && now.Add(*eta).Sub(d.frozenAt) > d.opts.MaxFreeze*3/2 {
		return d.tooLong(eta, true)
	}
	return nil
}

// eta is the time the drain still needs at the rate the target has
// committed at since the freeze began; nil before there is a rate.
func (d *drainer) eta() *time.Duration {
	span := d.latestAt.Sub(d.startAt)
	done := d.start.Pending - d.latest.Pending
	if span < showEvery || done <= 0 {
		return nil
	}
	left := time.Duration(float64(d.latest.Pending) / float64(done) * float64(span))
	return &left
}

func etaText(eta *time.Duration, e replication.Estimate) string {
	if eta != nil {
		return "~" + progress.Seconds(*eta)
	}
	if e.Pending == 0 {
		return "a moment"
	}
	return "unknown yet"
}

func (d *drainer) tooLong(eta *time.Duration, early bool) error {
	return &FreezeTooLong{MaxFreeze: d.opts.MaxFreeze, Frozen: time.Since(d.frozenAt), Left: d.latest.Pending,
		InFlight: d.latest.InFlight, ETA: eta, Early: early}
}

// FreezeTooLong is why a switchover lifted its write freeze: the target
// could not apply what was left within MaxFreeze.
type FreezeTooLong struct {
	MaxFreeze time.Duration
	Frozen    time.Duration // how long writes had been frozen
	Left      int64         // bytes the target had not committed
	InFlight  *replication.InFlight
	ETA       *time.Duration // the drain's estimate of the time it still needed; nil when unknown
	Early     bool           // given up on the estimate, before MaxFreeze
}

func (e *FreezeTooLong) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the target could not apply what was left within --max-freeze %s: %s left after %s frozen", e.MaxFreeze, progress.Bytes(e.Left), progress.Seconds(e.Frozen))
	if f := e.InFlight; f != nil {
		fmt.Fprintf(&b, ", a transaction of up to %s being applied for %s", progress.Bytes(f.Bytes), progress.Seconds(seconds(f.Seconds)))
	}
	if e.ETA != nil {
		fmt.Fprintf(&b, "; at the rate it applied while frozen it needed ~%s more", progress.Seconds(*e.ETA))
	}
	return b.String()
}

// retry says when to try again.
func (e *FreezeTooLong) retry(group string) string {
	when := fmt.Sprintf("when pgvecrep stats -g %s shows a catch-up well under %s", group, e.MaxFreeze)
	switch {
	case e.InFlight != nil:
		when = fmt.Sprintf("once the transaction being applied has committed (pgvecrep stats -g %s shows it, and the catch-up estimate)", group)
	case e.ETA != nil:
		when = fmt.Sprintf("in about %s, %s", progress.Seconds(*e.ETA), when)
	}
	return fmt.Sprintf("writes on the source are allowed again and the group keeps streaming; run pgvecrep switchover -g %s again %s, or allow a longer freeze with --max-freeze", group, when)
}
