package replication

import (
	"math"
	"testing"
	"time"
)

// reading is a Progress at second at of a test: the source at current,
// the slot confirmed at confirmed (its restart point at 500), the origin
// at origin, and, when
// applying > 0, a transaction applied for that many seconds.
func reading(at float64, current, confirmed, origin LSN, applying float64) Progress {
	p := Progress{At: time.Unix(1000, 0).Add(seconds(at)), SourceKnown: true, Slot: true, Current: current,
		Confirmed: confirmed, Restart: 500, Sent: current, Subscription: true, Worker: true, Received: confirmed, Origin: origin}
	if applying > 0 {
		p.Applying = &applying
	}
	return p
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// TestCommitted: the origin's progress counts as committed as soon as it
// passes the slot's confirmed flush (which moves only when the worker
// reports), and a transaction in flight takes the committed position back
// from a confirmed flush that ran ahead of it.
func TestCommitted(t *testing.T) {
	for _, tc := range []struct {
		name     string
		p        Progress
		want     LSN
		inFlight bool
	}{
		{"idle, confirmed ahead", reading(0, 1000, 1000, 400, 0), 1000, false},
		{"backlog, origin ahead", reading(0, 5000, 1000, 3000, 0), 3000, false},
		{"in flight, confirmed ran ahead", reading(0, 5000, 4990, 1000, 30), 1000, true},
		{"short transaction, origin known", reading(0, 5000, 4990, 4000, 0.01), 4000, false},
		{"in flight, origin unknown", reading(0, 5000, 4990, 0, 30), 500, true},
		{"short transaction, origin unknown", reading(0, 5000, 4990, 0, 0.2), 4990, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Committed(); got != tc.want {
				t.Errorf("Committed = %d, want %d", got, tc.want)
			}
			if got := tc.p.InFlight() != nil; got != tc.inFlight {
				t.Errorf("InFlight = %v, want %v", tc.p.InFlight(), tc.inFlight)
			}
		})
	}
}

// TestCatchupSteady: a target applying a backlog at 100 bytes/s gives that
// rate, the backlog divided by it as the ETA, and the time lag from when
// the source was where the target is now.
func TestCatchupSteady(t *testing.T) {
	var c Catchup
	var e Estimate
	// The source wrote 10000 bytes at 1000 bytes/s from second 0 to 10,
	// then stopped; the target commits 100 bytes/s from second 0.
	for s := 0.0; s <= 20; s++ {
		cur := LSN(min(s, 10) * 1000)
		e = c.Add(reading(s, cur, 0, LSN(s*100), 0))
	}
	if e.Rate == nil || !near(*e.Rate, 100, 0.01) || e.RateWindow != DefaultWindow {
		t.Fatalf("rate = %v over %s, want 100 over %s", e.Rate, e.RateWindow, DefaultWindow)
	}
	if e.Pending != 8000 || e.ETA == nil || *e.ETA != 80*time.Second {
		t.Errorf("pending %d, ETA %v; want 8000 and 80s", e.Pending, e.ETA)
	}
	// Committed 2000 was the source's position at second 2: 18 s ago.
	if e.Lag == nil || e.LagAtLeast || *e.Lag != 18*time.Second {
		t.Errorf("lag %v (at least %v), want 18s", e.Lag, e.LagAtLeast)
	}
}

// TestCatchupInFlight: while a large transaction is applied nothing is
// committed, so there is no ETA and the lag is at least as long as it has
// been applied; once it commits, its bytes count over the time it took,
// not over the window alone.
func TestCatchupInFlight(t *testing.T) {
	var c Catchup
	var e Estimate
	for s := 0.0; s <= 30; s++ {
		e = c.Add(reading(s, 50000, 49990, 1000, s+1))
	}
	if e.ETA != nil || e.Why == "" || e.InFlight == nil || e.InFlight.Bytes != 49000 {
		t.Errorf("in flight: ETA %v (%q), in flight %+v; want no ETA, a reason, 49000 bytes", e.ETA, e.Why, e.InFlight)
	}
	if e.Lag == nil || *e.Lag < 31*time.Second {
		t.Errorf("lag while in flight = %v, want at least 31s", e.Lag)
	}
	e = c.Add(reading(31, 50000, 50000, 50000, 0))
	if e.ETA == nil || *e.ETA != 0 || e.Rate == nil || *e.Rate > 49000/25.0 {
		t.Errorf("after the commit: ETA %v, rate %v; want 0 and the bytes spread over the transaction's time", e.ETA, e.Rate)
	}
}

// TestCatchupStalled: no apply worker, nothing committed: no ETA, and a
// lag that grows with the readings, as a lower bound.
func TestCatchupStalled(t *testing.T) {
	var c Catchup
	var e Estimate
	for s := 0.0; s <= 100; s += 5 {
		p := reading(s, 9000, 1000, 1000, 0)
		p.Worker = false
		e = c.Add(p)
	}
	if e.ETA != nil || e.Why != "no apply worker runs" {
		t.Errorf("ETA %v (%q), want none: no apply worker runs", e.ETA, e.Why)
	}
	if e.Lag == nil || !e.LagAtLeast || *e.Lag != 100*time.Second {
		t.Errorf("lag %v (at least %v), want at least 100s", e.Lag, e.LagAtLeast)
	}
	if len(c.samples) > maxSamples {
		t.Errorf("%d readings kept", len(c.samples))
	}
}

// TestCatchupNoSource: without the source nothing is pending as far as
// anyone can tell, and the estimate says why.
func TestCatchupNoSource(t *testing.T) {
	var c Catchup
	e := c.Add(Progress{At: time.Now(), Subscription: true})
	if e.PendingKnown || e.ETA != nil || e.Lag != nil || e.Why != "the source is not reachable" {
		t.Errorf("estimate without the source: %+v", e)
	}
}
