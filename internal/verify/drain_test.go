package verify

import (
	"context"
	"testing"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/pgtest"
)

// TestDrainWaitsOnce: once the lag has not drained in a whole timeout, the
// later drains of the run only look. The second wait gets a timeout of an
// hour and must come back long before the test's context ends.
func TestDrainWaitsOnce(t *testing.T) {
	r := itemsReplica(t)
	release := r.holdApply(t)
	defer release()
	r.src.Exec(t, `UPDATE items SET note = 'late' WHERE id = 7`)
	ctx, cancel := context.WithTimeout(context.Background(), pgtest.Patience)
	defer cancel()
	d, err := newDrainer(ctx, r.src.Conn(t), r.tgt.Conn(t), r.sub, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.wait(ctx); err != nil {
		t.Fatalf("first drain: %v", err)
	}
	if d.timeouts != 1 {
		t.Fatalf("first drain of a stuck subscriber: %d timeouts, want 1", d.timeouts)
	}
	d.timeout = time.Hour
	if err := d.wait(ctx); err != nil {
		t.Fatalf("second drain waited for the stuck lag again: %v", err)
	}
}
