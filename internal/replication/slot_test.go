package replication

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func config(t *testing.T, url string) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// countUnder counts rows of t as seen by the exported snapshot.
func countUnder(ctx context.Context, conn *pgx.Conn, snapshot string) (int64, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET TRANSACTION SNAPSHOT '"+snapshot+"'"); err != nil {
		return 0, err
	}
	var n int64
	err = tx.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n)
	return n, err
}

func TestCreateSlotSnapshot(t *testing.T) {
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	ctx := context.Background()
	src.Exec(t, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 10)")

	slot, err := CreateSlot(ctx, config(t, src.URL), "pgvecrep_snap_test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = DropSlot(ctx, src.Conn(t), slot.Name) })
	if slot.SnapshotName == "" || slot.ConsistentLSN == "" {
		t.Fatalf("empty snapshot or LSN: %+v", slot)
	}
	src.Exec(t, "INSERT INTO t SELECT generate_series(11, 20)")

	n, err := countUnder(ctx, src.Conn(t), slot.SnapshotName)
	if err != nil || n != 10 {
		t.Fatalf("rows under snapshot = %d, %v; want 10 (rows inserted after the slot must be invisible)", n, err)
	}
	if got := src.QueryInt(t, "SELECT count(*) FROM t"); got != 20 {
		t.Fatalf("rows now = %d, want 20", got)
	}
	lsn := src.QueryStrings(t, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots
		WHERE slot_name = $1 AND slot_type = 'logical' AND plugin = 'pgoutput' AND database = current_database()`, slot.Name)
	if len(lsn) != 1 || lsn[0] != slot.ConsistentLSN {
		t.Fatalf("slot confirmed_flush_lsn = %v, want [%s]", lsn, slot.ConsistentLSN)
	}

	if err := slot.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The walsender exits a moment after its connection closes, and the
	// snapshot it exported goes with it.
	probe := src.Conn(t)
	pgtest.WaitFor(t, "the exported snapshot to end after Close", func() bool {
		_, err := countUnder(ctx, probe, slot.SnapshotName)
		return err != nil
	})
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot.Name); n != 1 {
		t.Fatalf("Close must keep the slot; found %d", n)
	}
	for i := 0; i < 2; i++ { // the second drop is a no-op
		if err := DropSlot(ctx, src.Conn(t), slot.Name); err != nil {
			t.Fatalf("drop %d: %v", i, err)
		}
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot.Name); n != 0 {
		t.Fatalf("slot left after DropSlot: %d", n)
	}
}

// TestDropActiveSlot drops a slot a subscription is streaming from: the
// walsender holding it must be terminated first.
func TestDropActiveSlot(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ctx := context.Background()
	src.Exec(t, "CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION p FOR TABLE t")
	tgt.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	slot, err := CreateSlot(ctx, config(t, src.URL), "pgvecrep_snap_active")
	if err != nil {
		t.Fatal(err)
	}
	if err := slot.Close(ctx); err != nil {
		t.Fatal(err)
	}
	tgt.Exec(t, "CREATE SUBSCRIPTION s CONNECTION '"+src.URL+"' PUBLICATION p WITH (create_slot = false, slot_name = '"+slot.Name+"', copy_data = false)")
	pgtest.WaitFor(t, "the subscription to make the slot active", func() bool {
		return src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active", slot.Name) == 1
	})
	if err := DropSlot(ctx, src.Conn(t), slot.Name); err != nil {
		t.Fatal(err)
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1", slot.Name); n != 0 {
		t.Fatalf("slot left after DropSlot: %d", n)
	}
	tgt.Exec(t, "ALTER SUBSCRIPTION s DISABLE")
	tgt.Exec(t, "ALTER SUBSCRIPTION s SET (slot_name = NONE)")
	tgt.Exec(t, "DROP SUBSCRIPTION s")
}

func TestCreateSlotErrors(t *testing.T) {
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	ctx := context.Background()
	if _, err := CreateSlot(ctx, config(t, src.URL), "Bad-Name"); err == nil {
		t.Fatal("invalid slot name accepted")
	}
	slot, err := CreateSlot(ctx, config(t, src.URL), "pgvecrep_snap_dup")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = DropSlot(ctx, src.Conn(t), slot.Name) }()
	defer slot.Close(ctx)
	if _, err := CreateSlot(ctx, config(t, src.URL), slot.Name); err == nil {
		t.Fatal("duplicate slot accepted")
	} else {
		t.Logf("duplicate: %v", err)
	}
}
