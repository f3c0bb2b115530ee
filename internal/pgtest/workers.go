package pgtest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ParallelWorkers runs build and returns the most parallel workers seen at
// once working for a backend whose query contains "INDEX " + index + " "
// (an index name, or "ON schema.table" for an unnamed CREATE INDEX). It is
// how tests see that an index build got the workers it was meant to.
func (d DB) ParallelWorkers(t testing.TB, index string, build func()) int64 {
	t.Helper()
	conn := d.Conn(t)
	var most atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var n int64
			err := conn.QueryRow(context.Background(), `
SELECT count(*) FROM pg_stat_activity w JOIN pg_stat_activity l ON l.pid = w.leader_pid
WHERE w.backend_type = 'parallel worker' AND l.query LIKE '%INDEX ' || $1 || ' %'`,
				pgx.QueryExecModeSimpleProtocol, index).Scan(&n)
			if err == nil && n > most.Load() {
				most.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	build()
	close(stop)
	<-done
	return most.Load()
}

// Vectors768 is a select list for INSERT ... SELECT: n rows (id from 1) of
// random 768-d vectors, each stored out of line (TOAST), as embeddings of
// that size are in real tables.
func Vectors768(n int) string {
	return fmt.Sprintf(`SELECT i, (SELECT array_agg(random())::vector FROM generate_series(1, 768) WHERE i > 0)
FROM generate_series(1, %d) i`, n)
}

// ToastedVectorTable creates table (id int, v vector(768)) with rows
// random vectors, analyzed: a table whose main heap is a few pages while
// its vectors fill TOAST.
func (d DB) ToastedVectorTable(t testing.TB, table string, rows int) {
	t.Helper()
	d.Exec(t, fmt.Sprintf("CREATE TABLE %s (id int, v vector(768)); INSERT INTO %[1]s %s; ANALYZE %[1]s", table, Vectors768(rows)))
}
