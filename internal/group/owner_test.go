package group

import (
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestMain starts the clusters, except for a fuzz run: its workers each run
// TestMain, and FuzzObjectName needs no database.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	os.Exit(pgtest.Main(m))
}

// TestForeignSchemaRefused: a pgvecrep schema that another role made first
// is refused by bootstrap (EnsureSchema) and by every read, with the owner
// named and a hint; one made by pgvecrep's own role is used.
func TestForeignSchemaRefused(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	ctx := context.Background()
	role := "intruder_" + tgt.Name
	tgt.Role(t, role, "")
	tgt.Exec(t, "CREATE SCHEMA pgvecrep AUTHORIZATION "+role)
	conn := tgt.Conn(t)
	check := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), role) || hint.Of(err) == "" {
			t.Errorf("%s with a schema owned by %s = %v; want an error naming the owner, with a hint", what, role, err)
		}
	}
	check("EnsureSchema", EnsureSchema(ctx, conn))
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_class WHERE relnamespace = 'pgvecrep'::regnamespace"); n != 0 {
		t.Errorf("EnsureSchema created %d relation(s) in the foreign schema", n)
	}
	_, err := Get(ctx, conn, "g")
	if errors.Is(err, ErrNotFound) {
		t.Errorf("Get = %v; want the foreign schema refused, not a missing group", err)
	}
	check("Get", err)
	_, err = List(ctx, conn)
	check("List", err)

	tgt.Exec(t, "DROP SCHEMA pgvecrep")
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatalf("EnsureSchema on a clean database: %v", err)
	}
	if _, err := Create(ctx, conn, "g"); err != nil {
		t.Fatalf("Create after EnsureSchema: %v", err)
	}
	if err := EnsureSchema(ctx, conn); err != nil {
		t.Fatalf("EnsureSchema a second time: %v", err)
	}
}
