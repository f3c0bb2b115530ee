package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/initsync"
	"github.com/pgvecrep/pgvecrep/internal/replication"
	"github.com/pgvecrep/pgvecrep/internal/settle"
)

func init() {
	register(&command{
		name:    "list_ddl_changes",
		summary: "list the schema changes captured on the source, with their state on the target (JSON)",
		usage:   "--group-name GROUP [--limit N]",
		help: `List_ddl_changes prints the DDL statements captured on the source since
start_sync (--ddl auto or --track-ddl), oldest first, as a JSON array. Each
entry has its id, the statement, the search_path it ran with, and its status
on the target:

  applied   run by the apply worker, in stream order
  recorded  --track-ddl: waiting for apply_ddl_change
  deferred  a vector index, waiting for its concurrent build (apply_ddl_change)
  built     a deferred index, built
  resolved  applied or skipped by hand with apply_ddl_change
  pending   not reached the target yet (or the apply worker is stopped at it)

Example:
  pgvecrep list_ddl_changes --group-name database-cluster-1 --limit 20`,
		run: runListDDL,
	})
	register(&command{
		name:    "apply_ddl_change",
		summary: "apply captured schema changes to the target by hand; build deferred indexes; pick up new tables",
		usage:   "--group-name GROUP [-i ID [--skip]]",
		help: `Apply_ddl_change with -i runs one captured DDL statement on the target, with
the search_path it had on the source, and records it as resolved: when the
apply worker reaches it (or retries it, when the group is stalled at it) it
skips it and goes on. --skip records it without running anything, for a
change you have made on the target yourself. Nothing is lost while a group
is stalled: the apply worker retries the same transaction until the entry
is resolved.

Without -i it applies every change --track-ddl recorded and not applied
yet, in order. Either way it then finishes what the apply worker cannot do
inside its transaction:
  - tables created on the source in a whole-schema group's schemas join
    the subscription, which copies their rows (REFRESH PUBLICATION), once
    the apply worker has created them on the target (it waits up to a
    minute); a group of chosen tables (-t) gains none;
  - the group's table list follows created, renamed and dropped tables
    (while the group replicates: after a switchover it stays as it was);
  - vector indexes created on the source are built on the target with
    CREATE INDEX CONCURRENTLY, so replication never waits for them, with
    the memory and parallel workers start_sync would give them (at least
    512MB, at most 2GB unless maintenance_work_mem is set higher; an HNSW
    build gets what its graph needs). On a partitioned table, which
    CREATE INDEX CONCURRENTLY refuses, each partition is built concurrently
    and attached to the parent's index; a run that failed half way is
    taken up where it stopped.

Example:
  pgvecrep apply_ddl_change --group-name database-cluster-1
  pgvecrep apply_ddl_change --group-name database-cluster-1 -i 7 --skip`,
		run: runApplyDDL,
	})
}

func runListDDL(ctx context.Context, env *Env, args []string) error {
	var name string
	var limit int
	f := groupFlags(env, "list_ddl_changes", &name)
	f.intVar(&limit, "limit", "l", 100, 1, "at most this many changes, the latest")
	s, err := f.open(ctx, args, preamble{group: &name, source: optional, target: required, load: true})
	if err != nil {
		return err
	}
	defer s.close()
	changes, err := ddl.List(ctx, s.src, s.tgt, name, 0, limit)
	if err != nil {
		return err
	}
	if changes == nil {
		changes = []ddl.Change{}
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(changes)
}

func runApplyDDL(ctx context.Context, env *Env, args []string) error {
	var name string
	var id int
	var skip bool
	f := groupFlags(env, "apply_ddl_change", &name)
	f.intVar(&id, "id", "i", 0, 1, "the change to apply (see list_ddl_changes; default: every pending one)")
	f.boolVar(&skip, "skip", "", "with -i: record the change as made by hand, run nothing")
	s, err := f.open(ctx, args, preamble{group: &name, source: optional, target: required, lock: true,
		check: func() error {
			if skip && id == 0 {
				return &exitError{code: 2, err: hint.New("--skip needs -i", "name the change: pgvecrep apply_ddl_change -g GROUP -i ID --skip")}
			}
			return nil
		}})
	if err != nil {
		return err
	}
	defer s.close()
	if s.srcErr != nil {
		fmt.Fprintf(env.Stderr, "pgvecrep: source unreachable (%s); using the target's copy of the DDL log\n", oneLine(s.srcErr.Error()))
	}
	if id > 0 {
		err = applyOne(ctx, env, s, int64(id), skip)
	} else {
		err = applyRecorded(ctx, env, s)
	}
	if err != nil {
		return err
	}
	return settle.Settle(ctx, s.src, s.tgt, s.group, env.events())
}

// applyOne applies or skips change id.
func applyOne(ctx context.Context, env *Env, s *session, id int64, skip bool) error {
	changes, err := ddl.List(ctx, s.src, s.tgt, s.group.Name, id, 1)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		return hint.Wrap(fmt.Errorf("DDL change %d of group %q: %w", id, s.group.Name, ddl.ErrNotFound),
			"list them with: pgvecrep list_ddl_changes -g "+s.group.Name)
	}
	if changes[0].Status == ddl.StatusDeferred {
		return nil // built by Settle
	}
	return ddl.Apply(ctx, s.tgt, s.group.Name, changes[0], skip, env.Stdout)
}

// applyRecorded applies every change track mode recorded, in order, and
// says where a stalled group stopped.
func applyRecorded(ctx context.Context, env *Env, s *session) error {
	catchUp(ctx, s)
	changes, err := ddl.List(ctx, s.src, s.tgt, s.group.Name, 0, 1<<30)
	if err != nil {
		return err
	}
	for _, c := range changes {
		if c.Status == ddl.StatusRecorded {
			if err := ddl.Apply(ctx, s.tgt, s.group.Name, c, false, env.Stdout); err != nil {
				return err
			}
		}
	}
	return stalledAt(ctx, env, s, changes)
}

// catchUpWait bounds catchUp: a target far behind is not waited for
// longer; what has not arrived stays pending for the next run.
const catchUpWait = 30 * time.Second

// catchUp waits until the target has applied what the source has now, at
// most catchUpWait. A change is recorded on the target only when the apply
// worker brings its log row: apply_ddl_change run right after an ALTER
// TABLE on the source (as pg_easy_replicate's own scripts do) otherwise
// found it still pending, applied nothing and exited 0, and the switchover
// then refused. A stalled group is not waited for: it will not catch up.
func catchUp(ctx context.Context, s *session) {
	if s.src == nil {
		return
	}
	if h, err := replication.SubscriptionHealth(ctx, s.tgt, s.group.ObjectName); err != nil || h.Stalled {
		return
	}
	lsn, err := replication.WALEnd(ctx, s.src)
	if err != nil {
		return
	}
	_ = replication.WaitApplied(ctx, s.src, s.group.StreamNames(), lsn, time.Now().Add(catchUpWait), 0)
}

// stalledAt tells the user which change a stalled group waits for.
func stalledAt(ctx context.Context, env *Env, s *session, changes []ddl.Change) error {
	h, err := replication.SubscriptionHealth(ctx, s.tgt, s.group.ObjectName)
	if err != nil || !h.Stalled {
		return err
	}
	for _, c := range changes {
		if c.Status == ddl.StatusPending {
			fmt.Fprintf(env.Stdout, "the apply worker is stopped, most likely at DDL change %d: %s\n"+
				"run it on the target with: pgvecrep apply_ddl_change -g %s -i %d (or make it yourself and add --skip)\n",
				c.ID, c.Statement, s.group.Name, c.ID)
			break
		}
	}
	return nil
}

// ddlFlags are start_sync's and bootstrap's DDL flags.
type ddlFlags struct {
	mode  string
	track bool
}

func (d *ddlFlags) add(f *flags) {
	f.choiceVar(&d.mode, "ddl", "", ddl.Auto, []string{ddl.Auto, ddl.Track, ddl.Off}, "schema changes on the source: auto (applied on the target in stream order), track (recorded; apply with apply_ddl_change) or off")
	f.boolVar(&d.track, "track-ddl", "d", "record schema changes on the source without applying them (same as --ddl track)")
}

// resolve picks the DDL mode: --track-ddl, else --ddl when given, else
// what bootstrap recorded for the group, else auto when the source user
// may create event triggers (a superuser) and off, with a note, when not.
func (d *ddlFlags) resolve(ctx context.Context, env *Env, f *flags, src, tgt *pgx.Conn, name string) (string, error) {
	explicit := d.track
	f.Visit(func(fl *flag.Flag) { explicit = explicit || fl.Name == "ddl" })
	mode := d.mode
	if d.track {
		mode = ddl.Track
	}
	if err := ddl.CheckMode(mode); err != nil {
		return "", &exitError{code: 2, err: err}
	}
	mode, why, err := initsync.DDLMode(ctx, src, tgt, name, mode, explicit)
	if err != nil || why == nil {
		return mode, err
	}
	msg := "note: schema changes on the source will not reach the target (--ddl off): " + oneLine(why.Error())
	var h *hint.Error
	if errors.As(why, &h) {
		msg += "\n      " + h.Hint
	}
	env.say(event.Event{Phase: event.Note, Message: msg})
	return mode, nil
}

// recordMode keeps bootstrap's DDL choice for start_sync.
func (d *ddlFlags) recordMode(ctx context.Context, f *flags, tgt *pgx.Conn, g group.Group) error {
	explicit := d.track
	f.Visit(func(fl *flag.Flag) { explicit = explicit || fl.Name == "ddl" })
	if !explicit {
		return nil
	}
	mode := d.mode
	if d.track {
		mode = ddl.Track
	}
	if err := ddl.CheckMode(mode); err != nil {
		return &exitError{code: 2, err: err}
	}
	return ddl.SaveMode(ctx, tgt, g.Name, mode)
}
