package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/pgvecrep/pgvecrep/internal/stats"
)

func init() {
	register(&command{
		name:    "stats",
		summary: "show a group's phase, per-table state and rows, and lag",
		usage:   "--group-name GROUP [--watch] [--interval 2s] [--json]",
		help: `Stats shows where a group stands: its phase (bootstrapped, copying, indexing,
streaming, switched_over, failed), the last error, each table's state and row
count on the target, running copies and index builds with their progress, and
the lag: bytes the target has not yet confirmed (from the source's slot) and
seconds (pg_stat_replication's replay_lag). When the source is unreachable it
still shows the target's side.

--watch refreshes until Ctrl-C; --json prints one JSON object per refresh.

Example:
  pgvecrep stats --group-name database-cluster-1 --watch`,
		run: runStats,
	})
}

func runStats(ctx context.Context, env *Env, args []string) error {
	c := commands["stats"]
	f := newFlags(env, c)
	var name string
	var watch, asJSON bool
	var interval time.Duration
	f.stringVar(&name, "group-name", "g", "", "name of the replication group")
	f.boolVar(&watch, "watch", "w", "refresh until interrupted")
	f.boolVar(&asJSON, "json", "", "print JSON")
	f.durationVar(&interval, "interval", "", 2*time.Second, "refresh interval with --watch")
	// The source may be gone (after a failover, say): stats still reports the target.
	s, err := f.open(ctx, args, preamble{group: &name, source: optional, target: required})
	if err != nil {
		return err
	}
	defer s.close()
	src, tgt, srcErr := s.src, s.tgt, s.srcErr
	clear := watch && !asJSON && isTerminal(env.Stdout)
	for {
		r, err := stats.Collect(ctx, src, tgt, name)
		if err != nil {
			return err
		}
		if clear {
			fmt.Fprint(env.Stdout, "\033[H\033[2J")
		}
		if asJSON {
			if err := r.WriteJSON(env.Stdout); err != nil {
				return err
			}
		} else {
			if srcErr != nil {
				fmt.Fprintf(env.Stdout, "source unreachable: %s\n", oneLine(srcErr.Error()))
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
		if !asJSON && !clear {
			fmt.Fprintln(env.Stdout)
		}
	}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
