package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// overlapProbe counts a row on the target only while the large table is
// not copied yet and an index or key of the small one is being built at
// the same moment: the schedule's overlap. It never fires with a schedule
// that builds only after every copy. "Not copied yet" is the group's own
// record, not pg_stat_progress_copy: between the parts of a split copy no
// COPY runs for an instant, and a loaded machine's poll could miss the
// window where both views show a row.
const overlapProbe = `SELECT
  (SELECT count(*) FROM pgvecrep.tables WHERE table_name = 'big' AND state <> 'copied')
* (SELECT count(*) FROM pg_stat_progress_create_index
   WHERE datname = current_database() AND relid = 'small'::regclass)`

// TestKillWhileCopiesAndBuildsOverlap kills pgvecrep with SIGKILL while one
// table is still copying and another table's indexes are already being
// built; the next start_sync cleans the broken group and ends with every
// row, every index and the foreign key between the two tables.
func TestKillWhileCopiesAndBuildsOverlap(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	tables := `CREATE TABLE big (id bigint PRIMARY KEY, note text);
		CREATE TABLE small (id int PRIMARY KEY, big_id bigint REFERENCES big, v vector(16));`
	indexes := `CREATE INDEX big_note ON big (note);
		CREATE INDEX small_v ON small USING hnsw (v vector_l2_ops);`
	src.Exec(t, tables)
	tgt.Exec(t, tables+indexes)
	// big copies for a while; small copies at once and its HNSW build
	// takes a while, so the two overlap.
	src.Exec(t, `INSERT INTO big SELECT i, md5(i::text) || repeat('x', 400) FROM generate_series(1, 120000) i;
		INSERT INTO small SELECT i, i * 3, (SELECT array_agg(random())::vector FROM generate_series(1, 16) WHERE i > 0)
		FROM generate_series(1, 10000) i;`)
	out := &lockedBuffer{}
	cmd := startSync(t, src, tgt, out)
	killWhen(t, cmd, tgt, overlapProbe, out)
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pgvecrep.groups WHERE phase = 'copying'"); n != 1 {
		t.Errorf("group not left in phase copying after kill -9:\n%s", out.String())
	}

	r := rerun(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2")
	if !strings.Contains(r.stdout, "left in phase copying") {
		t.Errorf("rerun did not say it cleaned the broken group:\n%s", r.stdout)
	}
	for _, table := range []string{"big", "small"} {
		sum := `SELECT count(*)::text || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM ` + table + ` t`
		if a, b := src.QueryStrings(t, sum)[0], tgt.QueryStrings(t, sum)[0]; a != b {
			t.Errorf("%s after rerun: source %s, target %s", table, a, b)
		}
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname IN ('big_pkey', 'big_note', 'small_pkey', 'small_v') AND i.indisvalid`); n != 4 {
		t.Errorf("target has %d of the 4 indexes, valid", n)
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_constraint
		WHERE conrelid = 'small'::regclass AND contype = 'f' AND convalidated`); n != 1 {
		t.Errorf("target has %d validated foreign keys on small, want 1", n)
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"); n != 1 {
		t.Errorf("%d slots on the source, want exactly the group's one", n)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "k")
	pgtest.AssertNoReplication(t, src, tgt)
}
