package replication

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestDropRetryCodes pins what DropSlot waits out: only a slot that is
// still active (55006), whose terminated walsender has not exited yet. A
// missing slot is handled by dropOnce, and anything else (no privilege, a
// lost connection) is reported at once. TestDropActiveSlot shows the wait
// against a real walsender.
func TestDropRetryCodes(t *testing.T) {
	for code, want := range map[string]bool{"55006": true, "42704": false, "42501": false, "55P03": false, "57P01": false} {
		err := fmt.Errorf("drop replication slot %q: %w", "s", &pgconn.PgError{Code: code})
		if got := dropRetry.Retryable(err); got != want {
			t.Errorf("retry on %s = %v, want %v", code, got, want)
		}
	}
	if dropRetry.Retryable(errors.New("connection reset")) {
		t.Error("retries an error without a SQLSTATE")
	}
	if dropRetry.Attempts < 2 || dropRetry.Pause <= 0 {
		t.Errorf("policy %+v, want several attempts with a pause", dropRetry)
	}
}
