package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// scenario is one way of getting a dataset onto a fresh target.
type scenario struct {
	Num   int
	ID    string // flag name
	Label string
	// subscribes: the scenario creates a subscription, whose apply worker
	// the logical replication launcher starts.
	subscribes bool
	// waitsForWorkers: its clock runs while the subscription's workers copy.
	waitsForWorkers bool
	// once: not repeated by -repeat.
	once bool
	// target is what the fresh target database holds when the scenario starts.
	target targetKind
	// sourceSchema: the scenario reads the indexes and foreign keys from
	// the source, so the source gets them too.
	sourceSchema bool
	run          func(ctx context.Context, b *bench, r *runSpec) (result, error)
}

// targetKind is what a scenario's target database starts with.
type targetKind int

const (
	// targetFull: the tables with their keys, indexes and foreign keys, as
	// a user has them before replication starts.
	targetFull targetKind = iota
	// targetBare: the tables' columns only, and pgvector.
	targetBare
	// targetEmpty: a new database and nothing in it.
	targetEmpty
)

// runSpec is one scenario's inputs: the dataset and its two databases.
type runSpec struct {
	d            dataset
	srcDB, tgtDB string
}

// result is one scenario's measurement, in seconds.
type result struct {
	Num      int     `json:"num"`
	Scenario string  `json:"scenario"`
	Label    string  `json:"label"`
	Copy     float64 `json:"copy_s"`
	Index    float64 `json:"index_s"`
	Other    float64 `json:"other_s"`
	Total    float64 `json:"total_s"`
	// Phased is false when the total could not be split into phases.
	Phased bool `json:"phased"`
	// Runs are every run's total with -repeat > 1; the fields above are the fastest run's.
	Runs    []float64 `json:"runs_s,omitempty"`
	Skipped string    `json:"skipped,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// ok reports whether the result has a total to compare.
func (r result) ok() bool { return r.Skipped == "" && r.Error == "" && r.Total > 0 }

var scenarios = []scenario{
	{Num: 1, ID: "index-first", Label: "native, index first", subscribes: true, waitsForWorkers: true, once: true, run: indexFirst},
	{Num: 2, ID: "native", Label: "native, index after copy", subscribes: true, waitsForWorkers: true,
		target: targetEmpty, sourceSchema: true, run: viaTool("native")},
	{Num: 3, ID: "fast", Label: "pgvecrep fast", subscribes: true, target: targetEmpty, sourceSchema: true, run: viaTool("fast")},
	{Num: 4, ID: "floor", Label: "floor: psql COPY pipes + builds", target: targetEmpty, run: floor},
	{Num: 5, ID: "pgcopydb", Label: "pgcopydb clone", target: targetEmpty, sourceSchema: true, run: pgcopydbClone},
}

// selectScenarios picks scenarios by number or name from a comma list.
func selectScenarios(list string) ([]scenario, error) {
	var out []scenario
	for _, want := range strings.Split(list, ",") {
		want = strings.TrimSpace(want)
		found := false
		for _, s := range scenarios {
			if want == s.ID || want == strconv.Itoa(s.Num) {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q; use 1,2,3,4,5 or index-first,native,fast,floor,pgcopydb", want)
		}
	}
	return out, nil
}

const benchPub, benchSub = "bench_pub", "bench_sub"

// indexFirst is the tutorial's way: the engine copies each table into a
// target table that already has its HNSW or IVFFlat index, so every row
// goes into the index as it arrives. It is done here with plain SQL because
// pgvecrep never does it. The clock runs from CREATE SUBSCRIPTION until
// every table is ready; creating the subscription counts as "other".
func indexFirst(ctx context.Context, b *bench, r *runSpec) (result, error) {
	if r.d.SkipIndexFirst != "" {
		return result{Skipped: r.d.SkipIndexFirst}, nil
	}
	tables := make([]string, len(r.d.Tables))
	for i, t := range r.d.Tables {
		tables[i] = ident(t.Name)
	}
	if err := b.c.src.Exec(ctx, r.srcDB, "CREATE PUBLICATION "+benchPub+" FOR TABLE "+strings.Join(tables, ", ")); err != nil {
		return result{}, fmt.Errorf("create publication on the source: %w", err)
	}
	tgt, err := b.c.tgt.Connect(ctx, r.tgtDB)
	if err != nil {
		return result{}, err
	}
	defer tgt.Close(context.WithoutCancel(ctx))
	start := time.Now()
	_, err = tgt.Exec(ctx, fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s WITH (copy_data = true)",
		benchSub, pg.Literal(b.c.src.URL(r.srcDB)), benchPub))
	if err != nil {
		return result{}, fmt.Errorf("create subscription on the target: %w", err)
	}
	created := time.Since(start)
	if err := waitReady(ctx, tgt); err != nil {
		return result{}, err
	}
	total := time.Since(start)
	return result{Copy: secs(total - created), Other: secs(created), Total: secs(total), Phased: true}, nil
}

// waitReady polls until every table of the subscription is ready ('r'),
// failing as soon as its workers report an error.
func waitReady(ctx context.Context, tgt *pgx.Conn) error {
	const states = `
SELECT count(*) FILTER (WHERE srsubstate <> 'r'), count(*),
       coalesce((SELECT sync_error_count + apply_error_count FROM pg_stat_subscription_stats WHERE subname = $1), 0)
FROM pg_subscription_rel sr JOIN pg_subscription s ON s.oid = sr.srsubid WHERE s.subname = $1`
	for {
		var pending, all, errs int64
		if err := tgt.QueryRow(ctx, states, benchSub).Scan(&pending, &all, &errs); err != nil {
			return fmt.Errorf("read subscription state: %w", err)
		}
		if errs > 0 {
			return errors.New("the subscription's workers report errors; see the target server's log (run with -keep to read it)")
		}
		if all > 0 && pending == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// viaTool runs the real pgvecrep as a user starting from an empty target
// database does, and as pgcopydb clone is timed: bootstrap --copy-schema,
// then start_sync in the given copy mode, the clock running over both.
// Bootstrap counts as "other".
func viaTool(mode string) func(context.Context, *bench, *runSpec) (result, error) {
	return func(ctx context.Context, b *bench, r *runSpec) (result, error) {
		src, tgt := b.c.src.URL(r.srcDB), b.c.tgt.URL(r.tgtDB)
		boot, err := b.tool.run(ctx, src, tgt, "bootstrap", "-g", benchGroup, "--copy-schema")
		if err != nil {
			return result{}, err
		}
		out, err := b.tool.run(ctx, src, tgt, "start_sync", "-g", benchGroup, "--copy-mode", mode,
			"--jobs", strconv.Itoa(b.jobs), "--index-memory", indexMemoryFlag)
		if err != nil {
			if mode == "fast" && rejected(out) {
				return result{Skipped: "this pgvecrep rejects --copy-mode fast"}, nil
			}
			return result{}, err
		}
		p, ok := splitPhases(out.lines, out.wall)
		return result{Copy: secs(p.copy), Index: secs(p.index), Other: secs(p.other + boot.wall),
			Total: secs(boot.wall + out.wall), Phased: ok}, nil
	}
}

const benchGroup = "bench"

// rejected reports whether start_sync refused the copy mode itself.
func rejected(out output) bool {
	for _, l := range out.lines {
		if rejectedRE.MatchString(l.text) {
			return true
		}
	}
	return false
}

func secs(d time.Duration) float64 { return d.Seconds() }
