package pgtest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// Retries pins which SQLSTATEs a retry policy's Retryable accepts: want
// maps each code to whether it is retried. The codes are wrapped the way
// the operations wrap them; an error with no SQLSTATE (a lost connection)
// must never be retried.
func Retries(t testing.TB, retryable func(error) bool, want map[string]bool) {
	t.Helper()
	for code, w := range want {
		err := fmt.Errorf("some operation: %w", &pgconn.PgError{Code: code})
		if got := retryable(err); got != w {
			t.Errorf("retry on SQLSTATE %s = %v, want %v", code, got, w)
		}
	}
	if retryable(errors.New("connection reset by peer")) {
		t.Error("retries an error without a SQLSTATE")
	}
}
