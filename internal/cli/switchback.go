package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/progress"

	"github.com/pgvecrep/pgvecrep/internal/switchover"
	"github.com/pgvecrep/pgvecrep/internal/verify"
)

// reverseURL is the target's address as the source sees it, for the
// reverse subscription a switchover leaves on the source.
func (f *flags) reverseURL() string {
	if s := f.env.Getenv("SECONDARY_TARGET_DB_URL"); s != "" {
		return s
	}
	_, tgt := f.urls()
	return tgt
}

// sayReverse says whether a switchover left a way back, and how to take it.
func sayReverse(env *Env, name string, res switchover.Result) {
	for _, line := range res.ReverseSkipped {
		env.say(event.Event{Phase: event.Note, Message: "Warning: " + line})
	}
	if res.Reverse == nil {
		return
	}
	env.say(event.Event{Phase: event.Note, Message: fmt.Sprintf("The source follows the target through %s from %s: every write made on the target reaches it.\n"+
		"To go back with zero loss: pgvecrep switchback -g %s   To stay on the target for good: pgvecrep stop_sync -g %s",
		res.Reverse.Name, res.Reverse.StartLSN, name, name)})
}

func init() {
	register(&command{
		name:    "switchback",
		summary: "return to the source after a switchover with zero loss, through the reverse stream it left",
		usage:   "--group-name GROUP [--lag-delta-size BYTES] [--roles r1,r2] [--timeout 10m] [--max-freeze 30s] [--force]",
		help: `Switchback is switchover mirrored. After a switchover (which leaves a reverse
stream unless --no-reverse: the source follows every write made on the
target), it makes the source the primary again without losing a write made
on the target:

  0. refuses when a group table's columns differ between the two sides (the
     reverse stream carries rows, not schema changes), naming each table,
     and when switchover left a table out of the reverse stream (no key or
     replica identity on the target), unless --force;
  1. waits until what the source has not applied of the target's WAL is at
     most --lag-delta-size bytes;
  2. freezes writes on the target (every role, or only --roles) and ends
     their sessions;
  3. waits until the source has applied everything up to the target's
     position once frozen; past --max-freeze it lifts the freeze and the
     reverse stream goes on;
  4. sets every sequence on the source from the target's current value;
  5. makes the forward publication and slot on the source again (the
     source is still frozen for applications, so none of their writes can
     be missed); the publication carries the DDL capture's log as
     start_sync's does, so schema changes on the source reach the target;
  6. drops the reverse subscription, slot and publication, subscribes the
     target to the source again (copy_data = false), lifts the source's
     freeze, marks the group streaming, and prints how long applications
     could write nowhere (from step 2 to the lifting of the source's freeze).

The forward stream runs again afterwards: pgvecrep stats shows it, and
pgvecrep switchover -g GROUP moves to the target again when you are ready.
The target stays frozen for applications, so a stray write there fails
instead of being lost. A switchback that is killed or fails is finished by
running it again: before step 6 nothing changed (the target's freeze is
lifted), from step 6 on the rerun completes the detach.

Example:
  pgvecrep switchback --group-name database-cluster-1`,
		run: runSwitchback,
	})
}

func runSwitchback(ctx context.Context, env *Env, args []string) error {
	var name string
	var force bool
	var ff freezeFlags
	f := groupFlags(env, "switchback", &name)
	f.boolVar(&force, "force", "", "switch back although a table without a key was left out of the reverse stream; says which")
	ff.add(f, "the target", "the source")
	s, err := f.open(ctx, args, preamble{group: &name, source: required, target: required, check: ff.check})
	if err != nil {
		return err
	}
	defer s.close()
	env.onAbandon(fmt.Sprintf("The target's tables may still be frozen for writes; run pgvecrep switchback -g %s again to finish or undo", name))
	env.onInterrupt(fmt.Sprintf("run pgvecrep switchback -g %s again: it finishes or starts over, losing nothing", name))
	res, err := switchover.Switchback(ctx, s.src, s.tgt, switchover.SwitchbackOptions{
		Group: name, LagDelta: ff.lagDelta, Timeout: ff.timeout, MaxFreeze: ff.maxFreeze, Roles: splitRoles(ff.roles), Force: force,
		ForwardConnInfo: f.subscriptionURL(), ReverseConnInfo: f.reverseURL(), Events: env.events(),
	})
	if err != nil {
		return err
	}
	done := fmt.Sprintf("Switched back group %s: the source is the primary again.\nWrites were frozen for %s (the source applied the target's writes up to %s).",
		name, progress.Elapsed(res.FreezeWindow), res.DrainLSN)
	if res.Resumed {
		done = fmt.Sprintf("Switched back group %s: the source is the primary again.\nFinished an interrupted switchback.", name)
	}
	env.say(event.Event{Phase: event.Done, Duration: res.FreezeWindow, Message: done})
	env.say(event.Event{Phase: event.Note, Message: fmt.Sprintf(`The target follows the source again (pgvecrep stats -g %[1]s); it stays frozen for applications.
Next: pgvecrep verify -g %[1]s, then point the application at the source. To move to the target again: pgvecrep switchover -g %[1]s`, name)})
	return nil
}

// verifyDirection points verify the way the group's data flows: after a
// switchover with a reverse stream, the target (the new primary) leads and
// the source follows it through the reverse subscription, whose lag verify
// drains before each read. It returns the leader and the follower, and a
// note for the report when they are swapped.
func verifyDirection(ctx context.Context, src, tgt *pgx.Conn, g group.Group, opts *verify.Options) (leader, follower *pgx.Conn, note string, err error) {
	rev, ok, err := group.GetReverse(ctx, tgt, g.Name)
	if err != nil || !ok || rev.State != group.ReverseStreaming {
		return src, tgt, "", err
	}
	opts.Subscription = rev.ObjectName
	opts.Source, opts.Target = opts.Target, opts.Source
	return tgt, src, fmt.Sprintf("reverse direction (group %s was switched over): the new primary (TARGET_DB_URL) is compared as the source against the old primary (SOURCE_DB_URL), which follows it through %s", g.Name, rev.ObjectName), nil
}

// runReverseFailover is failover --reverse: the source takes over from a
// lost target through what the reverse stream brought it.
func runReverseFailover(ctx context.Context, env *Env, f *flags, name string, gap int64, asJSON bool) error {
	s, err := f.open(ctx, nil, preamble{source: required})
	if err != nil {
		return err
	}
	defer s.close()
	res, err := switchover.FailoverReverse(ctx, s.src, switchover.FailoverOptions{Group: name, SequenceGap: gap, Out: env.Stderr})
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(res)
	}
	fmt.Fprintf(env.Stdout, "Failed over group %s to the source: it takes writes again (%d table(s) unfrozen).\n", name, res.Unfrozen)
	fmt.Fprintf(env.Stdout, "Last target position applied: %s\n", orDash(res.LastAppliedLSN))
	if res.LastMessageTime != nil {
		fmt.Fprintf(env.Stdout, "Target last heard from:       %s\n", res.LastMessageTime.Format(time.RFC3339))
	}
	for _, line := range res.Sequences {
		fmt.Fprintf(env.Stdout, "sequence %s\n", line)
	}
	fmt.Fprintf(env.Stdout, "\nThe lost target still has replication slot %s, and the group's metadata. Once it is back, run there:\n  %s\nthen pgvecrep cleanup -g %s.\n",
		res.OrphanSlot, res.DropSlotSQL, name)
	return nil
}
