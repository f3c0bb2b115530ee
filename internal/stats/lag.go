package stats

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Lag is how far the target is behind.
type Lag struct {
	SourceReachable bool `json:"source_reachable"`
	// Bytes is the source's WAL the target has not committed, counting a
	// transaction being applied (see replication.Progress); nil without the
	// source's slot.
	Bytes *int64 `json:"bytes"`
	// Seconds is how long the oldest change the target has not committed
	// has waited (0 when nothing is pending); SecondsAtLeast marks a lower
	// bound (see replication.Estimate). During the copy and the index
	// build it is the time since the copy began.
	Seconds        *float64 `json:"seconds"`
	SecondsAtLeast bool     `json:"seconds_at_least,omitempty"`
	SourceLSN      string   `json:"source_lsn,omitempty"`
	ConfirmedLSN   string   `json:"confirmed_lsn,omitempty"`
	// CommittedLSN is where the target's committed work ends: the
	// confirmed flush, or before it while a transaction is in flight.
	CommittedLSN   string   `json:"committed_lsn,omitempty"`
	ReceivedLSN    string   `json:"received_lsn,omitempty"`
	LastMessageAge *float64 `json:"last_message_age_seconds,omitempty"`
	Subscription   bool     `json:"subscription_active"`
	// SourceProblem says why the source's side is missing: "not configured"
	// (no URL) or "unreachable: <error>". Set by the caller.
	SourceProblem string `json:"source_problem,omitempty"`
	// SlotWALBytes is the WAL the group's slot keeps on the source (from its
	// restart_lsn): during the copy and the index build it grows, and
	// streaming only starts once they are done.
	SlotWALBytes *int64 `json:"slot_wal_bytes"`
	// InFlight is the transaction the apply worker is applying, when one
	// has taken long enough to matter.
	InFlight *replication.InFlight `json:"in_flight,omitempty"`
	// ApplyRate is the bytes per second the target committed over the last
	// RateWindow seconds; CatchUp the estimated seconds until it has
	// committed what is pending now (null when unknown, and CatchUpUnknown
	// says why).
	ApplyRate      *float64 `json:"apply_rate_bytes_per_second"`
	RateWindow     float64  `json:"apply_rate_window_seconds,omitempty"`
	CatchUp        *float64 `json:"catch_up_seconds"`
	CatchUpUnknown string   `json:"catch_up_unknown,omitempty"`

	est replication.Estimate // for the text
}

// History is what earlier reports of one group read, for the later ones to
// build on: the readings behind the apply rate, the time lag and the
// catch-up estimate, and each table's last exact row count (shown, with its
// age, when a table cannot be counted in time). stats --watch and the
// metrics exporter keep one; a one-off report starts from none. Not safe
// for concurrent use.
type History struct {
	// catchups follow each apply stream, by name (see StreamStat).
	catchups map[string]*replication.Catchup
	// reverseCatchup follows the reverse stream a switchover left.
	reverseCatchup replication.Catchup
	counts         map[string]knownCount
	readings       int
}

type knownCount struct {
	rows int64
	at   time.Time
}

// NewHistory returns an empty history.
func NewHistory() *History {
	return &History{catchups: map[string]*replication.Catchup{}, counts: map[string]knownCount{}}
}

// catchup is the stream's, started on first use: a stream added to the
// group since the last report starts from none.
func (h *History) catchup(stream string) *replication.Catchup {
	if h.catchups == nil {
		h.catchups = map[string]*replication.Catchup{}
	}
	c := h.catchups[stream]
	if c == nil {
		c = new(replication.Catchup)
		h.catchups[stream] = c
	}
	return c
}

// oneShotSpan is how long a report without history waits between two
// readings of the replication progress when the target has work pending:
// a rate needs two readings, and the estimate is what a person asks
// stats for. A target with nothing pending costs no wait.
const oneShotSpan = time.Second

// lag reads every stream's replication progress, fills in each stream's
// lag and makes the group's the slowest stream's (groupLag). The first
// readings of a history were taken at the start of the report (first, in
// the order of the streams); when the two readings of a stream do not span
// long enough for a rate and its target is applying, it waits for a third.
func (h *History) lag(ctx context.Context, src, tgt *pgx.Conn, first []*replication.Progress, r *Report) error {
	ps := make([]replication.Progress, len(r.Streams))
	es := make([]replication.Estimate, len(r.Streams))
	var again []int
	var until time.Time
	for i, s := range r.Streams {
		c := h.catchup(s.Name)
		if first != nil {
			c.Add(*first[i])
		}
		p, err := replication.ReadProgress(ctx, src, tgt, s.Name)
		if err != nil {
			return err
		}
		ps[i], es[i] = p, c.Add(p)
		if e := es[i]; e.Rate == nil && e.Pending > 0 && p.Worker && first != nil {
			again = append(again, i)
			if t := first[i].At.Add(oneShotSpan); t.After(until) {
				until = t
			}
		}
	}
	h.readings++
	if len(again) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(until)):
		}
	}
	for _, i := range again {
		p, err := replication.ReadProgress(ctx, src, tgt, r.Streams[i].Name)
		if err != nil {
			return err
		}
		ps[i], es[i] = p, h.catchup(r.Streams[i].Name).Add(p)
	}
	for i := range r.Streams {
		r.Streams[i].Lag.fill(ps[i], es[i])
	}
	r.groupLag(ps)
	return nil
}

// firstReadings are the readings a history without any takes at the start
// of a report, one per stream, so that the report spans two; nil when the
// history has some.
func (h *History) firstReadings(ctx context.Context, src, tgt *pgx.Conn, streams []StreamStat) ([]*replication.Progress, error) {
	if h.readings > 0 {
		return nil, nil
	}
	out := make([]*replication.Progress, len(streams))
	for i, s := range streams {
		p, err := replication.ReadProgress(ctx, src, tgt, s.Name)
		if err != nil {
			return nil, err
		}
		out[i] = &p
	}
	return out, nil
}

func (l *Lag) fill(p replication.Progress, e replication.Estimate) {
	l.SourceReachable, l.est = p.SourceKnown, e
	if p.Received != 0 {
		l.Subscription, l.ReceivedLSN = true, p.Received.String()
	}
	l.LastMessageAge = p.LastMessageAge
	if p.SourceKnown {
		l.SourceLSN = p.Current.String()
	}
	if p.SourceKnown && p.Slot {
		l.ConfirmedLSN, l.CommittedLSN = p.Confirmed.String(), p.Committed().String()
		held := int64(0)
		if p.Current > p.Restart {
			held = int64(p.Current - p.Restart)
		}
		l.SlotWALBytes = &held
	}
	if e.PendingKnown {
		l.Bytes = &e.Pending
	}
	if e.Lag != nil {
		s := e.Lag.Seconds()
		l.Seconds, l.SecondsAtLeast = &s, e.LagAtLeast
	}
	l.InFlight = e.InFlight
	if e.Rate != nil {
		l.ApplyRate, l.RateWindow = e.Rate, e.RateWindow.Seconds()
	}
	if e.ETA != nil {
		s := e.ETA.Seconds()
		l.CatchUp = &s
	} else {
		l.CatchUpUnknown = e.Why
	}
}

// copyLag is the lag while the group copies or builds indexes: nothing is
// applied until streaming starts, so the oldest change waiting is as old
// as the copy.
func (r *Report) copyLag() {
	if r.Phase != group.Copying && r.Phase != group.Indexing {
		return
	}
	lags := []*Lag{&r.Lag}
	for i := range r.Streams {
		lags = append(lags, &r.Streams[i].Lag)
	}
	for _, l := range lags {
		if at := r.Compat.SyncStartedAt; at != nil {
			s := r.Time.Sub(*at).Seconds()
			l.Seconds, l.SecondsAtLeast = &s, false
		}
		l.CatchUp, l.CatchUpUnknown = nil, "streaming has not started"
	}
}

// lagText is the lag line. While the group copies or builds indexes there
// is no subscription yet, so "0 B lag, subscription not running" would
// mislead: what matters then is the WAL the slot holds and when streaming
// starts.
func (r Report) lagText() string {
	l := r.Lag
	if !l.SourceReachable {
		p := l.SourceProblem
		if p == "" {
			p = "unreachable"
		}
		return "source " + p + "; " + l.targetText()
	}
	var after string
	switch r.Phase {
	case group.Copying:
		after = "the copy and the index build"
	case group.Indexing:
		after = "the index build"
	}
	if after != "" {
		held := "unknown"
		if l.SlotWALBytes != nil {
			held = progress.Bytes(*l.SlotWALBytes)
		}
		return fmt.Sprintf("WAL held by the slot: %s; streaming starts after %s", held, after)
	}
	var parts []string
	if l.Bytes == nil {
		parts = append(parts, "no replication slot on the source")
	} else {
		parts = append(parts, progress.Bytes(*l.Bytes))
		if l.Seconds != nil {
			parts = append(parts, l.secondsText())
		}
	}
	return strings.Join(append(parts, l.targetText()), ", ")
}

func (l Lag) secondsText() string {
	if l.SecondsAtLeast {
		return fmt.Sprintf("at least %.1f s", *l.Seconds)
	}
	return fmt.Sprintf("%.1f s", *l.Seconds)
}

func (l Lag) targetText() string {
	var parts []string
	if l.ReceivedLSN != "" {
		parts = append(parts, "target received up to "+l.ReceivedLSN)
	}
	if l.LastMessageAge != nil {
		parts = append(parts, fmt.Sprintf("last message %.1f s ago", *l.LastMessageAge))
	}
	if !l.Subscription {
		parts = append(parts, "subscription not running")
	}
	return strings.Join(parts, ", ")
}

// writeCatchUp prints the transaction in flight and the catch-up estimate,
// for a streaming group.
func (r Report) writeCatchUp(w io.Writer) {
	l := r.Lag
	if !l.SourceReachable || l.Bytes == nil || r.Phase == group.Copying || r.Phase == group.Indexing {
		return
	}
	if f := l.InFlight; f != nil {
		fmt.Fprintf(w, "applying: a transaction of up to %s for %s\n",
			progress.Bytes(f.Bytes), progress.Seconds(seconds(f.Seconds)))
	}
	fmt.Fprintf(w, "catch-up: %s\n", l.CatchUpText())
}

// CatchUpText says when the target will have caught up, and at what rate.
func (l Lag) CatchUpText() string { return l.est.Text() }

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
