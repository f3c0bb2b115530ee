package follow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/settle"
)

// round runs settle.Settle when the group has work waiting (deferred indexes,
// tables the subscription lacks), and reports where the group stands.
func (f *Follower) round(ctx context.Context, src, tgt *pgx.Conn, g group.Group) error {
	st, err := ddl.GetStatus(ctx, src, tgt, g)
	if err != nil {
		return fmt.Errorf("read DDL status: %w", err)
	}
	f.status(ctx, src, g, st)
	if st == nil || len(st.DeferredIndexes)+len(st.NewTables) == 0 {
		return nil
	}
	busy, err := reconcile(ctx, tgt, st.DeferredIndexes)
	if err != nil || busy != "" {
		if busy != "" {
			f.log.Info("waiting for an index build of an earlier run to end", "group", g.Name, "index", busy)
		}
		return err
	}
	return f.settle(ctx, src, g)
}

// settle runs settle.Settle on a connection of its own that holds the group's
// lock (group.Lock) for as long as it runs: apply_ddl_change, switchover
// and stop_sync take the same lock, so they never change the group under a
// build, and follow waits for them. Closing the connection releases it.
func (f *Follower) settle(ctx context.Context, src *pgx.Conn, g group.Group) error {
	work, err := f.connect(ctx, pg.Target)
	if err != nil {
		return err
	}
	defer work.Close(context.Background())
	if ok, err := group.Lock(ctx, work, g.Name); err != nil || !ok {
		if !ok && err == nil {
			f.log.Info("group busy with another pgvecrep command; settling at the next round", "group", g.Name)
		}
		return err
	}
	// Index builds take as long as the table is big; and a build whose
	// follow was killed should end soon rather than run on unowned
	// (client_connection_check_interval exists from PostgreSQL 14 on).
	_, _ = work.Exec(ctx, "SET statement_timeout = 0")
	_, _ = work.Exec(ctx, "SET client_connection_check_interval = '1s'")
	f.emit(Event{Kind: "status", Message: "settling DDL of group " + g.Name})
	return settle.Settle(ctx, src, work, g, settleSink{f})
}

// buildingQuery finds a running build of an index (pg_stat_progress_create_index
// names the index of a concurrent build).
const buildingQuery = `SELECT count(*) FROM pg_stat_progress_create_index WHERE index_relid = to_regclass($1)`

// invalidQuery says whether an index exists and is invalid.
const invalidQuery = `SELECT EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($1) AND NOT indisvalid)`

// reconcile says whether a deferred index is still being built by an
// earlier run: a killed follow's backend goes on building until it notices,
// and its index stays invalid until then. Settle drops an invalid leftover
// and builds it again, but its DROP INDEX CONCURRENTLY would wait for that
// build while holding the group's lock; follow waits a round instead, and
// busy names the index.
func reconcile(ctx context.Context, tgt *pgx.Conn, deferred []string) (busy string, err error) {
	for _, idx := range deferred {
		var invalid bool
		if err := tgt.QueryRow(ctx, invalidQuery, idx).Scan(&invalid); err != nil {
			return "", fmt.Errorf("check index %s: %w", idx, err)
		}
		if !invalid {
			continue
		}
		var running int
		if err := tgt.QueryRow(ctx, buildingQuery, idx).Scan(&running); err != nil {
			return "", fmt.Errorf("check builds of index %s: %w", idx, err)
		}
		if running > 0 {
			return idx, nil
		}
	}
	return "", nil
}

// status reports the group's phase, lag and waiting work as one line.
func (f *Follower) status(ctx context.Context, src *pgx.Conn, g group.Group, st *ddl.Status) {
	parts := []string{fmt.Sprintf("group %s %s", g.Name, g.Phase)}
	if lag, ok := lagBytes(ctx, src, g.StreamNames()); ok {
		parts = append(parts, fmt.Sprintf("lag %d bytes", lag))
	}
	if st != nil && len(st.DeferredIndexes) > 0 {
		parts = append(parts, "deferred indexes: "+strings.Join(st.DeferredIndexes, ", "))
	}
	if st != nil && len(st.NewTables) > 0 {
		parts = append(parts, "new tables: "+strings.Join(st.NewTables, ", "))
	}
	checked, mismatches, _ := f.Verify.Counts()
	if f.opt.VerifyRate > 0 {
		parts = append(parts, fmt.Sprintf("verified %d chunks, %d mismatched", checked, mismatches))
	}
	f.emit(Event{Kind: "status", Message: strings.Join(parts, " · ")})
}

// lagQuery is the lag of the group's slowest apply stream.
const lagQuery = `SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn))::bigint
FROM pg_replication_slots WHERE slot_name = ANY ($1)`

func lagBytes(ctx context.Context, src *pgx.Conn, slots []string) (int64, bool) {
	if src == nil {
		return 0, false
	}
	var n *int64
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := src.QueryRow(ctx, lagQuery, slots).Scan(&n); err != nil || n == nil {
		return 0, false
	}
	return *n, true
}

// settleSink logs what Settle reports as follow's settle events.
type settleSink struct{ f *Follower }

func (s settleSink) Emit(e event.Event) {
	if e.Message != "" {
		s.f.emit(Event{Kind: "settle", Message: e.Message})
	}
}
