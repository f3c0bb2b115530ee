package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// countedWrites runs writes on db and waits until the source's statistics
// (pg_stat_user_tables) count them on table: the writing session flushes
// them when pg_stat_force_next_flush asks it to.
func countedWrites(t *testing.T, db pgtest.DB, table, writes string) {
	t.Helper()
	db.Exec(t, writes+"; SELECT pg_stat_force_next_flush()")
	pgtest.WaitFor(t, "the statistics to count the writes on "+table, func() bool {
		return db.QueryInt(t, "SELECT n_tup_upd + n_tup_del FROM pg_stat_user_tables WHERE relid = $1::regclass", table) > 0
	})
}

// TestKeylessTableReplicates: a table without a key or replica identity
// that only gets inserts (pgbench_history, an event log) is a warning, not
// a refusal; start_sync replicates it, verify compares it as a whole and
// says so, and switchover moves it like any other.
func TestKeylessTableReplicates(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, embedding vector(3));
		CREATE TABLE events (at int, what text);
		INSERT INTO items SELECT g, format('[%s,1,2]', g)::vector FROM generate_series(1, 50) g;
		INSERT INTO events SELECT g % 5, 'seen' FROM generate_series(1, 100) g`)
	r := pgvecrep(t, src, tgt, "config_check", "--copy-schema", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"status": "warn",
      "detail": "table public.events has no primary key and no replica identity`) ||
		!strings.Contains(r.stdout, "0 updated and 0 deleted rows") {
		t.Fatalf("config_check: exit %d, want 0 with a warning and its evidence\n%s%s", r.code, r.stdout, r.stderr)
	}
	mustRun(t, src, tgt, "bootstrap", "-g", "k", "--copy-schema")
	r = mustRun(t, src, tgt, "start_sync", "-g", "k")
	if !strings.Contains(r.stderr, "warn") || !strings.Contains(r.stderr, "public.events") {
		t.Errorf("start_sync did not warn about public.events:\n%s", r.stderr)
	}
	src.Exec(t, `INSERT INTO events VALUES (9, 'after the copy'), (9, 'after the copy')`)
	pgtest.WaitFor(t, "the new events on the target", func() bool { return tgt.QueryInt(t, "SELECT count(*) FROM events") == 102 })

	r = mustRun(t, src, tgt, "verify", "-g", "k")
	if !strings.Contains(r.stdout, "public.events: no primary key or replica identity index: compared the whole table") {
		t.Errorf("verify does not say what it compared for public.events:\n%s", r.stdout)
	}
	mustRun(t, src, tgt, "switchover", "-g", "k", "--skip-vacuum-analyze")
	if n := tgt.QueryInt(t, "INSERT INTO events VALUES (1, 'on the new primary') RETURNING at"); n != 1 {
		t.Errorf("insert on the new primary returned %d", n)
	}
}

// TestReplicaIdentityFullFlag: a keyless table that the source's
// statistics show updated is refused by config_check and start_sync, whose
// hint names --replica-identity-full; with the flag, start_sync sets
// REPLICA IDENTITY FULL on the source and its updates and deletes
// replicate.
func TestReplicaIdentityFullFlag(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE ledger (account int, amount int);
		INSERT INTO ledger SELECT g % 10, g FROM generate_series(1, 100) g`)
	countedWrites(t, src, "ledger", "UPDATE ledger SET amount = amount + 1 WHERE account = 3")
	r := pgvecrep(t, src, tgt, "config_check", "--copy-schema", "--json")
	if r.code != 1 || !strings.Contains(r.stdout, "10 updated and 0 deleted rows") || !strings.Contains(r.stdout, "--replica-identity-full") {
		t.Fatalf("config_check of an updated keyless table: exit %d, want 1 with the evidence and the flag\n%s", r.code, r.stdout)
	}
	mustRun(t, src, tgt, "bootstrap", "-g", "f", "--copy-schema")
	r = pgvecrep(t, src, tgt, "start_sync", "-g", "f")
	if r.code != 1 || !strings.Contains(r.stderr, "config check failed: 1 problem(s)") || !strings.Contains(r.stderr, "--replica-identity-full") {
		t.Errorf("start_sync of an updated keyless table: exit %d, want 1 with findings naming --replica-identity-full:\n%s", r.code, r.stderr)
	}
	if r := pgvecrep(t, src, tgt, "config_check", "--copy-schema", "--replica-identity-full"); r.code != 0 {
		t.Errorf("config_check --replica-identity-full: exit %d\n%s", r.code, r.stdout)
	}

	r = mustRun(t, src, tgt, "start_sync", "-g", "f", "--replica-identity-full")
	if !strings.Contains(r.stdout, "REPLICA IDENTITY FULL set on the source and the target on public.ledger") {
		t.Errorf("start_sync does not say what it changed:\n%s", r.stdout)
	}
	for _, db := range []pgtest.DB{src, tgt} {
		if ri := db.QueryStrings(t, "SELECT relreplident::text FROM pg_class WHERE oid = 'ledger'::regclass"); ri[0] != "f" {
			t.Errorf("replica identity of ledger on %s = %s, want f", db.Cluster.DataDir, ri[0])
		}
	}
	src.Exec(t, `UPDATE ledger SET amount = -1 WHERE account = 4; DELETE FROM ledger WHERE account = 5`)
	pgtest.WaitFor(t, "the update and delete on the target", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FILTER (WHERE amount = -1) * 1000 + count(*) FROM ledger") == 10*1000+90
	})
	mustRun(t, src, tgt, "verify", "-g", "f")
}
