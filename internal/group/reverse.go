package group

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reverse is a group's way back after a switchover: a publication and a
// slot on the new primary (the old target) and a subscription on the old
// primary (the old source), all named ReverseName(group), through which the
// old primary follows the new one until switchback or until the user
// decides to stay. The record lives with the group on the target, the side
// that is the primary while the reverse stream exists.
type Reverse struct {
	Group      string
	ObjectName string
	// StartLSN is the new primary's position at which the reverse stream
	// starts: the slot's consistent point, taken after the final drain and
	// before the switchover let any application write reach the new primary.
	StartLSN  string
	State     ReverseState
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ReverseState is where a group's reverse stream stands.
type ReverseState string

// The reverse states. A stream is Preparing from the moment its slot
// exists until its subscription does; Streaming while the old primary
// follows the new one; Detaching once switchback has drained it and made
// the forward slot, so that a rerun only completes the detach;
// SwitchedBack once switchback has returned to the old primary and removed
// it.
const (
	ReversePreparing    ReverseState = "preparing"
	ReverseStreaming    ReverseState = "streaming"
	ReverseDetaching    ReverseState = "detaching"
	ReverseSwitchedBack ReverseState = "switched_back"
)

// ReverseName is the name of a group's reverse publication, slot and
// subscription: the forward name (at most 58 bytes) and a suffix, within
// the 63 bytes PostgreSQL allows.
func ReverseName(group string) string { return ObjectName(group) + "_rev" }

// addReverseTable is the migration "add reverse"; SetReverse also runs it
// for metadata an earlier version wrote and nothing has migrated yet.
const addReverseTable = `CREATE TABLE IF NOT EXISTS pgvecrep.reverse (
    group_name  text PRIMARY KEY REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    object_name text NOT NULL,
    start_lsn   text NOT NULL DEFAULT '',
    state       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
)`

// SetReverse records a group's reverse stream, replacing the one before.
func SetReverse(ctx context.Context, conn *pgx.Conn, r Reverse) error {
	if _, err := conn.Exec(ctx, addReverseTable); err != nil {
		return fmt.Errorf("record the reverse stream of group %q: %w", r.Group, err)
	}
	_, err := conn.Exec(ctx, `INSERT INTO pgvecrep.reverse (group_name, object_name, start_lsn, state)
		VALUES ($1, $2, $3, $4) ON CONFLICT (group_name) DO UPDATE
		SET object_name = EXCLUDED.object_name, start_lsn = EXCLUDED.start_lsn, state = EXCLUDED.state,
		    created_at = now(), updated_at = now()`, r.Group, r.ObjectName, r.StartLSN, string(r.State))
	if err != nil {
		return fmt.Errorf("record the reverse stream of group %q: %w", r.Group, err)
	}
	return nil
}

// SetReverseState moves a group's reverse stream to state.
func SetReverseState(ctx context.Context, conn *pgx.Conn, group string, state ReverseState) error {
	_, err := conn.Exec(ctx, `UPDATE pgvecrep.reverse SET state = $2, updated_at = now() WHERE group_name = $1`, group, string(state))
	if err != nil {
		return fmt.Errorf("set the reverse stream of group %q to %s: %w", group, state, err)
	}
	return nil
}

// GetReverse reads a group's reverse stream; ok is false when it has none
// (or the metadata predates reverse streams).
func GetReverse(ctx context.Context, conn *pgx.Conn, group string) (r Reverse, ok bool, err error) {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('pgvecrep.reverse') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return r, false, err
	}
	var state string
	err = conn.QueryRow(ctx, `SELECT group_name, object_name, start_lsn, state, created_at, updated_at
		FROM pgvecrep.reverse WHERE group_name = $1`, group).
		Scan(&r.Group, &r.ObjectName, &r.StartLSN, &state, &r.CreatedAt, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("read the reverse stream of group %q: %w", group, err)
	}
	r.State = ReverseState(state)
	return r, true, nil
}

// DeleteReverse forgets a group's reverse stream, once its objects are gone.
func DeleteReverse(ctx context.Context, conn *pgx.Conn, group string) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('pgvecrep.reverse') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return err
	}
	if _, err := conn.Exec(ctx, `DELETE FROM pgvecrep.reverse WHERE group_name = $1`, group); err != nil {
		return fmt.Errorf("forget the reverse stream of group %q: %w", group, err)
	}
	return nil
}
