package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// runWith runs pgvecrep in-process (pgtest.RunCLI) with vars as its whole
// environment, under a context the caller may cancel (as Ctrl-C does). The
// package's other ways to run a command are this one with set variables.
func runWith(ctx context.Context, t testing.TB, vars map[string]string, args ...string) cliResult {
	t.Helper()
	r := pgtest.RunCLI(ctx, t, RunEnv, vars, args...)
	return cliResult{code: r.Code, stdout: r.Stdout, stderr: r.Stderr}
}

// TestPgEasyReplicateCommandLines runs the command lines of
// pg_easy_replicate 0.4.0 (../shared/PG_EASY_REPLICATE.md) as its users type
// them, and checks that each does what it does there: -s is the special
// role in bootstrap and the schema in start_sync, -e excludes, -r and -d are
// accepted with a note, switchover's -s skips VACUUM and leaves the source
// frozen, cleanup's -r lifts that (ending the reverse stream pgvecrep's
// switchover leaves first), -s stops only the sync, -e removes all.
func TestPgEasyReplicateCommandLines(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	tgt.Exec(t, "DROP EXTENSION vector") // bootstrap -c brings it
	src.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, emb vector(3));
		CREATE TABLE logs (id int PRIMARY KEY, msg text);
		INSERT INTO items SELECT i, '[1,2,3]' FROM generate_series(1, 30) i;
		INSERT INTO logs SELECT i, 'x' FROM generate_series(1, 10) i;`)
	role := src.Name + "_special" // roles are per cluster: one per test
	src.Role(t, role, "")
	tgt.Role(t, role, "")
	run := func(args ...string) cliResult { t.Helper(); return mustRun(t, src, tgt, args...) }

	// config_check: -c, and -s is the schema (Thor keeps the last -s).
	run("config_check", "--copy-schema")
	run("config_check", "-c", "-s", "public", "-t", "items")
	run("config_check", "-c", "--exclude_tables", "logs")
	run("config_check", "-c", "--special_user_role", role)

	// bootstrap: -s is --special-user-role, not a schema; -c copies the schema.
	r := run("bootstrap", "-g", "compat", "-c", "-s", role, "-d")
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_tables WHERE tablename IN ('items', 'logs')"); n != 2 {
		t.Fatalf("bootstrap -c -s %s copied %d of 2 tables: -s was taken as a schema", role, n)
	}

	// start_sync: -s schema, -e exclude, -r noted, --track-ddl records DDL.
	r = run("start_sync", "-g", "compat", "-s", "public", "-e", "logs", "-r", "--track-ddl")
	if !strings.Contains(r.stderr, "note: --recreate-indices-post-copy") {
		t.Errorf("start_sync -r printed no note:\n%s", r.stderr)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM logs"); n != 0 {
		t.Errorf("-e logs copied logs anyway: %d rows", n)
	}
	tgt.WaitCount(t, "items", 30)

	st := readStats(t, src, tgt, "-g", "compat")
	if len(st.ReplicationStats) != 1 || st.ReplicationStats[0].TableName != "items" || st.CountByState["replicating"] != 1 {
		t.Errorf("stats: replication_stats %+v, counts %v", st.ReplicationStats, st.CountByState)
	}
	statsWatch(t, src, tgt)
	notifyOnce(t, src, tgt)

	// --track-ddl records; list_ddl_changes -l and apply_ddl_change -i
	// apply by hand, as in pg_easy_replicate.
	src.Exec(t, "ALTER TABLE items ADD COLUMN note text")
	var changes []struct {
		ID        int64  `json:"id"`
		Statement string `json:"statement"`
		Status    string `json:"status"`
	}
	pgtest.WaitFor(t, "the ALTER TABLE to be recorded on the target", func() bool {
		r = run("list_ddl_changes", "-g", "compat", "-l", "10")
		if err := json.Unmarshal([]byte(r.stdout), &changes); err != nil {
			t.Fatalf("list_ddl_changes: %v\n%s", err, r.stdout)
		}
		return len(changes) == 1 && changes[0].Status == "recorded"
	})
	run("apply_ddl_change", "-g", "compat", "-i", fmt.Sprint(changes[0].ID))
	if n := tgt.QueryInt(t, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'"); n != 1 {
		t.Error("apply_ddl_change -i did not add the column on the target")
	}

	// switchover -l -s: no VACUUM, the source stays frozen until cleanup -r.
	run("switchover", "-g", "compat", "-l", "200000", "-s")
	if st = readStats(t, src, tgt, "-g", "compat"); st.SwitchoverCompletedAt == nil {
		t.Error("switchover_completed_at is null after switchover")
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'items' AND last_vacuum IS NOT NULL"); n != 0 {
		t.Error("switchover -s ran VACUUM anyway")
	}
	if err := src.Cluster.Exec(context.Background(), src.Name, "INSERT INTO items VALUES (1000, '[1,1,1]')"); err == nil {
		t.Error("the source takes writes after switchover")
	}
	// The switchover left a way back (pgvecrep's default): -r ends it
	// first, so the source's new writes collide with nothing.
	if r = run("cleanup", "-g", "compat", "-r"); !strings.Contains(r.stdout, "Ended group compat's way back") {
		t.Errorf("cleanup -r after a switchover with a way back said:\n%s", r.stdout)
	}
	src.Exec(t, "INSERT INTO items VALUES (1000, '[1,1,1]')")

	// stop_sync, cleanup -s (sync only: the metadata stays), cleanup -e.
	run("bootstrap", "-g", "compat-b")
	tgt.Exec(t, "TRUNCATE logs")
	run("start_sync", "-g", "compat-b", "-t", "logs")
	run("stop_sync", "-g", "compat-b")
	pgtest.AssertNoReplication(t, src, tgt)
	run("cleanup", "-g", "compat-b", "-s")
	if st = readStats(t, src, tgt, "-g", "compat-b"); st.Pgvecrep.Phase != "stopped" {
		t.Errorf("cleanup -s removed the group or changed it: %+v", st.Pgvecrep)
	}
	run("cleanup", "-g", "compat-b", "-e")
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgvecrep'"); n != 0 {
		t.Error("cleanup -e left the pgvecrep schema")
	}
	if r = run("version"); !strings.HasPrefix(r.stdout, "pgvecrep ") {
		t.Errorf("version printed %q", r.stdout)
	}
}

// statsWatch runs stats -w until the first refresh is out, then stops it as
// Ctrl-C does.
func statsWatch(t *testing.T, src, tgt pgtest.DB) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- pgtest.RunCLITo(ctx, RunEnv, &out, &out, pgtest.URLs(src, tgt), "stats", "-g", "compat", "-w")
	}()
	pgtest.WaitFor(t, "two refreshes of stats -w", func() bool { return strings.Count(out.String(), "\n") >= 2 })
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("stats -w exited %d:\n%s", code, out.String())
	}
	line, _, _ := strings.Cut(out.String(), "\n")
	if !json.Valid([]byte(line)) {
		t.Errorf("stats -w piped is not JSON lines:\n%s", out.String())
	}
}

// notifyOnce runs notify -u -f -t until one POST arrived.
func notifyOnce(t *testing.T, src, tgt pgtest.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		posts.Add(1)
		cancel()
	}))
	defer srv.Close()
	r := runWith(ctx, t, map[string]string{"SOURCE_DB_URL": src.URL, "TARGET_DB_URL": tgt.URL},
		"notify", "-g", "compat", "-u", srv.URL, "-f", "1", "-t", "5")
	if r.code != 0 || posts.Load() == 0 {
		t.Errorf("notify: exit %d, %d posts\n%s", r.code, posts.Load(), r.stderr)
	}
}

// TestPgEasyReplicateEnvironment: DEBUG logs the SQL, SECONDARY_SOURCE_DB_URL
// is what the subscription connects with, and
// PG_EASY_REPLICATE_STATEMENT_TIMEOUT bounds short commands' statements but
// not start_sync's.
func TestPgEasyReplicateEnvironment(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, emb vector(3))`)
	tgt.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, emb vector(3))`)
	vars := map[string]string{"SOURCE_DB_URL": src.URL, "TARGET_DB_URL": tgt.URL,
		"SECONDARY_SOURCE_DB_URL": src.URL + "&application_name=secondary_marker",
		"DEBUG":                   "1", "PG_EASY_REPLICATE_STATEMENT_TIMEOUT": "5s"}
	ctx := context.Background()
	if r := runWith(ctx, t, vars, "bootstrap", "-g", "envs"); r.code != 0 || !strings.Contains(r.stderr, "sql=") {
		t.Fatalf("bootstrap with DEBUG: exit %d, no SQL logged:\n%s", r.code, r.stderr)
	}
	if r := runWith(ctx, t, vars, "start_sync", "-g", "envs"); r.code != 0 {
		t.Fatalf("start_sync exited %d:\n%s", r.code, r.stderr)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_subscription WHERE subconninfo LIKE '%secondary_marker%'"); n != 1 {
		t.Error("the subscription does not use SECONDARY_SOURCE_DB_URL")
	}
	for cmd, want := range map[string]string{"stats": "5s", "start_sync": "0"} {
		e := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Getenv: func(k string) string { return vars[k] }}
		f := newFlags(e, commands[cmd])
		if err := f.parse(nil); err != nil {
			t.Fatal(err)
		}
		conn, _, err := f.dial(ctx, pg.Target)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = conn.QueryRow(ctx, "SHOW statement_timeout").Scan(&got)
		conn.Close(ctx)
		if err != nil || got != want {
			t.Errorf("%s: statement_timeout = %q (%v), want %q", cmd, got, err, want)
		}
	}
	mustRun(t, src, tgt, "cleanup", "-g", "envs")
}
