package replication

import (
	"fmt"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/progress"
)

// DefaultWindow is the window over which a Catchup measures the apply rate:
// long enough to smooth the small transactions of a busy source, short
// enough that the estimate follows a change of pace within seconds.
const DefaultWindow = 10 * time.Second

// minSpan is the shortest span of readings a rate is computed from; over
// less, the time the queries themselves take is most of the span.
const minSpan = 500 * time.Millisecond

// maxSamples bounds the readings a Catchup keeps while the target does not
// catch up (a stalled group watched for hours); the oldest are thinned.
const maxSamples = 1000

// Catchup turns successive readings of one subscription's Progress into an
// apply rate over a recent window, how far behind in time the target is,
// and the estimated time until it has caught up. The zero value is ready;
// it is not safe for concurrent use.
//
// Why it keeps history: PostgreSQL records neither when a source position
// was written nor how fast the target applies. Both follow from readings
// over time: the rate from how the committed position moved, the time lag
// from when the source was where the target is now.
type Catchup struct {
	Window  time.Duration // 0 means DefaultWindow
	samples []sample
}

type sample struct {
	at                time.Time
	source, committed LSN
	inFlightSince     time.Time // when the transaction in flight began; zero: none
}

// Estimate is what a Catchup makes of the readings so far.
type Estimate struct {
	// Pending is the bytes the target has not committed (Progress.Pending);
	// PendingKnown is false without the source.
	Pending      int64
	PendingKnown bool
	// Rate is the bytes per second the target committed over RateWindow;
	// nil until the readings span long enough.
	Rate       *float64
	RateWindow time.Duration
	// ETA is the estimated time until the target has committed everything
	// pending now; nil when unknown, and Why says why.
	ETA *time.Duration
	Why string
	// Lag is how long the oldest change the target has not committed has
	// waited; nil when it cannot be known (no source). LagAtLeast marks a
	// lower bound: the readings do not reach back far enough, or the only
	// clue is how long the worker has waited or applied.
	Lag        *time.Duration
	LagAtLeast bool
	InFlight   *InFlight
}

// Add records p and returns the estimate as of p.
func (c *Catchup) Add(p Progress) Estimate {
	e := Estimate{InFlight: p.InFlight()}
	e.Pending, e.PendingKnown = p.Pending()
	if !e.PendingKnown {
		e.Why = "no replication slot on the source"
		if !p.SourceKnown {
			e.Why = "the source is not reachable"
		}
		return e
	}
	committed := p.Committed()
	s := sample{at: p.At, source: p.Current, committed: committed}
	if e.InFlight != nil {
		s.inFlightSince = p.At.Add(-seconds(e.InFlight.Seconds))
	}
	c.samples = append(c.samples, s)
	c.rate(&e)
	c.eta(&e, p)
	c.lag(&e, p)
	c.prune(committed)
	return e
}

// rate measures the committed position's progress from the reading a window
// ago to now. A transaction in flight that began before the window moves
// the start back to before it began: its bytes arrive all at once at its
// commit, and counting them over the window alone would show a burst many
// times the real rate.
func (c *Catchup) rate(e *Estimate) {
	now := c.samples[len(c.samples)-1]
	from := now.at.Add(-c.window())
	for _, s := range c.samples {
		if !s.inFlightSince.IsZero() && s.inFlightSince.Before(from) && !s.at.Before(from) {
			from = s.inFlightSince
		}
	}
	base := c.samples[0]
	for _, s := range c.samples {
		if s.at.After(from) {
			break
		}
		base = s
	}
	span := now.at.Sub(base.at)
	if span < minSpan {
		return
	}
	r := 0.0
	if now.committed > base.committed {
		r = float64(now.committed-base.committed) / span.Seconds()
	}
	e.Rate, e.RateWindow = &r, span
}

func (c *Catchup) eta(e *Estimate, p Progress) {
	switch {
	case e.Pending == 0:
		e.ETA = new(time.Duration)
	case !p.Worker:
		e.Why = "no apply worker runs"
	case e.Rate == nil:
		e.Why = "not measured long enough"
	case *e.Rate > 0:
		d := seconds(float64(e.Pending) / *e.Rate)
		e.ETA = &d
	case e.InFlight != nil:
		e.Why = "nothing committed while the transaction in flight is applied"
	default:
		e.Why = fmt.Sprintf("nothing committed in the last %.0f s", e.RateWindow.Seconds())
	}
}

// lag is how long ago the source was where the target's committed position
// is now, found between the two readings around it. When the readings do
// not reach back that far it is the longest of what else is known: the
// readings' span, the walsender's replay_lag, how long the worker has been
// applying its transaction or waiting for its first message.
func (c *Catchup) lag(e *Estimate, p Progress) {
	if e.Pending == 0 {
		e.Lag = new(time.Duration)
		return
	}
	if d, ok := c.interpolate(p.At); ok {
		e.Lag = &d
		return
	}
	var best time.Duration
	found := len(c.samples) > 1
	if found {
		best = p.At.Sub(c.samples[0].at)
	}
	for _, v := range []*float64{p.ReplayLag, p.Applying, waitingForFirst(p)} {
		if v != nil && (!found || seconds(*v) > best) {
			best, found = seconds(*v), true
		}
	}
	if found {
		e.Lag, e.LagAtLeast = &best, true
	}
}

// interpolate finds when the source was at the latest reading's committed
// position, between the two readings around it, and returns how long
// before now that was.
func (c *Catchup) interpolate(now time.Time) (time.Duration, bool) {
	committed := c.samples[len(c.samples)-1].committed
	for i := len(c.samples) - 1; i > 0; i-- {
		a, b := c.samples[i-1], c.samples[i]
		if a.source <= committed && committed < b.source {
			f := float64(committed-a.source) / float64(b.source-a.source)
			return now.Sub(a.at.Add(time.Duration(f * float64(b.at.Sub(a.at))))), true
		}
	}
	return 0, false
}

// waitingForFirst is how long an apply worker that has had no message yet
// has waited for one.
func waitingForFirst(p Progress) *float64 {
	if p.Worker && p.Received == 0 {
		return p.WorkerAge
	}
	return nil
}

// prune drops the readings no estimate needs any more: those before both
// the latest one at or below the committed position (the time lag is
// measured from it; with none, the oldest stays as the lag's lower bound)
// and the one the rate starts from two windows back (or from before a
// transaction in flight began).
func (c *Catchup) prune(committed LSN) {
	keepFrom := c.samples[len(c.samples)-1].at.Add(-2 * c.window())
	for _, s := range c.samples {
		if !s.inFlightSince.IsZero() && s.inFlightSince.Before(keepFrom) {
			keepFrom = s.inFlightSince
		}
	}
	anchor, base := 0, 0
	for i, s := range c.samples {
		if s.source <= committed {
			anchor = i
		}
		if !s.at.After(keepFrom) {
			base = i
		}
	}
	c.samples = c.samples[min(anchor, base):]
	if len(c.samples) > maxSamples {
		c.samples = append(c.samples[:1], c.samples[2:]...)
	}
}

func (c *Catchup) window() time.Duration {
	if c.Window <= 0 {
		return DefaultWindow
	}
	return c.Window
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// Text says when the target will have caught up, and at what rate:
// "~21.0 s at 1.2 MiB/s (apply rate over the last 10 s)", "caught up",
// "unknown: no apply worker runs".
func (e Estimate) Text() string {
	rate := ""
	if e.Rate != nil && *e.Rate > 0 {
		rate = fmt.Sprintf(" at %s/s (apply rate over the last %.0f s)", progress.Bytes(int64(*e.Rate)), e.RateWindow.Seconds())
	}
	switch {
	case e.ETA == nil:
		return "unknown: " + e.Why + rate
	case *e.ETA == 0:
		return "caught up"
	}
	return "~" + progress.Seconds(*e.ETA) + rate
}
