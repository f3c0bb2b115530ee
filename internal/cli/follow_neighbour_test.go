package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestFollowNeighbourSamples runs follow's verifier with a nearest-neighbour
// sample after every chunk on a group with an HNSW-indexed column and a
// writer: a walk over every row as a query reports nothing on the healthy
// group, and a vector moved far away on the target behind replication's
// back is reported, as a sample near its row, within a bounded time.
func TestFollowNeighbourSamples(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	for _, db := range []pgtest.DB{src, tgt} {
		db.Exec(t, `CREATE TABLE items (id bigint PRIMARY KEY, emb vector(3))`)
		db.Exec(t, `CREATE INDEX items_emb ON items USING hnsw (emb vector_l2_ops)`)
	}
	src.Exec(t, `INSERT INTO items SELECT i, ARRAY[i % 17, i % 5, i]::real[]::vector FROM generate_series(1, 200) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "d")
	mustRun(t, src, tgt, "start_sync", "-g", "d")
	stopWriter := pgtest.StartWriter(t, src.URL, "items", 100_000)
	defer stopWriter()
	out, stop := startFollow(t, src, tgt, "-g", "d", "--interval", "0.2", "--verify-rate", "50",
		"--verify-chunk-rows", "100", "--verify-neighbour-every", "1", "--listen", "127.0.0.1:0")
	url := metricsURL(t, out)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("follow's output:\n%s", out.String())
		}
	})

	// 250 samples walk the 200 vectors once at least.
	pgtest.WaitFor(t, "250 neighbour samples", func() bool { return scrape(t, url, "pgvecrep_verify_neighbour_checks_total") >= 250 })
	if n := scrape(t, url, "pgvecrep_verify_neighbour_mismatches_total"); n != 0 || strings.Contains(out.String(), `"event":"mismatch"`) {
		t.Fatalf("%v neighbour mismatches on a healthy group:\n%s", n, out.String())
	}

	tgt.Exec(t, `SET session_replication_role = replica; UPDATE items SET emb = '[1000,1000,1000]' WHERE id = 77`)
	start := time.Now()
	pgtest.WaitFor(t, "the verifier to report the moved vector", func() bool {
		return strings.Contains(out.String(), `"range":"10 nearest by emb <-> to key (`)
	})
	t.Logf("neighbour mismatch reported %s after the update", time.Since(start).Round(time.Millisecond))
	if time.Since(start) > time.Minute {
		t.Errorf("the neighbour mismatch took %s to be reported", time.Since(start))
	}
	if n := scrape(t, url, "pgvecrep_verify_neighbour_mismatches_total"); n < 1 {
		t.Errorf("pgvecrep_verify_neighbour_mismatches_total = %v after a mismatch", n)
	}
	if code := stop(); code != 0 {
		t.Errorf("follow stopped with exit %d:\n%s", code, out.String())
	}
}
