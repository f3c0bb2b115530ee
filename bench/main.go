// Command bench measures pgvecrep's initial sync against the ways it
// replaces, against pgcopydb and against the machine's floor, side by side
// in one run.
//
// It starts two throwaway local clusters (source and target, same tuned
// settings), loads each dataset once on the source from a seeded generator,
// and gets it onto a fresh target database five ways:
//
//  1. native, index first: the tutorial's way, a subscription with
//     copy_data = true into a table that already has its vector index;
//  2. native, index after the copy: pgvecrep start_sync --copy-mode native;
//  3. pgvecrep fast: pgvecrep start_sync --copy-mode fast;
//  4. the floor, from PostgreSQL's own client only: a psql binary COPY pipe
//     per table into bare tables, then the keys, indexes and foreign keys
//     through psql, each table's builds starting as soon as its copy ends,
//     with the jobs and memory pgvecrep gets: nothing of pgvecrep's code
//     is in it, so it can judge that code;
//  5. pgcopydb clone --table-jobs N --index-jobs N into an empty database
//     (skipped, and said so, when no pgcopydb binary is at hand).
//
// Every scenario is verified (row counts, valid keys, indexes and foreign
// keys) before its time counts. It prints a table per dataset (seconds per
// phase, total, ratio to the floor, speed-up over scenario 1) and writes
// the results with the machine's facts to bench/results/. With -copy-rate
// it also compares pgvecrep's copy alone with one psql binary COPY pipe per
// row shape. With -apply it measures the streaming phase instead of the
// copy: a write load and a bulk re-embedding applied by the engine's one
// worker and by pgvecrep --apply-workers N (see applyScenario; make
// bench-apply). Run it with make bench, or make bench-quick for small
// datasets in a few minutes.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C stops the run cleanly (clusters stopped and removed);
	// with the handler gone, a second one kills at once.
	go func() { <-ctx.Done(); stop() }()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// options are the command line.
type options struct {
	quick     bool
	datasets  string
	scenarios string
	jobs      int
	keep      bool
	bin       string
	results   string
	seed      uint64
	repeat    int
	verbose   bool
	pgcopydb  string
	copyRate  bool
	copyJobs  int
	// The apply benchmark (-apply).
	apply        bool
	applyWorkers string
	applyRows    int
	applyLoad    time.Duration
	applyCatchup bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "small datasets: the whole run takes under two minutes")
	fs.StringVar(&o.datasets, "datasets", "headline,768,multi,app,parts", "datasets to run, comma-separated (headline, 768, multi, app, parts; \"\" for none)")
	fs.StringVar(&o.scenarios, "scenarios", "1,2,3,4,5", "scenarios to run, by number or name (index-first,native,fast,floor,pgcopydb)")
	fs.StringVar(&o.pgcopydb, "pgcopydb", "", "pgcopydb binary for scenario 5 (make bench fetches it with scripts/install-bench-deps.sh; default: PATH)")
	fs.BoolVar(&o.copyRate, "copy-rate", false, "also compare pgvecrep's copy with one psql binary COPY pipe, per row shape (copy only)")
	fs.IntVar(&o.jobs, "jobs", runtime.NumCPU(), "parallel copy workers and builds (pgvecrep --jobs, and the floor's)")
	fs.BoolVar(&o.keep, "keep", false, "leave the clusters and every database running at the end, and print their URLs")
	fs.StringVar(&o.bin, "bin", "", "pgvecrep binary to run (default: build ./cmd/pgvecrep into a temp dir)")
	fs.StringVar(&o.results, "results", "bench/results", `directory for the results files, relative to the module root ("" writes none)`)
	fs.IntVar(&o.copyJobs, "copy-rate-jobs", 1, "pgvecrep --jobs in the copy-rate comparison (1: one stream against one pipe)")
	fs.Uint64Var(&o.seed, "seed", 42, "seed of the data generator")
	fs.IntVar(&o.repeat, "repeat", 1, "run scenarios 2-4 this many times, interleaved, and keep each one's fastest run (every total is recorded)")
	fs.BoolVar(&o.verbose, "v", false, "show pgvecrep's output as it runs")
	fs.BoolVar(&o.apply, "apply", false, "also measure the streaming phase: a write load and a bulk re-embedding applied by the engine's worker and by pgvecrep --apply-workers N (make bench-apply)")
	fs.StringVar(&o.applyWorkers, "apply-workers", "1,2,4", "with -apply: the pgvecrep --apply-workers counts to run, besides the engine's own stream")
	fs.IntVar(&o.applyRows, "apply-rows", 0, "with -apply: rows in the source table (default 50000, 5000 with -quick)")
	fs.DurationVar(&o.applyLoad, "apply-load", 0, "with -apply: how long pgbench inserts (default 30s, 5s with -quick)")
	fs.BoolVar(&o.applyCatchup, "apply-catchup", true, "with -apply: also compare applying one backlog with the HNSW index and without it (index built after)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run ./bench [-quick] [-datasets headline,768,multi,app,parts] [-scenarios 1,2,3,4,5] [-copy-rate] [-apply [-apply-workers 1,2,4]] [-jobs N] [-repeat N] [-keep]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q; see go run ./bench -h", fs.Arg(0))
	}
	if o.jobs < 1 || o.repeat < 1 || o.copyJobs < 1 {
		return o, fmt.Errorf("-jobs, -repeat and -copy-rate-jobs must be at least 1")
	}
	if _, err := applyScenarios(o.applyWorkers); err != nil {
		return o, err
	}
	return o, nil
}

// selectDatasets picks datasets by name from a comma list.
func selectDatasets(list string, quick bool) ([]dataset, error) {
	all := datasets(quick)
	var out []dataset
	for _, want := range strings.Split(list, ",") {
		want = strings.TrimSpace(want)
		if want == "" {
			continue
		}
		found := false
		for _, d := range all {
			if d.Name == want {
				out = append(out, d)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("-datasets: unknown dataset %q; use headline, 768, multi, app or parts", want)
		}
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseOptions(args, stderr)
	if err == flag.ErrHelp {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if err := runBench(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "bench: interrupted; clusters stopped")
		}
		return 1
	}
	return 0
}

// bench is one run's shared state.
type bench struct {
	o    options
	c    *clusters
	tool tool
	jobs int
	out  io.Writer
	// loadStart is the load average when the run began.
	loadStart string
	// commit is the repository's commit when the run began (the binary's
	// source, unless -bin names another build).
	commit string
	// lastSub is when the last scenario that created a subscription ended.
	lastSub time.Time
}

func runBench(ctx context.Context, o options, stdout, stderr io.Writer) (err error) {
	ds, err := selectDatasets(o.datasets, o.quick)
	if err != nil {
		return err
	}
	ss, err := selectScenarios(o.scenarios)
	if err != nil {
		return err
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	b := &bench{o: o, jobs: o.jobs, out: stdout, loadStart: loadAvg(), commit: gitDescribe(ctx, root)}
	b.tool, err = prepareTool(ctx, o, root, stderr)
	if b.tool.tmp != "" {
		defer os.RemoveAll(b.tool.tmp)
	}
	if err != nil {
		return err
	}
	started := time.Now()
	fmt.Fprintf(stdout, "starting source and target clusters (%s)\n", settingsLine())
	if b.c, err = startClusters(ctx); err != nil {
		return err
	}
	if o.keep {
		defer b.printKept()
	} else {
		defer func() {
			if serr := b.c.stop(); serr != nil && err == nil {
				err = fmt.Errorf("stop clusters: %w", serr)
			}
		}()
	}
	var reports []datasetReport
	for _, d := range ds {
		rep, err := b.dataset(ctx, d, ss)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// Recorded, and the run goes on: the other datasets' results stand.
			rep.Error = err.Error()
			fmt.Fprintf(stderr, "bench: dataset %s: %v\n", d.Name, err)
		}
		reports = append(reports, rep)
	}
	var rates []copyRate
	if o.copyRate {
		rates = b.copyRates(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	var apply *applyReport
	if o.apply {
		apply = b.applyBench(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return b.finish(ctx, root, results{Datasets: reports, CopyRates: rates, Apply: apply}, started)
}

// prepareTool finds or builds the pgvecrep binary.
func prepareTool(ctx context.Context, o options, root string, stderr io.Writer) (tool, error) {
	t := tool{bin: o.bin}
	if o.verbose {
		t.echo = stderr
	}
	if t.bin != "" {
		if _, err := os.Stat(t.bin); err != nil {
			return t, fmt.Errorf("-bin: %w (build it with make build)", err)
		}
		abs, err := filepath.Abs(t.bin)
		t.bin = abs
		return t, err
	}
	dir, err := os.MkdirTemp("", "pgvecrep-bench-")
	if err != nil {
		return t, err
	}
	t.tmp = dir
	t.bin, err = buildTool(ctx, root, dir)
	return t, err
}

func (b *bench) printKept() {
	fmt.Fprintf(b.out, "\nClusters left running (-keep), every database in place:\n  source: %s\n  target: %s\nTo stop them and remove their files:\n",
		b.c.src.URL("postgres"), b.c.tgt.URL("postgres"))
	for _, c := range []*localpg.Cluster{b.c.src, b.c.tgt} {
		if err := c.Keep(); err != nil { // or the next localpg.Start reaps them
			fmt.Fprintf(b.out, "  warning: %v\n", err)
		}
	}
	as := ""
	if b.c.src.User != currentUser() {
		as = "runuser -u " + b.c.src.User + " -- "
	}
	for _, c := range []*localpg.Cluster{b.c.src, b.c.tgt} {
		fmt.Fprintf(b.out, "  %s%s -D %s -m fast stop && rm -rf %s\n", as, c.Bin("pg_ctl"), c.DataDir, c.Dir)
	}
}

// currentUser is the OS user running the bench.
func currentUser() string {
	u, err := user.Current()
	if err != nil {
		return ""
	}
	return u.Username
}
