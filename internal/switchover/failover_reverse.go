package switchover

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// ReverseFailoverResult is what a failover to the old primary found and did.
type ReverseFailoverResult struct {
	LastAppliedLSN  string     `json:"last_applied_lsn"` // the new primary's last commit the source applied
	LastMessageTime *time.Time `json:"last_message_time"`
	Tables          []string   `json:"tables"`
	Sequences       []string   `json:"sequences"`
	Unfrozen        int        `json:"unfrozen_tables"`
	OrphanSlot      string     `json:"orphan_slot"`
	DropSlotSQL     string     `json:"drop_slot_sql"` // to run on the lost new primary once it is back
}

// reverseTablesQuery lists the tables the reverse subscription applies to.
const reverseTablesQuery = `SELECT n.nspname::text, c.relname::text FROM pg_subscription_rel sr
	JOIN pg_subscription s ON s.oid = sr.srsubid JOIN pg_class c ON c.oid = sr.srrelid
	JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE s.subname = $1 AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
	ORDER BY 1, 2`

// FailoverReverse is failover in the reverse direction: the new primary
// (the target) is gone after a switchover, and the old primary (the source)
// takes over with what the reverse stream brought it, without contacting
// the target. The group's metadata is on the lost target, so the tables
// come from the reverse subscription itself. It detaches and drops the
// reverse subscription, sets the sequences past the data (the target's
// last values never arrive: logical replication does not carry them), and
// lifts the source's write freeze.
func FailoverReverse(ctx context.Context, src *pgx.Conn, opts FailoverOptions) (ReverseFailoverResult, error) {
	var res ReverseFailoverResult
	if opts.SequenceGap <= 0 {
		opts.SequenceGap = DefaultSequenceGap
	}
	p := progress.New(opts.Out)
	name := group.ReverseName(opts.Group)
	rows, err := src.Query(ctx, reverseTablesQuery, name)
	if err != nil {
		return res, fmt.Errorf("read the tables of subscription %s: %w", name, err)
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pg.Name, error) {
		var n pg.Name
		return n, r.Scan(&n.Schema, &n.Name)
	})
	if err != nil {
		return res, fmt.Errorf("read the tables of subscription %s: %w", name, err)
	}
	if len(tables) == 0 {
		return res, hint.New(fmt.Sprintf("no reverse subscription %s with tables on the source", name),
			"failover --reverse follows a switchover that left a way back; without one there is nothing to take over from (see pgvecrep failover --help)")
	}
	var fr FailoverResult
	if err := lastApplied(ctx, src, name, &fr); err != nil {
		return res, err
	}
	res.LastAppliedLSN, res.LastMessageTime = fr.LastAppliedLSN, fr.LastMessageTime
	if _, err := replication.DropSubscription(ctx, src, name); err != nil {
		return res, err
	}
	p.Emit(event.Event{Phase: event.Detach, Message: fmt.Sprintf("dropped reverse subscription %s on the source", name)})
	seqs, err := Sequences(ctx, src, tables)
	if err != nil {
		return res, err
	}
	if res.Sequences, err = AdvanceFromData(ctx, src, seqs, opts.SequenceGap); err != nil {
		return res, err
	}
	if res.Unfrozen, err = UnfreezeGroup(ctx, src, opts.Group); err != nil {
		return res, err
	}
	for _, t := range tables {
		res.Tables = append(res.Tables, t.String())
	}
	res.OrphanSlot, res.DropSlotSQL = name, replication.DropSQL(name, name)
	return res, nil
}
