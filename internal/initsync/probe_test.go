package initsync

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestUnreachableSubscriptionAddress: a typo in the port of the address the
// target uses to reach the source fails start_sync before anything is
// created or copied on either side, with the address in the error and
// without the password.
func TestUnreachableSubscriptionAddress(t *testing.T) {
	for _, mode := range []string{Native, Fast} {
		t.Run(mode, func(t *testing.T) {
			src, tgt, sconn, tconn, opts := setup(t, 50)
			opts.CopyMode = mode
			u, err := url.Parse(src.URL)
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(u.User.Username(), "typo-secret")
			u.Host = "127.0.0.1:1"
			opts.SubscriptionConnInfo = u.String()
			err = Start(context.Background(), sconn, tconn, opts)
			if err == nil {
				t.Fatal("start_sync with an unreachable subscription address succeeded")
			}
			if msg := err.Error(); !strings.Contains(msg, "127.0.0.1:1 ") || strings.Contains(msg, "typo-secret") {
				t.Errorf("error should name 127.0.0.1:1 and not the password: %v", err)
			}
			pgtest.AssertNoReplication(t, src, tgt)
			for _, q := range []string{"SELECT count(*) FROM pgvecrep.tables", "SELECT count(*) FROM pgvecrep.deferred_objects", "SELECT count(*) FROM test"} {
				if n := tgt.QueryInt(t, q); n != 0 {
					t.Errorf("%s = %d on the target, want 0", q, n)
				}
			}
			if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_indexes WHERE indexname = 'test_embedding_idx'"); n != 1 {
				t.Error("the target's vector index was touched")
			}
		})
	}
}
