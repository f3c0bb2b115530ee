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
	"github.com/pgvecrep/pgvecrep/internal/testenv"
)

// TestDemoRoundTrip runs demo --upgrade --round-trip: 15 -> 18, rows
// written on 18 reach 15, switchback to 15 and 18 follows again, with the
// rows intact and both freeze windows printed.
func TestDemoRoundTrip(t *testing.T) {
	_, err := localpg.FindMajor(demo.UpgradeMajor)
	testenv.Need(t, "demo --upgrade's newer server", err)
	var out bytes.Buffer
	run := func(ctx context.Context, vars map[string]string, args []string) int {
		for k, v := range vars {
			t.Setenv(k, v)
		}
		return cli.Run(ctx, args, &out, &out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := demo.Run(ctx, demo.Options{Out: &out, Pgvecrep: run, Upgrade: true, RoundTrip: true}); err != nil {
		t.Fatalf("demo --upgrade --round-trip: %v\n%s", err, out.String())
	}
	for _, s := range []string{"source has all 300 rows", "Switched back group database-cluster-1", "target has all 400 rows",
		"PostgreSQL 15 -> 18 -> 15: all 400 rows on the source, none lost", "Demo passed"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("demo --upgrade --round-trip output lacks %q:\n%s", s, out.String())
		}
	}
	if strings.Contains(out.String(), "The upgrade is done") {
		t.Errorf("a round trip ends on the source, yet the demo says the upgrade is done:\n%s", out.String())
	}
	if n := strings.Count(out.String(), "Writes were frozen for"); n != 2 {
		t.Errorf("%d freeze windows printed, want 2 (switchover and switchback):\n%s", n, out.String())
	}
}
