package localpg

import (
	"context"
	"os"
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
