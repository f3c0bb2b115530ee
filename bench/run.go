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
	if err := b.loadSource(ctx, d, srcDB, &rep); err != nil {
		return rep, err
	}
	rep.Load = secs(time.Since(start))
	fmt.Fprintf(b.out, "  source loaded: %d table(s), %d rows, %s, in %.1f s\n",
		rep.Tables, rep.Rows, mib(rep.SourceBytes), rep.Load)
	for _, s := range ss {
		res, err := b.repeated(ctx, s, &runSpec{d: d, srcDB: srcDB})
		if err != nil {
			return rep, err
		}
		rep.Results = append(rep.Results, res)
	}
	printTable(b.out, rep)
	if !b.o.keep {
		if err := b.c.src.Exec(ctx, "postgres", "DROP DATABASE "+ident(srcDB)+" WITH (FORCE)"); err != nil {
			return rep, fmt.Errorf("drop source database: %w", err)
		}
	}
	return rep, nil
}

func (b *bench) loadSource(ctx context.Context, d dataset, db string, rep *datasetReport) error {
	if err := b.c.src.CreateDB(ctx, db); err != nil {
		return fmt.Errorf("create source database: %w", err)
	}
	conn, err := b.c.src.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := load(ctx, conn, d, b.o.seed); err != nil {
		return err
	}
	const size = `SELECT coalesce(sum(pg_table_size(c.oid)), 0)::bigint FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`
	return conn.QueryRow(ctx, size).Scan(&rep.SourceBytes)
}

// repeated runs a scenario -repeat times and keeps the fastest run: on a
// shared machine other work only ever adds time, so the minimum is the
// closest to what the scenario itself costs. Every run's total is kept.
// A failed or skipped run ends the repetitions and is the result.
func (b *bench) repeated(ctx context.Context, s scenario, r *runSpec) (result, error) {
	var best result
	var totals []float64
	for i := range b.o.repeat {
		res, err := b.scenario(ctx, s, r)
		if err != nil || !res.ok() {
			return res, err
		}
		totals = append(totals, res.Total)
		if i == 0 || res.Total < best.Total {
			best = res
		}
	}
	if len(totals) > 1 {
		best.Runs = totals
	}
	return best, nil
}

// scenario runs one scenario on a fresh target database, verifies what it
// left there, and removes the replication objects and (unless -keep) the
// database afterwards.
func (b *bench) scenario(ctx context.Context, s scenario, r *runSpec) (result, error) {
	r.tgtDB = fmt.Sprintf("tgt_%s_%s", r.d.Name, strings.ReplaceAll(s.ID, "-", "_"))
	if err := b.c.prepareTarget(ctx, r.tgtDB, r.d); err != nil {
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
