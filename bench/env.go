package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/localpg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Build settings every scenario uses: the clusters' own settings, what
// pgvecrep is told with --index-memory, and what the floor's builds get.
const (
	indexMemory        = 1 << 30
	indexMemoryFlag    = "1GB"
	maintenanceWorkers = 2
)

// settings are both clusters' server settings, identical for every scenario
// (the apply workers of the native scenarios inherit them). fsync,
// full_page_writes and synchronous_commit are off, as in every localpg
// cluster: the results file records it.
var settings = map[string]string{
	"shared_buffers":                    "1GB",
	"max_wal_size":                      "8GB",
	"checkpoint_timeout":                "30min",
	"maintenance_work_mem":              indexMemoryFlag,
	"max_parallel_maintenance_workers":  fmt.Sprint(maintenanceWorkers),
	"max_sync_workers_per_subscription": "2",
	"fsync":                             "off",
	"full_page_writes":                  "off",
	"synchronous_commit":                "off",
}

// clusters are the source and the target servers of a run.
type clusters struct {
	src, tgt *localpg.Cluster
}

// startClusters starts the two servers; on failure nothing is left running.
func startClusters(ctx context.Context) (*clusters, error) {
	bin, err := localpg.FindBinDir()
	if err != nil {
		return nil, err
	}
	if !localpg.HasVector(bin) {
		return nil, fmt.Errorf("pgvector is not installed for the server in %s; run make deps (scripts/install-deps.sh)", bin)
	}
	src, err := localpg.Start(ctx, localpg.Options{Settings: settings})
	if err != nil {
		return nil, fmt.Errorf("start source cluster: %w", err)
	}
	tgt, err := localpg.Start(ctx, localpg.Options{Settings: settings})
	if err != nil {
		_ = src.Stop()
		return nil, fmt.Errorf("start target cluster: %w", err)
	}
	return &clusters{src: src, tgt: tgt}, nil
}

// stop shuts both servers down and removes their directories.
func (c *clusters) stop() error {
	return errors.Join(c.src.Stop(), c.tgt.Stop())
}

// checkpoint flushes both servers, so a scenario does not pay for the dirty
// buffers of the one before.
func (c *clusters) checkpoint(ctx context.Context) error {
	for _, cl := range []*localpg.Cluster{c.src, c.tgt} {
		if err := cl.Exec(ctx, "postgres", "CHECKPOINT"); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
}

// prepareTarget creates a fresh target database with what kind says: the
// dataset's tables with or without their keys and indexes, or nothing.
func (c *clusters) prepareTarget(ctx context.Context, db string, d dataset, kind targetKind) error {
	if err := c.tgt.CreateDB(ctx, db); err != nil {
		return fmt.Errorf("create target database %s: %w", db, err)
	}
	if kind == targetEmpty {
		return nil
	}
	sqls := []string{"CREATE EXTENSION vector"}
	for _, t := range d.Tables {
		if kind == targetBare {
			sqls = append(sqls, t.bareSQL())
		} else {
			sqls = append(sqls, t.createSQL()...)
		}
	}
	conn, err := c.tgt.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := execAll(ctx, conn, sqls); err != nil {
		return fmt.Errorf("prepare target database %s: %w", db, err)
	}
	return nil
}

// detach removes every subscription of the target database and every
// publication and replication slot of the source database, whoever left
// them there, so the next scenario starts clean and the target can be dropped.
func (c *clusters) detach(ctx context.Context, srcDB, tgtDB string) error {
	tgt, err := c.tgt.Connect(ctx, tgtDB)
	if err != nil {
		return err
	}
	defer tgt.Close(context.WithoutCancel(ctx))
	subs, err := names(ctx, tgt, `SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		return err
	}
	for _, s := range subs {
		id := ident(s)
		err := execAll(ctx, tgt, []string{"ALTER SUBSCRIPTION " + id + " DISABLE",
			"ALTER SUBSCRIPTION " + id + " SET (slot_name = NONE)", "DROP SUBSCRIPTION " + id})
		if err != nil {
			return fmt.Errorf("drop subscription %s: %w", s, err)
		}
	}
	src, err := c.src.Connect(ctx, srcDB)
	if err != nil {
		return err
	}
	defer src.Close(context.WithoutCancel(ctx))
	pubs, err := names(ctx, src, "SELECT pubname FROM pg_publication")
	if err != nil {
		return err
	}
	for _, p := range pubs {
		if _, err := src.Exec(ctx, "DROP PUBLICATION "+ident(p)); err != nil {
			return fmt.Errorf("drop publication %s: %w", p, err)
		}
	}
	return dropSlots(ctx, src)
}

// dropSlots drops the source database's replication slots, ending the
// walsenders that still hold them (a disabled subscription's sender takes a
// moment to notice): replication.DropSlot waits for each.
func dropSlots(ctx context.Context, src *pgx.Conn) error {
	slots, err := names(ctx, src, `SELECT slot_name::text FROM pg_replication_slots WHERE database = current_database()`)
	if err != nil {
		return fmt.Errorf("list replication slots: %w", err)
	}
	for _, s := range slots {
		if err := replication.DropSlot(ctx, src, s); err != nil {
			return err
		}
	}
	return nil
}

func names(ctx context.Context, conn *pgx.Conn, sql string) ([]string, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// verify checks that a scenario left the target with the source's rows and
// every key and index valid: a fast result that lost data is no result.
func (c *clusters) verify(ctx context.Context, d dataset, srcDB, tgtDB string) error {
	src, err := c.src.Connect(ctx, srcDB)
	if err != nil {
		return err
	}
	defer src.Close(context.WithoutCancel(ctx))
	tgt, err := c.tgt.Connect(ctx, tgtDB)
	if err != nil {
		return err
	}
	defer tgt.Close(context.WithoutCancel(ctx))
	const indexes = `SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass AND indisvalid`
	const fks = `SELECT count(*) FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f' AND convalidated`
	for _, t := range d.Tables {
		var want, got, idx, fk int64
		if err := src.QueryRow(ctx, "SELECT count(*) FROM "+ident(t.Name)).Scan(&want); err != nil {
			return fmt.Errorf("count source rows of %s: %w", t.Name, err)
		}
		if err := tgt.QueryRow(ctx, "SELECT count(*) FROM "+ident(t.Name)).Scan(&got); err != nil {
			return fmt.Errorf("count target rows of %s: %w", t.Name, err)
		}
		if err := tgt.QueryRow(ctx, indexes, ident(t.Name)).Scan(&idx); err != nil {
			return fmt.Errorf("count target indexes of %s: %w", t.Name, err)
		}
		if err := tgt.QueryRow(ctx, fks, ident(t.Name)).Scan(&fk); err != nil {
			return fmt.Errorf("count target foreign keys of %s: %w", t.Name, err)
		}
		if got != want || idx != int64(1+len(t.Indexes)) || fk != int64(len(t.FKs)) {
			return fmt.Errorf("target table %s has %d rows, %d valid indexes and %d valid foreign keys; want %d, %d and %d",
				t.Name, got, idx, fk, want, 1+len(t.Indexes), len(t.FKs))
		}
	}
	return nil
}
