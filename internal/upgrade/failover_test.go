package upgrade

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestUpgradeFailover ends a 15 -> 18 group by failover, as when the old
// primary dies in the middle of an upgrade: the 18 target stands alone
// without contacting the source, its sequence continues past every row it
// has, its HNSW index answers, the exact neighbours are the source's, and
// cleanup then removes the slot left on the old source.
func TestUpgradeFailover(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	versions(t, src, tgt, pgtest.Upgrade)
	src.Exec(t, `CREATE TABLE test (id bigserial PRIMARY KEY, embedding vector(10) NOT NULL);
		CREATE INDEX ON test USING hnsw (embedding vector_l2_ops);
		INSERT INTO test (embedding) SELECT (SELECT array_agg(random()) FROM generate_series(1, 10) WHERE i > 0)::real[]::vector
		FROM generate_series(1, 400) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "up", "--copy-schema")
	mustRun(t, src, tgt, "start_sync", "-g", "up")
	src.Exec(t, `INSERT INTO test (embedding) SELECT (SELECT array_agg(random()) FROM generate_series(1, 10) WHERE i > 0)::real[]::vector
		FROM generate_series(1, 100) i`)
	tgt.WaitCount(t, "test", 500)
	want := topTen(t, src, "test")

	r := mustRun(t, src, tgt, "failover", "-g", "up", "--json")
	var res map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("failover --json: %v\n%s", err, r.stdout)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_subscription WHERE subname LIKE 'pgvecrep%'"); n != 0 {
		t.Errorf("%d subscription(s) left on the 18 target after failover", n)
	}
	if got := topTen(t, tgt, "test"); got != want {
		t.Errorf("exact top 10 on the 18 target after failover %s, source had %s", got, want)
	}
	if id := tgt.QueryInt(t, "INSERT INTO test (embedding) VALUES ('[0,0,0,0,0,0,0,0,0,1]') RETURNING id"); id <= 500 {
		t.Errorf("next id on the 18 target = %d, want past the 500 rows it has", id)
	}
	if n := tgt.IndexScan(t, "SELECT id FROM test ORDER BY embedding <-> '"+probe+"' LIMIT 10", "test_embedding_idx"); n != 10 {
		t.Errorf("the HNSW index scan on the 18 target returned %d rows, want 10", n)
	}
	if !strings.Contains(r.stdout+r.stderr, "pg_drop_replication_slot") {
		t.Errorf("failover does not say how to drop the slot left on the source:\n%s%s", r.stdout, r.stderr)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "up")
	pgtest.AssertNoReplication(t, src, tgt)
}
