package upgrade

import (
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestUpgradeDDL propagates schema changes from a PostgreSQL 15 source to a
// PostgreSQL 18 target in stream order: a vector column added and filled in
// one statement stream, a default set, then a new table created, filled and
// picked up by apply_ddl_change (which refreshes the subscription).
func TestUpgradeDDL(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	versions(t, src, tgt, pgtest.Upgrade)
	src.Exec(t, `CREATE TABLE docs (id bigint PRIMARY KEY, note text);
		INSERT INTO docs SELECT i, 'n' || i FROM generate_series(1, 100) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "ddl", "--copy-schema")
	mustRun(t, src, tgt, "start_sync", "-g", "ddl", "--ddl", "auto")

	src.Exec(t, `ALTER TABLE docs ADD COLUMN emb vector(3)`)
	src.Exec(t, `ALTER TABLE docs ALTER COLUMN note SET DEFAULT 'none'`)
	src.Exec(t, `INSERT INTO docs (id, emb) SELECT i, ARRAY[i, 1, 2]::real[]::vector FROM generate_series(101, 150) i`)
	tgt.WaitCount(t, "docs", 150)
	const sum = `SELECT md5(string_agg(d::text, ',' ORDER BY id)) FROM docs d`
	if a, b := src.QueryStrings(t, sum)[0], tgt.QueryStrings(t, sum)[0]; a != b {
		t.Errorf("docs differ across 15 -> 18 after the schema change: %s vs %s", a, b)
	}

	src.Exec(t, `CREATE TABLE tags (id int PRIMARY KEY, tag text);
		INSERT INTO tags SELECT i, 't' || i FROM generate_series(1, 20) i`)
	pgtest.WaitFor(t, "tags to exist on the 18 target", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM pg_tables WHERE tablename = 'tags'") == 1
	})
	mustRun(t, src, tgt, "apply_ddl_change", "-g", "ddl")
	tgt.WaitCount(t, "tags", 20)

	mustRun(t, src, tgt, "stop_sync", "-g", "ddl")
	mustRun(t, src, tgt, "cleanup", "-g", "ddl")
	pgtest.AssertNoReplication(t, src, tgt)
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_event_trigger"); n != 0 {
		t.Errorf("%d event trigger(s) left on the 15 source", n)
	}
}
