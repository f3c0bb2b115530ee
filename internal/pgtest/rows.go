package pgtest

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
)

// RowsSum is an ordered checksum of table's rows matching where (rows
// ordered by id), or "missing" when the table does not exist (yet).
func RowsSum(t testing.TB, conn *pgx.Conn, table, where string) string {
	t.Helper()
	var ok bool
	if err := conn.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", table).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	if !ok {
		return "missing"
	}
	var s string
	q := fmt.Sprintf(`SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, ',' ORDER BY x.id)), '') FROM %s x WHERE %s`, table, where)
	if err := conn.QueryRow(context.Background(), q).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// SameRows waits until table's rows matching where are the same on both
// sides. While a writer runs, where must leave out the rows it still
// changes (see WrittenSoFar).
func SameRows(t testing.TB, src, tgt *pgx.Conn, table, where string) {
	t.Helper()
	var a, b string
	WaitFor(t, table+" to match by checksum", func() bool {
		a, b = RowsSum(t, src, table, where), RowsSum(t, tgt, table, where)
		return a == b
	})
	t.Logf("%s where %s: %s on both sides", table, where, a)
}

// WrittenSoFar is a where clause for the rows of table an appending
// writer has written up to now: it only adds rows with higher ids.
func WrittenSoFar(t testing.TB, src *pgx.Conn, table string) string {
	t.Helper()
	var max int64
	if err := src.QueryRow(context.Background(), "SELECT max(id) FROM "+table).Scan(&max); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("id <= %d", max)
}

// StartWriter inserts rows into table on url, ids counting up from after
// from, one statement at a time until stop is called; it names only the id
// column, so it keeps working whatever columns a test adds or drops. stop
// waits for the writer to end and may be called more than once.
func StartWriter(t testing.TB, url, table string, from int64) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(context.Background())
		insert := fmt.Sprintf("INSERT INTO %s (id) VALUES ($1)", table)
		for id := from + 1; ctx.Err() == nil; id++ {
			if _, err := conn.Exec(context.Background(), insert, id); err != nil {
				t.Errorf("writer: %v", err)
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}
