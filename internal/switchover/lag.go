package switchover

import (
	"context"
	"fmt"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// showEvery is how often the wait and the drain show where they stand.
const showEvery = time.Second

// waitLag waits until every table is ready and what the target has not
// committed, counting a transaction it is in the middle of, is at most the
// lag delta; it shows the lag, the transaction in flight and the catch-up
// estimate at least once a second meanwhile. The slot's confirmed flush
// alone would not do: it reads a few kilobytes behind while the target
// applies a transaction of many megabytes (see replication.Progress), and
// freezing then makes the freeze last as long as that transaction.
func (s *run) waitLag(ctx context.Context) error {
	defer s.ev.Emit(event.Event{Phase: event.Wait}) // ends the live line
	var shown time.Time
	began := time.Now()
	for {
		notReady, e, err := s.lag(ctx)
		if err != nil {
			return err
		}
		if notReady == 0 && e.Pending <= s.opts.LagDelta {
			s.ev.Emit(event.Event{Phase: event.Wait, Bytes: e.Pending, Duration: time.Since(began),
				Message: fmt.Sprintf("lag %s is within %s", progress.Bytes(e.Pending), progress.Bytes(s.opts.LagDelta))})
			return nil
		}
		if time.Since(shown) >= showEvery {
			s.ev.Emit(event.Event{Phase: event.Wait, Bytes: e.Pending, Duration: time.Since(began), Progress: true,
				Message: fmt.Sprintf("waiting %s: lag %s (freezing at %s)%s, %d table(s) not ready; catch-up: %s", progress.Clock(time.Since(began)),
					progress.Bytes(e.Pending), progress.Bytes(s.opts.LagDelta), inFlightText(e.InFlight), notReady, e.Text())})
			shown = time.Now()
		}
		if err := s.sleep(ctx); err != nil {
			return hint.Wrap(fmt.Errorf("wait for lag below %s: %w", progress.Bytes(s.opts.LagDelta), err),
				"nothing was frozen; try again with a larger --timeout or --lag-delta-size")
		}
	}
}

const notReadyQuery = `SELECT count(*) FILTER (WHERE sr.srsubstate <> 'r')
FROM pg_subscription_rel sr JOIN pg_subscription su ON su.oid = sr.srsubid WHERE su.subname = ANY ($1)`

// lag reads how many tables are not ready and the target's progress.
func (s *run) lag(ctx context.Context) (notReady int, e replication.Estimate, err error) {
	if err := s.tgt.QueryRow(ctx, notReadyQuery, s.g.StreamNames()).Scan(&notReady); err != nil {
		return 0, e, fmt.Errorf("read table states: %w", err)
	}
	e, err = s.progress(ctx)
	return notReady, e, err
}

// progress reads the target's progress and adds it to the run's
// estimate. With several apply streams it is the stream furthest behind:
// the group is only as caught up as that one.
func (s *run) progress(ctx context.Context) (replication.Estimate, error) {
	var worst replication.Progress
	for i, name := range s.g.StreamNames() {
		p, err := replication.ReadProgress(ctx, s.src, s.tgt, name)
		if err != nil {
			return replication.Estimate{}, err
		}
		if !p.Slot {
			return replication.Estimate{}, hint.New(fmt.Sprintf("replication slot %s not found on the source", name),
				fmt.Sprintf("the group's slot is missing; see pgvecrep stats -g %s", s.g.Name))
		}
		if i == 0 || behind(p, worst) {
			worst = p
		}
	}
	return s.catchup.Add(worst), nil
}

// behind reports whether stream a has more left to apply than stream b.
func behind(a, b replication.Progress) bool {
	pa, _ := a.Pending()
	pb, _ := b.Pending()
	return pa > pb
}

func inFlightText(f *replication.InFlight) string {
	if f == nil {
		return ""
	}
	return fmt.Sprintf(", applying a transaction of up to %s for %s", progress.Bytes(f.Bytes), progress.Seconds(seconds(f.Seconds)))
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

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
