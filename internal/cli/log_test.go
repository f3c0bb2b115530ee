package cli

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestVerboseLogsRedactedSQL runs start_sync with --verbose --log-format
// json and a password in the URL the subscription uses (the local clusters
// trust the connection, so any password works): every log line is JSON, the
// statements pgvecrep runs are there, and the password is nowhere.
func TestVerboseLogsRedactedSQL(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, v vector(3)); INSERT INTO items VALUES (1, '[1,2,3]')`)
	tgt.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, v vector(3))`)
	const secret = "pw-Zq8!x"
	u, err := url.Parse(src.URL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secret)
	vars := map[string]string{"SOURCE_DB_URL": src.URL, "TARGET_DB_URL": tgt.URL, "SECONDARY_SOURCE_DB_URL": u.String()}
	run := func(args ...string) (stdout, stderr string, code int) {
		r := runWith(context.Background(), t, vars, args...)
		return r.stdout, r.stderr, r.code
	}
	if _, stderr, code := run("bootstrap", "-g", "v"); code != 0 || stderr != "" {
		t.Fatalf("bootstrap without --verbose: exit %d, stderr %q", code, stderr)
	}
	stdout, stderr, code := run("--verbose", "--log-format", "json", "start_sync", "-g", "v", "--jobs", "1")
	if code != 0 {
		t.Fatalf("start_sync exited %d\n%s%s", code, stdout, stderr)
	}
	if strings.Contains(stdout+stderr, secret) {
		t.Fatalf("the password leaked:\n%s", stderr)
	}
	var statements []string
	for _, line := range strings.Split(strings.TrimSpace(stderr), "\n") {
		var rec struct{ Msg, SQL, Side string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec.Msg == "sql" {
			statements = append(statements, rec.Side+": "+rec.SQL)
		}
	}
	joined := strings.Join(statements, "\n")
	for _, want := range []string{"source: CREATE PUBLICATION", "target: CREATE SUBSCRIPTION", ":xxxxx@"} {
		if !strings.Contains(joined, want) {
			t.Errorf("logged statements lack %q:\n%s", want, joined)
		}
	}
	if !strings.Contains(stdout, "streaming") {
		t.Errorf("progress output changed:\n%s", stdout)
	}
	if _, stderr, _ := run("stop_sync", "-g", "v"); stderr != "" {
		t.Errorf("stop_sync without --verbose logged:\n%s", stderr)
	}
}
