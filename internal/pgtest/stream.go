package pgtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Patience is how long WaitFor waits. Replication on a loaded two-core
// machine can take many seconds to catch up; the deadline is there only so
// that a condition that never comes true fails the test instead of hanging
// it, so it is generous.
const Patience = 3 * time.Minute

// WaitFor polls cond until it holds, and fails the test if it still does
// not after Patience. Tests wait for what they need instead of sleeping for
// a time that a slow machine may overrun; it is the tests' one polling loop.
// what names the condition as the failure should read ("the slot to be
// active"); cond may t.Fatal on an error, or t.Log what it saw last so that
// the failure shows it. It checks every 10 ms: the kill tests stop a run
// the moment a probe sees a phase, and a check that takes longer (a stats
// run) only spaces the checks out.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	const every = 10 * time.Millisecond
	start := time.Now()
	for n := 1; !cond(); n++ {
		if time.Since(start) > Patience {
			t.Fatalf("gave up waiting for %s: still not so after %s (%d checks, one every %s)", what, Patience, n, every)
		}
		time.Sleep(every)
	}
}

// WaitCount waits until table on d has want rows.
func (d DB) WaitCount(t testing.TB, table string, want int64) {
	t.Helper()
	conn := d.Conn(t)
	var n int64
	WaitFor(t, fmt.Sprintf("%d rows in %s on %s", want, table, d.Name), func() bool {
		if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
			t.Fatalf("count %s on %s: %v", table, d.Name, err)
		}
		return n == want
	})
}

// Config parses the database's URL, for code that opens its own connections.
func (d DB) Config(t testing.TB) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(d.URL)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Stream describes native logical replication from a source database to a
// target database, set up by hand for tests whose subject is not start_sync.
type Stream struct {
	// Publication and Subscription name the objects; both are required.
	Publication, Subscription string
	// Tables are the published tables, quoted; empty publishes all tables.
	Tables []string
	// CopyData makes the subscription copy the source's rows; without it
	// the rows must already be on both sides.
	CopyData bool
}

// fastLauncher makes the target's launcher start an apply worker within
// 100ms of the previous one instead of 5s, which would otherwise be the
// price of every subscription after the first.
var fastLauncher sync.Once

// Stream creates the publication on src and the subscription on tgt, and
// returns once every table is synchronized and the apply worker streams.
// The subscription is dropped with the database at the end of the test.
func (e *Env) Stream(t testing.TB, src, tgt DB, s Stream) {
	t.Helper()
	fastLauncher.Do(func() {
		for _, sql := range []string{"ALTER SYSTEM SET wal_retrieve_retry_interval = '100ms'", "SELECT pg_reload_conf()"} {
			if err := e.Target.Exec(context.Background(), "postgres", sql); err != nil {
				t.Fatal(err)
			}
		}
	})
	what := "ALL TABLES"
	if len(s.Tables) > 0 {
		what = "TABLE " + strings.Join(s.Tables, ", ")
	}
	src.Exec(t, fmt.Sprintf("CREATE PUBLICATION %s FOR %s", pgx.Identifier{s.Publication}.Sanitize(), what))
	tgt.Exec(t, fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s WITH (copy_data = %t)",
		pgx.Identifier{s.Subscription}.Sanitize(), literal(src.URL), pgx.Identifier{s.Publication}.Sanitize(), s.CopyData))
	conn := tgt.Conn(t)
	WaitFor(t, "subscription "+s.Subscription+" to stream", func() bool {
		var pending, all, workers int
		err := conn.QueryRow(context.Background(), streamingQuery, s.Subscription).Scan(&pending, &all, &workers)
		if err != nil {
			t.Fatal(err)
		}
		return pending == 0 && all > 0 && workers == 1
	})
}

// streamingQuery counts the subscription's tables still synchronizing, all
// its tables, and its apply workers that have heard from the walsender.
const streamingQuery = `SELECT count(*) FILTER (WHERE r.srsubstate <> 'r'), count(*),
	(SELECT count(*) FROM pg_stat_subscription w WHERE w.subname = $1 AND w.relid IS NULL AND w.latest_end_lsn IS NOT NULL)
FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = $1`

// literal quotes s as an SQL string literal.
func literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
