package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/stats"
)

// lockedStats is the part of stats --json TestStatsAnswersWhileTableLocked reads.
type lockedStats struct {
	Pgvecrep struct {
		Tables []struct {
			Table           string   `json:"table"`
			Rows            int64    `json:"rows"`
			Estimated       bool     `json:"rows_estimated"`
			RowsUnavailable string   `json:"rows_unavailable"`
			RowsAge         *float64 `json:"rows_age_seconds"`
		} `json:"tables"`
		Lag struct {
			Bytes   *int64   `json:"bytes"`
			Seconds *float64 `json:"seconds"`
		} `json:"lag"`
	} `json:"pgvecrep"`
}

// TestStatsAnswersWhileTableLocked: while a transaction on the target holds
// a replicated table in ACCESS EXCLUSIVE mode, stats answers within its
// timeouts (1 s lock timeout, 5 s statement timeout; the bound checked is
// the statement timeout plus a margin for a loaded machine) instead of
// waiting for the lock, and says the table's count is unknown because it
// is locked; stats --watch, which counted it before the lock, shows that
// count with its age.
func TestStatsAnswersWhileTableLocked(t *testing.T) {
	env := pgtest.Get(t)
	src, tgt := env.Pair(t)
	streamItems(t, src, tgt, "locked")
	defer mustRun(t, src, tgt, "cleanup", "-g", "locked")
	lines, stop := watchJSON(t, src, tgt, "locked")
	defer stop()
	if first := next(t, lines); len(first.Pgvecrep.Tables) != 1 || first.Pgvecrep.Tables[0].Rows != 50 {
		t.Fatalf("stats --watch before the lock: %+v", first.Pgvecrep.Tables)
	}

	ctx := context.Background()
	lock, err := tgt.Conn(t).Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, "LOCK TABLE items IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	r := mustRun(t, src, tgt, "stats", "-g", "locked", "--json")
	if took, bound := time.Since(start), stats.StatementTimeout+5*time.Second; took > bound {
		t.Errorf("stats took %s with a table locked, more than %s", took, bound)
	}
	var st lockedStats
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("stats --json: %v\n%s", err, r.stdout)
	}
	if tb := st.Pgvecrep.Tables; len(tb) != 1 || !strings.HasPrefix(tb[0].RowsUnavailable, "table locked") || !tb[0].Estimated {
		t.Errorf("one-off stats with the table locked: %+v, want the count unavailable (table locked), the estimate shown", tb)
	}
	if st.Pgvecrep.Lag.Bytes == nil || st.Pgvecrep.Lag.Seconds == nil {
		t.Errorf("the lag is missing with a table locked: %+v", st.Pgvecrep.Lag)
	}

	pgtest.WaitFor(t, "stats --watch to show the last count with its age", func() bool {
		tb := next(t, lines).Pgvecrep.Tables
		return len(tb) == 1 && tb[0].RowsUnavailable != "" && tb[0].Rows == 50 && tb[0].RowsAge != nil && !tb[0].Estimated
	})
}

// next is the next report of a watch, which must come within the report's
// timeouts and a margin: a watch that waits on a lock fails the test here.
func next(t *testing.T, lines <-chan lockedStats) lockedStats {
	t.Helper()
	select {
	case st, ok := <-lines:
		if !ok {
			t.Fatal("stats --watch ended")
		}
		return st
	case <-time.After(stats.StatementTimeout + 10*time.Second):
		t.Fatal("stats --watch printed nothing for longer than its timeouts")
	}
	return lockedStats{}
}

// watchJSON runs stats --watch --json for group every 200ms and sends each
// report (dropping those no one waits for); stop ends it.
func watchJSON(t *testing.T, src, tgt pgtest.DB, group string) (<-chan lockedStats, func()) {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- pgtest.RunCLITo(ctx, RunEnv, pw, io.Discard, pgtest.URLs(src, tgt), "stats", "-g", group, "--watch", "--json", "--interval", "200ms")
		pw.Close()
	}()
	lines := make(chan lockedStats)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var st lockedStats
			if json.Unmarshal(sc.Bytes(), &st) != nil {
				continue
			}
			select {
			case lines <- st:
			case <-ctx.Done():
			}
		}
	}()
	return lines, func() {
		cancel()
		<-done
	}
}
