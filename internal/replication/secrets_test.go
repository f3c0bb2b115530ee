package replication

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// withPassword is u with password set and, when port is not 0, that port.
func withPassword(t *testing.T, u, password string, port int) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.UserPassword(p.User.Username(), password)
	if port != 0 {
		p.Host = fmt.Sprintf("%s:%d", p.Hostname(), port)
	}
	return p.String()
}

// serverLog is the target cluster's server log (localpg starts the server
// with pg_ctl -l there).
func serverLog(t *testing.T, env *pgtest.Env) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(env.Target.Dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSubscriptionPasswordNotLogged creates one subscription that fails (a
// port nothing listens on) and one that succeeds, on a target database with
// log_statement = ddl, and reads the target's server log: neither password
// may be there. Two control statements prove the log is the right file and
// that it would have caught them.
func TestSubscriptionPasswordNotLogged(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ctx := context.Background()
	tgt.Exec(t, "ALTER DATABASE "+tgt.Name+" SET log_statement = 'ddl'")
	stamp := time.Now().UnixNano()
	failPW, okPW := fmt.Sprintf("fail-pw-%d", stamp), fmt.Sprintf("ok-pw-%d", stamp)
	ddlMark, errMark := fmt.Sprintf("ddl_mark_%d", stamp), fmt.Sprintf("err-mark-%d", stamp)
	tconn := tgt.Conn(t)

	tgt.Exec(t, "CREATE TABLE "+ddlMark+" ()")
	if _, err := tconn.Exec(ctx, "SELECT '"+errMark+"' || 1/0"); err == nil {
		t.Fatal("control statement did not fail")
	}

	err := CreateSubscription(ctx, tconn, Subscription{Name: "pgvecrep_fail", Publication: "p", Slot: "pgvecrep_fail",
		ConnInfo: withPassword(t, src.URL, failPW, 1)})
	if err == nil {
		t.Fatal("CreateSubscription to port 1 succeeded")
	}
	if strings.Contains(err.Error(), failPW) {
		t.Errorf("error holds the password: %v", err)
	}

	table := pg.Name{Schema: "public", Name: "t"}
	src.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	tgt.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	if err := CreatePublicationWith(ctx, src.Conn(t), "pgvecrep_ok", []pg.Name{table}, PublicationOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := CreateSlotNoSnapshot(ctx, src.Conn(t), "pgvecrep_ok"); err != nil {
		t.Fatal(err)
	}
	err = CreateSubscription(ctx, tconn, Subscription{Name: "pgvecrep_ok", Publication: "pgvecrep_ok", Slot: "pgvecrep_ok",
		ConnInfo: withPassword(t, src.URL, okPW, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if err := Detach(ctx, src.Conn(t), tconn, "pgvecrep_ok", &lines{}); err != nil {
		t.Fatal(err)
	}

	log := serverLog(t, env)
	for _, mark := range []string{ddlMark, errMark} {
		if !strings.Contains(log, mark) {
			t.Fatalf("control statement %s is not in the target's server log: wrong file, or logging is off", mark)
		}
	}
	for _, pw := range []string{failPW, okPW} {
		if strings.Contains(log, pw) {
			t.Errorf("the target's server log holds password %s", pw)
		}
	}
}

// TestCanQuietLog: a plain role may not turn statement logging off until it
// is granted SET on the three parameters (PostgreSQL 15+).
func TestCanQuietLog(t *testing.T) {
	env := pgtest.Get(t)
	_, tgt := env.Pair(t)
	ctx := context.Background()
	role := "quiet_" + tgt.Name
	tgt.Role(t, role, "LOGIN")
	check := func() bool {
		conn := tgt.Conn(t)
		if _, err := conn.Exec(ctx, "SET ROLE "+role); err != nil {
			t.Fatal(err)
		}
		ok, err := CanQuietLog(ctx, conn)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if check() {
		t.Fatal("CanQuietLog = true for a plain role")
	}
	tgt.Exec(t, "GRANT SET ON PARAMETER log_statement, log_min_error_statement, log_min_duration_statement TO "+role)
	t.Cleanup(func() {
		_ = env.Target.Exec(context.Background(), "postgres",
			"REVOKE SET ON PARAMETER log_statement, log_min_error_statement, log_min_duration_statement FROM "+role)
	})
	if !check() {
		t.Fatal("CanQuietLog = false after GRANT SET ON PARAMETER")
	}
}

// TestProbe: the probe passes for the source's real address and leaves
// nothing on either side; a port nothing listens on fails, naming the
// address and not the password.
func TestProbe(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ctx := context.Background()
	if err := Probe(ctx, tgt.Conn(t), withPassword(t, src.URL, "probe-pw-ok", 0)); err != nil {
		t.Fatalf("Probe of the source's own address: %v", err)
	}
	pgtest.AssertNoReplication(t, src, tgt)
	err := Probe(ctx, tgt.Conn(t), withPassword(t, src.URL, "probe-pw-bad", 1))
	if err == nil {
		t.Fatal("Probe of port 1 succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "127.0.0.1:1 ") || strings.Contains(msg, "probe-pw-bad") {
		t.Errorf("Probe error should name 127.0.0.1:1 and not the password: %v", err)
	}
	if hint.Of(err) == "" {
		t.Errorf("Probe error has no hint: %v", err)
	}
	pgtest.AssertNoReplication(t, src, tgt)
}
