package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/switchover"
)

func init() {
	register(&command{
		name:    "switchover",
		summary: "move to the target with zero loss: wait for lag, freeze source writes, drain, sequences, detach",
		usage:   "--group-name GROUP [--lag-delta-size BYTES] [--skip-vacuum-analyze] [--roles r1,r2] [--timeout 10m] [--max-freeze 30s] [--force] [--no-reverse]",
		help: `Switchover makes the target the primary without losing a committed write:

  0. refuses while schema changes captured on the source left work that
     only pgvecrep apply_ddl_change finishes: a vector index not built on
     the target, a new table whose rows are not copied, a change recorded
     with --track-ddl and not applied; it names each (the new primary
     would lack them, and the old source cannot finish them once it is
     detached). --force goes ahead and says what the new primary lacks;
  1. waits until every table is streaming and what the target has not
     committed, counting a transaction it is in the middle of applying, is
     at most --lag-delta-size bytes (default 200 kB); once a second it
     shows the lag, the transaction in flight and the catch-up estimate;
  2. freezes writes on the source for every role (owners and superusers
     included), or only for --roles, and ends their sessions;
  3. waits until the target has applied everything up to the source's
     current WAL position, showing what is left and the estimate once a
     second (and checks step 0 again: an index made while it waited counts
     too). When that would make the freeze longer than --max-freeze
     (default 30s), it lifts the freeze, leaves the group streaming, and
     exits 1 saying what was left and when to try again;
  4. sets every sequence in the replicated schemas on the target from the
     source's current value: those the tables use (owned, identity, or in a
     default) and those no column owns;
  5. drops the subscription, slot and publication, refreshes the target's
     materialized views, runs VACUUM ANALYZE on the target (unless
     --skip-vacuum-analyze), and marks the group switched_over;
  6. prints how long writes were frozen (from step 2 to the end of step 4).

Unless --no-reverse, it leaves a way back: between steps 4 and 5 (after the
final drain, before any application can write to the target) it creates a
publication and a slot on the target, and after step 5 a subscription on
the source (copy_data = false), all named pgvecrep_<group>_rev, so the
source follows every write made on the new primary; the source's freeze
does not stop that apply (apply workers run with session_replication_role
= replica, under which the freeze trigger does not fire). pgvecrep
switchback -g GROUP returns to the source with zero loss; pgvecrep
stop_sync -g GROUP removes the way back ("we stay"). When the target cannot
publish (wal_level is not logical, no slot, no right to subscribe on the
source) it warns and switches over without one. The source reaches the
target at TARGET_DB_URL, or SECONDARY_TARGET_DB_URL when it differs.

If any step before the detach fails or times out, the freeze is lifted and
the group keeps streaming. After a successful switchover the source stays
frozen, so a stray write fails instead of being lost; lift it with
pgvecrep cleanup -g GROUP --restore-source-writes, which ends the way back
first (the source's new writes would collide with what it brings).

Example:
  pgvecrep switchover --group-name database-cluster-1 --lag-delta-size 100000`,
		run: runSwitchover,
	})
	register(&command{
		name:    "failover",
		summary: "make the target stand alone when the source is gone",
		usage:   "--group-name GROUP [--sequence-gap N] [--reverse] [--json]",
		help: `Failover is for when the source is unreachable. Without contacting it, it
detaches the subscription from its slot and drops it, sets every sequence
the tables use past the largest value in its column plus --sequence-gap
(default 1000), sets sequences no column uses to the target's own last value
plus the gap (check those: the target cannot know the source's), and marks
the group failed_over. It prints the last source
position the target applied and when the source was last heard from, and
the exact command to drop the orphaned slot on the old source once it is
back: an orphaned slot keeps WAL until its disk is full.

With --reverse it is the other way round: after a switchover that left a
way back, the new primary (the target) is gone and the old one (the
source) takes over with every write the reverse stream brought it. It
connects only to the source: drops the reverse subscription, sets the
sequences past the data and lifts the source's write freeze.

Example:
  pgvecrep failover --group-name database-cluster-1`,
		run: runFailover,
	})
}

// freezeFlags are the flags of a cut-over with a write freeze, switchover's
// and switchback's: follower names the side that drains.
type freezeFlags struct {
	delta, roles       string
	timeout, maxFreeze time.Duration
	lagDelta           int64
}

func (ff *freezeFlags) add(f *flags, frozen, follower string) {
	f.stringVar(&ff.delta, "lag-delta-size", "l", "204800", "lag in bytes below which writes on "+frozen+" are frozen")
	f.stringVar(&ff.roles, "roles", "", "", "freeze writes on "+frozen+" only for these roles, comma-separated (default: every role)")
	f.durationVar(&ff.timeout, "timeout", "", 10*time.Minute, "give up (and lift the freeze) after this long")
	f.durationVar(&ff.maxFreeze, "max-freeze", "", switchover.DefaultMaxFreeze, "the longest write freeze allowed: when "+follower+" cannot drain by then, lift the freeze and keep streaming")
}

// check parses --lag-delta-size, before anything connects.
func (ff *freezeFlags) check() (err error) {
	if ff.lagDelta, err = parseBytes(ff.delta); err != nil {
		return hint.Wrap(fmt.Errorf("--lag-delta-size: %w", err), "give a size in bytes, e.g. 204800 or 200kB")
	}
	return nil
}

func runSwitchover(ctx context.Context, env *Env, args []string) error {
	var name string
	var skipVacuum, force, noReverse bool
	var ff freezeFlags
	f := groupFlags(env, "switchover", &name)
	ff.add(f, "the source", "the target")
	f.boolVar(&skipVacuum, "skip-vacuum-analyze", "s", "do not VACUUM ANALYZE the target's tables afterwards")
	f.boolVar(&force, "force", "", "switch over although vector indexes or new tables captured from the source are not finished on the target; says what the new primary lacks")
	f.boolVar(&noReverse, "no-reverse", "", "leave no reverse stream (the way back that switchback takes)")
	s, err := f.open(ctx, args, preamble{group: &name, source: required, target: required,
		sourceHint: "switchover needs the source; when it is gone, use pgvecrep failover",
		check:      ff.check})
	if err != nil {
		return err
	}
	defer s.close()
	env.onAbandon(fmt.Sprintf("The source's tables may still be frozen for writes; lift the freeze with: pgvecrep cleanup -g %s --restore-source-writes", name))
	env.onInterrupt(fmt.Sprintf("the write freeze on the source was lifted and group %s keeps streaming (see above); start again with: pgvecrep switchover -g %s", name, name))
	res, err := switchover.Run(ctx, s.src, s.tgt, switchover.Options{
		Group: name, LagDelta: ff.lagDelta, Timeout: ff.timeout, SkipVacuum: skipVacuum,
		Roles: splitRoles(ff.roles), Force: force, MaxFreeze: ff.maxFreeze, Events: env.events(),
		Reverse: !noReverse, ReverseConnInfo: f.reverseURL(),
	})
	if err != nil {
		return err
	}
	env.say(event.Event{Phase: event.Done, Duration: res.FreezeWindow, Message: fmt.Sprintf(
		"Switched over group %s: the target is the primary now.\nWrites were frozen for %s (drained up to %s).",
		name, progress.Elapsed(res.FreezeWindow), res.DrainLSN)})
	if len(res.Missing) > 0 {
		env.say(event.Event{Phase: event.Note, Message: "The new primary lacks (--force):\n  " + strings.Join(res.Missing, "\n  ")})
	}
	sayReverse(env, name, res)
	// While the reverse stream runs, the source's writes would collide
	// with its rows: cleanup -r refuses until stop_sync has ended it.
	lift := "To lift the freeze on the source: pgvecrep cleanup -g %[1]s --restore-source-writes"
	if res.Reverse != nil {
		lift = "To lift the freeze on the source once you stay on the target: pgvecrep cleanup -g %[1]s --restore-source-writes (this ends the way back)"
	}
	env.say(event.Event{Phase: event.Note, Message: fmt.Sprintf(`The source stays frozen for writes, so a stray write there fails instead of being lost.
Next: run pgvecrep verify -g %[1]s now, before the application writes to the target (verify compares both sides as they are: rows written on the target after the switchover show as DIVERGENT), then point the application at the target.
`+lift, name)})
	return nil
}

func splitRoles(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

func runFailover(ctx context.Context, env *Env, args []string) error {
	var name string
	var gap int64
	var asJSON, reverse bool
	f := groupFlags(env, "failover", &name)
	f.Int64Var(&gap, "sequence-gap", switchover.DefaultSequenceGap, "how far past each column's largest value sequences are set")
	f.boolVar(&asJSON, "json", "", "print JSON")
	f.boolVar(&reverse, "reverse", "", "the target is gone after a switchover: the source takes over with what the reverse stream brought it")
	if err := f.parseOnce(args, &name); err != nil {
		return err
	}
	if reverse {
		return runReverseFailover(ctx, env, f, name, gap, asJSON)
	}
	s, err := f.open(ctx, nil, preamble{group: &name, target: required})
	if err != nil {
		return err
	}
	defer s.close()
	res, err := switchover.Failover(ctx, s.tgt, switchover.FailoverOptions{Group: name, SequenceGap: gap, Out: env.Stderr})
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(env.Stdout).Encode(res)
	}
	fmt.Fprintf(env.Stdout, "Failed over group %s: the target stands alone.\n", name)
	fmt.Fprintf(env.Stdout, "Last source position applied: %s\n", orDash(res.LastAppliedLSN))
	if res.LastMessageTime != nil {
		fmt.Fprintf(env.Stdout, "Source last heard from:       %s\n", res.LastMessageTime.Format(time.RFC3339))
	}
	for _, s := range res.Sequences {
		fmt.Fprintf(env.Stdout, "sequence %s\n", s)
	}
	fmt.Fprintf(env.Stdout, "\nThe old source still has replication slot %s, which keeps WAL until its disk is full.\nOnce it is back, run there:\n  %s\n", res.OrphanSlot, res.DropSlotSQL)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
