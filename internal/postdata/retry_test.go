package postdata

import (
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestDeadlockRetryCodes pins what a definition is run again for: only a
// deadlock victim (40P01). A lock timeout, a duplicate or a serialization
// failure is reported at once, and the retry pauses between attempts (it
// used to run again immediately).
func TestDeadlockRetryCodes(t *testing.T) {
	pgtest.Retries(t, deadlockRetry.Retryable, map[string]bool{"40P01": true, "55P03": false, "40001": false, "42P07": false, "23503": false})
	if deadlockRetry.Attempts != 3 || deadlockRetry.Pause <= 0 {
		t.Errorf("policy %+v, want 3 attempts with a pause", deadlockRetry)
	}
}
