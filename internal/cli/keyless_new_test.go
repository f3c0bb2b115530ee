package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestNewKeylessTableNamed: a table created with no key while a group
// streams is not published (its updates and deletes would then fail on the
// source), and is never lost in silence: stats names it, switchover refuses
// and names it, and once the user gives it a primary key, apply_ddl_change
// publishes it and copies its rows, and the switchover goes through with
// identical rows.
func TestNewKeylessTableNamed(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	items := `CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(3))`
	src.Exec(t, items)
	tgt.Exec(t, items)
	mustRun(t, src, tgt, "bootstrap", "-g", "kl")
	mustRun(t, src, tgt, "start_sync", "-g", "kl")
	src.Exec(t, `CREATE TABLE scratch (a int, b text)`)
	src.Exec(t, `INSERT INTO scratch VALUES (1, 'one'), (2, 'two')`)
	pgtest.WaitFor(t, "scratch created on the target", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM pg_class WHERE relname = 'scratch'") == 1
	})

	r := mustRun(t, src, tgt, "stats", "-g", "kl", "--json")
	if !strings.Contains(r.stdout, `"unreplicated_tables":["public.scratch"]`) {
		t.Errorf("stats does not name the keyless table:\n%s", r.stdout)
	}
	r = pgvecrep(t, src, tgt, "switchover", "-g", "kl", "--skip-vacuum-analyze")
	assertUserError(t, r, "public.scratch", "apply_ddl_change -g kl")
	if !strings.Contains(r.stderr, "without a primary key") {
		t.Errorf("the refusal does not say why scratch is not replicated:\n%s", r.stderr)
	}

	src.Exec(t, `ALTER TABLE scratch ADD PRIMARY KEY (a)`)
	r = mustRun(t, src, tgt, "apply_ddl_change", "-g", "kl")
	if !strings.Contains(r.stdout, "public.scratch") {
		t.Errorf("apply_ddl_change does not say it subscribed scratch:\n%s", r.stdout)
	}
	rows := `SELECT coalesce(string_agg(format('%s:%s', a, b), ',' ORDER BY a), '') FROM scratch`
	pgtest.WaitFor(t, "scratch's rows on the target", func() bool {
		return tgt.QueryStrings(t, rows)[0] == src.QueryStrings(t, rows)[0]
	})
	mustRun(t, src, tgt, "switchover", "-g", "kl", "--skip-vacuum-analyze")
	if n := tgt.QueryInt(t, "SELECT count(*) FROM scratch"); n != 2 {
		t.Errorf("the new primary has %d rows of scratch, want 2", n)
	}
}
