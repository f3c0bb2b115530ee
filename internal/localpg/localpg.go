// Package localpg starts throwaway PostgreSQL clusters on this machine for the
// demo, the tests and the benchmark.
//
// A cluster lives in a directory the package owns: initdb writes the data
// directory there, the server listens on a free loopback port with its socket
// in the same directory, and Stop removes it all. PostgreSQL refuses to run as
// root, so when the process is root the server binaries run as the postgres
// user and the directory is handed to that user.
package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries is returned when no PostgreSQL server binaries can be found.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries found (looked at pg_config --bindir, /usr/lib/postgresql/*/bin and PATH); run scripts/install-deps.sh")

// Options shape a cluster. The zero value is a logical-replication-ready
// cluster with a handful of slots and workers.
type Options struct {
	// WALLevel defaults to "logical"; tests set "replica" to provoke preflight errors.
	WALLevel string
	// Settings are extra postgresql.conf lines (name -> value).
	Settings map[string]string
	// Dir is where the cluster lives; a temp dir when empty.
	Dir string
	// Major picks the server's major version (e.g. 18 for the upgrade
	// tests); 0 is the default server, see [FindBinDir].
	Major int
	// BinDir picks the server binaries directly; it wins over Major.
	BinDir string
	// Port is the TCP port the server listens on, on 127.0.0.1; 0 picks a
	// free one. A port in use fails Start before initdb runs.
	Port int
	// PasswordAuth makes TCP logins of every role but the superuser check
	// passwords (scram-sha-256), for tests of wrong-password errors.
	PasswordAuth bool
	// Password, when set, is the superuser's password, and every TCP login,
	// the superuser's included, must prove one with scram-sha-256: what a
	// managed server asks. Logins over the cluster's socket stay on trust.
	Password string
	// TLS, when set, turns ssl on with a server certificate for 127.0.0.1
	// and localhost signed by this CA, and TCP logins without TLS are
	// refused: a test that passes proves the connection was encrypted.
	TLS *CA
}

// Cluster is a running local PostgreSQL server.
type Cluster struct {
	BinDir string
	// Major is the server's major version (15, 18).
	Major   int
	Dir     string
	DataDir string
	Port    int
	// User is the superuser initdb created (the OS user that owns the server).
	User string
	// Password is the superuser's password (Options.Password); URL carries it.
	Password string
	// CAFile is the CA certificate the server's certificate is signed by
	// (Options.TLS); URL names it in sslrootcert. Empty without TLS.
	CAFile string

	cred   *syscall.Credential
	ownDir bool
}

// FindBinDir locates the PostgreSQL server binaries, newest major first.
func FindBinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if fileExists(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", ErrNoBinaries
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// HasVector reports whether the pgvector extension is installed for the
// server binaries in binDir.
func HasVector(binDir string) bool {
	out, err := exec.Command(filepath.Join(binDir, "pg_config"), "--sharedir").Output()
	if err != nil {
		return false
	}
	return fileExists(filepath.Join(strings.TrimSpace(string(out)), "extension", "vector.control"))
}

// Start runs initdb and starts a server. The caller must Stop it; if the
// process dies first, a later Start reaps the cluster (see [Reap]).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := binDirFor(opts)
	if err != nil {
		return nil, err
	}
	// A failed reap is retried by the next Start; it must not stop this one.
	_, _ = Reap(ctx)
	if opts.Port != 0 {
		if err := portFree(opts.Port); err != nil {
			return nil, err
		}
	}
	major, err := BinMajor(bin)
	if err != nil {
		return nil, err
	}
	c := &Cluster{BinDir: bin, Major: major, Dir: opts.Dir, Password: opts.Password}
	if c.Dir == "" {
		if c.Dir, err = os.MkdirTemp("", dirPrefix); err != nil {
			return nil, err
		}
		c.ownDir = true
		if err := c.writeOwner(); err != nil {
			c.cleanup()
			return nil, err
		}
	}
	c.DataDir = filepath.Join(c.Dir, "data")
	if err := c.setOwner(); err != nil {
		c.cleanup()
		return nil, err
	}
	if err := c.initdb(ctx); err != nil {
		c.cleanup()
		return nil, err
	}
	if opts.TLS != nil {
		tls, err := c.writeTLS(opts.TLS)
		if err != nil {
			c.cleanup()
			return nil, err
		}
		opts.Settings = merged(opts.Settings, tls)
	}
	if err := c.writeConf(opts); err != nil {
		c.cleanup()
		return nil, err
	}
	if opts.PasswordAuth || opts.Password != "" || opts.TLS != nil {
		if err := c.writeHBA(opts); err != nil {
			c.cleanup()
			return nil, err
		}
	}
	if err := c.start(ctx); err != nil {
		c.cleanup()
		return nil, err
	}
	return c, nil
}

// setOwner decides which OS user runs the server: the current one, or
// postgres when we are root.
func (c *Cluster) setOwner() error {
	c.User = currentUser()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs a postgres OS user to own the server: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	c.User = "postgres"
	// The postgres user must be able to reach the directory through its parents.
	for d := c.Dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if d == c.Dir {
			if err := os.Chown(d, uid, gid); err != nil {
				return err
			}
			continue
		}
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(d, fi.Mode().Perm()|0o011)
		}
	}
	return nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "postgres"
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "LANG=C.UTF-8")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		// The server's own libpq connections (a subscription's) look in
		// ~/.postgresql for client certificates; root's home is closed to
		// the postgres user, and a closed directory fails the connection.
		cmd.Env = append(cmd.Env, "HOME="+c.Dir)
	}
	return cmd
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := c.command(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", name, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// initdb makes the data directory. A superuser password goes through a file
// initdb reads and that is removed at once: never through initdb's argv, nor
// an ALTER ROLE a server log could keep.
func (c *Cluster) initdb(ctx context.Context) error {
	args := []string{"-D", c.DataDir, "-U", c.User, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"}
	if c.Password != "" {
		pwfile := filepath.Join(c.Dir, "pwfile")
		if err := c.writeOwned(pwfile, []byte(c.Password+"\n"), 0o600); err != nil {
			return fmt.Errorf("write initdb password file: %w", err)
		}
		args = append(args, "--pwfile="+pwfile)
		err := c.run(ctx, "initdb", args...)
		if rmErr := os.Remove(pwfile); rmErr != nil {
			// A password left on disk is a failure of its own.
			err = errors.Join(err, fmt.Errorf("remove initdb password file: %w", rmErr))
		}
		return err
	}
	return c.run(ctx, "initdb", args...)
}

// merged is a copy of a with b's entries added.
func merged(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func (c *Cluster) writeConf(opts Options) error {
	port := opts.Port
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return err
		}
	}
	c.Port = port
	wal := opts.WALLevel
	if wal == "" {
		wal = "logical"
	}
	conf := map[string]string{
		"listen_addresses":                "'127.0.0.1'",
		"port":                            strconv.Itoa(port),
		"unix_socket_directories":         "'" + c.Dir + "'",
		"wal_level":                       wal,
		"max_wal_senders":                 "20",
		"max_replication_slots":           "20",
		"max_logical_replication_workers": "12",
		"max_worker_processes":            "24",
		"fsync":                           "off",
		"synchronous_commit":              "off",
		"full_page_writes":                "off",
		"shared_buffers":                  "128MB",
		"max_connections":                 "100",
		"log_min_messages":                "warning",
		"logging_collector":               "off",
	}
	for k, v := range opts.Settings {
		conf[k] = v
	}
	keys := make([]string, 0, len(conf))
	for k := range conf {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("\n# pgvecrep localpg\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, conf[k])
	}
	f, err := os.OpenFile(filepath.Join(c.DataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(b.String())
	// A write reaches the file for sure only when Close succeeds.
	return errors.Join(err, f.Close())
}

// writeHBA decides how TCP logins authenticate: with PasswordAuth the
// superuser stays on trust and every other role needs a password; with a
// Password every role needs one; with TLS only TLS logins match at all.
// Socket logins stay on trust.
func (c *Cluster) writeHBA(opts Options) error {
	host := "host"
	if opts.TLS != nil {
		host = "hostssl"
	}
	hba := "local all all trust\n"
	switch {
	case opts.Password != "":
	case opts.PasswordAuth:
		hba += fmt.Sprintf("%s all %s 127.0.0.1/32 trust\n", host, c.User)
	default:
		hba += host + " all all 127.0.0.1/32 trust\n"
	}
	hba += host + " all all 127.0.0.1/32 scram-sha-256\n"
	return c.writeOwned(filepath.Join(c.DataDir, "pg_hba.conf"), []byte(hba), 0o600)
}

// portFree fails when something listens on 127.0.0.1:port already.
func portFree(port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d on 127.0.0.1 is not free: %w", port, err)
	}
	return l.Close()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) start(ctx context.Context) error {
	logFile := filepath.Join(c.Dir, "server.log")
	if err := c.run(ctx, "pg_ctl", "-D", c.DataDir, "-l", logFile, "-w", "-t", "60", "start"); err != nil {
		if b, rerr := os.ReadFile(logFile); rerr == nil {
			return fmt.Errorf("%w\nserver log:\n%s", err, tail(string(b), 2000))
		}
		return err
	}
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Start again after Stop or Kill (keeps the data directory).
func (c *Cluster) Restart(ctx context.Context) error {
	return c.start(ctx)
}

// Kill stops the server immediately (pg_ctl stop -m immediate), keeping its data:
// the way tests make a source "disappear".
func (c *Cluster) Kill(ctx context.Context) error {
	return c.run(ctx, "pg_ctl", "-D", c.DataDir, "-m", "immediate", "-w", "stop")
}

// Stop shuts the server down and removes the directory it lives in.
func (c *Cluster) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	if fileExists(filepath.Join(c.DataDir, "postmaster.pid")) {
		err = c.run(ctx, "pg_ctl", "-D", c.DataDir, "-m", "fast", "-w", "stop")
	}
	c.cleanup()
	return err
}

func (c *Cluster) cleanup() {
	if c.ownDir {
		_ = os.RemoveAll(c.Dir)
	}
}

// URL is a connection URL for database db as the cluster's superuser over
// TCP: with the superuser's password when it has one, and with
// sslmode=verify-full against the cluster's CA when it has TLS.
func (c *Cluster) URL(db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(c.User),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	if c.Password != "" {
		u.User = url.UserPassword(c.User, c.Password)
	}
	if c.CAFile != "" {
		u.RawQuery = url.Values{"sslmode": {"verify-full"}, "sslrootcert": {c.CAFile}}.Encode()
	}
	return u.String()
}

// Connect opens a connection to database db.
func (c *Cluster) Connect(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, c.URL(db))
}

// Exec runs SQL in database db on a fresh connection.
func (c *Cluster) Exec(ctx context.Context, db string, sql string, args ...any) error {
	conn, err := c.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// CreateDB creates a fresh database (dropping one of the same name first).
func (c *Cluster) CreateDB(ctx context.Context, name string) error {
	ident := pgx.Identifier{name}.Sanitize()
	if err := c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
		return err
	}
	return c.Exec(ctx, "postgres", "CREATE DATABASE "+ident)
}

// Bin is the path of a PostgreSQL program (pg_dump, psql) next to the server.
func (c *Cluster) Bin(name string) string { return filepath.Join(c.BinDir, name) }
