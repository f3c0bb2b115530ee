package fidelity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgvecrep/pgvecrep/internal/cli"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestFidelityMatrix runs the fixed matrix in both copy modes, and with
// three apply streams (parallel apply spreads every shape it can, and the
// workload's truncates become deletes: the guard refuses TRUNCATE there).
func TestFidelityMatrix(t *testing.T) {
	for _, mode := range []string{"fast", "native"} {
		t.Run(mode, func(t *testing.T) {
			runMatrix(t, fixedMatrix(), mode, 1, rand.New(rand.NewPCG(1, 2)))
		})
	}
	t.Run("fast-3-streams", func(t *testing.T) {
		runMatrix(t, fixedMatrix(), "fast", 3, rand.New(rand.NewPCG(1, 2)))
	})
}

// TestFidelityRandom is the larger randomized run, only when
// PGVECREP_FIDELITY_SEED is set (see the package doc).
func TestFidelityRandom(t *testing.T) {
	env := os.Getenv("PGVECREP_FIDELITY_SEED")
	if env == "" {
		t.Skip("set PGVECREP_FIDELITY_SEED=N (or random) for the randomized matrix")
	}
	seed, err := strconv.ParseUint(env, 10, 64)
	if env == "random" {
		seed, err = uint64(time.Now().UnixNano()), nil
	}
	if err != nil {
		t.Fatalf("PGVECREP_FIDELITY_SEED=%q: %v", env, err)
	}
	n := 40
	if s := os.Getenv("PGVECREP_FIDELITY_TABLES"); s != "" {
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("PGVECREP_FIDELITY_TABLES=%q: %v", s, err)
		}
	}
	t.Logf("randomized fidelity matrix: PGVECREP_FIDELITY_SEED=%d PGVECREP_FIDELITY_TABLES=%d", seed, n)
	defer func() {
		if t.Failed() {
			t.Logf("rerun with: PGVECREP_FIDELITY_SEED=%d PGVECREP_FIDELITY_TABLES=%d go test -run TestFidelityRandom ./internal/fidelity/", seed, n)
		}
	}()
	rng := rand.New(rand.NewPCG(seed, 0))
	mode := []string{"fast", "native"}[rng.IntN(2)]
	streams := []int{1, 1, 2, 3}[rng.IntN(4)]
	t.Logf("copy mode %s, %d apply stream(s)", mode, streams)
	runMatrix(t, randomMatrix(rng, n), mode, streams, rng)
}

// runMatrix creates the tables on a fresh source, then runs the tutorial's
// commands with writes during start_sync, while streaming and through the
// switchover, and checks rows and schemas after each phase.
func runMatrix(t *testing.T, tables []table, mode string, streams int, rng *rand.Rand) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	src.Exec(t, "CREATE EXTENSION IF NOT EXISTS vector")
	src.Exec(t, "CREATE EXTENSION IF NOT EXISTS btree_gist")
	create(t, src, tables)
	for _, tb := range tables {
		t.Log(tb.describe())
	}
	mustRun(t, src, tgt, "bootstrap", "-g", "fid", "--copy-schema")

	// During the copy: one round of the workload runs beside start_sync.
	during := noTruncate(round(rng, tables, 1), streams)
	w := startWorkload(t, src, during, false)
	mustRun(t, src, tgt, "start_sync", "-g", "fid", "--copy-mode", mode, "--apply-workers", strconv.Itoa(streams))
	w.wait(t)
	sameRows(t, src, tgt, tables, "after start_sync with writes during the copy")
	mustRun(t, src, tgt, "verify", "-g", "fid", "--schema-only")

	// While streaming.
	for _, o := range noTruncate(round(rng, tables, 2), streams) {
		exec(t, src, o)
	}
	sameRows(t, src, tgt, tables, "while streaming")
	mustRun(t, src, tgt, "verify", "-g", "fid", "--schema-only")

	// Through the switchover: writes run until the freeze stops them.
	w = startWorkload(t, src, noTruncate(round(rng, tables, 3), streams), true)
	mustRun(t, src, tgt, "switchover", "-g", "fid")
	w.wait(t)
	sameRows(t, src, tgt, tables, "after the switchover")
}

// noTruncate turns a round's truncates into deletes with parallel apply,
// whose guard refuses TRUNCATE of a spread table on the source.
func noTruncate(ops []op, streams int) []op {
	if streams <= 1 {
		return ops
	}
	for i, o := range ops {
		if name, ok := strings.CutPrefix(o.sql, "TRUNCATE "); ok {
			ops[i] = op{"delete every row", "DELETE FROM " + name}
		}
	}
	return ops
}

// create makes the types, the tables and their seed rows, then what the
// seed rows must precede (NOT VALID constraints they violate, indexes).
func create(t *testing.T, db pgtest.DB, tables []table) {
	t.Helper()
	seen := map[string]bool{}
	for _, tb := range tables {
		for _, c := range tb.cols {
			for _, ty := range c.types {
				if !seen[ty] {
					seen[ty] = true
					db.Exec(t, ty)
				}
			}
		}
	}
	for _, tb := range tables {
		for _, s := range tb.ddl() {
			db.Exec(t, s)
		}
		for _, into := range targetsOf(tb) {
			db.Exec(t, tb.insert(into, 1, 40))
		}
	}
	for _, tb := range tables {
		for _, s := range tb.after {
			db.Exec(t, fmt.Sprintf(s, tb.name))
		}
	}
	db.Exec(t, "ANALYZE")
}

func exec(t *testing.T, db pgtest.DB, o op) {
	t.Helper()
	if err := db.Cluster.Exec(context.Background(), db.Name, o.sql); err != nil {
		t.Fatalf("%s: %s: %v", o.kind, o.sql, err)
	}
}

// workload runs ops on its own connection in a goroutine.
type workload struct {
	done chan error
}

// startWorkload runs ops one after the other. With untilFrozen, an error
// that says the source is frozen or the session was ended by the
// switchover ends it quietly: that is the switchover doing its job.
func startWorkload(t *testing.T, db pgtest.DB, ops []op, untilFrozen bool) *workload {
	t.Helper()
	conn := db.Conn(t)
	w := &workload{done: make(chan error, 1)}
	go func() {
		for _, o := range ops {
			if _, err := conn.Exec(context.Background(), o.sql); err != nil {
				if untilFrozen && frozen(err) {
					break
				}
				w.done <- fmt.Errorf("%s: %s: %w", o.kind, o.sql, err)
				return
			}
		}
		w.done <- nil
	}()
	return w
}

func (w *workload) wait(t *testing.T) {
	t.Helper()
	if err := <-w.done; err != nil {
		t.Fatalf("workload: %v", err)
	}
}

// frozen reports an error of a write the switchover stopped: the freeze's
// read-only error, or the end of the session.
func frozen(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "25006" || pe.Code == "57P01"
	}
	return pgconn.SafeToRetry(err) || strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "EOF")
}

// sameRows waits until every table holding rows (partitions, inheritance
// children) has the same rows on both sides, by an ordered checksum of the
// rows' text that needs no key.
func sameRows(t *testing.T, src, tgt pgtest.DB, tables []table, when string) {
	t.Helper()
	s, g := src.Conn(t), tgt.Conn(t)
	for _, tb := range tables {
		for _, c := range tb.children() {
			var a, b string
			pgtest.WaitFor(t, fmt.Sprintf("%s to match %s", c, when), func() bool {
				a, b = checksum(t, s, c), checksum(t, g, c)
				return a == b
			})
		}
	}
	t.Logf("every table matches %s", when)
}

func checksum(t *testing.T, conn *pgx.Conn, table string) string {
	t.Helper()
	var s string
	q := fmt.Sprintf(`SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') FROM ONLY %s x`, table)
	if err := conn.QueryRow(context.Background(), q).Scan(&s); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" {
			return "missing"
		}
		t.Fatalf("checksum %s: %v", table, err)
	}
	return s
}

// mustRun runs pgvecrep in-process against src and tgt and fails the test
// on a non-zero exit, with everything the command printed.
func mustRun(t *testing.T, src, tgt pgtest.DB, args ...string) string {
	t.Helper()
	r := pgtest.RunCLI(context.Background(), t, cli.RunEnv, pgtest.URLs(src, tgt), args...)
	if r.Code != 0 {
		t.Fatalf("pgvecrep %s exited %d (its output is logged above)", strings.Join(args, " "), r.Code)
	}
	return r.Stdout
}
