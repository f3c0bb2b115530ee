package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/cli"
	"github.com/pgvecrep/pgvecrep/internal/demo"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// TestDemo runs the whole demo with the real pgvecrep commands and checks
// that it passes and shows its steps in the tutorial's order.
func TestDemo(t *testing.T) {
	bin, err := localpg.FindBinDir()
	if err == nil && !localpg.HasVector(bin) {
		err = fmt.Errorf("pgvector is not installed for %s", bin)
	}
	testenv.Need(t, "PostgreSQL with pgvector", err)
	var out bytes.Buffer
	run := func(ctx context.Context, vars map[string]string, args []string) int {
		r := pgtest.RunCLI(ctx, t, cli.RunEnv, vars, args...)
		out.WriteString(r.Stdout + r.Stderr)
		return r.Code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := demo.Run(ctx, demo.Options{Out: &out, Pgvecrep: run}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	var got []string
	for _, m := range regexp.MustCompile(`(?m)^== (.*)$`).FindAllStringSubmatch(out.String(), -1) {
		got = append(got, strings.SplitN(m[1], ":", 2)[0])
	}
	want := []string{
		"Deploying two PostgreSQL clusters (wal_level=logical)",
		"Creating extension vector, table test (vector(10)) and an HNSW index on both sides",
		"Inserting 100 rows on the source",
		"Before replication (the target is empty)",
		"pgvecrep config_check",
		"pgvecrep bootstrap --group-name database-cluster-1 --copy-schema",
		"pgvecrep start_sync --group-name database-cluster-1",
		"After start_sync",
		"Inserting 100 more rows on the source",
		"After 100 more rows",
		"pgvecrep stats --group-name database-cluster-1",
		"pgvecrep verify --group-name database-cluster-1",
		"pgvecrep switchover --group-name database-cluster-1",
		"Stopping the source (pg_ctl stop -m immediate)",
		"The target alone answers the tutorial's query",
		"Removing the clusters",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, s := range []string{"identical ✓", "target has all 200 rows", "the target takes writes ✓", "Demo passed"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q", s)
		}
	}
}
