package cli

import (
	"strings"
	"syscall"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/progress/vt"
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// TestInterruptOnTerminal presses Ctrl-C while start_sync draws its live
// index lines on an 80-column terminal, and reads the screen a person sees:
// the rollback's lines are not indented, no progress bar is drawn after
// them, Go's "context canceled" appears nowhere, and the last two rows say
// it was interrupted and how to start again.
func TestInterruptOnTerminal(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	// Tall enough for the whole run: the rollback prints a line for each
	// object it restores, and on 24 rows the failure line scrolled away.
	term, err := vt.Open(80, 60)
	if err != nil {
		testenv.Need(t, "a pseudo-terminal", err)
	}
	defer term.Close()
	cmd := startBigSyncTo(t, src, tgt, term.TTY, &lockedBuffer{})
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, cmd, &lockedBuffer{}); code != interruptedCode {
		t.Errorf("exit code %d, want %d", code, interruptedCode)
	}
	rows, err := term.Sync()
	screen := strings.Join(rows, "\n")
	if err != nil {
		t.Fatalf("%v:\n%s", err, screen)
	}
	if strings.Contains(screen, "context canceled") {
		t.Errorf("the screen says context canceled:\n%s", screen)
	}
	// Lines wider than 80 columns wrap; compare text without spaces, so
	// that where the terminal broke a line does not matter.
	flat := strings.NewReplacer("\n", "", " ", "")
	failed := -1
	for i, r := range rows {
		if strings.Contains(r, "start_sync failed:") {
			failed = i
		}
	}
	if failed < 0 || !strings.HasPrefix(rows[failed], "[") ||
		!strings.Contains(flat.Replace(strings.Join(rows[failed:], "\n")), flat.Replace("interrupted (Ctrl-C); removing what it created")) {
		t.Fatalf("no unindented failure line that says Ctrl-C:\n%s", screen)
	}
	for _, r := range rows[failed:] {
		if strings.HasPrefix(r, "  ") || strings.Contains(r, "[#") || strings.Contains(r, "·]") {
			t.Errorf("a live progress line after the rollback began: %q\n%s", r, screen)
		}
	}
	last := -1
	for i, r := range rows {
		if r == "pgvecrep: interrupted (Ctrl-C)" {
			last = i
		}
	}
	want := "hint: what this run created was removed and the target's indexes restored (see above); start again with: pgvecrep start_sync -g k --jobs 2"
	if last < 0 || flat.Replace(strings.Join(rows[last+1:], "\n")) != flat.Replace(want) {
		t.Errorf("the screen does not end with the interruption and the next step:\n%s", screen)
	}
	pgtest.AssertNoReplication(t, src, tgt)
}
