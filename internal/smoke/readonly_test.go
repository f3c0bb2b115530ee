package smoke

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/pgtest"
	"github.com/pgvecrep/pgvecrep/internal/switchover"
)

// TestFrozenSourceReadsAsReadOnly: a write to a table switchover froze
// fails the way it does on a read-only server, so code that matches
// PostgreSQL's message (pg_easy_replicate's spec retries on "cannot execute
// INSERT in a read-only transaction") or its SQLSTATE recognises it; what
// pgvecrep did, and how to undo it, are in DETAIL and HINT.
func TestFrozenSourceReadsAsReadOnly(t *testing.T) {
	env := pgtest.Get(t)
	src, _ := env.Pair(t)
	src.Exec(t, `CREATE TABLE accounts (id int PRIMARY KEY, balance int); INSERT INTO accounts VALUES (1, 0)`)
	if err := switchover.Freeze(t.Context(), src.Conn(t), "cluster-1", []pg.Name{{Schema: "public", Name: "accounts"}}, nil); err != nil {
		t.Fatal(err)
	}
	conn := src.Conn(t)
	for op, sql := range map[string]string{
		"INSERT":   `INSERT INTO accounts VALUES (2, 0)`,
		"UPDATE":   `UPDATE accounts SET balance = 1`,
		"DELETE":   `DELETE FROM accounts`,
		"TRUNCATE": `TRUNCATE accounts`,
	} {
		_, err := conn.Exec(t.Context(), sql)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Errorf("%s on the frozen source: %v, want an error from the server", op, err)
			continue
		}
		if want := "cannot execute " + op + " in a read-only transaction"; pe.Message != want || pe.Code != "25006" {
			t.Errorf("%s: %q (SQLSTATE %s), want %q (SQLSTATE 25006)", op, pe.Message, pe.Code, want)
		}
		if !strings.Contains(pe.Detail, "pgvecrep froze writes to public.accounts for group cluster-1") ||
			!strings.Contains(pe.Hint, "pgvecrep cleanup -g cluster-1 --restore-source-writes") {
			t.Errorf("%s: detail %q, hint %q; want pgvecrep's freeze and how to lift it", op, pe.Detail, pe.Hint)
		}
	}
	if n := src.QueryInt(t, "SELECT count(*) FROM accounts"); n != 1 {
		t.Errorf("%d rows after the refused writes, want 1", n)
	}
}
