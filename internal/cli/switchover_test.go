package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestSwitchoverCLI: start_sync, switchover, the source refuses writes with
// the freeze's hint, cleanup --restore-source-writes lifts it.
func TestSwitchoverCLI(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ddl := `CREATE TABLE items (id serial PRIMARY KEY, embedding vector(3));`
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	src.Exec(t, `INSERT INTO items (embedding) SELECT format('[%s,1,2]', i)::vector FROM generate_series(1, 100) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "s")
	r := mustRun(t, src, tgt, "start_sync", "-g", "s")
	if last := lastLine(r.stdout); !regexp.MustCompile(`^streaming after \d+\.\d s\. Next: pgvecrep stats -g s --watch, then pgvecrep verify -g s$`).MatchString(last) {
		t.Errorf("start_sync ends with %q", last)
	}
	r = pgvecrep(t, src, tgt, "failover", "-g", "nope")
	assertUserError(t, r, "not found", "groups on the target")

	// One way: the test writes on both sides afterwards, which a reverse
	// stream would turn into a key conflict (switchback_test.go has it).
	r = mustRun(t, src, tgt, "switchover", "-g", "s", "--lag-delta-size", "100kB", "--skip-vacuum-analyze", "--no-reverse")
	for _, want := range []string{"Writes were frozen for", "The source stays frozen for writes",
		"Next: run pgvecrep verify -g s now, before the application writes to the target", "then point the application at the target", "To lift the freeze on the source: pgvecrep cleanup -g s --restore-source-writes"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("switchover's output lacks %q:\n%s", want, r.stdout)
		}
	}
	if err := src.Cluster.Exec(t.Context(), src.Name, "INSERT INTO items (embedding) VALUES ('[0,0,0]')"); err == nil ||
		!strings.Contains(err.Error(), "cannot execute INSERT in a read-only transaction") {
		t.Errorf("insert on the switched-over source: %v, want the freeze error", err)
	}
	if id := tgt.QueryInt(t, "INSERT INTO items (embedding) VALUES ('[0,0,0]') RETURNING id"); id != 101 {
		t.Errorf("next id on the target = %d, want 101 (from the source's sequence)", id)
	}
	r = pgvecrep(t, src, tgt, "switchover", "-g", "s")
	assertUserError(t, r, "not streaming", "stats")

	mustRun(t, src, tgt, "cleanup", "--restore-source-writes")
	src.Exec(t, "INSERT INTO items (embedding) VALUES ('[0,0,0]')")
	mustRun(t, src, tgt, "cleanup", "--everything")
	pgtest.AssertNoReplication(t, src, tgt)
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgvecrep'"); n != 0 {
		t.Errorf("pgvecrep schema left on the source")
	}
}
