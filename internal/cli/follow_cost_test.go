package cli

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestFollowCost measures the continuous verifier's cost on the source
// while a writer runs, for the README: the CPU of the source's backends
// (from /proc, in clock ticks of 10 ms) over a window without follow, then
// with follow at two verify rates, and follow's own counters. It only
// measures (set PGVECREP_MEASURE=1): a figure of a shared machine is not
// something a test can assert.
func TestFollowCost(t *testing.T) {
	if os.Getenv("PGVECREP_MEASURE") == "" {
		t.Skip("set PGVECREP_MEASURE=1 to measure follow's cost")
	}
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	table := `CREATE TABLE items (id bigint PRIMARY KEY, note text, emb vector(3))`
	for _, db := range []pgtest.DB{src, tgt} {
		db.Exec(t, table)
		db.Exec(t, `CREATE INDEX items_emb ON items USING hnsw (emb vector_l2_ops)`)
	}
	src.Exec(t, `INSERT INTO items SELECT i, md5(i::text), ARRAY[i % 97, i % 13, i]::real[]::vector FROM generate_series(1, 100000) i`)
	mustRun(t, src, tgt, "bootstrap", "-g", "d")
	mustRun(t, src, tgt, "start_sync", "-g", "d")
	stopWriter := pgtest.StartWriter(t, src.URL, "items", 1_000_000)
	defer stopWriter()
	const window = 20 * time.Second
	base := backendTicks(t, src, window)
	t.Logf("without follow: source backends %d ticks in %s", base, window)
	for _, rate := range []string{"1", "10"} {
		before := backendPids(t, src)
		out, stop := startFollow(t, src, tgt, "-g", "d", "--verify-rate", rate, "--verify-neighbour-every", "60", "--listen", "127.0.0.1:0")
		url := metricsURL(t, out)
		pgtest.WaitFor(t, "a first chunk", func() bool { return scrape(t, url, "pgvecrep_verify_chunks_checked_total") >= 1 })
		c0, n0 := scrape(t, url, "pgvecrep_verify_chunks_checked_total"), scrape(t, url, "pgvecrep_verify_neighbour_checks_total")
		all := backendTicks(t, src, window)
		c1, n1 := scrape(t, url, "pgvecrep_verify_chunks_checked_total"), scrape(t, url, "pgvecrep_verify_neighbour_checks_total")
		var mine []string
		for _, p := range backendPids(t, src) {
			if !strings.Contains(" "+strings.Join(before, " ")+" ", " "+p+" ") {
				mine = append(mine, p)
			}
		}
		t.Logf("rate %s: source backends %d ticks in %s; follow's %d source backends %d ticks (measured apart, same length); chunks %.0f, neighbour samples %.0f; mismatches %.0f",
			rate, all, window, len(mine), ticksOf(t, mine, window), c1-c0, n1-n0, scrape(t, url, "pgvecrep_verify_mismatches_total"))
		stop()
	}
}

// backendPids lists the pids of the client backends of src's database.
func backendPids(t *testing.T, src pgtest.DB) []string {
	return src.QueryStrings(t, `SELECT pid::text FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`)
}

// backendTicks is the CPU (user + system, in clock ticks) all client
// backends of src's database used during window.
func backendTicks(t *testing.T, src pgtest.DB, window time.Duration) int64 {
	return ticksOf(t, backendPids(t, src), window)
}

func ticksOf(t *testing.T, pids []string, window time.Duration) int64 {
	a := procTicks(t, pids)
	time.Sleep(window) // a measurement window, not a wait for a condition
	return procTicks(t, pids) - a
}

// procTicks sums utime and stime of pids from /proc/<pid>/stat.
func procTicks(t *testing.T, pids []string) int64 {
	var sum int64
	for _, p := range pids {
		b, err := os.ReadFile("/proc/" + p + "/stat")
		if err != nil {
			continue // ended
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		sum += u + s
	}
	return sum
}
