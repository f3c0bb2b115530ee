package cli

import (
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

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
