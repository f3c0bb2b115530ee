package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/initsync"
)

func init() {
	register(&command{
		name:    "start_sync",
		summary: "create publication and subscription, copy the data, build indexes, stream",
		usage:   "--group-name GROUP [-s schema] [-t t1,t2 | -e t3] [--copy-mode fast|native] [--jobs N] [--index-memory SIZE] [--ddl auto|track|off | --track-ddl]",
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
     ctid ranges, largest first (text format when a vector extension's version
     differs between the sides, and the output says so);
  4. keys, then indexes (vector ones and the largest first, several at once
     within --index-memory), then foreign keys are built; then ANALYZE;
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
apply_ddl_change. --track-ddl (--ddl track) records them only; --ddl off
leaves them to you.

Example:
  pgvecrep start_sync --group-name database-cluster-1
  pgvecrep start_sync --group-name database-cluster-1 --jobs 8 --index-memory 4GB`,
		run: runStartSync,
	})
}

func runStartSync(ctx context.Context, env *Env, args []string) error {
	c := commands["start_sync"]
	f := newFlags(env, c)
	var name, role, copyMode, indexMem string
	var jobs int
	var tf tableFlags
	f.stringVar(&name, "group-name", "g", "", "name of the replication group")
	f.stringVar(&role, "special-user-role", "", "", "role the connecting users belong to, when they are not superusers")
	f.stringVar(&copyMode, "copy-mode", "", initsync.Fast, "how the initial data is copied: fast (parallel binary COPY under an exported snapshot) or native (the engine's own copy)")
	f.stringVar(&indexMem, "index-memory", "", "", "memory budget for the index builds after the copy, shared by concurrent builds, e.g. 2GB (default: the target's maintenance_work_mem, at least 512MB, at most 2GB; printed)")
	f.IntVar(&jobs, "jobs", runtime.NumCPU(), "parallel copy workers (index builds run jobs/(1+max_parallel_maintenance_workers) at a time)")
	tf.add(f)
	var df ddlFlags
	df.add(f)
	var mem int64
	s, err := f.open(ctx, args, preamble{group: &name, source: required, target: required,
		check: func() (err error) {
			if mem, err = parseBytes(indexMem); err != nil {
				return hint.Wrap(fmt.Errorf("--index-memory: %w", err), "give a size such as 512MB or 2GB")
			}
			return nil
		}})
	if err != nil {
		return err
	}
	defer s.close()
	env.onAbandon(startSyncLeftovers(name))
	src, tgt := s.src, s.tgt
	// A group a killed run left half-done is cleaned first: its partly
	// copied tables would fail the "target table is empty" check.
	if _, err := initsync.Recover(ctx, src, tgt, name, env.Stdout); err != nil {
		return err
	}
	report, err := runPreflight(ctx, env, f, tf, false, role, true)
	if err != nil {
		return err
	}
	ddlMode, err := df.resolve(ctx, env, f, src, tgt, name)
	if err != nil {
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
	if err != nil && (src.IsClosed() || tgt.IsClosed()) {
		finishRollback(env, f, name, err)
	} else if err != nil && ddlMode != ddl.Off {
		_ = ddl.Uninstall(context.WithoutCancel(ctx), src, tgt, group.ObjectName(name)) // best effort; cleanup removes it too
	}
	return err
}

// finishRollback redoes start_sync's rollback on new connections. A Ctrl-C
// that lands while a statement runs makes pgx close that connection, and the
// rollback, which reuses it, then fails at its first statement and leaves
// the slot behind. The group's lock went with the closed session, so
// Recover can claim it again. It runs on a context of its own: the command's
// is cancelled already.
func finishRollback(env *Env, f *flags, name string, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fmt.Fprintln(env.Stdout, "the rollback lost its connection; finishing it on a new one")
	s, err := f.open(ctx, nil, preamble{source: required, target: required})
	if err == nil {
		defer s.close()
		_, err = initsync.Recover(ctx, s.src, s.tgt, name, env.Stdout)
	}
	if err == nil {
		if errors.Is(cause, context.Canceled) {
			cause = errors.New("interrupted") // as initsync records it
		}
		err = group.Fail(ctx, s.tgt, name, cause)
	}
	if err != nil {
		fmt.Fprintf(env.Stdout, "finish the rollback: %s\n%s\n", oneLine(err.Error()), startSyncLeftovers(name))
	}
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
