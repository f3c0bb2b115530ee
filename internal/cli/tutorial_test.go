package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// cliResult is what one pgvecrep invocation did.
type cliResult struct {
	code           int
	stdout, stderr string
}

// pgvecrep runs the CLI in-process with SOURCE_DB_URL and TARGET_DB_URL set
// to the two test databases, as a user's shell would.
func pgvecrep(t *testing.T, src, tgt pgtest.DB, args ...string) cliResult {
	t.Helper()
	return runWith(context.Background(), t, pgtest.URLs(src, tgt), args...)
}

func mustRun(t *testing.T, src, tgt pgtest.DB, args ...string) cliResult {
	t.Helper()
	r := pgvecrep(t, src, tgt, args...)
	if r.code != 0 {
		t.Fatalf("pgvecrep %s exited %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	if len(args) > 0 && args[0] == "start_sync" {
		sameSchema(t, src, tgt, args)
	}
	return r
}

// sameSchema runs verify --schema-only for the group a start_sync just
// started: every fixture of the suite that reaches streaming must leave the
// target's schema equal to the source's.
func sameSchema(t *testing.T, src, tgt pgtest.DB, startArgs []string) {
	t.Helper()
	args := []string{"verify", "--schema-only"}
	for i := 1; i < len(startArgs)-1; i++ {
		switch startArgs[i] {
		case "-g", "--group-name", "--source-url", "--target-url":
			args = append(args, startArgs[i], startArgs[i+1])
		}
	}
	if r := pgvecrep(t, src, tgt, args...); r.code != 0 {
		t.Fatalf("after start_sync, pgvecrep %s exited %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
}

const tutorialVector = "[0.40671515, 0.24202824, 0.37059402, 0.50316447, 0.10779921, 0.80774295, 0.8879849, 0.31292745, 0.05584943, 0.8738258]"

func insertRandom(t *testing.T, db pgtest.DB, table string, from, to int) {
	t.Helper()
	db.Exec(t, fmt.Sprintf(`INSERT INTO %s SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 10) WHERE i > 0)::real[]::vector
		FROM generate_series(%d, %d) i`, table, from, to))
}

// topTen is the tutorial's query, exact (index scans off) so both sides must agree.
func topTen(t *testing.T, db pgtest.DB, table string) string {
	t.Helper()
	ids := db.QueryStrings(t, fmt.Sprintf(`SELECT id::text FROM (SELECT id, embedding <-> '%s' AS d FROM %s ORDER BY d, id LIMIT 10) x ORDER BY d, id`, tutorialVector, table))
	return strings.Join(ids, ",")
}

func TestTutorial(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ddl := `CREATE TABLE test (id integer PRIMARY KEY, embedding vector(10) NOT NULL);
		CREATE INDEX ON test USING hnsw (embedding vector_l2_ops);`
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	insertRandom(t, src, "test", 1, 100)
	if got := tgt.QueryInt(t, "SELECT count(*) FROM test"); got != 0 {
		t.Fatalf("target not empty before sync: %d", got)
	}

	r := mustRun(t, src, tgt, "config_check")
	if !strings.Contains(r.stdout, "Config is looking good") {
		t.Errorf("config_check output lacks the verdict:\n%s", r.stdout)
	}
	mustRun(t, src, tgt, "bootstrap", "--group-name", "database-cluster-1", "--copy-schema")
	mustRun(t, src, tgt, "bootstrap", "-g", "database-cluster-1", "--copy-schema") // idempotent
	r = mustRun(t, src, tgt, "start_sync", "--group-name", "database-cluster-1")
	if !strings.Contains(r.stdout, "deferred") || !strings.Contains(r.stdout, "test_embedding_idx") || !strings.Contains(r.stdout, "streaming") {
		t.Errorf("start_sync output does not show the deferred index and streaming:\n%s", r.stdout)
	}
	if a, b := topTen(t, src, "test"), topTen(t, tgt, "test"); a != b {
		t.Errorf("top 10 differ after start_sync: source %s, target %s", a, b)
	}
	insertRandom(t, src, "test", 101, 200)
	tgt.WaitCount(t, "test", 200)
	if a, b := topTen(t, src, "test"), topTen(t, tgt, "test"); a != b {
		t.Errorf("top 10 differ after 100 more rows: source %s, target %s", a, b)
	}
	// The index answers on the target (the tutorial's point).
	nn := fmt.Sprintf(`SELECT id FROM test ORDER BY embedding <-> '%s' LIMIT 10`, tutorialVector)
	if n := tgt.IndexScan(t, nn, "test_embedding_idx"); n != 10 {
		t.Errorf("the index scan on the target returned %d rows, want 10", n)
	}

	r = mustRun(t, src, tgt, "stats", "-g", "database-cluster-1", "--json")
	var st struct {
		Pgvecrep struct {
			Phase  string
			Tables []struct {
				Table string
				State string
				Rows  int64
			}
			Lag struct{ Bytes *int64 }
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, r.stdout)
	}
	if p := st.Pgvecrep; p.Phase != "streaming" || len(p.Tables) != 1 || p.Tables[0].State != "streaming" || p.Tables[0].Rows != 200 || p.Lag.Bytes == nil {
		t.Errorf("stats = %+v", st)
	}
	// Piped, stats prints the same JSON without --json, as pg_easy_replicate does.
	r = mustRun(t, src, tgt, "stats", "-g", "database-cluster-1")
	if !json.Valid([]byte(r.stdout)) {
		t.Errorf("piped stats is not JSON:\n%s", r.stdout)
	}

	mustRun(t, src, tgt, "stop_sync", "-g", "database-cluster-1")
	pgtest.AssertNoReplication(t, src, tgt)
	mustRun(t, src, tgt, "cleanup", "-g", "database-cluster-1")
	mustRun(t, src, tgt, "cleanup", "--everything")
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_namespace WHERE nspname = 'pgvecrep'"); n != 0 {
		t.Errorf("pgvecrep schema left on the target")
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM test"); n != 200 {
		t.Errorf("cleanup touched the data: %d rows", n)
	}
}

func TestCopySchemaAndOddIdentifiers(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	tgt.Exec(t, "DROP EXTENSION vector") // bootstrap --copy-schema brings it
	src.Exec(t, `CREATE SCHEMA "Mÿ Schema";
		CREATE TYPE "Mÿ Schema"."Mood" AS ENUM ('ok', 'it''s fine');
		CREATE TABLE "Mÿ Schema"."Odd ""T"" Ä" ("ID" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			"Vëc" vector(3), mood "Mÿ Schema"."Mood", note text);
		CREATE INDEX "Vëc idx" ON "Mÿ Schema"."Odd ""T"" Ä" USING ivfflat ("Vëc" vector_cosine_ops) WITH (lists = 2);
		INSERT INTO "Mÿ Schema"."Odd ""T"" Ä" ("Vëc", mood, note)
			SELECT format('[%s,%s,%s]', i, i % 7 + 1, i % 3 + 1)::vector, 'it''s fine', repeat('x', i) FROM generate_series(1, 300) i;`)
	g := `Grüppe "1"`
	mustRun(t, src, tgt, "bootstrap", "-g", g, "--copy-schema", "--schema-name", "Mÿ Schema")
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_indexes WHERE indexname = 'Vëc idx'`); n != 1 {
		t.Fatalf("copy-schema did not create the ivfflat index")
	}
	mustRun(t, src, tgt, "config_check", "-t", `"Mÿ Schema"."Odd ""T"" Ä"`)
	r := mustRun(t, src, tgt, "start_sync", "-g", g, "-t", `"Mÿ Schema"."Odd ""T"" Ä"`)
	if !strings.Contains(r.stdout, "Vëc idx") {
		t.Errorf("start_sync did not defer the ivfflat index:\n%s", r.stdout)
	}
	table := `"Mÿ Schema"."Odd ""T"" Ä"`
	if a, b := tgt.QueryInt(t, "SELECT count(*) FROM "+table), int64(300); a != b {
		t.Errorf("target rows = %d, want %d", a, b)
	}
	src.Exec(t, `INSERT INTO "Mÿ Schema"."Odd ""T"" Ä" ("Vëc", mood) VALUES ('[9,9,9]', 'ok')`)
	tgt.WaitCount(t, table, 301)
	mustRun(t, src, tgt, "cleanup", "-g", g)
	pgtest.AssertNoReplication(t, src, tgt)
}

func TestUserErrors(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, "CREATE TABLE t (id int PRIMARY KEY, v vector(2))")
	tgt.Exec(t, "CREATE TABLE t (id int PRIMARY KEY, v vector(2))")

	r := pgvecrep(t, src, tgt, "start_sync", "-g", "nope")
	assertUserError(t, r, "not found", "bootstrap")
	r = pgvecrep(t, src, tgt, "stats", "-g", "nope")
	assertUserError(t, r, "not found", "bootstrap")
	r = pgvecrep(t, src, tgt, "start_sync")
	assertUserError(t, r, "--group-name is required", "--group-name")

	mustRun(t, src, tgt, "bootstrap", "-g", "g")
	mustRun(t, src, tgt, "start_sync", "-g", "g")
	r = pgvecrep(t, src, tgt, "start_sync", "-g", "g", "--source-url", src.URL)
	if r.code == 0 {
		t.Error("second start_sync succeeded")
	}
	mustRun(t, src, tgt, "cleanup", "-g", "g")

	bad := pgtest.DB{URL: "postgres://someone:Sup3rSecret@127.0.0.1:1/db?sslmode=disable&connect_timeout=5"}
	r = pgvecrep(t, bad, tgt, "config_check")
	assertUserError(t, r, "connect to source", "SOURCE_DB_URL")
	malformed := pgtest.DB{URL: "postgres://someone:Sup3rSecret@127.0.0.1:notaport/db"}
	r = pgvecrep(t, src, malformed, "stats", "-g", "x")
	assertUserError(t, r, "target", "TARGET_DB_URL")
	r = pgvecrep(t, src, tgt, "no_such_command")
	assertUserError(t, r, "unknown command", "--help")
}

// assertUserError checks the shape every user error has: non-zero exit, one
// line naming the problem, a hint, and no password.
func assertUserError(t *testing.T, r cliResult, what, hintHas string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	switch {
	case r.code == 0:
		t.Errorf("exit 0 for an error (%s)", what)
	case !strings.Contains(lines[0], what):
		t.Errorf("error %q does not say %q", lines[0], what)
	case len(lines) < 2 || !strings.HasPrefix(lines[len(lines)-1], "hint: ") || !strings.Contains(r.stderr, hintHas):
		t.Errorf("error has no hint mentioning %q:\n%s", hintHas, r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, "Sup3rSecret") {
		t.Errorf("password leaked:\n%s%s", r.stdout, r.stderr)
	}
}

func TestHelp(t *testing.T) {
	for name := range commands {
		r := runWith(context.Background(), t, nil, strings.ReplaceAll(name, "_", "-"), "--help")
		if r.code != 0 {
			t.Errorf("%s --help exited %d", name, r.code)
		}
		if out := r.stdout + r.stderr; !strings.Contains(out, "Example") || !strings.Contains(out, "Usage: pgvecrep "+name) {
			t.Errorf("%s --help has no usage line or example:\n%s", name, out)
		}
	}
}

// TestWrongPassword: a rejected password is one line naming the user, a hint
// to fix it, and the password appears nowhere.
func TestWrongPassword(t *testing.T) {
	env := pgtest.Get(t)
	ctx := t.Context()
	c := pgtest.Cluster(t, localpg.Options{PasswordAuth: true})
	if err := c.Exec(ctx, "postgres", "CREATE ROLE bob LOGIN PASSWORD 'R1ghtPass'"); err != nil {
		t.Fatal(err)
	}
	_, tgt := env.Pair(t)
	bad := pgtest.DB{URL: strings.Replace(c.URL("postgres"), c.User+"@", "bob:Sup3rSecret@", 1)}
	r := pgvecrep(t, bad, tgt, "config_check")
	assertUserError(t, r, "password authentication failed", "password for user \"bob\" was rejected")
}
