package preflight

import (
	"context"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestMain starts the clusters, except for a fuzz run: its workers each run
// TestMain, and the fuzz targets need no database.
func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	os.Exit(pgtest.Main(m))
}

const itemsDDL = `CREATE TABLE items (id bigserial PRIMARY KEY, name text, embedding vector(10))`

// seedSource creates the tutorial's table with rows and a vector index.
func seedSource(t *testing.T, src pgtest.DB) {
	src.Exec(t, itemsDDL)
	src.Exec(t, `INSERT INTO items (name, embedding)
		SELECT 'n' || i, array_fill(i::real, ARRAY[10])::vector FROM generate_series(1, 20) i`)
	src.Exec(t, `CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)`)
}

// healthy is a source with data and a target with the same, empty, table.
func healthy(t *testing.T, src, tgt pgtest.DB) {
	seedSource(t, src)
	tgt.Exec(t, itemsDDL)
}

// want is a finding a test expects: its check, status and a piece of its detail.
type want struct{ check, status, detail string }

func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, src, tgt pgtest.DB)
		opts  func(o *Options)
		want  []want
		ok    bool
	}{
		{name: "healthy pair", setup: healthy, ok: true,
			want: []want{{"tables", "ok", "public.items"}, {"extensions", "ok", "vector"}, {"target_tables", "ok", "1 table"}}},
		{name: "copy schema creates missing tables", ok: true,
			setup: func(t *testing.T, src, tgt pgtest.DB) { seedSource(t, src) },
			opts:  func(o *Options) { o.CopySchema = true },
			want:  []want{{"target_tables", "ok", "--copy-schema will create them: public.items"}, {"pg_dump", "ok", "pg_dump"}}},
		{name: "missing target table",
			setup: func(t *testing.T, src, tgt pgtest.DB) { seedSource(t, src) },
			want:  []want{{"target_tables", "error", "table public.items missing on target"}}},
		{name: "non-empty target table",
			setup: func(t *testing.T, src, tgt pgtest.DB) {
				healthy(t, src, tgt)
				tgt.Exec(t, `INSERT INTO items (name) VALUES ('stale')`)
			},
			want: []want{{"target_tables", "error", "table public.items on the target is not empty"}}},
		{name: "vector dimension mismatch",
			setup: func(t *testing.T, src, tgt pgtest.DB) {
				seedSource(t, src)
				tgt.Exec(t, `CREATE TABLE items (id bigserial PRIMARY KEY, name text, embedding vector(12))`)
			},
			want: []want{{"target_tables", "error", "column embedding is vector(12) on the target but vector(10) on the source"}}},
		{name: "missing and extra columns",
			setup: func(t *testing.T, src, tgt pgtest.DB) {
				seedSource(t, src)
				tgt.Exec(t, `CREATE TABLE items (id bigserial PRIMARY KEY, embedding vector(10), extra int)`)
			},
			want: []want{{"target_tables", "error", "column name text is missing on the target; column extra integer exists only on the target"}}},
		{name: "no tables selected",
			setup: func(t *testing.T, src, tgt pgtest.DB) { healthy(t, src, tgt) },
			opts:  func(o *Options) { o.Filter.Exclude = []string{"items"} },
			want:  []want{{"tables", "error", "no tables selected on the source (schema public, -e items)"}}},
		{name: "unknown table selected",
			setup: func(t *testing.T, src, tgt pgtest.DB) { healthy(t, src, tgt) },
			opts:  func(o *Options) { o.Filter.Include = []string{"items,nosuch"} },
			want:  []want{{"tables", "error", "nosuch not found"}}},
		{name: "extension older on the target",
			setup: func(t *testing.T, src, tgt pgtest.DB) {
				src.Exec(t, `CREATE EXTENSION hstore`)
				tgt.Exec(t, `CREATE EXTENSION hstore VERSION '1.4'`)
				src.Exec(t, `CREATE TABLE kv (id int PRIMARY KEY, h hstore)`)
				tgt.Exec(t, `CREATE TABLE kv (id int PRIMARY KEY, h hstore)`)
			},
			want: []want{{"extensions", "error", "extension hstore is 1.4 on the target, older than 1.8 on the source"},
				{"extensions", "ok", "vector 0.8"}}},
		{name: "vector extension not installed on the target",
			setup: func(t *testing.T, src, tgt pgtest.DB) {
				seedSource(t, src)
				tgt.Exec(t, `DROP EXTENSION vector`)
			},
			opts: func(o *Options) { o.CopySchema = true },
			ok:   true,
			want: []want{{"extensions", "ok", "available on the target"}}},
		{name: "pg_dump missing",
			setup: func(t *testing.T, src, tgt pgtest.DB) { healthy(t, src, tgt) },
			opts:  func(o *Options) { o.CopySchema, o.PgDump = true, "/nonexistent/pg_dump" },
			want:  []want{{"pg_dump", "error", "/nonexistent/pg_dump"}}},
		{name: "pg_dump too old",
			setup: func(t *testing.T, src, tgt pgtest.DB) { healthy(t, src, tgt) },
			opts:  func(o *Options) { o.CopySchema, o.PgDump = true, fakePgDump(t, "9.6.24") },
			want:  []want{{"pg_dump", "error", "version 9, older than the source server"}}},
	}
	env := pgtest.Get(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, tgt := env.Pair(t)
			tt.setup(t, src, tgt)
			o := Options{SourceURL: src.URL, TargetURL: tgt.URL}
			if tt.opts != nil {
				tt.opts(&o)
			}
			r := runChecked(t, o, src, tgt)
			if r.OK() != tt.ok {
				t.Errorf("OK() = %v, want %v", r.OK(), tt.ok)
			}
			if tt.ok && r.Warnings() > 0 {
				t.Errorf("unexpected warnings")
			}
			expect(t, r, tt.want...)
		})
	}
}

// runChecked runs the checks and asserts that they created nothing on either side.
func runChecked(t *testing.T, o Options, dbs ...pgtest.DB) Report {
	t.Helper()
	before := make([]string, len(dbs))
	for i, db := range dbs {
		before[i] = db.Fingerprint(t)
	}
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	for i, db := range dbs {
		if after := db.Fingerprint(t); after != before[i] {
			t.Errorf("%s changed: before %s, after %s", db.Name, before[i], after)
		}
	}
	t.Logf("report:\n%s", table(r))
	return r
}

// expect checks that r holds each wanted finding.
func expect(t *testing.T, r Report, wants ...want) {
	t.Helper()
	for _, w := range wants {
		if !has(r, w) {
			t.Errorf("no %s finding %q with detail containing %q in:\n%s", w.status, w.check, w.detail, table(r))
		}
	}
}

func has(r Report, w want) bool {
	for _, f := range r.Findings {
		if f.Check == w.check && f.Status == w.status && strings.Contains(f.Detail, w.detail) {
			return true
		}
	}
	return false
}

func table(r Report) string {
	var b strings.Builder
	_ = r.WriteTable(&b)
	return b.String()
}

// fakePgDump writes a program that answers --version like an old pg_dump.
func fakePgDump(t *testing.T, version string) string {
	p := filepath.Join(t.TempDir(), "pg_dump")
	script := "#!/bin/sh\necho 'pg_dump (PostgreSQL) " + version + "'\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunSameDatabase(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	healthy(t, src, tgt)
	r := runChecked(t, Options{SourceURL: src.URL, TargetURL: src.URL}, src)
	expect(t, r, want{"databases", "error", "source and target are the same database"})

	// Two databases of one cluster are fine.
	other := env.NewDB(t, env.Source, src.Name+"_other")
	other.Exec(t, itemsDDL)
	r = runChecked(t, Options{SourceURL: src.URL, TargetURL: other.URL}, src, other)
	expect(t, r, want{"databases", "ok", "same cluster"})
	if !r.OK() {
		t.Errorf("same cluster, other database: not OK:\n%s", table(r))
	}
}

// TestRunConstrainedServer uses a cluster with wal_level=replica and no room
// for slots, WAL senders or workers, once as source and once as target.
func TestRunConstrainedServer(t *testing.T) {
	env := pgtest.Get(t)
	c := pgtest.Cluster(t, localpg.Options{WALLevel: "replica", Settings: map[string]string{
		"max_replication_slots": "0", "max_wal_senders": "0",
		"max_logical_replication_workers": "0", "max_worker_processes": "1",
	}})
	src, tgt := env.Pair(t)
	weak := env.NewDB(t, c, src.Name)
	healthy(t, weak, tgt)
	r := runChecked(t, Options{SourceURL: weak.URL, TargetURL: tgt.URL}, weak, tgt)
	expect(t, r,
		want{"wal_level", "error", "source wal_level is replica"},
		want{"replication_slots", "error", "no free replication slot"},
		want{"wal_senders", "error", "no free WAL sender"},
		want{"target_workers", "ok", ""})

	weak.Exec(t, "DROP TABLE items")
	healthy(t, src, weak)
	r = runChecked(t, Options{SourceURL: src.URL, TargetURL: weak.URL}, src, weak)
	expect(t, r,
		want{"wal_level", "ok", ""},
		want{"target_workers", "error", "no free logical replication worker"},
		want{"worker_processes", "error", "max_worker_processes=1"})
	if r.Problems() != 2 {
		t.Errorf("Problems() = %d, want 2", r.Problems())
	}
}

// withUser is url u with another user name.
func withUser(t *testing.T, u, user string) string {
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.User = url.User(user)
	return p.String()
}

func TestRunPrivileges(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	healthy(t, src, tgt)
	src.Role(t, "pgvr_app", "LOGIN")
	src.Role(t, "pgvr_repl", "LOGIN REPLICATION")
	src.Role(t, "pgvr_special", "NOLOGIN REPLICATION")
	src.Role(t, "pgvr_other", "NOLOGIN")
	src.Exec(t, "GRANT pgvr_special TO pgvr_app, pgvr_repl")
	tgt.Role(t, "pgvr_tgt", "LOGIN")
	tgt.Role(t, "pgvr_special", "NOLOGIN")
	tgt.Exec(t, "GRANT pgvr_special TO pgvr_tgt")
	tgt.Exec(t, "DROP TABLE items")

	tests := []struct {
		name, srcUser, tgtUser, role string
		want                         []want
	}{
		{"no special role", "pgvr_app", "", "", []want{
			{"source_privileges", "ok", "source user pgvr_app is not a superuser"},
			{"source_replication", "error", "may not create replication slots"},
			{"source_create", "error", "may not CREATE in database"},
			{"source_table_owner", "error", "does not own table public.items"},
			{"source_table_select", "error", "may not SELECT from table public.items"}}},
		{"member of the special role", "pgvr_app", "pgvr_tgt", "pgvr_special", []want{
			{"source_privileges", "ok", "member of pgvr_special"},
			{"source_replication", "warn", "does not inherit it"},
			{"target_subscription", "warn", "only a superuser may CREATE SUBSCRIPTION"},
			{"target_statement_logging", "warn", "may not turn statement logging off"}}},
		{"own replication attribute", "pgvr_repl", "", "pgvr_special", []want{
			{"source_replication", "ok", "has the REPLICATION attribute"}}},
		{"not a member", "pgvr_app", "pgvr_tgt", "pgvr_other", []want{
			{"source_privileges", "warn", "neither a superuser nor a member of pgvr_other"},
			{"target_privileges", "warn", "neither a superuser nor a member of pgvr_other"},
			{"target_subscription", "error", "only a superuser may"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Options{SourceURL: withUser(t, src.URL, tt.srcUser), TargetURL: tgt.URL,
				SpecialUserRole: tt.role, CopySchema: true}
			if tt.tgtUser != "" {
				o.TargetURL = withUser(t, tgt.URL, tt.tgtUser)
			}
			r := runChecked(t, o, src, tgt)
			expect(t, r, tt.want...)
		})
	}
}

// TestRunConnectError: what prevents checking is Run's error, with a hint,
// naming the side, and never the password.
func TestRunConnectError(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	const secret = "s3cretpw"
	tests := []struct {
		name, src, tgt, what string
	}{
		{"unreachable target", src.URL, "postgres://someone:" + secret + "@127.0.0.1:1/nodb?sslmode=disable&connect_timeout=5", "connect to target"},
		{"malformed source", "postgres://someone:" + secret + "@127.0.0.1:notaport/db", tgt.URL, "parse source URL"},
		{"no target", src.URL, "", "no target database URL"},
	}
	for _, tt := range tests {
		_, err := Run(context.Background(), Options{SourceURL: tt.src, TargetURL: tt.tgt})
		switch {
		case err == nil:
			t.Errorf("%s: no error", tt.name)
		case strings.Contains(err.Error(), secret) || strings.Contains(hint.Of(err), secret):
			t.Errorf("%s: password in %q (hint %q)", tt.name, err, hint.Of(err))
		case !strings.Contains(err.Error(), tt.what) || hint.Of(err) == "":
			t.Errorf("%s: error %q (hint %q), want %q and a hint", tt.name, err, hint.Of(err), tt.what)
		}
	}
}

// TestRunApplyStreams counts the apply streams on a source with room for
// two more slots (of three, one taken) and three WAL senders: one or two
// streams fit, four do not, and the findings name what four need and the
// settings that would be enough; more than MaxApplyStreams is refused.
func TestRunApplyStreams(t *testing.T) {
	env := pgtest.Get(t)
	c := pgtest.Cluster(t, localpg.Options{Settings: map[string]string{
		"max_replication_slots": "3", "max_wal_senders": "3",
	}})
	src, tgt := env.Pair(t)
	small := env.NewDB(t, c, src.Name)
	healthy(t, small, tgt)
	small.Exec(t, `SELECT pg_create_logical_replication_slot('pgvr_other_slot', 'pgoutput')`)
	t.Cleanup(func() {
		_ = c.Exec(context.Background(), small.Name, `SELECT pg_drop_replication_slot('pgvr_other_slot')`)
	})

	for _, n := range []int{0, 1, 2} {
		r := runChecked(t, Options{SourceURL: small.URL, TargetURL: tgt.URL, ApplyStreams: n}, small, tgt)
		if !r.OK() || r.Warnings() > 0 {
			t.Errorf("%d streams: %d errors, %d warnings, want none", n, r.Problems(), r.Warnings())
		}
		if has(r, want{"apply_workers", "ok", ""}) != (n > 1) {
			t.Errorf("%d streams: an apply_workers finding only for more than one", n)
		}
	}
	r := runChecked(t, Options{SourceURL: small.URL, TargetURL: tgt.URL, ApplyStreams: 2}, small, tgt)
	expect(t, r,
		want{"apply_workers", "ok", "2 apply streams"},
		want{"replication_slots", "ok", "2 of 3 replication slots free on the source; 2 apply streams: 2 replication slots"},
		want{"wal_senders", "ok", "3 of 3 WAL senders free on the source; 2 apply streams: 2 WAL senders"})

	r = runChecked(t, Options{SourceURL: small.URL, TargetURL: tgt.URL, ApplyStreams: 4}, small, tgt)
	expect(t, r,
		want{"apply_workers", "ok", "4 apply streams"},
		want{"replication_slots", "error", "only 2 replication slots free on the source (1 of max_replication_slots=3 in use); 4 apply streams: 4 replication slots"},
		want{"wal_senders", "error", "only 3 WAL senders free on the source (0 of max_wal_senders=3 in use); 4 apply streams: 4 WAL senders"},
		want{"target_workers", "ok", "4 apply streams: 4 logical replication workers"})
	if r.Problems() != 2 {
		t.Errorf("4 streams: Problems() = %d, want 2 (slots and senders)", r.Problems())
	}
	hints := map[string]string{
		"replication_slots": "ALTER SYSTEM SET max_replication_slots = 5 on the source",
		"wal_senders":       "ALTER SYSTEM SET max_wal_senders = 5 on the source",
	}
	for _, f := range r.Findings {
		if h, ok := hints[f.Check]; ok && !strings.Contains(f.Hint, h) {
			t.Errorf("%s hint %q, want it to contain %q", f.Check, f.Hint, h)
		}
	}

	r = runChecked(t, Options{SourceURL: src.URL, TargetURL: tgt.URL, ApplyStreams: MaxApplyStreams + 1}, src, tgt)
	expect(t, r, want{"apply_workers", "error", "--apply-workers 17 is above the maximum of 16 apply streams"})
}
