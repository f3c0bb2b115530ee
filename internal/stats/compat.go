package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
)

// Compat is what pg_easy_replicate 0.4.0's stats prints, key for key, so
// the scripts its users poll with (jq '.switchover_completed_at', say) run
// unchanged against pgvecrep. The lists come from the same catalog views and
// columns; pgvecrep's own view is under "pgvecrep" beside them.
type Compat struct {
	// LagStats is pg_stat_replication for the group's subscriptions (one
	// per apply stream, stream 0 first), with write_lag, flush_lag and
	// replay_lag in bytes behind sent_lsn.
	LagStats []map[string]any `json:"lag_stats"`
	// ReplicationSlots is pg_replication_slots' row for each of the
	// group's slots, stream 0 first.
	ReplicationSlots []map[string]any `json:"replication_slots"`
	// ReplicationStats is one entry per table of the subscription, less
	// pgvecrep's own (the DDL log): scripts count the user's tables. So it
	// is stream 0's alone, which carries every table; the other apply
	// streams carry some of them again (their health is under
	// pgvecrep.streams).
	ReplicationStats []ReplicationStat `json:"replication_stats"`
	// CountByState counts ReplicationStats by replication_state.
	CountByState map[string]int `json:"replication_stats_count_by_state"`
	// MessageLSNReceipts is pg_stat_subscription's progress for each of
	// the group's subscriptions, stream 0 first (pg_easy_replicate's keys
	// name none; pgvecrep.streams has each stream's by name).
	MessageLSNReceipts    []map[string]any `json:"message_lsn_receipts"`
	SyncStartedAt         *time.Time       `json:"sync_started_at"`
	SyncFailedAt          *time.Time       `json:"sync_failed_at"`
	SwitchoverCompletedAt *time.Time       `json:"switchover_completed_at"`
}

// ReplicationStat is one table's state in the subscription.
type ReplicationStat struct {
	SubscriptionName string `json:"subscription_name"`
	TableSchema      string `json:"table_schema"`
	TableName        string `json:"table_name"`
	ReplicationState string `json:"replication_state"`
}

// replicationStates are pg_easy_replicate's words for pg_subscription_rel's
// state codes.
var replicationStates = map[string]string{
	"i": "initializing",
	"d": "data_is_being_copied",
	"f": "finished_table_copy",
	"s": "synchronized",
	"r": "replicating",
}

const (
	lagStatsQuery = `SELECT json_build_object('pid', pid, 'client_addr', client_addr, 'user_name', usename,
		'application_name', application_name, 'state', state, 'sync_state', sync_state,
		'write_lag', pg_wal_lsn_diff(sent_lsn, write_lsn), 'flush_lag', pg_wal_lsn_diff(sent_lsn, flush_lsn),
		'replay_lag', pg_wal_lsn_diff(sent_lsn, replay_lsn))
		FROM pg_stat_replication WHERE application_name = ANY($1::text[])
		ORDER BY array_position($1::text[], application_name), pid`
	// datoid as a number: pg_easy_replicate's driver reads an oid as an integer.
	slotsQuery = `SELECT to_jsonb(s) || jsonb_build_object('datoid', s.datoid::bigint) FROM pg_replication_slots s
		WHERE slot_name::text = ANY($1::text[]) ORDER BY array_position($1::text[], slot_name::text)`
	replicationStatsQuery = `SELECT s.subname::text, c.relnamespace::regnamespace::text, c.relname::text, rel.srsubstate::text
		FROM pg_subscription s JOIN pg_subscription_rel rel ON rel.srsubid = s.oid
		JOIN pg_class c ON c.oid = rel.srrelid WHERE s.subname = $1
		AND c.relnamespace::regnamespace::text <> $2 ORDER BY 2, 3`
	receiptsQuery = `SELECT json_build_object('received_lsn', received_lsn,
		'last_msg_send_time', to_char(last_msg_send_time AT TIME ZONE 'UTC', ` + rubyTimeFormat + `),
		'last_msg_receipt_time', to_char(last_msg_receipt_time AT TIME ZONE 'UTC', ` + rubyTimeFormat + `),
		'latest_end_lsn', latest_end_lsn,
		'latest_end_time', to_char(latest_end_time AT TIME ZONE 'UTC', ` + rubyTimeFormat + `))
		FROM pg_stat_subscription WHERE subname::text = ANY($1::text[]) AND relid IS NULL
		ORDER BY array_position($1::text[], subname::text)`
	// rubyTimeFormat is how pg_easy_replicate prints a timestamp (Ruby's
	// Time#to_s in UTC), as a to_char pattern.
	rubyTimeFormat = `'YYYY-MM-DD HH24:MI:SS "UTC"'`
)

// collectCompat reads pg_easy_replicate's keys; states are the group's
// tables (group.Tables). The source's lists stay empty when src is nil.
// The lists pg_easy_replicate has one row in per replication object have
// one per apply stream here.
func collectCompat(ctx context.Context, src, tgt *pgx.Conn, g group.Group, states []group.TableState) (Compat, error) {
	c := Compat{LagStats: []map[string]any{}, ReplicationSlots: []map[string]any{}, CountByState: map[string]int{}}
	streams := g.StreamNames()
	var err error
	if src != nil {
		if c.LagStats, err = jsonRows(ctx, src, lagStatsQuery, streams); err != nil {
			return c, err
		}
		for _, row := range c.LagStats {
			for _, k := range []string{"write_lag", "flush_lag", "replay_lag"} {
				if n, ok := row[k].(float64); ok {
					row[k] = rubyDecimal(int64(n))
				}
			}
		}
		if c.ReplicationSlots, err = jsonRows(ctx, src, slotsQuery, streams); err != nil {
			return c, err
		}
	}
	if c.MessageLSNReceipts, err = jsonRows(ctx, tgt, receiptsQuery, streams); err != nil {
		return c, err
	}
	rows, err := tgt.Query(ctx, replicationStatsQuery, g.ObjectName, group.Schema)
	if err != nil {
		return c, fmt.Errorf("read subscription tables: %w", err)
	}
	c.ReplicationStats, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (ReplicationStat, error) {
		var s ReplicationStat
		err := r.Scan(&s.SubscriptionName, &s.TableSchema, &s.TableName, &s.ReplicationState)
		s.ReplicationState = replicationStates[s.ReplicationState]
		return s, err
	})
	if err != nil {
		return c, fmt.Errorf("read subscription tables: %w", err)
	}
	for _, s := range c.ReplicationStats {
		c.CountByState[s.ReplicationState]++
	}
	c.SyncStartedAt = firstStart(states)
	c.setPhaseTimes(g)
	return c, nil
}

// firstStart is when the first of the tables began copying, if any did.
func firstStart(states []group.TableState) *time.Time {
	var first *time.Time
	for _, ts := range states {
		if ts.StartedAt != nil && (first == nil || ts.StartedAt.Before(*first)) {
			first = ts.StartedAt
		}
	}
	return first
}

// setPhaseTimes derives the phase timestamps from the group: the phase
// change is the group's last update, so updated_at is when it happened.
func (c *Compat) setPhaseTimes(g group.Group) {
	at := g.UpdatedAt
	switch g.Phase {
	case group.Failed:
		c.SyncFailedAt = &at
	case group.SwitchedOver:
		c.SwitchoverCompletedAt = &at
	}
	if c.SyncStartedAt == nil && g.SyncedAt != nil {
		c.SyncStartedAt = g.SyncedAt
	}
}

func jsonRows(ctx context.Context, conn *pgx.Conn, sql string, names []string) ([]map[string]any, error) {
	rows, err := conn.Query(ctx, sql, names)
	if err != nil {
		return nil, fmt.Errorf("read replication statistics: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[map[string]any])
	if err != nil {
		return nil, fmt.Errorf("read replication statistics: %w", err)
	}
	if out == nil {
		out = []map[string]any{}
	}
	return out, nil
}

// MarshalJSON writes pg_easy_replicate's keys at the top level, the same
// counts once more as count_by_state, and pgvecrep's own report under
// "pgvecrep".
func (r Report) MarshalJSON() ([]byte, error) {
	type own Report // without this method
	c := &r.Compat
	if c.CountByState == nil {
		c.CountByState = map[string]int{}
	}
	for _, l := range []*[]map[string]any{&c.LagStats, &c.ReplicationSlots, &c.MessageLSNReceipts} {
		if *l == nil {
			*l = []map[string]any{}
		}
	}
	if c.ReplicationStats == nil {
		c.ReplicationStats = []ReplicationStat{}
	}
	return json.Marshal(struct {
		Compat
		// The phase times as pg_easy_replicate prints them; these shadow
		// Compat's own fields of the same JSON names.
		SyncStartedAt         *rubyTime      `json:"sync_started_at"`
		SyncFailedAt          *rubyTime      `json:"sync_failed_at"`
		SwitchoverCompletedAt *rubyTime      `json:"switchover_completed_at"`
		CountByState          map[string]int `json:"count_by_state"`
		Pgvecrep              own            `json:"pgvecrep"`
	}{r.Compat, asRubyTime(c.SyncStartedAt), asRubyTime(c.SyncFailedAt), asRubyTime(c.SwitchoverCompletedAt),
		r.Compat.CountByState, own(r)})
}

// rubyTime is a timestamp in pg_easy_replicate's JSON form: "2026-11-29
// 22:11:06 UTC" (Ruby's Time#to_s), not RFC 3339.
type rubyTime time.Time

func asRubyTime(t *time.Time) *rubyTime { return (*rubyTime)(t) }

func (t rubyTime) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Time(t).UTC().Format("2006-01-02 15:04:05 UTC"))
}

// rubyDecimal writes a whole number the way pg_easy_replicate's JSON carries
// a numeric column (a Ruby BigDecimal's to_s): "0.0", "0.1234e4", "-0.5e1".
// Scripts that read the lags as strings, or convert them with jq's tonumber,
// keep working.
func rubyDecimal(n int64) string {
	if n == 0 {
		return "0.0"
	}
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	digits := strconv.FormatInt(n, 10)
	return fmt.Sprintf("%s0.%se%d", sign, strings.TrimRight(digits, "0"), len(digits))
}

// WriteJSON writes the report as one JSON object on one line.
func (r Report) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}
