// Package settle finishes captured DDL that the apply worker cannot finish
// inside its transaction: it subscribes tables created on the source (the
// subscription copies their rows) and builds deferred vector indexes
// concurrently. follow runs it in a loop; apply_ddl_change runs it once.
//
// Why a package of its own: the DDL log (internal/ddl) is read by stats,
// verify and switchover, which have no business with the index builder
// (internal/postdata). What reads the log stays there; what acts on it is
// here, and only the two commands that act import it.
package settle

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
	"github.com/pgvecrep/pgvecrep/internal/replication"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// Settle finishes what the apply worker cannot do inside its transaction:
//   - tables added to the publication (created on the source in one of the
//     group's schemas) join the subscription, which copies their rows
//     (ALTER SUBSCRIPTION ... REFRESH PUBLICATION);
//   - the group's table list follows the publication (new, renamed and
//     dropped tables), so stats, verify and switchover see them;
//   - deferred vector indexes are built with CREATE INDEX CONCURRENTLY, which
//     takes no lock that would stop the apply worker.
//
// It is safe to run at any time and any number of times. src may be nil:
// only the index builds run then. The table list follows the publication
// only while the group replicates: after a switchover, failover or stop the
// publication is gone, and an empty list read from it would leave the
// group with no tables at all.
func Settle(ctx context.Context, src, tgt *pgx.Conn, g group.Group, out event.Sink) error {
	if ok, err := ddl.Installed(ctx, tgt, g.ObjectName); err != nil || !ok {
		return err
	}
	if src != nil && !ended(g.Phase) {
		if err := followPublication(ctx, src, tgt, g, out); err != nil {
			return err
		}
	}
	return buildDeferred(ctx, tgt, g.ObjectName, out)
}

// ended reports whether a phase means the group replicates no more.
func ended(p group.Phase) bool {
	return p == group.SwitchedOver || p == group.FailedOver || p == group.Stopped
}

// followPublication refreshes the subscription when the publication has
// tables it does not, and records the publication's tables on the group.
func followPublication(ctx context.Context, src, tgt *pgx.Conn, g group.Group, out event.Sink) error {
	if ok, err := ddl.HasPublication(ctx, src, g.ObjectName); err != nil || !ok {
		return err // no publication: nothing to follow, and no reason to forget the tables
	}
	left, err := ddl.PublishKeyed(ctx, src, g.ObjectName)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		out.Emit(event.Event{Phase: event.Note, Message: "not replicated, no primary key or replica identity on the source: " + strings.Join(left, ", ")})
	}
	published, err := ddl.Published(ctx, src, g.ObjectName)
	if err != nil {
		return err
	}
	missing, err := ddl.Unsubscribed(ctx, tgt, g.ObjectName, published)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		if err := waitCreated(ctx, src, tgt, g, missing); err != nil {
			return err
		}
		if err := replication.Refresh(ctx, tgt, g.ObjectName); err != nil {
			return err
		}
		out.Emit(event.Event{Phase: event.Setup, Message: fmt.Sprintf("subscription %s refreshed: copying new table(s) %s", g.ObjectName, strings.Join(missing, ", "))})
	}
	cur, err := group.Get(ctx, tgt, g.Name) // g may be older than the last settle
	if err != nil {
		return err
	}
	sorted := slices.Clone(cur.Tables)
	slices.SortFunc(sorted, ddl.ByName)
	if !slices.Equal(sorted, published) {
		if err := group.SetTables(ctx, tgt, g.Name, published); err != nil {
			return err
		}
		out.Emit(event.Event{Phase: event.Setup, Message: fmt.Sprintf("group %s now has %d table(s)", g.Name, len(published))})
	}
	return nil
}

// createdWait is how long waitCreated waits for the apply worker.
var createdWait = time.Minute

const absentQuery = `SELECT t FROM unnest($1::text[]) t WHERE to_regclass(t) IS NULL`

// waitCreated waits until the target has each of tables, which the apply
// worker creates in stream order: apply_ddl_change run right after a
// CREATE TABLE on the source would otherwise refresh the subscription
// before the table is there, and fail. It waits for the target to apply
// everything the source has now, at most createdWait.
func waitCreated(ctx context.Context, src, tgt *pgx.Conn, g group.Group, tables []string) error {
	absent := func() ([]string, error) {
		rows, err := tgt.Query(ctx, absentQuery, tables)
		if err != nil {
			return nil, fmt.Errorf("look up new tables on the target: %w", err)
		}
		return pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if gone, err := absent(); err != nil || len(gone) == 0 {
		return err
	}
	var lsn string
	if err := src.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		return fmt.Errorf("read the source's WAL position: %w", err)
	}
	waitErr := replication.WaitApplied(ctx, src, g.StreamNames(), lsn, time.Now().Add(createdWait), 0)
	gone, err := absent()
	switch {
	case err != nil:
		return err
	case len(gone) > 0:
		e := fmt.Errorf("table(s) %s are published but not created on the target yet", strings.Join(gone, ", "))
		if waitErr != nil {
			e = fmt.Errorf("%w (%v)", e, waitErr)
		}
		return hint.Wrap(e, "the apply worker creates them in stream order: see pgvecrep stats -g "+g.Name+
			" (a stalled group says why), then run apply_ddl_change again")
	}
	return nil
}

// buildDeferred builds each deferred vector index concurrently, in the
// order the source made them, and skips those the source dropped since.
// A build that fails leaves an invalid index, which is dropped so the next
// try starts clean.
func buildDeferred(ctx context.Context, tgt *pgx.Conn, objectName string, out event.Sink) error {
	todo, err := ddl.Deferred(ctx, tgt, objectName)
	if err != nil {
		return err
	}
	for _, d := range todo {
		status := ddl.StatusDropped
		if !d.DroppedOnSource {
			if err := buildConcurrently(ctx, tgt, d.Index, d.Definition); err != nil {
				return err
			}
			status = ddl.StatusBuilt
			out.Emit(event.Event{Phase: event.Index, Index: d.Index, Message: fmt.Sprintf("built index %s on the target (concurrently)", d.Index)})
		}
		if err := ddl.MarkIndex(ctx, tgt, objectName, d, status); err != nil {
			return err
		}
	}
	return nil
}

// buildConcurrently runs an index definition (as pg_get_indexdef prints it)
// with CONCURRENTLY (leaf by leaf on a partitioned table, see
// postdata.ConcurrentlyByLeaf), sized as start_sync sizes its vector builds
// (postdata.PrepareVectorBuild, out of start_sync's default budget): the
// session's own maintenance_work_mem is often the server's 64MB, which an
// HNSW graph of any size outgrows, and a table of 768-d vectors would get
// no parallel worker.
func buildConcurrently(ctx context.Context, tgt *pgx.Conn, index, def string) error {
	budget, err := postdata.DefaultBudget(ctx, tgt)
	if err != nil {
		return err
	}
	if strings.Contains(def, " ON ONLY ") {
		// On a partitioned table: CREATE INDEX CONCURRENTLY refuses it.
		return postdata.ConcurrentlyByLeaf(ctx, tgt, index, def, budget)
	}
	if err := dropInvalid(ctx, tgt, index); err != nil {
		return err
	}
	sql := strings.Replace(def, " INDEX ", " INDEX CONCURRENTLY IF NOT EXISTS ", 1)
	if table := vector.IndexTable(def); table != "" {
		undo, err := postdata.PrepareVectorBuild(ctx, tgt, table, def, budget)
		defer undo()
		if err != nil {
			return fmt.Errorf("prepare the build of index %s: %w", index, err)
		}
	}
	if _, err := tgt.Exec(ctx, sql); err != nil {
		_, _ = tgt.Exec(context.WithoutCancel(ctx), "DROP INDEX CONCURRENTLY IF EXISTS "+index)
		return fmt.Errorf("build index %s on the target: %w", index, err)
	}
	return nil
}

// dropInvalid drops index when an earlier build left it invalid: a
// CREATE INDEX CONCURRENTLY cut off (a killed apply_ddl_change or follow)
// leaves the index in the catalog, unusable, and IF NOT EXISTS would then
// skip the build and record an index that answers no query. DROP INDEX
// CONCURRENTLY waits for a build still running in another session.
func dropInvalid(ctx context.Context, tgt *pgx.Conn, index string) error {
	var invalid bool
	err := tgt.QueryRow(ctx, `SELECT coalesce((SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)), false)`, index).Scan(&invalid)
	if err != nil {
		return fmt.Errorf("look up index %s on the target: %w", index, err)
	}
	if !invalid {
		return nil
	}
	if _, err := tgt.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+index); err != nil {
		return fmt.Errorf("drop the invalid index %s an interrupted build left: %w", index, err)
	}
	return nil
}
