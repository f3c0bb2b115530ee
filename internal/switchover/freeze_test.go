package switchover

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// frozen reports whether an insert into table on db fails with the freeze.
func frozen(t *testing.T, db pgtest.DB, table string) bool {
	t.Helper()
	_, err := db.Conn(t).Exec(context.Background(), "INSERT INTO "+table+" DEFAULT VALUES")
	if err != nil && pg.Code(err) != "25006" {
		t.Fatalf("insert into %s: %v", table, err)
	}
	return err != nil
}

// TestFreezeScopedToGroup freezes two groups on one source, sharing table
// c, and lifts them one at a time: lifting g1 leaves g2 frozen, c included.
func TestFreezeScopedToGroup(t *testing.T) {
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	ctx := context.Background()
	src.Exec(t, "CREATE TABLE a (id serial); CREATE TABLE b (id serial); CREATE TABLE c (id serial)")
	if err := Freeze(ctx, src.Conn(t), "g1", names("a", "c"), nil); err != nil {
		t.Fatal(err)
	}
	if err := Freeze(ctx, src.Conn(t), "g2", names("b", "c"), nil); err != nil {
		t.Fatal(err)
	}
	for _, tb := range []string{"a", "b", "c"} {
		if !frozen(t, src, tb) {
			t.Fatalf("%s is writable after both freezes", tb)
		}
	}
	if n, err := UnfreezeGroup(ctx, src.Conn(t), "g1"); err != nil || n != 2 {
		t.Fatalf("UnfreezeGroup(g1) = %d, %v; want 2 tables", n, err)
	}
	for tb, want := range map[string]bool{"a": false, "b": true, "c": true} {
		if got := frozen(t, src, tb); got != want {
			t.Errorf("after lifting g1: %s frozen = %v, want %v", tb, got, want)
		}
	}
	if n, err := UnfreezeGroup(ctx, src.Conn(t), "g2"); err != nil || n != 2 {
		t.Fatalf("UnfreezeGroup(g2) = %d, %v; want 2 tables", n, err)
	}
	for _, tb := range []string{"a", "b", "c"} {
		if frozen(t, src, tb) {
			t.Errorf("%s still frozen after both groups were lifted", tb)
		}
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgvecrep'"); n != 0 {
		t.Error("the pgvecrep schema stays on the source after the last freeze was lifted")
	}
}

// TestFailedSwitchoverKeepsOtherGroupFrozen: a switchover of group g that
// fails after its freeze lifts g's freeze only; another group's freeze on
// the same source stays.
func TestFailedSwitchoverKeepsOtherGroupFrozen(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	streaming(t, src, tgt)
	ctx := context.Background()
	src.Exec(t, "CREATE TABLE done (id serial)")
	if err := Freeze(ctx, src.Conn(t), "finished", names("done"), nil); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("injected")
	_, err := Run(ctx, src.Conn(t), tgt.Conn(t), Options{Group: "g", Out: out(),
		Hook: func(p string) error {
			if p == "after-freeze" {
				return boom
			}
			return nil
		}})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the injected error", err)
	}
	if frozen(t, src, "other") {
		t.Error("group g's table is still frozen after its switchover failed")
	}
	if !frozen(t, src, "done") {
		t.Error("the failed switchover of g lifted group finished's freeze")
	}
}

// TestFreezeRefusesForeignSchema: a pgvecrep schema on the source owned by
// another role is refused before any trigger is made.
func TestFreezeRefusesForeignSchema(t *testing.T) {
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	ctx := context.Background()
	role := "intruder_" + src.Name
	src.Role(t, role, "")
	src.Exec(t, "CREATE TABLE a (id serial)")
	src.Exec(t, "CREATE SCHEMA pgvecrep AUTHORIZATION "+role)
	err := Freeze(ctx, src.Conn(t), "g", names("a"), nil)
	if err == nil || !strings.Contains(err.Error(), role) || hint.Of(err) == "" {
		t.Errorf("Freeze with a schema owned by %s = %v; want an error naming the owner, with a hint", role, err)
	}
	if frozen(t, src, "a") {
		t.Error("a froze although the schema was refused")
	}
	src.Exec(t, "DROP SCHEMA pgvecrep CASCADE")
}

// names is tables in schema public.
func names(tables ...string) []pg.Name {
	out := make([]pg.Name, len(tables))
	for i, t := range tables {
		out[i] = pg.Name{Schema: "public", Name: t}
	}
	return out
}
