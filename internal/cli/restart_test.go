package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/progress/vt"
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// TestStartSyncRestart reruns start_sync on a streaming group, then on a
// stopped one: the first is refused in one line, the second says that a
// restart copies everything anew and waits for --truncate-target; no output
// ever tells the user to TRUNCATE the live replica.
func TestStartSyncRestart(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ddl := `CREATE TABLE docs (id integer PRIMARY KEY, embedding vector(10) NOT NULL);`
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	insertRandom(t, src, "docs", 1, 50)
	mustRun(t, src, tgt, "bootstrap", "-g", "g1")
	mustRun(t, src, tgt, "start_sync", "-g", "g1")

	r := pgvecrep(t, src, tgt, "start_sync", "-g", "g1")
	if r.code != 1 || r.stdout != "" || r.stderr != "pgvecrep: group g1 is already streaming\n"+
		"hint: watch it with pgvecrep stats -g g1; to copy it anew, stop it (pgvecrep stop_sync -g g1) and start it again with --truncate-target\n" {
		t.Errorf("start_sync on a streaming group: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// config_check on the live group's tables explains instead of truncating.
	r = pgvecrep(t, src, tgt, "config_check")
	assertNoTruncate(t, "config_check while streaming", r)
	if !strings.Contains(r.stdout, "replica of group g1 (streaming)") {
		t.Errorf("config_check does not say the table is g1's replica:\n%s", r.stdout)
	}

	mustRun(t, src, tgt, "stop_sync", "-g", "g1")
	insertRandom(t, src, "docs", 51, 60) // written after the stop: only a re-copy brings them
	r = pgvecrep(t, src, tgt, "start_sync", "-g", "g1")
	assertNoTruncate(t, "start_sync on a stopped group", r)
	if r.code != 1 || !strings.Contains(r.stderr, "group g1 is stopped; starting it again empties its 1 table on the target and copies everything anew") ||
		!strings.Contains(r.stderr, "hint: to do that, run pgvecrep start_sync -g g1 --truncate-target") {
		t.Errorf("start_sync on a stopped group: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM docs"); n != 50 {
		t.Errorf("the refused restart changed the target: %d rows, want 50", n)
	}
	r = pgvecrep(t, src, tgt, "config_check")
	assertNoTruncate(t, "config_check after stop_sync", r)
	if !strings.Contains(r.stdout, "--truncate-target") {
		t.Errorf("config_check after stop_sync does not point at --truncate-target:\n%s", r.stdout)
	}

	stoppedCheckOnTerminal(t, src, tgt, 80)

	r = mustRun(t, src, tgt, "start_sync", "-g", "g1", "--truncate-target")
	if !strings.Contains(r.stdout, `emptied 1 table on the target: "public"."docs"`) {
		t.Errorf("start_sync --truncate-target does not say what it emptied:\n%s", r.stdout)
	}
	sum := `SELECT count(*)::text || ':' || md5(string_agg(id::text || embedding::text, ',' ORDER BY id)) FROM docs`
	if a, b := src.QueryStrings(t, sum)[0], tgt.QueryStrings(t, sum)[0]; a != b || !strings.HasPrefix(a, "60:") {
		t.Errorf("after the restart: source %s, target %s", a, b)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "g1")
	pgtest.AssertNoReplication(t, src, tgt)
}

func assertNoTruncate(t *testing.T, what string, r cliResult) {
	t.Helper()
	if strings.Contains(r.stdout+r.stderr, "TRUNCATE") {
		t.Errorf("%s suggests TRUNCATE of a group's table:\n%s%s", what, r.stdout, r.stderr)
	}
}

// stoppedCheckOnTerminal runs config_check in-process on the stopped group,
// its output on a pseudo-terminal of width columns, and checks the screen:
// no row is cut by the terminal's own wrap (each is shorter than the width),
// and the hint is on its own line with its words whole.
func stoppedCheckOnTerminal(t *testing.T, src, tgt pgtest.DB, width int) {
	t.Helper()
	term, err := vt.Open(width, 40)
	if err != nil {
		testenv.Need(t, "a pseudo-terminal", err)
	}
	defer term.Close()
	pgtest.RunCLITo(t.Context(), RunEnv, term.TTY, term.TTY, pgtest.URLs(src, tgt), "config_check")
	rows, err := term.Sync()
	screen := strings.Join(rows, "\n")
	if err != nil {
		t.Fatalf("%v:\n%s", err, screen)
	}
	for _, r := range rows {
		if len([]rune(r)) >= width {
			t.Errorf("a row fills the %d-column terminal: %q\n%s", width, r, screen)
		}
	}
	if !strings.Contains(screen, "hint: it holds the data of group g1 (stopped);") || !strings.Contains(screen, " --truncate-target,") {
		t.Errorf("the hint is not on its own line with whole words:\n%s", screen)
	}
}
