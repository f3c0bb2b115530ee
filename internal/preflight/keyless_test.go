package preflight

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// touch runs writes on db and waits until pg_stat_user_tables shows them on
// table: statistics reach the shared view when the writing session flushes
// them, which pg_stat_force_next_flush makes it do at once.
func touch(t *testing.T, db pgtest.DB, table, writes string) {
	t.Helper()
	db.Exec(t, writes+"; SELECT pg_stat_force_next_flush()")
	pgtest.WaitFor(t, "the source's statistics to count the writes on "+table, func() bool {
		return db.QueryInt(t, "SELECT coalesce(sum(n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables WHERE relname LIKE $1 || '%'", table) > 0
	})
}

// TestKeylessTables: a table without a key and without a replica identity is
// a warning when the source's statistics show no updates or deletes (it
// looks insert-only, like pgbench_history), an error when they show some
// (such a statement would fail on the source once the table is published),
// and fine with --replica-identity-full, a warning that states the cost when
// the table does see updates or deletes. Every finding carries the evidence.
func TestKeylessTables(t *testing.T) {
	const fill = `INSERT INTO logs SELECT 'line ' || g FROM generate_series(1, 50) g`
	tests := []struct {
		name         string
		create       string // logs on both sides; CREATE TABLE logs (line text) when empty
		ddl          string // on both sides, after create
		writes       string // on the source, counted by its statistics
		identityFull bool
		status       string
		detail, hint []string
	}{
		{name: "insert-only", status: StatusWarn,
			detail: []string{"table public.logs has no primary key and no replica identity",
				"an UPDATE or DELETE on it fails on the source", "counts 0 updated and 0 deleted rows since the source's statistics",
				"it looks insert-only"},
			hint: []string{"add a primary key", "--replica-identity-full", "whole old row", "without an index"}},
		{name: "updated", writes: `UPDATE logs SET line = line || '!' WHERE line LIKE 'line 1%'`, status: StatusError,
			detail: []string{"counts 11 updated and 0 deleted rows", "each such UPDATE or DELETE fails on the source"},
			hint:   []string{"add a primary key to public.logs", "--replica-identity-full", "-e public.logs"}},
		{name: "deleted, replica identity nothing", ddl: `ALTER TABLE logs REPLICA IDENTITY NOTHING`,
			writes: `DELETE FROM logs WHERE line = 'line 7'`, status: StatusError,
			detail: []string{"table public.logs has REPLICA IDENTITY NOTHING", "counts 0 updated and 1 deleted rows"}},
		{name: "partitioned, deleted in a partition", writes: `DELETE FROM logs WHERE line LIKE 'line 2%'`, status: StatusError,
			create: `CREATE TABLE logs (line text) PARTITION BY HASH (line);
				CREATE TABLE logs_0 PARTITION OF logs FOR VALUES WITH (MODULUS 2, REMAINDER 0);
				CREATE TABLE logs_1 PARTITION OF logs FOR VALUES WITH (MODULUS 2, REMAINDER 1)`,
			detail: []string{"table public.logs has no primary key", "counts 0 updated and 11 deleted rows"}},
		{name: "no statistics", ddl: `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET track_counts = off', current_database()); END $$`, status: StatusWarn,
			detail: []string{"track_counts is off", "no evidence of updates or deletes either way"}},
		{name: "insert-only with --replica-identity-full", identityFull: true, status: StatusOK,
			detail: []string{"start_sync --replica-identity-full sets REPLICA IDENTITY FULL on it on the source", "0 updated and 0 deleted"}},
		{name: "updated with --replica-identity-full", identityFull: true, status: StatusWarn,
			writes: `UPDATE logs SET line = 'x' WHERE line = 'line 3'`,
			detail: []string{"sets REPLICA IDENTITY FULL", "1 updated and 0 deleted"},
			hint:   []string{"whole old row to the WAL", "without an index", "a primary key avoids both"}},
	}
	env := pgtest.Get(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, tgt := env.Pair(t)
			create := tt.create
			if create == "" {
				create = `CREATE TABLE logs (line text)`
			}
			for _, db := range []pgtest.DB{src, tgt} {
				db.Exec(t, create+`; CREATE TABLE full_ri (x int); ALTER TABLE full_ri REPLICA IDENTITY FULL;`+tt.ddl)
			}
			src.Exec(t, fill)
			if tt.writes != "" {
				touch(t, src, "logs", tt.writes)
			}
			r := runChecked(t, Options{SourceURL: src.URL, TargetURL: tgt.URL, ReplicaIdentityFull: tt.identityFull}, src, tgt)
			var got []Finding
			for _, f := range r.Findings {
				if f.Check == "replica_identity" {
					got = append(got, f)
				}
			}
			if len(got) != 1 || got[0].Status != tt.status {
				t.Fatalf("replica_identity findings = %+v, want one %s about public.logs", got, tt.status)
			}
			for _, want := range tt.detail {
				if !strings.Contains(got[0].Detail, want) {
					t.Errorf("detail lacks %q: %s", want, got[0].Detail)
				}
			}
			for _, want := range tt.hint {
				if !strings.Contains(got[0].Hint, want) {
					t.Errorf("hint lacks %q: %s", want, got[0].Hint)
				}
			}
			if wantOK := tt.status != StatusError; r.OK() != wantOK {
				t.Errorf("OK() = %v, want %v", r.OK(), wantOK)
			}
		})
	}
}
