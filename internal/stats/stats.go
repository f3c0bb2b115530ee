// Package stats tells where a group stands: its phase, each table's state and
// row count, the copies and index builds running now, and how far the target
// lags behind the source, in bytes and seconds.
//
// Lag comes from both sides: the source's slot (confirmed_flush_lsn against
// the current WAL position) and pg_stat_replication say how much the target
// has not confirmed; the target's pg_stat_subscription says what it received
// and when. When the source is unreachable only the target's view is shown.
package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
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
	Lag       Lag         `json:"lag"`
	Builds    []BuildStat `json:"index_builds,omitempty"`
	Copies    []CopyStat  `json:"copies,omitempty"`
	Time      time.Time   `json:"time"`
	// Health, Stall and DDL: see health.go.
	Health *replication.Health `json:"subscription_health,omitempty"`
	Stall  *Stall              `json:"stall,omitempty"`
	DDL    *ddl.Status         `json:"ddl,omitempty"`
}

// TableStat is one table's state and rows on the target.
type TableStat struct {
	Table     string `json:"table"`
	State     string `json:"state"`
	Rows      int64  `json:"rows"`
	Estimated bool   `json:"rows_estimated,omitempty"`
}

// Lag is how far the target is behind.
type Lag struct {
	SourceReachable bool     `json:"source_reachable"`
	Bytes           *int64   `json:"bytes"`
	Seconds         *float64 `json:"seconds"`
	SourceLSN       string   `json:"source_lsn,omitempty"`
	ConfirmedLSN    string   `json:"confirmed_lsn,omitempty"`
	ReceivedLSN     string   `json:"received_lsn,omitempty"`
	LastMessageAge  *float64 `json:"last_message_age_seconds,omitempty"`
	Subscription    bool     `json:"subscription_active"`
}

// BuildStat is one running index build.
type BuildStat struct {
	Index   string  `json:"index"`
	Table   string  `json:"table"`
	Phase   string  `json:"phase"`
	Percent float64 `json:"percent"`
}

// CopyStat is one running COPY into the target.
type CopyStat struct {
	Table string `json:"table"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Collect reads the group's state. src may be nil (source unreachable).
func Collect(ctx context.Context, src, tgt *pgx.Conn, name string) (Report, error) {
	g, err := group.Get(ctx, tgt, name)
	if err != nil {
		return Report{}, err
	}
	r := Report{Group: g.Name, Phase: g.Phase, CopyMode: g.CopyMode, LastError: g.LastError, SyncedAt: g.SyncedAt, Time: time.Now()}
	if r.Tables, err = tableStats(ctx, tgt, g); err != nil {
		return r, err
	}
	if err := targetLag(ctx, tgt, g.ObjectName, &r.Lag); err != nil {
		return r, err
	}
	if src != nil {
		r.Lag.SourceReachable = true
		if err := sourceLag(ctx, src, g.ObjectName, &r.Lag); err != nil {
			return r, err
		}
	}
	if err := health(ctx, src, tgt, g, &r); err != nil {
		return r, err
	}
	if r.Builds, err = builds(ctx, tgt); err != nil {
		return r, err
	}
	r.Copies, err = copies(ctx, tgt)
	return r, err
}

const tableStatsQuery = `
WITH t AS (SELECT unnest($1::text[]) AS name)
SELECT t.name,
       coalesce((SELECT sr.srsubstate::text FROM pg_subscription_rel sr JOIN pg_subscription s ON s.oid = sr.srsubid
                 WHERE s.subname = $2 AND sr.srrelid = to_regclass(t.name)), ''),
       coalesce((SELECT gt.state FROM pgvecrep.tables gt WHERE gt.group_name = $3 AND gt.table_name = t.name), ''),
       coalesce((SELECT n_live_tup FROM pg_stat_user_tables WHERE relid = to_regclass(t.name)), 0)
FROM t ORDER BY t.name`

func tableStats(ctx context.Context, tgt *pgx.Conn, g group.Group) ([]TableStat, error) {
	rows, err := tgt.Query(ctx, tableStatsQuery, g.Tables, g.ObjectName, g.Name)
	if err != nil {
		return nil, fmt.Errorf("read table states: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableStat, error) {
		var ts TableStat
		var subState, copyState string
		err := r.Scan(&ts.Table, &subState, &copyState, &ts.Rows)
		ts.State = tableState(subState, copyState, g.Phase)
		return ts, err
	})
	if err != nil {
		return nil, err
	}
	for i := range out {
		if err := exactRows(ctx, tgt, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// exactCountLimit is the table size below which stats counts rows exactly;
// above it the statistics' live-row estimate is shown (Estimated is set).
const exactCountLimit = 1_000_000

// exactRows replaces the statistics' estimate, which lags behind the apply
// worker by a second or more, with count(*) for tables small enough to count.
func exactRows(ctx context.Context, tgt *pgx.Conn, ts *TableStat) error {
	name := ts.Table
	if n, err := pg.ParseName(ts.Table, "public"); err == nil {
		ts.Table = n.String()
	}
	if ts.Rows >= exactCountLimit {
		ts.Estimated = true
		return nil
	}
	var exists bool
	if err := tgt.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&exists); err != nil || !exists {
		return err
	}
	if err := tgt.QueryRow(ctx, "SELECT count(*) FROM "+name).Scan(&ts.Rows); err != nil {
		return fmt.Errorf("count rows of %s: %w", ts.Table, err)
	}
	return nil
}

// tableState names a table's state from the subscription's view when there
// is one, else from pgvecrep's own copy bookkeeping.
func tableState(sub, copied string, phase group.Phase) string {
	switch {
	case sub == "r" && phase == group.Indexing:
		return "indexing"
	case sub == "r":
		return "streaming"
	case sub != "":
		return group.SubscriptionState(sub)
	}
	if copied == "copied" && phase == group.Indexing {
		return "indexing"
	}
	if copied != "" && copied != "pending" {
		return copied
	}
	if phase == group.SwitchedOver || phase == group.FailedOver {
		return string(phase)
	}
	if copied == "" {
		return "-"
	}
	return copied
}

func targetLag(ctx context.Context, tgt *pgx.Conn, sub string, lag *Lag) error {
	var received *string
	var age *float64
	err := tgt.QueryRow(ctx, `SELECT received_lsn::text, extract(epoch FROM now() - last_msg_receipt_time)::float8
		FROM pg_stat_subscription WHERE subname = $1 AND relid IS NULL`, sub).Scan(&received, &age)
	if err == pgx.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read subscription progress: %w", err)
	}
	lag.Subscription = received != nil
	if received != nil {
		lag.ReceivedLSN = *received
	}
	lag.LastMessageAge = age
	return nil
}

func sourceLag(ctx context.Context, src *pgx.Conn, slot string, lag *Lag) error {
	var bytes *int64
	var confirmed *string
	var current string
	var secs *float64
	err := src.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text,
		(SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1),
		(SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1),
		(SELECT extract(epoch FROM coalesce(replay_lag, '0'::interval))::float8 FROM pg_stat_replication WHERE application_name = $1 LIMIT 1)`,
		slot).Scan(&current, &confirmed, &bytes, &secs)
	if err != nil {
		return fmt.Errorf("read replication lag on the source: %w", err)
	}
	lag.SourceLSN = current
	if confirmed != nil {
		lag.ConfirmedLSN = *confirmed
	}
	lag.Bytes = bytes
	if bytes != nil && *bytes == 0 {
		zero := 0.0
		secs = &zero
	}
	lag.Seconds = secs
	return nil
}

func builds(ctx context.Context, tgt *pgx.Conn) ([]BuildStat, error) {
	rows, err := tgt.Query(ctx, `SELECT coalesce(p.index_relid::regclass::text, ''), p.relid::regclass::text, p.phase,
		CASE WHEN p.blocks_total > 0 THEN 100.0 * p.blocks_done / p.blocks_total
		     WHEN p.tuples_total > 0 THEN 100.0 * p.tuples_done / p.tuples_total ELSE 0 END::float8
		FROM pg_stat_progress_create_index p WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		return nil, fmt.Errorf("read index build progress: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[BuildStat])
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

// WriteJSON writes the report as one JSON object.
func (r Report) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
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
	fmt.Fprintf(w, "lag: %s\n", r.Lag.text())
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSTATE\tROWS (target)")
	for _, t := range r.Tables {
		approx := ""
		if t.Estimated {
			approx = "~"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s%d\n", t.Table, t.State, approx, t.Rows)
	}
	tw.Flush()
	for _, c := range r.Copies {
		fmt.Fprintf(w, "copying %s: %d rows, %s\n", c.Table, c.Rows, progress.Bytes(c.Bytes))
	}
	for _, b := range r.Builds {
		fmt.Fprintf(w, "building %s on %s: %s, %.0f%%\n", b.Index, b.Table, b.Phase, b.Percent)
	}
	r.writeHealth(w)
}

func (l Lag) text() string {
	var parts []string
	switch {
	case !l.SourceReachable:
		parts = append(parts, "source unreachable")
	case l.Bytes == nil:
		parts = append(parts, "no replication slot on the source")
	default:
		parts = append(parts, progress.Bytes(*l.Bytes))
		if l.Seconds != nil {
			parts = append(parts, fmt.Sprintf("%.1f s", *l.Seconds))
		}
	}
	if l.ReceivedLSN != "" {
		parts = append(parts, "target received up to "+l.ReceivedLSN)
	}
	if l.LastMessageAge != nil {
		parts = append(parts, fmt.Sprintf("last message %.1f s ago", *l.LastMessageAge))
	}
	if !l.Subscription {
		parts = append(parts, "subscription not running")
	}
	return strings.Join(parts, ", ")
}
