package smoke

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/cli"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// The spec's role, password and database. The password has '@', '!' and a
// quote, so it must be percent-encoded in a URL; the scripts carry it so.
const (
	role     = "james-bond"
	password = "james-bond123@7!'3aaR"
	database = "postgres-db"
	// encodedPassword is the password as e2e-bootstrap.sh writes it.
	encodedPassword = "james-bond123%407%21%273aaR"
)

// e2e is the two clusters of the smoke test as its scripts see them.
type e2e struct {
	src, tgt *localpg.Cluster
}

// url is the scripts' URL for c: localhost, the role and its encoded password.
func (e e2e) url(c *localpg.Cluster) string {
	return fmt.Sprintf("postgres://%s:%s@localhost:%d/%s", role, encodedPassword, c.Port, database)
}

// TestSmokeSpec is pg_easy_replicate's smoke_spec.rb, step for step, with
// pgvecrep in place of bundle exec bin/pg_easy_replicate.
func TestSmokeSpec(t *testing.T) {
	began := time.Now()
	env := pgtest.StartEnv(t, localpg.Options{PasswordAuth: true})
	e := e2e{src: env.Source, tgt: env.Target}
	for _, c := range []*localpg.Cluster{e.src, e.tgt} {
		createRoleAndDatabase(t, c)
	}
	t.Setenv("SOURCE_DB_URL", e.url(e.src))
	t.Setenv("TARGET_DB_URL", e.url(e.tgt))
	t.Setenv("PGPASSWORD", password)

	e.bootstrapScript(t)
	if n := count(t, e.url(e.src)); n != 500_000 {
		t.Fatalf("pgbench_accounts on the source: %d rows, want 500000", n)
	}
	t.Logf("bootstrap script done after %s", time.Since(began).Round(time.Second))
	src, tgt := &writer{url: e.url(e.src)}, &writer{url: e.url(e.tgt)}
	defer src.close()
	defer tgt.close()
	for i := 1; i <= 1000; i++ {
		if err := src.insert(t.Context(), 500_000+i); err != nil {
			t.Fatalf("phase 1, insert %d on the source: %v", i, err)
		}
	}
	// The spec connects anew for each insert, so no session of phase 1 is
	// open when the switchover ends them: phase 3 starts a new one too.
	src.close()
	e.startScript(t)
	t.Logf("start script done after %s", time.Since(began).Round(time.Second))
	retried := 0
	for i := 1; i <= 1000; i++ {
		if insertWithRetry(t, src, tgt, 501_000+i) {
			retried++
		}
	}
	if retried != 1000 {
		t.Errorf("%d of 1000 inserts after the switchover went to the target; want all: the source is frozen", retried)
	}
	e.assertTarget(t)
	t.Logf("smoke spec took %s", time.Since(began).Round(time.Second))
}

// createRoleAndDatabase does what the smoke workflow does to each server:
// a superuser role with the password, and the database, granted to it.
func createRoleAndDatabase(t *testing.T, c *localpg.Cluster) {
	t.Helper()
	ctx := t.Context()
	r := pgx.Identifier{role}.Sanitize()
	for _, sql := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN SUPERUSER CREATEDB PASSWORD %s", r, literal(password)),
		"CREATE DATABASE " + pgx.Identifier{database}.Sanitize(),
		fmt.Sprintf("GRANT ALL PRIVILEGES ON DATABASE %s TO %s", pgx.Identifier{database}.Sanitize(), r),
	} {
		if err := c.Exec(ctx, "postgres", sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	if err := c.Exec(ctx, database, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		t.Fatal(err)
	}
}

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// bootstrapScript is scripts/e2e-bootstrap.sh: pgbench's dataset on the
// source, then config_check --copy-schema, which must pass.
func (e e2e) bootstrapScript(t *testing.T) {
	t.Helper()
	run(t, e.src.Bin("pgbench"), []string{"PGPORT=" + strconv.Itoa(e.src.Port)},
		"--initialize", "-s", "5", "--foreign-keys", "--host", "localhost", "-U", role, "-d", database)
	pgvecrep(t, "config_check", "--copy-schema")
}

// startScript is scripts/e2e-start.sh: bootstrap, start_sync, stats, a
// column added on the source, apply_ddl_change, switchover.
func (e e2e) startScript(t *testing.T) {
	t.Helper()
	pgvecrep(t, "bootstrap", "-g", "cluster-1", "--copy-schema")
	pgvecrep(t, "start_sync", "-g", "cluster-1", "-s", "public", "--recreate-indices-post-copy", "--track-ddl")
	assertStatsShape(t, "streaming", pgvecrep(t, "stats", "-g", "cluster-1"))
	run(t, e.src.Bin("psql"), nil, os.Getenv("SOURCE_DB_URL"), "-c", "ALTER TABLE public.pgbench_accounts ADD COLUMN test_column VARCHAR(255)")
	pgvecrep(t, "apply_ddl_change", "-g", "cluster-1")
	pgvecrep(t, "switchover", "-g", "cluster-1")
	// Not in the script: what a monitoring script sees from now on.
	assertStatsShape(t, "switched_over", pgvecrep(t, "stats", "-g", "cluster-1"))
}

// pgvecrep runs a command in-process, as the binary would, and fails the
// test unless it exits 0.
func pgvecrep(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("pgvecrep %s exited %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// runCode runs a command in-process and returns its exit code.
func runCode(t *testing.T, args ...string) int {
	t.Helper()
	code, _, _ := runCLI(t, args...)
	return code
}

// runCLI runs a command in-process with the URLs the test set in the
// environment (PGPASSWORD there reaches the connections through libpq's
// rules, as for a user).
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	vars := map[string]string{"SOURCE_DB_URL": os.Getenv("SOURCE_DB_URL"), "TARGET_DB_URL": os.Getenv("TARGET_DB_URL")}
	r := pgtest.RunCLI(t.Context(), t, cli.RunEnv, vars, args...)
	return r.Code, r.Stdout, r.Stderr
}

// run runs a PostgreSQL client program with the test's environment plus env.
func run(t *testing.T, bin string, env []string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
}

// insertSQL is the spec's insert into pgbench_accounts.
const insertSQL = `INSERT INTO "public"."pgbench_accounts"("aid", "bid", "abalance", "filler")
VALUES($1, 1, 0, '0') RETURNING "aid", "bid", "abalance", "filler"`

// writer inserts the spec's rows into one database. The spec connects for
// every insert; a writer keeps its session and opens a new one only after
// the server ended it, which is what a pooled application does, and it
// spares the test two thousand password handshakes.
type writer struct {
	url  string
	conn *pgx.Conn
}

func (w *writer) insert(ctx context.Context, aid int) error {
	if w.conn == nil || w.conn.IsClosed() {
		conn, err := pgx.Connect(ctx, w.url)
		if err != nil {
			return err
		}
		w.conn = conn
	}
	_, err := w.conn.Exec(ctx, insertSQL, aid)
	return err
}

func (w *writer) close() {
	if w.conn != nil {
		w.conn.Close(context.Background())
		w.conn = nil
	}
}

// insertWithRetry is the spec's rule after the switchover: write to the
// source, and on its read-only error or an ended session write to the
// target instead; any other error fails. It reports whether it retried.
func insertWithRetry(t *testing.T, src, tgt *writer, aid int) bool {
	t.Helper()
	err := src.insert(t.Context(), aid)
	if err == nil {
		return false
	}
	if !strings.Contains(err.Error(), "cannot execute INSERT in a read-only transaction") &&
		!strings.Contains(err.Error(), "terminating connection") {
		t.Fatalf("insert %d on the source: %v; want the read-only error the spec retries on", aid, err)
	}
	if err := tgt.insert(t.Context(), aid); err != nil {
		t.Fatalf("insert %d on the target: %v", aid, err)
	}
	return true
}

// count is pgbench_accounts' row count.
func count(t *testing.T, dbURL string) int64 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pgbench_accounts").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// assertTarget makes the spec's checks on the target: every row, the added
// column, and every pgbench table vacuumed and analyzed by the switchover.
func (e e2e) assertTarget(t *testing.T) {
	t.Helper()
	if n := count(t, e.url(e.tgt)); n != 502_000 {
		t.Errorf("pgbench_accounts on the target: %d rows, want 502000", n)
	}
	conn, err := pgx.Connect(t.Context(), e.url(e.tgt))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var column string
	err = conn.QueryRow(t.Context(), `SELECT column_name FROM information_schema.columns
		WHERE table_name = 'pgbench_accounts' AND column_name = 'test_column'`).Scan(&column)
	if err != nil {
		t.Errorf("test_column on the target: %v", err)
	}
	rows, err := conn.Query(t.Context(), `SELECT relname::text FROM pg_stat_all_tables
		WHERE schemaname = 'public' AND last_vacuum IS NOT NULL AND last_analyze IS NOT NULL ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	done, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pgbench_accounts", "pgbench_branches", "pgbench_history", "pgbench_tellers"} {
		if !slices.Contains(done, want) {
			t.Errorf("%s has no last_vacuum or no last_analyze on the target (vacuumed and analyzed: %v)", want, done)
		}
	}
}
