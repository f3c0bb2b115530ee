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
	c.ok("pg_dump", "%s (version %d) can dump the source (version %d)", path, major, c.sf.Major())
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
// the one on PATH if it is new enough, else the newest in
// /usr/lib/postgresql/*/bin. It returns the path and its major version; the
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
		return "", 0, hint.New("pg_dump not found on PATH or in /usr/lib/postgresql/*/bin", h)
	}
	return "", 0, hint.New(fmt.Sprintf("no pg_dump of version %d or newer: %s", minMajor, strings.Join(tried, "; ")), h)
}

// pgDumpCandidates lists pg_dump on PATH, then the installed ones, newest first.
func pgDumpCandidates() []string {
	var out []string
	if p, err := exec.LookPath("pg_dump"); err == nil {
		out = append(out, p)
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	major := func(p string) int {
		n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(p))))
		return n
	}
	sort.SliceStable(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if !slices.Contains(out, d) {
			out = append(out, d)
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
