package cli

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestPassfileRoutes follows README's Security advice with no password in
// any URL: pgvecrep's own connections and pg_dump read it from the file
// PGPASSFILE names, and the subscription from a passfile on the target
// server's host, named by passfile= in SECONDARY_SOURCE_DB_URL. The group
// streams, and the subscription's connection string holds the file's path,
// never the password. Without PGPASSFILE, or without passfile= for the
// subscription, the command fails with a hint that names the file to use.
func TestPassfileRoutes(t *testing.T) {
	env := pgtest.StartEnv(t, localpg.Options{Password: secretPassword})
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(3) NOT NULL);
		CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops);
		INSERT INTO items (embedding) SELECT format('[%s,1,2]', i)::vector FROM generate_series(1, 500) i`)
	line := []byte("*:*:*:" + env.Source.User + ":" + secretPassword + "\n")
	client := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(client, line, 0o600); err != nil {
		t.Fatal(err)
	}
	server, err := env.Target.WriteOwned("subscription.pgpass", line)
	if err != nil {
		t.Fatal(err)
	}
	bare := func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.User(u.User.Username())
		return u.String()
	}
	vars := []string{"SOURCE_DB_URL=" + bare(src.URL), "TARGET_DB_URL=" + bare(tgt.URL),
		"SECONDARY_SOURCE_DB_URL=" + bare(src.URL) + "&passfile=" + url.QueryEscape(server)}
	if !strings.Contains(vars[2], "?") {
		t.Fatalf("the source URL has no query to add passfile to: %s", vars[2])
	}
	run := func(passfile bool, args ...string) (string, error) {
		t.Helper()
		cmd := subprocess(t, src, tgt, args...)
		cmd.Env = append(cmd.Env, vars...)
		if passfile {
			cmd.Env = append(cmd.Env, "PGPASSFILE="+client)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if strings.Contains(out.String(), secretPassword) {
			t.Errorf("pgvecrep %s printed the password", args[0])
		}
		return out.String(), err
	}

	out, err := run(false, "config_check")
	if err == nil || !strings.Contains(out, "pgpass") {
		t.Errorf("config_check with no password anywhere: err %v, want a failure whose hint names the passfile:\n%s", err, out)
	}
	if out, err := run(true, "bootstrap", "-g", "pf", "--copy-schema"); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out)
	}
	// The target's server reads neither PGPASSFILE nor the client's
	// ~/.pgpass: with no passfile= the probe fails, and the hint says so.
	withFile := vars[2]
	vars[2] = "SECONDARY_SOURCE_DB_URL=" + bare(src.URL)
	out, err = run(true, "start_sync", "-g", "pf")
	if err == nil || !strings.Contains(out, "add passfile=/path/on/the/target/host") {
		t.Errorf("start_sync with no password for the subscription: err %v, want a hint naming passfile=:\n%s", err, out)
	}
	vars[2] = withFile
	if out, err := run(true, "start_sync", "-g", "pf"); err != nil {
		t.Fatalf("start_sync: %v\n%s", err, out)
	}
	src.Exec(t, "INSERT INTO items (embedding) VALUES ('[0,0,0]')")
	tgt.WaitCount(t, "items", 501)
	conninfo := tgt.QueryStrings(t, "SELECT subconninfo FROM pg_subscription")
	if len(conninfo) != 1 || !strings.Contains(conninfo[0], "passfile=") || strings.Contains(conninfo[0], secretPassword) {
		t.Errorf("subscription connection string %q: want the passfile's path and no password", conninfo)
	}
	if out, err := run(true, "cleanup", "-g", "pf"); err != nil {
		t.Fatalf("cleanup: %v\n%s", err, out)
	}
}
