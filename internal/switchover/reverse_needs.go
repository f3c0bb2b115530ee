package switchover

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ReverseResult is the reverse stream a switchover left behind.
type ReverseResult struct {
	Name     string `json:"name"`      // publication and slot on the target, subscription on the source
	StartLSN string `json:"start_lsn"` // the target's position the stream starts at
}

// reverseTargetQuery reads what the target (the new primary) needs to
// publish: wal_level, the right to make a slot, a free slot and a free
// WAL sender.
const reverseTargetQuery = `SELECT current_setting('wal_level'),
	(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user),
	current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots),
	current_setting('max_wal_senders')::int - (SELECT count(*) FROM pg_stat_replication)`

// reverseSourceQuery reads whether the source's role (the old primary) may
// create a subscription: a superuser, or on 16+ a member of
// pg_create_subscription with CREATE on the database. The role is looked up
// by name, so a 15 server, which lacks it, says false instead of failing.
const reverseSourceQuery = `SELECT rolsuper OR (EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = 'pg_create_subscription'
	AND pg_has_role(current_user, r.oid, 'MEMBER')) AND has_database_privilege(current_database(), 'CREATE'))
	FROM pg_roles WHERE rolname = current_user`

// ReverseNeeds lists what the reverse direction lacks, one line each with
// what to change; empty when a switchover can leave a reverse stream. src
// is the side that would subscribe (the current source), tgt the side
// that would publish (the current target). Read-only.
func ReverseNeeds(ctx context.Context, src, tgt *pgx.Conn) ([]string, error) {
	var wal string
	var canSlot bool
	var freeSlots, freeSenders int
	if err := tgt.QueryRow(ctx, reverseTargetQuery).Scan(&wal, &canSlot, &freeSlots, &freeSenders); err != nil {
		return nil, fmt.Errorf("read what the target needs to publish: %w", err)
	}
	var out []string
	if wal != "logical" {
		out = append(out, fmt.Sprintf("target: wal_level is %s; set wal_level = logical and restart the target to leave a way back", wal))
	}
	if !canSlot {
		out = append(out, "target: the role cannot create a replication slot; ALTER ROLE ... WITH REPLICATION")
	}
	if freeSlots < 1 {
		out = append(out, "target: no free replication slot; raise max_replication_slots (restart) or drop an unused slot")
	}
	if freeSenders < 1 {
		out = append(out, "target: no free WAL sender; raise max_wal_senders (restart)")
	}
	var canSub bool
	if err := src.QueryRow(ctx, reverseSourceQuery).Scan(&canSub); err != nil {
		return nil, fmt.Errorf("read what the source needs to subscribe: %w", err)
	}
	if !canSub {
		out = append(out, "source: the role cannot create a subscription; it must be a superuser, or on PostgreSQL 16+ GRANT pg_create_subscription and CREATE on the database")
	}
	return out, nil
}
