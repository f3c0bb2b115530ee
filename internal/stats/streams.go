package stats

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// StreamStat is one apply stream of the group (group.Group.StreamNames):
// its own publication, slot and subscription, all of that name. A group
// has one unless start_sync gave it more (--apply-workers); each then
// lags, stalls and fails on its own, and the group is only as far as its
// slowest one (see Report.Lag).
type StreamStat struct {
	Name string `json:"name"`
	// State is the stream's subscription on the target: "streaming" (an
	// apply worker runs), "disabled", "failing" (its apply or table-sync
	// worker keeps failing), "no worker" (enabled, but no apply worker
	// runs now: it is starting, or max_logical_replication_workers leaves
	// none for it) or "absent" (no subscription: before streaming starts,
	// after stop_sync).
	State string `json:"state"`
	// Lag is the stream's own, with the fields of the group's.
	Lag Lag `json:"lag"`
	// Health is the stream's subscription's; nil while it is absent.
	Health *replication.Health `json:"subscription_health,omitempty"`

	slowest bool // its lag is the group's (WriteText marks it)
}

// Stream states (StreamStat.State).
const (
	StreamStreaming = "streaming"
	StreamDisabled  = "disabled"
	StreamFailing   = "failing"
	StreamNoWorker  = "no worker"
	StreamAbsent    = "absent"
)

func streamState(h replication.Health) string {
	switch {
	case !h.Exists:
		return StreamAbsent
	case !h.Enabled:
		return StreamDisabled
	case h.Stalled:
		return StreamFailing
	case !h.Worker:
		return StreamNoWorker
	}
	return StreamStreaming
}

// streamHealth reads the health of every stream's subscription.
func streamHealth(ctx context.Context, tgt *pgx.Conn, streams []StreamStat) ([]replication.Health, error) {
	out := make([]replication.Health, len(streams))
	for i, s := range streams {
		h, err := replication.SubscriptionHealth(ctx, tgt, s.Name)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// setStreamHealth records each stream's health (hs, in the order of
// streams) and its state.
func setStreamHealth(streams []StreamStat, hs []replication.Health) {
	for i := range streams {
		streams[i].State = streamState(hs[i])
		if hs[i].Exists {
			streams[i].Health = &hs[i]
		}
	}
}

// mergeHealth is the group's health from its streams' (hs, stream 0
// first): stream 0's alone for a single stream, as before parallel apply.
// With more, a group applies everything only while every stream does, so
// it reads disabled, without a worker or stalled when any stream does
// (the reason naming the first such stream), and its error counters are
// the sums of the streams' (a sum of counters is one). A stream that is
// absent while stream 0 exists counts for nothing here: its lag shows it.
func mergeHealth(streams []StreamStat, hs []replication.Health) replication.Health {
	m := hs[0]
	if len(hs) == 1 {
		return m
	}
	if m.Stalled {
		m.Reason = fmt.Sprintf("apply stream %s: %s", streams[0].Name, m.Reason)
	}
	for i, h := range hs[1:] {
		if !h.Exists {
			continue
		}
		m.ApplyErrors += h.ApplyErrors
		m.SyncErrors += h.SyncErrors
		m.Enabled = m.Enabled && h.Enabled
		m.Worker = m.Worker && h.Worker
		if h.Stalled && !m.Stalled {
			m.Stalled, m.Reason = true, fmt.Sprintf("apply stream %s: %s", streams[i+1].Name, h.Reason)
		}
	}
	return m
}

// behind reports whether lag a is further behind than lag b: a lag that
// cannot be measured (no slot on a reachable source) is the furthest, then
// more bytes, more seconds, no subscription running, an older last
// message.
func behind(a, b Lag) bool {
	if (a.Bytes == nil) != (b.Bytes == nil) {
		return a.SourceReachable && a.Bytes == nil
	}
	if a.Bytes != nil && *a.Bytes != *b.Bytes {
		return *a.Bytes > *b.Bytes
	}
	if as, bs := orMinus(a.Seconds), orMinus(b.Seconds); as != bs {
		return as > bs
	}
	if a.Subscription != b.Subscription {
		return !a.Subscription
	}
	return orMinus(a.LastMessageAge) > orMinus(b.LastMessageAge)
}

func orMinus(v *float64) float64 {
	if v == nil {
		return -1
	}
	return *v
}

// groupLag makes the group's lag its slowest stream's: the target holds
// the source's changes up to a point only once every stream has applied
// them. Two fields are the group's own rather than that stream's: the
// confirmed position is the earliest any stream's slot has confirmed (so
// that pgvecrep_applied_wal_bytes_total never moves back when another
// stream becomes the slowest), and the WAL held is the most any slot holds
// (the source keeps its WAL from the oldest restart_lsn). ps are the
// streams' readings, in their order.
func (r *Report) groupLag(ps []replication.Progress) {
	w := 0
	for i := range r.Streams {
		if behind(r.Streams[i].Lag, r.Streams[w].Lag) {
			w = i
		}
	}
	r.Lag = r.Streams[w].Lag
	if len(r.Streams) == 1 {
		return
	}
	if l := r.Lag; l.SourceReachable && (l.Bytes == nil || *l.Bytes > 0) {
		r.Streams[w].slowest = true
	}
	var confirmed replication.LSN
	for i, p := range ps {
		if !p.SourceKnown || !p.Slot {
			continue
		}
		if confirmed == 0 || p.Confirmed < confirmed {
			confirmed = p.Confirmed
			r.Lag.ConfirmedLSN = p.Confirmed.String()
		}
		if held := r.Streams[i].Lag.SlotWALBytes; held != nil && (r.Lag.SlotWALBytes == nil || *held > *r.Lag.SlotWALBytes) {
			r.Lag.SlotWALBytes = held
		}
	}
}

// writeStreams prints one line per apply stream, for a group with more
// than one: the lag line above is the slowest one's.
func (r Report) writeStreams(w io.Writer) {
	if len(r.Streams) < 2 {
		return
	}
	copying := r.Phase == group.Copying || r.Phase == group.Indexing
	for _, s := range r.Streams {
		fmt.Fprintf(w, "  stream %s: %s\n", s.Name, s.text(copying))
	}
}

// text is the stream's line: while the group copies or builds indexes,
// the WAL its slot holds (as the lag line says then), else its lag.
func (s StreamStat) text(copying bool) string {
	var parts []string
	switch l := s.Lag; {
	case !l.SourceReachable:
		parts = append(parts, "lag unknown")
	case copying && l.SlotWALBytes != nil:
		parts = append(parts, "WAL held by the slot: "+progress.Bytes(*l.SlotWALBytes))
	case l.Bytes == nil:
		parts = append(parts, "no replication slot on the source")
	default:
		parts = append(parts, progress.Bytes(*l.Bytes))
		if l.Seconds != nil {
			parts = append(parts, l.secondsText())
		}
	}
	parts = append(parts, s.State)
	if s.Health != nil && s.Health.ApplyErrors+s.Health.SyncErrors > 0 {
		parts = append(parts, fmt.Sprintf("%d apply and %d sync errors so far", s.Health.ApplyErrors, s.Health.SyncErrors))
	}
	text := strings.Join(parts, ", ")
	if s.slowest {
		text += " (slowest)"
	}
	return text
}
