package upgrade

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/cli"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestMain starts a PostgreSQL 15 source and a PostgreSQL 18 target. The
// downgrade test uses them the other way round.
func TestMain(m *testing.M) { os.Exit(pgtest.MainVersions(m, pgtest.Upgrade)) }

// result is what one pgvecrep invocation did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs pgvecrep in-process against src and tgt.
func run(t *testing.T, src, tgt pgtest.DB, args ...string) result {
	t.Helper()
	r := pgtest.RunCLI(context.Background(), t, cli.RunEnv, pgtest.URLs(src, tgt), args...)
	return result{code: r.Code, stdout: r.Stdout, stderr: r.Stderr}
}

func mustRun(t *testing.T, src, tgt pgtest.DB, args ...string) result {
	t.Helper()
	r := run(t, src, tgt, args...)
	if r.code != 0 {
		t.Fatalf("pgvecrep %s exited %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	if args[0] == "start_sync" { // the schemas must match across the versions too
		v := []string{"verify", "--schema-only"}
		for i := 1; i < len(args)-1; i++ {
			if args[i] == "-g" || args[i] == "--group-name" {
				v = append(v, args[i], args[i+1])
			}
		}
		if r := run(t, src, tgt, v...); r.code != 0 {
			t.Fatalf("after start_sync, pgvecrep %s exited %d\nstdout:\n%s\nstderr:\n%s", strings.Join(v, " "), r.code, r.stdout, r.stderr)
		}
	}
	return r
}

// versions checks that the pair really spans the two majors, so a test
// cannot pass on two clusters of the same version.
func versions(t *testing.T, src, tgt pgtest.DB, want pgtest.Versions) {
	t.Helper()
	if src.Cluster.Major != want.Source || tgt.Cluster.Major != want.Target {
		t.Fatalf("clusters are %d -> %d, want %d -> %d", src.Cluster.Major, tgt.Cluster.Major, want.Source, want.Target)
	}
	got := fmt.Sprint(src.QueryInt(t, "SELECT current_setting('server_version_num')::int / 10000"), "->",
		tgt.QueryInt(t, "SELECT current_setting('server_version_num')::int / 10000"))
	if exp := fmt.Sprint(want.Source, "->", want.Target); got != exp {
		t.Fatalf("servers report %s, want %s", got, exp)
	}
}

const probe = "[0.40671515, 0.24202824, 0.37059402, 0.50316447, 0.10779921, 0.80774295, 0.8879849, 0.31292745, 0.05584943, 0.8738258]"

// topTen is the tutorial's query, exact (no index) so both sides must agree.
func topTen(t *testing.T, db pgtest.DB, table string) string {
	t.Helper()
	ids := db.QueryStrings(t, fmt.Sprintf(`SELECT id::text FROM (SELECT id, embedding <-> '%s' AS d FROM %s ORDER BY d, id LIMIT 10) x ORDER BY d, id`, probe, table))
	return strings.Join(ids, ",")
}

func insertRandom(t *testing.T, db pgtest.DB, table string, from, to int) {
	t.Helper()
	db.Exec(t, fmt.Sprintf(`INSERT INTO %s (id, embedding) SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 10) WHERE i > 0)::real[]::vector
		FROM generate_series(%d, %d) i`, table, from, to))
}
