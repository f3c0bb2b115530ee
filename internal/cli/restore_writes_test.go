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

// TestRestoreSourceWritesEndsWayBack: after a switchover that left a
// reverse stream, cleanup -r without a group refuses (which groups' way
// back to end is the user's to say) and leaves the source frozen;
// --force lifts a freeze with a warning and keeps the stream; cleanup -g G
// -r ends G's way back on both sides, then lifts its freeze.
func TestRestoreSourceWritesEndsWayBack(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, roundTripDDL)
	src.Exec(t, `INSERT INTO items (embedding) SELECT format('[%s,1,2]', i)::vector FROM generate_series(1, 20) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "rw", "--copy-schema")
	mustRun(t, src, tgt, "start_sync", "-g", "rw")
	r := mustRun(t, src, tgt, "switchover", "-g", "rw")
	if want := "pgvecrep cleanup -g rw --restore-source-writes (this ends the way back)"; !strings.Contains(r.stdout, want) {
		t.Errorf("switchover's output lacks %q:\n%s", want, r.stdout)
	}
	write := func() error {
		return src.Cluster.Exec(t.Context(), src.Name, "INSERT INTO items (embedding) VALUES ('[1,1,1]')")
	}
	r = pgvecrep(t, src, tgt, "cleanup", "--restore-source-writes")
	if r.code == 0 {
		t.Errorf("cleanup -r without a group lifted the freeze while the reverse stream runs:\n%s", r.stdout)
	}
	for _, want := range []string{"pgvecrep_rw_rev", "hint:", "cleanup -g GROUP --restore-source-writes", "--force"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, r.stderr)
		}
	}
	if err := write(); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("the source took a write after the refused cleanup -r: %v", err)
	}

	r = mustRun(t, src, tgt, "cleanup", "-r", "-g", "rw", "--force")
	if !strings.Contains(r.stdout, "warning: --force: the source still follows the target through pgvecrep_rw_rev") || !strings.Contains(r.stdout, "on 2 table(s)") {
		t.Errorf("cleanup -r --force said:\n%s", r.stdout)
	}
	if err := write(); err != nil {
		t.Errorf("the source is still frozen after cleanup -r --force: %v", err)
	}

	// Frozen again (as the switchover left it): -g rw -r ends the way back
	// on both sides, then lifts the freeze.
	if err := switchover.Freeze(t.Context(), src.Conn(t), "rw", []pg.Name{{Schema: "public", Name: "items"}, {Schema: "public", Name: "other"}}, nil); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, src, tgt, "cleanup", "-g", "rw", "-r")
	if strings.Contains(r.stdout, "warning") || !strings.Contains(r.stdout, "Ended group rw's way back") || !strings.Contains(r.stdout, "on 2 table(s)") {
		t.Errorf("cleanup -g rw -r said:\n%s", r.stdout)
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_subscription WHERE subname = 'pgvecrep_rw_rev'"); n != 0 {
		t.Errorf("cleanup -r left the reverse subscription on the source")
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgvecrep_rw_rev'"); n != 0 {
		t.Errorf("cleanup -r left the reverse slot on the target")
	}
	if err := write(); err != nil {
		t.Errorf("the source is still frozen after cleanup -g rw -r: %v", err)
	}
}
