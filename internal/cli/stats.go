package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/stats"
)

func init() {
	register(&command{
		name:    "stats",
		summary: "show a group's phase, per-table state and rows, and lag",
		usage:   "--group-name GROUP [-w|--watch] [--interval 2s] [--json] [--leaves]",
		help: `Stats shows where a group stands: its phase (bootstrapped, copying, indexing,
streaming, switched_over, failed), the last error, each table's state and row
count on the target, running copies and index builds with their progress, and
the lag: the bytes of the source's WAL the target has not committed, counting
a transaction its apply worker is in the middle of (shown on a line of its
own, with how long it has been applied), and how long the oldest of those
changes has waited; then the apply rate over the last 10 s and the estimated
time to catch up. A single stats reads the progress twice, a second apart,
when the target has work pending; --watch builds on its earlier reads.
During the copy and the index build it shows the WAL the replication slot
holds on the source instead: streaming starts once they are done. When the
source is unreachable (or not configured) it still shows the target's side.

Every query runs with a 1 s lock timeout and a 5 s statement timeout, so
stats answers while a table is locked: such a table shows its last count
with its age (--watch), or "unknown: table locked" with the statistics'
estimate.

On a terminal it prints a table; when stdout is not a terminal (a pipe, a
file) it prints JSON, as pg_easy_replicate's stats does, so scripts can pipe
it to jq. --json forces JSON. The JSON has pg_easy_replicate's keys
(lag_stats, replication_slots, replication_stats,
replication_stats_count_by_state, message_lsn_receipts, sync_started_at,
sync_failed_at, switchover_completed_at) and pgvecrep's own report under
"pgvecrep" (the lag under pgvecrep.lag: bytes, seconds, in_flight,
apply_rate_bytes_per_second, catch_up_seconds, catch_up_unknown; each apply
stream under pgvecrep.streams: name, state, lag, subscription_health).

A group with several apply streams (start_sync --apply-workers N) shows one
line per stream under the lag line, with its lag and its subscription's
state (streaming, disabled, failing, no worker, absent); the lag line, and
pgvecrep.lag, are the slowest stream's, and a disabled or failing stream
makes the group stalled.

A partitioned table is reported as its root, as the group replicates it;
--leaves also lists each leaf partition with its rows on the target.

-w/--watch refreshes every --interval until Ctrl-C; with JSON it prints one
object per line per refresh.

Example:
  pgvecrep stats --group-name database-cluster-1 --watch
  pgvecrep stats -g database-cluster-1 | jq .switchover_completed_at`,
		run: runStats,
	})
}

func runStats(ctx context.Context, env *Env, args []string) error {
	var name string
	var watch, asJSON, leaves bool
	var interval time.Duration
	f := groupFlags(env, "stats", &name)
	f.boolVar(&watch, "watch", "w", "refresh until interrupted")
	f.boolVar(&asJSON, "json", "", "print JSON (the default when stdout is not a terminal)")
	f.durationVar(&interval, "interval", "", 2*time.Second, "refresh interval with --watch")
	f.boolVar(&leaves, "leaves", "", "also list each leaf partition of a partitioned table, with its rows")
	// The source may be gone (after a failover, say): stats still reports the target.
	s, err := f.open(ctx, args, preamble{group: &name, source: optional, sourceIfSet: true, target: required})
	if err != nil {
		return err
	}
	defer s.close()
	asJSON = asJSON || !isTerminal(env.Stdout)
	h := stats.NewHistory()
	for {
		r, err := collectHistory(ctx, s, name, h)
		if err != nil {
			return err
		}
		if leaves {
			if err := stats.AddLeaves(ctx, s.tgt, &r); err != nil {
				return err
			}
		}
		if asJSON {
			if err := r.WriteJSON(env.Stdout); err != nil {
				return err
			}
		} else {
			if watch {
				fmt.Fprint(env.Stdout, "\033[H\033[2J")
				fmt.Fprintf(env.Stdout, "%s  every %s  Ctrl-C to stop\n\n", time.Now().Format("15:04:05"), interval)
			}
			r.WriteText(env.Stdout)
		}
		if !watch {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// collectReport reads the group's report once and says why the source's
// side is missing, if it is. An unknown group lists the groups there are.
func collectReport(ctx context.Context, s *session, name string) (stats.Report, error) {
	return collectHistory(ctx, s, name, stats.NewHistory())
}

// collectHistory is collectReport for a command that reports again and
// again (stats --watch, metrics): h keeps what the earlier reports read,
// for the apply rate, the catch-up estimate and the last known row counts.
func collectHistory(ctx context.Context, s *session, name string, h *stats.History) (stats.Report, error) {
	r, err := h.Collect(ctx, s.src, s.tgt, name)
	if errors.Is(err, group.ErrNotFound) {
		return r, unknownGroup(ctx, s, name, err)
	}
	if err != nil {
		return r, err
	}
	switch {
	case errors.Is(s.srcErr, errSourceNotConfigured):
		r.Lag.SourceProblem = "not configured (set SOURCE_DB_URL or --source-url)"
	case s.srcErr != nil:
		r.Lag.SourceProblem = "unreachable: " + oneLine(s.srcErr.Error())
	}
	return r, nil
}

// unknownGroup replaces "bootstrap it" with the list of groups when the
// target has some: a typo is likelier than a missing bootstrap then.
func unknownGroup(ctx context.Context, s *session, name string, err error) error {
	names, lerr := group.List(ctx, s.tgt)
	if lerr != nil || len(names) == 0 {
		return err
	}
	h := fmt.Sprintf("groups on the target: %s; e.g. pgvecrep stats -g %s", strings.Join(names, ", "), names[0])
	if c := closest(name, names); c != "" {
		h = fmt.Sprintf("did you mean -g %s? (groups on the target: %s)", c, strings.Join(names, ", "))
	}
	return hint.Wrap(fmt.Errorf("group %q: %w on the target", name, group.ErrNotFound), h)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
