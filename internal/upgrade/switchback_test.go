package upgrade

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// missingOn counts the acknowledged ids db lacks.
func missingOn(t *testing.T, db pgtest.DB, acked []int64) int64 {
	t.Helper()
	ids := make([]string, len(acked))
	for i, id := range acked {
		ids[i] = fmt.Sprint(id)
	}
	return db.QueryInt(t, fmt.Sprintf(`SELECT count(*) FROM unnest('{%s}'::bigint[]) a(id)
		WHERE NOT EXISTS (SELECT 1 FROM items WHERE items.id = a.id)`, strings.Join(ids, ",")))
}

// TestUpgradeRoundTrip is the rollback of an upgrade, 15 -> 18 -> 15, with
// a writer in every phase: switchover to the 18 target leaves the 15 source
// following it (pgoutput from an 18 publisher to a 15 subscriber); a write
// made on 18 the moment switchover returns reaches 15; switchback with a
// writer on 18 loses nothing, the ordered checksums are equal, 15's
// sequence continues past every id 18 handed out, and the forward stream
// runs again. stop_sync and cleanup --everything then leave no slot,
// publication, subscription or trigger on either side.
func TestUpgradeRoundTrip(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	versions(t, src, tgt, pgtest.Upgrade)
	src.Exec(t, `CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3) NOT NULL);
		INSERT INTO items (embedding) SELECT ARRAY[i % 7, i % 11, i % 13]::real[]::vector FROM generate_series(1, 2000) i;
		CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops);`)
	mustRun(t, src, tgt, "bootstrap", "-g", "rb", "--copy-schema")
	stop1 := make(chan struct{})
	w1 := startWriter(t, src, stop1)
	t.Cleanup(func() { closeOnce(stop1); <-w1.done })
	mustRun(t, src, tgt, "start_sync", "-g", "rb")
	before := w1.count(t)
	pgtest.WaitFor(t, "rows written on 15 while streaming", func() bool { return w1.count(t) >= before+50 })

	r := mustRun(t, src, tgt, "switchover", "-g", "rb", "--lag-delta-size", "100kB", "--skip-vacuum-analyze")
	first := tgt.QueryInt(t, "INSERT INTO items (embedding) VALUES ('[9,9,9]') RETURNING id")
	if !strings.Contains(r.stdout, "pgvecrep switchback -g rb") {
		t.Errorf("switchover does not offer the way back:\n%s", r.stdout)
	}
	pgtest.WaitFor(t, "18's first write to reach 15", func() bool {
		return src.QueryInt(t, "SELECT count(*) FROM items WHERE id = $1", first) == 1
	})
	closeOnce(stop1)
	<-w1.done

	stop2 := make(chan struct{})
	w2 := startWriter(t, tgt, stop2)
	t.Cleanup(func() { closeOnce(stop2); <-w2.done })
	pgtest.WaitFor(t, "rows written on 18", func() bool { return w2.count(t) >= 100 })
	r = mustRun(t, src, tgt, "stats", "-g", "rb")
	if !strings.Contains(r.stdout, `"reverse":{"name":"pgvecrep_rb_rev","state":"streaming"`) {
		t.Errorf("stats does not show the reverse stream:\n%s", r.stdout)
	}
	r = mustRun(t, src, tgt, "switchback", "-g", "rb")
	<-w2.done // the freeze on 18 stops it
	if w2.err == nil || !strings.Contains(w2.err.Error(), "read-only transaction") {
		t.Errorf("the 18 writer stopped with %v, want the freeze error", w2.err)
	}
	t.Logf("round trip: %d rows on 15 before, %d on 18 after; switchback said:\n%s", len(w1.acked), len(w2.acked), r.stdout)

	acked := append(append([]int64{first}, w1.acked...), w2.acked...)
	if n := missingOn(t, src, acked); n != 0 {
		t.Errorf("%d acknowledged rows missing on 15 after the switchback", n)
	}
	const sum = "SELECT count(*) || ':' || md5(string_agg(id || ':' || embedding::text, ',' ORDER BY id)) FROM items"
	if a, b := src.QueryStrings(t, sum)[0], tgt.QueryStrings(t, sum)[0]; a != b {
		t.Errorf("ordered checksums differ: 15 %s, 18 %s", a, b)
	}
	maxID := tgt.QueryInt(t, "SELECT max(id) FROM items")
	next := src.QueryInt(t, "INSERT INTO items (embedding) VALUES ('[1,1,1]') RETURNING id")
	if next <= maxID {
		t.Errorf("next id on 15 = %d, want above 18's %d", next, maxID)
	}
	tgt.WaitCount(t, "items", src.QueryInt(t, "SELECT count(*) FROM items"))
	mustRun(t, src, tgt, "verify", "-g", "rb")

	mustRun(t, src, tgt, "stop_sync", "-g", "rb")
	mustRun(t, src, tgt, "cleanup", "--everything")
	pgtest.AssertNoReplication(t, src, tgt)
	for _, db := range []pgtest.DB{src, tgt} {
		if n := db.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()") +
			db.QueryInt(t, "SELECT count(*) FROM pg_publication") +
			db.QueryInt(t, "SELECT count(*) FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())") +
			db.QueryInt(t, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'pgvecrep%'"); n != 0 {
			t.Errorf("%d slot(s), publication(s), subscription(s) or trigger(s) left on %s", n, db.Name)
		}
	}
}

func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}
