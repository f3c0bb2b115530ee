package cli

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestTLSAndSCRAM runs pgvecrep against clusters that accept only TLS logins
// with a scram-sha-256 password, with sslmode=verify-full and sslrootcert in
// the URLs: config_check, bootstrap --copy-schema (pg_dump connects too),
// start_sync, and streaming over the subscription's own TLS connection from
// the target's server to the source. The clusters refuse logins without
// TLS, so each of these passing proves its connection was encrypted.
func TestTLSAndSCRAM(t *testing.T) {
	ca, err := localpg.NewCA("pgvecrep test CA")
	if err != nil {
		t.Fatal(err)
	}
	env := pgtest.StartEnv(t, localpg.Options{TLS: ca, Password: "Tls-Scram-9fq2"})
	src, tgt := env.Pair(t)
	if !strings.Contains(src.URL, "sslmode=verify-full") || !strings.Contains(src.URL, "sslrootcert=") {
		t.Fatalf("source URL does not verify the server: %s", src.URL)
	}
	src.Exec(t, `CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(3));
		CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops);
		INSERT INTO items SELECT i, format('[%s,1,2]', i)::vector FROM generate_series(1, 300) i`)
	mustRun(t, src, tgt, "config_check", "--copy-schema")
	mustRun(t, src, tgt, "bootstrap", "-g", "tls", "--copy-schema")
	mustRun(t, src, tgt, "start_sync", "-g", "tls")
	src.Exec(t, "INSERT INTO items VALUES (1000, '[0,0,0]')")
	tgt.WaitCount(t, "items", 301)
	if n := src.QueryInt(t, `SELECT count(*) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)
		WHERE r.application_name = 'pgvecrep_tls' AND s.ssl`); n != 1 {
		t.Errorf("%d subscription connection(s) over TLS on the source, want 1", n)
	}
	mustRun(t, src, tgt, "cleanup", "-g", "tls")
	pgtest.AssertNoReplication(t, src, tgt)
}

// TestWrongCA: a server certificate that the CA in sslrootcert did not sign
// fails the connection with one line that says so and a hint.
func TestWrongCA(t *testing.T) {
	ca, err := localpg.NewCA("pgvecrep test CA")
	if err != nil {
		t.Fatal(err)
	}
	other, err := localpg.NewCA("some other CA")
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "other.crt")
	if err := other.WriteCert(wrong); err != nil {
		t.Fatal(err)
	}
	env := pgtest.StartEnv(t, localpg.Options{TLS: ca, Password: "Tls-Scram-9fq2"})
	src, tgt := env.Pair(t)
	src.URL = strings.Replace(src.URL, "sslrootcert="+urlQueryEscape(env.Source.CAFile), "sslrootcert="+urlQueryEscape(wrong), 1)
	if !strings.Contains(src.URL, "other.crt") {
		t.Fatalf("could not swap the CA in %s", src.URL)
	}
	r := pgvecrep(t, src, tgt, "bootstrap", "-g", "ca")
	assertUserError(t, r, "certificate", "sslrootcert")
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 2 {
		t.Errorf("want one error line and one hint, got:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, "Tls-Scram-9fq2") {
		t.Errorf("password in the output:\n%s%s", r.stdout, r.stderr)
	}
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
