package cli

import (
	"net/url"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestUnencodedPassword gives a real server's password with '@', '#', '/'
// and '?' in a URL: unencoded it is refused before parsing, masked, with a
// hint to percent-encode; encoded it connects.
func TestUnencodedPassword(t *testing.T) {
	env := pgtest.Get(t)
	ctx := t.Context()
	c := pgtest.Cluster(t, localpg.Options{PasswordAuth: true})
	const pw = "p@ss#w0rd/?x"
	if err := c.Exec(ctx, "postgres", "CREATE ROLE bob LOGIN SUPERUSER PASSWORD '"+pw+"'"); err != nil {
		t.Fatal(err)
	}
	_, tgt := env.Pair(t)
	raw := strings.Replace(c.URL("postgres"), c.User+"@", "bob:"+pw+"@", 1)
	r := pgvecrep(t, pgtest.DB{URL: raw}, tgt, "config_check")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 1 || len(lines) != 2 || !strings.Contains(lines[0], "parse source URL") ||
		!strings.Contains(lines[1], "percent-encode") {
		t.Errorf("exit %d, stderr:\n%s\nwant one line and a hint to percent-encode", r.code, r.stderr)
	}
	for _, part := range []string{"ss#w0rd", "w0rd", "/?x"} {
		if strings.Contains(r.stdout+r.stderr, part) {
			t.Errorf("the password's %q is in the output:\n%s%s", part, r.stdout, r.stderr)
		}
	}

	encoded := strings.Replace(c.URL("postgres"), c.User+"@", "bob:"+url.QueryEscape(pw)+"@", 1)
	r = pgvecrep(t, pgtest.DB{URL: encoded}, tgt, "config_check")
	if !strings.Contains(r.stdout, "source user bob is a superuser") {
		t.Errorf("the encoded password did not connect: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRefusedConnectionOnce: a refused connection says so once, in a line
// short enough to read.
func TestRefusedConnectionOnce(t *testing.T) {
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	r := pgvecrep(t, src, pgtest.DB{URL: "postgres://someone@127.0.0.1:1/db?sslmode=disable"}, "config_check")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if r.code != 1 || len(lines) != 2 || strings.Count(r.stderr, "refused") != 1 || len(lines[0]) > 120 {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
