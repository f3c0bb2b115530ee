package replication

import (
	"context"
	"fmt"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// backlogRows is the size of TestEstimateConverges' backlog: one-row
// transactions that a trigger on the target makes take 5 ms each to
// apply, so the catch-up takes 7.5 s or more however idle the machine,
// and a load on it only slows it down.
const backlogRows = 1500

// slowApply makes every insert into items on the target sleep 5 ms, in the
// apply worker too (ENABLE ALWAYS): the pace of a target busy with HNSW
// inserts, without the machine's load in it.
const slowApply = `CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.005); RETURN NEW; END $$;
CREATE TRIGGER slow BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION slow();
ALTER TABLE items ENABLE ALWAYS TRIGGER slow`

// TestEstimateConverges: a known backlog (backlogRows one-row transactions
// written while the subscription is disabled) is applied once it is
// enabled, and Catchup, read every 200ms as stats --watch and switchover
// do, estimates how long that takes. The stated error: the median of the
// estimates made while a quarter to three quarters of the backlog is
// applied is within 40% (plus half a second) of the time the target then
// really took.
func TestEstimateConverges(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	ctx := context.Background()
	ddl := `CREATE TABLE items (id int PRIMARY KEY, emb vector(128))`
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	tgt.Exec(t, slowApply)
	env.Stream(t, src, tgt, pgtest.Stream{Publication: "conv", Subscription: "conv"})
	tgt.Exec(t, `ALTER SUBSCRIPTION conv DISABLE`)
	pgtest.WaitFor(t, "the apply worker to stop", func() bool {
		return tgt.QueryInt(t, `SELECT count(*) FROM pg_stat_subscription WHERE subname = 'conv' AND pid IS NOT NULL`) == 0
	})
	src.Exec(t, fmt.Sprintf(`DO $$ BEGIN FOR i IN 1..%d LOOP
		INSERT INTO items SELECT i, (SELECT array_agg(random())::vector(128) FROM generate_series(1, 128) WHERE i > 0);
		COMMIT; END LOOP; END $$`, backlogRows))
	tgt.Exec(t, `ALTER SUBSCRIPTION conv ENABLE`)

	sconn, tconn := src.Conn(t), tgt.Conn(t)
	type guess struct {
		at  time.Time
		eta time.Duration
	}
	var guesses []guess
	var c Catchup
	var done time.Time
	start := time.Now()
	for done.IsZero() {
		p, err := ReadProgress(ctx, sconn, tconn, "conv")
		if err != nil {
			t.Fatal(err)
		}
		e := c.Add(p)
		var rows int64
		if err := tconn.QueryRow(ctx, "SELECT count(*) FROM items").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		switch {
		case rows == backlogRows:
			done = time.Now()
		case rows >= backlogRows/4 && rows <= backlogRows*3/4 && e.ETA != nil:
			guesses = append(guesses, guess{p.At, *e.ETA})
		}
		if time.Since(start) > pgtest.Patience {
			t.Fatalf("the target applied %d of %d rows in %s", rows, backlogRows, pgtest.Patience)
		}
		time.Sleep(200 * time.Millisecond) // how often the estimate is sampled, not a wait
	}
	if len(guesses) < 5 {
		t.Fatalf("only %d estimates while a quarter to three quarters was applied (catch-up took %s): the backlog is too small to judge",
			len(guesses), done.Sub(start))
	}
	errs := make([]float64, len(guesses))
	for i, g := range guesses {
		actual := done.Sub(g.at)
		errs[i] = math.Abs(g.eta.Seconds()-actual.Seconds()) / (actual.Seconds()*0.4 + 0.5)
	}
	sort.Float64s(errs)
	median := errs[len(errs)/2]
	t.Logf("catch-up took %s; %d estimates; median error %.2f of the allowed", done.Sub(start).Round(time.Millisecond), len(guesses), median)
	if median > 1 {
		for _, g := range guesses {
			t.Logf("at %s: estimated %s, took %s", g.at.Sub(start).Round(time.Millisecond), g.eta.Round(time.Millisecond), done.Sub(g.at).Round(time.Millisecond))
		}
		t.Errorf("the median estimate is off by %.0f%% of the allowed 40%% + 0.5 s", median*100)
	}
}
