// Package pool runs work items on a bounded number of workers and reports
// progress while they run.
//
// The initial copy and the index builds have the same shape: a few workers,
// each holding its own database session for all the items it takes, a
// ticker that reports how far the running items are, and a first failure
// that stops everything. Written once here, the stopping rules are the same
// for both: when the context ends or an item fails, no worker takes another
// item, every session is closed, and the progress ticker has stopped before
// Run returns.
package pool

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"
)

// Options configure Run. W is what a worker holds for all of its items,
// typically one or two database sessions.
type Options[W any] struct {
	// Workers is how many items run at once; less than 1 means 1.
	Workers int
	// Open, when set, makes a worker's W before its first item. A worker
	// that never gets an item opens nothing, so a pool wider than its work
	// costs no sessions.
	Open func(ctx context.Context) (W, error)
	// Close, when set, releases an opened W when its worker ends, also
	// after a failure; ctx is not cancelled then.
	Close func(ctx context.Context, w W)
	// Progress, when set, is called every Interval while items run, never
	// concurrently with itself and never after Run returns. Progress is best
	// effort: its error stops the calls, not the work.
	Progress func(ctx context.Context) error
	// Interval is the progress period; 0 means one second.
	Interval time.Duration
}

// Run calls work for every item received from items, on up to
// opts.Workers workers, until items is closed and drained. The first error
// of work or Open cancels the context the others run under and is
// returned; items not started by then are left in the channel. When ctx
// ends first, Run returns its error once every worker has stopped.
func Run[T, W any](ctx context.Context, items <-chan T, opts Options[W], work func(ctx context.Context, w W, item T) error) error {
	g, gctx := errgroup.WithContext(ctx)
	for range max(opts.Workers, 1) {
		g.Go(func() error { return worker(gctx, items, opts, work) })
	}
	stop := make(chan struct{})
	ticker := make(chan struct{})
	go func() {
		defer close(ticker)
		tick(gctx, stop, opts)
	}()
	err := g.Wait()
	close(stop)
	<-ticker
	return err
}

// Feed is a closed channel holding items: the input of a pool over a list
// known in advance.
func Feed[T any](items []T) <-chan T {
	ch := make(chan T, len(items))
	for _, it := range items {
		ch <- it
	}
	close(ch)
	return ch
}

// worker takes items until the channel is closed, ctx ends or an item fails.
func worker[T, W any](ctx context.Context, items <-chan T, opts Options[W], work func(context.Context, W, T) error) error {
	var w W
	opened := false
	defer func() {
		if opened && opts.Close != nil {
			opts.Close(context.WithoutCancel(ctx), w)
		}
	}()
	for {
		var item T
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case item, ok = <-items:
		}
		if !ok {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !opened && opts.Open != nil {
			var err error
			if w, err = opts.Open(ctx); err != nil {
				return err
			}
			opened = true
		}
		if err := work(ctx, w, item); err != nil {
			return err
		}
	}
}

// tick calls opts.Progress every Interval until stop is closed, ctx ends or
// Progress fails.
func tick[W any](ctx context.Context, stop <-chan struct{}, opts Options[W]) {
	if opts.Progress == nil {
		return
	}
	interval := opts.Interval
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if opts.Progress(ctx) != nil {
			return
		}
	}
}
