package stats

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// LockTimeout and StatementTimeout bound every query a report makes: stats
// only reads, and must answer even while a table is locked (a count(*)
// behind an ACCESS EXCLUSIVE lock would otherwise wait for as long as the
// lock is held) or a count takes long. A count that gives way is replaced
// by the last one known (see countRows); any other query that gives way
// fails the report with its error rather than hanging it.
const (
	LockTimeout      = time.Second
	StatementTimeout = 5 * time.Second
)

// limitQuery sets the session's lock_timeout ($1) and its
// statement_timeout ($2, in milliseconds $3) unless one shorter is set
// already (PG_EASY_REPLICATE_STATEMENT_TIMEOUT).
const limitQuery = `SELECT set_config('lock_timeout', $1, false),
	CASE WHEN s.setting::bigint = 0 OR s.setting::bigint > $3 THEN set_config('statement_timeout', $2, false) END
	FROM pg_settings s WHERE s.name = 'statement_timeout'`

// limit puts the report's timeouts on conn's session (nil: nothing).
func limit(ctx context.Context, conn *pgx.Conn) error {
	if conn == nil {
		return nil
	}
	ms := StatementTimeout.Milliseconds()
	_, err := conn.Exec(ctx, limitQuery, fmt.Sprintf("%dms", LockTimeout.Milliseconds()), fmt.Sprintf("%dms", ms), ms)
	if err != nil {
		return fmt.Errorf("set the timeouts of stats' queries: %w", err)
	}
	return nil
}

// exactCountLimit is the table size below which stats counts rows exactly;
// above it the statistics' live-row estimate is shown (Estimated is set).
const exactCountLimit = 1_000_000

// countRows replaces the statistics' estimate, which lags behind the apply
// worker by a second or more, with count(*) for tables small enough to
// count. When the count gives way (a lock, the statement timeout), the
// table keeps the last count h made, with its age, or else the estimate,
// and says why; h may be nil.
func (h *History) countRows(ctx context.Context, tgt *pgx.Conn, name pg.Name, ts *TableStat) error {
	if ts.Rows >= exactCountLimit {
		ts.Estimated = true
		return nil
	}
	var n int64
	err := tgt.QueryRow(ctx, "SELECT count(*) FROM "+name.Quoted()).Scan(&n)
	if err == nil {
		ts.Rows = n
		h.remember(ts.Table, n)
		return nil
	}
	why := gaveWay(err)
	if why == "" || ctx.Err() != nil {
		return fmt.Errorf("count rows of %s: %w", ts.Table, err)
	}
	ts.RowsUnavailable = why
	if c, ok := h.known(ts.Table); ok {
		age := time.Since(c.at).Seconds()
		ts.Rows, ts.RowsAge = c.rows, &age
		return nil
	}
	ts.Estimated = true
	return nil
}

// gaveWay says why a query gave way to a timeout, or "" for any other error.
func gaveWay(err error) string {
	switch pg.Code(err) {
	case "55P03":
		return fmt.Sprintf("table locked (waited %s)", LockTimeout)
	case "57014":
		return fmt.Sprintf("count took longer than %s", StatementTimeout)
	}
	return ""
}

func (h *History) remember(table string, rows int64) {
	if h != nil {
		h.counts[table] = knownCount{rows: rows, at: time.Now()}
	}
}

func (h *History) known(table string) (knownCount, bool) {
	if h == nil {
		return knownCount{}, false
	}
	c, ok := h.counts[table]
	return c, ok
}

// rowsText is a table's row count as the text report shows it.
func rowsText(rows int64, estimated bool, age *float64, unavailable string) string {
	switch {
	case unavailable != "" && age != nil:
		return fmt.Sprintf("%d (counted %.0f s ago; now %s)", rows, *age, unavailable)
	case unavailable != "":
		return fmt.Sprintf("unknown: %s (statistics say ~%d)", unavailable, rows)
	case estimated:
		return fmt.Sprintf("~%d", rows)
	}
	return fmt.Sprintf("%d", rows)
}
