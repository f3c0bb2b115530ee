package schema

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// copyTo runs Copy from src to tgt and returns its log.
func copyTo(t *testing.T, src, tgt pgtest.DB, filter *catalog.Filter) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sc, tc := src.Conn(t), tgt.Conn(t)
	var tables []catalog.Table
	if filter != nil {
		var err error
		if tables, err = catalog.Tables(ctx, sc, *filter); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	err := Copy(ctx, sc, tc, Options{SourceURL: src.URL, PgDump: src.Cluster.Bin("pg_dump"), PgRestore: src.Cluster.Bin("pg_restore"), Tables: tables, Events: lineSink{&log}})
	t.Logf("copy log:\n%s", log.String())
	return log.String(), err
}

// fingerprint lists every user object of a database with its definition
// where it has one, so tests can compare databases and show that nothing
// changed.
func fingerprint(t *testing.T, db pgtest.DB) string {
	t.Helper()
	return strings.Join(db.QueryStrings(t, fingerprintQuery), "\n")
}

const fingerprintQuery = `
SELECT x FROM (
  SELECT format('%s %s.%s', c.relkind, n.nspname, c.relname) AS x FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'
  UNION ALL SELECT format('col %s.%s %s %s %s %s', attrelid::regclass, attname, format_type(atttypid, atttypmod), attnotnull, attidentity, attgenerated)
   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE attnum > 0 AND NOT attisdropped AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  UNION ALL SELECT format('default %s %s', adrelid::regclass, pg_get_expr(adbin, adrelid)) FROM pg_attrdef
  UNION ALL SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint
   WHERE connamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')
  UNION ALL SELECT format('type %s', oid::regtype) FROM pg_type
   WHERE typnamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND typrelid = 0 AND typelem = 0
  UNION ALL SELECT format('function %s', oid::regprocedure) FROM pg_proc
   WHERE pronamespace::regnamespace::text NOT IN ('pg_catalog', 'information_schema')
     AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = pg_proc.oid AND d.deptype = 'e')
  UNION ALL SELECT format('trigger %s %s', tgname, tgrelid::regclass) FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT format('schema %s', nspname) FROM pg_namespace WHERE nspname NOT LIKE 'pg_%' AND nspname <> 'information_schema'
  UNION ALL SELECT format('extension %s', extname) FROM pg_extension
  UNION ALL SELECT format('inherits %s %s', inhrelid::regclass, inhparent::regclass) FROM pg_inherits
) s WHERE x NOT LIKE '%pgvecrep%' ORDER BY x COLLATE "C"`

func TestCopyWholeDatabase(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, appFixture+moreObjects)
	tgt.Exec(t, "DROP EXTENSION vector") // the copy brings it
	log, err := copyTo(t, src, tgt, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := fingerprint(t, src), fingerprint(t, tgt); a != b {
		t.Errorf("target differs from source:\nsource:\n%s\ntarget:\n%s", a, b)
	}
	for _, s := range []string{"creating table app.orders", "creating view app.paid_orders", "creating schema shop",
		"creating table app.events", "creating materialized view app.order_totals", "creating sequence shop.invoice_no"} {
		if !strings.Contains(log, s) {
			t.Errorf("log lacks %q", s)
		}
	}
	before := fingerprint(t, tgt)
	log, err = copyTo(t, src, tgt, nil)
	if err != nil || !strings.Contains(log, "nothing to create") {
		t.Errorf("rerun: err %v, log %q; want nothing to create", err, log)
	}
	if after := fingerprint(t, tgt); after != before {
		t.Errorf("rerun changed the target:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// A partition added on the source since is created under the kept parent.
	src.Exec(t, `CREATE TABLE app.events_2 PARTITION OF app.events FOR VALUES WITH (MODULUS 4, REMAINDER 2)`)
	if _, err := copyTo(t, src, tgt, nil); err != nil {
		t.Fatal(err)
	}
	if a, b := fingerprint(t, src), fingerprint(t, tgt); a != b {
		t.Errorf("after a new partition, target differs from source:\nsource:\n%s\ntarget:\n%s", a, b)
	}
}

func TestCopyNarrowedToSchema(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, appFixture)
	if _, err := copyTo(t, src, tgt, &catalog.Filter{Schema: "app"}); err != nil {
		t.Fatal(err)
	}
	got := fingerprint(t, tgt)
	// app.orders and what it needs: its types, the functions of its default,
	// check and trigger, its sequence, and public.customers, which its foreign
	// key references, with that table's identity sequence and key.
	for _, want := range []string{"r app.orders", "S app.orders_id_seq", "i app.orders_embedding_idx", "r public.customers",
		"S public.customers_id_seq", "constraint customers_pkey", "constraint orders_customer_id_fkey", "type shop.price",
		"type shop.status", "col customers.ship_to shop.address", "function shop.new_code()",
		"function shop.sane_qty(integer)", "function app.touch()", "trigger orders_touch app.orders"} {
		if !strings.Contains(got, want) {
			t.Errorf("target lacks %q", want)
		}
	}
	for _, unwanted := range []string{"public.unrelated", "app.paid_orders"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("target has %q, which app.orders does not need", unwanted)
		}
	}
	if t.Failed() {
		t.Logf("target:\n%s", got)
	}
}

func TestCopyFailureLeavesTargetUnchanged(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, appFixture)
	// An index of the same name in schema app, on another table: CREATE
	// INDEX fails late, after schemas, types and tables were created.
	tgt.Exec(t, `CREATE SCHEMA app; CREATE TABLE app.audit (id int); CREATE INDEX orders_customer_idx ON app.audit (id)`)
	before := fingerprint(t, tgt)
	_, err := copyTo(t, src, tgt, nil)
	if err == nil {
		t.Fatal("copy succeeded despite the conflicting index")
	}
	for _, want := range []string{"create INDEX app.orders_customer_idx on the target", "already exists",
		"statement: CREATE INDEX orders_customer_idx ON app.orders"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if after := fingerprint(t, tgt); after != before {
		t.Errorf("failed copy changed the target:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// The connection is usable and its settings are the defaults again.
	if n := tgt.QueryInt(t, "SELECT count(*) FROM app.audit"); n != 0 {
		t.Errorf("audit rows = %d", n)
	}
}

// TestCopySkipsOwnEventTriggers: a source that already feeds a group with
// --ddl auto has pgvecrep's event triggers, whose functions live in the
// pgvecrep schema that the archive leaves out. Bootstrapping another
// target from it must not restore them (they would fail for lack of their
// function), while the application's own event triggers are copied.
func TestCopySkipsOwnEventTriggers(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE SCHEMA pgvecrep;
CREATE FUNCTION pgvecrep.capture() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$;
CREATE EVENT TRIGGER pgvecrep_g_ddl ON ddl_command_end EXECUTE FUNCTION pgvecrep.capture();
CREATE FUNCTION public.audit() RETURNS event_trigger LANGUAGE plpgsql AS $$BEGIN END$$;
CREATE EVENT TRIGGER audit_ddl ON ddl_command_end EXECUTE FUNCTION public.audit();
CREATE TABLE items (id int PRIMARY KEY, v vector(3))`)
	if _, err := copyTo(t, src, tgt, nil); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(tgt.QueryStrings(t, "SELECT evtname FROM pg_event_trigger ORDER BY 1"), ",")
	if got != "audit_ddl" {
		t.Errorf("target event triggers %q, want the application's audit_ddl only", got)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_class WHERE relname = 'items'"); n != 1 {
		t.Errorf("target has %d items tables, want 1", n)
	}
}

// lineSink writes each event's message as a line, for tests to read.
type lineSink struct{ w *bytes.Buffer }

func (l lineSink) Emit(e event.Event) { l.w.WriteString(e.Message + "\n") }
