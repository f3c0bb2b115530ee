package cli

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// checkJSON is the part of config_check --json these tests read.
type checkJSON struct {
	OK       bool
	Tables   []string
	Findings []struct{ Check, Status, Detail, Hint string }
}

func configCheckJSON(t *testing.T, src, tgt pgtest.DB, args ...string) checkJSON {
	t.Helper()
	r := pgvecrep(t, src, tgt, append([]string{"config_check", "--json"}, args...)...)
	var c checkJSON
	if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
		t.Fatalf("config_check --json %v: %v\n%s%s", args, err, r.stdout, r.stderr)
	}
	return c
}

func (c checkJSON) finding(check string) (detail, hint string) {
	for _, f := range c.Findings {
		if f.Check == check {
			return f.Detail, f.Hint
		}
	}
	return "", ""
}

// TestSeveralSchemas: with the tables in app and audit and none in public,
// the "no tables" finding lists the schemas that have tables, as a ready
// -s; -s app,audit selects both (in config_check, bootstrap and
// start_sync), -e leaves a table of either out, and bootstrap on the
// streaming group does not send the user to start_sync.
func TestSeveralSchemas(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE SCHEMA app; CREATE SCHEMA audit;
		CREATE TABLE app.orders (id int PRIMARY KEY, v vector(3));
		CREATE TABLE app.items (id int PRIMARY KEY, v vector(3));
		CREATE TABLE audit.events (id int PRIMARY KEY, note text);
		INSERT INTO app.orders SELECT i, '[1,2,3]' FROM generate_series(1, 20) i;
		INSERT INTO audit.events SELECT i, 'x' FROM generate_series(1, 5) i;`)

	c := configCheckJSON(t, src, tgt, "--copy-schema")
	detail, hint := c.finding("tables")
	if c.OK || detail != "no tables selected on the source (schema public)" ||
		hint != "schemas with tables on the source: app (2 tables), audit (1 table); select them with -s app,audit" {
		t.Errorf("no tables in public: ok %v, detail %q, hint %q", c.OK, detail, hint)
	}
	c = configCheckJSON(t, src, tgt, "--copy-schema", "-s", "app,audit")
	if !c.OK || !slices.Equal(c.Tables, []string{"app.items", "app.orders", "audit.events"}) {
		t.Errorf("-s app,audit: ok %v, tables %v", c.OK, c.Tables)
	}
	c = configCheckJSON(t, src, tgt, "--copy-schema", "-s", "app,audit", "-e", "items")
	if !c.OK || !slices.Equal(c.Tables, []string{"app.orders", "audit.events"}) {
		t.Errorf("-s app,audit -e items: ok %v, tables %v", c.OK, c.Tables)
	}
	c = configCheckJSON(t, src, tgt, "--copy-schema", "-s", "nope,other")
	if detail, hint := c.finding("tables"); detail != "no tables selected on the source (schemas nope, other)" || !strings.HasPrefix(hint, "schemas with tables on the source: app") {
		t.Errorf("-s nope,other: detail %q, hint %q", detail, hint)
	}
	r := pgvecrep(t, src, tgt, "config_check", "-s", "app,audit", "-t", "orders")
	assertUserError(t, r, "-t with several schemas", "-t app.orders,audit.events")

	mustRun(t, src, tgt, "bootstrap", "-g", "multi", "--copy-schema")
	r = pgvecrep(t, src, tgt, "start_sync", "-g", "multi")
	if r.code != 1 || !strings.Contains(r.stderr, "schemas with tables on the source: app (2 tables)") ||
		!strings.Contains(r.stderr, "select them with -s app,audit") {
		t.Errorf("start_sync with nothing in public: exit %d\n%s", r.code, r.stderr)
	}
	mustRun(t, src, tgt, "start_sync", "-g", "multi", "-s", "app,audit")
	src.Exec(t, "INSERT INTO audit.events VALUES (6, 'y')")
	tgt.WaitCount(t, "audit.events", 6)
	if n := tgt.QueryInt(t, "SELECT count(*) FROM app.orders"); n != 20 {
		t.Errorf("app.orders has %d rows on the target, want 20", n)
	}

	r = mustRun(t, src, tgt, "bootstrap", "-g", "multi")
	if !strings.Contains(r.stdout, "Group multi was bootstrapped before and is streaming now: start_sync has run.\nNext: pgvecrep stats --group-name multi\n") ||
		strings.Contains(r.stdout, "start_sync --group-name") {
		t.Errorf("bootstrap on a streaming group:\n%s", r.stdout)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "multi")
}

// TestBootstrapRemembersSchemas: bootstrap --schema-name app,audit copies
// both schemas and the group remembers them, so a plain start_sync
// replicates their tables, and says so.
func TestBootstrapRemembersSchemas(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE SCHEMA app; CREATE SCHEMA audit; CREATE SCHEMA other;
		CREATE TABLE app.orders (id int PRIMARY KEY);
		CREATE TABLE audit.events (id int PRIMARY KEY);
		CREATE TABLE other.t (id int PRIMARY KEY);`)
	r := mustRun(t, src, tgt, "bootstrap", "-g", "b", "--copy-schema", "--schema-name", "app,audit")
	if !strings.Contains(r.stdout, "Group b remembers its tables for start_sync: --schema-name app,audit\n") {
		t.Errorf("bootstrap does not say what it remembers:\n%s", r.stdout)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_tables WHERE schemaname IN ('app', 'audit', 'other')"); n != 2 {
		t.Errorf("bootstrap created %d of app's and audit's tables (and none of other's), want 2", n)
	}
	r = mustRun(t, src, tgt, "start_sync", "-g", "b")
	if !strings.Contains(r.stdout, "group b: using the selection it recorded: -s app,audit") {
		t.Errorf("start_sync does not say it uses the remembered schemas:\n%s", r.stdout)
	}
	got := tgt.QueryStrings(t, "SELECT schema_name || '.' || table_name FROM pgvecrep.tables WHERE group_name = 'b' ORDER BY 1")
	if !slices.Equal(got, []string{"app.orders", "audit.events"}) {
		t.Errorf("group b replicates %v", got)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "b")
}

// TestStartSyncHintNamesBootstrap: a table missing on the target makes
// start_sync point at bootstrap --copy-schema, the command with that flag,
// and its config-check hint repeats the selection.
func TestStartSyncHintNamesBootstrap(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, "CREATE TABLE posts (id int PRIMARY KEY)")
	mustRun(t, src, tgt, "bootstrap", "-g", "x")
	r := pgvecrep(t, src, tgt, "start_sync", "-g", "x", "-t", "posts")
	if r.code != 1 || !strings.Contains(r.stderr, "run pgvecrep bootstrap -g x") || strings.Contains(r.stderr, "use --copy-schema") ||
		!strings.HasSuffix(r.stderr, "hint: fix the findings above; pgvecrep config_check -t posts checks again\n") {
		t.Errorf("start_sync with a table missing on the target: exit %d\n%s", r.code, r.stderr)
	}
}
