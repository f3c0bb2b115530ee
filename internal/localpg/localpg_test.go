package localpg

import (
	"context"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
	"testing"
)

func TestStartStop(t *testing.T) {
	requirePG(t)
	ctx := context.Background()
	c, err := Start(ctx, Options{WALLevel: "replica"})
	if err != nil {
		t.Fatal(err)
	}
	dir := c.Dir
	conn, err := c.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	var wal string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&wal); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if wal != "replica" {
		t.Errorf("wal_level = %q, want replica", wal)
	}
	if err := c.CreateDB(ctx, "Odd db ä"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster dir %s still exists after Stop", dir)
	}
}

// TestTLSAndSCRAM starts a cluster that asks for TLS and a scram-sha-256
// password: its URL verifies the server's certificate and logs in; without
// TLS, or with a wrong password, the login is refused.
func TestTLSAndSCRAM(t *testing.T) {
	requirePG(t)
	ctx := context.Background()
	ca, err := NewCA("localpg test CA")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Start(ctx, Options{TLS: ca, Password: "Tls-Scram-Pw-42"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if !strings.Contains(c.URL("postgres"), "sslmode=verify-full") {
		t.Fatalf("URL without verify-full: %s", c.URL("postgres"))
	}
	conn, err := c.Connect(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	var ssl bool
	var method string
	err = conn.QueryRow(ctx, `SELECT s.ssl, (SELECT rolpassword FROM pg_authid WHERE rolname = current_user)
		FROM pg_stat_ssl s WHERE s.pid = pg_backend_pid()`).Scan(&ssl, &method)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !ssl || !strings.HasPrefix(method, "SCRAM-SHA-256$") {
		t.Errorf("ssl = %v, stored password %.14s...; want TLS and a SCRAM verifier", ssl, method)
	}
	for _, bad := range []string{
		strings.Replace(c.URL("postgres"), "sslmode=verify-full", "sslmode=disable", 1),
		strings.Replace(c.URL("postgres"), "Tls-Scram-Pw-42", "wrong", 1),
	} {
		if conn, err := pgx.Connect(ctx, bad); err == nil {
			conn.Close(ctx)
			t.Errorf("login succeeded with %s", bad)
		}
	}
}
