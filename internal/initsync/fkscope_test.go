package initsync

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// scopeDDL has a table in app referencing one in shared, which a group
// replicating only schema app does not copy.
const scopeDDL = `
CREATE SCHEMA shared;
CREATE SCHEMA app;
CREATE TABLE shared.customers (id int PRIMARY KEY);
CREATE TABLE app.orders (id int PRIMARY KEY, customer int NOT NULL
    CONSTRAINT orders_customer_fkey REFERENCES shared.customers);
CREATE TABLE app.lines (id int PRIMARY KEY, order_id int NOT NULL
    CONSTRAINT lines_order_fkey REFERENCES app.orders);`

const fkState = `SELECT conname || '=' || convalidated::text FROM pg_constraint
	WHERE contype = 'f' AND connamespace = 'app'::regnamespace ORDER BY 1`

// TestForeignKeyOutsideGroup replicates schema app alone: the key that
// references shared.customers is built NOT VALID (its rows are not on the
// target), with a note; the key inside the group is validated; a failed run
// puts the original (validated) key back on the emptied table.
func TestForeignKeyOutsideGroup(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, scopeDDL)
	tgt.Exec(t, scopeDDL)
	src.Exec(t, `INSERT INTO shared.customers SELECT generate_series(1, 10);
		INSERT INTO app.orders SELECT i, 1 + i % 10 FROM generate_series(1, 200) i;
		INSERT INTO app.lines SELECT i, 1 + i % 200 FROM generate_series(1, 400) i`)
	sconn, tconn, opts, out := newGroup(t, src, tgt, catalog.Filter{Schema: "app"}, Fast)
	opts.Jobs = 2
	ctx := context.Background()
	const before = "lines_order_fkey=true orders_customer_fkey=true"
	boom := errors.New("injected failure")
	opts.Hook = func(p string) error {
		if p == "before-indexes" {
			return boom
		}
		return nil
	}
	if err := Start(ctx, sconn, tconn, opts); !errors.Is(err, boom) {
		t.Fatalf("Start = %v, want the injected failure\n%s", err, out.String())
	}
	if got := strings.Join(tgt.QueryStrings(t, fkState), " "); got != before {
		t.Errorf("foreign keys after a failed run: %s, want %s", got, before)
	}
	opts.Hook = nil
	out.Reset()
	if err := Start(ctx, sconn, tconn, opts); err != nil {
		t.Fatalf("start_sync: %v\n%s", err, out.String())
	}
	if got, want := strings.Join(tgt.QueryStrings(t, fkState), " "), "lines_order_fkey=true orders_customer_fkey=false"; got != want {
		t.Errorf("foreign keys = %s, want %s", got, want)
	}
	for _, s := range []string{`"orders_customer_fkey" on app.orders references shared.customers`, "VALIDATE CONSTRAINT"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM app.lines"); n != 400 {
		t.Errorf("app.lines has %d rows on the target, want 400", n)
	}
}
