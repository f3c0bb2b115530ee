package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestHasPassword(t *testing.T) {
	for _, tc := range []struct {
		conn string
		want bool
	}{
		{"postgres://app:pw@db:5432/x", true},
		{"postgresql://app:@db/x", true},
		{"postgres://app@db/x", false},
		{"postgres://db/x?sslmode=verify-full&password=pw", true},
		{"postgres://app@db/x?passwordless=1", false},
		{"postgres://app:pw@h1:5432,h2:5432/x", true},
		{"postgres://app@h1:5432,h2:5432/x?sslmode=require", false},
		{"postgres://app@h1:5432,h2:5432/x?sslmode=require&password=pw", true},
		{"host=db user=app password=pw dbname=x", true},
		{"host=db user=app password = 'p w'", true},
		{"host=db user=app dbname=x", false},
		{"host=db user=app passfile=/tmp/pgpass", false},
		{"", false},
	} {
		if got := hasPassword(tc.conn); got != tc.want {
			t.Errorf("hasPassword(%q) = %v, want %v", tc.conn, got, tc.want)
		}
	}
}

// TestArgvPasswordWarning: a password in --source-url earns one warning line
// on stderr that points to the safer places and does not repeat it; a URL
// without one, or a password in the environment, earns none.
func TestArgvPasswordWarning(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	const secret = "Argv-Secret-7781"
	r := pgvecrep(t, src, tgt, "stats", "-g", "nope", "--source-url", "postgres://app:"+secret+"@127.0.0.1:1/db")
	var warnings []string
	for _, l := range strings.Split(r.stderr, "\n") {
		if strings.Contains(l, "warning") {
			warnings = append(warnings, l)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "--source-url holds a password") {
		t.Fatalf("want one warning about --source-url, stderr:\n%s", r.stderr)
	}
	for _, want := range []string{"SOURCE_DB_URL", ".pgpass", "PGPASSFILE"} {
		if !strings.Contains(warnings[0], want) {
			t.Errorf("warning does not mention %s: %s", want, warnings[0])
		}
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Errorf("the password appears in the output:\n%s%s", r.stdout, r.stderr)
	}
	r = pgvecrep(t, src, tgt, "stats", "-g", "nope", "--target-url", tgt.URL)
	if strings.Contains(r.stderr, "warning") {
		t.Errorf("warning for a URL without a password:\n%s", r.stderr)
	}
}
