package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/switchover"
)

// TestRestoreSourceWritesGroup freezes two groups on one source: cleanup
// --restore-source-writes -g lifts only the named group's freeze, and
// without a group it lifts the rest.
func TestRestoreSourceWritesGroup(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE a (id int); CREATE TABLE b (id int)`)
	conn := src.Conn(t)
	for g, table := range map[string]string{"g1": "public.a", "g2": "public.b"} {
		if err := switchover.Freeze(t.Context(), conn, g, []pg.Name{{Schema: "public", Name: strings.TrimPrefix(table, "public.")}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	insert := func(table string) error {
		return src.Cluster.Exec(t.Context(), src.Name, "INSERT INTO "+table+" VALUES (1)")
	}
	r := mustRun(t, src, tgt, "cleanup", "--restore-source-writes", "-g", "g1")
	if !strings.Contains(r.stdout, "on 1 table(s)") {
		t.Errorf("cleanup -g g1 output:\n%s", r.stdout)
	}
	if err := insert("a"); err != nil {
		t.Errorf("group g1's table is still frozen: %v", err)
	}
	if err := insert("b"); err == nil || !strings.Contains(err.Error(), "cannot execute INSERT in a read-only transaction") {
		t.Errorf("group g2's table accepted a write after g1's freeze was lifted: %v", err)
	}
	mustRun(t, src, tgt, "cleanup", "--restore-source-writes")
	if err := insert("b"); err != nil {
		t.Errorf("group g2's table is still frozen after lifting every freeze: %v", err)
	}
}
