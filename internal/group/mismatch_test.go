package group

import (
	"context"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestMismatches: a mismatch recorded twice is one row, new only the
// first time, that keeps when it was first seen; a table's pass that ends clears its rows mismatches it
// did not find again and leaves its neighbour samples alone; a range found
// healthy is cleared; tables that left the group take theirs along, and so
// does a deleted group. Metadata bootstrapped before the table existed has
// no mismatch to read, and gets the table at the first record.
func TestMismatches(t *testing.T) {
	env := pgtest.Get(t)
	db := env.NewDB(t, env.Target, "mismatch_test")
	ctx := context.Background()
	conn := db.Conn(t)
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatal(err)
	}
	db.Exec(t, `DROP TABLE pgvecrep.verify_mismatches`) // as an earlier version left it
	if _, err := Create(ctx, conn, "g"); err != nil {
		t.Fatal(err)
	}
	if ms, err := Mismatches(ctx, conn, "g"); err != nil || len(ms) != 0 {
		t.Fatalf("mismatches without the table: %v, %v", ms, err)
	}
	items, docs := pg.Name{Schema: "public", Name: "items"}, pg.Name{Schema: "a b", Name: `Dö"cs`}
	open := func(table pg.Name, kind, rng string) bool {
		t.Helper()
		isNew, err := OpenMismatch(ctx, conn, "g", Mismatch{Table: table, Kind: kind, Range: rng, Message: "differs " + rng})
		if err != nil {
			t.Fatal(err)
		}
		return isNew
	}
	ranges := func() string {
		t.Helper()
		ms, err := Mismatches(ctx, conn, "g")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range ms {
			out = append(out, m.Table.Name+" "+m.Kind+" "+m.Range)
		}
		return strings.Join(out, "; ")
	}
	if !open(items, MismatchRows, "(1000, 1500]") || open(items, MismatchRows, "(1000, 1500]") {
		t.Error("a mismatch is new the first time only")
	}
	open(items, MismatchRows, "(2000, 2500]")
	open(items, MismatchNeighbours, "10 nearest by emb <-> to key (7)")
	open(docs, MismatchRows, "whole table")
	if got := ranges(); got != `Dö"cs rows whole table; items rows (1000, 1500]; items rows (2000, 2500]; items neighbours 10 nearest by emb <-> to key (7)` {
		t.Errorf("open mismatches: %s", got)
	}
	ms, _ := Mismatches(ctx, conn, "g")
	if m := ms[1]; !m.LastSeen.After(m.FirstSeen) || m.Message != "differs (1000, 1500]" {
		t.Errorf("a mismatch seen twice: first %s, last %s, message %q", m.FirstSeen, m.LastSeen, m.Message)
	}

	gone, err := ClearMismatchesExcept(ctx, conn, "g", items, MismatchRows, []string{"(2000, 2500]"})
	if err != nil || strings.Join(gone, ",") != "(1000, 1500]" {
		t.Errorf("cleared at the end of a pass: %v, %v", gone, err)
	}
	if ok, err := ClearMismatch(ctx, conn, "g", items, "(2000, 2500]"); err != nil || !ok {
		t.Errorf("clear a healthy range: %v, %v", ok, err)
	}
	if ok, err := ClearMismatch(ctx, conn, "g", items, "(2000, 2500]"); err != nil || ok {
		t.Errorf("clear it again: %v, %v", ok, err)
	}
	if got := ranges(); got != `Dö"cs rows whole table; items neighbours 10 nearest by emb <-> to key (7)` {
		t.Errorf("after clearing: %s", got)
	}
	if err := ClearMismatchesOutside(ctx, conn, "g", []pg.Name{items}); err != nil {
		t.Fatal(err)
	}
	if got := ranges(); got != "items neighbours 10 nearest by emb <-> to key (7)" {
		t.Errorf("after docs left the group: %s", got)
	}
	if err := Delete(ctx, conn, "g"); err != nil {
		t.Fatal(err)
	}
	if n := db.QueryInt(t, "SELECT count(*) FROM pgvecrep.verify_mismatches"); n != 0 {
		t.Errorf("%d mismatch(es) outlived their group", n)
	}
}
