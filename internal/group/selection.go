package group

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Selection is what a group was told to replicate and how: the flags that
// shape it. start_sync records it before it copies, and bootstrap when it is
// given a selection, so that a plain `start_sync -g G` after a Ctrl-C, a
// failure or a bootstrap picks the same tables the same way instead of the
// default (every table of schema public), which would replicate tables the
// user left out.
type Selection struct {
	Schemas  string `json:"schemas,omitempty"`   // -s as typed: one schema or a comma-separated list
	Tables   string `json:"tables,omitempty"`    // -t as typed
	Exclude  string `json:"exclude,omitempty"`   // -e as typed
	CopyMode string `json:"copy_mode,omitempty"` // --copy-mode
	Role     string `json:"role,omitempty"`      // --special-user-role
}

// Empty reports whether nothing was recorded.
func (s Selection) Empty() bool { return s == Selection{} }

// SaveSelection records a group's selection, replacing the one before.
func SaveSelection(ctx context.Context, conn *pgx.Conn, name string, s Selection) error {
	if err := mustExist(ctx, conn, name); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, `UPDATE pgvecrep.groups SET selection = $2, updated_at = now() WHERE name = $1`, name, b); err != nil {
		return fmt.Errorf("record the selection of group %q: %w", name, err)
	}
	return nil
}

// LoadSelection reads a group's selection; it is empty for a group that has
// none recorded (metadata of an earlier version included).
func LoadSelection(ctx context.Context, conn *pgx.Conn, name string) (Selection, error) {
	var s Selection
	if ok, err := SchemaExists(ctx, conn); err != nil || !ok {
		return s, err
	}
	var b []byte
	err := conn.QueryRow(ctx, `SELECT selection FROM pgvecrep.groups WHERE name = $1`, name).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, notFound(name)
	}
	if err != nil {
		return s, fmt.Errorf("read the selection of group %q: %w", name, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read the selection of group %q: %w", name, err)
	}
	return s, nil
}
