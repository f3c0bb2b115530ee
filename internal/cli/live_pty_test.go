package cli

import (
	"strings"
	"testing"

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
	// Every screen from the start of the build to its end must hold: read
	// them until the build's permanent line is there, and at least one of
	// them must have shown the build live.
	live := 0
	pgtest.WaitFor(t, `the build of big_v to end on the screen`, func() bool {
		rows, err := term.Sync()
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, r := range rows {
			if strings.HasPrefix(r, "  ") {
				lines = append(lines, r)
			}
		}
		screen := strings.Join(rows, "\n")
		if len(lines) > 2 || strings.Count(screen, "  index big_v") > 1 {
			t.Fatalf("more live lines than builds running:\n%s", screen)
		}
		for _, r := range lines {
			if len([]rune(r)) >= width || !strings.Contains(r, ":") {
				t.Fatalf("live line %q: wider than %d columns or without a clock", r, width-1)
			}
		}
		if strings.Contains(screen, "  index big_v") {
			live++
		}
		return strings.Contains(screen, `built vector index "big_v"`)
	})
	if live == 0 {
		t.Error("no screen showed the build of big_v live")
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
