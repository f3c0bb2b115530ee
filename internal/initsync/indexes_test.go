package initsync

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

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
