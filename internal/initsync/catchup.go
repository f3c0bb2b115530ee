package initsync

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Vector-aware catch-up (Options.CatchUpFirst). The changes the source
// makes while start_sync copies and builds wait in the slot, and the apply
// worker applies them row by row; into a table with an HNSW index each
// applied row is an index insert of milliseconds. Measured with make
// bench-apply (one backlog of 27k inserted and 77k updated 128-d rows,
// engine objects only): applied into the indexed table, 282 s; applied
// into the table without its index and the index then built
// concurrently, 4 s + 24 s. So with CatchUpFirst the fast path builds the
// keys and plain indexes during the copy as always, but holds the vector
// indexes back: the subscriptions attach, the backlog drains, and only
// then is each vector index built with CREATE INDEX CONCURRENTLY, which
// lets the stream go on applying. The group stays in phase indexing (no
// switchover) until the last one is built.
//
// It is an option, not the default, because the default overlaps a
// table's vector build with the other tables' copy, which is what keeps
// start_sync's time to ready at the floor when little is written
// meanwhile.

// heldBack is pending without the vector indexes when they wait for the
// catch-up.
func (s *syncer) heldBack(pending []group.Deferred) []group.Deferred {
	if !s.opts.CatchUpFirst {
		return pending
	}
	var out []group.Deferred
	for _, d := range pending {
		if d.Kind != group.VectorIndex {
			out = append(out, d)
		}
	}
	return out
}

// catchUpThenBuild waits until the target has applied what the source
// wrote during the copy, then builds the held-back vector indexes
// concurrently.
func (s *syncer) catchUpThenBuild(ctx context.Context) error {
	if !s.opts.CatchUpFirst {
		return nil
	}
	lsn, err := replication.WALEnd(ctx, s.src)
	if err != nil {
		return err
	}
	start := time.Now()
	s.say(event.Wait, "applying what the source wrote during the copy (up to %s) before the vector indexes are built", lsn)
	if err := replication.WaitApplied(ctx, s.src, s.streams(), lsn, time.Time{}, time.Second); err != nil {
		return err
	}
	s.ev.Emit(event.Event{Phase: event.Wait, Duration: time.Since(start),
		Message: fmt.Sprintf("the target has applied up to %s in %s", lsn, time.Since(start).Round(100*time.Millisecond))})
	if err := s.hook("caught-up"); err != nil {
		return err
	}
	pending, err := group.PendingDeferred(ctx, s.tgt, s.opts.Group)
	if err != nil {
		return err
	}
	for _, d := range pending {
		if d.Kind != group.VectorIndex {
			continue
		}
		began := time.Now()
		s.ev.Emit(event.Event{Phase: event.Index, Table: d.Table.String(), Index: d.Name, Progress: true,
			Message: fmt.Sprintf("building %s concurrently while the group streams", d.Name)})
		if err := postdata.BuildConcurrently(ctx, s.tgt, pgx.Identifier{d.Table.Schema, d.Name}.Sanitize(), d.Def); err != nil {
			return err
		}
		if err := group.MarkBuilt(ctx, s.tgt, s.opts.Group, d); err != nil {
			return err
		}
		s.ev.Emit(event.Event{Phase: event.Index, Table: d.Table.String(), Index: d.Name, Duration: time.Since(began),
			Message: fmt.Sprintf("built %s concurrently in %s", d.Name, time.Since(began).Round(100*time.Millisecond))})
	}
	return nil
}
