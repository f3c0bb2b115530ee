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
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestNotify runs notify against a real HTTP server on loopback that fails
// the first POST: the failure is logged, the next tick posts again, every
// body is the stats JSON, and cancelling (Ctrl-C's first stage) ends the
// command with exit 0.
func TestNotify(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, emb vector(3))`)
	tgt.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, emb vector(3))`)
	mustRun(t, src, tgt, "bootstrap", "-g", "hook")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var bodies []string
	var types []string
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			http.Error(w, "not today", http.StatusInternalServerError)
			return
		}
		bodies = append(bodies, string(b))
		types = append(types, r.Header.Get("Content-Type"))
		if len(bodies) == 2 {
			cancel()
		}
	}))
	defer srv.Close()

	r := runWith(ctx, t, pgtest.URLs(src, tgt), "notify", "-g", "hook", "-u", srv.URL+"/secret-token", "-f", "0.05", "-t", "5")
	code := r.code
	if code != 0 {
		t.Fatalf("notify exited %d:\n%s", code, r.stderr)
	}
	if !strings.Contains(r.stderr, "500 Internal Server Error") || !strings.Contains(r.stderr, "notify stopped") {
		t.Errorf("the failed POST or the stop is not logged:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "secret-token") {
		t.Errorf("the URL's path was logged:\n%s", r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 {
		t.Fatalf("%d bodies after the failure, want 2", len(bodies))
	}
	for i, b := range bodies {
		var m map[string]any
		if err := json.Unmarshal([]byte(b), &m); err != nil || types[i] != "application/json" {
			t.Fatalf("body %d (%s) is not the stats JSON: %v\n%s", i, types[i], err, b)
		}
		if _, ok := m["switchover_completed_at"]; !ok {
			t.Errorf("body %d lacks switchover_completed_at: %s", i, b)
		}
	}
}

func TestNotifyFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"notify", "-g", "g"}, "--url is required"},
		{[]string{"notify", "-g", "g", "-u", "hooks.example.com/x"}, "--url wants an http:// or https:// URL"},
		{[]string{"notify", "-g", "g", "-u", "http://h/x", "-f", "0"}, `--frequency wants a number of seconds > 0, got "0"`},
		{[]string{"notify", "-g", "g", "-u", "http://h/x", "--timeout", "soon"}, `--timeout wants a number of seconds > 0, got "soon"`},
	} {
		r := runOffline(t, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("pgvecrep %s: exit %d, want 2 and %q:\n%s", strings.Join(tc.args, " "), r.code, tc.msg, r.stderr)
		}
	}
}
