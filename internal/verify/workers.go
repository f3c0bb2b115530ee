package verify

import (
	"context"
	"sync"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pool"
)

// workers hands the pool's workers their sessions. The first worker gets
// the caller's connection pair and drainer, so one job runs exactly as
// verify always did; the others dial a pair of their own, with a drainer
// on it. A worker's pair goes back to the idle list when its pass ends, so
// the nearest-neighbour pass reuses the pairs the table pass opened, and
// the pairs dialed here are closed once, when the run ends.
type workers struct {
	base *run
	n    int // how many workers a pass runs
	mu   sync.Mutex
	idle []*run
	own  []*run // dialed here, closed by closeAll
}

func newWorkers(r *run, items int) *workers {
	n := min(max(r.opts.Jobs, 1), max(items, 1))
	return &workers{base: r, n: n, idle: []*run{r}}
}

// open gives a worker an idle pair, or dials one.
func (ws *workers) open(ctx context.Context) (*run, error) {
	ws.mu.Lock()
	if k := len(ws.idle); k > 0 {
		w := ws.idle[k-1]
		ws.idle = ws.idle[:k-1]
		ws.mu.Unlock()
		return w, nil
	}
	ws.mu.Unlock()
	src, err := pg.ConnectConfig(ctx, pg.Source, ws.base.opts.Source)
	if err != nil {
		return nil, err
	}
	tgt, err := pg.ConnectConfig(ctx, pg.Target, ws.base.opts.Target)
	if err != nil {
		_ = src.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	w := *ws.base
	w.src, w.tgt, w.drain = src, tgt, ws.base.drain.on(src, tgt)
	ws.mu.Lock()
	ws.own = append(ws.own, &w)
	ws.mu.Unlock()
	return &w, nil
}

// release puts a worker's pair back for the next pass.
func (ws *workers) release(_ context.Context, w *run) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	ws.idle = append(ws.idle, w)
}

// closeAll closes the pairs dialed for the run; the caller's stay open.
func (ws *workers) closeAll(ctx context.Context) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, w := range ws.own {
		_ = w.src.Close(ctx)
		_ = w.tgt.Close(ctx)
	}
	ws.own = nil
}

// each runs f for every table index on the pool. f stores its result in the
// slot of its index, so nothing needs ordering afterwards.
func (ws *workers) each(ctx context.Context, n int, f func(ctx context.Context, w *run, i int) error) error {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	opts := pool.Options[*run]{Workers: ws.n, Open: ws.open, Close: ws.release}
	return pool.Run(ctx, pool.Feed(idx), opts, f)
}

// checkTables compares every table, results in the order of tables.
func (ws *workers) checkTables(ctx context.Context, tables []*table) ([]TableResult, error) {
	out := make([]TableResult, len(tables))
	err := ws.each(ctx, len(tables), func(ctx context.Context, w *run, i int) error {
		var err error
		out[i], err = w.timedCheck(ctx, tables[i], i, len(tables))
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// checkANN checks the vector indexes of every table, in the order of tables
// and, within a table, of the index names.
func (ws *workers) checkANN(ctx context.Context, tables []*table) ([]ANNResult, error) {
	per := make([][]ANNResult, len(tables))
	err := ws.each(ctx, len(tables), func(ctx context.Context, w *run, i int) error {
		var err error
		per[i], err = w.checkANN(ctx, tables[i])
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []ANNResult
	for _, rs := range per {
		out = append(out, rs...)
	}
	return out, nil
}
