package group

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// A group's DDL mode (bootstrap's --ddl or --track-ddl) and DDL scope (what
// its capture follows, from how start_sync chose its tables) wait in its
// row from the command that chooses them until ddl.Install reads them.
// Their values are package ddl's (ddl.Auto..., ddl.Scope); "" means none
// recorded, which ddl reads as its default.

// SetDDLMode records the DDL mode chosen for a group.
func SetDDLMode(ctx context.Context, conn *pgx.Conn, name, mode string) error {
	return setChoice(ctx, conn, name, "ddl_mode", "DDL mode", mode)
}

// DDLMode is the DDL mode recorded for a group, or "".
func DDLMode(ctx context.Context, conn *pgx.Conn, name string) (string, error) {
	return choice(ctx, conn, name, "ddl_mode", "DDL mode")
}

// SetDDLScope records what a group's DDL capture follows.
func SetDDLScope(ctx context.Context, conn *pgx.Conn, name, scope string) error {
	return setChoice(ctx, conn, name, "ddl_scope", "DDL scope", scope)
}

// DDLScope is the DDL scope recorded for a group, or "".
func DDLScope(ctx context.Context, conn *pgx.Conn, name string) (string, error) {
	return choice(ctx, conn, name, "ddl_scope", "DDL scope")
}

func setChoice(ctx context.Context, conn *pgx.Conn, name, column, what, value string) error {
	if err := mustExist(ctx, conn, name); err != nil {
		return fmt.Errorf("record the %s of group %q: %w", what, name, err)
	}
	tag, err := conn.Exec(ctx, `UPDATE pgvecrep.groups SET `+pgx.Identifier{column}.Sanitize()+` = $2 WHERE name = $1`, name, value)
	if err != nil {
		return fmt.Errorf("record the %s of group %q: %w", what, name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("record the %s of group %q: %w", what, name, notFound(name))
	}
	return nil
}

// choice reads a recorded choice: "" for a group that has none, or when
// there is no group or no metadata at all (nothing was chosen).
func choice(ctx context.Context, conn *pgx.Conn, name, column, what string) (string, error) {
	if ok, err := SchemaExists(ctx, conn); err != nil || !ok {
		return "", err
	}
	var v string
	err := conn.QueryRow(ctx, `SELECT `+pgx.Identifier{column}.Sanitize()+` FROM pgvecrep.groups WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the %s of group %q: %w", what, name, err)
	}
	return v, nil
}
