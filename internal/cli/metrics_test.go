package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
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
	vars := map[string]string{"SOURCE_DB_URL": src.URL, "TARGET_DB_URL": tgt.URL}
	e := &Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return vars[k] }}
	done := make(chan int, 1)
	go func() { done <- e.run(ctx, []string{"metrics", "-g", "prom", "--listen", "127.0.0.1:0"}) }()
	addr := regexp.MustCompile(`http://(\S+)/metrics`)
	pgtest.WaitFor(t, "the metrics server", func() bool { return addr.MatchString(out.String()) })
	url := "http://" + addr.FindStringSubmatch(out.String())[1] + "/metrics"
	wants := []string{
		`pgvecrep_up{group="prom"} 1`,
		`pgvecrep_source_up{group="prom"} 1`,
		`pgvecrep_phase{group="prom",phase="streaming"} 1`,
		`pgvecrep_tables{group="prom",state="streaming"} 1`,
		`pgvecrep_lag_bytes{group="prom"} `,
		`pgvecrep_lag_seconds{group="prom"} `,
		`pgvecrep_applied_wal_bytes_total{group="prom"} `,
		`pgvecrep_apply_rate_bytes_per_second{group="prom"} `,
		`pgvecrep_copied_rows_total{group="prom"} `,
	}
	// pgvecrep_lag_seconds is absent until the apply worker has connected
	// to the source (pg_stat_replication has no row before), and the apply
	// rate needs two scrapes: scrape until every series is there, as
	// Prometheus would, instead of trusting the first two scrapes.
	var body string
	missing := func() []string {
		var m []string
		for _, want := range wants {
			if !strings.Contains(body, want) {
				m = append(m, want)
			}
		}
		return m
	}
	defer func() {
		if t.Failed() {
			t.Logf("the last scrape lacks %q:\n%s", missing(), body)
		}
	}()
	pgtest.WaitFor(t, "every series in a scrape", func() bool {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return len(missing()) == 0
	})
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("metrics exited %d:\n%s", code, errb.String())
	}
}
