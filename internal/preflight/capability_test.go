package preflight

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/initsync"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestManagedSourceRole is what a managed service gives: a source role with
// LOGIN and REPLICATION that owns its tables and may CREATE in its database,
// but is no superuser. config_check finds nothing wrong, and start_sync runs
// end to end as that role, in both copy modes.
func TestManagedSourceRole(t *testing.T) {
	for _, mode := range []string{initsync.Native, initsync.Fast} {
		t.Run(mode, func(t *testing.T) { testManagedSourceRole(t, mode) })
	}
}

func testManagedSourceRole(t *testing.T, mode string) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	healthy(t, src, tgt)
	role := "app_" + mode
	src.Role(t, role, "LOGIN REPLICATION")
	src.Exec(t, "ALTER TABLE items OWNER TO "+role)
	src.Exec(t, "GRANT CREATE ON DATABASE "+pgx.Identifier{src.Name}.Sanitize()+" TO "+role)
	t.Cleanup(func() { // the role goes at cleanup; what it owns must go first
		_ = src.Cluster.Exec(context.Background(), src.Name, "DROP OWNED BY "+role+" CASCADE")
	})
	srcURL := withUser(t, src.URL, role)

	r := runChecked(t, Options{SourceURL: srcURL, TargetURL: tgt.URL}, src, tgt)
	// The one warning: a PostgreSQL 15 source lets only a superuser
	// subscribe, so a switchover would leave no way back.
	expect(t, r, want{"reverse", "warn", "source: the role cannot create a subscription"})
	if !r.OK() || r.Warnings() > 1 {
		t.Fatalf("config_check as %s: %d error(s), %d warning(s):\n%s", role, r.Problems(), r.Warnings(), table(r))
	}
	expect(t, r, want{"source_tables_privileges", "ok", "owns and may read all 1 selected table"})

	ctx := context.Background()
	sconn, err := pgx.Connect(ctx, srcURL)
	if err != nil {
		t.Fatal(err)
	}
	defer sconn.Close(ctx)
	tconn := tgt.Conn(t)
	if err := group.EnsureSchema(ctx, tconn); err != nil {
		t.Fatal(err)
	}
	if _, err := group.Create(ctx, tconn, "g"); err != nil {
		t.Fatal(err)
	}
	srcCfg, _ := pgx.ParseConfig(srcURL)
	tgtCfg, _ := pgx.ParseConfig(tgt.URL)
	err = initsync.Start(ctx, sconn, tconn, initsync.Options{Group: "g", Source: srcCfg, Target: tgtCfg,
		SubscriptionConnInfo: srcURL, Tables: r.Tables, CopyMode: mode, Out: io.Discard, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("start_sync as %s: %v", role, err)
	}
	if _, err := sconn.Exec(ctx, "INSERT INTO items (name) VALUES ('after the copy')"); err != nil {
		t.Fatal(err)
	}
	tgt.WaitCount(t, "items", src.QueryInt(t, "SELECT count(*) FROM items"))
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database() AND active"); n != 1 {
		t.Errorf("%d active slot(s) on the source, want the subscription's", n)
	}
}
