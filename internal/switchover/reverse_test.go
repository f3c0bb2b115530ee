package switchover

import (
	"context"
	"sync"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// startWriting runs a writer on url until the returned stop is called.
func startWriting(t *testing.T, url string) (*writer, func()) {
	t.Helper()
	w := &writer{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(ctx, url) }()
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return w, stop
}

// missing lists the acknowledged ids db lacks.
func missing(t *testing.T, db pgtest.DB, acked []int64) []int64 {
	t.Helper()
	have := map[string]bool{}
	for _, id := range db.QueryStrings(t, "SELECT id::text FROM items") {
		have[id] = true
	}
	var out []int64
	for _, id := range acked {
		if !have[itoa(id)] {
			out = append(out, id)
		}
	}
	return out
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestReverseRoundTrip switches over with a writer on the source, writes
// on the new primary from the moment the switchover returns, and switches
// back with that writer still running: every acknowledged row of both
// writers is on the source, the tables are equal by ordered checksum, the
// source's sequences continue past every id the target handed out, and
// the forward stream runs again.
func TestReverseRoundTrip(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	streaming(t, src, tgt)
	ctx := context.Background()

	w1, stop1 := startWriting(t, src.URL)
	pgtest.WaitFor(t, "10 inserts on the source", func() bool { return w1.count(nil) >= 10 })
	sc, tc := src.Conn(t), tgt.Conn(t) // one session: Run keeps the group's lock on it
	res, err := Run(ctx, sc, tc, Options{Group: "g", Out: out(), Reverse: true, ReverseConnInfo: tgt.URL})
	if err != nil {
		t.Fatal(err)
	}
	// The first write on the new primary, the instant the switchover
	// returns, reaches the source.
	first := tgt.QueryInt(t, "INSERT INTO items (embedding, note) VALUES ('[7,7,7]', 'first') RETURNING id")
	pgtest.WaitFor(t, "the first write on the target to reach the source", func() bool {
		return src.QueryInt(t, "SELECT count(*) FROM items WHERE id = $1", first) == 1
	})
	stop1()
	if res.Reverse == nil || len(res.ReverseSkipped) > 0 {
		t.Fatalf("no reverse stream: %+v", res)
	}
	if m := missing(t, tgt, w1.acked); len(m) > 0 {
		t.Fatalf("acknowledged ids missing on the target after the switchover: %v", m)
	}
	// Applications stay frozen out of the source while the reverse apply
	// writes through the freeze.
	if _, err := src.Conn(t).Exec(ctx, "INSERT INTO items (embedding) VALUES ('[2,2,2]')"); !frozenError(err) {
		t.Errorf("insert on the source after the switchover: %v, want the freeze error", err)
	}

	w2, stop2 := startWriting(t, tgt.URL)
	pgtest.WaitFor(t, "50 inserts on the target", func() bool { return w2.count(nil) >= 50 })
	tgt.Exec(t, "UPDATE items SET note = 'changed on the target' WHERE id % 7 = 0")
	tgt.Exec(t, "INSERT INTO other (v) SELECT i FROM generate_series(1, 20) i")
	back, err := Switchback(ctx, sc, tc, SwitchbackOptions{Group: "g", Out: out(), ForwardConnInfo: src.URL})
	if err != nil {
		t.Fatal(err)
	}
	pgtest.WaitFor(t, "a write to fail with the freeze error on the target", func() bool { return w2.count(frozenError) > 0 })
	stop2()
	if back.FreezeWindow <= 0 || back.DrainLSN == "" || back.ForwardLSN == "" {
		t.Errorf("switchback result: %+v", back)
	}
	t.Logf("freeze windows: switchover %s, switchback %s", res.FreezeWindow, back.FreezeWindow)
	if m := missing(t, src, append(w1.acked, w2.acked...)); len(m) > 0 {
		t.Fatalf("acknowledged ids missing on the source after the switchback: %v", m)
	}
	for _, table := range []string{"items", "other"} {
		if a, b := pgtest.RowsSum(t, sc, table, "true"), pgtest.RowsSum(t, tc, table, "true"); a != b {
			t.Errorf("%s differs after the round trip: source %s, target %s", table, a, b)
		}
	}
	// Sequences on the source continue past every id the target handed out.
	for _, c := range []struct{ table, seq string }{{"items", "items_id_seq"}, {"other", "other_id_seq"}} {
		maxID := tgt.QueryInt(t, "SELECT max(id) FROM "+c.table)
		if next := src.QueryInt(t, "SELECT nextval('"+c.seq+"')"); next <= maxID {
			t.Errorf("%s on the source continues at %d, not past the target's max id %d", c.seq, next, maxID)
		}
	}
	// The source takes writes again and the target follows it.
	id := src.QueryInt(t, "INSERT INTO items (embedding, note) VALUES ('[8,8,8]', 'after') RETURNING id")
	pgtest.WaitFor(t, "a write on the source to reach the target again", func() bool {
		return tgt.QueryInt(t, "SELECT count(*) FROM items WHERE id = $1", id) == 1
	})
	g, err := group.Get(ctx, tc, "g")
	if err != nil || g.Phase != group.Streaming {
		t.Errorf("phase after switchback = %s (%v), want streaming", g.Phase, err)
	}
	for _, db := range []pgtest.DB{src, tgt} {
		if n := db.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE '%\\_rev'"); n != 0 {
			t.Errorf("%d reverse slot(s) left on %s", n, db.Name)
		}
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_subscription WHERE subname LIKE '%\\_rev'"); n != 0 {
		t.Errorf("reverse subscription left on the source")
	}
}
