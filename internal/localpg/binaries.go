package localpg

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultExtraRoot is where scripts/install-deps.sh builds the newer servers
// it is asked for (PG_EXTRA_MAJOR=18 -> /usr/local/pgvecrep/pg18). It lies
// outside any checkout so that one build serves every later run on the
// machine; PGVECREP_PG_ROOT moves it, for the script and for this package.
const DefaultExtraRoot = "/usr/local/pgvecrep"

// ExtraRoot is the directory holding the servers install-deps.sh built.
func ExtraRoot() string {
	if r := os.Getenv("PGVECREP_PG_ROOT"); r != "" {
		return r
	}
	return DefaultExtraRoot
}

// binDirPatterns are where PostgreSQL installations keep their programs:
// Debian's packages, PGDG's RPMs and the servers install-deps.sh builds.
func binDirPatterns() []string {
	return []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin", filepath.Join(ExtraRoot(), "pg*", "bin")}
}

// BinDirs lists the bin directories of every PostgreSQL installation on the
// machine (see binDirPatterns), servers and client-only ones alike, in no
// particular order. It is the one place that knows where to look: the
// local clusters take their servers from it, preflight its pg_dump.
func BinDirs() []string {
	var dirs []string
	for _, pat := range binDirPatterns() {
		m, _ := filepath.Glob(pat)
		dirs = append(dirs, m...)
	}
	return dirs
}

// Installed lists the directories of every server installation found (see
// BinDirs), newest major first. A directory counts when it has initdb and
// its postgres reports a version.
func Installed() []BinDir {
	var out []BinDir
	for _, d := range BinDirs() {
		if !fileExists(filepath.Join(d, "initdb")) {
			continue
		}
		if major, err := BinMajor(d); err == nil {
			out = append(out, BinDir{Dir: d, Major: major})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Major > out[j].Major })
	return out
}

// BinDir is one server installation: its bin directory and major version.
type BinDir struct {
	Dir   string
	Major int
}

// FindMajor locates the server binaries of one major version. The error says
// which majors there are and how to get the missing one.
func FindMajor(major int) (string, error) {
	var have []string
	for _, b := range Installed() {
		if b.Major == major {
			return b.Dir, nil
		}
		have = append(have, strconv.Itoa(b.Major))
	}
	return "", &missingMajorError{major: major, have: have}
}

// missingMajorError is FindMajor's error: it names the version, what is
// installed and how to get it, and matches ErrNoBinaries for errors.Is.
type missingMajorError struct {
	major int
	have  []string
}

func (e *missingMajorError) Error() string {
	return fmt.Sprintf("no PostgreSQL %d server found (installed: %s; looked in %s); run PG_EXTRA_MAJOR=%d scripts/install-deps.sh",
		e.major, strings.Join(e.have, ", "), strings.Join(binDirPatterns(), ", "), e.major)
}

func (e *missingMajorError) Is(target error) bool { return target == ErrNoBinaries }

var (
	majorCache sync.Map // bin dir -> int
	versionRE  = regexp.MustCompile(`\(PostgreSQL\)\s+(\d+)`)
)

// BinMajor is the major version of the server in binDir, read from
// `postgres --version` (the directory name need not say it).
func BinMajor(binDir string) (int, error) {
	if v, ok := majorCache.Load(binDir); ok {
		return v.(int), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("read the server version in %s: %w", binDir, err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("read the server version in %s: unexpected %q", binDir, out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	majorCache.Store(binDir, n)
	return n, nil
}

// binDirFor picks the binaries opts asks for: BinDir, else Major, else the
// default server (see FindBinDir).
func binDirFor(opts Options) (string, error) {
	switch {
	case opts.BinDir != "":
		if !fileExists(filepath.Join(opts.BinDir, "initdb")) {
			return "", fmt.Errorf("no initdb in %s: %w", opts.BinDir, ErrNoBinaries)
		}
		return opts.BinDir, nil
	case opts.Major != 0:
		return FindMajor(opts.Major)
	default:
		return FindBinDir()
	}
}
