package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestDoRetriesOnlyListedCodes(t *testing.T) {
	deadlock := &pgconn.PgError{Code: "40P01"}
	other := &pgconn.PgError{Code: "23505"}
	tests := []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   error
	}{
		{"success first", []error{nil}, 1, nil},
		{"transient then success", []error{deadlock, nil}, 2, nil},
		{"other error stops", []error{other, nil}, 1, other},
		{"attempts run out", []error{deadlock, deadlock, deadlock, nil}, 3, deadlock},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := Do(context.Background(), Policy{Attempts: 3, Pause: time.Millisecond, Retryable: Codes("40P01")},
				func(context.Context) error { calls++; return tc.errs[calls-1] })
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) {
				t.Fatalf("calls %d err %v, want %d %v", calls, err, tc.wantCalls, tc.wantErr)
			}
		})
	}
}

func TestDoStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	called := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Do(ctx, Policy{Attempts: 100, Pause: time.Hour, Retryable: func(error) bool { return true }},
			func(context.Context) error {
				calls++
				if calls == 1 {
					close(called)
				}
				return errors.New("busy")
			})
	}()
	<-called // Do is in its first hour-long pause (or about to be) when the context ends
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Fatalf("err %v after %d calls, want context.Canceled after 1", err, calls)
		}
	case <-time.After(time.Minute): // far below the pause: only a Do that ignores the context gets here
		t.Fatal("Do kept sleeping after the context ended")
	}
}

func TestPauseDoublesUpToMax(t *testing.T) {
	var stamps []time.Time
	_ = Do(context.Background(), Policy{Attempts: 4, Pause: 10 * time.Millisecond, MaxPause: 15 * time.Millisecond,
		Retryable: func(error) bool { return true }},
		func(context.Context) error { stamps = append(stamps, time.Now()); return errors.New("x") })
	if len(stamps) != 4 {
		t.Fatalf("%d calls, want 4", len(stamps))
	}
	for i := 1; i < len(stamps); i++ {
		if gap := stamps[i].Sub(stamps[i-1]); gap < 10*time.Millisecond {
			t.Fatalf("pause %d was %s, want at least 10ms", i, gap)
		}
	}
}
