package initsync

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// ReplicaIdentityFull sets REPLICA IDENTITY FULL on each of tables that
// has no primary key and no replica identity (on a partitioned table, on it
// and its leaf partitions, where the rows are), on the source and on the
// target, marks them so in tables, and returns their names. It is
// start_sync --replica-identity-full: without it, once such a table is
// published an UPDATE or DELETE on it fails on the source. The target gets
// the same so that its schema stays the source's (verify compares replica
// identities), and so that it is ready to publish the table after a
// switchover.
//
// It runs before anything else is created and is not undone when start_sync
// fails or the group is cleaned up: the setting is the table's, harmless to
// replication, and a person may have wanted it anyway; ALTER TABLE ...
// REPLICA IDENTITY DEFAULT reverts it. Each side changes in one
// transaction, which waits at most lock_timeout for each table's lock.
func ReplicaIdentityFull(ctx context.Context, src, tgt *pgx.Conn, tables []catalog.Table) ([]pg.Name, error) {
	var keyless []catalog.Table
	var changed []pg.Name
	for _, t := range tables {
		if !t.Replicable() {
			keyless = append(keyless, t)
			changed = append(changed, t.Name)
		}
	}
	if len(keyless) == 0 {
		return nil, nil
	}
	for _, side := range []struct {
		conn *pgx.Conn
		name string
	}{{src, "source"}, {tgt, "target"}} {
		if err := pgx.BeginFunc(ctx, side.conn, func(tx pgx.Tx) error { return identityFull(ctx, tx, keyless) }); err != nil {
			return nil, hint.Wrap(fmt.Errorf("set REPLICA IDENTITY FULL on the %s: %w", side.name, err),
				"the connecting user must own the tables; a lock timeout means a long transaction holds one: run start_sync again once it ends")
		}
	}
	for i := range tables {
		if !tables[i].Replicable() {
			tables[i].ReplicaIdentity = "f"
		}
	}
	return changed, nil
}

func identityFull(ctx context.Context, tx pgx.Tx, tables []catalog.Table) error {
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '10s'"); err != nil {
		return err
	}
	for _, t := range tables {
		names := []pg.Name{t.Name}
		for _, p := range t.Parts {
			names = append(names, p.Name)
		}
		for _, n := range names {
			if _, err := tx.Exec(ctx, "ALTER TABLE "+n.Quoted()+" REPLICA IDENTITY FULL"); err != nil {
				return fmt.Errorf("table %s: %w", n, err)
			}
		}
	}
	return nil
}

// identityFull is Options.ReplicaIdentityFull, said in one line.
func (s *syncer) identityFull(ctx context.Context) error {
	changed, err := ReplicaIdentityFull(ctx, s.src, s.tgt, s.opts.Tables)
	if err != nil || len(changed) == 0 {
		return err
	}
	names := make([]string, len(changed))
	for i, n := range changed {
		names[i] = n.String()
	}
	s.say(event.Setup, "REPLICA IDENTITY FULL set on the source and the target on %s (ALTER TABLE ... REPLICA IDENTITY DEFAULT reverts it)",
		strings.Join(names, ", "))
	return nil
}
