package initsync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/copier"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

const guardSource = `
CREATE TABLE audited (id int PRIMARY KEY, v text);
INSERT INTO audited SELECT i, 'orig ' || i FROM generate_series(1, 100) i;
CREATE TABLE pt (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE pt_a PARTITION OF pt FOR VALUES FROM (0) TO (50);
CREATE TABLE pt_b PARTITION OF pt FOR VALUES FROM (50) TO (1000);
INSERT INTO pt SELECT i, 'orig ' || i FROM generate_series(1, 300) i;
ANALYZE;`

// guardTarget has triggers that would rewrite and log every copied row, in
// each state a trigger can be in, forced row-level security that would
// refuse half the rows, and a partitioned table laid out differently from
// the source's (so its rows go through the root) with a trigger on it.
const guardTarget = `
CREATE TABLE audited (id int PRIMARY KEY, v text);
CREATE TABLE audit_log (id int, note text);
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.v := 'rewritten'; RETURN NEW; END$$;
CREATE FUNCTION log_it() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO audit_log VALUES (NEW.id, TG_NAME); RETURN NEW; END$$;
CREATE TRIGGER a_stamp BEFORE INSERT ON audited FOR EACH ROW EXECUTE FUNCTION stamp();
CREATE TRIGGER b_log AFTER INSERT ON audited FOR EACH ROW EXECUTE FUNCTION log_it();
ALTER TABLE audited ENABLE ALWAYS TRIGGER b_log;
CREATE TRIGGER c_off BEFORE INSERT ON audited FOR EACH ROW EXECUTE FUNCTION stamp();
ALTER TABLE audited DISABLE TRIGGER c_off;
CREATE TRIGGER d_replica BEFORE INSERT ON audited FOR EACH ROW EXECUTE FUNCTION stamp();
ALTER TABLE audited ENABLE REPLICA TRIGGER d_replica;
ALTER TABLE audited ENABLE ROW LEVEL SECURITY;
ALTER TABLE audited FORCE ROW LEVEL SECURITY;
CREATE POLICY only_even ON audited USING (id % 2 = 0) WITH CHECK (id % 2 = 0);
CREATE TABLE pt (id int, v text) PARTITION BY RANGE (id);
CREATE TABLE pt_all PARTITION OF pt DEFAULT;
CREATE TRIGGER pt_stamp BEFORE INSERT ON pt FOR EACH ROW EXECUTE FUNCTION stamp();`

// triggerStates lists every user trigger on the target with its state.
const triggerStates = `SELECT c.relname || '.' || t.tgname || '=' || t.tgenabled::text FROM pg_trigger t
	JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal ORDER BY 1`

// TestCopyGuardNonSuperuser copies as a target user that owns the tables
// but is not a superuser: no trigger fires, row-level security leaves every
// row, and afterwards, and after a copy that failed, every trigger and the
// forced security are as they were.
func TestCopyGuardNonSuperuser(t *testing.T) {
	env := pgtest.Get(t)
	ctx := context.Background()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	role := "copier_" + hex.EncodeToString(b)
	if err := env.Target.Exec(ctx, "postgres", "CREATE ROLE "+role+" LOGIN PASSWORD 'Copier1pw'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Target.Exec(context.Background(), "postgres", "DROP ROLE IF EXISTS "+role) })
	src, tgt := env.Pair(t)
	src.Exec(t, guardSource)
	tgt.Exec(t, guardTarget)
	for _, tbl := range []string{"audited", "audit_log", "pt", "pt_all"} {
		tgt.Exec(t, "ALTER TABLE "+tbl+" OWNER TO "+role)
	}
	before := strings.Join(tgt.QueryStrings(t, triggerStates), " ")
	cfg := tgt.Config(t)
	cfg.User, cfg.Password = role, "Copier1pw"
	user, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close(ctx)
	sconn := src.Conn(t)
	tables, err := catalog.Tables(ctx, sconn, catalog.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	s := &syncer{src: sconn, tgt: user, opts: Options{Tables: tables, Jobs: 2}, ev: event.Discard}
	if s.targetSuper = superuser(ctx, user); s.targetSuper {
		t.Fatal("the test role is a superuser")
	}
	copyAll := func() error {
		jobs, err := s.planCopy(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = copier.Run(ctx, jobs, copier.Options{Source: src.Config(t), Target: cfg, Jobs: 2})
		return err
	}
	if err := copyAll(); err != nil {
		t.Fatalf("copy as a non-superuser owner: %v", err)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM audited WHERE v = 'orig ' || id"); n != 100 {
		t.Errorf("audited: %d of 100 rows copied unchanged", n)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pt_all WHERE v = 'orig ' || id"); n != 300 {
		t.Errorf("pt (through its root): %d of 300 rows copied unchanged", n)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM audit_log"); n != 0 {
		t.Errorf("an insert trigger fired %d times during the copy", n)
	}
	assertGuardRestored(t, tgt, before)
	// A second copy fails on audited's primary key: its transaction rolls
	// back, with the triggers it disabled.
	if err := copyAll(); err == nil {
		t.Fatal("copying the rows twice succeeded")
	}
	assertGuardRestored(t, tgt, before)
}

func assertGuardRestored(t *testing.T, tgt pgtest.DB, want string) {
	t.Helper()
	if got := strings.Join(tgt.QueryStrings(t, triggerStates), " "); got != want {
		t.Errorf("triggers after the copy:\n got %s\nwant %s", got, want)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_class WHERE relname = 'audited' AND relforcerowsecurity AND relrowsecurity"); n != 1 {
		t.Error("audited lost FORCE ROW LEVEL SECURITY")
	}
}
