package cli

import (
	"context"
	"fmt"
	"runtime"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/initsync"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

func init() {
	register(&command{
		name:    "start_sync",
		summary: "create publication and subscription, copy the data, build indexes, stream",
		usage:   "--group-name GROUP [-s schema] [-t t1,t2 | -e t3] [--copy-mode native]",
		help: `Start_sync runs config_check first and creates nothing when it fails. Then it
creates the publication and the replication slot on the source (both named
pgvecrep_<group>) and the subscription on the target, copies the tables, and
blocks until every table is streaming, printing progress.

The target's vector indexes (hnsw, ivfflat and any other index access method
an extension provides) on the replicated tables are dropped before the copy
and built again once every table is ready: an HNSW graph built over finished
data is ~9x faster than one grown row by row, and an IVFFlat index built on an
empty table has useless centroids. Their definitions are kept in the metadata
meanwhile, and the builds use a generous maintenance_work_mem and parallel
workers.

If it fails half way, it removes what it created, restores the indexes, and
records the error on the group (see pgvecrep stats). A group left half-done by
a killed pgvecrep is cleaned up and started again by the next start_sync.

Example:
  pgvecrep start_sync --group-name database-cluster-1`,
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
	f.stringVar(&copyMode, "copy-mode", "", initsync.Native, "how the initial data is copied: native (the engine's own copy)")
	f.stringVar(&indexMem, "index-memory", "", "", "maintenance_work_mem for index builds, e.g. 2GB (default: the larger of 1GB and the target's setting)")
	f.IntVar(&jobs, "jobs", runtime.NumCPU(), "parallel copy workers")
	tf.add(f)
	if err := f.parse(args); err != nil {
		return err
	}
	if err := requireGroup(c, name); err != nil {
		return err
	}
	mem, err := parseBytes(indexMem)
	if err != nil {
		return hint.Wrap(fmt.Errorf("--index-memory: %w", err), "give a size such as 512MB or 2GB")
	}
	srcURL, tgtURL := f.urls()
	srcCfg, err := pg.ParseConfig(pg.Source, srcURL)
	if err != nil {
		return err
	}
	tgtCfg, err := pg.ParseConfig(pg.Target, tgtURL)
	if err != nil {
		return err
	}
	report, err := runPreflight(ctx, env, f, tf, false, role, true)
	if err != nil {
		return err
	}
	src, err := pg.ConnectConfig(ctx, pg.Source, srcCfg)
	if err != nil {
		return err
	}
	defer src.Close(context.Background())
	tgt, err := pg.ConnectConfig(ctx, pg.Target, tgtCfg)
	if err != nil {
		return err
	}
	defer tgt.Close(context.Background())
	return initsync.Start(ctx, src, tgt, initsync.Options{
		Group:                name,
		Source:               srcCfg,
		Target:               tgtCfg,
		SubscriptionConnInfo: f.subscriptionURL(),
		Tables:               report.Tables,
		CopyMode:             copyMode,
		Out:                  env.Stdout,
		IndexMemory:          mem,
		Jobs:                 jobs,
	})
}
