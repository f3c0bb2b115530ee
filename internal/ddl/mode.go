package ddl

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
)

// bootstrap takes --track-ddl / --ddl as pg_easy_replicate's does, before
// start_sync creates anything; the choice waits in the group's metadata on
// the target until start_sync reads it.

// SaveMode records the DDL mode chosen at bootstrap for a group.
func SaveMode(ctx context.Context, tgt *pgx.Conn, groupName, mode string) error {
	if err := CheckMode(mode); err != nil {
		return err
	}
	return group.SetDDLMode(ctx, tgt, groupName, mode)
}

// SavedMode is the DDL mode bootstrap recorded for a group, or "".
func SavedMode(ctx context.Context, tgt *pgx.Conn, groupName string) (string, error) {
	return group.DDLMode(ctx, tgt, groupName)
}
