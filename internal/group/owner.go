package group

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// Whoever owns the pgvecrep schema controls what pgvecrep runs: the owner can
// replace the metadata tables with views that call its own functions, and on
// the source the freeze function that every writer runs. So pgvecrep uses a
// pgvecrep schema only when it is owned by the connecting role, or by a
// superuser (who controls the database anyway), and refuses any other, where
// CREATE SCHEMA IF NOT EXISTS would have trusted it silently.

// schemaOwnerQuery reads the owner of the pgvecrep schema, whether the owner
// is a superuser, and whether it is the connecting role; no row when there
// is no such schema.
const schemaOwnerQuery = `SELECT r.rolname::text, r.rolsuper, r.rolname = current_user
FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = $1`

// checkOwner reports whether the pgvecrep schema exists on conn's database
// and fails when it is owned by a role pgvecrep cannot trust. side ("source"
// or "target") names the database in the error.
func checkOwner(ctx context.Context, conn *pgx.Conn, side string) (bool, error) {
	var owner string
	var super, self bool
	err := conn.QueryRow(ctx, schemaOwnerQuery, Schema).Scan(&owner, &super, &self)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check the owner of schema %s on the %s: %w", Schema, side, err)
	}
	if self || super {
		return true, nil
	}
	var user string
	_ = conn.QueryRow(ctx, "SELECT current_user::text").Scan(&user)
	return true, hint.Wrap(fmt.Errorf("schema %s on the %s is owned by role %q, not by %q or a superuser: pgvecrep will not run SQL its owner controls", Schema, side, owner, user),
		fmt.Sprintf("if that schema is pgvecrep's, run ALTER SCHEMA %s OWNER TO %s on the %s after checking what is in it; otherwise drop or rename it",
			Schema, pgx.Identifier{user}.Sanitize(), side))
}

// EnsureOwnSchema creates the pgvecrep schema on conn's database, or checks
// that the one there is owned by the connecting role or a superuser. side
// ("source" or "target") names the database in errors.
func EnsureOwnSchema(ctx context.Context, conn *pgx.Conn, side string) error {
	exists, err := checkOwner(ctx, conn, side)
	if err != nil || exists {
		return err
	}
	// No IF NOT EXISTS: a schema someone made since the check fails here.
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{Schema}.Sanitize()); err != nil {
		return fmt.Errorf("create schema %s on the %s: %w", Schema, side, err)
	}
	return nil
}
