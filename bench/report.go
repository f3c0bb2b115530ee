package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Targets (issue 8's acceptance bar, and the headline speed-up before it).
const (
	targetFloorRatio    = 1.05 // fast total <= 1.05 x floor total, every dataset
	targetPgcopydbRatio = 0.90 // fast total <= 0.90 x pgcopydb total, every dataset
	targetSpeedup       = 8.0  // headline: fast at least 8x faster than index first
	targetCopyRate      = 0.90 // pgvecrep's copy >= 0.90 x one psql pipe's throughput
)

var header = []string{"scenario", "copy s", "index s", "other s", "total s", "× floor", "speed-up over (1)"}

// total is the named scenario's total, 0 when it has none.
func (r datasetReport) total(id string) float64 {
	for _, res := range r.Results {
		if res.Scenario == id && res.ok() {
			return res.Total
		}
	}
	return 0
}

// runs is the named scenario's total of every round, in round order (one
// element without -repeat), nil when it has no result.
func (r datasetReport) runs(id string) []float64 {
	for _, res := range r.Results {
		if res.Scenario == id && res.ok() {
			if len(res.Runs) > 0 {
				return res.Runs
			}
			return []float64{res.Total}
		}
	}
	return nil
}

// roundRatio compares a with b round by round, each pair measured side by
// side under the same load, and returns the median of those ratios and
// the ratios themselves. Pairing each scenario's own best run instead would
// compare runs made under different loads on a shared machine.
func roundRatio(a, b []float64) (float64, []float64) {
	n := min(len(a), len(b))
	if n == 0 {
		return 0, nil
	}
	each := make([]float64, n)
	for i := range n {
		each[i] = a[i] / b[i]
	}
	sorted := append([]float64(nil), each...)
	slices.Sort(sorted)
	if n%2 == 1 {
		return sorted[n/2], each
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2, each
}

// ratioVerdict is one target line: the median of the per-round ratios
// decides, and each round's ratio is listed.
func ratioVerdict(dataset, other string, a, b []float64, target float64) string {
	med, each := roundRatio(a, b)
	rounds := make([]string, len(each))
	for i, r := range each {
		rounds[i] = fmt.Sprintf("%.2f", r)
	}
	return fmt.Sprintf("%s: fast = %.2f × %s, the median of the rounds' side-by-side ratios %s (target ≤ %.2f): %s",
		dataset, med, other, strings.Join(rounds, ", "), target, met(med <= target))
}

// row is one result's table cells. Index first has no index phase: its
// index is maintained row by row inside the copy.
func row(res result, floor, first float64) []string {
	label := fmt.Sprintf("(%d) %s", res.Num, res.Label)
	switch {
	case res.Error != "":
		return []string{label, "failed", "", "", "", "", ""}
	case res.Skipped != "":
		return []string{label, "skipped: " + res.Skipped, "", "", "", "", ""}
	}
	copyS, indexS, otherS := "?", "?", "?"
	if res.Phased {
		copyS, indexS, otherS = f1(res.Copy), f1(res.Index), f1(res.Other)
	}
	if res.Scenario == "index-first" {
		indexS = "(in copy)"
	}
	return []string{label, copyS, indexS, otherS, f1(res.Total), ratio(res.Total, floor), ratio(first, res.Total)}
}

func f1(s float64) string { return fmt.Sprintf("%.1f", s) }

// ratio is a/b as "1.23×", or "-" when either is unknown.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// printTable prints a dataset's results as an aligned text table.
func printTable(w io.Writer, rep datasetReport) {
	floor, first := rep.total("floor"), rep.total("index-first")
	fmt.Fprintf(w, "\n%s: %s (%d table(s), %d rows, %s)\n", rep.Name, rep.Title, rep.Tables, rep.Rows, mib(rep.SourceBytes))
	line := func(cells []string) {
		fmt.Fprintf(w, "  %-36s", cells[0])
		if len(cells[2]) == 0 && len(cells[1]) > 8 { // failed / skipped: one wide cell
			fmt.Fprintf(w, " %s\n", cells[1])
			return
		}
		for i, c := range cells[1:] {
			width := max(utf8.RuneCountInString(header[i+1]), 9)
			fmt.Fprintf(w, " %s%s", strings.Repeat(" ", max(width-utf8.RuneCountInString(c), 0)), c)
		}
		fmt.Fprintln(w)
	}
	line(header)
	for _, res := range rep.Results {
		line(row(res, floor, first))
	}
}

// markdownTable writes a dataset's results as a markdown table.
func markdownTable(w io.Writer, rep datasetReport) {
	floor, first := rep.total("floor"), rep.total("index-first")
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(header, " | "), strings.Repeat("---|", len(header)))
	for _, res := range rep.Results {
		cells := row(res, floor, first)
		if res.Error != "" {
			cells[1] = "failed: " + strings.ReplaceAll(firstLine(res.Error), "|", `\|`)
		}
		if len(res.Runs) > 1 {
			cells[4] += fmt.Sprintf(" (best of %s)", runsList(res.Runs))
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
}

func runsList(runs []float64) string {
	s := make([]string, len(runs))
	for i, r := range runs {
		s[i] = f1(r)
	}
	return strings.Join(s, ", ")
}

// verdicts check issue 8's targets on every dataset (fast against the
// floor and against pgcopydb), the speed-up over index first on the
// headline dataset, and the copy rate of every row shape.
func verdicts(reports []datasetReport, rates []copyRate) []string {
	var out []string
	for _, rep := range reports {
		fast, floor, first, pcd := rep.total("fast"), rep.total("floor"), rep.total("index-first"), rep.total("pgcopydb")
		if fast == 0 {
			out = append(out, rep.Name+": no pgvecrep fast result, targets not checked")
			continue
		}
		if floor > 0 {
			out = append(out, ratioVerdict(rep.Name, "floor", rep.runs("fast"), rep.runs("floor"), targetFloorRatio))
		}
		if pcd > 0 {
			out = append(out, ratioVerdict(rep.Name, "pgcopydb", rep.runs("fast"), rep.runs("pgcopydb"), targetPgcopydbRatio))
		}
		if rep.Name == "headline" && first > 0 {
			out = append(out, fmt.Sprintf("headline: fast is %.2f × faster than (1) (target ≥ %.0f): %s",
				first/fast, targetSpeedup, met(first/fast >= targetSpeedup)))
		}
	}
	for _, c := range rates {
		if r := c.ratio(); r > 0 {
			out = append(out, fmt.Sprintf("copy rate %s: pgvecrep = %.2f × the psql pipe's throughput (target ≥ %.2f): %s",
				c.Shape, r, targetCopyRate, met(r >= targetCopyRate)))
		}
	}
	return out
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// finish prints the verdicts, writes the results files and reports failed
// scenarios as the run's error.
func (b *bench) finish(ctx context.Context, root string, res results, started time.Time) error {
	res.Facts = gatherFacts(ctx, b, time.Since(started))
	res.Verdicts = verdicts(res.Datasets, res.CopyRates)
	if len(res.Verdicts) > 0 {
		fmt.Fprintf(b.out, "\n%s\n", strings.Join(res.Verdicts, "\n"))
		if b.o.quick {
			fmt.Fprintln(b.out, "(the targets are for the full run; -quick datasets are 20x smaller)")
		}
	}
	if b.o.results != "" {
		dir := b.o.results
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
		path, err := writeResults(dir, res)
		if err != nil {
			return err
		}
		fmt.Fprintf(b.out, "results written to %s (and .json)\n", path)
	}
	if failed := res.failed(); len(failed) > 0 {
		return fmt.Errorf("failed: %s (the errors are above)", strings.Join(failed, ", "))
	}
	return nil
}

// failed names every part of the run that failed.
func (res results) failed() []string {
	var failed []string
	for _, c := range res.CopyRates {
		if c.Error != "" {
			failed = append(failed, "copy rate/"+c.Shape)
		}
	}
	for _, rep := range res.Datasets {
		if rep.Error != "" {
			failed = append(failed, rep.Name)
		}
		for _, r := range rep.Results {
			if r.Error != "" {
				failed = append(failed, rep.Name+"/"+r.Scenario)
			}
		}
	}
	if a := res.Apply; a != nil {
		if a.Error != "" {
			failed = append(failed, "apply")
		}
		for _, r := range a.Results {
			if r.Error != "" {
				failed = append(failed, "apply/"+r.Scenario)
			}
		}
		if a.Catchup != nil && a.Catchup.Error != "" {
			failed = append(failed, "apply/catch-up")
		}
	}
	return failed
}

// results is the JSON results file.
type results struct {
	Facts     facts           `json:"facts"`
	Datasets  []datasetReport `json:"datasets"`
	CopyRates []copyRate      `json:"copy_rates,omitempty"`
	Apply     *applyReport    `json:"apply,omitempty"`
	Verdicts  []string        `json:"verdicts,omitempty"`
}

// writeResults writes <date>-<time>[-quick][-apply].md and .json into dir
// and returns the markdown file's path. -apply marks a run of the apply
// benchmark alone.
func writeResults(dir string, res results) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	name := res.Facts.started.UTC().Format("2006-01-02T150405Z")
	if res.Facts.Mode == "quick" {
		name += "-quick"
	}
	if res.Apply != nil && len(res.Datasets) == 0 && len(res.CopyRates) == 0 {
		name += "-apply"
	}
	base := filepath.Join(dir, name)
	js, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return "", err
	}
	var md strings.Builder
	writeMarkdown(&md, res)
	err = errors.Join(os.WriteFile(base+".json", append(js, '\n'), 0o644), os.WriteFile(base+".md", []byte(md.String()), 0o644))
	if err != nil {
		return "", fmt.Errorf("write results: %w", err)
	}
	return base + ".md", nil
}

func writeMarkdown(w io.Writer, res results) {
	f := res.Facts
	fmt.Fprintf(w, "# pgvecrep bench, %s (%s run)\n\n", f.Date, f.Mode)
	fmt.Fprintf(w, "`%s`, %.0f s in all. Each scenario gets a fresh target database; its time counts only "+
		"after the target is verified (same row counts as the source, every key and index valid).\n\n", f.Command, f.Wall)
	writeFacts(w, f, len(res.Datasets) > 0)
	for _, rep := range res.Datasets {
		fmt.Fprintf(w, "\n## %s: %s\n\nSource: %d table(s), %d rows, %s (loaded in %.1f s).\n\n",
			rep.Name, rep.Title, rep.Tables, rep.Rows, mib(rep.SourceBytes), rep.Load)
		if rep.Error != "" {
			fmt.Fprintf(w, "**The dataset could not be run to the end:** %s\n\n", firstLine(rep.Error))
		}
		markdownTable(w, rep)
	}
	markdownRates(w, res.CopyRates)
	markdownApply(w, res.Apply)
	if len(res.Verdicts) > 0 {
		fmt.Fprintf(w, "\n## Targets\n\n")
		for _, v := range res.Verdicts {
			fmt.Fprintf(w, "- %s\n", v)
		}
	}
	if len(res.Datasets) > 0 {
		fmt.Fprint(w, notes)
	}
}

const notes = `
## How to read it

- (1) is the tutorial's way, done with plain SQL: a subscription with copy_data = true into a
  target table that already has its vector index. The index is maintained row by row during
  the copy, so its index time is inside its copy time; "other" is CREATE SUBSCRIPTION.
- (2) and (3) run the pgvecrep binary into an empty target database, as (5) starts:
  bootstrap --copy-schema, then start_sync, timed from bootstrap's start to start_sync's exit.
  Copy and index are read from start_sync's output (the copy summary line and the last "built"
  line); "other" is everything else: bootstrap (schema included), process start, preflight,
  publication, slot, subscription, ANALYZE.
- (4) the floor, from PostgreSQL's own client and no pgvecrep code: per table one
  ` + "`psql -c 'COPY t TO STDOUT (FORMAT binary)' | psql -c 'COPY t FROM STDIN (FORMAT binary)'`" + `
  into a bare target table, then its primary key, indexes and foreign keys through psql. The
  target database starts empty, as (2), (3) and (5) start; the bare tables come first from
  ` + "`pg_dump --schema-only --section=pre-data | psql`" + ` (counted as other). Schedule: -jobs psql sessions at once; tables with a vector index copied first, largest
  first; a table's builds start as soon as its own copy ends while others still copy; the
  largest vector index first; a foreign key waits only for the key it references; at most
  -jobs/2 builds at once sharing the 1GB budget; a vector build with min_parallel_table_scan_size
  0 when its whole table is over that size, as pgvecrep's; a partitioned table copied one
  pipe per leaf, its vector index built leaf by leaf after the key, each leaf sized by its own
  table, then the parent's CREATE INDEX, which attaches them, as pgvecrep does. Copy is until
  the last copy ends, index the rest (builds that overlapped the copies are counted in copy).
- (5) pgcopydb clone --table-jobs -jobs --index-jobs -jobs into an empty target database:
  schema, data, indexes, constraints and its VACUUM ANALYZE, timed from start to exit (not
  split into phases). It reads the schema from the source, so when it runs the source also
  gets the dataset's indexes and foreign keys (built at load, untimed).
- Otherwise the source has its primary keys only: no other scenario reads a source index.
- × floor is total / floor total; speed-up over (1) is (1)'s total / total.
- With -repeat N, scenarios (2) to (4) run N times in interleaved rounds and the table shows
  each one's fastest run (all totals are listed): on a shared machine other work only adds
  time. (1) runs once. The targets are judged on the median of each round's side-by-side
  ratio, not on the fastest runs, which may come from rounds run under different loads.
`
