package switchover

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/parallel"
)

// FailoverOptions describe a failover.
type FailoverOptions struct {
	Group       string
	SequenceGap int64 // added past each column's max value; 0 = DefaultSequenceGap
	// Events receives what the failover does (package event); when nil,
	// they are rendered on Out.
	Events event.Sink
	Out    io.Writer
}

// DefaultSequenceGap leaves room for ids the lost source handed out in
// transactions that never reached the target.
const DefaultSequenceGap = 1000

// FailoverResult is what a failover found and did.
type FailoverResult struct {
	LastAppliedLSN  string     `json:"last_applied_lsn"`
	LastMessageTime *time.Time `json:"last_message_time"`
	Sequences       []string   `json:"sequences"`
	OrphanSlot      string     `json:"orphan_slot"`
	DropSlotSQL     string     `json:"drop_slot_sql"`
}

// Failover makes the target stand alone without contacting the source:
// the subscription is detached from its slot and dropped, sequences are set
// past the data, and the group is marked failed_over. The slot stays on the
// old source; the result says how to drop it once the source is back.
func Failover(ctx context.Context, tgt *pgx.Conn, opts FailoverOptions) (FailoverResult, error) {
	var res FailoverResult
	if opts.SequenceGap <= 0 {
		opts.SequenceGap = DefaultSequenceGap
	}
	p := sinkOf(opts.Events, opts.Out)
	g, err := group.Get(ctx, tgt, opts.Group)
	if err != nil {
		return res, err
	}
	if g.Phase == group.SwitchedOver || g.Phase == group.FailedOver {
		return res, hint.New(fmt.Sprintf("group %q has already been %s", g.Name, g.Phase), "nothing to do")
	}
	if err := group.Claim(ctx, tgt, g.Name); err != nil {
		return res, err
	}
	if err := lastApplied(ctx, tgt, g.ObjectName, &res); err != nil {
		return res, err
	}
	if err := parallel.Detach(ctx, nil, tgt, g, p); err != nil {
		return res, err
	}
	seqs, err := Sequences(ctx, tgt, g.Tables)
	if err != nil {
		return res, err
	}
	if res.Sequences, err = AdvanceFromData(ctx, tgt, seqs, opts.SequenceGap); err != nil {
		return res, err
	}
	if err := group.SetPhase(ctx, tgt, g.Name, group.FailedOver); err != nil {
		return res, err
	}
	res.OrphanSlot = strings.Join(g.StreamNames(), ", ")
	res.DropSlotSQL = parallel.LeftoverSQL(g)
	return res, nil
}

// lastApplied reads how far the target got: the replication origin's remote
// LSN is the last source commit applied, and the subscription's last message
// time says when the source was last heard from.
func lastApplied(ctx context.Context, tgt *pgx.Conn, sub string, res *FailoverResult) error {
	err := tgt.QueryRow(ctx, `SELECT coalesce((SELECT os.remote_lsn::text FROM pg_replication_origin_status os
			WHERE os.external_id = 'pg_' || s.oid::text), ''),
		(SELECT max(st.last_msg_receipt_time) FROM pg_stat_subscription st WHERE st.subid = s.oid)
		FROM pg_subscription s WHERE s.subname = $1
		AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`, sub).
		Scan(&res.LastAppliedLSN, &res.LastMessageTime)
	if err == pgx.ErrNoRows {
		return hint.New(fmt.Sprintf("subscription %s not found on the target", sub),
			"the group is not replicating (see pgvecrep stats); nothing to fail over")
	}
	if err != nil {
		return fmt.Errorf("read the last applied position: %w", err)
	}
	return nil
}
