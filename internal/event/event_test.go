package event

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestLog checks the JSON consumer: one object per event, the message as
// msg with tabs turned into spaces, zero fields left out, and an event
// without a message (a live line's end) not logged at all.
func TestLog(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Event
		want string // the record without time and level
	}{
		{"outcome", Event{Phase: Copy, Table: "public.docs", Rows: 300, Bytes: 17421, Duration: 1500 * time.Millisecond, Message: "copied public.docs"},
			`{"msg":"copied public.docs","phase":"copy","table":"public.docs","rows":300,"bytes":17421,"seconds":1.5}`},
		{"progress", Event{Phase: Index, Table: "public.docs", Index: "docs_v", Message: "index docs_v\tloading 50%", Progress: true},
			`{"msg":"index docs_v  loading 50%","phase":"index","table":"public.docs","index":"docs_v","progress":true}`},
		{"bare", Event{Phase: Done, Message: "done"}, `{"msg":"done","phase":"done"}`},
		{"no message", Event{Phase: Copy}, ``},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			drop := func(groups []string, a slog.Attr) slog.Attr {
				if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
					return slog.Attr{}
				}
				return a
			}
			Log{L: slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: drop}))}.Emit(tc.in)
			got := strings.TrimSuffix(b.String(), "\n")
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if got != "" && !json.Valid([]byte(got)) {
				t.Errorf("not JSON: %s", got)
			}
		})
	}
}

// TestKey checks that a step's progress and its outcome share a key, and
// that a step about no table sorts after the tables' steps.
func TestKey(t *testing.T) {
	running := Event{Phase: Copy, Table: "public.a", Progress: true}
	done := Event{Phase: Copy, Table: "public.a", Rows: 3}
	if running.Key() != done.Key() {
		t.Errorf("progress key %q, outcome key %q", running.Key(), done.Key())
	}
	total := Event{Phase: Copy}
	last := Event{Phase: Index, Table: "z.z"}
	if !(running.Key() < total.Key()) || last.Key() > total.Key() {
		t.Errorf("keys %q, %q: the total does not sort last", running.Key(), total.Key())
	}
	if Live(Discard) {
		t.Error("Discard claims to draw live lines")
	}
}
