// Package group keeps what a replication group is and where it stands, in the
// pgvecrep schema on the target.
//
// The target holds the state because the target is what survives: after a
// switchover or failover the source may be gone, and the next pgvecrep run
// must still know what happened. The source holds only the publication and
// the slot, both named after the group.
//
// This package is the schema's only owner: its tables change only through
// the versioned list in migrate.go, and other packages read and write them
// only through the functions here (no pgvecrep.* SQL elsewhere). Objects
// pgvecrep keeps in the schema that are not metadata (DDL capture, the
// write freeze) take its name from Schema.
package group

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Phase is where a group stands.
type Phase string

// The phases, in the order a healthy group passes them.
const (
	Bootstrapped Phase = "bootstrapped"
	Copying      Phase = "copying"
	Indexing     Phase = "indexing"
	Streaming    Phase = "streaming"
	SwitchedOver Phase = "switched_over"
	FailedOver   Phase = "failed_over"
	Stopped      Phase = "stopped"
	Failed       Phase = "failed"
)

// Schema is the metadata schema on the target.
const Schema = "pgvecrep"

// ErrNotFound is returned for an unknown group.
var ErrNotFound = errors.New("group not found")

// Group is one replication group.
type Group struct {
	Name        string
	Phase       Phase
	Tables      []pg.Name // from pgvecrep.tables, ordered by schema and name
	ObjectName  string    // publication, slot and subscription name on both sides
	Streams     int       // apply streams (1, or N with parallel apply); see StreamNames
	CopyMode    string
	SnapshotLSN string // the slot's consistent point, where streaming starts; "" before
	LastError   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	SyncedAt    *time.Time
}

// ObjectName is the name of the publication, slot and subscription of a group.
// Slot names allow only lower-case letters, digits and underscores, up to 63
// bytes; group names are free text, so other characters become underscores and
// a short hash of the original keeps two groups that differ only there apart.
func ObjectName(group string) string {
	var b strings.Builder
	changed := false
	for _, r := range group {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			b.WriteRune(r + 'a' - 'A')
			changed = true
		default:
			b.WriteByte('_')
			changed = true
		}
	}
	base := b.String()
	if len(base) > 40 {
		base, changed = base[:40], true
	}
	name := "pgvecrep_" + base
	if changed {
		sum := sha256.Sum256([]byte(group))
		name += "_" + hex.EncodeToString(sum[:4])
	}
	return name
}

// StreamName is the name of apply stream k of the group whose objects are
// called object: stream 0 is the group's own publication, slot and
// subscription (object itself), which carries every table; streams 1 and
// up carry only their share of the tables spread by parallel apply.
func StreamName(object string, k int) string {
	if k == 0 {
		return object
	}
	return fmt.Sprintf("%s_p%d", object, k)
}

// StreamBase is the name of stream 0 of the group a stream's object name
// belongs to: name itself, or name without its "_pK" (see StreamName).
// A publication that is no group's stream 0 maps back to its group through
// it (ObjectName maps a group to stream 0 only).
func StreamBase(name string) string {
	i := strings.LastIndex(name, "_p")
	if i < 0 || i+2 == len(name) {
		return name
	}
	for _, r := range name[i+2:] {
		if r < '0' || r > '9' {
			return name
		}
	}
	return name[:i]
}

// StreamNames lists the publication, slot and subscription names of every
// apply stream of the group, stream 0 first. Anything that waits for the
// target to catch up, or takes the group down, goes through all of them.
func (g Group) StreamNames() []string {
	n := max(g.Streams, 1)
	names := make([]string, n)
	for k := range names {
		names[k] = StreamName(g.ObjectName, k)
	}
	return names
}

// SetStreams records how many apply streams a group's start_sync creates,
// before it creates them, so a run that dies halfway is cleaned up whole.
func SetStreams(ctx context.Context, conn *pgx.Conn, name string, n int) error {
	if _, err := conn.Exec(ctx, `UPDATE pgvecrep.groups SET apply_streams = $2, updated_at = now() WHERE name = $1`, name, max(n, 1)); err != nil {
		return fmt.Errorf("record the apply streams of group %q: %w", name, err)
	}
	return nil
}

// EnsureSchema creates the metadata schema, or brings one written by an
// earlier version up to date (see migrations); safe to run any number of
// times. It refuses a pgvecrep schema owned by another role (see
// EnsureOwnSchema).
func EnsureSchema(ctx context.Context, conn *pgx.Conn) error {
	if err := EnsureOwnSchema(ctx, conn, "target"); err != nil {
		return err
	}
	return migrate(ctx, conn)
}

// SchemaExists reports whether the metadata schema is there, and fails for
// one owned by a role pgvecrep cannot trust (see EnsureOwnSchema).
func SchemaExists(ctx context.Context, conn *pgx.Conn) (bool, error) {
	if exists, err := checkOwner(ctx, conn, "target"); err != nil || !exists {
		return false, err
	}
	if ok, err := relationExists(ctx, conn, "groups"); err != nil || !ok {
		return false, err
	}
	// Every reader comes through here, and a user who upgrades runs stats or
	// stop_sync on an existing group without bootstrapping again.
	return true, migrate(ctx, conn)
}

// mustExist brings the metadata schema up to date, and fails with
// ErrNotFound (and the hint to bootstrap) when there is none.
func mustExist(ctx context.Context, conn *pgx.Conn, name string) error {
	ok, err := SchemaExists(ctx, conn)
	if err != nil {
		return err
	}
	if !ok {
		return notFound(name)
	}
	return nil
}

// Create records a new group in phase bootstrapped; an existing one is left
// as it is (bootstrap is idempotent).
func Create(ctx context.Context, conn *pgx.Conn, name string) (Group, error) {
	if _, err := conn.Exec(ctx, `INSERT INTO pgvecrep.groups (name, phase, object_name)
		VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`, name, Bootstrapped, ObjectName(name)); err != nil {
		return Group{}, fmt.Errorf("record group %q: %w", name, err)
	}
	return Get(ctx, conn, name)
}

// Get reads a group. An unknown group (or no metadata at all) is ErrNotFound
// with a hint to bootstrap.
func Get(ctx context.Context, conn *pgx.Conn, name string) (Group, error) {
	ok, err := SchemaExists(ctx, conn)
	if err != nil {
		return Group{}, fmt.Errorf("read group %q: %w", name, err)
	}
	if !ok {
		return Group{}, notFound(name)
	}
	var g Group
	err = conn.QueryRow(ctx, `SELECT name, phase, object_name, apply_streams, copy_mode, snapshot_lsn,
		last_error, created_at, updated_at, synced_at FROM pgvecrep.groups WHERE name = $1`, name).
		Scan(&g.Name, &g.Phase, &g.ObjectName, &g.Streams, &g.CopyMode, &g.SnapshotLSN,
			&g.LastError, &g.CreatedAt, &g.UpdatedAt, &g.SyncedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Group{}, notFound(name)
	}
	if err == nil {
		g.Tables, err = tableNames(ctx, conn, name)
	}
	if err != nil {
		return Group{}, fmt.Errorf("read group %q: %w", name, err)
	}
	return g, nil
}

// tableNames lists a group's tables.
func tableNames(ctx context.Context, conn *pgx.Conn, group string) ([]pg.Name, error) {
	rows, err := conn.Query(ctx, `SELECT schema_name, table_name FROM pgvecrep.tables
		WHERE group_name = $1 ORDER BY schema_name, table_name`, group)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanName)
}

func scanName(r pgx.CollectableRow) (pg.Name, error) {
	var n pg.Name
	err := r.Scan(&n.Schema, &n.Name)
	return n, err
}

func notFound(name string) error {
	return hint.Wrap(fmt.Errorf("group %q: %w on the target", name, ErrNotFound),
		fmt.Sprintf("run: pgvecrep bootstrap --group-name %s", shellQuote(name)))
}

func shellQuote(s string) string {
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}

// List returns every group, oldest first.
func List(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	ok, err := SchemaExists(ctx, conn)
	if err != nil || !ok {
		return nil, err
	}
	return pg.Strings(ctx, conn, `SELECT name FROM pgvecrep.groups ORDER BY created_at, name`)
}

// SetPhase moves a group to a phase and clears the last error unless the
// phase is Failed.
func SetPhase(ctx context.Context, conn *pgx.Conn, name string, p Phase) error {
	_, err := conn.Exec(ctx, `UPDATE pgvecrep.groups SET phase = $2, updated_at = now(),
		last_error = CASE WHEN $2 = 'failed' THEN last_error ELSE '' END,
		synced_at = CASE WHEN $2 = 'streaming' AND synced_at IS NULL THEN now() ELSE synced_at END
		WHERE name = $1`, name, string(p))
	if err != nil {
		return fmt.Errorf("set group %q phase %s: %w", name, p, err)
	}
	return nil
}

// Fail records an error on the group and moves it to Failed.
func Fail(ctx context.Context, conn *pgx.Conn, name string, cause error) error {
	_, err := conn.Exec(ctx, `UPDATE pgvecrep.groups SET phase = 'failed', last_error = $2,
		updated_at = now() WHERE name = $1`, name, cause.Error())
	return err
}

// Start records the tables and copy mode of a sync that is beginning. The
// tables' identity is pgvecrep.tables (schema_name, table_name), as data,
// never pasted into SQL.
func Start(ctx context.Context, conn *pgx.Conn, name string, tables []pg.Name, copyMode string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE pgvecrep.groups SET phase = 'copying',
		copy_mode = $2, snapshot_lsn = '', last_error = '', synced_at = NULL, updated_at = now()
		WHERE name = $1`, name, copyMode); err != nil {
		return fmt.Errorf("record sync start: %w", err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM pgvecrep.tables WHERE group_name = $1`, name); err != nil {
		return err
	}
	schemas, names := split(tables)
	if _, err := tx.Exec(ctx, `INSERT INTO pgvecrep.tables (group_name, schema_name, table_name)
		SELECT $1, s, n FROM unnest($2::text[], $3::text[]) u(s, n)`, name, schemas, names); err != nil {
		return fmt.Errorf("record sync start: %w", err)
	}
	return tx.Commit(ctx)
}

func split(names []pg.Name) (schemas, rels []string) {
	for _, n := range names {
		schemas, rels = append(schemas, n.Schema), append(rels, n.Name)
	}
	return schemas, rels
}

// SetSnapshotLSN records the LSN at which streaming starts.
func SetSnapshotLSN(ctx context.Context, conn *pgx.Conn, name, lsn string) error {
	_, err := conn.Exec(ctx, `UPDATE pgvecrep.groups SET snapshot_lsn = $2, updated_at = now() WHERE name = $1`, name, lsn)
	return err
}

// Delete removes a group's metadata.
func Delete(ctx context.Context, conn *pgx.Conn, name string) error {
	ok, err := SchemaExists(ctx, conn)
	if err != nil || !ok {
		return err
	}
	_, err = conn.Exec(ctx, `DELETE FROM pgvecrep.groups WHERE name = $1`, name)
	return err
}

// DropSchema removes all pgvecrep metadata.
func DropSchema(ctx context.Context, conn *pgx.Conn) error {
	_, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS pgvecrep CASCADE`)
	return err
}

// Lock takes the group's session advisory lock on conn, so two pgvecrep
// processes never drive the same group at once. A held lock means another
// pgvecrep is working on the group; a group in a busy phase whose lock is free
// was left behind by a crash. Most callers want Claim.
func Lock(ctx context.Context, conn *pgx.Conn, name string) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey+`)`, name).Scan(&ok)
	return ok, err
}

// lockKey is the key of group $1's advisory lock, as SQL: the one spelling
// of it, for Lock and EndHolder.
const lockKey = `hashtextextended('pgvecrep:' || $1, 0)`

// endHolderQuery ends session $2 if it holds group $1's lock, and waits up
// to 10 s for it to go. Matching the lock, not just the pid, keeps a pid
// the server has since reused safe.
const endHolderQuery = `WITH k AS (SELECT ` + lockKey + ` AS key)
SELECT pg_terminate_backend(l.pid, 10000) FROM pg_locks l, k
WHERE l.locktype = 'advisory' AND l.granted AND l.pid = $2 AND l.objsubid = 1
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND l.classid = ((k.key >> 32) & 4294967295)::oid AND l.objid = (k.key & 4294967295)::oid`

// EndHolder ends the server session pid if it still holds group name's
// lock. A client that closed its connection has let go of the socket, but
// the server ends the session only when it notices, and until then the
// lock is held: a run that reconnects (see initsync) ends it before it
// claims the group again.
func EndHolder(ctx context.Context, conn *pgx.Conn, name string, pid uint32) error {
	if _, err := conn.Exec(ctx, endHolderQuery, name, int64(pid)); err != nil {
		return fmt.Errorf("end session %d, which holds group %q's lock: %w", pid, name, err)
	}
	return nil
}

// BusyError says another pgvecrep process holds a group's lock. It is kept
// apart from a failure to ask (a lost connection, a missing function), which
// Claim returns as it is: telling a user to wait for a process that does not
// exist sends them the wrong way.
type BusyError struct {
	Group string
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("group %q is being worked on by another pgvecrep process", e.Group)
}

// Claim takes the group's lock for the life of conn, the one check every
// command that changes a group makes before it starts. When another process
// holds the lock the error is a *BusyError with a hint; any other failure is
// wrapped as "lock group".
func Claim(ctx context.Context, conn *pgx.Conn, name string) error {
	ok, err := Lock(ctx, conn, name)
	if err != nil {
		return fmt.Errorf("lock group %q: %w", name, err)
	}
	if !ok {
		return hint.Wrap(&BusyError{Group: name},
			"wait for it to finish, or interrupt it (Ctrl-C), then try again")
	}
	return nil
}

// Busy reports whether a phase means work in progress.
func (p Phase) Busy() bool { return p == Copying || p == Indexing }

// SubscriptionState spells out a pg_subscription_rel state code.
func SubscriptionState(code string) string {
	switch code {
	case "i":
		return "waiting"
	case "d":
		return "copying"
	case "f":
		return "copied"
	case "s":
		return "catching up"
	case "r":
		return "ready"
	}
	return code
}
