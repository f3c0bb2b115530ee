package postdata

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// RestoreDeferred builds again, one at a time and in build order, every
// object start_sync deferred for the group and did not build, ignoring ones
// that exist already. It is for undoing a run (stop_sync, cleanup, a failed
// start_sync), where the tables are small or empty and a plain sequential
// rebuild is enough; each object is marked built, so a rerun skips it.
func RestoreDeferred(ctx context.Context, tgt *pgx.Conn, groupName string, p event.Sink) error {
	pending, err := group.PendingDeferred(ctx, tgt, groupName)
	if err != nil {
		return err
	}
	// In build order (Sort), so a foreign key finds the key it references.
	Sort(pending)
	for _, d := range pending {
		if _, err := tgt.Exec(ctx, d.Def); err != nil && !alreadyExists(err) {
			return fmt.Errorf("restore %s %s: %w", d.Kind, d.Name, err)
		}
		if err := runRestore(ctx, tgt, d.Restore); err != nil {
			return fmt.Errorf("restore %s %s: %w", d.Kind, d.Name, err)
		}
		if err := group.MarkBuilt(ctx, tgt, groupName, d); err != nil {
			return err
		}
		p.Emit(event.Event{Phase: event.Undo, Table: d.Table.String(), Index: d.Name,
			Message: fmt.Sprintf("restored %s %s on %s", d.Kind, d.Name, d.Table)})
	}
	return nil
}

// runRestore runs an object's restore statements (Object.Restore), once
// its definition has built it: every time, also for an object found built
// already, since a crash may have come between the two.
func runRestore(ctx context.Context, conn *pgx.Conn, stmts []string) error {
	for _, sql := range stmts {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("restore what its definition leaves out (%s): %w", sql, err)
		}
	}
	return nil
}

// alreadyExists reports the errors of an object that is there already:
// duplicate table/index (42P07), duplicate object (42710), or a table that
// has a primary key already (42P16).
func alreadyExists(err error) bool {
	c := pg.Code(err)
	return c == "42P07" || c == "42710" || c == "42P16"
}
