package cli

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// syncBuffer is a bytes.Buffer that a running command writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestMetricsScrape runs the metrics command on a streaming group and
// scrapes /metrics as Prometheus would.
func TestMetricsScrape(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, emb vector(3))`)
	tgt.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, emb vector(3))`)
	src.Exec(t, `INSERT INTO items SELECT i, '[1,2,3]' FROM generate_series(1, 20) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "prom")
	mustRun(t, src, tgt, "start_sync", "-g", "prom")
	defer mustRun(t, src, tgt, "cleanup", "-g", "prom")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- pgtest.RunCLITo(ctx, RunEnv, &out, &errb, pgtest.URLs(src, tgt), "metrics", "-g", "prom", "--listen", "127.0.0.1:0")
	}()
	addr := regexp.MustCompile(`http://(\S+)/metrics`)
	pgtest.WaitFor(t, "the metrics server", func() bool { return addr.MatchString(out.String()) })
	url := "http://" + addr.FindStringSubmatch(out.String())[1] + "/metrics"
	is := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	// confirmed is where the group's slot has confirmed the target
	// committed, in bytes: the exported position lies between two readings.
	confirmed := func() float64 {
		return float64(src.QueryInt(t, `SELECT (confirmed_flush_lsn - '0/0')::bigint FROM pg_replication_slots WHERE database = current_database()`))
	}
	var lo, hi float64
	wants := map[string]func(float64) bool{
		`pgvecrep_up{group="prom"}`:                          is(1),
		`pgvecrep_source_up{group="prom"}`:                   is(1),
		`pgvecrep_phase{group="prom",phase="streaming"}`:     is(1),
		`pgvecrep_phase{group="prom",phase="copying"}`:       is(0),
		`pgvecrep_stalled{group="prom"}`:                     is(0),
		`pgvecrep_tables{group="prom",state="streaming"}`:    is(1),
		`pgvecrep_copied_rows_total{group="prom"}`:           is(20),
		`pgvecrep_lag_bytes{group="prom"}`:                   is(0),
		`pgvecrep_lag_seconds{group="prom"}`:                 is(0),
		`pgvecrep_apply_rate_bytes_per_second{group="prom"}`: func(v float64) bool { return v >= 0 },
		`pgvecrep_applied_wal_bytes_total{group="prom"}`:     func(v float64) bool { return v > 0 && lo <= v && v <= hi },
	}
	// An idle group that streams is caught up: no lag in bytes or
	// seconds. pgvecrep_lag_seconds is absent until the apply worker has
	// connected to the source (pg_stat_replication has no row before), the
	// apply rate needs two scrapes, and the server's own WAL (checkpoints)
	// moves the lag off 0 for a moment: scrape until every sample holds,
	// as a dashboard would see it settle. hi is read after each scrape, and
	// is the next scrape's lo.
	var wrong []string
	defer func() {
		if t.Failed() {
			t.Logf("wrong in the last scrape (applied WAL expected in [%.0f, %.0f]): %q", lo, hi, wrong)
		}
	}()
	hi = confirmed()
	scrapeUntil(t, url, "every sample to read as a caught-up streaming group", func(body string) bool {
		lo, hi = hi, confirmed()
		got := samples(body)
		wrong = wrong[:0]
		for k, ok := range wants {
			if v, there := got[k]; !there || !ok(v) {
				wrong = append(wrong, fmt.Sprintf("%s = %v (present %v)", k, v, there))
			}
		}
		return len(wrong) == 0
	})
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("metrics exited %d:\n%s", code, errb.String())
	}
}
