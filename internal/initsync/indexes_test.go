package initsync

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
)

// TestDeferredRoundTrip pins that saving and loading a definition keeps
// what the build needs (the restore order is postdata.Sort, see
// postdata.TestOrder).
func TestDeferredRoundTrip(t *testing.T) {
	tbl := pg.Name{Schema: "public", Name: "My t"}
	objs := []postdata.Object{
		{Table: tbl, Name: "fk", Kind: postdata.Foreign, Def: "ALTER TABLE x"},
		{Table: tbl, Name: "btree", Kind: postdata.Index, Bytes: 900},
		{Table: tbl, Name: "hnsw", Kind: postdata.Vector, Bytes: 10},
		{Table: tbl, Name: "uq", Kind: postdata.Unique, Bytes: 1},
		{Table: tbl, Name: "pk", Kind: postdata.Primary, Bytes: 5,
			Restore: []string{`ALTER TABLE public."My t" REPLICA IDENTITY USING INDEX pk`}},
		{Table: tbl, Name: "ck", Kind: postdata.Check, Def: "ALTER TABLE y NOT VALID"},
	}
	for _, o := range objs {
		d := toDeferred(o)
		if back := fromDeferred(d); !reflect.DeepEqual(back, o) {
			t.Errorf("fromDeferred(toDeferred(%+v)) = %+v", o, back)
		}
	}
}

// TestVectorTablesFirst pins the copy order: the tables with a vector index
// first, largest first, each split over the streams so it is in before the
// next one starts; then the other tables, largest first.
func TestVectorTablesFirst(t *testing.T) {
	tbl := func(name string, mb int64) catalog.Table {
		return catalog.Table{Name: pg.Name{Schema: "public", Name: name}, Bytes: mb << 20, Pages: mb << 20 / 8192}
	}
	tables := []catalog.Table{tbl("narrow", 40), tbl("small_vec", 2), tbl("orders", 30), tbl("vec128", 100), tbl("vec768", 150)}
	vectors := map[pg.Name]bool{tables[1].Name: true, tables[3].Name: true, tables[4].Name: true}
	var got []string
	for _, j := range vectorTablesFirst(tables, vectors, 2) {
		got = append(got, j.Table.Name)
	}
	want := []string{"vec768", "vec768", "vec128", "vec128", "small_vec", "narrow", "orders"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("copy order %v, want %v", got, want)
	}
}
