package preflight

import (
	"context"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestRunSkipsUnloggedAndTemporaryTables(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	healthy(t, src, tgt)
	src.Exec(t, `CREATE UNLOGGED TABLE cache (k int PRIMARY KEY, v text)`)
	// A temporary table lives as long as its session: keep one open.
	hold := src.Conn(t)
	if _, err := hold.Exec(context.Background(), `CREATE TEMPORARY TABLE scratch (x int)`); err != nil {
		t.Fatal(err)
	}
	for _, include := range [][]string{nil, {"items,cache"}} {
		o := Options{SourceURL: src.URL, TargetURL: tgt.URL}
		o.Filter.Include = include
		r := runChecked(t, o, src, tgt)
		if !r.OK() {
			t.Errorf("-t %v: an unlogged table made the checks fail; it should be skipped", include)
		}
		if len(r.Tables) != 1 || r.Tables[0].Name.Name != "items" {
			t.Errorf("-t %v: selected %v, want items only", include, r.Tables)
		}
		expect(t, r, want{"unlogged_tables", "warn", "1 unlogged table skipped"},
			want{"unlogged_tables", "warn", "public.cache"},
			want{"temporary_tables", "ok", "1 temporary table on the source skipped"})
	}
}

func TestRunLargeObjects(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	healthy(t, src, tgt)
	o := Options{SourceURL: src.URL, TargetURL: tgt.URL}
	expect(t, runChecked(t, o, src, tgt), want{"large_objects", "ok", "no large objects"})
	src.Exec(t, `SELECT lo_from_bytea(0, 'one'), lo_from_bytea(0, 'two'), lo_from_bytea(0, 'three')`)
	r := runChecked(t, o, src, tgt)
	expect(t, r, want{"large_objects", "warn", "3 large objects on the source"})
	if !r.OK() {
		t.Errorf("large objects are a warning, not an error")
	}
}
