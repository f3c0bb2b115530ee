package postdata

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestDeadlockRetryCodes pins what a definition is run again for: only a
// deadlock victim (40P01). A lock timeout, a duplicate or a serialization
// failure is reported at once, and the retry pauses between attempts (it
// used to run again immediately).
func TestDeadlockRetryCodes(t *testing.T) {
	for code, want := range map[string]bool{"40P01": true, "55P03": false, "40001": false, "42P07": false, "23503": false} {
		err := fmt.Errorf("build a: %w", &pgconn.PgError{Code: code})
		if got := deadlockRetry.Retryable(err); got != want {
			t.Errorf("retry on %s = %v, want %v", code, got, want)
		}
	}
	if deadlockRetry.Retryable(errors.New("connection reset")) {
		t.Error("retries an error without a SQLSTATE")
	}
	if deadlockRetry.Attempts != 3 || deadlockRetry.Pause <= 0 {
		t.Errorf("policy %+v, want 3 attempts with a pause", deadlockRetry)
	}
}
