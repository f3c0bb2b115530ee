package preflight

import (
	"context"
	"fmt"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
)

// A table without a primary key and without a replica identity can be
// published, and its inserts and truncates replicate. What breaks is the
// source: once the table is in a publication that publishes updates and
// deletes, PostgreSQL refuses every UPDATE and DELETE on it there ("cannot
// update table ... because it does not have a replica identity and
// publishes updates"), so the application fails, not the replication.
//
// Insert-only tables (pgbench_history, event, audit and log tables) are
// common and safe to replicate as they are, so such a table is a warning,
// with the source's own statistics as evidence that nothing updates or
// deletes it. When the statistics show updates or deletes, the next such
// statement would fail on the source, so it is an error, until the table
// gets a key or --replica-identity-full (Options.ReplicaIdentityFull), or
// is left out.

// writeCountsQuery sums the rows updated and deleted in a table (in its
// partitions, for a partitioned table) since the statistics were reset.
// pg_partition_tree lists nothing for a table that is not partitioned.
const writeCountsQuery = `SELECT coalesce(sum(s.n_tup_upd), 0)::bigint, coalesce(sum(s.n_tup_del), 0)::bigint
FROM pg_stat_user_tables s
WHERE s.relid = $1::oid OR s.relid IN (SELECT relid FROM pg_partition_tree($1::oid::regclass))`

// statsResetQuery is when the source database's statistics were last reset
// (NULL when never), and whether the source counts row changes at all.
const statsResetQuery = `SELECT stats_reset, current_setting('track_counts')::bool
FROM pg_stat_database WHERE datname = current_database()`

// writeCounts is a table's updated and deleted rows, from pg_stat_user_tables.
type writeCounts struct {
	updates, deletes int64
	since            *time.Time // pg_stat_database.stats_reset; nil: never reset
	counted          bool       // track_counts is on: the numbers mean something
}

// insertOnly reports whether nothing says the table is updated or deleted.
// Without track_counts nothing can: that is no evidence of updates either,
// so it is a warning, whose text says so.
func (w writeCounts) insertOnly() bool { return w.updates == 0 && w.deletes == 0 }

// String is the evidence as a finding states it.
func (w writeCounts) String() string {
	if !w.counted {
		return "the source does not count row changes (track_counts is off), so there is no evidence of updates or deletes either way"
	}
	since := "since the source's statistics began (never reset)"
	if w.since != nil {
		since = "since the source's statistics were reset at " + w.since.UTC().Format("2006-01-02 15:04 UTC")
	}
	return fmt.Sprintf("pg_stat_user_tables counts %d updated and %d deleted rows %s", w.updates, w.deletes, since)
}

// readWriteCounts reads t's evidence on the source.
func (c *checker) readWriteCounts(ctx context.Context, t catalog.Table) (writeCounts, error) {
	var w writeCounts
	if err := c.src.QueryRow(ctx, statsResetQuery).Scan(&w.since, &w.counted); err != nil {
		return w, fmt.Errorf("read pg_stat_database on the source: %w", err)
	}
	if err := c.src.QueryRow(ctx, writeCountsQuery, t.OID).Scan(&w.updates, &w.deletes); err != nil {
		return w, fmt.Errorf("read pg_stat_user_tables for %s on the source: %w", t.Name, err)
	}
	return w, nil
}

// identityFullCost is what REPLICA IDENTITY FULL costs, for the findings
// and the flag's help.
const identityFullCost = "every UPDATE and DELETE on it then writes the whole old row to the WAL, " +
	"and the target's apply worker finds that row by scanning the table, without an index"

// keyless is the finding for a selected table that has no key and no
// replica identity.
func (c *checker) keyless(ctx context.Context, t catalog.Table) Finding {
	w, err := c.readWriteCounts(ctx, t)
	if err != nil {
		return Finding{Check: "replica_identity", Status: StatusError, Detail: err.Error(),
			Hint: "grant the source user access to the statistics views (pg_read_all_stats), or add a primary key to " + t.Name.String()}
	}
	problem := identityProblem(t)
	if c.o.ReplicaIdentityFull {
		return identityFullFinding(t, problem, w)
	}
	if w.insertOnly() {
		verdict := ": it looks insert-only"
		if !w.counted {
			verdict = ""
		}
		return Finding{Check: "replica_identity", Status: StatusWarn,
			Detail: fmt.Sprintf("%s: its inserts replicate, but once it is published an UPDATE or DELETE on it fails on the source. %s%s", problem, w, verdict),
			Hint:   fmt.Sprintf("nothing to do if only inserts reach it; if anything updates or deletes it, add a primary key, or rerun with --replica-identity-full (%s)", identityFullCost)}
	}
	return Finding{Check: "replica_identity", Status: StatusError,
		Detail: fmt.Sprintf("%s. %s: once it is published, each such UPDATE or DELETE fails on the source", problem, w),
		Hint: fmt.Sprintf("add a primary key to %s; or rerun with --replica-identity-full (%s); or leave it out with -e %s",
			t.Name, identityFullCost, t.Name)}
}

// identityFullFinding: with --replica-identity-full, start_sync sets
// REPLICA IDENTITY FULL on the table on the source. It is fine, and a
// warning only when the table does see updates or deletes, whose cost
// the user then pays.
func identityFullFinding(t catalog.Table, problem string, w writeCounts) Finding {
	f := Finding{Check: "replica_identity", Status: StatusOK,
		Detail: fmt.Sprintf("%s; start_sync --replica-identity-full sets REPLICA IDENTITY FULL on it on the source. %s", problem, w)}
	if !w.insertOnly() {
		f.Status = StatusWarn
		f.Hint = fmt.Sprintf("REPLICA IDENTITY FULL costs: %s; a primary key avoids both", identityFullCost)
	}
	return f
}
