package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// reverseSamples are the reverse stream's samples of one scrape, by name
// without the group label (state keeps its own).
func reverseSamples(body string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range samples(body) {
		if strings.HasPrefix(k, "pgvecrep_reverse_") {
			out[strings.Replace(strings.Replace(k, `group="rm",`, "", 1), `{group="rm"}`, "", 1)] = v
		}
	}
	return out
}

// firstNotifyBody runs notify until the first POST arrives and returns its body.
func firstNotifyBody(t *testing.T, src, tgt pgtest.DB, group string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case bodies <- b:
			cancel()
		default:
		}
	}))
	defer srv.Close()
	if r := runWith(ctx, t, pgtest.URLs(src, tgt), "notify", "-g", group, "-u", srv.URL, "-f", "0.05"); r.code != 0 {
		t.Fatalf("notify exited %d:\n%s", r.code, r.stderr)
	}
	select {
	case b := <-bodies:
		return b
	default:
		t.Fatal("notify posted nothing")
		return nil
	}
}

// TestReverseMetrics follows a switchover's reverse stream through the
// exporter: caught up (up, streaming, 0 bytes and 0 s of lag); held back
// by a lock on the source (the lag in bytes above 0 and no more than the
// target wrote since the stream's start, the lag in seconds growing past
// a second, still up); failing on a column only the target has (down, the
// apply errors counted) and back once the source has it; notify's JSON
// carries the same reverse section; after stop_sync no reverse series is
// left.
func TestReverseMetrics(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, roundTripDDL)
	src.Exec(t, `INSERT INTO items (embedding) SELECT format('[%s,1,2]', i)::vector FROM generate_series(1, 50) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "rm", "--copy-schema")
	mustRun(t, src, tgt, "start_sync", "-g", "rm")
	mustRun(t, src, tgt, "switchover", "-g", "rm")
	started := time.Now()
	url := exporter(t, src, tgt, "rm")

	var got map[string]float64
	check := func(want map[string]func(float64) bool) func(string) bool {
		return func(body string) bool {
			got = reverseSamples(body)
			for k, ok := range want {
				if v, there := got[k]; !there || !ok(v) {
					return false
				}
			}
			return true
		}
	}
	defer func() {
		if t.Failed() {
			t.Logf("reverse samples of the last scrape: %v", got)
		}
	}()
	is := func(want float64) func(float64) bool { return func(v float64) bool { return v == want } }
	streaming := map[string]func(float64) bool{
		`pgvecrep_reverse_up`:                       is(1),
		`pgvecrep_reverse_state{state="streaming"}`: is(1),
		`pgvecrep_reverse_state{state="preparing"}`: is(0),
		`pgvecrep_reverse_state{state="detaching"}`: is(0),
		`pgvecrep_reverse_apply_errors_total`:       is(0),
		`pgvecrep_reverse_lag_bytes`:                is(0),
		`pgvecrep_reverse_lag_seconds`:              is(0),
	}
	scrapeUntil(t, url, "the reverse stream caught up", check(streaming))

	// Held back: the source's apply waits for a lock.
	ctx := context.Background()
	hold := src.Conn(t)
	tx, err := hold.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE items IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	tgt.Exec(t, "INSERT INTO items (embedding) SELECT '[3,3,3]' FROM generate_series(1, 200)")
	written := func() float64 {
		return float64(tgt.QueryInt(t, "SELECT (pg_current_wal_lsn() - start_lsn::pg_lsn)::bigint FROM pgvecrep.reverse WHERE group_name = 'rm'"))
	}
	scrapeUntil(t, url, "the reverse lag to show the held-back rows", check(map[string]func(float64) bool{
		`pgvecrep_reverse_up`:          is(1),
		`pgvecrep_reverse_lag_bytes`:   func(v float64) bool { return v > 0 && v <= written() },
		`pgvecrep_reverse_lag_seconds`: func(v float64) bool { return v >= 1 && v <= time.Since(started).Seconds() },
	}))
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	scrapeUntil(t, url, "the reverse stream caught up again", check(streaming))

	body := firstNotifyBody(t, src, tgt, "rm")
	var doc struct {
		Pgvecrep struct {
			Reverse *struct {
				Name       string   `json:"name"`
				State      string   `json:"state"`
				LagBytes   *int64   `json:"lag_bytes"`
				LagSeconds *float64 `json:"lag_seconds"`
			} `json:"reverse"`
		} `json:"pgvecrep"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("notify's body: %v\n%s", err, body)
	}
	if rv := doc.Pgvecrep.Reverse; rv == nil || rv.Name != "pgvecrep_rm_rev" || rv.State != "streaming" || rv.LagBytes == nil || rv.LagSeconds == nil {
		t.Errorf("notify's body lacks the reverse stream with its lag: %s", body)
	}

	// Failing: a column only the target has.
	tgt.Exec(t, "ALTER TABLE items ADD COLUMN extra int")
	tgt.Exec(t, "INSERT INTO items (embedding, extra) VALUES ('[1,1,1]', 1)")
	scrapeUntil(t, url, "the failing reverse apply to show", check(map[string]func(float64) bool{
		`pgvecrep_reverse_up`:                 is(0),
		`pgvecrep_reverse_apply_errors_total`: func(v float64) bool { return v >= 1 },
		`pgvecrep_reverse_lag_bytes`:          func(v float64) bool { return v > 0 },
	}))
	src.Exec(t, "ALTER TABLE items ADD COLUMN extra int")
	recovered := map[string]func(float64) bool{}
	for k, v := range streaming {
		recovered[k] = v
	}
	recovered[`pgvecrep_reverse_apply_errors_total`] = func(v float64) bool { return v >= 1 }
	scrapeUntil(t, url, "the reverse apply to recover", check(recovered))

	mustRun(t, src, tgt, "stop_sync", "-g", "rm")
	scrapeUntil(t, url, "no reverse series after stop_sync", func(body string) bool {
		got = reverseSamples(body)
		_, up := series(body, "pgvecrep_up", "rm")
		return up && len(got) == 0
	})
}
