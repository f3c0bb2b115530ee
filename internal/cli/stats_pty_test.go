package cli

import (
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/progress/vt"
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// streamItems makes group name stream a small table, items (50 rows, a
// vector column), through bootstrap and start_sync.
func streamItems(t *testing.T, src, tgt pgtest.DB, name string) {
	t.Helper()
	ddl := `CREATE TABLE items (id int PRIMARY KEY, emb vector(3))`
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	src.Exec(t, `INSERT INTO items SELECT i, '[1,2,3]' FROM generate_series(1, 50) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", name)
	mustRun(t, src, tgt, "start_sync", "-g", name)
}

// TestStatsWatchOnTerminal runs stats --watch on an 80-column terminal and
// reads the screen: the top row is a clock that says how often the report
// refreshes and how to stop it, the report is redrawn in place (after the
// clock has moved on there is still one clock row and one report), and
// Ctrl-C ends the watch with exit code 0 and without claiming to undo
// anything: stats changes nothing.
func TestStatsWatchOnTerminal(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	streamItems(t, src, tgt, "w")
	term, err := vt.Open(80, 24)
	if err != nil {
		testenv.Need(t, "a pseudo-terminal", err)
	}
	defer term.Close()
	cmd := subprocess(t, src, tgt, "stats", "-g", "w", "--watch", "--interval", "100ms")
	cmd.Stdout, cmd.Stderr = term.TTY, term.TTY
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var rows []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screen:\n%s", strings.Join(rows, "\n"))
		}
	})
	clock := regexp.MustCompile(`^(\d\d:\d\d:\d\d)  every 100ms  Ctrl-C to stop$`)
	first := ""
	pgtest.WaitFor(t, "a clock row on top that moves on", func() bool {
		if rows, err = term.Sync(); err != nil {
			t.Fatal(err)
		}
		var m []string
		if len(rows) > 0 {
			m = clock.FindStringSubmatch(rows[0])
		}
		if m != nil && first == "" {
			first = m[1]
		}
		return m != nil && m[1] != first
	})
	screen := strings.Join(rows, "\n")
	if n := len(regexp.MustCompile(`(?m)Ctrl-C to stop$`).FindAllString(screen, -1)); n != 1 {
		t.Errorf("%d clock rows on the screen, want 1: the report is not redrawn in place", n)
	}
	if strings.Count(screen, "group w: STREAMING") != 1 || !strings.Contains(screen, "public.items") {
		t.Errorf("the screen does not show the group's report once")
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(t, cmd, &lockedBuffer{}); code != 0 {
		t.Errorf("stats --watch exited %d after Ctrl-C, want 0", code)
	}
	if rows, err = term.Sync(); err != nil {
		t.Fatal(err)
	}
	if screen := strings.Join(rows, "\n"); strings.Contains(screen, "undoing") || strings.Contains(screen, "interrupted") {
		t.Errorf("stopping a read-only watch says it undoes something or was interrupted")
	}
	mustRun(t, src, tgt, "cleanup", "-g", "w")
}
