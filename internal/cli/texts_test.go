package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestBootstrapHelpTellsTheTruth: bootstrap --help describes --ddl and
// -d/--track-ddl, which work, instead of calling them not built.
func TestBootstrapHelpTellsTheTruth(t *testing.T) {
	r := pgvecrep(t, pgtest.DB{}, pgtest.DB{}, "bootstrap", "--help")
	if strings.Contains(r.stdout, "not built yet") || !strings.Contains(r.stdout, "--ddl MODE (or -d/--track-ddl, the same as --ddl track) records how the") {
		t.Errorf("bootstrap --help:\n%s", r.stdout)
	}
}

// TestVersionStamp: a plain go build stamps the commit, and version prints
// it; never "pgvecrep dev". The build says -buildvcs=auto, go build's
// default, since a machine's GOFLAGS may turn it off.
func TestVersionStamp(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pgvecrep")
	if out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, "../../cmd/pgvecrep").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("pgvecrep version: %v\n%s", err, out)
	}
	line := strings.TrimSpace(string(out))
	// What go build stamped, as go itself reads it: a clone has the
	// commit; a git worktree or a tree without git does not, and the
	// version then says only (devel) and the Go version.
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	rev := regexp.MustCompile(`(?m)^\s+build\s+vcs\.revision=([0-9a-f]{40})$`).FindSubmatch(info)
	if rev == nil {
		if line != "pgvecrep (devel) ("+runtime.Version()+")" {
			t.Errorf("pgvecrep version printed %q for a build without VCS stamps", line)
		}
		return
	}
	if !regexp.MustCompile(`^pgvecrep \S+ \(commit [0-9a-f]{40}(, modified)?, \d{4}-\d\d-\d\dT[0-9:]+Z, go1\.[0-9.]+\)$`).MatchString(line) {
		t.Errorf("pgvecrep version printed %q", line)
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	if string(rev[1]) != strings.TrimSpace(string(head)) || !strings.Contains(line, "commit "+string(rev[1])) {
		t.Errorf("pgvecrep version printed %q, stamped %s, the checkout is at %s", line, rev[1], head)
	}
}

// TestNoPasswordGiven: a login with no password at all, where the server
// asks for one, says that no password was given, not that it was
// rejected: through config_check's checks and through a command's own
// connection.
func TestNoPasswordGiven(t *testing.T) {
	env := pgtest.Get(t)
	c := pgtest.Cluster(t, localpg.Options{PasswordAuth: true})
	if err := c.Exec(t.Context(), "postgres", "CREATE ROLE carol LOGIN PASSWORD 'R1ghtPass'"); err != nil {
		t.Fatal(err)
	}
	src, tgt := env.Pair(t)
	nopw := pgtest.DB{URL: strings.Replace(c.URL("postgres"), c.User+"@", "carol@", 1)}
	want := `hint: no password was given for user "carol" and the server asks for one: add it to SOURCE_DB_URL`
	r := pgvecrep(t, nopw, tgt, "config_check")
	assertUserError(t, r, "password authentication failed", want)
	r = pgvecrep(t, nopw, tgt, "verify", "-g", "x")
	assertUserError(t, r, "password authentication failed", want)
	r = pgvecrep(t, src, pgtest.DB{URL: nopw.URL}, "stats", "-g", "x")
	assertUserError(t, r, "password authentication failed", `hint: no password was given for user "carol" and the server asks for one: add it to TARGET_DB_URL`)
	if strings.Contains(r.stderr, "was rejected") {
		t.Errorf("a password never given was rejected:\n%s", r.stderr)
	}
}

// TestConfigCheckLeavesNoErrorsInTheLog: config_check probes the target
// through the catalogs, and bootstrap --copy-schema looks objects up where
// the error for a missing one is caught, so the target's server log gains
// no "does not exist" errors for the tables --copy-schema creates.
func TestConfigCheckLeavesNoErrorsInTheLog(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE SCHEMA app; CREATE TABLE app.posts (id int PRIMARY KEY, v vector(3));
		CREATE TABLE posts (id int PRIMARY KEY); CREATE VIEW pv AS SELECT * FROM posts;`)
	logFile := filepath.Join(env.Target.Dir, "server.log")
	before, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"config_check", "--copy-schema"}, {"config_check", "-s", "app,public", "--copy-schema"}, {"config_check", "-t", "posts"},
		{"bootstrap", "-g", "quiet", "--copy-schema", "--schema-name", "app,public"}} {
		pgvecrep(t, src, tgt, args...)
	}
	after, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	// The shared cluster's log holds every test's lines; this database's
	// name is on none of them, so look for the statement's relations.
	for _, l := range strings.Split(string(after[len(before):]), "\n") {
		if strings.Contains(l, "ERROR") && (strings.Contains(l, "posts") || strings.Contains(l, `"pv"`) || strings.Contains(l, `"app"`)) {
			t.Errorf("config_check or bootstrap left an error in the target's log: %s", l)
		}
	}
}

// TestDemoPort: demo --port N puts the source on N and the target on
// N+1; a port in use fails at once, before any cluster is made, with a
// hint; a port without room for the target is a usage error.
func TestDemoPort(t *testing.T) {
	user := pgtest.Get(t).Source.User
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	r := pgvecrep(t, pgtest.DB{}, pgtest.DB{}, "demo", "--port", fmt.Sprint(busy))
	assertUserError(t, r, fmt.Sprintf("start source cluster: port %d on 127.0.0.1 is not free", busy),
		fmt.Sprintf("hint: the demo's clusters listen on --port %d and %d; choose two free ports, or leave --port out", busy, busy+1))
	r = pgvecrep(t, pgtest.DB{}, pgtest.DB{}, "demo", "--port", "65535")
	if r.code != 2 || !strings.Contains(r.stderr, "--port 65535 leaves no port for the target") {
		t.Errorf("demo --port 65535: exit %d\n%s", r.code, r.stderr)
	}

	port := freePair(t)
	r = runWith(context.Background(), t, nil, "demo", "--port", fmt.Sprint(port))
	if r.code != 0 {
		t.Fatalf("demo --port %d exited %d", port, r.code)
	}
	for _, want := range []string{fmt.Sprintf("at postgres://%s@127.0.0.1:%d/", user, port),
		fmt.Sprintf("at postgres://%s@127.0.0.1:%d/", user, port+1), "Demo passed"} {
		if !strings.Contains(r.stdout+r.stderr, want) {
			t.Errorf("demo --port %d output lacks %q", port, want)
		}
	}
}

// freePair is a port N, with N+1, that nothing listens on now; the kernel
// hands out ephemeral ports, so two in a row are free in all but a busy
// moment, which the test then retries with the next pair.
func freePair(t *testing.T) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1)); err == nil {
			l2.Close()
			return port
		}
	}
	t.Fatal("no two free ports in a row")
	return 0
}
