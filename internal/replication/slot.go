package replication

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/retry"
)

// Slot is a logical replication slot just created with an exported snapshot.
type Slot struct {
	Name          string
	SnapshotName  string // for SET TRANSACTION SNAPSHOT, valid until Close
	ConsistentLSN string // the slot's consistent point, e.g. 0/1A2B3C8

	conn *pgconn.PgConn
}

// slotName is what PostgreSQL accepts as a replication slot name. Checking it
// here gives a clear error before anything is created.
var slotName = regexp.MustCompile(`^[a-z0-9_]{1,63}$`)

// failoverMajor is the first source version with failover slots: a slot
// created with failover = true is kept in step on the source's physical
// standbys (sync_replication_slots = on there), so after a failover of the
// source the subscription continues from its standby instead of losing its
// slot. Without a standby configured for it the flag changes nothing, so
// every slot on a 17+ source gets it.
const failoverMajor = 17

// CreateSlot creates the permanent logical slot named slot with the pgoutput
// plugin on the source cfg points at, and exports its snapshot.
//
// It uses the pre-PostgreSQL-15 spelling EXPORT_SNAPSHOT, which every server
// from 10 on still accepts, rather than (SNAPSHOT 'export'), which only 15+
// knows. The caller must Close the returned Slot once every reader has
// imported the snapshot; the slot itself stays until DropSlot.
func CreateSlot(ctx context.Context, cfg *pgx.ConnConfig, slot string) (*Slot, error) {
	if !slotName.MatchString(slot) {
		return nil, hint.New(fmt.Sprintf("invalid replication slot name %q", slot),
			"slot names are 1-63 lower-case letters, digits and underscores")
	}
	rc := pg.ReplicationConfig(cfg)
	conn, err := pgconn.ConnectConfig(ctx, rc)
	if err != nil {
		return nil, pg.ConnectError(pg.Source, *rc, err)
	}
	sql := fmt.Sprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput EXPORT_SNAPSHOT", pgx.Identifier{slot}.Sanitize())
	if serverMajor(conn) >= failoverMajor {
		sql = fmt.Sprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT 'export', FAILOVER true)", pgx.Identifier{slot}.Sanitize())
	}
	results, err := conn.Exec(ctx, sql).ReadAll()
	if err == nil && (len(results) != 1 || len(results[0].Rows) != 1 || len(results[0].Rows[0]) < 3) {
		err = errors.New("unexpected reply from the server")
	}
	if err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, createError(slot, err)
	}
	row := results[0].Rows[0]
	return &Slot{Name: slot, ConsistentLSN: string(row[1]), SnapshotName: string(row[2]), conn: conn}, nil
}

// CopySlot creates slot to on the source as a copy of slot from: the same
// plugin, and the same position, so it streams exactly the transactions
// from streams (parallel apply's streams start at one point this way). from
// must be a finished slot: its creation returned.
func CopySlot(ctx context.Context, src *pgx.Conn, from, to string) error {
	if _, err := src.Exec(ctx, `SELECT pg_copy_logical_replication_slot($1, $2)`, from, to); err != nil {
		return createError(to, err)
	}
	return nil
}

// CreateSlotNoSnapshot creates the permanent logical slot named slot with
// the pgoutput plugin on the source, exporting no snapshot: for the native
// copy, where the subscription's own table sync copies the data. It is made
// before the subscription, which then attaches to it (see the package doc).
func CreateSlotNoSnapshot(ctx context.Context, src *pgx.Conn, slot string) error {
	sql := `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`
	if serverMajor(src.PgConn()) >= failoverMajor {
		sql = `SELECT pg_create_logical_replication_slot($1, 'pgoutput', false, false, true)`
	}
	if _, err := src.Exec(ctx, sql, slot); err != nil {
		return createError(slot, err)
	}
	return nil
}

// createError adds what to do for the usual reasons slot creation fails.
func createError(slot string, err error) error {
	err = fmt.Errorf("create replication slot %q: %w", slot, err)
	switch pg.Code(err) {
	case "42710":
		return hint.Wrap(err, "a slot of that name exists already; run cleanup for the group, or drop it with SELECT pg_drop_replication_slot('"+slot+"')")
	case "53400":
		return hint.Wrap(err, "the source has no free replication slot; raise max_replication_slots and restart it, or drop unused slots")
	case "42501":
		return hint.Wrap(err, "the source user needs the REPLICATION attribute: ALTER ROLE ... WITH REPLICATION")
	case "55000":
		return hint.Wrap(err, "logical decoding needs wal_level = logical on the source (restart required)")
	}
	return err
}

// Close ends the exported snapshot by closing the replication connection.
// The slot stays and keeps WAL from its consistent point on. Close is safe to
// call more than once.
func (s *Slot) Close(ctx context.Context) error {
	if s == nil || s.conn == nil {
		return nil
	}
	err := s.conn.Close(ctx)
	s.conn = nil
	if err != nil {
		return fmt.Errorf("close replication connection of slot %q: %w", s.Name, err)
	}
	return nil
}

// dropRetry tries the drop again only while the slot is active (55006
// object_in_use): dropOnce terminates the walsender holding it, but the
// backend exits asynchronously after pg_terminate_backend returns. Up to
// 100 attempts, 100ms apart: about ten seconds.
var dropRetry = retry.Policy{Attempts: 100, Pause: 100 * time.Millisecond, MaxPause: 100 * time.Millisecond,
	Retryable: retry.Codes("55006")}

// DropSlot drops the replication slot name on conn's server. A missing slot
// is not an error, so cleanup can run again after a partial failure. A slot
// still held by a walsender (a live snapshot connection, or a subscription
// that is still enabled) has that walsender terminated first.
func DropSlot(ctx context.Context, conn *pgx.Conn, name string) error {
	return retry.Do(ctx, dropRetry, func(ctx context.Context) error { return dropOnce(ctx, conn, name) })
}

const terminateSlotQuery = `
SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots
WHERE slot_name = $1 AND active_pid IS NOT NULL AND active_pid <> pg_backend_pid()`

const dropSlotQuery = `
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`

const slotExistsQuery = `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`

// dropSlotIfExists is DropSlot that tells whether there was a slot to drop,
// so Detach reports only what it removed.
func dropSlotIfExists(ctx context.Context, src *pgx.Conn, name string) (bool, error) {
	if ok, err := exists(ctx, src, slotExistsQuery, "replication slot", name); !ok || err != nil {
		return false, err
	}
	return true, DropSlot(ctx, src, name)
}

func dropOnce(ctx context.Context, conn *pgx.Conn, name string) error {
	if _, err := conn.Exec(ctx, terminateSlotQuery, name); err != nil {
		return fmt.Errorf("terminate walsender of slot %q: %w", name, err)
	}
	_, err := conn.Exec(ctx, dropSlotQuery, name)
	if pg.Code(err) == "42704" { // dropped by someone else in between
		return nil
	}
	if err != nil {
		return fmt.Errorf("drop replication slot %q: %w", name, err)
	}
	return nil
}
