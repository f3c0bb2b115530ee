package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/progress/vt"
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// TestStartSyncOnTerminal runs a start_sync whose HNSW build takes seconds
// on a 60-column terminal and reads the screen while it builds and after it
// ends: the live block is at most one index line and one total, each
// shorter than the terminal, with its clock; no stale live line is left in
// the scrollback; the run ends with its total time and the next commands.
func TestStartSyncOnTerminal(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	const width = 60
	term, err := vt.Open(width, 24)
	if err != nil {
		testenv.Need(t, "a pseudo-terminal", err)
	}
	defer term.Close()
	cmd := startBigSyncTo(t, src, tgt, term.TTY, &lockedBuffer{})
	for i := 0; i < 3; i++ {
		time.Sleep(1500 * time.Millisecond)
		rows, err := term.Sync()
		if err != nil {
			t.Fatal(err)
		}
		var live []string
		for _, r := range rows {
			if strings.HasPrefix(r, "  ") {
				live = append(live, r)
			}
		}
		screen := strings.Join(rows, "\n")
		if len(live) > 2 || strings.Count(screen, "  index big_v") > 1 {
			t.Errorf("more live lines than builds running:\n%s", screen)
		}
		for _, r := range live {
			if len([]rune(r)) >= width || !strings.Contains(r, ":") {
				t.Errorf("live line %q: wider than %d columns or without a clock", r, width-1)
			}
		}
	}
	if code := exitCode(t, cmd, &lockedBuffer{}); code != 0 {
		rows, _ := term.Sync()
		t.Fatalf("start_sync exited %d:\n%s", code, strings.Join(rows, "\n"))
	}
	rows, err := term.Sync()
	screen := strings.Join(rows, "\n")
	if err != nil {
		t.Fatalf("%v:\n%s", err, screen)
	}
	for _, r := range rows {
		if strings.HasPrefix(r, "  ") {
			t.Errorf("a live line stayed on the screen: %q\n%s", r, screen)
		}
	}
	if strings.Count(screen, `built vector index "big_v"`) != 1 {
		t.Errorf("the build's permanent line is not there exactly once:\n%s", screen)
	}
	flat := strings.NewReplacer("\n", "", " ", "").Replace(screen)
	if !strings.Contains(flat, "Next:pgvecrepstats-gk--watch,thenpgvecrepverify-gk") || !strings.Contains(flat, "streamingafter") {
		t.Errorf("the run does not end with its time and the next commands:\n%s", screen)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "k")
}
