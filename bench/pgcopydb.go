package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// pgcopydbClone runs `pgcopydb clone --table-jobs N --index-jobs N` from
// the source database into an empty target database: schema, data (one
// snapshot, parallel COPY), each table's indexes right after its copy,
// constraints, VACUUM ANALYZE, all of it timed. The source carries the
// dataset's indexes and foreign keys for it to read. N is -jobs, what
// pgvecrep gets; the servers' maintenance_work_mem and
// max_parallel_maintenance_workers are the same for every scenario.
func pgcopydbClone(ctx context.Context, b *bench, r *runSpec) (result, error) {
	bin, why := b.pgcopydbBin()
	if bin == "" {
		return result{Skipped: why}, nil
	}
	dir, err := os.MkdirTemp("", "pgvecrep-bench-pgcopydb-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	n := strconv.Itoa(b.jobs)
	cmd := exec.CommandContext(ctx, bin, "clone", "--table-jobs", n, "--index-jobs", n, "--dir", dir)
	// The URLs go through the environment, as a password would.
	cmd.Env = append(environ("PATH", "PGCOPYDB_SOURCE_PGURI", "PGCOPYDB_TARGET_PGURI"),
		"PATH="+b.c.src.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PGCOPYDB_SOURCE_PGURI="+b.c.src.URL(r.srcDB), "PGCOPYDB_TARGET_PGURI="+b.c.tgt.URL(r.tgtDB))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if b.tool.echo != nil {
		w := io.MultiWriter(&out, b.tool.echo)
		cmd.Stdout, cmd.Stderr = w, w
	}
	start := time.Now()
	err = cmd.Run()
	total := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("pgcopydb clone: %w; its output ends with:\n%s", err, lastLines(out.String(), 15))
	}
	return result{Total: secs(total)}, nil
}

// pgcopydbBin is the pgcopydb binary to run: -pgcopydb, else PATH. When
// there is none, why says so and how to get one.
func (b *bench) pgcopydbBin() (bin, why string) {
	if b.o.pgcopydb != "" {
		if _, err := os.Stat(b.o.pgcopydb); err != nil {
			return "", fmt.Sprintf("-pgcopydb %s: %v", b.o.pgcopydb, err)
		}
		return b.o.pgcopydb, ""
	}
	if p, err := exec.LookPath("pgcopydb"); err == nil {
		return p, ""
	}
	return "", "pgcopydb not found (make bench fetches it with scripts/install-bench-deps.sh; or pass -pgcopydb PATH)"
}

// pgcopydbVersion is the first line pgcopydb --version prints, for the facts.
func pgcopydbVersion(ctx context.Context, bin string) string {
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return "?"
	}
	s := strings.TrimSpace(string(out))
	if i := strings.Index(s, "pgcopydb version "); i >= 0 {
		s = s[i+len("pgcopydb version "):]
		if j := strings.IndexAny(s, " \n"); j >= 0 {
			s = s[:j]
		}
	}
	return s
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "    " + strings.Join(ls[max(len(ls)-n, 0):], "\n    ")
}
