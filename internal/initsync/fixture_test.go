package initsync

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// newGroup is the common part of the tests' setups, once their tables
// exist: it connects to both databases, records group g1 on the target and
// returns Options for Start over the source's tables that filter selects,
// copying with mode. The run's output collects in the returned builder,
// and shows with -v.
func newGroup(t *testing.T, src, tgt pgtest.DB, filter catalog.Filter, mode string) (*pgx.Conn, *pgx.Conn, Options, *strings.Builder) {
	t.Helper()
	sconn, tconn := src.Conn(t), tgt.Conn(t)
	ctx := context.Background()
	if err := group.EnsureSchema(ctx, tconn); err != nil {
		t.Fatal(err)
	}
	if _, err := group.Create(ctx, tconn, "g1"); err != nil {
		t.Fatal(err)
	}
	tables, err := catalog.Tables(ctx, sconn, filter)
	if err != nil {
		t.Fatal(err)
	}
	out := &strings.Builder{}
	opts := Options{Group: "g1", Source: src.Config(t), Target: tgt.Config(t), SubscriptionConnInfo: src.URL,
		Tables: tables, CopyMode: mode, Out: out, PollInterval: 100 * time.Millisecond}
	if testing.Verbose() {
		opts.Out = io.MultiWriter(out, os.Stdout)
	}
	return sconn, tconn, opts, out
}
