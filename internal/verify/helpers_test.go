package verify

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// replica is a source and a target database with native logical replication
// between them, set up by hand (start_sync is not what is under test here).
type replica struct {
	src, tgt pgtest.DB
	sub      string
}

// setup describes a replica to build. With copyData the subscription copies
// the source's rows, as in real life; without, fill runs on both sides (it
// must be deterministic) and the subscription only streams, which saves the
// seconds a table sync takes.
type setup struct {
	schema   string // run on both sides
	fill     string // rows
	indexes  string // built after the rows, and on a copying target before them
	copyData bool
}

// fastLauncher makes the target's launcher start an apply worker within
// 100ms of the previous one instead of 5s, which would otherwise be the
// price of every subscription after the first.
var fastLauncher sync.Once

// replicate builds the replica and returns once it streams.
func replicate(t *testing.T, s setup) replica {
	t.Helper()
	env := pgtest.Get(t)
	fastLauncher.Do(func() {
		for _, sql := range []string{"ALTER SYSTEM SET wal_retrieve_retry_interval = '100ms'", "SELECT pg_reload_conf()"} {
			if err := env.Target.Exec(context.Background(), "postgres", sql); err != nil {
				t.Fatal(err)
			}
		}
	})
	src, tgt := env.Pair(t)
	sides := []pgtest.DB{src, tgt}
	if s.copyData {
		tgt.Exec(t, s.schema+";"+s.indexes)
		sides = sides[:1]
	}
	for _, db := range sides {
		db.Exec(t, s.schema+";"+s.fill+";"+s.indexes)
	}
	r := replica{src: src, tgt: tgt, sub: "s_" + src.Name}
	src.Exec(t, "CREATE PUBLICATION p FOR ALL TABLES")
	tgt.Exec(t, fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION p WITH (copy_data = %t)",
		pgx.Identifier{r.sub}.Sanitize(), pg.Literal(src.URL), s.copyData))
	conn := tgt.Conn(t)
	waitFor(t, 60*time.Second, "the subscription to stream", func() bool {
		var pending, all, workers int
		err := conn.QueryRow(context.Background(), `SELECT count(*) FILTER (WHERE srsubstate <> 'r'), count(*),
			(SELECT count(*) FROM pg_stat_subscription WHERE relid IS NULL AND latest_end_lsn IS NOT NULL)
			FROM pg_subscription_rel`).Scan(&pending, &all, &workers)
		if err != nil {
			t.Fatal(err)
		}
		return pending == 0 && all > 0 && workers == 1
	})
	return r
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verify runs Run with the replica's subscription and test-friendly defaults.
func (r replica) verify(t *testing.T, opts Options, hook func(pass string)) Report {
	t.Helper()
	if opts.Subscription == "" {
		opts.Subscription = r.sub
	}
	if opts.ChunkRows == 0 {
		opts.ChunkRows = 500
	}
	if opts.Sample == 0 {
		opts.Sample = 8
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rn := &run{src: r.src.Conn(t), tgt: r.tgt.Conn(t), opts: opts.withDefaults(), afterSourceRead: hook}
	rep, err := rn.run(ctx)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

func names(t *testing.T, list ...string) []pg.Name {
	t.Helper()
	var out []pg.Name
	for _, s := range list {
		n, err := pg.ParseName(s, "public")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func tableResult(t *testing.T, rep Report, name string) TableResult {
	t.Helper()
	for _, tr := range rep.Tables {
		if tr.Table == name {
			return tr
		}
	}
	t.Fatalf("no result for table %s in %+v", name, rep.Tables)
	return TableResult{}
}

func annResult(t *testing.T, rep Report, index string) ANNResult {
	t.Helper()
	for _, a := range rep.ANN {
		if a.Index == index {
			return a
		}
	}
	t.Fatalf("no result for index %s in %+v", index, rep.ANN)
	return ANNResult{}
}
