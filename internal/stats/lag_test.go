package stats

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// TestLagTextInFlight: a streaming group whose target is in the middle of
// a large transaction reads as such, with the lag counting it and the
// catch-up unknown, and says why.
func TestLagTextInFlight(t *testing.T) {
	applying := 12.0
	p := replication.Progress{At: time.Now(), SourceKnown: true, Slot: true, Current: 30 << 20, Confirmed: 30<<20 - 6000,
		Restart: 4 << 20, Sent: 30<<20 - 100, Subscription: true, Worker: true, Received: 30<<20 - 6000, Origin: 4 << 20, Applying: &applying}
	var c replication.Catchup
	c.Add(p)
	p.At = p.At.Add(2 * time.Second)
	r := Report{Group: "g", Phase: group.Streaming}
	r.Lag.fill(p, c.Add(p))
	var out bytes.Buffer
	r.WriteText(&out)
	for _, want := range []string{"lag: 26.0 MiB, at least 12.0 s", "applying: a transaction of up to 26.0 MiB for 12.0 s",
		"catch-up: unknown: nothing committed while the transaction in flight is applied"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q:\n%s", want, out.String())
		}
	}
	if r.Lag.Bytes == nil || *r.Lag.Bytes != 26<<20 || r.Lag.InFlight == nil || r.Lag.CatchUp != nil || r.Lag.CommittedLSN != "0/400000" {
		t.Errorf("lag = %+v", r.Lag)
	}
}

// TestRowsText: a count made now, an estimate, an earlier count kept while
// the table is locked, and no count at all.
func TestRowsText(t *testing.T) {
	age := 12.0
	for _, tc := range []struct {
		rows      int64
		estimated bool
		age       *float64
		why       string
		want      string
	}{
		{50, false, nil, "", "50"},
		{2_000_000, true, nil, "", "~2000000"},
		{50, false, &age, "table locked (waited 1s)", "50 (counted 12 s ago; now table locked (waited 1s))"},
		{48, true, nil, "table locked (waited 1s)", "unknown: table locked (waited 1s) (statistics say ~48)"},
	} {
		if got := rowsText(tc.rows, tc.estimated, tc.age, tc.why); got != tc.want {
			t.Errorf("rowsText(%d, %v, %v, %q) = %q, want %q", tc.rows, tc.estimated, tc.age, tc.why, got, tc.want)
		}
	}
}
