package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// facts describe the machine and the run, recorded with the results.
type facts struct {
	started  time.Time
	Date     string            `json:"date"`
	Mode     string            `json:"mode"` // full or quick
	Command  string            `json:"command"`
	Wall     float64           `json:"wall_s"`
	CPUs     int               `json:"cpus"`
	CPUModel string            `json:"cpu_model"`
	Memory   string            `json:"memory"`
	Kernel   string            `json:"kernel"`
	Go       string            `json:"go"`
	Postgres string            `json:"postgres"`
	PgVector string            `json:"pgvector"`
	Pgvecrep string            `json:"pgvecrep"`
	PgCopyDB string            `json:"pgcopydb"`
	LoadAvg  string            `json:"load_average"` // at the start and the end of the run
	Jobs     int               `json:"jobs"`
	Repeat   int               `json:"repeat"`
	Seed     uint64            `json:"seed"`
	Settings map[string]string `json:"settings"`
}

// gatherFacts collects what the results need to be read in context. A fact
// that cannot be read is recorded as "?" rather than failing the run.
func gatherFacts(ctx context.Context, b *bench, wall time.Duration) facts {
	now := time.Now()
	f := facts{
		started:  now.Add(-wall),
		Date:     now.Add(-wall).UTC().Format("2006-01-02 15:04:05 UTC"),
		Mode:     "full",
		Command:  "go run ./bench " + strings.Join(os.Args[1:], " "),
		Wall:     wall.Seconds(),
		CPUs:     runtime.NumCPU(),
		CPUModel: cpuModel(),
		Memory:   memTotal(),
		Kernel:   readTrim("/proc/sys/kernel/osrelease"),
		Go:       runtime.Version(),
		Pgvecrep: b.commit,
		LoadAvg:  b.loadStart + " at the start, " + loadAvg() + " at the end",
		Jobs:     b.jobs,
		Repeat:   b.o.repeat,
		Seed:     b.o.seed,
		Settings: map[string]string{},
	}
	if b.o.quick {
		f.Mode = "quick"
	}
	f.PgCopyDB = "not found"
	if bin, _ := b.pgcopydbBin(); bin != "" {
		f.PgCopyDB = pgcopydbVersion(ctx, bin)
	}
	conn, err := b.c.tgt.Connect(ctx, "postgres")
	if err != nil {
		f.Postgres, f.PgVector = "?", "?"
		return f
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if conn.QueryRow(ctx, "SHOW server_version").Scan(&f.Postgres) != nil {
		f.Postgres = "?"
	}
	if conn.QueryRow(ctx, "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'").Scan(&f.PgVector) != nil {
		f.PgVector = "?"
	}
	for name := range settings {
		var v string
		if conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&v) != nil {
			v = "?"
		}
		f.Settings[name] = v
	}
	return f
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func memTotal() string {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.ParseFloat(fields[1], 64)
			return fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	return "?"
}

// loadAvg is the 1, 5 and 15 minute load averages: how busy the machine
// was with other work, which the timings include.
func loadAvg() string {
	fields := strings.Fields(readTrim("/proc/loadavg"))
	if len(fields) < 3 {
		return "?"
	}
	return strings.Join(fields[:3], " ")
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// gitDescribe is the commit the binary was built from, noting uncommitted
// changes in the work tree.
func gitDescribe(ctx context.Context, root string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "?"
	}
	rev := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		rev += " (work tree has uncommitted changes)"
	}
	return rev
}

// writeFacts writes the machine and the settings; copies says whether the
// run copied datasets, whose index builds the last paragraph describes.
func writeFacts(w io.Writer, f facts, copies bool) {
	fmt.Fprintf(w, "## Machine and run\n\n| fact | value |\n|---|---|\n")
	rows := [][2]string{
		{"CPUs (nproc)", strconv.Itoa(f.CPUs)}, {"CPU model", f.CPUModel}, {"memory", f.Memory},
		{"kernel", f.Kernel}, {"Go", f.Go}, {"PostgreSQL", f.Postgres}, {"pgvector", f.PgVector},
		{"pgvecrep", f.Pgvecrep}, {"pgcopydb", f.PgCopyDB}, {"load average (1, 5, 15 min)", f.LoadAvg},
		{"-jobs", strconv.Itoa(f.Jobs)}, {"-repeat (best run kept)", strconv.Itoa(f.Repeat)}, {"data seed", strconv.FormatUint(f.Seed, 10)},
	}
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s |\n", r[0], r[1])
	}
	fmt.Fprintf(w, "\nServer settings, identical on the source and the target and for every scenario "+
		"(fsync, full_page_writes and synchronous_commit are off: a fact of this run, not a recommendation):\n\n")
	fmt.Fprintf(w, "| setting | value |\n|---|---|\n")
	keys := make([]string, 0, len(f.Settings))
	for k := range f.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "| %s | %s |\n", k, f.Settings[k])
	}
	if !copies {
		return
	}
	fmt.Fprintf(w, "\nIndex builds after the copy, (2) to (4): a maintenance_work_mem budget of %s (pgvecrep --index-memory, "+
		"the floor's budget) shared by the builds running at once, -jobs/2 of them (at least 1), each with "+
		"max_parallel_maintenance_workers %d; a vector build also with min_parallel_table_scan_size 0 when its whole "+
		"table, TOAST included, is over that size, so it gets those workers even when its vectors are stored out of "+
		"line and the heap is small (PostgreSQL plans a build's workers from the heap's size); on a partitioned "+
		"table, leaf by leaf, each leaf sized by its own table. (5) pgcopydb gets --table-jobs and --index-jobs -jobs, and the servers' "+
		"maintenance_work_mem and max_parallel_maintenance_workers above.\n", indexMemoryFlag, maintenanceWorkers)
}

// moduleRoot is the directory of the go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; run the bench from the pgvecrep repository (make bench)")
		}
		dir = parent
	}
}

// settingsLine is the cluster settings on one line, for the log.
func settingsLine() string {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + settings[k]
	}
	return strings.Join(parts, " ")
}
