package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/stats"
)

// openMismatches reads the verify mismatches stats --json reports, as
// "table range" strings.
func openMismatches(t *testing.T, src, tgt pgtest.DB) []string {
	t.Helper()
	r := mustRun(t, src, tgt, "stats", "-g", "d", "--json")
	var st struct {
		Pgvecrep struct {
			Mismatches []struct{ Table, Range, Kind string } `json:"verify_mismatches"`
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, r.stdout)
	}
	var out []string
	for _, m := range st.Pgvecrep.Mismatches {
		out = append(out, m.Table+" "+m.Range+" "+m.Kind)
	}
	return out
}

// scrapeText returns the whole /metrics page.
func scrapeText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFollowMismatchPersists: with a writer and follow running, a row
// deleted on the target behind replication's back becomes a mismatch that
// stats (text and --json), /metrics and notify (the event at once and
// once, the stats JSON at every tick) report with its table and key range. It lives
// in the metadata: follow stopped, stats still shows it. Repaired on the
// target, the next follow's pass finds the range healthy and it goes.
func TestFollowMismatchPersists(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	table := `CREATE TABLE items (id bigint PRIMARY KEY, note text)`
	src.Exec(t, table)
	tgt.Exec(t, table)
	src.Exec(t, `INSERT INTO items SELECT i, md5(i::text) FROM generate_series(1, 3000) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "d")
	mustRun(t, src, tgt, "start_sync", "-g", "d", "--jobs", "2")
	stopWriter := pgtest.StartWriter(t, src.URL, "items", 100_000)
	defer stopWriter()

	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(b))
	}))
	defer srv.Close()
	posted := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range bodies {
			if strings.Contains(b, s) {
				return true
			}
		}
		return false
	}
	args := []string{"-g", "d", "--interval", "0.2", "--verify-rate", "20", "--verify-chunk-rows", "500"}
	out, stop := startFollow(t, src, tgt, append(args, "--listen", "127.0.0.1:0", "-u", srv.URL, "-f", "0.2")...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("follow's output:\n%s", out.String())
		}
	})
	url := metricsURL(t, out)
	pgtest.WaitFor(t, "a full verification pass", func() bool { return scrape(t, url, "pgvecrep_verify_last_full_pass_timestamp_seconds") > 0 })
	if m := openMismatches(t, src, tgt); len(m) != 0 {
		t.Fatalf("mismatches on a healthy group under a writer: %v", m)
	}

	tgt.Exec(t, `SET session_replication_role = replica; DELETE FROM items WHERE id = 1234`)
	const want = "public.items (1000, 1500] rows"
	pgtest.WaitFor(t, "stats to report the mismatch", func() bool {
		m := openMismatches(t, src, tgt)
		return len(m) == 1 && m[0] == want
	})
	// stats writes text on a terminal only: the same report, written here.
	rep, err := stats.NewHistory().Collect(context.Background(), src.Conn(t), tgt.Conn(t), "d")
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	rep.WriteText(&text)
	if !strings.Contains(text.String(), "verify mismatch: public.items (1000, 1500] (rows, since ") {
		t.Errorf("stats' text does not name the mismatch:\n%s", text.String())
	}
	series := `pgvecrep_verify_mismatch{group="d",range="(1000, 1500]",table="public.items"} 1`
	if page := scrapeText(t, url); !strings.Contains(page, series) {
		t.Errorf("/metrics lacks %s", series)
	}
	pgtest.WaitFor(t, "notify to post the mismatch and the stats that hold it", func() bool {
		return posted(`"event":"verify_mismatch"`) && posted(`"verify_mismatches":[{"table":"public.items","range":"(1000, 1500]"`)
	})
	pgtest.WaitFor(t, "a later pass to find the mismatch again", func() bool {
		return strings.Contains(out.String(), `"range":"(1000, 1500]","message":"rows of public.items with key in (1000, 1500] differ between source and target after the lag drained","again":true`)
	})
	mu.Lock()
	events := 0
	for _, b := range bodies {
		events += strings.Count(b, `"event":"verify_mismatch"`)
	}
	mu.Unlock()
	if events != 1 {
		t.Errorf("notify posted the mismatch %d times, want once (found again, it is in the stats JSON)", events)
	}
	if code := stop(); code != 0 {
		t.Fatalf("follow stopped with exit %d", code)
	}
	if m := openMismatches(t, src, tgt); len(m) != 1 || m[0] != want {
		t.Errorf("with follow stopped, stats reports %v, want [%s]", m, want)
	}

	tgt.Exec(t, `SET session_replication_role = replica; INSERT INTO items VALUES (1234, md5('1234'))`)
	again, stopAgain := startFollow(t, src, tgt, args...)
	pgtest.WaitFor(t, "the repaired range to be cleared", func() bool { return len(openMismatches(t, src, tgt)) == 0 })
	if !strings.Contains(again.String(), "public.items (1000, 1500] matches again") {
		t.Errorf("the restarted follow did not say the mismatch cleared:\n%s", again.String())
	}
	if code := stopAgain(); code != 0 {
		t.Errorf("follow stopped with exit %d", code)
	}
}
