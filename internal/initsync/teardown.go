package initsync

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/snapshot"
)

// Teardown undoes a start_sync that did not finish: subscription, slot and
// publication are dropped, the rows copied so far are truncated (preflight had
// found the tables empty), and the deferred indexes are built again on the
// empty tables, so the target looks as it did before the run.
func Teardown(ctx context.Context, src, tgt *pgx.Conn, g group.Group, p *progress.Printer) error {
	if err := Detach(ctx, src, tgt, g.ObjectName, p); err != nil {
		return err
	}
	if len(g.Tables) > 0 {
		if _, err := tgt.Exec(ctx, "TRUNCATE "+strings.Join(g.Tables, ", ")); err != nil {
			return fmt.Errorf("empty the partly copied tables on the target: %w", err)
		}
	}
	return RestoreDeferred(ctx, tgt, g.Name, p)
}

// Detach drops the subscription on the target and the slot and publication on
// the source, whichever exist. src may be nil when the source is unreachable:
// the subscription is then detached from its slot first, and the slot stays
// behind on the source (the caller must say so).
func Detach(ctx context.Context, src, tgt *pgx.Conn, name string, p *progress.Printer) error {
	if err := dropSubscription(ctx, tgt, name, p); err != nil {
		return err
	}
	if src == nil {
		return nil
	}
	if err := DropSlot(ctx, src, name, p); err != nil {
		return err
	}
	var exists bool
	if err := src.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up publication %s: %w", name, err)
	}
	if exists {
		if _, err := src.Exec(ctx, "DROP PUBLICATION IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("drop publication %s on the source: %w", name, err)
		}
		p.Printf("dropped publication %s on the source", name)
	}
	return nil
}

func dropSubscription(ctx context.Context, tgt *pgx.Conn, name string, p *progress.Printer) error {
	var exists bool
	if err := tgt.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1
		AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()))`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up subscription %s: %w", name, err)
	}
	if !exists {
		return nil
	}
	id := pgx.Identifier{name}.Sanitize()
	// Detaching the slot first means DROP SUBSCRIPTION never contacts the
	// source: the slot is dropped separately (DropSlot), or reported when the
	// source cannot be reached.
	for _, sql := range []string{"ALTER SUBSCRIPTION " + id + " DISABLE",
		"ALTER SUBSCRIPTION " + id + " SET (slot_name = NONE)", "DROP SUBSCRIPTION " + id} {
		if _, err := tgt.Exec(ctx, sql); err != nil {
			return fmt.Errorf("drop subscription %s on the target: %w", name, err)
		}
	}
	p.Printf("dropped subscription %s on the target", name)
	return nil
}

// DropSlot drops a replication slot on the source if it exists, ending the
// walsender still attached to it (a killed pgvecrep's replication connection
// may linger for a moment).
func DropSlot(ctx context.Context, src *pgx.Conn, name string, p *progress.Printer) error {
	var exists bool
	if err := src.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look up replication slot %s: %w", name, err)
	}
	if !exists {
		return nil
	}
	if err := snapshot.DropSlot(ctx, src, name); err != nil {
		return err
	}
	p.Printf("dropped replication slot %s on the source", name)
	return nil
}

// RestoreDeferred builds again every deferred object of the group that is not
// built yet, ignoring ones that already exist.
func RestoreDeferred(ctx context.Context, tgt *pgx.Conn, groupName string, p *progress.Printer) error {
	pending, err := group.PendingDeferred(ctx, tgt, groupName)
	if err != nil {
		return err
	}
	for _, d := range ordered(pending) {
		if _, err := tgt.Exec(ctx, d.Definition); err != nil && !alreadyExists(err) {
			return fmt.Errorf("restore %s %s: %w", d.Kind, d.Name, err)
		}
		if err := group.MarkBuilt(ctx, tgt, groupName, d); err != nil {
			return err
		}
		p.Printf("restored %s %s on %s", d.Kind, d.Name, d.Table)
	}
	return nil
}

func alreadyExists(err error) bool {
	c := pg.Code(err)
	return c == "42P07" || c == "42710" || c == "42P16"
}
