package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/parallel"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
	"github.com/pgvecrep/pgvecrep/internal/switchover"
)

func init() {
	register(&command{
		name:    "stop_sync",
		summary: "drop the group's subscription, slot and publication, and a switchover's way back (the data stays)",
		usage:   "--group-name GROUP",
		help: `Stop_sync ends a group's replication: it drops the subscription on the target
and the replication slot and publication on the source. The copied data, the
target's indexes and the group's metadata stay (pgvecrep cleanup removes the
metadata). A slot that is left behind keeps WAL on the source forever, so
stop_sync makes sure none is.

After a switchover it also removes the way back: the reverse publication
and slot on the target and the reverse subscription on the source. It means
"we stay on the new primary".

If the source cannot be reached, the subscription is still detached and
dropped on the target, and the command prints what to run on the source once
it is back.

Example:
  pgvecrep stop_sync --group-name database-cluster-1`,
		run: runStopSync,
	})
}

func runStopSync(ctx context.Context, env *Env, args []string) error {
	var name string
	f := groupFlags(env, "stop_sync", &name)
	s, err := f.open(ctx, args, preamble{group: &name, source: optional, target: required, lock: true})
	if err != nil {
		return err
	}
	defer s.close()
	if err := stopGroup(ctx, env, s.src, s.srcErr, s.tgt, s.group); err != nil {
		return err
	}
	env.say(event.Event{Phase: event.Done, Message: fmt.Sprintf("Group %s is stopped.", name)})
	return nil
}

// stopGroup detaches a group from both sides and restores any index the run
// deferred and did not build, so the target is usable as it stands.
func stopGroup(ctx context.Context, env *Env, src *pgx.Conn, srcErr error, tgt *pgx.Conn, g group.Group) error {
	p := env.events()
	if srcErr != nil {
		fmt.Fprintf(env.Stderr, "pgvecrep: source unreachable (%s); detaching on the target only\n", oneLine(srcErr.Error()))
		src = nil
	}
	if err := parallel.Detach(ctx, src, tgt, g, p); err != nil {
		return err
	}
	left, err := switchover.DropReverse(ctx, src, tgt, g.Name, p)
	if err != nil {
		return err
	}
	if err := postdata.RestoreDeferred(ctx, tgt, g.Name, p); err != nil {
		return err
	}
	if g.Phase != group.SwitchedOver && g.Phase != group.FailedOver {
		if err := group.SetPhase(ctx, tgt, g.Name, group.Stopped); err != nil {
			return err
		}
	}
	if src == nil {
		env.say(event.Event{Phase: event.Note, Message: fmt.Sprintf("The source still has replication slot %s and publication %s. Once it is back, run there:\n  %s",
			strings.Join(g.StreamNames(), ", "), strings.Join(g.StreamNames(), ", "), parallel.LeftoverSQL(g))})
	}
	if left != "" {
		fmt.Fprintf(env.Stdout, "The source still has the reverse subscription of the way back. Once it is back, run there:\n  %s\n", left)
	}
	return nil
}
