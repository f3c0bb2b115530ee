package postdata

import (
	"context"
	"errors"
	"sync"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// schedule decides when each object of one Build may start. An object waits
// only for what it needs:
//
//   - a primary key, unique constraint or NOT VALID check (a "key" here),
//     for its table's data and for any other key of the table being added
//     (each locks the table whole);
//   - any other index, also for its table's keys: ALTER TABLE ... ADD
//     PRIMARY KEY takes an ACCESS EXCLUSIVE lock, so an index build running
//     beside it on the same table would only hold a session while waiting;
//   - a foreign key, for every key and index of both its tables: adding it
//     reads both tables' data through the referenced key, and its SHARE ROW
//     EXCLUSIVE lock waits for any index build on either table. A foreign
//     key whose referenced table is unknown waits for everything else.
//
// Among the objects that may start, the ones on the way to a vector index
// (vector indexes, and the keys of their tables) go first, then Less: the
// vector builds are the long ones, and an early start keeps one of them
// from being the only thing running at the end.
type schedule struct {
	mu        sync.Mutex
	waiting   []Object
	copied    map[pg.Name]bool
	allCopied bool
	keysLeft  map[pg.Name]int  // keys not built, per table
	keysBusy  map[pg.Name]bool // a key of the table is being added
	left      map[pg.Name]int  // keys and indexes not built, per table
	leftAll   int              // keys and indexes not built, all tables
	running   int
	vectors   map[pg.Name]bool // tables with a vector index
	wake      chan struct{}    // a build finished
}

func newSchedule(objs []Object, allCopied bool) *schedule {
	s := &schedule{waiting: append([]Object(nil), objs...), copied: map[pg.Name]bool{}, allCopied: allCopied,
		keysLeft: map[pg.Name]int{}, keysBusy: map[pg.Name]bool{}, left: map[pg.Name]int{}, vectors: map[pg.Name]bool{}, wake: make(chan struct{}, 1)}
	for _, o := range objs {
		switch {
		case isKey(o.Kind):
			s.keysLeft[o.Table]++
		case o.Kind == group.VectorIndex:
			s.vectors[o.Table] = true
		}
		if o.Kind != group.ForeignKey {
			s.left[o.Table]++
			s.leftAll++
		}
	}
	return s
}

// isKey reports whether objects of kind lock their table whole while they
// are added (see schedule): everything else on the table waits for them.
func isKey(kind group.Kind) bool {
	return kind == group.PrimaryKey || kind == group.UniqueKey || kind == group.CheckConstraint
}

// ready reports whether o may start. Called with mu held.
func (s *schedule) ready(o Object) bool {
	copied := func(t pg.Name) bool { return s.allCopied || s.copied[t] }
	switch {
	case isKey(o.Kind):
		return copied(o.Table) && !s.keysBusy[o.Table]
	case o.Kind == group.ForeignKey:
		if o.References == (pg.Name{}) {
			return s.allCopied && s.leftAll == 0
		}
		return copied(o.Table) && copied(o.References) && s.left[o.Table] == 0 && s.left[o.References] == 0
	default:
		return copied(o.Table) && s.keysLeft[o.Table] == 0
	}
}

// first reports whether a starts before b when both may start.
func (s *schedule) first(a, b Object) bool {
	toVector := func(o Object) bool {
		return o.Kind == group.VectorIndex || isKey(o.Kind) && s.vectors[o.Table]
	}
	if va, vb := toVector(a), toVector(b); va != vb {
		return va
	}
	return Less(a, b)
}

// next picks the object to start now: ok is false when none may start,
// and done is true when none is left to start.
func (s *schedule) next() (o Object, ok, done bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := -1
	for i, w := range s.waiting {
		if s.ready(w) && (best < 0 || s.first(w, s.waiting[best])) {
			best = i
		}
	}
	switch {
	case len(s.waiting) == 0:
		return Object{}, false, true, nil
	case best >= 0:
		return s.waiting[best], true, false, nil
	case s.allCopied && s.running == 0:
		return Object{}, false, false, errors.New("build: objects left that wait for nothing that can finish")
	}
	return Object{}, false, false, nil
}

// started removes o from the waiting objects.
func (s *schedule) started(o Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.waiting {
		if w.String() == o.String() {
			s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
			break
		}
	}
	if isKey(o.Kind) {
		s.keysBusy[o.Table] = true
	}
	s.running++
}

// finished records a built object and wakes the dispatcher.
func (s *schedule) finished(o Object) {
	s.mu.Lock()
	s.running--
	if isKey(o.Kind) {
		s.keysLeft[o.Table]--
		s.keysBusy[o.Table] = false
	}
	if o.Kind != group.ForeignKey {
		s.left[o.Table]--
		s.leftAll--
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *schedule) tableCopied(t pg.Name, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if open {
		s.copied[t] = true
	} else {
		s.allCopied = true
	}
}

// dispatch hands objects to out as they may start, best first, until none
// is left; copied names the tables whose data is in (closed: all of them).
func (s *schedule) dispatch(ctx context.Context, copied <-chan pg.Name, out chan<- Object) error {
	defer close(out)
	for {
		o, ok, done, err := s.next()
		if done || err != nil {
			return err
		}
		var send chan<- Object
		if ok {
			send = out
		}
		select {
		case send <- o:
			s.started(o)
		case t, open := <-copied:
			s.tableCopied(t, open)
			if !open {
				copied = nil
			}
		case <-s.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
