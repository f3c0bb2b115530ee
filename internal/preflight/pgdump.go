package preflight

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
)

// pgDump: --copy-schema runs pg_dump against the source, and pg_dump refuses
// servers of a newer major version than its own.
func (c *checker) pgDump(context.Context) {
	if !c.o.CopySchema {
		return
	}
	path, major, err := checkPgDump(c.o.PgDump, c.sf.Major())
	if err == nil {
		_, err = PgRestore(path)
	}
	if err != nil {
		c.broken("pg_dump", err)
		return
	}
	c.add(pgDumpFinding(path, major, c.sf.Major(), c.tf.Major()))
}

// pgDumpFinding: a pg_dump new enough for the source writes SQL for its own
// version, and the schema copy runs that SQL on the target as is. A target
// older than pg_dump may reject it (pg_dump 17+ sets transaction_timeout,
// unknown before 17), so bootstrap --copy-schema gets a warning then.
func pgDumpFinding(path string, dump, source, target int) Finding {
	f := Finding{Check: "pg_dump", Status: StatusOK,
		Detail: fmt.Sprintf("%s (version %d) can dump the source (version %d)", path, dump, source)}
	if dump > target {
		f.Status = StatusWarn
		f.Detail += fmt.Sprintf(", but writes SQL for PostgreSQL %d and the target is %d: bootstrap --copy-schema may fail on it", dump, target)
		f.Hint = fmt.Sprintf("create the schema on the target by hand and run bootstrap without --copy-schema, or use a pg_dump %d if the source is %d", target, target)
		if source > target {
			f.Hint = "create the schema on the target by hand and run bootstrap without --copy-schema"
		}
	}
	return f
}

// PgRestore finds the pg_restore that goes with pgDump: the one beside it
// (same version, so it reads the archive), else the one on PATH.
// bootstrap --copy-schema lists and filters pg_dump's archive with it.
func PgRestore(pgDump string) (string, error) {
	p := filepath.Join(filepath.Dir(pgDump), "pg_restore")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if p, err := exec.LookPath("pg_restore"); err == nil {
		return p, nil
	}
	return "", hint.New(fmt.Sprintf("pg_restore not found beside %s or on PATH", pgDump),
		"install the PostgreSQL client programs of the same version as pg_dump (e.g. package postgresql-client)")
}

// checkPgDump checks the pg_dump at path, or finds one when path is "".
func checkPgDump(path string, minMajor int) (string, int, error) {
	if path == "" {
		return FindPgDump(minMajor)
	}
	major, err := PgDumpMajor(path)
	if err != nil {
		return "", 0, err
	}
	if major < minMajor {
		return "", 0, hint.New(fmt.Sprintf("pg_dump %s is version %d, older than the source server (%d)", path, major, minMajor),
			fmt.Sprintf("use pg_dump %d or newer (e.g. package postgresql-client-%d)", minMajor, minMajor))
	}
	return path, major, nil
}

// FindPgDump finds a pg_dump of major version minMajor or newer (0: any):
// the one on PATH if it is new enough, else the newest installed one (see
// pgDumpCandidates), so that a source newer than the default client (an 18
// source beside the system's 15) needs no flag. It returns the path and its major version; the
// error carries a hint on what to install.
func FindPgDump(minMajor int) (path string, major int, err error) {
	var tried []string
	for _, p := range pgDumpCandidates() {
		m, err := PgDumpMajor(p)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		if m >= minMajor {
			return p, m, nil
		}
		tried = append(tried, fmt.Sprintf("%s is version %d", p, m))
	}
	h := "install the PostgreSQL client programs (e.g. package postgresql-client)"
	if minMajor > 0 {
		h = fmt.Sprintf("install pg_dump %d or newer (e.g. package postgresql-client-%d)", minMajor, minMajor)
	}
	if len(tried) == 0 {
		return "", 0, hint.New("pg_dump not found on PATH or among the installed servers", h)
	}
	return "", 0, hint.New(fmt.Sprintf("no pg_dump of version %d or newer: %s", minMajor, strings.Join(tried, "; ")), h)
}

// pgDumpCandidates lists pg_dump on PATH, then the installed ones (in the
// directories localpg.BinDirs finds, install-deps.sh's PGVECREP_PG_ROOT
// included), newest first.
func pgDumpCandidates() []string {
	var out []string
	if p, err := exec.LookPath("pg_dump"); err == nil {
		out = append(out, p)
	}
	var found []string
	for _, d := range localpg.BinDirs() {
		p := filepath.Join(d, "pg_dump")
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		}
	}
	majors := map[string]int{}
	for _, p := range found {
		majors[p], _ = PgDumpMajor(p)
	}
	sort.SliceStable(found, func(i, j int) bool { return majors[found[i]] > majors[found[j]] })
	for _, p := range found {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// PgDumpMajor runs `path --version` and returns pg_dump's major version.
func PgDumpMajor(path string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			err = errors.New(strings.TrimSpace(string(ee.Stderr)))
		}
		return 0, hint.Wrap(fmt.Errorf("run %s --version: %w", path, err), "check that pg_dump is installed and runs")
	}
	return parseDumpVersion(string(out))
}

var dumpVersion = regexp.MustCompile(`\(PostgreSQL\)\s+(\d+)`)

// parseDumpVersion reads the major version from "pg_dump (PostgreSQL) 15.4 ...".
func parseDumpVersion(out string) (int, error) {
	m := dumpVersion.FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("parse pg_dump version from %q", strings.TrimSpace(out))
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, fmt.Errorf("parse pg_dump version from %q: %w", strings.TrimSpace(out), err)
	}
	return n, nil
}
