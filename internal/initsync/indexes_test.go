package initsync

import (
	"testing"

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
		{Table: tbl, Name: "pk", Kind: postdata.Primary, Bytes: 5},
	}
	for _, o := range objs {
		d := toDeferred(o)
		if back := fromDeferred(d); back != o {
			t.Errorf("fromDeferred(toDeferred(%+v)) = %+v", o, back)
		}
	}
}
