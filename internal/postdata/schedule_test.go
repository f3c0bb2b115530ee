package postdata

import (
	"context"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestSchedule walks a pipelined build by hand: each object may start
// only when its table is copied and what it needs is built, and among those
// that may start, the way to a vector index comes first.
func TestSchedule(t *testing.T) {
	a, b := name("a"), name("b")
	objs := []Object{
		{Table: a, Name: "a_pkey", Kind: group.PrimaryKey, Bytes: 100},
		{Table: a, Name: "a_hnsw", Kind: group.VectorIndex, Bytes: 100},
		{Table: b, Name: "b_pkey", Kind: group.PrimaryKey, Bytes: 900},
		{Table: b, Name: "b_key", Kind: group.UniqueKey, Bytes: 900},
		{Table: b, Name: "b_btree", Kind: group.PlainIndex, Bytes: 900},
		{Table: b, Name: "b_a_fkey", Kind: group.ForeignKey, References: a},
		{Table: b, Name: "b_unknown_fkey", Kind: group.ForeignKey},
	}
	s := newSchedule(objs, false)
	expect := func(want string) Object {
		t.Helper()
		o, ok, done, err := s.next()
		if err != nil || done {
			t.Fatalf("next = %v, done %v; want %s", err, done, want)
		}
		got := ""
		if ok {
			got = o.Name
			s.started(o)
		}
		if got != want {
			t.Fatalf("next = %q, want %q", got, want)
		}
		return o
	}
	byName := map[string]Object{}
	for _, o := range objs {
		byName[o.Name] = o
	}
	expect("") // nothing is copied
	s.tableCopied(b, true)
	expect("b_pkey")
	expect("") // b's other key and index wait for b_pkey, a is not copied
	s.tableCopied(a, true)
	expect("a_pkey") // b_btree may start too, but a leads to a vector index
	expect("")       // a_hnsw waits for a_pkey, b_btree for b_pkey
	s.finished(byName["a_pkey"])
	expect("a_hnsw")
	s.finished(byName["b_pkey"])
	expect("b_key")
	expect("")
	s.finished(byName["b_key"])
	expect("b_btree")
	s.finished(byName["b_btree"])
	expect("") // the foreign key waits for a's vector index (its lock would)
	s.finished(byName["a_hnsw"])
	expect("b_a_fkey")
	expect("") // the key that names no table waits for the copy to end
	s.tableCopied(a, false)
	expect("b_unknown_fkey")
	if _, _, done, _ := s.next(); !done {
		t.Error("schedule not done with every object started")
	}
}

// TestScheduleStuck reports objects that can never start instead of hanging.
func TestScheduleStuck(t *testing.T) {
	s := newSchedule([]Object{{Table: name("a"), Name: "i", Kind: group.PlainIndex}}, true)
	s.keysLeft[name("a")] = 1 // a key that is not among the objects
	if _, _, _, err := s.next(); err == nil {
		t.Error("no error for an object nothing can unblock")
	}
}

// TestMemoryShares splits what is free among the idle sessions, never hands
// out more than the budget, and gets it all back.
func TestMemoryShares(t *testing.T) {
	m := newMemory(1200, 3)
	one := m.claim()
	if one != 400 {
		t.Errorf("first of 3 sessions got %d of 1200, want 400", one)
	}
	two, three := m.claim(), m.claim()
	if one+two+three > 1200 {
		t.Errorf("shares %d+%d+%d exceed the budget", one, two, three)
	}
	m.release(one)
	m.release(two)
	m.release(three)
	if alone := m.claim(); alone != 400 {
		t.Errorf("after release, a build got %d, want 400", alone)
	}
	if solo := newMemory(1200, 1).claim(); solo != 1200 {
		t.Errorf("a single session got %d, want the whole budget", solo)
	}
	if newMemory(0, 2) != nil {
		t.Error("a zero budget should keep the server's setting")
	}
}

// TestBuildWaitsForCopied builds a table's objects as soon as the table is
// named as copied, and nothing of a table that is not.
func TestBuildWaitsForCopied(t *testing.T) {
	_, tgt := pgtest.Get(t).Pair(t)
	tgt.Exec(t, schema)
	objs := objects()
	objs[0].References = name("parent")
	copied := make(chan pg.Name)
	parentBuilt := make(chan struct{})
	var rec recorder
	opts := Options{Target: tgt.Config(t), Parallel: 2, Copied: copied, Progress: rec.progress,
		OnBuilt: func(o Object) error {
			if o.Name == "parent_pkey" {
				close(parentBuilt)
			}
			return rec.onBuilt(o)
		}}
	done := make(chan error, 1)
	go func() { done <- Build(context.Background(), objs, opts) }()
	copied <- name("parent")
	<-parentBuilt
	rec.mu.Lock()
	for _, e := range rec.events {
		if e.Object.Table != name("parent") {
			t.Errorf("%s started before its table was copied", e.Object)
		}
	}
	rec.mu.Unlock()
	copied <- child
	close(copied)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(rec.built) != len(objs) || rec.built[len(rec.built)-1] != "child_fk" {
		t.Errorf("built %v; want all %d, the foreign key last", rec.built, len(objs))
	}
}
