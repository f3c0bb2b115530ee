package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// appSchema is an application database as issue 9 describes it:
// pgtest.AppSchema with customers in schema app, a vector index, a view, a
// table in schema public, rows, and a trigger that rewrites rows.
var appSchema = pgtest.AppSchema("app") + `
CREATE INDEX orders_embedding_idx ON app.orders USING hnsw (embedding vector_l2_ops);
CREATE VIEW app.paid_orders AS SELECT id, amount FROM app.orders WHERE status = 'paid';
CREATE TABLE public.settings (key text PRIMARY KEY, value text);
INSERT INTO app.customers (name, ship_to) SELECT 'c' || i, ROW('street ' || i, 'city')::shop.address FROM generate_series(1, 50) i;
INSERT INTO app.orders (customer_id, qty, amount, status, note, embedding)
  SELECT i % 50 + 1, i % 10 + 1, i * 1.25, (ARRAY['new', 'paid', 'shipped'])[i % 3 + 1]::shop.status, 'orig ' || i,
         format('[%s,%s,%s]', i, i % 7, i % 3)::vector
  FROM generate_series(1, 300) i;
-- Created after the rows: they keep their notes, and a target copy of the
-- trigger would show if it fired during the copy.
CREATE TRIGGER orders_touch BEFORE INSERT OR UPDATE ON app.orders FOR EACH ROW EXECUTE FUNCTION app.touch();
`

const ordersSum = `SELECT count(*)::text || ':' || md5(string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', id, customer_id, code, qty,
  amount, status, note, embedding), ',' ORDER BY id)) FROM app.orders`

// TestBootstrapApplicationSchema runs issue 9's command sequence: bootstrap
// --copy-schema copies the whole database, start_sync replicates schema app.
func TestBootstrapApplicationSchema(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, appSchema)
	mustRun(t, src, tgt, "config_check", "--schema-name", "app", "--copy-schema")
	r := mustRun(t, src, tgt, "bootstrap", "--group-name", "hard", "--copy-schema")
	for _, want := range []string{"creating table app.orders", "creating table public.settings", "creating view app.paid_orders"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("bootstrap output lacks %q", want)
		}
	}
	if r = mustRun(t, src, tgt, "bootstrap", "--group-name", "hard", "--copy-schema"); !strings.Contains(r.stdout, "nothing to create") {
		t.Errorf("second bootstrap did something:\n%s", r.stdout)
	}
	if n := tgt.QueryInt(t, `SELECT count(*) FROM pg_trigger WHERE tgname = 'orders_touch' AND tgenabled = 'O'`); n != 1 {
		t.Fatalf("the trigger was not created enabled on the target")
	}

	mustRun(t, src, tgt, "start_sync", "--group-name", "hard", "--schema-name", "app")
	tgt.WaitCount(t, "app.orders", 300)
	if n := tgt.QueryInt(t, `SELECT count(*) FROM app.orders WHERE note = 'touched'`); n != 0 {
		t.Errorf("the target's trigger fired for %d copied rows", n)
	}
	// Streamed rows: the source's trigger sets the note; the target's
	// does not fire again (the apply worker runs as a replica).
	src.Exec(t, `INSERT INTO app.orders (customer_id, qty, amount, note) VALUES (1, 5, 9.99, 'streamed')`)
	src.Exec(t, `INSERT INTO app.customers (name) VALUES ('late')`)
	tgt.WaitCount(t, "app.orders", 301)
	tgt.WaitCount(t, "app.customers", 51)
	if a, b := src.QueryStrings(t, ordersSum)[0], tgt.QueryStrings(t, ordersSum)[0]; a != b {
		t.Errorf("app.orders differs: source %s, target %s", a, b)
	}
	// Every index and constraint is back after start_sync's rebuild.
	const structure = `SELECT string_agg(x, ',' ORDER BY x) FROM (
	  SELECT indexrelid::regclass::text || ':' || indisvalid AS x FROM pg_index WHERE indrelid::regclass::text LIKE 'app.%'
	  UNION ALL SELECT conname || ':' || convalidated FROM pg_constraint WHERE connamespace = 'app'::regnamespace) s`
	if a, b := src.QueryStrings(t, structure)[0], tgt.QueryStrings(t, structure)[0]; a != b {
		t.Errorf("indexes and constraints differ:\nsource %s\ntarget %s", a, b)
	}
	// A second target from the same source, which now carries the group's
	// schema-change capture (--ddl auto): bootstrap copies the application
	// and leaves pgvecrep's own event triggers behind.
	if n := src.QueryInt(t, `SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'pgvecrep%'`); n == 0 {
		t.Fatal("start_sync installed no schema-change capture on the source; the second bootstrap proves nothing")
	}
	second := env.NewDB(t, tgt.Cluster, "bootstrap_second")
	mustRun(t, src, second, "bootstrap", "--group-name", "second", "--copy-schema")
	if n := second.QueryInt(t, `SELECT count(*) FROM pg_event_trigger`); n != 0 {
		t.Errorf("the second target got %d event triggers, want none", n)
	}
	if n := second.QueryInt(t, `SELECT count(*) FROM pg_trigger WHERE tgname = 'orders_touch'`); n != 1 {
		t.Errorf("the second target lacks the application's trigger")
	}
	mustRun(t, src, second, "cleanup", "-g", "second")
	mustRun(t, src, tgt, "cleanup", "-g", "hard")
	pgtest.AssertNoReplication(t, src, tgt)
}

// TestBootstrapFailureNamesStatement: a conflicting object on the target
// stops bootstrap, which names the statement and changes nothing.
func TestBootstrapFailureNamesStatement(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, appSchema)
	tgt.Exec(t, `CREATE SCHEMA app; CREATE TABLE app.audit (id int); CREATE INDEX orders_embedding_idx ON app.audit (id)`)
	before := tgt.Fingerprint(t)
	r := pgvecrep(t, src, tgt, "bootstrap", "-g", "g", "--copy-schema")
	if r.code != 1 || !strings.Contains(r.stderr, "create INDEX app.orders_embedding_idx on the target") ||
		!strings.Contains(r.stderr, "statement: CREATE INDEX orders_embedding_idx ON app.orders USING hnsw") ||
		!strings.Contains(r.stderr, "hint: nothing was changed on the target") {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 1 naming the CREATE INDEX, with a hint", r.code, r.stderr)
	}
	if after := tgt.Fingerprint(t); after != before {
		t.Errorf("failed bootstrap changed the target:\nbefore %s\nafter  %s", before, after)
	}
}
