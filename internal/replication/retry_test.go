package replication

import (
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestDropRetryCodes pins what DropSlot waits out: only a slot that is
// still active (55006), whose terminated walsender has not exited yet. A
// missing slot is handled by dropOnce, and anything else (no privilege, a
// lost connection) is reported at once. TestDropActiveSlot shows the wait
// against a real walsender.
func TestDropRetryCodes(t *testing.T) {
	pgtest.Retries(t, dropRetry.Retryable, map[string]bool{"55006": true, "42704": false, "42501": false, "55P03": false, "57P01": false})
	if dropRetry.Attempts < 2 || dropRetry.Pause <= 0 {
		t.Errorf("policy %+v, want several attempts with a pause", dropRetry)
	}
}
