package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// floor is the least an initial sync can cost, built from PostgreSQL's own
// client and nothing of pgvecrep's: for each table, one
//
//	psql -c 'COPY t TO STDOUT (FORMAT binary)' | psql -c 'COPY t FROM STDIN (FORMAT binary)'
//
// into a bare target table, and then its primary key, indexes and foreign
// keys through psql, on the best schedule a script could have. The target
// database starts empty, as pgvecrep's and pgcopydb's do, and the bare
// tables come from
//
//	pg_dump --schema-only --section=pre-data | psql
//
// before the first copy. The schedule:
//
//   - -jobs sessions at once, copies and builds alike (what pgvecrep gets
//     with --jobs);
//   - tables with a vector index are copied first, largest first, so their
//     long builds start early; then the others, largest first;
//   - a table's builds start as soon as its own copy ends, while other
//     tables still copy; the largest vector index goes first;
//   - a foreign key waits only for the key it references;
//   - at most floorBuilds(jobs) builds at once, sharing the memory budget
//     pgvecrep gets (--index-memory), each with the clusters'
//     max_parallel_maintenance_workers, and a vector build with them
//     whatever its heap size when the whole table, TOAST included, is
//     over min_parallel_table_scan_size, as pgvecrep's vector builds;
//   - a partitioned table is copied one pipe per leaf, and its vector
//     index built leaf by leaf (see leafBuilds), as pgvecrep builds it.
//
// The clock runs from the schema to the last build. The schema is other;
// copy is until the last copy ends; index is the rest, builds that
// overlapped the copies being counted in copy.
func floor(ctx context.Context, b *bench, r *runSpec) (result, error) {
	f := &floorRun{b: b, r: r, maxBuilds: floorBuilds(b.jobs)}
	f.plan(r.d)
	f.cond = sync.NewCond(&f.mu)
	begin := time.Now()
	if err := f.schema(ctx); err != nil {
		return result{}, err
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	stop := context.AfterFunc(gctx, func() { f.mu.Lock(); f.failed = true; f.cond.Broadcast(); f.mu.Unlock() })
	defer stop()
	for range b.jobs {
		g.Go(func() error { return f.worker(gctx) })
	}
	if err := g.Wait(); err != nil {
		return result{}, err
	}
	end := time.Now()
	copyT, builds := f.copiesEnd.Sub(start), end.Sub(start)
	return result{Copy: secs(copyT), Index: secs(builds - copyT), Other: secs(start.Sub(begin)),
		Total: secs(end.Sub(begin)), Phased: true}, nil
}

// schema creates the bare tables (and the extension) on the empty target
// from the source's pre-data section, through pg_dump and psql.
func (f *floorRun) schema(ctx context.Context) error {
	dump := exec.CommandContext(ctx, f.b.c.src.Bin("pg_dump"), "--schema-only", "--section=pre-data",
		"--no-owner", "--no-privileges", "-d", f.b.c.src.URL(f.r.srcDB))
	dump.Env = environ("PGOPTIONS", "PGDATABASE", "PGHOST", "PGPORT", "PGUSER")
	return pipe(dump, f.b.psql(ctx, f.b.c.tgt.URL(f.r.tgtDB)), "schema")
}

// floorBuilds is how many builds the floor runs at once: one per two jobs,
// as start_sync does, so a build's parallel workers have cores to run on.
func floorBuilds(jobs int) int { return max(1, jobs/2) }

// floorStep is one psql session of the floor: the copy of a table (or of
// one leaf of a partitioned table) or one build.
type floorStep struct {
	table string // the table the build waits for, or the one copied
	sql   string // the build's statement; "" for the copy
	// parent is the partitioned table a copied leaf belongs to (the table
	// itself when it is not partitioned).
	parent string
	// mark, when set, is recorded once the build is done, for the steps
	// that name it in after: a table's name for its primary key.
	mark string
	// rank orders steps of one kind: lower first.
	rank int
	// after are the marks of what must be built before this step (the
	// keys a foreign key references, the leaf indexes of a parent's).
	after []string
}

// floorRun is the floor's schedule and its progress.
type floorRun struct {
	b         *bench
	r         *runSpec
	maxBuilds int

	mu        sync.Mutex
	cond      *sync.Cond
	copies    []floorStep // not started, in order
	builds    []floorStep // not started, in order
	copied    map[string]bool
	leaves    map[string]int  // leaves not copied yet, per partitioned table
	marked    map[string]bool // marks of the builds done
	running   int             // builds running
	failed    bool
	copiesEnd time.Time
}

// plan orders the dataset's copies and builds.
func (f *floorRun) plan(d dataset) {
	f.copied, f.leaves, f.marked = map[string]bool{}, map[string]int{}, map[string]bool{}
	for _, t := range d.Tables {
		weight := t.Rows * max(t.Dim, 1) // vector tables are ~Dim times wider
		vec := 0
		if t.hasVectorIndex() {
			vec = 1 << 40 // every vector table before every other
		}
		leaves := t.leafNames()
		f.leaves[t.Name] = len(leaves)
		for _, leaf := range leaves {
			f.copies = append(f.copies, floorStep{table: leaf, parent: t.Name, rank: -(vec + weight/len(leaves))})
		}
		f.builds = append(f.builds, floorStep{table: t.Name, sql: t.keySQL(), mark: t.Name, rank: -weight})
		for _, ix := range t.Indexes {
			rank := -weight
			if isVectorIndex(ix) {
				rank -= 1 << 40 // vector indexes before keys and btrees
			}
			f.builds = append(f.builds, f.leafBuilds(t, ix, rank)...)
		}
		for i, fk := range t.FKs {
			f.builds = append(f.builds, floorStep{table: t.Name, sql: fk, rank: 1, after: []string{t.RefTables[i]}})
		}
	}
	byRank := func(s []floorStep) { sort.SliceStable(s, func(i, j int) bool { return s[i].rank < s[j].rank }) }
	byRank(f.copies)
	byRank(f.builds)
}

// leafBuilds are the steps of index ix on t. On a partitioned table a
// vector index is built as pgvecrep builds it: one CREATE INDEX per leaf,
// after the key, each sized by its leaf, then the parent's, which only
// attaches them. Any other index is one step.
func (f *floorRun) leafBuilds(t table, ix string, rank int) []floorStep {
	parent := floorStep{table: t.Name, sql: ix, rank: rank}
	_, tail, ok := strings.Cut(ix, " ON "+t.Name+" ")
	if t.Parts == 0 || !isVectorIndex(ix) || !ok {
		return []floorStep{parent}
	}
	var steps []floorStep
	for _, leaf := range t.leafNames() {
		mark := "index on " + leaf
		steps = append(steps, floorStep{table: t.Name, sql: "CREATE INDEX ON " + leaf + " " + tail,
			mark: mark, rank: rank, after: []string{t.Name}})
		parent.after = append(parent.after, mark)
	}
	return append(steps, parent)
}

// worker runs steps until none is left.
func (f *floorRun) worker(ctx context.Context) error {
	for {
		st, ok := f.next()
		if !ok {
			return nil
		}
		var err error
		if st.sql == "" {
			err = f.copyTable(ctx, st.table)
		} else {
			err = f.build(ctx, st.sql)
		}
		if err != nil {
			return err
		}
		f.done(st)
	}
}

// next waits for a step that can start: a build whose table is copied (and
// whose referenced keys are built) while a build slot is free, else the
// next copy. ok is false when every step is taken or the run failed.
func (f *floorRun) next() (floorStep, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for !f.failed {
		if f.running < f.maxBuilds {
			for i, st := range f.builds {
				if f.ready(st) {
					f.builds = append(f.builds[:i], f.builds[i+1:]...)
					f.running++
					return st, true
				}
			}
		}
		if len(f.copies) > 0 {
			st := f.copies[0]
			f.copies = f.copies[1:]
			return st, true
		}
		if len(f.builds) == 0 {
			return floorStep{}, false
		}
		f.cond.Wait()
	}
	return floorStep{}, false
}

func (f *floorRun) ready(st floorStep) bool {
	if !f.copied[st.table] {
		return false
	}
	for _, m := range st.after {
		if !f.marked[m] {
			return false
		}
	}
	return true
}

// done records a finished step and wakes the workers waiting for one.
func (f *floorRun) done(st floorStep) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case st.sql == "":
		if f.leaves[st.parent]--; f.leaves[st.parent] == 0 {
			f.copied[st.parent] = true
		}
		if len(f.copies) == 0 {
			f.copiesEnd = time.Now() // the last copy to end sets it last
		}
	default:
		f.running--
		if st.mark != "" {
			f.marked[st.mark] = true
		}
	}
	f.cond.Broadcast()
}

// copyTable pipes one table from the source to the target between two psql
// processes: the bytes go from one to the other through an OS pipe and
// never through the bench.
func (f *floorRun) copyTable(ctx context.Context, table string) error {
	from := f.b.psql(ctx, f.b.c.src.URL(f.r.srcDB), "COPY "+ident(table)+" TO STDOUT (FORMAT binary)")
	to := f.b.psql(ctx, f.b.c.tgt.URL(f.r.tgtDB), "COPY "+ident(table)+" FROM STDIN (FORMAT binary)")
	return pipe(from, to, "copy "+table)
}

// build runs one CREATE INDEX or ALTER TABLE through psql, in a session
// with the floor's share of the memory budget and the parallel workers.
func (f *floorRun) build(ctx context.Context, sql string) error {
	sqls := []string{
		fmt.Sprintf("SET maintenance_work_mem = '%dkB'", indexMemory/int64(f.maxBuilds)/1024),
		fmt.Sprintf("SET max_parallel_maintenance_workers = %d", maintenanceWorkers),
	}
	if t := vectorIndexTable(sql); t != "" {
		sqls = append(sqls, fmt.Sprintf(`SELECT set_config('min_parallel_table_scan_size', '0', false)
WHERE pg_table_size('%s'::regclass) >= pg_size_bytes(current_setting('min_parallel_table_scan_size'))`, ident(t)))
		if strings.Contains(sql, "USING hnsw") {
			sqls = append(sqls, fmt.Sprintf(hnswMemorySQL, ident(t), f.r.d.tableRows(t), maintenanceWorkers+1))
		}
	}
	cmd := f.b.psql(ctx, f.b.c.tgt.URL(f.r.tgtDB), append(sqls, sql)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql %s: %w\n%s", firstLine(sql), err, out)
	}
	return nil
}

// hnswMemorySQL lowers an HNSW build's maintenance_work_mem to what its
// graph needs, as pgvecrep does (vector.HNSWMemory, with m = 16, the
// datasets' m): the table's bytes plus 1024 bytes a row, plus a quarter,
// at least 32MB per participant, never more than the build's share.
// Arguments: the table, its rows (the dataset's), participants.
const hnswMemorySQL = `SELECT set_config('maintenance_work_mem',
  (least(pg_size_bytes(current_setting('maintenance_work_mem')),
         greatest((pg_table_size('%[1]s'::regclass) + %[2]d::bigint * 1024) * 5 / 4, %[3]d::bigint * 32 * 1024 * 1024)) / 1024)::text || 'kB', false)`

// psql is a psql command running the statements in one session, stopping
// at the first error.
func (b *bench) psql(ctx context.Context, url string, sqls ...string) *exec.Cmd {
	args := []string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url}
	for _, s := range sqls {
		args = append(args, "-c", s)
	}
	cmd := exec.CommandContext(ctx, b.c.src.Bin("psql"), args...)
	cmd.Env = environ("PGOPTIONS", "PGDATABASE", "PGHOST", "PGPORT", "PGUSER")
	return cmd
}

// pipe runs from | to, the first one's stdout an OS pipe into the second
// one's stdin, and waits for both.
func pipe(from, to *exec.Cmd, what string) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	var fromErr, toErr bytes.Buffer
	from.Stdout, from.Stderr = w, &fromErr
	to.Stdin, to.Stdout, to.Stderr = r, &toErr, &toErr
	if err := from.Start(); err != nil {
		_, _ = r.Close(), w.Close() // unused pipe ends; the start's error is the one to report
		return fmt.Errorf("%s: start psql: %w", what, err)
	}
	_ = w.Close() // from holds its own copy; this one would keep the pipe open
	if err := to.Start(); err != nil {
		_ = r.Close()
		_ = from.Wait()
		return fmt.Errorf("%s: start psql: %w", what, err)
	}
	_ = r.Close() // to holds its own copy
	err = errors.Join(wrapOut(from.Wait(), &fromErr), wrapOut(to.Wait(), &toErr))
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func wrapOut(err error, out *bytes.Buffer) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("psql: %w: %s", err, bytes.TrimSpace(out.Bytes()))
}
