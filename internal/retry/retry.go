// Package retry runs an operation again while it fails with a transient
// error, pausing between attempts and stopping at once when the context ends.
//
// Every retry loop in pgvecrep goes through Do, so each one states which
// errors it thinks are transient (by SQLSTATE, usually), how many attempts
// it makes and how long it pauses; none spins without a pause and none sleeps
// through a Ctrl-C.
package retry

import (
	"context"
	"fmt"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Policy says how often and when to try again.
type Policy struct {
	// Attempts is the most tries Do makes, the first included; 0 means 1.
	Attempts int
	// Pause is the wait before the second try; later pauses double, up to
	// MaxPause when it is set.
	Pause, MaxPause time.Duration
	// Retryable reports whether err is worth another try. Nil means never.
	Retryable func(err error) bool
}

// Codes is a Retryable that accepts errors with one of the given SQLSTATEs.
func Codes(codes ...string) func(error) bool {
	return func(err error) bool {
		c := pg.Code(err)
		for _, want := range codes {
			if c == want {
				return true
			}
		}
		return false
	}
}

// Do calls op until it succeeds, fails with an error p does not retry, or
// p.Attempts are used up; it returns op's last error. When ctx ends during a
// pause, Do returns ctx's error wrapped with op's last one.
func Do(ctx context.Context, p Policy, op func(ctx context.Context) error) error {
	pause := p.Pause
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || p.Retryable == nil || !p.Retryable(err) || attempt >= max(p.Attempts, 1) {
			return err
		}
		if werr := Sleep(ctx, pause); werr != nil {
			return fmt.Errorf("%w (after: %v)", werr, err)
		}
		pause *= 2
		if p.MaxPause > 0 && pause > p.MaxPause {
			pause = p.MaxPause
		}
	}
}

// Sleep waits for d, or returns ctx's error as soon as ctx ends.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
