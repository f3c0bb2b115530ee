package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// buildProbe fires while an index or key of the small table is being built.
// The schedule starts it as soon as small is copied, usually while big
// still copies (the overlap this test is about); on a loaded machine big's
// copy may end first, so the kill lands in either phase and the test says
// which it saw.
const buildProbe = `SELECT count(*) FROM pg_stat_progress_create_index
WHERE datname = current_database() AND relid = 'small'::regclass`

// TestKillWhileCopiesAndBuildsOverlap kills pgvecrep with SIGKILL while one
// table's indexes are being built, and another table is (usually) still
// copying; the next start_sync cleans the broken group and ends with every
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
	killWhen(t, cmd, tgt, buildProbe, out)
	phase := tgt.QueryStrings(t, "SELECT phase FROM pgvecrep.groups WHERE name = 'k'")[0]
	if phase != "copying" && phase != "indexing" {
		t.Fatalf("group left in phase %q after kill -9, want copying or indexing:\n%s", phase, out.String())
	}
	t.Logf("killed in phase %s (copying: big's copy and small's build overlapped)", phase)

	r := rerun(t, src, tgt, "start_sync", "-g", "k", "--jobs", "2")
	if !strings.Contains(r.stdout, "left in phase "+phase) {
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
