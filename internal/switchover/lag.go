package switchover

import (
	"context"
	"fmt"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// waitLag waits until every table is ready and the slot's unconfirmed WAL is
// at most the lag delta, printing the lag as it falls.
func (s *run) waitLag(ctx context.Context) error {
	for {
		notReady, lag, err := s.lag(ctx)
		if err != nil {
			return err
		}
		if notReady == 0 && lag <= s.opts.LagDelta {
			s.p.Printf("lag %s is within %s", progress.Bytes(lag), progress.Bytes(s.opts.LagDelta))
			return nil
		}
		s.p.Changed("lag", "waiting: lag %s, %d table(s) not ready", progress.Bytes(lag), notReady)
		if err := s.sleep(ctx); err != nil {
			return hint.Wrap(fmt.Errorf("wait for lag below %s: %w", progress.Bytes(s.opts.LagDelta), err),
				"nothing was frozen; try again with a larger --timeout or --lag-delta-size")
		}
	}
}

func (s *run) lag(ctx context.Context) (notReady int, lag int64, err error) {
	err = s.tgt.QueryRow(ctx, `SELECT count(*) FILTER (WHERE sr.srsubstate <> 'r')
		FROM pg_subscription_rel sr JOIN pg_subscription su ON su.oid = sr.srsubid WHERE su.subname = $1`,
		s.g.ObjectName).Scan(&notReady)
	if err != nil {
		return 0, 0, fmt.Errorf("read table states: %w", err)
	}
	var l *int64
	err = s.src.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
		FROM pg_replication_slots WHERE slot_name = $1`, s.g.ObjectName).Scan(&l)
	if err != nil {
		return 0, 0, hint.Wrap(fmt.Errorf("read the slot %s on the source: %w", s.g.ObjectName, err),
			fmt.Sprintf("the group's slot is missing; see pgvecrep stats -g %s", s.g.Name))
	}
	if l == nil {
		return notReady, 1 << 62, nil
	}
	return notReady, *l, nil
}

// drain reads the source's WAL position once writes are frozen and waits
// until the target has applied it (replication.Applied says how that is
// known): then every committed write is there.
func (s *run) drain(ctx context.Context) (string, error) {
	lsn, err := replication.WALEnd(ctx, s.src)
	if err != nil {
		return "", err
	}
	s.p.Printf("waiting for the target to apply everything up to %s", lsn)
	if err := replication.WaitApplied(ctx, s.src, s.g.ObjectName, lsn, s.deadline, s.opts.PollInterval); err != nil {
		return "", err
	}
	s.p.Printf("target has applied up to %s", lsn)
	return lsn, nil
}

func (s *run) sleep(ctx context.Context) error {
	if time.Now().After(s.deadline) {
		return context.DeadlineExceeded
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.opts.PollInterval):
		return nil
	}
}
