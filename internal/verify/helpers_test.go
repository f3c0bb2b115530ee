package verify

import (
	"context"
	"os"
	"testing"
	"time"

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

// replicate builds the replica and returns once it streams.
func replicate(t *testing.T, s setup) replica {
	t.Helper()
	env := pgtest.Get(t)
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
	env.Stream(t, src, tgt, pgtest.Stream{Publication: "p", Subscription: r.sub, CopyData: s.copyData})
	return r
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
