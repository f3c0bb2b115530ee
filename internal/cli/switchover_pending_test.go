package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestSwitchoverPendingDDL: an HNSW index and a new table created on the
// source while a group streams (with a writer) leave work only
// apply_ddl_change finishes. Switchover refuses, names both and the
// command, and freezes nothing; --force goes ahead and says what the new
// primary lacks. apply_ddl_change afterwards builds the index and keeps the
// group's tables; verify then passes, and nothing suggests start_sync for
// the switched-over group.
func TestSwitchoverPendingDDL(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	items := `CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(3))`
	src.Exec(t, items)
	tgt.Exec(t, items)
	src.Exec(t, `INSERT INTO items SELECT i, ARRAY[i, 1, 2]::real[]::vector FROM generate_series(1, 500) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "g2")
	mustRun(t, src, tgt, "start_sync", "-g", "g2")
	stop := pgtest.StartWriter(t, src.URL, "items", 100_000)
	defer stop()
	src.Exec(t, `CREATE INDEX items_emb ON items USING hnsw (embedding vector_l2_ops)`)
	src.Exec(t, `CREATE TABLE extra (id int PRIMARY KEY)`)
	src.Exec(t, `INSERT INTO extra SELECT generate_series(1, 20)`)
	pgtest.WaitFor(t, "the index deferred and extra created on the target", func() bool {
		c := listDDLOf(t, src, tgt, "g2")
		return len(c) == 2 && c[0].Status == "deferred" && c[1].Status == "applied"
	})

	r := pgvecrep(t, src, tgt, "switchover", "-g", "g2", "--skip-vacuum-analyze")
	assertUserError(t, r, "items_emb", "apply_ddl_change -g g2")
	if !strings.Contains(r.stderr, "public.extra") {
		t.Errorf("the refusal does not name the new table:\n%s", r.stderr)
	}
	src.Exec(t, `INSERT INTO extra VALUES (21)`) // not frozen
	stop()

	r = mustRun(t, src, tgt, "switchover", "-g", "g2", "--skip-vacuum-analyze", "--force")
	for _, want := range []string{"The new primary lacks (--force):", "vector index public.items_emb", "apply_ddl_change -g g2", "table public.extra"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("switchover --force does not say %q:\n%s", want, r.stdout)
		}
	}
	r = mustRun(t, src, tgt, "apply_ddl_change", "-g", "g2")
	if !strings.Contains(r.stdout, "built index public.items_emb") || strings.Contains(r.stdout, "now has") {
		t.Errorf("apply_ddl_change after the switchover:\n%s", r.stdout)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE indexrelid = 'items_emb'::regclass AND indisvalid"); n != 1 {
		t.Error("items_emb is not built on the new primary")
	}
	var doc struct {
		Pgvecrep struct {
			Phase  string            `json:"phase"`
			Tables []json.RawMessage `json:"tables"`
		} `json:"pgvecrep"`
	}
	r = mustRun(t, src, tgt, "stats", "-g", "g2", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || doc.Pgvecrep.Phase != "switched_over" || len(doc.Pgvecrep.Tables) != 1 {
		t.Errorf("stats after apply_ddl_change: %v, phase %q, %d table(s); want switched_over with items", err, doc.Pgvecrep.Phase, len(doc.Pgvecrep.Tables))
	}
	r = pgvecrep(t, src, tgt, "verify", "-g", "g2")
	if r.code != 0 {
		t.Errorf("verify after the switchover: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, args := range [][]string{{"list_ddl_changes", "-g", "g2"}, {"stats", "-g", "g2"}, {"verify", "-g", "g2"}} {
		if r := pgvecrep(t, src, tgt, args...); strings.Contains(r.stdout+r.stderr, "start_sync") {
			t.Errorf("pgvecrep %s suggests start_sync on a switched-over group:\n%s%s", strings.Join(args, " "), r.stdout, r.stderr)
		}
	}
}
