package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
)

// copyRate is one row shape's copy throughput: pgvecrep's copy against one
// psql binary COPY pipe, the same table into a fresh target, copy only.
type copyRate struct {
	Shape       string    `json:"shape"`
	Title       string    `json:"title"`
	Rows        int       `json:"rows"`
	SourceBytes int64     `json:"source_bytes"`
	Jobs        int       `json:"pgvecrep_jobs"`
	Pipe        float64   `json:"pipe_s"` // fastest run
	Pgvecrep    float64   `json:"pgvecrep_s"`
	PipeRuns    []float64 `json:"pipe_runs_s"`
	PgvecrepRun []float64 `json:"pgvecrep_runs_s"`
	Error       string    `json:"error,omitempty"`
}

// ratio is pgvecrep's throughput as a share of the pipe's.
func (c copyRate) ratio() float64 {
	if c.Pipe <= 0 || c.Pgvecrep <= 0 {
		return 0
	}
	return c.Pipe / c.Pgvecrep
}

// mibps is the source table's size over seconds.
func (c copyRate) mibps(s float64) string {
	if s <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(c.SourceBytes)/(1<<20)/s)
}

// rateShapes are the row shapes of issue 8's point 1: a narrow table and
// wide vectors, without indexes.
func rateShapes(quick bool) []table {
	narrow, vecs := 5_000_000, 100_000
	if quick {
		narrow, vecs = 200_000, 5_000
	}
	v := vectorTable("vectors", vecs, 768, "")
	v.Indexes = nil
	return []table{narrowTable("narrow", narrow), v}
}

func rateTitle(t table) string {
	if t.Dim > 0 {
		return fmt.Sprintf("%s x %d-d vectors (bigint, vector)", count(t.Rows), t.Dim)
	}
	return fmt.Sprintf("%s narrow rows (int, int, text of 20 bytes, timestamptz)", count(t.Rows))
}

// copyRates runs the comparison for every shape: -repeat interleaved
// rounds of (pipe, pgvecrep), each one's fastest run kept.
func (b *bench) copyRates(ctx context.Context) []copyRate {
	var out []copyRate
	for _, t := range rateShapes(b.o.quick) {
		d := dataset{Name: "rate_" + t.Name, Tables: []table{t}}
		c := copyRate{Shape: t.Name, Rows: t.Rows, Jobs: b.o.copyJobs, Title: rateTitle(t)}
		fmt.Fprintf(b.out, "\n== copy rate: %s\n", c.Title)
		if err := b.copyRate(ctx, d, &c); err != nil {
			c.Error = err.Error()
			fmt.Fprintf(b.out, "      FAILED: %s\n", indent(c.Error, "      "))
		}
		out = append(out, c)
		if ctx.Err() != nil {
			break
		}
	}
	printRates(b.out, out)
	return out
}

func (b *bench) copyRate(ctx context.Context, d dataset, c *copyRate) error {
	srcDB := "src_" + d.Name
	var rep datasetReport
	if err := b.loadSource(ctx, d, srcDB, false, &rep); err != nil {
		return err
	}
	c.SourceBytes = rep.SourceBytes
	r := &runSpec{d: d, srcDB: srcDB}
	for round := range b.o.repeat {
		pipeT, err := b.rateRun(ctx, r, "pipe", targetBare, b.pipeCopy)
		if err != nil {
			return err
		}
		toolT, err := b.rateRun(ctx, r, "pgvecrep", targetFull, b.toolCopy)
		if err != nil {
			return err
		}
		c.PipeRuns, c.PgvecrepRun = append(c.PipeRuns, pipeT), append(c.PgvecrepRun, toolT)
		if round == 0 || pipeT < c.Pipe {
			c.Pipe = pipeT
		}
		if round == 0 || toolT < c.Pgvecrep {
			c.Pgvecrep = toolT
		}
		fmt.Fprintf(b.out, "  round %d: pipe %.2f s, pgvecrep %.2f s\n", round+1, pipeT, toolT)
	}
	if !b.o.keep {
		return b.c.src.Exec(ctx, "postgres", "DROP DATABASE "+ident(srcDB)+" WITH (FORCE)")
	}
	return nil
}

// rateRun copies r's table into a fresh target database one way, checks
// the row count and returns the copy's seconds.
func (b *bench) rateRun(ctx context.Context, r *runSpec, way string, kind targetKind,
	copyFn func(context.Context, *runSpec) (float64, error)) (float64, error) {
	r.tgtDB = "tgt_" + r.d.Name + "_" + way
	if err := b.c.prepareTarget(ctx, r.tgtDB, r.d, kind); err != nil {
		return 0, err
	}
	if err := b.c.checkpoint(ctx); err != nil {
		return 0, err
	}
	s, err := copyFn(ctx, r)
	if err == nil {
		err = b.c.sameRows(ctx, r.d, r.srcDB, r.tgtDB)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", way, err)
	}
	if err := b.c.detach(ctx, r.srcDB, r.tgtDB); err != nil {
		return 0, err
	}
	if !b.o.keep {
		if err := b.c.tgt.Exec(ctx, "postgres", "DROP DATABASE "+ident(r.tgtDB)+" WITH (FORCE)"); err != nil {
			return 0, fmt.Errorf("drop target database: %w", err)
		}
	}
	return s, nil
}

// pipeCopy is one psql binary COPY pipe, timed from start to both exits.
func (b *bench) pipeCopy(ctx context.Context, r *runSpec) (float64, error) {
	f := &floorRun{b: b, r: r}
	start := time.Now()
	err := f.copyTable(ctx, r.d.Tables[0].Name)
	return secs(time.Since(start)), err
}

// copySummaryRE is start_sync's copy summary: "copied 100000 rows (56.2
// MiB) in 0:00.5, 112.4 MiB/s".
var copySummaryRE = regexp.MustCompile(`copied \d+ rows .* in (\d+):(\d+(?:\.\d+)?)`)

// toolCopy runs bootstrap and start_sync --copy-mode fast and returns the
// copy's own time as start_sync reports it (builds and the rest excluded).
func (b *bench) toolCopy(ctx context.Context, r *runSpec) (float64, error) {
	src, tgt := b.c.src.URL(r.srcDB), b.c.tgt.URL(r.tgtDB)
	if _, err := b.tool.run(ctx, src, tgt, "bootstrap", "-g", benchGroup); err != nil {
		return 0, err
	}
	out, err := b.tool.run(ctx, src, tgt, "start_sync", "-g", benchGroup, "--copy-mode", "fast",
		"--jobs", strconv.Itoa(b.o.copyJobs), "--index-memory", indexMemoryFlag)
	if err != nil {
		return 0, err
	}
	for _, l := range out.lines {
		if m := copySummaryRE.FindStringSubmatch(l.text); m != nil {
			mins, _ := strconv.Atoi(m[1])
			s, _ := strconv.ParseFloat(m[2], 64)
			return float64(mins)*60 + s, nil
		}
	}
	return 0, fmt.Errorf("no copy summary (copied N rows ... in m:ss.s) in start_sync's output:\n%s", out.text(15))
}

// sameRows checks the target has the source's row count in every table.
func (c *clusters) sameRows(ctx context.Context, d dataset, srcDB, tgtDB string) error {
	for _, t := range d.Tables {
		var want, got int64
		q := "SELECT count(*) FROM " + ident(t.Name)
		if err := queryInt(ctx, c.src, srcDB, q, &want); err != nil {
			return fmt.Errorf("count source rows of %s: %w", t.Name, err)
		}
		if err := queryInt(ctx, c.tgt, tgtDB, q, &got); err != nil {
			return fmt.Errorf("count target rows of %s: %w", t.Name, err)
		}
		if got != want {
			return fmt.Errorf("target table %s has %d rows; want %d", t.Name, got, want)
		}
	}
	return nil
}

// queryInt runs a one-number query in database db of cluster cl.
func queryInt(ctx context.Context, cl *localpg.Cluster, db, q string, v *int64) error {
	conn, err := cl.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.QueryRow(ctx, q).Scan(v)
}

// printRates prints the comparison as a text table.
func printRates(w io.Writer, rates []copyRate) {
	fmt.Fprintf(w, "\ncopy rate, copy only (MiB of source table per second; fastest run):\n")
	fmt.Fprintf(w, "  %-8s %10s %8s %12s %8s %12s %10s\n", "shape", "rows", "pipe s", "pipe MiB/s", "tool s", "tool MiB/s", "tool/pipe")
	for _, c := range rates {
		if c.Error != "" {
			fmt.Fprintf(w, "  %-8s failed: %s\n", c.Shape, firstLine(c.Error))
			continue
		}
		fmt.Fprintf(w, "  %-8s %10s %8.2f %12s %8.2f %12s %9.2f×\n", c.Shape, count(c.Rows),
			c.Pipe, c.mibps(c.Pipe), c.Pgvecrep, c.mibps(c.Pgvecrep), c.ratio())
	}
}

// markdownRates writes the comparison as a markdown section.
func markdownRates(w io.Writer, rates []copyRate) {
	if len(rates) == 0 {
		return
	}
	fmt.Fprintf(w, "\n## Copy rate: pgvecrep's copy against one psql binary COPY pipe\n\n"+
		"Copy only, no index: the same source table into a fresh target, "+
		"`psql -c 'COPY t TO STDOUT (FORMAT binary)' | psql -c 'COPY t FROM STDIN (FORMAT binary)'` against "+
		"the copy phase that `pgvecrep start_sync --copy-mode fast --jobs %d` reports (its \"copied N rows ... in m:ss.s\" line). "+
		"MiB/s is the source table's size (pg_table_size) over the fastest run's seconds; tool/pipe is pgvecrep's "+
		"throughput as a share of the pipe's (issue 8 asks for at least 0.90).\n\n", rates[0].Jobs)
	fmt.Fprintf(w, "| shape | rows | table size | pipe s | pipe MiB/s | pgvecrep s | pgvecrep MiB/s | pgvecrep / pipe |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range rates {
		if c.Error != "" {
			fmt.Fprintf(w, "| %s | %s | failed: %s |||||\n", c.Title, count(c.Rows), firstLine(c.Error))
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.2f (best of %s) | %s | %.2f (best of %s) | %s | %.2f× |\n",
			c.Title, count(c.Rows), mib(c.SourceBytes), c.Pipe, runsList2(c.PipeRuns), c.mibps(c.Pipe),
			c.Pgvecrep, runsList2(c.PgvecrepRun), c.mibps(c.Pgvecrep), c.ratio())
	}
}

func runsList2(runs []float64) string {
	s := make([]string, len(runs))
	for i, r := range runs {
		s[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(s, ", ")
}
