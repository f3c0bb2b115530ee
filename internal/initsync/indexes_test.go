package initsync

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
)

// TestDeferredOrderIsPostdatas pins that saved definitions are restored in
// the same order postdata builds objects in (there is one order, not two),
// and that saving and loading a definition keeps what the build needs.
func TestDeferredOrderIsPostdatas(t *testing.T) {
	tbl := pg.Name{Schema: "public", Name: "My t"}
	objs := []postdata.Object{
		{Table: tbl, Name: "fk", Kind: postdata.Foreign, Def: "ALTER TABLE x"},
		{Table: tbl, Name: "btree", Kind: postdata.Index, Bytes: 900},
		{Table: tbl, Name: "hnsw", Kind: postdata.Vector, Bytes: 10},
		{Table: tbl, Name: "uq", Kind: postdata.Unique, Bytes: 1},
		{Table: tbl, Name: "pk", Kind: postdata.Primary, Bytes: 5},
	}
	var ds []group.Deferred
	for _, o := range objs {
		d := toDeferred(o)
		back, err := fromDeferred(d)
		if err != nil || back != o {
			t.Errorf("fromDeferred(toDeferred(%+v)) = %+v, %v", o, back, err)
		}
		ds = append(ds, d)
	}
	postdata.Sort(objs)
	var want, got []string
	for _, o := range objs {
		want = append(want, o.Name)
	}
	for _, d := range ordered(ds) {
		got = append(got, d.Name)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("ordered = %v, postdata order = %v", got, want)
	}
}
