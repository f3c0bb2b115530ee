package ddl

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// bootstrap takes --track-ddl / --ddl as pg_easy_replicate's does, before
// start_sync creates anything; the choice waits in this table on the target
// (removed with the group) until start_sync reads it.
const modesDDL = `CREATE TABLE IF NOT EXISTS pgvecrep.ddl_modes (
    group_name text PRIMARY KEY REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    mode       text NOT NULL
)`

// SaveMode records the DDL mode chosen at bootstrap for a group.
func SaveMode(ctx context.Context, tgt *pgx.Conn, groupName, mode string) error {
	if _, err := tgt.Exec(ctx, modesDDL); err != nil {
		return fmt.Errorf("record the DDL mode of group %q: %w", groupName, err)
	}
	_, err := tgt.Exec(ctx, `INSERT INTO pgvecrep.ddl_modes VALUES ($1, $2)
		ON CONFLICT (group_name) DO UPDATE SET mode = EXCLUDED.mode`, groupName, mode)
	if err != nil {
		return fmt.Errorf("record the DDL mode of group %q: %w", groupName, err)
	}
	return nil
}

// SavedMode is the DDL mode bootstrap recorded for a group, or "".
func SavedMode(ctx context.Context, tgt *pgx.Conn, groupName string) (string, error) {
	var exists bool
	if err := tgt.QueryRow(ctx, `SELECT to_regclass('pgvecrep.ddl_modes') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return "", err
	}
	var mode string
	err := tgt.QueryRow(ctx, `SELECT mode FROM pgvecrep.ddl_modes WHERE group_name = $1`, groupName).Scan(&mode)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the DDL mode of group %q: %w", groupName, err)
	}
	return mode, nil
}
