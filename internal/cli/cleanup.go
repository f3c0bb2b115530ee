package cli

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/parallel"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
	"github.com/pgvecrep/pgvecrep/internal/replication"
	"github.com/pgvecrep/pgvecrep/internal/switchover"
)

func init() {
	register(&command{
		name:    "cleanup",
		summary: "stop a group and remove its metadata; --everything removes all pgvecrep objects",
		usage:   "--group-name GROUP [-s|--sync] [-r|--restore-source-writes [--force]] | -e|--everything",
		help: `Cleanup does what stop_sync does and also removes the group's metadata from
the target. With --everything it removes every object pgvecrep ever created
on both sides, for every group: subscriptions, replication slots and
publications named pgvecrep_*, the DDL capture (event triggers, log
tables), write freezes, and the pgvecrep schema.
Replicated data and tables are never dropped.

--restore-source-writes does only one thing: it lifts the write freeze that
switchover puts on the source's tables (left in place after a switchover, or
by a pgvecrep that was killed mid-switchover); pg_easy_replicate's
-r/--restore-connection-on-source-db means the same. With --group-name it
lifts only that group's freeze, and other groups' tables stay frozen;
without, every group's. While a switchover's reverse stream still brings
the target's writes to the source, rows written on the source would collide
with the rows that stream brings: with --group-name it ends that group's
way back first, on both sides, as stop_sync does (we stay on the target;
to return instead, pgvecrep switchback -g GROUP); without, it refuses.
--force lifts the freeze and leaves the reverse stream running.

With -s/--sync the group only stops replicating (as stop_sync) and keeps
its metadata. -e/--everything needs no --group-name.

Example:
  pgvecrep cleanup --group-name database-cluster-1
  pgvecrep cleanup --restore-source-writes --group-name database-cluster-1
  pgvecrep cleanup -g database-cluster-1 --sync
  pgvecrep cleanup --everything`,
		run: runCleanup,
	})
}

func runCleanup(ctx context.Context, env *Env, args []string) error {
	c := commands["cleanup"]
	f := newFlags(env, c)
	var name string
	var everything, restore, syncOnly, force bool
	f.stringVar(&name, "group-name", "g", "", "name of the replication group")
	f.boolVar(&everything, "everything", "e", "remove all pgvecrep objects of all groups on both sides")
	f.boolVar(&syncOnly, "sync", "s", "only stop the group's replication (as stop_sync); keep its metadata")
	f.boolVar(&restore, "restore-source-writes", "r", "lift a write freeze left on the source by switchover")
	// pg_easy_replicate's spelling of -r.
	f.Var(f.Lookup("restore-source-writes").Value, "restore-connection-on-source-db", "same as --restore-source-writes")
	f.boolVar(&force, "force", "", "with --restore-source-writes: lift the freeze although a switchover's reverse stream still writes to the source")
	if err := f.parse(args); err != nil {
		return err
	}
	switch {
	case everything: // includes lifting the freeze
		s, err := f.open(ctx, nil, preamble{source: optional, target: required})
		if err != nil {
			return err
		}
		defer s.close()
		return cleanupEverything(ctx, env, s.src, s.srcErr, s.tgt)
	case restore && !syncOnly:
		return restoreSourceWrites(ctx, env, f, name, force)
	}
	if err := cleanupGroup(ctx, env, f, name, syncOnly); err != nil {
		return err
	}
	if restore {
		return restoreSourceWrites(ctx, env, f, name, force)
	}
	return nil
}

// cleanupGroup stops a group and, unless syncOnly, removes its metadata.
func cleanupGroup(ctx context.Context, env *Env, f *flags, name string, syncOnly bool) error {
	s, err := f.open(ctx, nil, preamble{group: &name, source: optional, target: required, lock: true})
	if err != nil {
		return err
	}
	defer s.close()
	if err := stopGroup(ctx, env, s.src, s.srcErr, s.tgt, s.group); err != nil {
		return err
	}
	if syncOnly {
		env.say(event.Event{Phase: event.Done, Message: fmt.Sprintf("Group %s: replication stopped; its metadata stays.", name)})
		return nil
	}
	src := s.src
	if s.srcErr != nil {
		src = nil // stopGroup has said the source is unreachable
	}
	if err := ddl.Uninstall(ctx, src, s.tgt, s.group.ObjectName); err != nil {
		return err
	}
	// A switchback froze the target for applications; without the group
	// nothing would ever lift that.
	if n, err := switchover.UnfreezeGroup(ctx, s.tgt, name); err != nil {
		return err
	} else if n > 0 {
		fmt.Fprintf(env.Stdout, "lifted the write freeze on %d table(s) on the target\n", n)
	}
	if err := group.Delete(ctx, s.tgt, name); err != nil {
		return err
	}
	env.say(event.Event{Phase: event.Done, Message: fmt.Sprintf("Group %s is cleaned up.", name)})
	return nil
}

// cleanupEverything removes every pgvecrep-named object on both sides.
func cleanupEverything(ctx context.Context, env *Env, src *pgx.Conn, srcErr error, tgt *pgx.Conn) error {
	if srcErr != nil {
		return hint.Wrap(srcErr, "cleanup --everything needs the source too: its slots hold WAL until dropped")
	}
	p := env.events()
	names, err := replication.Names(ctx, src, tgt)
	if err != nil {
		return err
	}
	groups, err := group.List(ctx, tgt)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if err := postdata.RestoreDeferred(ctx, tgt, g, p); err != nil {
			return err
		}
	}
	for _, n := range names {
		if err := replication.Detach(ctx, src, tgt, n, p); err != nil {
			return err
		}
	}
	if err := switchover.DropAllReverse(ctx, src, tgt, p); err != nil {
		return err
	}
	if n, err := parallel.UnguardAll(ctx, src); err != nil {
		return err
	} else if n > 0 {
		p.Emit(event.Event{Phase: event.Undo, Message: fmt.Sprintf("dropped %d parallel apply guard trigger(s) on the source", n)})
	}
	if n, err := ddl.UninstallAll(ctx, src); err != nil {
		return err
	} else if n > 0 {
		p.Emit(event.Event{Phase: event.Undo, Message: fmt.Sprintf("dropped %d DDL capture event trigger(s) on the source", n)})
	}
	if n, err := switchover.Unfreeze(ctx, src); err != nil {
		return err
	} else if n > 0 {
		p.Emit(event.Event{Phase: event.Undo, Message: fmt.Sprintf("lifted the write freeze on %d table(s) on the source", n)})
	}
	if n, err := switchover.Unfreeze(ctx, tgt); err != nil { // a switchback's
		return err
	} else if n > 0 {
		p.Emit(event.Event{Phase: event.Undo, Message: fmt.Sprintf("lifted the write freeze on %d table(s) on the target", n)})
	}
	if err := group.DropSchema(ctx, tgt); err != nil {
		return fmt.Errorf("drop schema pgvecrep: %w", err)
	}
	env.say(event.Event{Phase: event.Done, Message: "Removed all pgvecrep objects."})
	return nil
}

// restoreSourceWrites lifts switchover's write freeze on the source: the
// group's alone when one is named, so lifting a failed switchover's freeze
// never reopens another group's finished one, else every group's.
//
// While a switchover's reverse stream runs into the source, it refuses
// unless force (see switchover.RestoreSourceWrites).
func restoreSourceWrites(ctx context.Context, env *Env, f *flags, name string, force bool) error {
	s, err := f.open(ctx, nil, preamble{source: required})
	if err != nil {
		return err
	}
	defer s.close()
	if !force && name != "" {
		if err := endWayBack(ctx, env, f, s.src, name); err != nil {
			return err
		}
	}
	n, following, err := switchover.RestoreSourceWrites(ctx, s.src, name, force)
	if err != nil {
		return err
	}
	for _, sub := range following {
		env.say(event.Event{Phase: event.Note, Message: fmt.Sprintf("warning: --force: the source still follows the target through %s; rows written on the source now can collide with the rows it brings", sub)})
	}
	if name != "" {
		env.say(event.Event{Phase: event.Done, Message: fmt.Sprintf("Writes allowed again on %d table(s) of the source frozen for group %s.", n, name)})
		return nil
	}
	env.say(event.Event{Phase: event.Done, Message: fmt.Sprintf("Writes allowed again on %d table(s) of the source.", n)})
	return nil
}

// endWayBack is cleanup -g G -r after a switchover that left a way back:
// writes on the source mean the group stays on the target, so the reverse
// stream goes first (on both sides, as stop_sync ends it), and
// pg_easy_replicate's switchover-then-cleanup -r keeps working. Without a
// reverse stream it does nothing and connects to nothing more.
func endWayBack(ctx context.Context, env *Env, f *flags, src *pgx.Conn, name string) error {
	following, err := switchover.ReverseFollowing(ctx, src, name)
	if err != nil || len(following) == 0 {
		return err
	}
	tgt, _, err := f.dial(ctx, pg.Target)
	if err != nil {
		return hint.Wrap(fmt.Errorf("end the way back of group %s before lifting the source's freeze: %w", name, err),
			"the target must be reachable to drop the reverse slot; --force lifts the freeze and leaves the reverse stream running")
	}
	defer tgt.Close(context.WithoutCancel(ctx))
	if _, err := switchover.DropReverse(ctx, src, tgt, name, env.events()); err != nil {
		return err
	}
	env.say(event.Event{Phase: event.Detach, Message: fmt.Sprintf("Ended group %s's way back: the source takes writes again, so it no longer follows the target (switchback is no longer possible).", name)})
	return nil
}
