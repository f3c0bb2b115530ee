// Package group keeps what a replication group is and where it stands, in the
// pgvecrep schema on the target.
//
// The target holds the state because the target is what survives: after a
// switchover or failover the source may be gone, and the next pgvecrep run
// must still know what happened. The source holds only the publication and
// the slot, both named after the group.
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
	CopyMode    string
	SnapshotLSN string
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

const schemaDDL = `
COMMENT ON SCHEMA pgvecrep IS 'pgvecrep replication metadata; remove with pgvecrep cleanup --everything';
CREATE TABLE IF NOT EXISTS pgvecrep.groups (
    name         text PRIMARY KEY,
    phase        text NOT NULL,
    tables       text[] NOT NULL DEFAULT '{}',
    object_name  text NOT NULL,
    copy_mode    text NOT NULL DEFAULT '',
    snapshot_lsn text NOT NULL DEFAULT '',
    last_error   text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    synced_at    timestamptz
);
CREATE TABLE IF NOT EXISTS pgvecrep.tables (
    group_name   text NOT NULL REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    state        text NOT NULL DEFAULT 'pending',
    rows_copied  bigint NOT NULL DEFAULT 0,
    bytes_copied bigint NOT NULL DEFAULT 0,
    started_at   timestamptz,
    finished_at  timestamptz,
    PRIMARY KEY (group_name, schema_name, table_name)
);
CREATE TABLE IF NOT EXISTS pgvecrep.deferred_objects (
    group_name  text NOT NULL REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    name        text NOT NULL,
    kind        text NOT NULL,
    definition  text NOT NULL,
    bytes       bigint NOT NULL DEFAULT 0,
    built_at    timestamptz,
    PRIMARY KEY (group_name, schema_name, table_name, name)
);
` + addRestoreColumn + ";\n" + addSelectionColumn + ";\n" + addReverseTable + ";"

// EnsureSchema creates the metadata schema, or brings one written by an
// earlier version up to date (see migrate); safe to run any number of times.
// It refuses a pgvecrep schema owned by another role (see EnsureOwnSchema).
func EnsureSchema(ctx context.Context, conn *pgx.Conn) error {
	if err := EnsureOwnSchema(ctx, conn, "target"); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, schemaDDL); err != nil {
		return fmt.Errorf("create metadata schema %s: %w", Schema, err)
	}
	return migrate(ctx, conn)
}

// SchemaExists reports whether the metadata schema is there, and fails for
// one owned by a role pgvecrep cannot trust (see EnsureOwnSchema).
func SchemaExists(ctx context.Context, conn *pgx.Conn) (bool, error) {
	if exists, err := checkOwner(ctx, conn, "target"); err != nil || !exists {
		return false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('pgvecrep.groups') IS NOT NULL`).Scan(&ok); err != nil || !ok {
		return false, err
	}
	// Every reader comes through here, and a user who upgrades runs stats or
	// stop_sync on an existing group without bootstrapping again.
	return true, migrate(ctx, conn)
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
	err = conn.QueryRow(ctx, `SELECT name, phase, object_name, copy_mode, snapshot_lsn,
		last_error, created_at, updated_at, synced_at FROM pgvecrep.groups WHERE name = $1`, name).
		Scan(&g.Name, &g.Phase, &g.ObjectName, &g.CopyMode, &g.SnapshotLSN,
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

// QuotedNames is names as SQL, each quoted by pg.Name.Quoted, for a
// statement or a regclass[] parameter.
func QuotedNames(names []pg.Name) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.Quoted()
	}
	return out
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
	rows, err := conn.Query(ctx, `SELECT name FROM pgvecrep.groups ORDER BY created_at, name`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
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
// tables' identity is pgvecrep.tables (schema_name, table_name); the groups
// row keeps a quoted list for earlier readers (preflight's owner check) and
// people reading the table, never for pgvecrep to paste into SQL.
func Start(ctx context.Context, conn *pgx.Conn, name string, tables []pg.Name, copyMode string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE pgvecrep.groups SET phase = 'copying', tables = $2,
		copy_mode = $3, snapshot_lsn = '', last_error = '', synced_at = NULL, updated_at = now()
		WHERE name = $1`, name, QuotedNames(tables), copyMode); err != nil {
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
	err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(hashtextextended('pgvecrep:' || $1, 0))`, name).Scan(&ok)
	return ok, err
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
