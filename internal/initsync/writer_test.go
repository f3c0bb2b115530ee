package initsync

import (
	"context"
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// churn inserts, updates and deletes rows on the source until stopped.
func churn(ctx context.Context, t *testing.T, url string, maxID int, ops *atomic.Int64) {
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Error(err)
		return
	}
	defer conn.Close(context.Background())
	r := rand.New(rand.NewSource(1))
	next := 1_000_000
	for ctx.Err() == nil {
		var sql string
		var arg int
		switch r.Intn(3) {
		case 0:
			next++
			sql, arg = `INSERT INTO test VALUES ($1, (SELECT array_agg(random()) FROM generate_series(1, 10))::real[]::vector)`, next
		case 1:
			sql, arg = `UPDATE test SET embedding = (SELECT array_agg(random()) FROM generate_series(1, 10))::real[]::vector WHERE id = $1`, 1+r.Intn(maxID)
		default:
			sql, arg = `DELETE FROM test WHERE id = $1`, 1+r.Intn(maxID)
		}
		if _, err := conn.Exec(context.Background(), sql, arg); err != nil {
			t.Errorf("writer: %v", err)
			return
		}
		ops.Add(1)
	}
}

// checksum is a fingerprint of the whole table's content.
func checksum(t *testing.T, db pgtest.DB) string {
	t.Helper()
	return db.QueryStrings(t, `SELECT count(*)::text || ':' || coalesce(md5(string_agg(id::text || '=' || embedding::text, ',' ORDER BY id)), '') FROM test`)[0]
}

// TestFastCopyWithWriter runs a writer on the source through the whole fast
// start_sync: after catch-up both sides are identical, nothing lost, nothing
// applied twice. The writer is waited for, not timed: changes land before
// the slot, while the tables are copied under its snapshot, and after
// start_sync returns.
func TestFastCopyWithWriter(t *testing.T) {
	src, tgt, sconn, tconn, opts := setup(t, 10000)
	opts.CopyMode = Fast
	opts.Jobs = 2
	ctx := context.Background()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var ops atomic.Int64
	wg.Add(1)
	go func() { defer wg.Done(); churn(wctx, t, src.URL, 10000, &ops) }()
	moreChanges := func(what string) {
		from := ops.Load()
		pgtest.WaitFor(t, "20 changes by the writer "+what, func() bool { return ops.Load() >= from+20 })
	}
	moreChanges("before start_sync")
	opts.Hook = func(p string) error {
		if p == "copying" {
			moreChanges("during the copy")
		}
		return nil
	}
	err := Start(ctx, sconn, tconn, opts)
	if err == nil {
		moreChanges("after start_sync")
	}
	stop()
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	want := checksum(t, src)
	var got string
	pgtest.WaitFor(t, "the target to catch up with the writer", func() bool {
		got = checksum(t, tgt)
		return got == want
	})
	t.Logf("%d concurrent changes, both sides %s", ops.Load(), want)
}

// TestTextFormatWhenVersionsDiffer: binary COPY carries a type's internal
// form, so a vector extension whose version differs between the sides must
// be copied as text, and the output must say why.
func TestTextFormatWhenVersionsDiffer(t *testing.T) {
	src, tgt, sconn, tconn, opts := setup(t, 300)
	// Pretend the target runs a newer pgvector (both clusters share one install).
	installed := src.QueryStrings(t, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")[0]
	newer := newerVersion(t, installed)
	tgt.Exec(t, "UPDATE pg_extension SET extversion = $1 WHERE extname = 'vector'", newer)
	var out strings.Builder
	opts.Out = &out
	opts.CopyMode = Fast
	if err := Start(context.Background(), sconn, tconn, opts); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("copying in text format: extension vector is %s on the source and %s on the target", installed, newer)
	if !strings.Contains(out.String(), want) {
		t.Errorf("output does not say why text format was used:\n%s", out.String())
	}
	if a, b := checksum(t, src), checksum(t, tgt); a != b {
		t.Errorf("text copy differs: source %s, target %s", a, b)
	}
}

// newerVersion bumps the last number of a version such as 0.8.0.
func newerVersion(t *testing.T, v string) string {
	t.Helper()
	i := strings.LastIndexByte(v, '.')
	n, err := strconv.Atoi(v[i+1:])
	if err != nil {
		t.Fatalf("pgvector version %q does not end in a number", v)
	}
	return v[:i+1] + strconv.Itoa(n+1)
}
