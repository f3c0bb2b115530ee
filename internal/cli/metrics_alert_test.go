package cli

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// exporter runs pgvecrep metrics for group and returns its /metrics URL;
// it stops when the test ends.
func exporter(t *testing.T, src, tgt pgtest.DB, group string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- pgtest.RunCLITo(ctx, RunEnv, &out, &errb, pgtest.URLs(src, tgt), "metrics", "-g", group, "--listen", "127.0.0.1:0")
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("metrics exited %d:\n%s", code, errb.String())
		}
	})
	addr := regexp.MustCompile(`http://(\S+)/metrics`)
	pgtest.WaitFor(t, "the metrics server", func() bool { return addr.MatchString(out.String()) })
	return "http://" + addr.FindStringSubmatch(out.String())[1] + "/metrics"
}

// samples reads a scrape's pgvecrep samples, `name{labels}` to value.
func samples(body string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(body, "\n") {
		if i := strings.LastIndexByte(line, ' '); i > 0 && strings.HasPrefix(line, "pgvecrep_") {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				out[line[:i]] = v
			}
		}
	}
	return out
}

// series reads one series' value from a scrape; ok is false when absent.
func series(body, name, group string) (float64, bool) {
	v, ok := samples(body)[name+`{group="`+group+`"}`]
	return v, ok
}

// scrapeUntil scrapes url, as Prometheus would, until cond holds, and
// returns that scrape.
func scrapeUntil(t *testing.T, url, what string, cond func(body string) bool) string {
	t.Helper()
	var body string
	defer func() {
		if t.Failed() {
			t.Logf("the last scrape:\n%s", body)
		}
	}()
	pgtest.WaitFor(t, what, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return cond(body)
	})
	return body
}

// TestMetricsStalledOnApplyError: a row on the target makes the source's
// insert a unique violation. The exporter then says so in the series an
// alert reads, pgvecrep_stalled 1 and pgvecrep_apply_errors_total above 0,
// with pgvecrep_lag_seconds still present (not gone with the apply
// worker) and pgvecrep_phase{phase="stalled"} 1; once the row is gone,
// pgvecrep_stalled is 0 again and the lag drains to 0.
func TestMetricsStalledOnApplyError(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	table := `CREATE TABLE items (id bigint PRIMARY KEY, note text)`
	src.Exec(t, table)
	tgt.Exec(t, table)
	mustRun(t, src, tgt, "bootstrap", "-g", "alert")
	mustRun(t, src, tgt, "start_sync", "-g", "alert", "--ddl", "off")
	defer mustRun(t, src, tgt, "cleanup", "-g", "alert")
	url := exporter(t, src, tgt, "alert")
	scrapeUntil(t, url, "a healthy group's series", func(b string) bool {
		stalled, ok1 := series(b, "pgvecrep_stalled", "alert")
		errs, ok2 := series(b, "pgvecrep_apply_errors_total", "alert")
		_, ok3 := series(b, "pgvecrep_lag_seconds", "alert")
		return ok1 && ok2 && ok3 && stalled == 0 && errs == 0
	})

	tgt.Exec(t, `INSERT INTO items VALUES (1, 'only on the target')`)
	src.Exec(t, `INSERT INTO items VALUES (1, 'from the source')`)
	start := time.Now()
	body := scrapeUntil(t, url, "pgvecrep_stalled 1", func(b string) bool {
		stalled, _ := series(b, "pgvecrep_stalled", "alert")
		return stalled == 1
	})
	t.Logf("stalled after %s", time.Since(start).Round(time.Millisecond))
	if errs, _ := series(body, "pgvecrep_apply_errors_total", "alert"); errs < 1 {
		t.Errorf("pgvecrep_apply_errors_total = %v with the group stalled, want 1 or more", errs)
	}
	if lag, ok := series(body, "pgvecrep_lag_seconds", "alert"); !ok || lag < 0 {
		t.Errorf("pgvecrep_lag_seconds = %v (present %v) while stalled, want a value", lag, ok)
	}
	if !regexp.MustCompile(`(?m)^pgvecrep_phase\{group="alert",phase="stalled"\} 1$`).MatchString(body) {
		t.Errorf("pgvecrep_phase{phase=\"stalled\"} is not 1 while stalled")
	}

	tgt.Exec(t, `DELETE FROM items WHERE id = 1`)
	scrapeUntil(t, url, "pgvecrep_stalled 0 and no lag once the row is gone", func(b string) bool {
		stalled, _ := series(b, "pgvecrep_stalled", "alert")
		lag, ok := series(b, "pgvecrep_lag_bytes", "alert")
		return stalled == 0 && ok && lag == 0
	})
}
