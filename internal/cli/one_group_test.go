package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestOneTableOneGroup: a table created while a whole-schema group streams
// is that group's (its publication has it, before any apply_ddl_change
// records it on the target). config_check -t for it fails, naming the
// group with a hint, and start_sync of a second group for it is refused
// and creates nothing. When the table's copy into the target keeps failing
// (rows already there), stats shows the table stalled, never copying, and
// the group STALLED, naming the other group that publishes the table.
func TestOneTableOneGroup(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	items := `CREATE TABLE items (id bigint PRIMARY KEY, note text)`
	src.Exec(t, items)
	tgt.Exec(t, items)
	mustRun(t, src, tgt, "bootstrap", "-g", "g1")
	mustRun(t, src, tgt, "start_sync", "-g", "g1")
	src.Exec(t, `CREATE TABLE docs (id int PRIMARY KEY, embedding vector(3))`)
	src.Exec(t, `INSERT INTO docs SELECT i, ARRAY[i, 1, 2]::real[]::vector FROM generate_series(1, 500) i`)
	src.Exec(t, `CREATE INDEX docs_emb ON docs USING hnsw (embedding vector_l2_ops)`)
	pgtest.WaitFor(t, "docs on the target", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM pg_tables WHERE tablename = 'docs'") == 1
	})

	r := pgvecrep(t, src, tgt, "config_check", "-t", "docs")
	if r.code != 1 || !strings.Contains(r.stdout, "table public.docs is replicated by group g1") ||
		!strings.Contains(r.stdout, "-e public.docs") {
		t.Errorf("config_check -t docs: exit %d, want 1 naming group g1 with a hint:\n%s", r.code, r.stdout)
	}
	mustRun(t, src, tgt, "bootstrap", "-g", "g2")
	r = pgvecrep(t, src, tgt, "start_sync", "-g", "g2", "-t", "docs")
	if r.code == 0 || !strings.Contains(r.stderr, "table public.docs is replicated by group g1") {
		t.Errorf("start_sync -g g2 -t docs: exit %d, want a refusal naming g1:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := src.QueryInt(t, `SELECT count(*) FROM pg_publication WHERE pubname = 'pgvecrep_g2'`); n != 0 {
		t.Error("the refused start_sync created a publication")
	}

	// The copy of docs into the target fails on a row the target has:
	// the table sync fails and retries without end.
	tgt.Exec(t, `INSERT INTO docs VALUES (1, '[0,0,0]')`)
	mustRun(t, src, tgt, "apply_ddl_change", "-g", "g1")
	src.Exec(t, `CREATE PUBLICATION pgvecrep_g2 FOR TABLE docs`) // as another group would have it
	var doc struct {
		Pgvecrep struct {
			Phase  string `json:"phase"`
			Tables []struct {
				Table string `json:"table"`
				State string `json:"state"`
			} `json:"tables"`
			Health struct {
				SyncErrors int64 `json:"sync_error_count"`
				Stalled    bool  `json:"stalled"`
			} `json:"subscription_health"`
			Stall *stallReport `json:"stall"`
		} `json:"pgvecrep"`
	}
	pgtest.WaitFor(t, "the sync of docs to fail", func() bool {
		r := mustRun(t, src, tgt, "stats", "-g", "g1", "--json")
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("stats --json: %v\n%s", err, r.stdout)
		}
		return doc.Pgvecrep.Health.SyncErrors > 0
	})
	p := doc.Pgvecrep
	for _, tb := range p.Tables {
		if tb.Table == "public.docs" && tb.State != "stalled" {
			t.Errorf("public.docs reads %q with %d sync error(s), want stalled", tb.State, p.Health.SyncErrors)
		}
	}
	if p.Phase != "stalled" || !p.Health.Stalled || p.Stall == nil || !strings.Contains(p.Stall.Reason, "public.docs") ||
		!strings.Contains(p.Stall.Hint, "group g2") {
		t.Errorf("stats: phase %q, health stalled %v, stall %+v; want stalled, naming public.docs and group g2", p.Phase, p.Health.Stalled, p.Stall)
	}
}
