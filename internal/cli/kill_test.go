package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestKillDuringStartSync kills pgvecrep with SIGKILL while it copies, and
// again while it builds indexes; each time the next start_sync cleans the
// broken group (slot included) and completes with identical data.
func TestKillDuringStartSync(t *testing.T) {
	for _, tc := range []struct {
		phase, probe string
	}{
		{"copying", "SELECT count(*) FROM pg_stat_progress_copy WHERE datname = current_database() AND command = 'COPY FROM'"},
		{"indexing", indexingProbe},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			env := pgtest.Get(t)
			src, tgt := env.Pair(t)
			fillBig(t, src, tgt)
			out := &lockedBuffer{}
			cmd := startSync(t, src, tgt, out)
			killWhen(t, cmd, tgt, tc.probe, out)
			if n := tgt.QueryInt(t, "SELECT count(*) FROM pgvecrep.groups WHERE phase = $1", tc.phase); n != 1 {
				t.Errorf("group not left in phase %s after kill -9", tc.phase)
			}

			r := rerun(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2")
			if !strings.Contains(r.stdout, "left in phase "+tc.phase) {
				t.Errorf("rerun did not say it cleaned the broken group:\n%s", r.stdout)
			}
			if a, b := tableSum(t, src), tableSum(t, tgt); a != b {
				t.Errorf("after rerun: source %s, target %s", a, b)
			}
			if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"); n != 1 {
				t.Errorf("%d slots on the source, want exactly the group's one", n)
			}
			if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_indexes WHERE tablename = 'big' AND indexname IN ('big_v', 'big_note', 'big_pkey')"); n != 3 {
				t.Errorf("target has %d indexes on big, want 3", n)
			}
			mustRun(t, src, tgt, "cleanup", "-g", "k")
			pgtest.AssertNoReplication(t, src, tgt)
		})
	}
}

// indexingProbe fires while an index is being built in the test's database
// and the group has reached phase indexing: the keys of a table whose copy
// is done are built while other tables still copy (phase copying), and a
// loaded machine's poll could catch such a build first.
const indexingProbe = `SELECT count(*) FROM pg_stat_progress_create_index
WHERE datname = current_database() AND EXISTS (SELECT 1 FROM pgvecrep.groups WHERE phase = 'indexing')`
