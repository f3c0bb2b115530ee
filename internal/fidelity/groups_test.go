package fidelity

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestFidelityTwoGroups splits the fixed matrix between two groups of
// chosen tables in one schema, pg_easy_replicate's own README pattern, and
// changes the schema while both stream: a table neither group selects, and
// a column added to a table of each group. Neither group may pick up the
// new table, each must carry its own column in stream order, and both must
// end with the source's rows and schema, through their switchovers.
func TestFidelityTwoGroups(t *testing.T) {
	var groups [2][]table
	for i, tb := range fixedMatrix() {
		if tb.name == "t_cons" { // its key to t_pk would cross the groups
			continue
		}
		groups[i%2] = append(groups[i%2], tb)
	}
	all := append(append([]table{}, groups[0]...), groups[1]...)
	rng := rand.New(rand.NewPCG(3, 4))
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, "CREATE EXTENSION IF NOT EXISTS vector")
	src.Exec(t, "CREATE EXTENSION IF NOT EXISTS btree_gist")
	create(t, src, all)
	mustRun(t, src, tgt, "bootstrap", "-g", "g1", "--copy-schema")
	mustRun(t, src, tgt, "bootstrap", "-g", "g2")
	for i, g := range []string{"g1", "g2"} {
		mustRun(t, src, tgt, "start_sync", "-g", g, "-t", names(groups[i]))
	}

	src.Exec(t, "CREATE TABLE likes (id int PRIMARY KEY); INSERT INTO likes SELECT generate_series(1, 10)")
	for i := range groups {
		src.Exec(t, "ALTER TABLE "+groups[i][0].name+" ADD COLUMN score int DEFAULT 5")
	}
	for _, o := range round(rng, all, 2) {
		exec(t, src, o)
	}
	sameRows(t, src, tgt, all, "with two groups streaming after schema changes")
	if n := src.QueryInt(t, `SELECT count(*) FROM pg_publication_tables WHERE tablename = 'likes'`); n != 0 {
		t.Errorf("likes, which neither group selects, is in %d publication(s)", n)
	}
	for _, g := range []string{"g1", "g2"} {
		mustRun(t, src, tgt, "verify", "-g", g, "--schema-only")
	}
	for _, g := range []string{"g1", "g2"} {
		mustRun(t, src, tgt, "switchover", "-g", g)
	}
	sameRows(t, src, tgt, all, "after both switchovers")
}

// names is the -t list of tables.
func names(tables []table) string {
	var out []string
	for _, tb := range tables {
		out = append(out, tb.name)
		if tb.inherits {
			out = append(out, tb.name+"_child")
		}
	}
	return strings.Join(out, ",")
}
