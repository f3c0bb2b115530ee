// Package stats tells where a group stands: its phase, each table's state and
// row count, the copies and index builds running now, and how far the target
// lags behind the source, in bytes and seconds.
//
// Lag is what the target has not committed, counting the transaction its
// apply worker is in the middle of (replication.Progress says why the slot
// alone misses it), in bytes and in time, with the apply rate over a recent
// window and the estimated time to catch up (replication.Catchup). A report
// that follows earlier ones (a History: stats --watch, the metrics) builds
// on their readings; a one-off report reads twice, a second apart, when the
// target has work pending. When the source is unreachable only the target's
// view is shown. A group with several apply streams (parallel apply) is
// read stream by stream (StreamStat), and its lag is the slowest one's.
//
// Every query runs under a lock timeout and a statement timeout: a table
// that cannot be counted in time shows its last known count with its age,
// or the statistics' estimate, and why.
package stats

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Report is a snapshot of a group.
type Report struct {
	Group     string      `json:"group"`
	Phase     group.Phase `json:"phase"`
	CopyMode  string      `json:"copy_mode,omitempty"`
	LastError string      `json:"last_error,omitempty"`
	SyncedAt  *time.Time  `json:"synced_at,omitempty"`
	Tables    []TableStat `json:"tables"`
	Lag       Lag         `json:"lag"` // the slowest stream's (see groupLag)
	Builds    []BuildStat `json:"index_builds,omitempty"`
	Copies    []CopyStat  `json:"copies,omitempty"`
	Time      time.Time   `json:"time"`

	// Streams are the group's apply streams, stream 0 first: one, or as
	// many as start_sync's --apply-workers made, each with its own lag
	// and subscription health.
	Streams []StreamStat `json:"streams"`

	// SnapshotLSN is the source LSN streaming started at (fast mode): the
	// initial copy holds every change before it, the subscription every
	// one after.
	SnapshotLSN string `json:"snapshot_lsn,omitempty"`

	// Compat holds pg_easy_replicate's keys; MarshalJSON puts them at the
	// top level and everything above under "pgvecrep".
	Compat Compat `json:"-"`

	// Health, Stall and DDL: see health.go.
	Health *replication.Health `json:"subscription_health,omitempty"`
	Stall  *Stall              `json:"stall,omitempty"`
	DDL    *ddl.Status         `json:"ddl,omitempty"`

	// Mismatches are follow's open verification mismatches (verify.go).
	Mismatches []Mismatch `json:"verify_mismatches,omitempty"`
	// Reverse is the way back a switchover left; nil without one.
	Reverse *ReverseStat `json:"reverse,omitempty"`
}

// TableStat is one table's state and rows on the target.
type TableStat struct {
	Table     string `json:"table"`
	State     string `json:"state"`
	Rows      int64  `json:"rows"`
	Estimated bool   `json:"rows_estimated,omitempty"`
	// RowsUnavailable says why rows is not a count made now (the table was
	// locked, the count took too long); RowsAge is then the age, in
	// seconds, of the earlier count it shows, and without one rows is the
	// statistics' estimate.
	RowsUnavailable string   `json:"rows_unavailable,omitempty"`
	RowsAge         *float64 `json:"rows_age_seconds,omitempty"`
	// RowsCopied and BytesCopied are what pgvecrep's own copy moved (fast
	// mode); the engine's copy (native mode) does not report them.
	RowsCopied  int64 `json:"rows_copied"`
	BytesCopied int64 `json:"bytes_copied"`
	// CopyStartedAt and CopyFinishedAt are when pgvecrep's copy of the
	// table began and ended (fast mode), or when it joined the group.
	CopyStartedAt  *time.Time `json:"copy_started_at,omitempty"`
	CopyFinishedAt *time.Time `json:"copy_finished_at,omitempty"`
	// Leaves are a partitioned table's leaf partitions on the target, when
	// asked for (AddLeaves); the table's own row is their sum.
	Leaves []LeafStat `json:"leaves,omitempty"`

	name pg.Name // the table, for AddLeaves
}

// LeafStat is one leaf partition of a replicated partitioned table.
type LeafStat struct {
	Table           string `json:"table"`
	Rows            int64  `json:"rows"`
	Estimated       bool   `json:"rows_estimated,omitempty"`
	RowsUnavailable string `json:"rows_unavailable,omitempty"`
}

// BuildStat is one running index build.
type BuildStat struct {
	Index   string  `json:"index"`
	Table   string  `json:"table"`
	Phase   string  `json:"phase"`
	Percent float64 `json:"percent"`
	Method  string  `json:"method,omitempty"` // hnsw, ivfflat, btree, ...
	// BlocksDone, BlocksTotal, TuplesDone, TuplesTotal are the raw counters
	// of pg_stat_progress_create_index, for the metrics.
	BlocksDone  int64 `json:"blocks_done"`
	BlocksTotal int64 `json:"blocks_total"`
	TuplesDone  int64 `json:"tuples_done"`
	TuplesTotal int64 `json:"tuples_total"`
}

// CopyStat is one running COPY into the target.
type CopyStat struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Collect reads the group's state, building on what h read before, and
// adds this report to h. Every query runs under LockTimeout and
// StatementTimeout.
func (h *History) Collect(ctx context.Context, src, tgt *pgx.Conn, name string) (Report, error) {
	for _, c := range []*pgx.Conn{tgt, src} {
		if err := limit(ctx, c); err != nil {
			return Report{}, err
		}
	}
	g, err := group.Get(ctx, tgt, name)
	if err != nil {
		return Report{}, err
	}
	r := Report{Group: g.Name, Phase: g.Phase, CopyMode: g.CopyMode, LastError: g.LastError, SyncedAt: g.SyncedAt,
		SnapshotLSN: g.SnapshotLSN, Time: time.Now()}
	for _, n := range g.StreamNames() {
		r.Streams = append(r.Streams, StreamStat{Name: n})
	}
	first, err := h.firstReadings(ctx, src, tgt, r.Streams)
	if err != nil {
		return r, err
	}
	states, err := group.Tables(ctx, tgt, g.Name)
	if err != nil {
		return r, err
	}
	if r.Tables, err = h.tableStats(ctx, tgt, g, states); err != nil {
		return r, err
	}
	if err := health(ctx, src, tgt, g, &r); err != nil {
		return r, err
	}
	if r.Mismatches, err = mismatches(ctx, tgt, g.Name); err != nil {
		return r, err
	}
	if r.Builds, err = builds(ctx, tgt); err != nil {
		return r, err
	}
	if r.Copies, err = copies(ctx, tgt); err != nil {
		return r, err
	}
	if r.Compat, err = collectCompat(ctx, src, tgt, g, states); err != nil {
		return r, err
	}
	if err := h.lag(ctx, src, tgt, first, &r); err != nil {
		return r, err
	}
	r.copyLag()
	if r.Reverse, err = h.reverse(ctx, src, tgt, g); err != nil {
		return r, err
	}
	return r, nil
}

// Stalled reports whether the group applies nothing while it should: its
// phase reads stalled, or a stream's subscription is disabled or failing.
func (r Report) Stalled() bool {
	return r.Phase == group.Stalled || r.Health != nil && r.Health.Stalled
}

// tableStatsQuery reads each of the group's tables ($1 schemas, $2 names)
// in the target's catalog: whether it exists, its subscription state and
// the statistics' live-row estimate. The tables are found by name in the
// catalog, so no stored text is ever read as SQL.
const tableStatsQuery = `
WITH t AS (
  SELECT u.s, u.n, (SELECT c.oid FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace
                    WHERE ns.nspname = u.s AND c.relname = u.n) AS oid
  FROM unnest($1::text[], $2::text[]) u(s, n))
SELECT t.s, t.n, t.oid IS NOT NULL,
       coalesce((SELECT sr.srsubstate::text FROM pg_subscription_rel sr JOIN pg_subscription s ON s.oid = sr.srsubid
                 WHERE s.subname = $3 AND sr.srrelid = t.oid), ''),
       coalesce((SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = t.oid), 0)
FROM t ORDER BY t.s, t.n`

// tableStats reports each of the group's tables (states, from
// group.Tables): the catalog's view of it, and pgvecrep's own copy
// bookkeeping.
func (h *History) tableStats(ctx context.Context, tgt *pgx.Conn, g group.Group, states []group.TableState) ([]TableStat, error) {
	schemas, names := make([]string, len(states)), make([]string, len(states))
	copied := make(map[pg.Name]group.TableState, len(states))
	for i, ts := range states {
		schemas[i], names[i] = ts.Table.Schema, ts.Table.Name
		copied[ts.Table] = ts
	}
	rows, err := tgt.Query(ctx, tableStatsQuery, schemas, names, g.ObjectName)
	if err != nil {
		return nil, fmt.Errorf("read table states: %w", err)
	}
	type found struct {
		TableStat
		exists bool
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (found, error) {
		var f found
		var subState string
		err := r.Scan(&f.name.Schema, &f.name.Name, &f.exists, &subState, &f.Rows)
		ts := copied[f.name]
		f.Table = f.name.String()
		f.State = tableState(subState, ts.State, g.Phase)
		f.RowsCopied, f.BytesCopied = ts.RowsCopied, ts.BytesCopied
		f.CopyStartedAt, f.CopyFinishedAt = ts.StartedAt, ts.FinishedAt
		return f, err
	})
	if err != nil {
		return nil, err
	}
	out := make([]TableStat, len(all))
	for i, f := range all {
		if f.exists {
			if err := h.countRows(ctx, tgt, f.name, &f.TableStat); err != nil {
				return nil, err
			}
		}
		out[i] = f.TableStat
	}
	return out, nil
}

const leavesQuery = `SELECT n.nspname::text, c.relname::text, coalesce(s.n_live_tup, 0)
FROM pg_partition_tree(to_regclass($1)) t JOIN pg_class c ON c.oid = t.relid
JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE t.isleaf AND c.relkind = 'r' AND t.relid <> to_regclass($1) ORDER BY 1, 2`

// AddLeaves fills in the leaf partitions of every partitioned table of r,
// with their rows on the target (stats --leaves): the replica is reported
// per root, as the group replicates it, and this is the detail beneath.
func AddLeaves(ctx context.Context, tgt *pgx.Conn, r *Report) error {
	for i := range r.Tables {
		t := &r.Tables[i]
		rows, err := tgt.Query(ctx, leavesQuery, t.name.Quoted())
		if err != nil {
			return fmt.Errorf("list the partitions of %s: %w", t.Table, err)
		}
		leaves, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LeafStat, error) {
			var n pg.Name
			var l LeafStat
			err := r.Scan(&n.Schema, &n.Name, &l.Rows)
			l.Table = n.String()
			return l, err
		})
		if err != nil {
			return fmt.Errorf("list the partitions of %s: %w", t.Table, err)
		}
		for j := range leaves {
			n, _ := pg.ParseName(leaves[j].Table, "")
			ts := TableStat{Table: leaves[j].Table, Rows: leaves[j].Rows}
			if err := (*History)(nil).countRows(ctx, tgt, n, &ts); err != nil {
				return err
			}
			leaves[j].Rows, leaves[j].Estimated, leaves[j].RowsUnavailable = ts.Rows, ts.Estimated, ts.RowsUnavailable
		}
		t.Leaves = leaves
	}
	return nil
}

// tableState names a table's state from the subscription's view when there
// is one, else from the group's phase when that ended replication (a table
// "copied" long ago is not what a person needs to read after stop_sync),
// else from pgvecrep's own copy bookkeeping.
func tableState(sub, copied string, phase group.Phase) string {
	switch {
	case sub == "r" && phase == group.Indexing:
		return "indexing"
	case sub == "r":
		return "streaming"
	case sub != "":
		return group.SubscriptionState(sub)
	}
	switch phase {
	case group.Stopped:
		return "stopped"
	case group.SwitchedOver, group.FailedOver:
		return "detached"
	case group.Failed:
		// A failed start_sync rolled its copies back: they start again.
		if copied != "" {
			return "pending"
		}
	}
	if copied == "copied" && phase == group.Indexing {
		return "indexing"
	}
	if copied == "" {
		return "-"
	}
	return copied
}

// buildsQuery reads running index builds. A plain CREATE INDEX reports
// index_relid 0 until it is done, so the name comes from the statement the
// backend runs (see indexFromQuery).
const buildsQuery = `SELECT CASE WHEN p.index_relid <> 0 THEN p.index_relid::regclass::text ELSE '' END,
	p.relid::regclass::text, p.phase,
	CASE WHEN p.blocks_total > 0 THEN 100.0 * p.blocks_done / p.blocks_total
	     WHEN p.tuples_total > 0 THEN 100.0 * p.tuples_done / p.tuples_total ELSE 0 END::float8,
	p.blocks_done, p.blocks_total, p.tuples_done, p.tuples_total, coalesce(a.query, '')
	FROM pg_stat_progress_create_index p LEFT JOIN pg_stat_activity a ON a.pid = p.pid
	WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())`

func builds(ctx context.Context, tgt *pgx.Conn) ([]BuildStat, error) {
	rows, err := tgt.Query(ctx, buildsQuery)
	if err != nil {
		return nil, fmt.Errorf("read index build progress: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (BuildStat, error) {
		var b BuildStat
		var query string
		err := r.Scan(&b.Index, &b.Table, &b.Phase, &b.Percent, &b.BlocksDone, &b.BlocksTotal, &b.TuplesDone, &b.TuplesTotal, &query)
		name, method := indexFromQuery(query)
		if b.Index == "" {
			b.Index = name
		}
		b.Method = method
		return b, err
	})
}

var (
	indexNameRe   = regexp.MustCompile(`(?is)\b(?:INDEX|CONSTRAINT)\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?((?:"(?:[^"]|"")+"|[^\s"(]+)(?:\.(?:"(?:[^"]|"")+"|[^\s"(]+))?)`)
	indexMethodRe = regexp.MustCompile(`(?is)\bUSING\s+("?[a-z_][a-z0-9_]*"?)\s*\(`)
)

// indexFromQuery finds the index (or constraint) name and access method in
// a CREATE INDEX or ALTER TABLE ... ADD CONSTRAINT statement.
func indexFromQuery(q string) (name, method string) {
	if m := indexNameRe.FindStringSubmatch(q); m != nil && !strings.EqualFold(m[1], "ON") {
		name = m[1]
	}
	if m := indexMethodRe.FindStringSubmatch(q); m != nil {
		method = strings.Trim(strings.ToLower(m[1]), `"`)
	} else if name != "" {
		method = "btree"
	}
	return name, method
}

func copies(ctx context.Context, tgt *pgx.Conn) ([]CopyStat, error) {
	rows, err := tgt.Query(ctx, `SELECT relid::regclass::text, tuples_processed, bytes_processed
		FROM pg_stat_progress_copy WHERE command = 'COPY FROM'
		AND datid = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		return nil, fmt.Errorf("read copy progress: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[CopyStat])
}

// WriteText writes the report for people.
func (r Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "group %s: %s", r.Group, strings.ToUpper(string(r.Phase)))
	if r.CopyMode != "" {
		fmt.Fprintf(w, " (copy mode %s)", r.CopyMode)
	}
	fmt.Fprintln(w)
	if r.LastError != "" {
		fmt.Fprintf(w, "last error: %s\n", r.LastError)
	}
	if r.SnapshotLSN != "" {
		fmt.Fprintf(w, "streaming from source LSN %s (the initial copy's snapshot)\n", r.SnapshotLSN)
	}
	fmt.Fprintf(w, "lag: %s\n", r.lagText())
	r.writeStreams(w)
	r.writeCatchUp(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSTATE\tROWS (target)")
	for _, t := range r.Tables {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Table, t.State, rowsText(t.Rows, t.Estimated, t.RowsAge, t.RowsUnavailable))
		for _, l := range t.Leaves {
			fmt.Fprintf(tw, "  partition %s\t\t%s\n", l.Table, rowsText(l.Rows, l.Estimated, nil, l.RowsUnavailable))
		}
	}
	tw.Flush()
	for _, c := range r.Copies {
		fmt.Fprintf(w, "copying %s: %d rows, %s\n", c.Table, c.Rows, progress.Bytes(c.Bytes))
	}
	for _, b := range r.Builds {
		fmt.Fprintf(w, "index %s", orDash(b.Index))
		if b.Method != "" {
			fmt.Fprintf(w, " (%s)", b.Method)
		}
		fmt.Fprintf(w, " on %s: %s, %.0f%%\n", b.Table, b.Phase, b.Percent)
	}
	r.writeHealth(w)
	r.writeMismatches(w)
	r.writeReverse(w)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
