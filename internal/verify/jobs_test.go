package verify

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// threeTables is a replica of three small keyed tables.
var threeTables = setup{
	schema: `CREATE TABLE a (id int PRIMARY KEY, v text); CREATE TABLE b (id int PRIMARY KEY, v text);
CREATE TABLE c (id int PRIMARY KEY, v text)`,
	fill: `INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 300) g;
INSERT INTO b SELECT g, 'b' || g FROM generate_series(1, 300) g;
INSERT INTO c SELECT g, 'c' || g FROM generate_series(1, 300) g`,
}

// jobsOptions are options for three workers over a, b and c.
func (r replica) jobsOptions(t *testing.T) Options {
	return Options{Tables: names(t, "a", "b", "c"), Sample: -1, Jobs: 3,
		Source: r.src.Config(t), Target: r.tgt.Config(t)}
}

// TestVerifyJobsConcurrent: with three jobs, three tables are between their
// source read and their target read at the same time, so three workers with
// sessions of their own run at once; every table gets its progress lines.
func TestVerifyJobsConcurrent(t *testing.T) {
	r := replicate(t, threeTables)
	var mu sync.Mutex
	inside, most := 0, 0
	all := sync.NewCond(&mu)
	// hook holds each first pass until three are inside at once. The
	// deadline (one for the whole test, inside r.verify's two minutes) only
	// keeps a pool that runs fewer workers from hanging the test.
	const guard = 90 * time.Second
	until := time.Now().Add(guard)
	wake := time.AfterFunc(guard, func() { mu.Lock(); all.Broadcast(); mu.Unlock() })
	defer wake.Stop()
	hook := func(pass string) {
		if pass != "first" {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		inside++
		most = max(most, inside)
		all.Broadcast()
		for most < 3 && time.Now().Before(until) {
			all.Wait()
		}
		inside--
	}
	var lines []string
	opts := r.jobsOptions(t)
	opts.Progress = func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) }
	rep := r.verify(t, opts, hook)
	if most != 3 {
		t.Errorf("at most %d tables were compared at once, want 3", most)
	}
	if !rep.OK() || len(rep.Tables) != 3 {
		t.Fatalf("healthy replica of three tables:\n%s", text(t, rep))
	}
	for i, name := range []string{"public.a", "public.b", "public.c"} {
		if rep.Tables[i].Table != name || rep.Tables[i].SourceRows != 300 {
			t.Errorf("table %d = %+v, want %s with 300 rows", i, rep.Tables[i], name)
		}
		started := fmt.Sprintf("comparing %s (table %d of 3)", name, i+1)
		done := "compared " + name + ": 300 rows on the source, 300 on the target"
		joined := strings.Join(lines, "\n")
		if !strings.Contains(joined, started) || !strings.Contains(joined, done) {
			t.Errorf("progress lacks %q or %q:\n%s", started, done, joined)
		}
	}
}

// TestVerifyJobsLostConnection: a connection lost in the middle of a table
// still stops the whole run with an error, with several workers as with one.
func TestVerifyJobsLostConnection(t *testing.T) {
	r := replicate(t, threeTables)
	killer := r.src.Conn(t)
	var once sync.Once
	hook := func(string) {
		once.Do(func() {
			_, err := killer.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
			if err != nil {
				t.Errorf("terminate the source sessions: %v", err)
			}
		})
	}
	opts := r.jobsOptions(t)
	opts.Subscription = r.sub
	ctx, cancel := context.WithTimeout(context.Background(), pgtest.Patience)
	defer cancel()
	rn := &run{src: r.src.Conn(t), tgt: r.tgt.Conn(t), opts: opts.withDefaults(), afterSourceRead: hook}
	rep, err := rn.run(ctx)
	if err == nil {
		t.Fatalf("verify went on after its source sessions were terminated:\n%s", text(t, rep))
	}
}
