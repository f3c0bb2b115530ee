package cli

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/initsync"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
)

func init() {
	register(&command{
		name:    "start_sync",
		summary: "create publication and subscription, copy the data, build indexes, stream",
		usage:   "--group-name GROUP [-s schema] [-t t1,t2 | -e t3] [--copy-mode fast|native] [--jobs N] [--index-memory SIZE] [--ddl auto|track|off | --track-ddl] [--replica-identity-full] [--follow [--listen :9187] [-u URL]]",
		help: `Start_sync runs config_check first and creates nothing when it fails. Then
it creates the publication (pgvecrep_<group>) on the source, copies the
tables, builds the target's indexes over the finished data, and blocks until
the group is streaming, printing progress.

--copy-mode fast (the default) is the quickest way to a consistent replica:
  1. the replication slot is created with an exported snapshot;
  2. the target tables lose their indexes, keys and foreign keys (their
     definitions are saved in the metadata first);
  3. --jobs workers stream COPY (FORMAT binary) from the source, under that
     snapshot, straight into COPY on the target; large tables are split into
     ctid ranges, partitioned tables into their leaf partitions, tables with
     a vector index to build first (text format when a vector extension's
     version differs between the sides, and the output says so); target
     triggers and row-level security do not change what the copy writes;
  4. a table's keys and indexes start as soon as its own copy ends, while
     other tables still copy (vector ones and the largest first, as many at
     once as the cores and max_parallel_maintenance_workers allow, sharing
     --index-memory; a vector build gets its parallel workers by the size
     of the whole table, TOAST included, where PostgreSQL would look at
     the main heap only and give a 768-d table none; an HNSW build gets
     the memory its graph needs, not its whole share; a vector index on a
     partitioned table is built leaf by leaf, each leaf sized by its own
     table, and then attached to the parent's index),
     foreign keys once both their tables are built (NOT VALID, with a
     note, when they reference a table outside the group); then ANALYZE;
  5. the subscription attaches to the slot without copying, so streaming
     starts exactly where the snapshot ends: nothing lost, nothing twice.

--copy-mode native lets the engine copy (copy_data = true), but still drops
the target's vector indexes (hnsw, ivfflat, and any index access method an
extension provides) before the copy and rebuilds them once every table is
ready: an HNSW graph built over finished data is ~9x faster than one grown
row by row, and an IVFFlat index built on an empty table has useless
centroids.

If it fails half way it removes what it created (slot included), restores the
indexes, and records the error on the group (see pgvecrep stats). A group left
half-done by a killed pgvecrep is cleaned up and started again by the next
start_sync.

Schema changes on the source (--ddl auto, the default when the source user
is a superuser) reach the target in stream order: see pgvecrep help
apply_ddl_change. A group of chosen tables (-t) follows those tables only;
a group of a whole schema (-s, with or without -e) follows every change
there, and a table created there joins it. --track-ddl (--ddl track)
records them only; --ddl off leaves them to you.

A table belongs to one group: start_sync refuses a table another group
replicates already (config_check names it).

A table without a primary key or replica identity (pgbench_history, event
and log tables) is replicated, with a warning: its inserts replicate, but
an UPDATE or DELETE on it would fail on the source once it is published,
so when the source's statistics show updates or deletes, start_sync
refuses it. --replica-identity-full sets REPLICA IDENTITY FULL on such
tables on the source first (each update and delete then writes the whole
old row to the WAL, and the target finds the row by scanning the table,
without an index); it stays after cleanup, and ALTER TABLE ... REPLICA
IDENTITY DEFAULT reverts it.

--follow keeps start_sync running once the group streams, as pgvecrep
follow: tables created on the source join the group with their rows,
vector indexes created there are built on the target, and the rows are
re-checked continuously, until the group is switched over or stopped, or
SIGTERM/Ctrl-C stops follow (the group keeps streaming; exit 0). Follow's
flags (--listen, -u/-f, --interval, --verify-rate, --verify-chunk-rows,
--verify-neighbour-every, --verify-keyless-rows) go with it: see pgvecrep help follow. Its exit
codes are follow's.

Example:
  pgvecrep start_sync --group-name database-cluster-1
  pgvecrep start_sync --group-name database-cluster-1 --follow --listen :9187
  pgvecrep start_sync --group-name database-cluster-1 --jobs 8 --index-memory 4GB`,
		run: runStartSync,
	})
}

func runStartSync(ctx context.Context, env *Env, args []string) error {
	var name, role, copyMode, indexMem string
	var jobs int
	var truncate, identityFull bool
	var tf tableFlags
	f := groupFlags(env, "start_sync", &name)
	f.stringVar(&role, "special-user-role", "", "", "role the connecting users belong to, when they are not superusers")
	f.choiceVar(&copyMode, "copy-mode", "", initsync.Fast, []string{initsync.Fast, initsync.Native}, "how the initial data is copied: fast (parallel binary COPY under an exported snapshot) or native (the engine's own copy)")
	f.stringVar(&indexMem, "index-memory", "", "", "memory budget for the index builds after the copy, shared by concurrent builds, e.g. 2GB (default: the target's maintenance_work_mem, at least 512MB, at most 2GB; printed)")
	f.intVar(&jobs, "jobs", "", runtime.NumCPU(), 1, "parallel copy workers (index builds run jobs/(1+max_parallel_maintenance_workers) at a time)")
	f.noteVar("recreate-indices-post-copy", "r", true, recreateIndicesNote)
	f.boolVar(&truncate, "truncate-target", "", "start a stopped or switched-over group again: empty its tables on the target and copy them anew")
	f.boolVar(&identityFull, "replica-identity-full", "", replicaIdentityFullUsage)
	tf.add(f, "s")
	var df ddlFlags
	df.add(f)
	var sf syncFollow
	sf.add(f)
	var mem int64
	began := time.Now()
	s, err := f.open(ctx, args, preamble{group: &name, source: required, target: required, load: true,
		check: func() (err error) {
			if err := sf.check(f); err != nil {
				return err
			}
			if mem, err = parseBytes(indexMem); err != nil {
				return hint.Wrap(fmt.Errorf("--index-memory: %w", err), "give a size such as 512MB or 2GB")
			}
			return nil
		}})
	if err != nil {
		return err
	}
	defer s.close()
	toEmpty, err := restartable(s.group, truncate)
	if err != nil {
		return err
	}
	emptied := group.QuotedNames(toEmpty)
	src, tgt := s.src, s.tgt
	saved, sel, err := recallSelection(ctx, env, f, tgt, name, &tf, &copyMode, &role)
	if err != nil {
		return err
	}
	env.onAbandon(startSyncLeftovers(name))
	env.onInterrupt(restartHint(f, name, saved))
	// A group a killed run left half-done is cleaned first: its partly
	// copied tables would fail the "target table is empty" check.
	if _, err := initsync.Recover(ctx, src, tgt, name, env.Stdout); err != nil {
		return err
	}
	report, err := runPreflight(ctx, env, f, tf, name, false, role, identityFull, true, emptied...)
	if err != nil {
		return err
	}
	if err := group.SaveSelection(ctx, tgt, name, sel); err != nil {
		return err
	}
	env.onInterrupt(restartHint(f, name, sel))
	if identityFull {
		if err := setIdentityFull(ctx, env, src, tgt, report.Tables); err != nil {
			return err
		}
	}
	if err := truncateTarget(ctx, env, tgt, s.group, emptied); err != nil {
		return err
	}
	ddlMode, err := df.resolve(ctx, env, f, src, tgt, name)
	if err != nil {
		return err
	}
	if err := ddl.SaveScope(ctx, tgt, name, tf.ddlScope()); err != nil {
		return err
	}
	err = initsync.Start(ctx, src, tgt, initsync.Options{
		Group:                name,
		Source:               s.srcCfg,
		Target:               s.tgtCfg,
		SubscriptionConnInfo: f.subscriptionURL(),
		Tables:               report.Tables,
		CopyMode:             copyMode,
		Out:                  env.Stdout,
		IndexMemory:          mem,
		Jobs:                 jobs,
		DDL:                  ddlMode,
	})
	if err != nil && ddlMode != ddl.Off {
		_ = ddl.Uninstall(context.WithoutCancel(ctx), src, tgt, group.ObjectName(name)) // best effort; cleanup removes it too
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "streaming after %s. Next: pgvecrep stats -g %s --watch, then pgvecrep verify -g %s\n",
		progress.Seconds(time.Since(began)), name, name)
	return sf.run(ctx, env, f, s, name)
}

// setIdentityFull is --replica-identity-full: REPLICA IDENTITY FULL on both
// sides on the tables without a key, said in one line.
func setIdentityFull(ctx context.Context, env *Env, src, tgt *pgx.Conn, tables []catalog.Table) error {
	changed, err := initsync.ReplicaIdentityFull(ctx, src, tgt, tables)
	if err != nil || len(changed) == 0 {
		return err
	}
	names := make([]string, len(changed))
	for i, n := range changed {
		names[i] = n.String()
	}
	fmt.Fprintf(env.Stdout, "REPLICA IDENTITY FULL set on the source and the target on %s (ALTER TABLE ... REPLICA IDENTITY DEFAULT reverts it)\n",
		strings.Join(names, ", "))
	return nil
}

// startSyncLeftovers is what an interrupted start_sync may leave when its
// rollback is cut short, and how to remove it.
func startSyncLeftovers(name string) string {
	obj := group.ObjectName(name)
	return fmt.Sprintf(`Group %[1]s may have left behind (some of it may already be gone):
  on the source: replication slot %[2]s, which holds WAL until it is dropped, and publication %[2]s
  on the target: subscription %[2]s, partly copied tables, and indexes and keys not rebuilt yet
Remove them with: pgvecrep cleanup -g %[1]s
(or run pgvecrep start_sync -g %[1]s again: it cleans the group up first and copies anew)`, name, obj)
}

// restartable decides, from the group's phase alone and before anything is
// read or changed, whether start_sync may run. A streaming group is refused
// in one line. A stopped or switched-over group's target tables hold the
// replica a person may still be using; starting again empties them and
// copies everything anew, so that takes --truncate-target. It returns the
// tables to empty.
func restartable(g group.Group, truncate bool) ([]pg.Name, error) {
	switch g.Phase {
	case group.Streaming:
		return nil, fmt.Errorf("group %s is already streaming; see pgvecrep stats -g %s", g.Name, g.Name)
	case group.Stopped, group.SwitchedOver, group.FailedOver:
	default:
		return nil, nil
	}
	if truncate {
		return g.Tables, nil
	}
	what := "is stopped"
	h := fmt.Sprintf("to do that, run pgvecrep start_sync -g %s --truncate-target", g.Name)
	if g.Phase != group.Stopped {
		what = "was " + strings.ReplaceAll(string(g.Phase), "_", " ") + ": the target has been the primary since, and writes made there will be lost"
		// No ready command here: after a cut-over, copying the old source
		// over the new primary is almost never what anyone wants.
		h = "the target is the primary for these tables now; only if every write made there since may be thrown away, add --truncate-target"
	}
	return nil, hint.Wrap(fmt.Errorf("group %s %s; starting it again empties its %s on the target and copies everything anew from the source",
		g.Name, what, plural(len(g.Tables), "table")), h)
}

// truncateTarget empties a restarted group's tables (quoted by
// group.QuotedNames) on the target, in one
// statement so foreign keys among them do not stand in the way, and moves
// the group back to bootstrapped, where start_sync begins.
func truncateTarget(ctx context.Context, env *Env, tgt *pgx.Conn, g group.Group, tables []string) error {
	if len(tables) == 0 {
		return nil
	}
	if _, err := tgt.Exec(ctx, "TRUNCATE "+strings.Join(tables, ", ")); err != nil {
		return hint.Wrap(fmt.Errorf("empty group %s's tables on the target: %w", g.Name, err),
			"a table outside the group may reference them with a foreign key; drop it or leave the table out")
	}
	fmt.Fprintf(env.Stdout, "emptied %s on the target: %s\n", plural(len(tables), "table"), strings.Join(tables, ", "))
	return group.SetPhase(ctx, tgt, g.Name, group.Bootstrapped)
}

// ddlScope is what the group's DDL capture follows: the tables -t names,
// or the whole schema (-s, with or without -e), where new tables join it.
func (t *tableFlags) ddlScope() ddl.Scope {
	if t.tables != "" {
		return ddl.TablesOnly
	}
	return ddl.WholeSchemas
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
