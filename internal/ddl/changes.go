package ddl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Change is one captured DDL statement and what became of it on the target.
type Change struct {
	ID         int64     `json:"id"`
	CapturedAt time.Time `json:"captured_at"`
	Tag        string    `json:"command_tag"`
	ObjectType string    `json:"object_type"`
	Object     string    `json:"object_identity"`
	Statement  string    `json:"statement"`
	SearchPath string    `json:"search_path"`
	Kind       string    `json:"kind"`
	Note       string    `json:"note,omitempty"`
	Deferred   bool      `json:"deferred_index,omitempty"`
	Role       string    `json:"role"`
	// Status is the target's: applied, recorded, deferred, built, resolved,
	// or pending while the entry has not reached the target.
	Status string `json:"status"`
}

const changesQuery = `SELECT id, captured_at, tag, object_type, object, statement, search_path, kind, note, deferred, role
FROM %s WHERE $1::bigint IS NULL OR id = $1 ORDER BY id DESC LIMIT $2`

// List returns the group's captured DDL, oldest first: the last limit
// entries, or only entry id when id > 0. Entries come from the source, which
// holds every one even while the target is stalled before it; with src nil
// (source unreachable) they come from the target's copy. Each carries the
// target's status.
func List(ctx context.Context, src, tgt *pgx.Conn, groupName string, id int64, limit int) ([]Change, error) {
	n := namesOf(group.ObjectName(groupName))
	from := src
	if from == nil {
		from = tgt
	}
	if ok, err := installed(ctx, from, n); err != nil || !ok {
		if err == nil {
			err = notInstalled(ctx, tgt, groupName)
		}
		return nil, err
	}
	var idArg *int64
	if id > 0 {
		idArg = &id
	}
	rows, err := from.Query(ctx, fmt.Sprintf(changesQuery, q(n.log)), idArg, limit)
	if err != nil {
		return nil, fmt.Errorf("list DDL changes of group %q: %w", groupName, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[changeRow])
	if err != nil {
		return nil, fmt.Errorf("list DDL changes of group %q: %w", groupName, err)
	}
	changes := make([]Change, len(out))
	for i, r := range out {
		changes[len(out)-1-i] = Change(r.change())
	}
	return changes, statuses(ctx, tgt, n, changes)
}

// notInstalled is the error for a group without DDL capture. Its hint
// starts the group with capture only when the group may be started: never
// after a switchover or failover, where start_sync would copy the old source
// over the new primary.
func notInstalled(ctx context.Context, tgt *pgx.Conn, groupName string) error {
	err := fmt.Errorf("list DDL changes of group %q: %w", groupName, errNotInstalled)
	g, gerr := group.Get(ctx, tgt, groupName)
	if gerr == nil && (g.Phase == group.SwitchedOver || g.Phase == group.FailedOver) {
		return hint.Wrap(err, "the group no longer replicates: its target is the primary now, and schema changes are made there directly")
	}
	return hint.Wrap(err, fmt.Sprintf("start the group with DDL capture: pgvecrep start_sync -g %s --ddl auto (or --track-ddl)", groupName))
}

// changeRow is a Change as the log table holds it (no status).
type changeRow struct {
	ID                                                         int64
	CapturedAt                                                 time.Time
	Tag, ObjectType, Object, Statement, SearchPath, Kind, Note string
	Deferred                                                   bool
	Role                                                       string
}

func (r changeRow) change() Change {
	return Change{ID: r.ID, CapturedAt: r.CapturedAt, Tag: r.Tag, ObjectType: r.ObjectType, Object: r.Object,
		Statement: r.Statement, SearchPath: r.SearchPath, Kind: r.Kind, Note: r.Note, Deferred: r.Deferred, Role: r.Role}
}

const statusQuery = `SELECT i, coalesce((SELECT 'resolved' FROM %[1]s r WHERE r.id = i),
	(SELECT nullif(l.status, '') FROM %[2]s l WHERE l.id = i), 'pending')
FROM unnest($1::bigint[]) i`

// statuses fills in each change's status on the target.
func statuses(ctx context.Context, tgt *pgx.Conn, n names, changes []Change) error {
	ids := make([]int64, len(changes))
	for i, c := range changes {
		ids[i] = c.ID
	}
	rows, err := tgt.Query(ctx, fmt.Sprintf(statusQuery, q(n.resolved), q(n.log)), ids)
	if err != nil {
		return fmt.Errorf("read DDL status on the target: %w", err)
	}
	byID := map[int64]string{}
	var id int64
	var st string
	_, err = pgx.ForEachRow(rows, []any{&id, &st}, func() error { byID[id] = st; return nil })
	if err != nil {
		return fmt.Errorf("read DDL status on the target: %w", err)
	}
	for i := range changes {
		changes[i].Status = byID[changes[i].ID]
	}
	return nil
}

// installed reports whether conn's side has the group's log table.
func installed(ctx context.Context, conn *pgx.Conn, n names) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, q(n.log)).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look up the DDL log: %w", err)
	}
	return ok, nil
}

// Done reports whether a status needs nothing more on the target.
func Done(status string) bool {
	return status == StatusApplied || status == StatusBuilt || status == StatusResolved
}

// Apply applies one change to the target by hand and records it as
// resolved, so the apply worker skips it when it reaches (or retries) it:
// pg_easy_replicate's apply_ddl_change. With skip, the user has already
// made the change on the target, and only the record is written. A deferred
// index is built concurrently instead (see settle.Settle). Afterwards the
// subscription's error counts are reset, so stats stops reporting failures
// that are over.
func Apply(ctx context.Context, tgt *pgx.Conn, groupName string, c Change, skip bool, out io.Writer) error {
	if Done(c.Status) {
		fmt.Fprintf(out, "DDL change %d is %s already\n", c.ID, c.Status)
		return nil
	}
	n := namesOf(group.ObjectName(groupName))
	tx, err := tgt.Begin(ctx)
	if err != nil {
		return fmt.Errorf("apply DDL change %d on the target: %w", c.ID, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	how := "skipped: made by hand"
	if !skip {
		if c.Kind == "manual" {
			return hint.New(fmt.Sprintf("DDL change %d cannot be replayed as recorded (%s): %s", c.ID, c.Note, c.Statement),
				fmt.Sprintf("make the same change on the target yourself, then run: pgvecrep apply_ddl_change -g %s -i %d --skip", groupName, c.ID))
		}
		if err := run(ctx, tx, c); err != nil {
			return err
		}
		how = "applied by apply_ddl_change"
	}
	if _, err := tx.Exec(ctx, "DELETE FROM "+q(n.resolved)+" WHERE id = $1", c.ID); err != nil {
		return fmt.Errorf("record DDL change %d as resolved: %w", c.ID, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+q(n.resolved)+" (id, how) VALUES ($1, $2)", c.ID, how); err != nil {
		return fmt.Errorf("record DDL change %d as resolved: %w", c.ID, err)
	}
	if _, err := tx.Exec(ctx, "UPDATE "+q(n.log)+" SET status = 'resolved', applied_at = now() WHERE id = $1", c.ID); err != nil {
		return fmt.Errorf("record DDL change %d as resolved: %w", c.ID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("apply DDL change %d on the target: %w", c.ID, err)
	}
	replication.ResetErrors(ctx, tgt, group.ObjectName(groupName))
	fmt.Fprintf(out, "DDL change %d %s: %s\n", c.ID, how, c.Statement)
	return nil
}

// run executes a change's statement in tx with the source's search_path.
func run(ctx context.Context, tx pgx.Tx, c Change) error {
	if _, err := tx.Exec(ctx, "SELECT set_config('search_path', $1, true)", c.SearchPath); err != nil {
		return fmt.Errorf("apply DDL change %d on the target: %w", c.ID, err)
	}
	if _, err := tx.Exec(ctx, c.Statement); err != nil {
		return hint.Wrap(fmt.Errorf("apply DDL change %d on the target: %w", c.ID, err),
			fmt.Sprintf("fix the target so the statement applies, or make the change yourself and mark it with --skip: %s", c.Statement))
	}
	return nil
}

// ErrNotFound says there is no change of that id.
var ErrNotFound = errors.New("no such DDL change")
