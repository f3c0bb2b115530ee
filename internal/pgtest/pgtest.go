// Package pgtest gives a package's integration tests a pair of real local
// clusters (source and target), started once per package in TestMain, a
// fresh pair of databases per test, native logical replication between them
// ([Env.Stream]), and the checks several packages make: waiting for a
// condition instead of sleeping ([WaitFor]), running pgvecrep in-process
// ([RunCLI], [RunCLITo]), an index scan that really is one
// ([DB.IndexScan]), nothing left behind ([AssertNoReplication],
// [DB.Fingerprint]), golden files ([Golden]) and the SQLSTATEs a retry
// policy retries ([Retries]). Shared fixtures: an application schema
// ([AppSchema]), a cluster of a test's own ([Cluster]) and a role that is
// dropped afterwards ([DB.Role]).
//
// Without PostgreSQL binaries the tests fail, saying what is missing, unless
// PGVECREP_REQUIRE_PG=0 opts out; they then skip (see [testenv]).
//
// pgtest imports only localpg and pgx, never a pgvecrep package with
// logic: the internal tests of any such package can then use it without an
// import cycle. Fixtures that need pgvecrep's own packages (a group started
// by initsync) stay in the tests of the package they serve.
package pgtest

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// Env is the package's shared pair of clusters. Nil when unavailable.
type Env struct {
	Source, Target *localpg.Cluster
}

var (
	shared   *Env
	startErr error
	seq      atomic.Int64
)

// Main starts the clusters, runs the tests and stops the clusters. Call it
// from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int { return MainVersions(m, Versions{}) }

// Versions names the major versions of the two clusters; 0 is the default
// server (see [localpg.FindBinDir]).
type Versions struct {
	Source, Target int
}

// Upgrade is the pair the cross-version tests run on: the system's 15 as the
// source, the 18 that scripts/install-deps.sh builds (PG_EXTRA_MAJOR=18) as
// the target.
var Upgrade = Versions{Source: 15, Target: 18}

// MainVersions is [Main] with clusters of chosen major versions. A missing
// version fails the package, naming the version and how to install it, or
// skips its tests under the opt-out (see [testenv]).
func MainVersions(m *testing.M, v Versions) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	env, err := start(ctx, v)
	cancel()
	if err != nil {
		if testenv.Required() {
			fmt.Fprintf(os.Stderr, "pgtest: local clusters could not start: %v\n(run scripts/install-deps.sh, or set %s=0 to skip these tests)\n", err, testenv.OptOut)
			return 1
		}
		startErr = err
	}
	shared = env
	code := testenv.Main(m)
	if env != nil {
		_ = env.Source.Stop()
		_ = env.Target.Stop()
	}
	return code
}

func start(ctx context.Context, v Versions) (*Env, error) {
	src, err := startOne(ctx, v.Source)
	if err != nil {
		return nil, fmt.Errorf("start source: %w", err)
	}
	tgt, err := startOne(ctx, v.Target)
	if err != nil {
		_ = src.Stop()
		return nil, fmt.Errorf("start target: %w", err)
	}
	return &Env{Source: src, Target: tgt}, nil
}

// startOne starts a cluster of major version major (0: the default) after
// checking that pgvector is installed for it.
func startOne(ctx context.Context, major int) (*localpg.Cluster, error) {
	var bin string
	var err error
	if major == 0 {
		bin, err = localpg.FindBinDir()
	} else {
		bin, err = localpg.FindMajor(major)
	}
	if err != nil {
		return nil, err
	}
	if !localpg.HasVector(bin) {
		return nil, fmt.Errorf("pgvector is not installed for %s; run scripts/install-deps.sh", bin)
	}
	return localpg.Start(ctx, localpg.Options{BinDir: bin})
}

// Get returns the shared clusters, skipping the test when there are none.
func Get(t testing.TB) *Env {
	t.Helper()
	if shared == nil {
		err := startErr
		if err == nil {
			err = fmt.Errorf("pgtest.Main was not called from TestMain")
		}
		testenv.Need(t, "local PostgreSQL clusters with pgvector", err)
	}
	return shared
}

// DB is one test database on one cluster.
type DB struct {
	Cluster *localpg.Cluster
	Name    string
	URL     string
}

// Exec runs SQL on the database and fails the test on error.
func (d DB) Exec(t testing.TB, sql string, args ...any) {
	t.Helper()
	if err := d.Cluster.Exec(context.Background(), d.Name, sql, args...); err != nil {
		t.Fatalf("exec on %s: %v\nsql: %s", d.Name, err, sql)
	}
}

// Conn opens a connection closed at the end of the test.
func (d DB) Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := d.Cluster.Connect(context.Background(), d.Name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// QueryInt runs a query returning one integer.
func (d DB) QueryInt(t testing.TB, sql string, args ...any) int64 {
	t.Helper()
	conn := d.shortConn(t)
	defer conn.Close(context.Background())
	var n int64
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("query on %s: %v\nsql: %s", d.Name, err, sql)
	}
	return n
}

// shortConn opens a connection for one query, which the caller closes:
// tests poll with QueryInt and QueryStrings inside WaitFor, and a
// connection kept to the end of the test for each poll would run the
// server out of connections.
func (d DB) shortConn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := d.Cluster.Connect(context.Background(), d.Name)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// QueryStrings runs a query returning one text column.
func (d DB) QueryStrings(t testing.TB, sql string, args ...any) []string {
	t.Helper()
	conn := d.shortConn(t)
	defer conn.Close(context.Background())
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("query on %s: %v\nsql: %s", d.Name, err, sql)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("query on %s: %v\nsql: %s", d.Name, err, sql)
	}
	return out
}

// IndexScan runs query with sequential scans off, fails the test unless its
// plan scans index, and returns how many rows it returned. The setting and
// the query share one connection: a SET lives only in its session.
func (d DB) IndexScan(t testing.TB, query, index string) int {
	t.Helper()
	ctx := context.Background()
	conn := d.Conn(t)
	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "EXPLAIN (COSTS OFF) "+query)
	if err != nil {
		t.Fatalf("explain on %s: %v\nsql: %s", d.Name, err, query)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("explain on %s: %v\nsql: %s", d.Name, err, query)
	}
	if !strings.Contains(strings.Join(plan, "\n"), "Index Scan using "+index+" ") {
		t.Fatalf("the plan on %s does not scan %s:\n%s", d.Name, index, strings.Join(plan, "\n"))
	}
	rows, err = conn.Query(ctx, query)
	if err != nil {
		t.Fatalf("query on %s: %v\nsql: %s", d.Name, err, query)
	}
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query on %s: %v\nsql: %s", d.Name, err, query)
	}
	return n
}

var nonWord = regexp.MustCompile(`[^a-z0-9]+`)

// Pair creates a fresh database on the source and one on the target, with
// the vector extension in both, and drops them (and anything pgvecrep left
// on the clusters for them) when the test ends.
func (e *Env) Pair(t testing.TB) (src, tgt DB) {
	t.Helper()
	name := fmt.Sprintf("t%d_%s", seq.Add(1), nonWord.ReplaceAllString(strings.ToLower(t.Name()), "_"))
	if len(name) > 50 {
		name = name[:50]
	}
	src = e.NewDB(t, e.Source, name)
	tgt = e.NewDB(t, e.Target, name)
	return src, tgt
}

// NewDB creates database name on cluster c with the vector extension.
func (e *Env) NewDB(t testing.TB, c *localpg.Cluster, name string) DB {
	t.Helper()
	ctx := context.Background()
	if err := c.CreateDB(ctx, name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	d := DB{Cluster: c, Name: name, URL: c.URL(name)}
	d.Exec(t, "CREATE EXTENSION IF NOT EXISTS vector")
	t.Cleanup(func() { dropDB(c, name) })
	return d
}

// dropDB removes a test database and any subscription or slot left in it, so
// a failing test does not hold WAL for the rest of the run.
func dropDB(c *localpg.Cluster, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if conn, err := c.Connect(ctx, name); err == nil {
		rows, _ := conn.Query(ctx, "SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
		subs, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, s := range subs {
			id := pgx.Identifier{s}.Sanitize()
			_, _ = conn.Exec(ctx, "ALTER SUBSCRIPTION "+id+" DISABLE")
			_, _ = conn.Exec(ctx, "ALTER SUBSCRIPTION "+id+" SET (slot_name = NONE)")
			_, _ = conn.Exec(ctx, "DROP SUBSCRIPTION "+id)
		}
		conn.Close(ctx)
	}
	_ = c.Exec(ctx, "postgres", "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active", name)
	_ = c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

// Fingerprint sums up what pgvecrep could create in the database or its
// cluster (relations, schemas, roles, extensions, publications, and the
// database's subscriptions and slots), so a test can show that a read-only
// command created nothing. A backend's temporary schemas (pg_temp_N and
// its TOAST twin) do not count: PostgreSQL makes them the first time a
// session uses a temporary object and keeps them for the next session in
// that backend slot, and nothing of pgvecrep's stays in them.
func (d DB) Fingerprint(t testing.TB) string {
	t.Helper()
	return d.QueryStrings(t, fingerprintQuery)[0]
}

const fingerprintQuery = `SELECT format('classes=%s schemas=%s roles=%s extensions=%s publications=%s subscriptions=%s slots=%s pgvecrep_schema=%s',
  (SELECT count(*) FROM pg_class), (SELECT count(*) FROM pg_namespace WHERE nspname !~ '^pg_(toast_)?temp_'), (SELECT count(*) FROM pg_roles),
  (SELECT count(*) FROM pg_extension), (SELECT count(*) FROM pg_publication),
  (SELECT count(*) FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())),
  (SELECT count(*) FROM pg_replication_slots WHERE database = current_database()),
  EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'pgvecrep'))`

// AssertNoReplication fails the test if the source database has a
// replication slot or publication, or the target database a subscription:
// what stop_sync, cleanup and every failed run must leave behind.
func AssertNoReplication(t testing.TB, src, tgt DB) {
	t.Helper()
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"); n != 0 {
		t.Errorf("%d replication slot(s) left on the source", n)
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM pg_publication"); n != 0 {
		t.Errorf("%d publication(s) left on the source", n)
	}
	if n := tgt.QueryInt(t, "SELECT count(*) FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"); n != 0 {
		t.Errorf("%d subscription(s) left on the target", n)
	}
}

// StartEnv starts a pair of clusters of its own for one test, shaped by opts
// (TLS, passwords), and stops them when the test ends. The shared pair keeps
// the defaults the other tests rely on. It skips like Get when there are no
// PostgreSQL binaries.
func StartEnv(t testing.TB, opts localpg.Options) *Env {
	t.Helper()
	Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	src, err := localpg.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start source: %v", err)
	}
	t.Cleanup(func() { _ = src.Stop() })
	tgt, err := localpg.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start target: %v", err)
	}
	t.Cleanup(func() { _ = tgt.Stop() })
	return &Env{Source: src, Target: tgt}
}

// Cluster starts a cluster of the test's own, for what the shared pair
// cannot do: being stopped or killed, password authentication, other
// settings. It stops when the test ends, after the test's databases on it
// are dropped.
func Cluster(t testing.TB, opts localpg.Options) *localpg.Cluster {
	t.Helper()
	c, err := localpg.Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("start a cluster of the test's own: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	return c
}

// Role creates role name with attrs (such as "LOGIN REPLICATION") on d's
// cluster and drops it when the test ends. Roles belong to the whole
// cluster, so name should carry something of the test's own, such as d.Name.
func (d DB) Role(t testing.TB, name, attrs string) {
	t.Helper()
	id := pgx.Identifier{name}.Sanitize()
	d.Exec(t, "CREATE ROLE "+id+" "+attrs)
	t.Cleanup(func() { _ = d.Cluster.Exec(context.Background(), "postgres", "DROP ROLE IF EXISTS "+id) })
}
