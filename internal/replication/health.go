package replication

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Health is what the target says about a subscription's apply worker.
type Health struct {
	// Exists is false when there is no such subscription (stopped, switched
	// over): nothing below applies then.
	Exists  bool `json:"exists"`
	Enabled bool `json:"enabled"`
	// Worker is true while the subscription's apply worker runs.
	Worker bool `json:"worker_running"`
	// ApplyErrors and SyncErrors count the apply and table-sync workers'
	// failures since StatsReset (pg_stat_subscription_stats).
	ApplyErrors int64      `json:"apply_error_count"`
	SyncErrors  int64      `json:"sync_error_count"`
	StatsReset  *time.Time `json:"stats_reset,omitempty"`
	// Stalled is true when changes are not being applied: the subscription
	// is disabled, or its workers have failed and no apply worker runs now.
	Stalled bool `json:"stalled"`
	// Reason says why in one sentence when Stalled.
	Reason string `json:"reason,omitempty"`
}

const healthQuery = `
SELECT s.subenabled,
       EXISTS (SELECT 1 FROM pg_stat_subscription w WHERE w.subid = s.oid AND w.relid IS NULL AND w.pid IS NOT NULL),
       coalesce(st.apply_error_count, 0), coalesce(st.sync_error_count, 0), st.stats_reset
FROM pg_subscription s LEFT JOIN pg_stat_subscription_stats st ON st.subid = s.oid
WHERE s.subname = $1 AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`

// SubscriptionHealth reads whether subscription name applies changes.
//
// Why these signals: a failing apply worker exits at the error and the
// launcher starts a new one after wal_retrieve_retry_interval (5 s by
// default), which fails again at the same transaction, and so on; the
// server logs each error, and pg_stat_subscription_stats counts them. A
// healthy subscription's apply worker, by contrast, runs all the time. So a
// subscription whose error counts are above zero and that has no apply
// worker at this moment is failing; one with a worker is applying (a worker
// caught in the instant between its start and its failure is the one case
// read as healthy, and the next look corrects it). The error's text is only
// in the target's server log: PostgreSQL keeps no copy of it in a view.
func SubscriptionHealth(ctx context.Context, tgt *pgx.Conn, name string) (Health, error) {
	var h Health
	err := tgt.QueryRow(ctx, healthQuery, name).Scan(&h.Enabled, &h.Worker, &h.ApplyErrors, &h.SyncErrors, &h.StatsReset)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("read the health of subscription %s: %w", name, err)
	}
	h.Exists = true
	switch {
	case !h.Enabled:
		h.Stalled, h.Reason = true, "the subscription is disabled: no changes are applied (ALTER SUBSCRIPTION ... ENABLE resumes it)"
	case !h.Worker && h.ApplyErrors+h.SyncErrors > 0:
		h.Stalled = true
		h.Reason = fmt.Sprintf("the apply worker keeps failing (%d apply and %d sync errors so far) and retries the same transaction: changes pile up on the source; the error is in the target server's log (search for \"logical replication\")",
			h.ApplyErrors, h.SyncErrors)
	}
	return h, nil
}

// ResetErrors sets the subscription's error counts back to zero, so that
// once a user has fixed what made the apply worker fail, earlier failures
// no longer count. pg_stat_reset_subscription_stats is for superusers
// unless granted; without the right it does nothing and reports false.
func ResetErrors(ctx context.Context, tgt *pgx.Conn, name string) bool {
	_, err := tgt.Exec(ctx, `SELECT pg_stat_reset_subscription_stats(oid) FROM pg_subscription WHERE subname = $1
		AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`, name)
	return err == nil
}

// Refresh makes subscription name pick up the tables added to its
// publication since it was created or last refreshed, copying their rows
// (and forgetting the tables that left it). It cannot run in a transaction
// block, nor inside the apply worker, which is why a pgvecrep process runs
// it.
func Refresh(ctx context.Context, tgt *pgx.Conn, name string) error {
	if _, err := tgt.Exec(ctx, "ALTER SUBSCRIPTION "+pgx.Identifier{name}.Sanitize()+" REFRESH PUBLICATION WITH (copy_data = true)"); err != nil {
		return fmt.Errorf("refresh subscription %s: %w", name, err)
	}
	return nil
}
