package metrics

import (
	"context"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/replication"
	"github.com/pgvecrep/pgvecrep/internal/stats"
)

// TestCollectorStalled: a stalled group is what alerts read it as: stalled
// 1, its phase stalled, its error counters, its lag in seconds, and no
// catch-up estimate (unknown while nothing is applied).
func TestCollectorStalled(t *testing.T) {
	pending, secs := int64(9000), 42.0
	r := stats.Report{Group: "g", Phase: group.Stalled,
		Health: &replication.Health{Exists: true, Enabled: true, ApplyErrors: 3, SyncErrors: 1, Stalled: true},
		Lag:    stats.Lag{SourceReachable: true, Bytes: &pending, Seconds: &secs, ConfirmedLSN: "0/100"},
	}
	out := scrape(t, New("g", func(context.Context) (stats.Report, error) { return r, nil }, nil))
	for _, want := range []string{
		`pgvecrep_stalled{group="g"} 1`,
		`pgvecrep_phase{group="g",phase="stalled"} 1`,
		`pgvecrep_phase{group="g",phase="streaming"} 0`,
		`pgvecrep_apply_errors_total{group="g"} 3`,
		`pgvecrep_sync_errors_total{group="g"} 1`,
		`pgvecrep_lag_seconds{group="g"} 42`,
		`pgvecrep_lag_bytes{group="g"} 9000`,
		`pgvecrep_in_flight_bytes{group="g"} 0`,
		`# TYPE pgvecrep_apply_errors_total counter`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("scrape lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pgvecrep_catch_up_seconds{") {
		t.Errorf("a stalled group has a catch-up estimate:\n%s", out)
	}
}
