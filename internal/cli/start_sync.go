package cli

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/initsync"
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
the group is streaming, printing progress. With pgvecrep --log-format json
start_sync ..., each step is one JSON object per line on stdout instead
(phase, table, index, rows, bytes, seconds, msg; see README, "Logging and
events").

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
	var jobs, applyWorkers int
	var truncate, identityFull bool
	var tf tableFlags
	f := groupFlags(env, "start_sync", &name)
	f.stringVar(&role, "special-user-role", "", "", "role the connecting users belong to, when they are not superusers")
	f.choiceVar(&copyMode, "copy-mode", "", initsync.Fast, []string{initsync.Fast, initsync.Native}, "how the initial data is copied: fast (parallel binary COPY under an exported snapshot) or native (the engine's own copy)")
	f.stringVar(&indexMem, "index-memory", "", "", "memory budget for the index builds after the copy, shared by concurrent builds, e.g. 2GB (default: the target's maintenance_work_mem, at least 512MB, at most 2GB; printed)")
	f.intVar(&jobs, "jobs", "", runtime.NumCPU(), 1, "parallel copy workers (index builds run jobs/(1+max_parallel_maintenance_workers) at a time)")
	f.intVar(&applyWorkers, "apply-workers", "", 1, 1, applyWorkersUsage)
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
	// The restart rule before anything is read or changed; Start applies
	// it again under the group's lock.
	toEmpty, err := initsync.Admit(s.group, truncate)
	if err != nil {
		return err
	}
	src, tgt := s.src, s.tgt
	saved, sel, err := recallSelection(ctx, env, f, tgt, name, &tf, &copyMode, &role)
	if err != nil {
		return err
	}
	env.onAbandon(startSyncLeftovers(name))
	env.onInterrupt(restartHint(f, name, saved))
	// A group a killed run left half-done is cleaned first: its partly
	// copied tables would fail the "target table is empty" check.
	if _, err := initsync.Recover(ctx, src, tgt, name, env.events()); err != nil {
		return err
	}
	report, err := runPreflight(ctx, env, f, tf, name, false, role, identityFull, true, applyWorkers, catalog.QuotedNames(toEmpty)...)
	if err != nil {
		return err
	}
	ddlMode, err := df.resolve(ctx, env, f, src, tgt, name)
	if err != nil {
		return err
	}
	if ddlMode, err = parallelDDL(env, f, ddlMode, applyWorkers); err != nil {
		return err
	}
	env.onInterrupt(restartHint(f, name, sel))
	err = initsync.Start(ctx, src, tgt, initsync.Options{
		Group:                name,
		Source:               s.srcCfg,
		Target:               s.tgtCfg,
		SubscriptionConnInfo: f.subscriptionURL(),
		Tables:               report.Tables,
		CopyMode:             copyMode,
		Events:               env.events(),
		IndexMemory:          mem,
		Jobs:                 jobs,
		DDL:                  ddlMode,
		DDLScope:             tf.ddlScope(),
		Truncate:             truncate,
		Selection:            &sel,
		ReplicaIdentityFull:  identityFull,
		ApplyStreams:         applyWorkers,
	})
	if err != nil {
		return err
	}
	took := time.Since(began)
	env.say(event.Event{Phase: event.Done, Duration: took, Message: fmt.Sprintf("streaming after %s. Next: pgvecrep stats -g %s --watch, then pgvecrep verify -g %s",
		progress.Seconds(took), name, name)})
	return sf.run(ctx, env, f, s, name)
}

const applyWorkersUsage = "apply streams on the target (publication, slot and subscription each): the tables with a vector index are spread across them by a hash of their key, so N apply workers index at once; costs a WAL sender decoding the whole WAL per stream on the source (default 1: the engine's one worker)"

// parallelDDL is the DDL mode with several apply streams: a schema change
// is applied in stream 0's order only, while the other streams may still
// be behind it (a dropped column their rows still carry) or ahead of it,
// so changes are recorded (track), not applied; --ddl auto is refused.
func parallelDDL(env *Env, f *flags, mode string, streams int) (string, error) {
	if streams <= 1 || mode != ddl.Auto {
		return mode, nil
	}
	explicit := false
	f.Visit(func(fl *flag.Flag) { explicit = explicit || fl.Name == "ddl" })
	if explicit {
		return "", &exitError{code: 2, err: hint.New("--ddl auto cannot go with --apply-workers above 1: a schema change would be applied in one stream's order while the others are still behind it or ahead",
			"use --ddl track (changes are recorded; pgvecrep apply_ddl_change applies them) or --ddl off")}
	}
	env.say(event.Event{Phase: event.Note, Message: fmt.Sprintf("note: with %d apply streams, schema changes on the source are recorded, not applied (--ddl track): one stream cannot keep them in order with the others' rows; see pgvecrep apply_ddl_change", streams)})
	return ddl.Track, nil
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
