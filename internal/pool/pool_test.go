package pool

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestBounded runs more items than workers: all are done, never more than
// Workers at once, and Workers at once is reached (the first items wait for
// each other, so the pool must run them side by side).
func TestBounded(t *testing.T) {
	const workers, items = 3, 20
	var running, peak, done atomic.Int64
	var wg sync.WaitGroup
	wg.Add(workers)
	list := make([]int, items)
	for i := range list {
		list[i] = i
	}
	err := Run(context.Background(), Feed(list), Options[struct{}]{Workers: workers},
		func(ctx context.Context, _ struct{}, i int) error {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			if i < workers {
				wg.Done()
				wg.Wait()
			}
			done.Add(1)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if done.Load() != items || peak.Load() != workers {
		t.Errorf("done %d of %d, peak %d of %d workers", done.Load(), items, peak.Load(), workers)
	}
}

// TestOpenLazily opens a worker's resource only for a worker that gets an
// item, and closes each one opened.
func TestOpenLazily(t *testing.T) {
	var opened, closed atomic.Int64
	opts := Options[int]{Workers: 8,
		Open:  func(ctx context.Context) (int, error) { return int(opened.Add(1)), nil },
		Close: func(ctx context.Context, w int) { closed.Add(1) },
	}
	err := Run(context.Background(), Feed([]string{"a", "b"}), opts, func(ctx context.Context, w int, s string) error {
		if w == 0 {
			return errors.New("work got no resource")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if opened.Load() < 1 || opened.Load() > 2 || closed.Load() != opened.Load() {
		t.Errorf("opened %d, closed %d; want 1 or 2, all closed", opened.Load(), closed.Load())
	}
}

// TestFirstErrorStops returns the failing item's error, cancels the items
// running beside it, starts no item after it, and closes every resource.
func TestFirstErrorStops(t *testing.T) {
	boom := errors.New("boom")
	var opened, closed, started atomic.Int64
	items := make(chan int)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for i := 0; ; i++ {
			select { // never closed: only the failure can end Run
			case items <- i:
			case <-quit:
				return
			}
		}
	}()
	opts := Options[int]{Workers: 2,
		Open:  func(ctx context.Context) (int, error) { opened.Add(1); return 0, nil },
		Close: func(ctx context.Context, _ int) { closed.Add(1) },
	}
	err := Run(context.Background(), items, opts, func(ctx context.Context, _ int, i int) error {
		started.Add(1)
		if i == 1 {
			return boom
		}
		<-ctx.Done() // the other worker's item waits to be cancelled
		return ctx.Err()
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want boom", err)
	}
	if started.Load() > 3 || closed.Load() != opened.Load() {
		t.Errorf("started %d items after a failure among the first two; opened %d, closed %d", started.Load(), opened.Load(), closed.Load())
	}
}

// TestCancelIsCleanStop cancels the caller's context while items run: Run
// returns context.Canceled after every worker closed its resource, and the
// progress calls stop with it.
//
// It runs in a synctest bubble, whose clock moves only when every goroutine
// in it waits: the ten intervals after Run returns pass for certain, so a
// ticker that outlived Run would have ticked in them, on any machine.
func TestCancelIsCleanStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var opened, closed, ticks atomic.Int64
		var returned atomic.Bool
		ticked := make(chan struct{}, 1)
		opts := Options[int]{Workers: 3, Interval: time.Millisecond,
			Open:  func(ctx context.Context) (int, error) { opened.Add(1); return 0, nil },
			Close: func(ctx context.Context, _ int) { closed.Add(1) },
			Progress: func(ctx context.Context) error {
				if returned.Load() {
					t.Error("progress called after Run returned")
					return errors.New("called after Run returned") // stops a leaked ticker
				}
				if ticks.Add(1) == 2 {
					ticked <- struct{}{}
				}
				return nil
			},
		}
		go func() { <-ticked; cancel() }()
		err := Run(ctx, Feed([]int{1, 2, 3, 4, 5}), opts, func(ctx context.Context, _ int, _ int) error {
			<-ctx.Done()
			return ctx.Err()
		})
		returned.Store(true)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		if opened.Load() == 0 || closed.Load() != opened.Load() {
			t.Errorf("opened %d, closed %d", opened.Load(), closed.Load())
		}
		n := ticks.Load()
		time.Sleep(10 * opts.Interval) // the bubble's clock: no real time passes
		if ticks.Load() != n {
			t.Error("progress still called after Run returned")
		}
	})
}
