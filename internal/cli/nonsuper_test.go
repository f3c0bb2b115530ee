package cli

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestNonSuperuserSource runs the whole flow with the source role a managed
// cloud gives: LOGIN REPLICATION, owner of its tables and sequences, CREATE
// on the database, and no superuser. The target connects as its superuser.
// The group ends once by switchover and once by failover, and once by
// failover with two apply streams, whose guard triggers on the role's
// table cleanup removes as the role.
func TestNonSuperuserSource(t *testing.T) {
	for _, c := range []struct{ ending, workers string }{{"switchover", "1"}, {"failover", "1"}, {"failover", "2"}} {
		t.Run(c.ending+"-"+c.workers, func(t *testing.T) { testNonSuperuserSource(t, c.ending, c.workers) })
	}
}

func testNonSuperuserSource(t *testing.T, ending, workers string) {
	env := pgtest.Get(t)
	role := fmt.Sprintf("app_%d", nonSuperSeq())
	ctx := t.Context()
	// pg_read_all_stats, as managed clouds grant their admin role, shows
	// the role every session, other roles' included.
	if err := env.Source.Exec(ctx, "postgres", "CREATE ROLE "+role+" LOGIN REPLICATION IN ROLE pg_read_all_stats"); err != nil {
		t.Fatal(err)
	}
	// Registered before the databases: it runs after they are dropped, so
	// the role owns nothing by then.
	t.Cleanup(func() { _ = env.Source.Exec(ctx, "postgres", "DROP ROLE IF EXISTS "+role) })
	src, tgt := env.Pair(t)
	src.Exec(t, fmt.Sprintf(`GRANT CREATE ON DATABASE %q TO %s; CREATE SCHEMA app AUTHORIZATION %[2]s`, src.Name, role))
	src.Exec(t, fmt.Sprintf(`SET ROLE %s;
		CREATE TABLE app.items (id bigserial PRIMARY KEY, embedding vector(3) NOT NULL);
		CREATE INDEX items_hnsw ON app.items USING hnsw (embedding vector_l2_ops);
		INSERT INTO app.items (embedding) SELECT format('[%%s,1,2]', i)::vector FROM generate_series(1, 500) i;
		RESET ROLE`, role))
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_roles WHERE rolname = $1 AND NOT rolsuper AND rolreplication", role); n != 1 {
		t.Fatalf("role %s is not a non-superuser with REPLICATION", role)
	}
	src.URL = (&url.URL{Scheme: "postgres", User: url.User(role),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(env.Source.Port)), Path: "/" + src.Name, RawQuery: "sslmode=disable"}).String()

	// Exit 0: no check failed for want of a superuser.
	mustRun(t, src, tgt, "config_check", "-s", "app", "--copy-schema")
	mustRun(t, src, tgt, "bootstrap", "-g", "cloud", "-s", "app", "--copy-schema")
	mustRun(t, src, tgt, "start_sync", "-g", "cloud", "-s", "app", "--apply-workers", workers)
	src.Exec(t, "INSERT INTO app.items (embedding) VALUES ('[0,0,0]')")
	tgt.WaitCount(t, "app.items", 501)
	mustRun(t, src, tgt, "stats", "-g", "cloud")
	mustRun(t, src, tgt, "verify", "-g", "cloud")
	if ending == "failover" {
		mustRun(t, src, tgt, "failover", "-g", "cloud")
		if id := tgt.QueryInt(t, "INSERT INTO app.items (embedding) VALUES ('[0,0,0]') RETURNING id"); id <= 501 {
			t.Errorf("next id on the target = %d, want past the source's 501", id)
		}
		// cleanup drops the slot failover left on the source, as the role.
		mustRun(t, src, tgt, "cleanup", "-g", "cloud")
		pgtest.AssertNoReplication(t, src, tgt)
		if n := src.QueryInt(t, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE '%pgvecrep_cloud%'"); n != 0 {
			t.Errorf("%d parallel apply guard triggers left on the source after cleanup", n)
		}
		return
	}
	// A superuser's idle session on the source (a DBA's psql, a provider's
	// agent) is one the role may not end; the freeze must not need to.
	idle := src.Conn(t)
	mustRun(t, src, tgt, "switchover", "-g", "cloud", "--lag-delta-size", "100kB", "--skip-vacuum-analyze")
	if err := idle.Ping(ctx); err != nil {
		t.Errorf("the superuser's session was ended: %v", err)
	}
	if err := src.Cluster.Exec(ctx, src.Name, "INSERT INTO app.items (embedding) VALUES ('[0,0,0]')"); err == nil ||
		!strings.Contains(err.Error(), "cannot execute INSERT in a read-only transaction") {
		t.Errorf("insert on the switched-over source: %v, want the freeze error", err)
	}
	if id := tgt.QueryInt(t, "INSERT INTO app.items (embedding) VALUES ('[0,0,0]') RETURNING id"); id <= 501 {
		t.Errorf("next id on the target = %d, want past the source's 501", id)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "cloud")
	mustRun(t, src, tgt, "cleanup", "--restore-source-writes", "-g", "cloud")
	src.Exec(t, "INSERT INTO app.items (embedding) VALUES ('[0,0,0]')")
	pgtest.AssertNoReplication(t, src, tgt)
}

var nonSuperCount int

// nonSuperSeq numbers the roles the tests of this file make: roles are
// shared by every database of the cluster.
func nonSuperSeq() int { nonSuperCount++; return nonSuperCount }
