package demo_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/cli"
	"github.com/pgvecrep/pgvecrep/internal/demo"
	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// TestDemoUpgrade runs demo --upgrade: the tutorial from the system's 15 to
// an 18 target, ending with the switchover onto 18.
func TestDemoUpgrade(t *testing.T) {
	_, err := localpg.FindMajor(demo.UpgradeMajor)
	testenv.Need(t, "demo --upgrade's newer server", err)
	var out bytes.Buffer
	run := func(ctx context.Context, vars map[string]string, args []string) int {
		r := pgtest.RunCLI(ctx, t, cli.RunEnv, vars, args...)
		out.WriteString(r.Stdout + r.Stderr)
		return r.Code
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := demo.Run(ctx, demo.Options{Out: &out, Pgvecrep: run, Upgrade: true}); err != nil {
		t.Fatalf("demo --upgrade: %v\n%s", err, out.String())
	}
	for _, s := range []string{"source: PostgreSQL 15", "target: PostgreSQL 18", "upgrade path: PostgreSQL 15 -> 18",
		"Writes were frozen for", "== The upgrade is done", "PostgreSQL 15 -> 18.", "Demo passed"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("demo --upgrade output lacks %q:\n%s", s, out.String())
		}
	}
}
