package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// partedDDL is a hash-partitioned table with an HNSW index declared on the
// parent, built on the target as one partitioned index.
const partedDDL = `CREATE TABLE parted (id bigint, v vector(4), note text, PRIMARY KEY (id)) PARTITION BY HASH (id);
CREATE TABLE parted_0 PARTITION OF parted FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE parted_1 PARTITION OF parted FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE parted_2 PARTITION OF parted FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE parted_3 PARTITION OF parted FOR VALUES WITH (MODULUS 4, REMAINDER 3);`

// TestKillPartitionedStartSync kills start_sync with SIGKILL while it copies
// the partitions, while it builds the partitioned indexes, and between two
// leaves of the leaf-by-leaf vector build; the next
// start_sync must clean up and finish with the same rows and every index
// (parent and partitions) valid.
func TestKillPartitionedStartSync(t *testing.T) {
	for _, tc := range []struct {
		phase, probe string
	}{
		{"copying", "SELECT count(*) FROM pg_stat_progress_copy WHERE datname = current_database() AND command = 'COPY FROM'"},
		{"indexing", "SELECT count(*) FROM pg_stat_progress_create_index WHERE datname = current_database() AND command = 'CREATE INDEX'"},
		// The HNSW index is built leaf by leaf: killed while a leaf builds
		// and another leaf's index is done, which the rerun must reuse or
		// drop, never keep beside a second one.
		{"indexing a leaf", `SELECT count(*) FROM pg_stat_progress_create_index p JOIN pg_class c ON c.oid = p.relid
			WHERE p.datname = current_database() AND c.relname LIKE 'parted\_%' AND EXISTS (SELECT 1 FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
			JOIN pg_am a ON a.oid = x.relam JOIN pg_class l ON l.oid = i.indrelid WHERE a.amname = 'hnsw' AND l.relname LIKE 'parted\_%')`},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			env := pgtest.Get(t)
			src, tgt := env.Pair(t)
			src.Exec(t, partedDDL)
			tgt.Exec(t, partedDDL+`CREATE INDEX parted_v ON parted USING hnsw (v vector_l2_ops);
				CREATE INDEX parted_note ON parted (note);`)
			src.Exec(t, vectorRows("parted"))
			out := &lockedBuffer{}
			cmd := startSync(t, src, tgt, out)
			killWhen(t, cmd, tgt, tc.probe, out)
			r := rerun(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2")
			if !strings.Contains(r.stdout, "left in phase") {
				t.Errorf("rerun did not say it cleaned the broken group:\n%s", r.stdout)
			}
			const sum = `SELECT count(*)::text || ':' || md5(string_agg(id::text || v::text || note, ',' ORDER BY id)) FROM parted`
			if a, b := src.QueryStrings(t, sum)[0], tgt.QueryStrings(t, sum)[0]; a != b {
				t.Errorf("after rerun: source %s, target %s", a, b)
			}
			// parent + 4 partitions for each of parted_v, parted_note, the key.
			if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid
				WHERE c.relname LIKE 'parted%' AND x.indisvalid`); n != 15 {
				t.Errorf("target has %d valid indexes on parted and its partitions, want 15", n)
			}
			if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"); n != 0 {
				t.Errorf("%d invalid index(es) on the target", n)
			}
			mustRun(t, src, tgt, "cleanup", "-g", "k")
			pgtest.AssertNoReplication(t, src, tgt)
		})
	}
}
