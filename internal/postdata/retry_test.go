package postdata

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestDeadlockRetryCodes pins what a definition is run again for: only a
// deadlock victim (40P01). A lock timeout, a duplicate or a serialization
// failure is reported at once, and the retry pauses between attempts (it
// used to run again immediately).
func TestDeadlockRetryCodes(t *testing.T) {
	pgtest.Retries(t, deadlockRetry.Retryable, map[string]bool{"40P01": true, "55P03": false, "40001": false, "42P07": false, "23503": false})
	if deadlockRetry.Attempts != 3 || deadlockRetry.Pause <= 0 {
		t.Errorf("policy %+v, want 3 attempts with a pause", deadlockRetry)
	}
}

// TestBuildRetriesDeadlock makes PostgreSQL abort Build's foreign key as a
// deadlock victim: the test holds b, Build's ALTER TABLE locks a and waits
// for b, the test then asks for a. Build's session has the short
// deadlock_timeout, so it is the one that finds the deadlock and is aborted
// (40P01); the test's request is granted, the test lets both go, and the
// retry adds the key. Without the retry Build would fail.
func TestBuildRetriesDeadlock(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	ctx := context.Background()
	tgt.Exec(t, "CREATE TABLE a (id int PRIMARY KEY, b_id int); CREATE TABLE b (id int PRIMARY KEY)")
	tgt.Exec(t, "ALTER DATABASE "+pgx.Identifier{tgt.Name}.Sanitize()+" SET deadlock_timeout = '100ms'")
	holder := tgt.Conn(t)
	if _, err := holder.Exec(ctx, "SET deadlock_timeout = '10min'"); err != nil {
		t.Fatal(err)
	}
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE b IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- Build(ctx, []Object{{Table: name("a"), Name: "a_b_fk", Kind: group.ForeignKey,
			Def: "ALTER TABLE a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES b"}}, Options{Target: tgt.Config(t), Parallel: 1})
	}()
	pgtest.WaitFor(t, "Build to hold a and wait for b", func() bool {
		return tgt.QueryInt(t, `SELECT count(*) FROM pg_locks w JOIN pg_locks h ON h.pid = w.pid
			WHERE NOT w.granted AND w.relation = 'b'::regclass AND h.granted AND h.relation = 'a'::regclass`) == 1
	})
	if _, err := tx.Exec(ctx, "LOCK TABLE a IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatalf("the test's lock on a: %v (the test, not Build, was the deadlock victim)", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Build = %v, want the key added on the second attempt", err)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_constraint WHERE conname = 'a_b_fk' AND convalidated"); n != 1 {
		t.Error("the foreign key is not there")
	}
	pgtest.WaitFor(t, "the deadlock to be counted", func() bool {
		return tgt.QueryInt(t, "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()") == 1
	})
}
