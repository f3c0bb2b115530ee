package localpg

import (
	"context"
	"errors"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// TestStartMajor starts a cluster of each version the cross-version tests
// use and checks that the server really is that version. A missing newer
// server fails, naming it (or skips under testenv's opt-out).
func TestStartMajor(t *testing.T) {
	requirePG(t)
	def, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	defMajor, err := BinMajor(def)
	if err != nil {
		t.Fatal(err)
	}
	for _, major := range []int{defMajor, 18} {
		if _, err := FindMajor(major); err != nil {
			if !errors.Is(err, ErrNoBinaries) {
				t.Errorf("FindMajor(%d) error %v does not wrap ErrNoBinaries", major, err)
			}
			if testenv.Required() {
				t.Fatal(err)
			}
			t.Logf("skipping PostgreSQL %d: %v", major, err)
			continue
		}
		ctx := context.Background()
		c, err := Start(ctx, Options{Major: major})
		if err != nil {
			t.Fatal(err)
		}
		conn, err := c.Connect(ctx, "postgres")
		if err != nil {
			_ = c.Stop()
			t.Fatal(err)
		}
		var num int
		err = conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int / 10000").Scan(&num)
		conn.Close(ctx)
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
		if err != nil || num != major || c.Major != major {
			t.Errorf("Start(Major: %d): server %d, Cluster.Major %d, err %v", major, num, c.Major, err)
		}
	}
	if _, err := FindMajor(1); err == nil {
		t.Error("FindMajor(1) found a PostgreSQL 1")
	}
}
