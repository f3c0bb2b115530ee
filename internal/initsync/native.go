package initsync

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/progress"
)

// nativeCopy lets the engine copy: slot, subscription with copy_data = true,
// then wait until every table is ready.
func (s *syncer) nativeCopy(ctx context.Context) error {
	if err := s.createSlot(ctx); err != nil {
		return err
	}
	if err := s.createSubscription(ctx, true); err != nil {
		return err
	}
	if err := s.hook("after-subscription"); err != nil {
		return err
	}
	return s.waitReady(ctx)
}

// relState is one table's state in pg_subscription_rel plus the running
// COPY's progress, when there is one.
type relState struct {
	table  string
	state  string
	tuples int64
	bytes  int64
}

const relStatesQuery = `
SELECT format('%I.%I', n.nspname, c.relname) || CASE WHEN s.subname = ($1::text[])[1] THEN '' ELSE ' (' || s.subname || ')' END, sr.srsubstate::text,
       coalesce(pc.tuples_processed, 0), coalesce(pc.bytes_processed, 0)
FROM pg_subscription_rel sr
JOIN pg_subscription s ON s.oid = sr.srsubid
JOIN pg_class c ON c.oid = sr.srrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_progress_copy pc ON pc.relid = sr.srrelid AND pc.datid = s.subdbid
WHERE s.subname = ANY ($1)
ORDER BY 1`

// waitReady polls until every table of the subscription is ready, printing
// each table's state and copy progress as it changes, and fails if the
// subscription's workers report errors.
func (s *syncer) waitReady(ctx context.Context) error {
	start := time.Now()
	s.relLines = map[string]string{}
	baseErrors, err := s.syncErrors(ctx)
	if err != nil {
		return err
	}
	for {
		rels, err := s.relStates(ctx)
		if err != nil {
			return err
		}
		ready := 0
		for _, r := range rels {
			if r.state == "r" {
				ready++
			}
			line := fmt.Sprintf("%s: %s", r.table, group.SubscriptionState(r.state))
			if r.state == "d" && r.tuples > 0 {
				line += fmt.Sprintf(", %d rows, %s", r.tuples, progress.Bytes(r.bytes))
			}
			if line != s.relLines[r.table] {
				s.relLines[r.table] = line
				s.ev.Emit(event.Event{Phase: event.Copy, Table: r.table, Rows: r.tuples, Bytes: r.bytes, Message: line})
			}
		}
		if len(rels) > 0 && ready == len(rels) {
			s.ev.Emit(event.Event{Phase: event.Copy, Duration: time.Since(start),
				Message: fmt.Sprintf("all %d table(s) copied in %s", len(rels), progress.Elapsed(time.Since(start)))})
			return nil
		}
		if n, err := s.syncErrors(ctx); err != nil {
			return err
		} else if n > baseErrors {
			return hint.New(fmt.Sprintf("the subscription's workers report %d error(s) while copying", n-baseErrors),
				"look at the target server's log for 'logical replication' errors (often a missing column, type or permission)")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(s.opts.PollInterval):
		}
	}
}

func (s *syncer) relStates(ctx context.Context) ([]relState, error) {
	rows, err := s.tgt.Query(ctx, relStatesQuery, s.streams())
	if err != nil {
		return nil, fmt.Errorf("read subscription table states: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (relState, error) {
		var st relState
		return st, r.Scan(&st.table, &st.state, &st.tuples, &st.bytes)
	})
}

func (s *syncer) syncErrors(ctx context.Context) (int64, error) {
	var n int64
	err := s.tgt.QueryRow(ctx, `SELECT coalesce(sum(sync_error_count + apply_error_count), 0)::bigint
		FROM pg_stat_subscription_stats WHERE subname = ANY ($1)`, s.streams()).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("read subscription error counts: %w", err)
	}
	return n, nil
}
