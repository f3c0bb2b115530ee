package pg

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query: a *pgx.Conn or a pgx.Tx.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Strings runs sql and returns its one text column, a row an element: the
// shape of every "list the names of ..." catalog query. The caller's error
// names what it listed.
func Strings(ctx context.Context, q Querier, sql string, args ...any) ([]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
