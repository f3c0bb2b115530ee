package progress

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/event"
)

// TestEmitPlain renders events where no terminal is: a progress event is a
// timestamped line when its text changes, the outcome a line of its own,
// and an outcome without a message prints nothing.
func TestEmitPlain(t *testing.T) {
	var b bytes.Buffer
	p := New(&b)
	step := event.Event{Phase: event.Copy, Table: "public.a", Progress: true, Message: "public.a\t[##] 50%"}
	p.Emit(step)
	p.Emit(step) // unchanged: said once
	p.Emit(event.Event{Phase: event.Copy, Table: "public.a", Rows: 3, Message: "copied public.a: 3 rows"})
	p.Emit(event.Event{Phase: event.Copy})
	got := regexp.MustCompile(`(?m)^\[\d+:\d\d\.\d\] `).ReplaceAllString(b.String(), "")
	want := "public.a  [##] 50%\ncopied public.a: 3 rows\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if n := strings.Count(b.String(), "["); n != 3 {
		t.Errorf("%d timestamps or bars in:\n%s", n, b.String())
	}
}
