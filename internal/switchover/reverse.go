package switchover

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// The reverse stream is the way back after a switchover: a publication and
// a slot on the new primary, and a subscription on the old primary, all
// named group.ReverseName, so that the old primary follows every write made
// on the new one until switchback (switchback.go) or until the user decides
// to stay (DropReverse).
//
// Why its start position is safe: the slot is created inside the write
// freeze, after the final drain and before the switchover returns, so
// before any application is told to write to the new primary. Everything
// the new primary holds below the slot's consistent point came from the old
// primary (the drain proved the old primary's last write applied, and the
// freeze keeps it that way); everything above it is decoded by the slot.
// Taking the position after the traffic switch would lose the writes made
// in between. The publication is made before the slot: pgoutput looks
// publications up in the catalog as of each change it decodes, and one
// created after the slot's start is not found for the first changes.
//
// Why the reverse apply writes through the old primary's freeze: the
// freeze is an ordinary trigger (freeze.go), and an apply worker runs with
// session_replication_role = replica, under which only triggers marked
// ENABLE REPLICA or ENABLE ALWAYS fire. Applications' sessions keep the
// default (origin), so they still meet the freeze; nothing else is exempt.
// The same holds in the other direction once switchback has frozen the new
// primary and restarted the forward stream.
//
// Nothing loops back: the forward subscription is dropped right after the
// reverse slot is made, and no forward change arrives in between because
// the old primary is frozen and drained; switchback drops the reverse
// stream before it subscribes the new primary to the old one again.

// reverseTables is what the reverse publication carries: the group's
// tables, less pgvecrep's own (the DDL capture's log).
func reverseTables(tables []pg.Name) []pg.Name {
	var out []pg.Name
	for _, t := range tables {
		if t.Schema != group.Schema {
			out = append(out, t)
		}
	}
	return out
}

// createStream makes a publication and a slot, both named name, on conn's
// server for tables, and returns the slot's start position. A leftover of
// an interrupted run (same name) is dropped first: its position is not
// this run's.
func createStream(ctx context.Context, conn *pgx.Conn, name string, tables []pg.Name) (string, error) {
	if _, err := dropStream(ctx, conn, name); err != nil {
		return "", err
	}
	if err := replication.CreatePublicationWith(ctx, conn, name, tables, replication.PublicationOptions{ViaRoot: true}); err != nil {
		return "", err
	}
	if err := replication.CreateSlotNoSnapshot(ctx, conn, name); err != nil {
		return "", err
	}
	var lsn string
	if err := conn.QueryRow(ctx, `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, name).Scan(&lsn); err != nil {
		return "", fmt.Errorf("read the start of replication slot %s: %w", name, err)
	}
	return lsn, nil
}

// dropStream drops the slot and the publication named name on conn's
// server, whichever exist, and returns what it dropped.
func dropStream(ctx context.Context, conn *pgx.Conn, name string) (dropped []string, err error) {
	var slot bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, name).Scan(&slot); err != nil {
		return nil, fmt.Errorf("look up replication slot %s: %w", name, err)
	}
	if slot {
		if err := replication.DropSlot(ctx, conn, name); err != nil {
			return nil, err
		}
		dropped = append(dropped, "replication slot "+name)
	}
	pub, err := replication.DropPublication(ctx, conn, name)
	if pub {
		dropped = append(dropped, "publication "+name)
	}
	return dropped, err
}

// prepareReverse creates the reverse publication and slot on the new
// primary and records the stream as preparing. It runs inside the freeze,
// after the drain (see above).
func (s *run) prepareReverse(ctx context.Context, res *Result) error {
	name := group.ReverseName(s.g.Name)
	lsn, err := createStream(ctx, s.tgt, name, s.revTables)
	if err != nil {
		return hint.Wrap(fmt.Errorf("create the reverse stream on the target: %w", err),
			fmt.Sprintf("switch over without a way back with pgvecrep switchover -g %s --no-reverse, or fix the cause (pgvecrep config_check lists what the reverse direction needs)", s.g.Name))
	}
	res.Reverse = &ReverseResult{Name: name, StartLSN: lsn}
	s.say(event.Setup, "reverse stream %s starts on the target at %s", name, lsn)
	return group.SetReverse(ctx, s.tgt, group.Reverse{Group: s.g.Name, ObjectName: name, StartLSN: lsn, State: group.ReversePreparing})
}

// attachReverse subscribes the old primary to the new one. It runs after
// the detach; when it fails the switchover has still happened, so the
// reverse objects are removed and the failure becomes a warning.
func (s *run) attachReverse(ctx context.Context, res *Result) {
	err := replication.CreateSubscription(ctx, s.src, replication.Subscription{Name: res.Reverse.Name,
		Publication: res.Reverse.Name, Slot: res.Reverse.Name, ConnInfo: s.opts.ReverseConnInfo})
	if err == nil {
		err = group.SetReverseState(ctx, s.tgt, s.g.Name, group.ReverseStreaming)
	}
	if err == nil {
		s.say(event.Setup, "the source follows the target through subscription %s", res.Reverse.Name)
		return
	}
	res.ReverseSkipped = append(res.ReverseSkipped, fmt.Sprintf("no way back: subscribe the source to the target: %v (the source must reach the target at TARGET_DB_URL, or SECONDARY_TARGET_DB_URL when it sees the target at another address)", err))
	res.Reverse = nil
	if _, err := DropReverse(ctx, s.src, s.tgt, s.g.Name, s.ev); err != nil {
		res.ReverseSkipped = append(res.ReverseSkipped, fmt.Sprintf("and removing the reverse stream failed: %v (run pgvecrep stop_sync -g %s)", err, s.g.Name))
	}
}

// DropReverse removes group's reverse stream: the subscription on the old
// primary, the slot and publication on the new primary, and the record. It
// means "we stay on the new primary". oldPrimary may be nil when it is
// unreachable: the subscription is then left there, and left is the SQL
// to drop it once it is back (empty otherwise). Safe to run when there is
// no reverse stream.
func DropReverse(ctx context.Context, oldPrimary, newPrimary *pgx.Conn, groupName string, p replication.Printer) (left string, err error) {
	name := group.ReverseName(groupName)
	_, recorded, err := group.GetReverse(ctx, newPrimary, groupName)
	if err != nil {
		return "", err
	}
	if oldPrimary != nil {
		if dropped, err := replication.DropSubscription(ctx, oldPrimary, name); err != nil {
			return "", err
		} else if dropped {
			p.Emit(event.Event{Phase: event.Detach, Message: fmt.Sprintf("dropped reverse subscription %s on the source", name)})
		}
	}
	if err := dropReverseStream(ctx, newPrimary, groupName, p); err != nil {
		return "", err
	}
	if oldPrimary == nil && recorded {
		return fmt.Sprintf("ALTER SUBSCRIPTION %[1]s DISABLE; ALTER SUBSCRIPTION %[1]s SET (slot_name = NONE); DROP SUBSCRIPTION %[1]s;", pgx.Identifier{name}.Sanitize()), nil
	}
	return "", nil
}

// dropReverseStream removes the reverse slot and publication on the new
// primary and forgets the stream.
func dropReverseStream(ctx context.Context, newPrimary *pgx.Conn, groupName string, p replication.Printer) error {
	dropped, err := dropStream(ctx, newPrimary, group.ReverseName(groupName))
	if err != nil {
		return err
	}
	for _, d := range dropped {
		p.Emit(event.Event{Phase: event.Detach, Message: fmt.Sprintf("dropped reverse %s on the target", d)})
	}
	return group.DeleteReverse(ctx, newPrimary, groupName)
}

// reverseObjectsQuery lists the names of reverse streams' objects on one
// side: subscriptions in this database, slots of this database and
// publications, each named pgvecrep_..._rev.
const reverseObjectsQuery = `SELECT subname::text FROM pg_subscription
	WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND subname LIKE 'pgvecrep\_%\_rev'
	UNION SELECT slot_name::text FROM pg_replication_slots WHERE database = current_database() AND slot_name LIKE 'pgvecrep\_%\_rev'
	UNION SELECT pubname::text FROM pg_publication WHERE pubname LIKE 'pgvecrep\_%\_rev'`

// DropAllReverse removes every reverse stream's objects on both sides,
// whichever side each is on, for cleanup --everything.
func DropAllReverse(ctx context.Context, src, tgt *pgx.Conn, p replication.Printer) error {
	for _, side := range []struct {
		conn *pgx.Conn
		name string
	}{{src, "source"}, {tgt, "target"}} {
		rows, err := side.conn.Query(ctx, reverseObjectsQuery)
		if err != nil {
			return fmt.Errorf("list reverse streams on the %s: %w", side.name, err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("list reverse streams on the %s: %w", side.name, err)
		}
		for _, n := range names {
			if dropped, err := replication.DropSubscription(ctx, side.conn, n); err != nil {
				return err
			} else if dropped {
				p.Emit(event.Event{Phase: event.Detach, Message: fmt.Sprintf("dropped reverse subscription %s on the %s", n, side.name)})
			}
			dropped, err := dropStream(ctx, side.conn, n)
			if err != nil {
				return err
			}
			for _, d := range dropped {
				p.Emit(event.Event{Phase: event.Detach, Message: fmt.Sprintf("dropped reverse %s on the %s", d, side.name)})
			}
		}
	}
	return nil
}

// noIdentityQuery lists which of the tables ($1, quoted) have no usable
// replica identity on conn's server: none, or the default with no primary
// key, or an index that is gone.
const noIdentityQuery = `SELECT t FROM unnest($1::text[]) t JOIN pg_class c ON c.oid = t::regclass
	WHERE c.relkind = 'r' AND (c.relreplident = 'n'
	   OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary))
	   OR (c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)))`

// splitByIdentity parts the tables into those the reverse stream can carry
// and those it must leave out. A table without a usable replica identity
// in a publication that publishes updates and deletes makes every UPDATE
// and DELETE on it fail on the publisher: on the new primary, the
// application's. So such a table is left out of the reverse stream, and
// said so, rather than broken.
func splitByIdentity(ctx context.Context, conn *pgx.Conn, tables []pg.Name) (carried []pg.Name, left []string, err error) {
	rows, err := conn.Query(ctx, noIdentityQuery, catalog.QuotedNames(tables))
	if err != nil {
		return nil, nil, fmt.Errorf("read the replica identities on the target: %w", err)
	}
	keyless, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, nil, fmt.Errorf("read the replica identities on the target: %w", err)
	}
	out := map[string]bool{}
	for _, k := range keyless {
		out[k] = true
	}
	for _, t := range tables {
		if out[t.Quoted()] {
			left = append(left, t.String())
		} else {
			carried = append(carried, t)
		}
	}
	return carried, left, nil
}
