package stats

import (
	"context"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// ReverseStat is the reverse direction a switchover left: the source
// following the target (the new primary) until switchback or stop_sync.
type ReverseStat struct {
	Name     string             `json:"name"`
	State    group.ReverseState `json:"state"`
	StartLSN string             `json:"start_lsn"`
	// LagBytes is how much of the target's WAL the source has not
	// committed; nil when the source cannot be asked.
	LagBytes *int64 `json:"lag_bytes,omitempty"`
	// LagSeconds is how long the oldest change made on the target that
	// the source has not committed has waited, 0 when none; a lower bound
	// when LagSecondsAtLeast (see Lag.Seconds, the forward one). nil when
	// the source cannot be asked.
	LagSeconds        *float64 `json:"lag_seconds,omitempty"`
	LagSecondsAtLeast bool     `json:"lag_seconds_at_least,omitempty"`
	// Health is the reverse subscription's on the source: its apply
	// errors say when a row or a schema change made on the target does
	// not apply there.
	Health *replication.Health `json:"subscription_health,omitempty"`
}

// reverse reads the group's reverse stream; nil when it has none. Its lag
// in time builds on h's earlier readings of it, as the forward lag does.
func (h *History) reverse(ctx context.Context, src, tgt *pgx.Conn, g group.Group) (*ReverseStat, error) {
	rev, ok, err := group.GetReverse(ctx, tgt, g.Name)
	if err != nil || !ok || rev.State == group.ReverseSwitchedBack {
		return nil, err
	}
	st := &ReverseStat{Name: rev.ObjectName, State: rev.State, StartLSN: rev.StartLSN}
	if src == nil {
		return st, nil
	}
	// The sides are swapped: the target publishes, the source applies.
	p, err := replication.ReadProgress(ctx, tgt, src, rev.ObjectName)
	if err != nil {
		return nil, err
	}
	e := h.reverseCatchup.Add(p)
	if e.PendingKnown {
		st.LagBytes = &e.Pending
	}
	if e.Lag != nil {
		s := e.Lag.Seconds()
		st.LagSeconds, st.LagSecondsAtLeast = &s, e.LagAtLeast
	}
	health, err := replication.SubscriptionHealth(ctx, src, rev.ObjectName)
	if err != nil {
		return nil, err
	}
	if health.Exists {
		st.Health = &health
	}
	return st, nil
}

// writeReverse adds the reverse direction to the text report.
func (r Report) writeReverse(w io.Writer) {
	v := r.Reverse
	if v == nil {
		return
	}
	lag := "unknown (source unreachable)"
	if v.LagBytes != nil {
		lag = progress.Bytes(*v.LagBytes)
	}
	if v.LagSeconds != nil {
		lag += ", " + Lag{Seconds: v.LagSeconds, SecondsAtLeast: v.LagSecondsAtLeast}.secondsText()
	}
	fmt.Fprintf(w, "reverse (the source follows the target): %s %s from %s, lag %s\n", v.Name, v.State, v.StartLSN, lag)
	switch h := v.Health; {
	case h == nil && v.LagBytes != nil:
		fmt.Fprintf(w, "  reverse subscription missing on the source: run pgvecrep switchback -g %s to finish it, or stop_sync to stay on the target\n", r.Group)
	case h != nil && h.Stalled:
		fmt.Fprintf(w, "  reverse apply STALLED: %s; a schema change made on the target must be made on the source too\n", h.Reason)
	case h != nil && h.ApplyErrors > 0:
		fmt.Fprintf(w, "  reverse apply errors so far: %d (applying now)\n", h.ApplyErrors)
	}
}
