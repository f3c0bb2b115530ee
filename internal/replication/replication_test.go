package replication

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestDropSQL(t *testing.T) {
	for _, c := range []struct{ slot, pub, want string }{
		{"pgvecrep_g", "pgvecrep_g",
			`SELECT pg_drop_replication_slot('pgvecrep_g'); DROP PUBLICATION IF EXISTS "pgvecrep_g";`},
		{"pgvecrep_db_cluster_1_3f2a", "Pub",
			`SELECT pg_drop_replication_slot('pgvecrep_db_cluster_1_3f2a'); DROP PUBLICATION IF EXISTS "Pub";`},
		{"it's", `a "b"`,
			`SELECT pg_drop_replication_slot('it''s'); DROP PUBLICATION IF EXISTS "a ""b""";`},
	} {
		if got := DropSQL(c.slot, c.pub); got != c.want {
			t.Errorf("DropSQL(%q, %q)\n got %s\nwant %s", c.slot, c.pub, got, c.want)
		}
	}
}

func TestLSN(t *testing.T) {
	for _, s := range []string{"0/0", "0/1B91148", "16/B374D848", "FFFFFFFF/FFFFFFFF"} {
		l, err := ParseLSN(s)
		if err != nil || l.String() != s {
			t.Errorf("ParseLSN(%q) = %d, %v; formats back as %q", s, l, err, l.String())
		}
	}
	if l, _ := ParseLSN("1/0"); l != 1<<32 {
		t.Errorf("ParseLSN(1/0) = %d, want %d", l, uint64(1)<<32)
	}
	for _, s := range []string{"", "nonsense", "1", "x/1", "1/zz", "1/2/3", "1/2 ", "100000000/0", "-1/0", "+1/0"} {
		if l, err := ParseLSN(s); err == nil {
			t.Errorf("ParseLSN(%q) = %s, want an error", s, l)
		}
	}
}

// FuzzParseLSN: whatever ParseLSN accepts formats back to the same
// position, and PostgreSQL's own spelling of a position reads back exactly.
func FuzzParseLSN(f *testing.F) {
	for _, s := range []string{"0/0", "16/B374D848", "ffffffff/1", "1/", "/1", "1/2/3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLSN(s)
		if err != nil {
			return
		}
		back, err := ParseLSN(l.String())
		if err != nil || back != l {
			t.Fatalf("ParseLSN(%q) = %d; its String %q reads back as %d, %v", s, uint64(l), l.String(), uint64(back), err)
		}
	})
}

// stream sets up table t replicated from src to tgt through publication
// pub, slot slot and subscription sub, made by this package, and waits until
// the subscription holds the slot.
func stream(t *testing.T, src, tgt pgtest.DB, table pg.Name, pub, slot, sub string) {
	t.Helper()
	ctx := context.Background()
	ddl := "CREATE TABLE " + table.Quoted() + " (id int PRIMARY KEY, v text)"
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	if err := CreatePublicationWith(ctx, src.Conn(t), pub, []pg.Name{table}, PublicationOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := CreateSlotNoSnapshot(ctx, src.Conn(t), slot); err != nil {
		t.Fatal(err)
	}
	err := CreateSubscription(ctx, tgt.Conn(t), Subscription{Name: sub, Publication: pub, Slot: slot, ConnInfo: src.URL})
	if err != nil {
		t.Fatal(err)
	}
	pgtest.WaitFor(t, "the subscription to hold the slot", func() bool {
		return src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = $1 AND active", slot) == 1
	})
}

// TestOddIdentifiers runs the whole lifecycle with upper case and quotes in
// every name PostgreSQL allows them in (all but the slot's).
func TestOddIdentifiers(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ctx := context.Background()
	table := pg.Name{Schema: "public", Name: `Odd "T"`}
	pub, sub, slot := `Pub "Q"`, `Sub 'S' "Q"`, "pgvecrep_odd_1"
	stream(t, src, tgt, table, pub, slot, sub)
	src.Exec(t, "INSERT INTO "+table.Quoted()+" SELECT g, 'x' FROM generate_series(1, 5) g")
	sconn := src.Conn(t)
	lsn, err := WALEnd(ctx, sconn)
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitApplied(ctx, sconn, []string{slot}, lsn, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM "+table.Quoted()); n != 5 {
		t.Fatalf("target has %d rows after WaitApplied, want 5", n)
	}
	tconn := tgt.Conn(t)
	for i, want := range []bool{true, false} { // the second round finds nothing
		if got, err := DropSubscription(ctx, tconn, sub); err != nil || got != want {
			t.Fatalf("round %d: DropSubscription = %v, %v; want %v", i, got, err, want)
		}
		if err := DropSlot(ctx, sconn, slot); err != nil {
			t.Fatalf("round %d: DropSlot: %v", i, err)
		}
		if got, err := DropPublication(ctx, sconn, pub); err != nil || got != want {
			t.Fatalf("round %d: DropPublication = %v, %v; want %v", i, got, err, want)
		}
	}
	pgtest.AssertNoReplication(t, src, tgt)
}

type lines []string

// Emit keeps each event's message; every event Detach emits is a detach.
func (l *lines) Emit(e event.Event) {
	if e.Phase != event.Detach {
		e.Message = "phase " + string(e.Phase) + ", not detach: " + e.Message
	}
	*l = append(*l, e.Message)
}

func TestDetachSourceUp(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ctx := context.Background()
	stream(t, src, tgt, pg.Name{Schema: "public", Name: "t"}, "pgvecrep_up", "pgvecrep_up", "pgvecrep_up")
	if names, err := Names(ctx, src.Conn(t), tgt.Conn(t)); err != nil || !slices.Equal(names, []string{"pgvecrep_up"}) {
		t.Fatalf("Names = %q, %v; want the one name subscription, slot and publication share", names, err)
	}
	var out lines
	if err := Detach(ctx, src.Conn(t), tgt.Conn(t), "pgvecrep_up", &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || strings.Contains(strings.Join(out, "\n"), "not detach") {
		t.Errorf("Detach printed %q, want one line each for subscription, slot and publication", out)
	}
	pgtest.AssertNoReplication(t, src, tgt)
	out = nil
	if err := Detach(ctx, src.Conn(t), tgt.Conn(t), "pgvecrep_up", &out); err != nil || len(out) != 0 {
		t.Fatalf("second Detach = %v, printed %q; want a silent no-op", err, out)
	}
}

// TestDetachSourceGone detaches with the source stopped: DROP SUBSCRIPTION
// would fail trying to reach it if the subscription were not detached from
// its slot first; the slot and publication stay, and DropSQL removes them
// once the source is back.
func TestDetachSourceGone(t *testing.T) {
	env := pgtest.Get(t)
	ctx := context.Background()
	own := pgtest.Cluster(t, localpg.Options{})
	src := env.NewDB(t, own, "detach_src")
	_, tgt := env.Pair(t)
	stream(t, src, tgt, pg.Name{Schema: "public", Name: "t"}, "pgvecrep_gone", "pgvecrep_gone", "pgvecrep_gone")
	if err := own.Kill(ctx); err != nil {
		t.Fatal(err)
	}
	var out lines
	if err := Detach(ctx, nil, tgt.Conn(t), "pgvecrep_gone", &out); err != nil {
		t.Fatal(err)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_subscription WHERE subname = 'pgvecrep_gone'"); n != 0 {
		t.Fatal("subscription left on the target")
	}
	if err := own.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pgvecrep_gone'"); n != 1 {
		t.Fatalf("%d slots on the source; Detach without the source must leave it for DropSQL", n)
	}
	src.Exec(t, DropSQL("pgvecrep_gone", "pgvecrep_gone"))
	pgtest.AssertNoReplication(t, src, tgt)
}

// TestWaitApplied holds the apply worker on a lock: the change is sent and
// received, but not applied, and WaitApplied must not return until it is.
func TestWaitApplied(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ctx := context.Background()
	table := pg.Name{Schema: "public", Name: "Waited"}
	stream(t, src, tgt, table, "pgvecrep_wait", "pgvecrep_wait", "pgvecrep_wait")
	sconn := src.Conn(t)

	lock, err := tgt.Conn(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, "LOCK TABLE "+table.Quoted()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	src.Exec(t, "INSERT INTO "+table.Quoted()+" VALUES (1, 'held')")
	lsn, err := WALEnd(ctx, sconn)
	if err != nil {
		t.Fatal(err)
	}
	pgtest.WaitFor(t, "the apply worker to block on the lock", func() bool {
		return tgt.QueryInt(t, `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass`, table.Quoted()) > 0
	})
	err = WaitApplied(ctx, sconn, []string{"pgvecrep_wait"}, lsn, time.Now().Add(time.Second), 0)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitApplied with the apply blocked = %v, want a deadline error", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(300*time.Millisecond, cancel)
	if err := WaitApplied(cctx, sconn, []string{"pgvecrep_wait"}, lsn, time.Time{}, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitApplied after cancel = %v, want context.Canceled", err)
	}
	if err := sconn.Ping(ctx); err != nil {
		t.Fatalf("connection unusable after WaitApplied gave up: %v", err)
	}

	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := WaitApplied(ctx, sconn, []string{"pgvecrep_wait"}, lsn, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM "+table.Quoted()); n != 1 {
		t.Fatalf("WaitApplied returned with %d rows on the target, want 1", n)
	}
	if _, err := Applied(ctx, sconn, []string{"pgvecrep_nosuch"}, lsn); err == nil {
		t.Error("Applied on a missing slot returned no error")
	}
}

// TestCreatePublicationExists pins the SQLSTATE initsync turns into a hint.
func TestCreatePublicationExists(t *testing.T) {
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	ctx := context.Background()
	src.Exec(t, "CREATE TABLE t (id int PRIMARY KEY)")
	conn := src.Conn(t)
	names := []pg.Name{{Schema: "public", Name: "t"}}
	if err := CreatePublicationWith(ctx, conn, "pgvecrep_dup", names, PublicationOptions{}); err != nil {
		t.Fatal(err)
	}
	err := CreatePublicationWith(ctx, conn, "pgvecrep_dup", names, PublicationOptions{})
	if pg.Code(err) != "42710" {
		t.Fatalf("second CreatePublication = %v, want SQLSTATE 42710", err)
	}
	if _, err := DropPublication(ctx, conn, "pgvecrep_dup"); err != nil {
		t.Fatal(err)
	}
}
