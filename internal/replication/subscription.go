package replication

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Subscription describes a subscription to create on the target.
type Subscription struct {
	Name        string
	Publication string
	// Slot must exist on the source already (CreateSlot or
	// CreateSlotNoSnapshot): the subscription never creates one.
	Slot string
	// ConnInfo is how the target reaches the source. It holds a password, so
	// it is redacted from every error.
	ConnInfo string
	// CopyData selects the engine's own initial copy (native mode); without
	// it the subscription streams from the slot's consistent point only.
	CopyData bool
	// TextOnly keeps the native copy and the stream in text on a 16+ target:
	// for the caller that knows a type's binary form differs between the
	// two sides (different extension versions).
	TextOnly bool
	// Failover marks the subscription's slot as a failover slot, on 17+
	// targets; set it when the slot was created on a 17+ source.
	Failover bool
	// Disabled creates it disabled (EnableAll starts several at once).
	Disabled bool
	// Log, when set, is told which features of a newer target the
	// subscription uses (see subscriptionOptions).
	Log Printer
}

// CreateSubscription creates and enables the subscription on the target,
// attached to its existing slot. The statement runs with statement logging
// off where the target role may turn it off (see quietSettings), so the
// password in ConnInfo does not reach the target's server log.
func CreateSubscription(ctx context.Context, tgt *pgx.Conn, s Subscription) error {
	with, notes := subscriptionOptions(s, serverMajor(tgt.PgConn()))
	sql := fmt.Sprintf("CREATE SUBSCRIPTION %s CONNECTION %s PUBLICATION %s WITH (%s)",
		pgx.Identifier{s.Name}.Sanitize(), pg.Literal(s.ConnInfo),
		pgx.Identifier{s.Publication}.Sanitize(), with)
	tx, err := quietTx(ctx, tgt)
	if err != nil {
		return fmt.Errorf("create subscription %s on the target: %w", s.Name, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err = tx.Exec(ctx, sql); err == nil {
		err = tx.Commit(ctx)
	}
	if err != nil {
		return hint.Wrap(fmt.Errorf("create subscription %s on the target: %s", s.Name, redact(err.Error(), s.ConnInfo)),
			"the target must reach the source at SOURCE_DB_URL (or SECONDARY_SOURCE_DB_URL when the target sees the source at another address)")
	}
	if s.Log != nil {
		for _, n := range notes {
			s.Log.Emit(event.Event{Phase: event.Setup, Message: n})
		}
	}
	return nil
}

// redact removes connInfo and the password in it from msg.
func redact(msg, connInfo string) string {
	msg = pg.Redact(msg, connInfo)
	if cfg, err := pgx.ParseConfig(connInfo); err == nil {
		msg = pg.Redact(msg, cfg.Password)
	}
	return msg
}

const subscriptionExistsQuery = `SELECT EXISTS (SELECT 1 FROM pg_subscription WHERE subname = $1
AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()))`

// DropSubscription detaches subscription name from its slot and drops it,
// without contacting the source, and reports whether it existed. The slot
// stays on the source: drop it with DropSlot, or tell the user DropSQL.
func DropSubscription(ctx context.Context, tgt *pgx.Conn, name string) (bool, error) {
	if ok, err := exists(ctx, tgt, subscriptionExistsQuery, "subscription", name); !ok || err != nil {
		return false, err
	}
	id := pgx.Identifier{name}.Sanitize()
	// SET (slot_name = NONE) needs a disabled subscription; with no slot,
	// DROP SUBSCRIPTION does not connect to the source to drop one.
	for _, sql := range []string{"ALTER SUBSCRIPTION " + id + " DISABLE",
		"ALTER SUBSCRIPTION " + id + " SET (slot_name = NONE)", "DROP SUBSCRIPTION " + id} {
		if _, err := tgt.Exec(ctx, sql); err != nil {
			return false, fmt.Errorf("drop subscription %s on the target: %w", name, err)
		}
	}
	return true, nil
}

// Detach drops the subscription name on the target and the slot and
// publication of the same name on the source, whichever exist, printing each
// one it drops. src may be nil when the source is unreachable: the
// subscription is still detached and dropped, and the slot and publication
// stay behind, so the caller must tell the user DropSQL(name, name).
func Detach(ctx context.Context, src, tgt *pgx.Conn, name string, p Printer) error {
	if dropped, err := DropSubscription(ctx, tgt, name); err != nil {
		return err
	} else if dropped {
		p.Emit(event.Event{Phase: event.Detach, Message: fmt.Sprintf("dropped subscription %s on the target", name)})
	}
	if src == nil {
		return nil
	}
	if dropped, err := dropSlotIfExists(ctx, src, name); err != nil {
		return err
	} else if dropped {
		p.Emit(event.Event{Phase: event.Detach, Message: fmt.Sprintf("dropped replication slot %s on the source", name)})
	}
	if dropped, err := DropPublication(ctx, src, name); err != nil {
		return err
	} else if dropped {
		p.Emit(event.Event{Phase: event.Detach, Message: fmt.Sprintf("dropped publication %s on the source", name)})
	}
	return nil
}

// EnableAll enables the named subscriptions in one transaction. The
// target's launcher starts the apply workers of every enabled subscription
// that has none in one pass, but makes a pass at most once per
// wal_retrieve_retry_interval (5 s by default): subscriptions created one
// after another would get their workers 5 s apart, and a group with
// several apply streams would stream on some of them only. Enabled at one
// commit, they start together.
func EnableAll(ctx context.Context, tgt *pgx.Conn, names []string) error {
	return pgx.BeginFunc(ctx, tgt, func(tx pgx.Tx) error {
		for _, n := range names {
			if _, err := tx.Exec(ctx, "ALTER SUBSCRIPTION "+pgx.Identifier{n}.Sanitize()+" ENABLE"); err != nil {
				return fmt.Errorf("enable subscription %s on the target: %w", n, err)
			}
		}
		return nil
	})
}

// WaitWorkers waits until every named subscription has a running apply
// worker, or until deadline, and returns the ones that have none.
func WaitWorkers(ctx context.Context, tgt *pgx.Conn, names []string, deadline time.Time) ([]string, error) {
	for {
		var missing []string
		err := tgt.QueryRow(ctx, `SELECT coalesce(array_agg(n ORDER BY n), '{}') FROM unnest($1::text[]) n
			WHERE NOT EXISTS (SELECT 1 FROM pg_stat_subscription st WHERE st.subname = n AND st.pid IS NOT NULL AND st.relid IS NULL)`, names).Scan(&missing)
		if err != nil {
			return nil, fmt.Errorf("look for the apply workers on the target: %w", err)
		}
		if len(missing) == 0 || !time.Now().Before(deadline) {
			return missing, nil
		}
		select {
		case <-ctx.Done():
			return missing, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
