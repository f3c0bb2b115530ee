package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// datasetReport is one dataset's results.
type datasetReport struct {
	Name        string   `json:"name"`
	Title       string   `json:"title"`
	Tables      int      `json:"tables"`
	Rows        int      `json:"rows"`
	SourceBytes int64    `json:"source_bytes"`
	Load        float64  `json:"load_s"`
	Results     []result `json:"results"`
	// Error is why the dataset could not be run to the end.
	Error string `json:"error,omitempty"`
}

// dataset loads d on the source, runs every scenario against it and prints
// its table. A scenario's own failure is recorded in its result; an error
// here means the bench itself could not go on.
func (b *bench) dataset(ctx context.Context, d dataset, ss []scenario) (datasetReport, error) {
	rep := datasetReport{Name: d.Name, Title: d.Title, Tables: len(d.Tables), Rows: d.rows()}
	srcDB := "src_" + d.Name
	fmt.Fprintf(b.out, "\n== %s: %s\n", d.Name, d.Title)
	start := time.Now()
	full := false
	for _, s := range ss {
		full = full || s.sourceSchema
	}
	if err := b.loadSource(ctx, d, srcDB, full, &rep); err != nil {
		return rep, err
	}
	rep.Load = secs(time.Since(start))
	fmt.Fprintf(b.out, "  source loaded: %d table(s), %d rows, %s, in %.1f s\n",
		rep.Tables, rep.Rows, mib(rep.SourceBytes), rep.Load)
	results, err := b.rounds(ctx, ss, &runSpec{d: d, srcDB: srcDB})
	if err != nil {
		return rep, err
	}
	rep.Results = results
	printTable(b.out, rep)
	if !b.o.keep {
		if err := b.c.src.Exec(ctx, "postgres", "DROP DATABASE "+ident(srcDB)+" WITH (FORCE)"); err != nil {
			return rep, fmt.Errorf("drop source database: %w", err)
		}
	}
	return rep, nil
}

func (b *bench) loadSource(ctx context.Context, d dataset, db string, full bool, rep *datasetReport) error {
	if err := b.c.src.CreateDB(ctx, db); err != nil {
		return fmt.Errorf("create source database: %w", err)
	}
	conn, err := b.c.src.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := load(ctx, conn, d, b.o.seed, full); err != nil {
		return err
	}
	const size = `SELECT coalesce(sum(pg_table_size(c.oid)), 0)::bigint FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`
	return conn.QueryRow(ctx, size).Scan(&rep.SourceBytes)
}

// rounds runs the scenarios -repeat times, interleaved (1 2 3 4, 2 3 4,
// ...) so that whatever else the machine is doing weighs on each of them
// alike, and keeps each scenario's fastest run: other work only ever adds
// time, so the minimum is the closest to what the scenario itself costs.
// Every run's total is kept. Index first runs once: it dominates the run.
// A failed or skipped run is the scenario's result and is not repeated.
func (b *bench) rounds(ctx context.Context, ss []scenario, r *runSpec) ([]result, error) {
	best := make([]result, len(ss))
	runs := make([][]float64, len(ss))
	over := make([]bool, len(ss))
	for round := range b.o.repeat {
		if b.o.repeat > 1 {
			fmt.Fprintf(b.out, "  round %d of %d\n", round+1, b.o.repeat)
		}
		for i, s := range ss {
			if over[i] || (round > 0 && s.once) {
				continue
			}
			res, err := b.scenario(ctx, s, r)
			if err != nil {
				return nil, err
			}
			over[i] = !res.ok()
			if over[i] || len(runs[i]) == 0 || res.Total < best[i].Total {
				best[i] = res
			}
			runs[i] = append(runs[i], res.Total)
		}
	}
	for i := range best {
		if len(runs[i]) > 1 {
			best[i].Runs = runs[i]
		}
	}
	return best, nil
}

// scenario runs one scenario on a fresh target database, verifies what it
// left there, and removes the replication objects and (unless -keep) the
// database afterwards.
func (b *bench) scenario(ctx context.Context, s scenario, r *runSpec) (result, error) {
	r.tgtDB = fmt.Sprintf("tgt_%s_%s", r.d.Name, strings.ReplaceAll(s.ID, "-", "_"))
	if err := b.c.prepareTarget(ctx, r.tgtDB, r.d, s.target); err != nil {
		return result{}, err
	}
	if err := b.c.checkpoint(ctx); err != nil {
		return result{}, err
	}
	if s.waitsForWorkers {
		if err := b.launcherPause(ctx); err != nil {
			return result{}, err
		}
	}
	fmt.Fprintf(b.out, "  (%d) %s ...\n", s.Num, s.Label)
	res, err := s.run(ctx, b, r)
	if s.subscribes {
		b.lastSub = time.Now()
	}
	if err == nil && res.Skipped == "" {
		err = b.c.verify(ctx, r.d, r.srcDB, r.tgtDB)
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	res.Num, res.Scenario, res.Label = s.Num, s.ID, s.Label
	switch {
	case err != nil:
		res.Error = err.Error()
		fmt.Fprintf(b.out, "      FAILED: %s\n", indent(res.Error, "      "))
	case res.Skipped != "":
		fmt.Fprintf(b.out, "      skipped: %s\n", res.Skipped)
	default:
		fmt.Fprintf(b.out, "      %.1f s\n", res.Total)
	}
	if err := b.c.detach(ctx, r.srcDB, r.tgtDB); err != nil {
		return res, fmt.Errorf("clean up after %s: %w", s.ID, err)
	}
	if !b.o.keep {
		if err := b.c.tgt.Exec(ctx, "postgres", "DROP DATABASE "+ident(r.tgtDB)+" WITH (FORCE)"); err != nil {
			return res, fmt.Errorf("drop target database: %w", err)
		}
	}
	return res, nil
}

// launcherRetry is PostgreSQL's wal_retrieve_retry_interval (default 5s),
// plus a margin.
const launcherRetry = 5500 * time.Millisecond

// launcherPause waits, untimed, until the previous scenario's subscription
// is launcherRetry old. The logical replication launcher starts at most one
// apply worker per wal_retrieve_retry_interval, so a subscription created
// right after another one waits up to 5 s for its worker: a cost of running
// scenarios back to back that no user with one subscription pays.
func (b *bench) launcherPause(ctx context.Context) error {
	wait := time.Until(b.lastSub.Add(launcherRetry))
	if wait <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
		return nil
	}
}

func indent(s, prefix string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
