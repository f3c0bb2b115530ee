package replication

import (
	"context"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestCreatePublicationViaRoot checks that ViaRoot, and only it, publishes
// a partitioned table through its root: the publication then lists the
// root, not its partitions, as the table whose rows it sends.
func TestCreatePublicationViaRoot(t *testing.T) {
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	ctx := context.Background()
	src.Exec(t, `CREATE TABLE p (id int PRIMARY KEY) PARTITION BY RANGE (id);
		CREATE TABLE p_1 PARTITION OF p FOR VALUES FROM (0) TO (10)`)
	conn := src.Conn(t)
	names := []pg.Name{{Schema: "public", Name: "p"}}
	for _, tt := range []struct {
		pub   string
		opts  PublicationOptions
		table string
	}{
		{"pgvecrep_root", PublicationOptions{ViaRoot: true}, "p"},
		{"pgvecrep_leaf", PublicationOptions{}, "p_1"},
	} {
		if err := CreatePublicationWith(ctx, conn, tt.pub, names, tt.opts); err != nil {
			t.Fatal(err)
		}
		got := src.QueryStrings(t, "SELECT tablename::text FROM pg_publication_tables WHERE pubname = $1", tt.pub)
		if len(got) != 1 || got[0] != tt.table {
			t.Errorf("%s publishes %v, want [%s]", tt.pub, got, tt.table)
		}
	}
}
