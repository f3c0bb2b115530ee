package group

import (
	"context"
	"errors"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestSelection saves a group's selection and reads it back, on metadata
// written before the selection column existed (read as no selection, and
// upgraded by the first reader), and an unknown group is ErrNotFound.
func TestSelection(t *testing.T) {
	env := pgtest.Get(t)
	_, db := env.Pair(t)
	conn := db.Conn(t)
	ctx := context.Background()
	db.Exec(t, splitLayout)
	db.Exec(t, `INSERT INTO pgvecrep.groups (name, phase, object_name) VALUES ('g', 'bootstrapped', 'pgvecrep_g')`)
	if s, err := LoadSelection(ctx, conn, "g"); err != nil || !s.Empty() {
		t.Fatalf("selection on the earlier layout = %+v, %v; want none", s, err)
	}
	want := Selection{Schemas: "app,audit", Exclude: `"Odd ""T"""`, CopyMode: "native", Role: "rds_superuser"}
	for range 2 {
		if err := SaveSelection(ctx, conn, "g", want); err != nil {
			t.Fatal(err)
		}
	}
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatalf("EnsureSchema on upgraded metadata: %v", err)
	}
	if got, err := LoadSelection(ctx, conn, "g"); err != nil || got != want {
		t.Errorf("selection read back as %+v, %v; want %+v", got, err, want)
	}
	if _, err := LoadSelection(ctx, conn, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("selection of an unknown group: %v, want ErrNotFound", err)
	}
}
