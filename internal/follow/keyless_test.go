package follow

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestKeylessSum: a keyless table's sums agree between two sides that hold
// the same rows in another physical order and with the columns in another
// order (the source's names are used on both), duplicates included, and
// disagree once one copy of a duplicate row, or one value, differs.
func TestKeylessSum(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE ev (id bigint, note text, emb vector(2));
INSERT INTO ev SELECT i % 700, md5(i::text), format('[%s,1]', i)::vector FROM generate_series(1, 1000) i;
INSERT INTO ev SELECT 5, 'twice', '[0,0]' FROM generate_series(1, 2)`)
	tgt.Exec(t, `CREATE TABLE ev (emb vector(2), note text, id bigint);
INSERT INTO ev (id, note, emb) SELECT i % 700, md5(i::text), format('[%s,1]', i)::vector FROM generate_series(1000, 1, -1) i;
INSERT INTO ev (id, note, emb) SELECT 5, 'twice', '[0,0]' FROM generate_series(1, 2)`)
	ctx := context.Background()
	sconn, tconn := src.Conn(t), tgt.Conn(t)
	ev := pg.Name{Schema: "public", Name: "ev"}
	cols, err := columns(ctx, sconn, ev)
	if err != nil {
		t.Fatal(err)
	}
	sum := func() (string, string) {
		t.Helper()
		a, err := keylessSum(ctx, sconn, ev, cols)
		if err != nil {
			t.Fatal(err)
		}
		b, err := keylessSum(ctx, tconn, ev, cols)
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
	if a, b := sum(); a != b {
		t.Fatalf("the same rows differ: %s vs %s", a, b)
	}
	tgt.Exec(t, `DELETE FROM ev WHERE ctid = (SELECT min(ctid) FROM ev WHERE note = 'twice')`)
	if a, b := sum(); a == b {
		t.Errorf("one copy of a duplicate row gone, and the sums agree: %s", a)
	}
	tgt.Exec(t, `INSERT INTO ev (id, note, emb) VALUES (5, 'twice', '[0,0.5]')`)
	if a, b := sum(); a == b || a[:4] != b[:4] {
		t.Errorf("one value changed: sums %s vs %s, want the same count and different sums", a, b)
	}
}

// TestKeylessCheckCost measures, for the README, what one keyless check
// costs the source at the size limit's default: the sums of a 100,000-row
// table (id, note, a 3-d vector), which a check takes twice on the
// source. It only measures (PGVECREP_MEASURE=1).
func TestKeylessCheckCost(t *testing.T) {
	if os.Getenv("PGVECREP_MEASURE") == "" {
		t.Skip("set PGVECREP_MEASURE=1 to measure a keyless check")
	}
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	src.Exec(t, `CREATE TABLE ev (id bigint, note text, emb vector(3));
INSERT INTO ev SELECT i, md5(i::text), ARRAY[i % 97, i % 13, i]::real[]::vector FROM generate_series(1, 100000) i`)
	src.Exec(t, `VACUUM ANALYZE ev`)
	ctx := context.Background()
	conn := src.Conn(t)
	ev := pg.Name{Schema: "public", Name: "ev"}
	cols, err := columns(ctx, conn, ev)
	if err != nil {
		t.Fatal(err)
	}
	const runs = 5
	var total time.Duration
	for i := 0; i < runs; i++ {
		start := time.Now()
		if _, err := keylessSum(ctx, conn, ev, cols); err != nil {
			t.Fatal(err)
		}
		total += time.Since(start)
	}
	t.Logf("keyless sums of 100,000 rows on the source: %s each (mean of %d)", (total / runs).Round(time.Millisecond), runs)
}
