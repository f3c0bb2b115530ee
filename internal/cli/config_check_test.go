package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/preflight"
)

// configCheckRun runs config_check with the URLs as flags.
func configCheckRun(t *testing.T, src, tgt string, args ...string) cliResult {
	t.Helper()
	return runWith(context.Background(), t, nil, append([]string{"config_check", "--source-url", src, "--target-url", tgt}, args...)...)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestConfigCheckCommand(t *testing.T) {
	env := pgtest.Get(t)
	const ddl = `CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(3))`
	tests := []struct {
		name  string
		setup func(t *testing.T, src, tgt pgtest.DB)
		args  []string
		code  int
		last  string
		has   []string
	}{
		{name: "healthy", code: 0, last: "Config is looking good.", has: []string{"CHECK", "STATUS", "public.items", "wal_level"},
			setup: func(t *testing.T, src, tgt pgtest.DB) { src.Exec(t, ddl); tgt.Exec(t, ddl) }},
		{name: "problems named", code: 1, last: "1 problem(s) found.",
			has: []string{"table public.logs has no primary key", "table public.items on the target is not empty", "TRUNCATE"},
			setup: func(t *testing.T, src, tgt pgtest.DB) {
				for _, db := range []pgtest.DB{src, tgt} {
					db.Exec(t, ddl)
					db.Exec(t, `CREATE TABLE logs (line text)`)
				}
				tgt.Exec(t, `INSERT INTO items VALUES (1, '[1,2,3]')`)
			}},
		{name: "missing table", code: 1, last: "1 problem(s) found.", has: []string{"table public.items missing on target", "--copy-schema"},
			setup: func(t *testing.T, src, tgt pgtest.DB) { src.Exec(t, ddl) }},
		{name: "missing table with copy schema", args: []string{"--copy-schema"}, code: 0, last: "Config is looking good.",
			has:   []string{"pg_dump", "--copy-schema will create them"},
			setup: func(t *testing.T, src, tgt pgtest.DB) { src.Exec(t, ddl) }},
		{name: "exclude all", args: []string{"-e", "items"}, code: 1, last: "1 problem(s) found.", has: []string{"no tables selected"},
			setup: func(t *testing.T, src, tgt pgtest.DB) { src.Exec(t, ddl); tgt.Exec(t, ddl) }},
		{name: "schema and tables", args: []string{"-s", "app", "-t", "items"}, code: 0, last: "Config is looking good.", has: []string{"app.items"},
			setup: func(t *testing.T, src, tgt pgtest.DB) {
				for _, db := range []pgtest.DB{src, tgt} {
					db.Exec(t, `CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY); CREATE TABLE app.other (x int)`)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, tgt := env.Pair(t)
			tt.setup(t, src, tgt)
			before := src.Fingerprint(t) + tgt.Fingerprint(t)
			r := configCheckRun(t, src.URL, tgt.URL, tt.args...)
			if r.code != tt.code || lastLine(r.stdout) != tt.last || r.stderr != "" {
				t.Errorf("exit %d, last line %q, stderr %q; want %d, %q, no stderr", r.code, lastLine(r.stdout), r.stderr, tt.code, tt.last)
			}
			for _, s := range tt.has {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("output lacks %q", s)
				}
			}
			if after := src.Fingerprint(t) + tgt.Fingerprint(t); after != before {
				t.Errorf("config_check changed something:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestConfigCheckJSON(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, embedding vector(10)); CREATE TABLE logs (line text)`)
	tgt.Exec(t, `CREATE TABLE items (id int PRIMARY KEY, embedding vector(12)); CREATE TABLE logs (line text)`)
	var doc struct {
		OK       bool     `json:"ok"`
		Errors   int      `json:"errors"`
		Tables   []string `json:"tables"`
		Findings []struct {
			Check, Status, Detail, Hint string
		} `json:"findings"`
	}
	r := configCheckRun(t, src.URL, tgt.URL, "--json")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("--json output does not parse: %v\n%s", err, r.stdout)
	}
	if r.code != 1 || doc.OK || doc.Errors != 1 || strings.Join(doc.Tables, ",") != "public.items,public.logs" {
		t.Errorf("exit %d, ok %v, errors %d, tables %v; want 1, false, 1, [public.items public.logs]", r.code, doc.OK, doc.Errors, doc.Tables)
	}
	var problems []string
	for _, f := range doc.Findings {
		if f.Status == "error" {
			problems = append(problems, f.Check+": "+f.Detail)
			if f.Hint == "" {
				t.Errorf("error finding without a hint: %+v", f)
			}
		}
	}
	// logs has no key, but no updates or deletes either: a warning.
	want := []string{"target_tables: table public.items differs on the target: column embedding is vector(12) on the target but vector(10)"}
	for i, w := range want {
		if i >= len(problems) || !strings.HasPrefix(problems[i], w) {
			t.Errorf("problems = %q, want them to start with %q", problems, want)
			break
		}
	}

	tgt.Exec(t, `DROP TABLE items; CREATE TABLE items (id int PRIMARY KEY, embedding vector(10))`)
	r = configCheckRun(t, src.URL, tgt.URL, "--json", "-e", "logs")
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 0 || !doc.OK {
		t.Errorf("healthy --json: exit %d, ok %v, err %v", r.code, doc.OK, err)
	}
}

// TestConfigCheckConnectionErrors: one line, a hint, and never the password.
func TestConfigCheckConnectionErrors(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	const secret = "Sup3rSecret"
	tests := []struct {
		name, src, tgt, what, hint string
	}{
		{"unreachable target", src.URL, "postgres://someone:" + secret + "@127.0.0.1:1/db?sslmode=disable&connect_timeout=5",
			"connect to target", "is the target server running"},
		{"unknown host", "postgres://someone:" + secret + "@no-such-host.invalid:5432/db?connect_timeout=5", tgt.URL,
			"connect to source", "SOURCE_DB_URL"},
		{"malformed URL", src.URL, "postgres://someone:" + secret + "@127.0.0.1:notaport/db", "parse target URL", "TARGET_DB_URL"},
		{"missing database", src.URL, strings.Replace(tgt.URL, tgt.Name, "no_such_db", 1), "does not exist", "create it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := configCheckRun(t, tt.src, tt.tgt)
			// The URLs come as flags here, so the argv-password warning
			// comes first; the error itself is one line and a hint.
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				if !strings.HasPrefix(l, "pgvecrep: warning: --") {
					lines = append(lines, l)
				}
			}
			if r.code != 1 || len(lines) != 2 || !strings.Contains(lines[0], tt.what) ||
				!strings.HasPrefix(lines[1], "hint: ") || !strings.Contains(lines[1], tt.hint) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1, one line with %q, a hint with %q", r.code, r.stderr, tt.what, tt.hint)
			}
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Errorf("password in the output:\n%s%s", r.stdout, r.stderr)
			}
		})
	}

	// No URL at all: the hint says which variable to set.
	if r := runWith(context.Background(), t, nil, "config-check"); r.code != 1 ||
		!strings.Contains(r.stderr, "no source database URL") || !strings.Contains(r.stderr, "hint: set SOURCE_DB_URL") {
		t.Errorf("no URL: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestConfigCheckUsage(t *testing.T) {
	if r := runWith(context.Background(), t, nil, "config_check", "--bogus"); r.code != 2 || !strings.Contains(r.stderr, "hint: run pgvecrep config_check --help") {
		t.Errorf("unknown flag: exit %d, stderr %q", r.code, r.stderr)
	}
	r := runWith(context.Background(), t, nil, "config-check", "--help")
	if r.code != 0 {
		t.Errorf("--help: exit %d", r.code)
	}
	for _, s := range []string{"--copy-schema", "--special-user-role", "--json", "-t, --tables", "-e, --exclude-tables", "-s, --schema-name", "SOURCE_DB_URL"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("--help lacks %q:\n%s", s, r.stdout)
		}
	}
}

// TestConfigCheckApplyWorkers: --apply-workers reaches the checks, which
// count its streams (the capacity findings themselves are the preflight
// package's tests), refuse more than preflight.MaxApplyStreams, and the
// help says so.
func TestConfigCheckApplyWorkers(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	const ddl = `CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(3))`
	src.Exec(t, ddl)
	tgt.Exec(t, ddl)
	// findings runs config_check --json with args.
	findings := func(args ...string) (int, map[string]preflight.Finding) {
		r := configCheckRun(t, src.URL, tgt.URL, append(args, "--json")...)
		var doc struct {
			Findings []preflight.Finding `json:"findings"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
			t.Fatalf("--json output does not parse: %v\n%s", err, r.stdout)
		}
		byCheck := map[string]preflight.Finding{}
		for _, f := range doc.Findings {
			byCheck[f.Check] = f
		}
		return r.code, byCheck
	}

	code, got := findings("--apply-workers", "4")
	for check, want := range map[string]string{
		"apply_workers":     "4 apply streams",
		"replication_slots": "4 apply streams: 4 replication slots",
		"wal_senders":       "4 apply streams: 4 WAL senders",
		"target_workers":    "4 apply streams: 4 logical replication workers",
	} {
		if f := got[check]; f.Status != preflight.StatusOK || !strings.Contains(f.Detail, want) {
			t.Errorf("--apply-workers 4: %s finding %+v, want ok with %q", check, f, want)
		}
	}
	if code != 0 {
		t.Errorf("--apply-workers 4: exit %d, want 0", code)
	}
	if code, got = findings(); code != 0 || got["apply_workers"] != (preflight.Finding{}) {
		t.Errorf("one stream: exit %d, apply_workers finding %+v; want 0 and none", code, got["apply_workers"])
	}

	over := strconv.Itoa(preflight.MaxApplyStreams + 1)
	code, got = findings("--apply-workers", over)
	if f := got["apply_workers"]; code != 1 || f.Status != preflight.StatusError ||
		!strings.Contains(f.Detail, "--apply-workers "+over+" is above the maximum") || f.Hint == "" {
		t.Errorf("--apply-workers %s: exit %d, apply_workers finding %+v; want 1 and an error with a hint", over, code, f)
	}

	r := runWith(context.Background(), t, nil, "config_check", "--help")
	if want := fmt.Sprintf("More than %d streams is an error", preflight.MaxApplyStreams); !strings.Contains(r.stdout, want) ||
		!strings.Contains(r.stdout, "[--apply-workers N]") {
		t.Errorf("--help lacks %q or [--apply-workers N]:\n%s", want, r.stdout)
	}
}

// TestRunPreflight covers the helper start_sync uses before creating anything.
func TestRunPreflight(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, `CREATE TABLE items (id int PRIMARY KEY); CREATE TABLE logs (line text); INSERT INTO logs VALUES ('a')`)
	tgt.Exec(t, `CREATE TABLE items (id int PRIMARY KEY); CREATE TABLE logs (line text)`)
	// A keyless table that is updated fails the checks (see keyless_test.go).
	countedWrites(t, src, "logs", "UPDATE logs SET line = 'b'")
	streams := 1
	run := func(quiet bool, tables string) (string, string, int, error) {
		var out, errb bytes.Buffer
		e := &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
		f := newFlags(e, commands["config_check"])
		if err := f.parse([]string{"--source-url", src.URL, "--target-url", tgt.URL}); err != nil {
			t.Fatal(err)
		}
		r, err := runPreflight(context.Background(), e, f, tableFlags{schema: "public", tables: tables}, "", false, "", false, quiet, streams)
		return out.String(), errb.String(), len(r.Tables), err
	}

	stdout, stderr, n, err := run(true, "")
	if err == nil || err.Error() != "config check failed: 1 problem(s)" || !strings.Contains(hint.Of(err), "pgvecrep config_check") {
		t.Errorf("keyless table: err %v, hint %q", err, hint.Of(err))
	}
	if stdout != "" || !strings.Contains(stderr, "public.logs") || strings.Contains(stderr, "wal_level") || n != 2 {
		t.Errorf("quiet failure: stdout %q, stderr %q, %d tables; want only the problem on stderr, 2 tables", stdout, stderr, n)
	}

	stdout, stderr, n, err = run(true, "items")
	if err != nil || stdout != "" || stderr != "" || n != 1 {
		t.Errorf("quiet success: err %v, stdout %q, stderr %q, %d tables", err, stdout, stderr, n)
	}
	stdout, _, _, err = run(false, "items")
	if err != nil || !strings.Contains(stdout, "wal_level") {
		t.Errorf("verbose success: err %v, stdout %q", err, stdout)
	}

	// Too many streams fail the checks, and the hint's config_check counts
	// as many, so that it finds what start_sync found.
	streams = preflight.MaxApplyStreams + 1
	_, stderr, _, err = run(true, "items")
	again := fmt.Sprintf("pgvecrep config_check --tables items --apply-workers %d checks again", streams)
	if err == nil || !strings.Contains(stderr, "apply_workers") || !strings.Contains(hint.Of(err), again) {
		t.Errorf("%d streams: err %v, hint %q, stderr %q; want an apply_workers error and a hint with %q", streams, err, hint.Of(err), stderr, again)
	}
}
