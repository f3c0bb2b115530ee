package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/retry"
)

// step is one line of the tutorial: a heading (none when empty) and what it
// does. A step returns an error only when the demo cannot go on; a
// difference between the sides is counted in run.failures instead, so every
// later step still shows what happened.
type step struct {
	title string
	do    func(ctx context.Context, r *run) error
}

// onFail says what a pgvecrep command's non-zero exit means for the demo.
type onFail int

const (
	fatal  onFail = iota // the demo cannot go on
	differ               // counted as a difference between the sides
	ignore               // informational only
)

// tutorial is the demo, in order.
var tutorial = []step{
	{"Creating extension vector, table test (vector(10)) and an HNSW index on both sides", prepare},
	{"Inserting 100 rows on the source", insert(1, 100)},
	compare("Before replication (the target is empty)", false),
	pgvecrep(fatal, "config_check"),
	pgvecrep(fatal, "bootstrap", "--group-name", Group, "--copy-schema"),
	pgvecrep(fatal, "start_sync", "--group-name", Group),
	compare("After start_sync", true),
	{"Inserting 100 more rows on the source", insert(101, 200)},
	{"", waitRows(200)},
	compare("After 100 more rows", true),
	pgvecrep(ignore, "stats", "--group-name", Group),
	pgvecrep(differ, "verify", "--group-name", Group),
	pgvecrep(fatal, "switchover", "--group-name", Group),
	{"Stopping the source (pg_ctl stop -m immediate)", stopSource},
	{"The target alone answers the tutorial's query", targetAlone},
}

// upgraded closes the --upgrade demo: the application's data now lives on
// the newer server.
var upgraded = step{"The upgrade is done: the application's server is now the target", upgradeDone}

// table is the demo's steps: the tutorial, and with --upgrade its last
// word, or with --round-trip the way back instead of its end.
func (r *run) table() []step {
	if r.opts.RoundTrip { // ends back on the source: no upgrade to announce
		return append(tutorial[:switchoverStep+1:switchoverStep+1], roundTrip...)
	}
	if !r.opts.Upgrade {
		return tutorial
	}
	return append(tutorial[:len(tutorial):len(tutorial)], upgraded)
}

// upgradeDone prints the version the application now runs on.
func upgradeDone(ctx context.Context, r *run) error {
	conn, err := r.tgt.Connect(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var v string
	if err := conn.QueryRow(ctx, "SHOW server_version").Scan(&v); err != nil {
		return fmt.Errorf("read the target's version: %w", err)
	}
	fmt.Fprintf(r.opts.Out, "PostgreSQL %d -> %s: the application's data now lives on the newer server ✓\n", r.src.Major, v)
	return nil
}

func prepare(ctx context.Context, r *run) error {
	for _, c := range []*localpg.Cluster{r.src, r.tgt} {
		if err := c.Exec(ctx, "postgres", `CREATE EXTENSION IF NOT EXISTS vector;
			DROP TABLE IF EXISTS test;
			CREATE TABLE test (id integer PRIMARY KEY, embedding vector(10) NOT NULL);
			CREATE INDEX ON test USING hnsw (embedding vector_l2_ops);`); err != nil {
			return fmt.Errorf("prepare tables: %w", err)
		}
	}
	return nil
}

// pgvecrep is a step that runs one pgvecrep command against the clusters.
func pgvecrep(f onFail, args ...string) step {
	return step{"pgvecrep " + strings.Join(args, " "), func(ctx context.Context, r *run) error {
		code := r.opts.Pgvecrep(ctx, r.urls, args)
		switch {
		case code == 0 || f == ignore:
		case f == differ:
			r.failures++
		default:
			return fmt.Errorf("demo: pgvecrep %s exited %d", args[0], code)
		}
		return nil
	}}
}

// compare is a step that prints both sides' top 10 side by side; when
// wantSame, a difference counts as a failure.
func compare(title string, wantSame bool) step {
	return step{title + ": SELECT id FROM test ORDER BY embedding <-> '[0.406…]' LIMIT 10", func(ctx context.Context, r *run) error {
		a, err := query(ctx, r.src)
		if err != nil {
			return err
		}
		b, err := query(ctx, r.tgt)
		if err != nil {
			return err
		}
		same := printSideBySide(r.opts.Out, a, b)
		switch {
		case wantSame && same:
			fmt.Fprintln(r.opts.Out, "identical ✓")
		case wantSame:
			fmt.Fprintln(r.opts.Out, "DIFFERENT ✗")
			r.failures++
		}
		return nil
	}}
}

// insert is a step that adds rows to the source.
func insert(from, to int) func(context.Context, *run) error {
	return func(ctx context.Context, r *run) error { return insertRows(ctx, r.src, from, to) }
}

// errBehind says the target has not applied every row yet.
var errBehind = errors.New("target behind")

// waitRows is a step that waits until the target has n rows: replication is
// asynchronous. It polls every 200ms for up to a minute.
func waitRows(n int64) func(context.Context, *run) error { return waitRowsOn("target", n) }

// waitRowsOn is waitRows for either side ("source" follows the target
// after a switchover, through the reverse stream).
func waitRowsOn(side string, n int64) func(context.Context, *run) error {
	return func(ctx context.Context, r *run) error {
		c := r.tgt
		if side == "source" {
			c = r.src
		}
		var got int64
		err := retry.Do(ctx, retry.Policy{Attempts: 300, Pause: 200 * time.Millisecond, MaxPause: 200 * time.Millisecond,
			Retryable: func(err error) bool { return errors.Is(err, errBehind) }},
			func(ctx context.Context) (err error) {
				if got, err = count(ctx, c); err == nil && got != n {
					err = errBehind
				}
				return err
			})
		if errors.Is(err, errBehind) {
			return hint.New(fmt.Sprintf("demo: %s has %d rows after 60s, want %d", side, got, n), "run pgvecrep stats to see the lag")
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(r.opts.Out, "%s has all %d rows\n", side, n)
		return nil
	}
}

// stopSource keeps the source's last answer and stops it hard, as a crash
// would.
func stopSource(ctx context.Context, r *run) error {
	var err error
	if r.last, err = query(ctx, r.src); err != nil {
		return err
	}
	if err := r.src.Kill(ctx); err != nil {
		return fmt.Errorf("stop the source: %w", err)
	}
	return nil
}

// targetAlone checks that the target answers as the source last did and
// takes writes.
func targetAlone(ctx context.Context, r *run) error {
	got, err := query(ctx, r.tgt)
	if err != nil {
		return err
	}
	if printSideBySide(r.opts.Out, r.last, got) {
		fmt.Fprintln(r.opts.Out, "identical to the source's last answer ✓")
	} else {
		fmt.Fprintln(r.opts.Out, "DIFFERENT ✗")
		r.failures++
	}
	if err := exec(ctx, r.tgt, "INSERT INTO test VALUES (201, '[1,1,1,1,1,1,1,1,1,1]')"); err != nil {
		return fmt.Errorf("the target does not take writes after the switchover: %w", err)
	}
	fmt.Fprintln(r.opts.Out, "the target takes writes ✓")
	return nil
}
