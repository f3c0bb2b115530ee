package replication

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// CREATE SUBSCRIPTION carries the source's connection string, password
// included, in its text. The server writes a statement's text to its log
// when the statement fails (log_min_error_statement, ERROR by default), when
// log_statement covers DDL, and when it runs longer than
// log_min_duration_statement. quietSettings turn all three off for one
// transaction. They are superuser settings: a role may change them only as a
// superuser, or on PostgreSQL 15+ with GRANT SET ON PARAMETER. A role that
// may not should put no password in the subscription's connection string
// and give the target server a passfile instead (README, Security).
var quietSettings = []string{
	"SET LOCAL log_statement = 'none'",
	"SET LOCAL log_min_error_statement = 'panic'",
	"SET LOCAL log_min_duration_statement = -1",
}

// quietParameters are the parameters quietSettings change.
var quietParameters = []string{"log_statement", "log_min_error_statement", "log_min_duration_statement"}

const setPrivilegeQuery = `SELECT bool_and(has_parameter_privilege(p, 'SET')) FROM unnest($1::text[]) p`

// CanQuietLog reports whether conn's role may keep a statement's text out of
// the server log (see quietSettings). Preflight warns when it may not.
func CanQuietLog(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var super bool
	var version int
	err := conn.QueryRow(ctx, `SELECT current_setting('is_superuser')::bool, current_setting('server_version_num')::int`).
		Scan(&super, &version)
	if err != nil || super || version < 150000 {
		return super, err
	}
	var granted bool
	if err := conn.QueryRow(ctx, setPrivilegeQuery, quietParameters).Scan(&granted); err != nil {
		return false, err
	}
	return granted, nil
}

// quietTx begins a transaction on conn whose statements the server does not
// log, when conn's role may ask for that; otherwise a plain transaction.
// Each SET is its own round trip: log_statement judges a whole query string
// before running any of it, so a SET sent together with the statement it
// should hide would come too late.
func quietTx(ctx context.Context, conn *pgx.Conn) (pgx.Tx, error) {
	quiet, err := CanQuietLog(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("check whether statement logging can be turned off: %w", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	if !quiet {
		return tx, nil
	}
	for _, set := range quietSettings {
		if _, err := tx.Exec(ctx, set); err != nil {
			_ = tx.Rollback(ctx)
			return nil, fmt.Errorf("turn off statement logging: %w", err)
		}
	}
	return tx, nil
}
