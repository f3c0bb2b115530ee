package upgrade

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestDowngradeWarns points pgvecrep from the 18 cluster to the 15 one.
// config_check must warn, naming the downgrade and its specific risks
// (pg_dump's SQL, objects the older server lacks), without calling it an
// error: logical replication works in that direction for plain tables,
// which start_sync then shows, with the 18 source's slot made a failover
// slot.
func TestDowngradeWarns(t *testing.T) {
	env := pgtest.Get(t)
	old, young := env.Pair(t)
	src, tgt := young, old
	versions(t, src, tgt, pgtest.Versions{Source: 18, Target: 15})
	ddl := `CREATE TABLE items (id int PRIMARY KEY, embedding vector(3) NOT NULL);`
	src.Exec(t, ddl)
	src.Exec(t, "INSERT INTO items SELECT i, ARRAY[i % 7, i % 11, 1]::real[]::vector FROM generate_series(1, 200) i")

	r := mustRun(t, src, tgt, "config_check", "--copy-schema", "--json")
	var rep struct {
		OK       bool `json:"ok"`
		Warnings int  `json:"warnings"`
		Findings []struct {
			Check, Status, Detail, Hint string
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("config_check --json: %v\n%s", err, r.stdout)
	}
	found := map[string]string{}
	for _, f := range rep.Findings {
		if f.Check == "versions" || f.Check == "pg_dump" {
			found[f.Check] = f.Status + ": " + f.Detail + " HINT " + f.Hint
		}
	}
	for check, wants := range map[string][]string{
		"versions": {"warn:", "downgrade", "PostgreSQL 15, older than the source's 18", "--copy-schema can fail", "transaction_timeout", "virtual generated columns", "HINT replicate into a PostgreSQL 18 or newer target"},
		"pg_dump":  {"warn:", "version 18", "target is 15"},
	} {
		for _, w := range wants {
			if !strings.Contains(found[check], w) {
				t.Errorf("%s finding lacks %q: %s", check, w, found[check])
			}
		}
	}
	if !rep.OK || rep.Warnings < 2 {
		t.Errorf("config_check ok=%t warnings=%d, want ok with the warnings", rep.OK, rep.Warnings)
	}

	// The risk is real: pg_dump 18's script does not run on 15. (When the
	// schema copy learns to leave out settings the target lacks, the
	// warning and this check change together.)
	r = run(t, src, tgt, "bootstrap", "-g", "down", "--copy-schema")
	if r.code == 0 || !strings.Contains(r.stderr, "transaction_timeout") {
		t.Errorf("bootstrap --copy-schema 18 -> 15 exited %d, want the transaction_timeout failure the warning names:\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_tables WHERE tablename = 'items'"); n != 0 {
		t.Errorf("the failed schema copy left %d table(s) on the target", n)
	}

	// With the schema made by hand the downgrade streams, and the slot on
	// the 18 source is a failover slot.
	tgt.Exec(t, ddl)
	mustRun(t, src, tgt, "bootstrap", "-g", "down")
	mustRun(t, src, tgt, "start_sync", "-g", "down")
	if got := src.QueryStrings(t, "SELECT failover::text FROM pg_replication_slots WHERE database = current_database()"); len(got) != 1 || got[0] != "true" {
		t.Errorf("slot failover on the 18 source = %v, want [true]", got)
	}
	src.Exec(t, "INSERT INTO items SELECT i, '[1,2,3]' FROM generate_series(201, 250) i")
	tgt.WaitCount(t, "items", 250)
	mustRun(t, src, tgt, "stop_sync", "-g", "down")
	mustRun(t, src, tgt, "cleanup", "--everything")
	pgtest.AssertNoReplication(t, src, tgt)
}
