// Package ddl carries schema changes from the source to the target in stream
// order, so a column exists on the target before the first row that carries
// it arrives.
//
// How: an event trigger on the source (ddl_command_end and sql_drop) writes
// each DDL statement that concerns the group into a log table of the group
// (pgvecrep.ddl_<group> on the source), and that table is part of the
// group's publication. The log row is therefore decoded in the same WAL
// order as the rows around it. On the target, a trigger on the replicated
// copy of the log table fires inside the apply worker (ENABLE REPLICA: it
// fires for replication and never for an ordinary session, so a dump or a
// hand-made insert does not run statements) and runs the statement there
// before the apply worker moves on to the next change.
//
// Why not decode DDL from WAL or deparse the command: core PostgreSQL has no
// DDL deparser (pg_ddl_command is opaque to SQL), and pgvecrep leaves applying
// changes to PostgreSQL's own apply workers rather than run an engine of its
// own. The statement text is current_query(), which is only the statement
// itself when the client sent exactly one statement and it is the DDL: a
// multi-statement string, a function or a DO block would replay the wrong
// text (or data changes twice). Those entries
// are logged as "manual": the target stops at them with a hint instead of
// guessing (see apply_ddl_change).
//
// What the target does not run inside the apply worker:
//   - vector indexes (any index access method an extension provides): an
//     HNSW build would stall replication for its whole length, so the
//     trigger records it as deferred, and internal/settle (run by follow
//     and apply_ddl_change) builds it CONCURRENTLY;
//   - a type change of a column a vector index covers: it would rebuild that
//     index inside the apply worker (and usually needs a hand-made USING), so
//     the trigger refuses it and the group stalls with the statement and a
//     hint; nothing is lost, the apply worker retries until the user resolves
//     the entry.
//
// What concerns a group follows its Scope: a group of chosen tables follows
// those tables (and what belongs to them) and nothing else; a group of whole
// schemas follows everything there but another group's tables. Every
// group's trigger fires for every statement, so a statement that concerns
// one group must be invisible to the others: two groups in one schema
// replaying each other's statements on one target would fail the second
// time, and stall.
//
// A table created in a whole-schema group's schemas is added to its
// publication by the event trigger itself, in the transaction that creates it; the
// subscription learns about it when internal/settle runs ALTER SUBSCRIPTION
// ... REFRESH PUBLICATION, which copies its rows (the apply worker skips a
// table's changes until then, and the copy brings them).
package ddl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// Modes of DDL propagation.
const (
	// Auto runs each captured statement on the target in stream order.
	Auto = "auto"
	// Track records the statements on both sides and runs nothing: the user
	// applies them with apply_ddl_change (pg_easy_replicate's --track-ddl).
	Track = "track"
	// Off installs nothing: DDL on the source stalls the group until the
	// target is changed by hand.
	Off = "off"
)

// CheckMode validates a --ddl value.
func CheckMode(mode string) error {
	switch mode {
	case Auto, Track, Off:
		return nil
	}
	return hint.New(fmt.Sprintf("unknown DDL mode %q", mode), "use --ddl auto (the default), --ddl track or --ddl off")
}

// names are the objects of one group's DDL capture. Tables and functions
// live in the pgvecrep schema; event triggers have database-wide names and
// carry the pgvecrep_ prefix so cleanup finds them.
type names struct {
	log, resolved, capture, dropped, pick, apply, verdict string
	ours, gone, before                                    string
	evEnd, evDrop, evStart                                string
	// cursor and seen are session settings of the capture: the group's
	// position in a multi-statement query (pickFunc) and the relations the
	// groups had before a DROP (beforeFunc).
	cursor, seen string
}

func namesOf(objectName string) names {
	base := "ddl_" + strings.TrimPrefix(objectName, "pgvecrep_")
	return names{
		log:      base,
		resolved: base + "_resolved",
		capture:  base + "_capture",
		dropped:  base + "_dropped",
		pick:     base + "_pick",
		apply:    base + "_apply",
		verdict:  base + "_verdict",
		ours:     base + "_ours",
		gone:     base + "_gone",
		before:   base + "_before",
		evEnd:    objectName + "_ddl",
		evDrop:   objectName + "_drp",
		evStart:  objectName + "_beg",
		cursor:   "pgvecrep.cursor_" + objectName,
		seen:     "pgvecrep.seen_" + objectName,
	}
}

// q quotes a name in the pgvecrep schema.
func q(name string) string { return pgx.Identifier{group.Schema, name}.Sanitize() }

// Install sets up DDL capture for a group: the log table, the capture
// functions and the event triggers on the source, with the log table added
// to the group's publication (which must exist), and the log table and its apply trigger
// on the target. It starts from scratch each time (an earlier run's log is
// dropped), so start_sync can call it again after a failure. Mode Off
// removes any earlier capture instead. schemas are the schemas of the
// group's tables: a group saved as whole schemas (SaveScope; the default)
// captures every statement there and new tables there join it, a group of
// chosen tables only what touches its own tables.
func Install(ctx context.Context, src, tgt *pgx.Conn, groupName, mode string, schemas []string) error {
	objectName := group.ObjectName(groupName)
	if err := CheckMode(mode); err != nil {
		return err
	}
	if err := Uninstall(ctx, src, tgt, objectName); err != nil {
		return err
	}
	if mode == Off {
		return nil
	}
	if err := CanCapture(ctx, src); err != nil {
		return err
	}
	if err := group.EnsureOwnSchema(ctx, src, "source"); err != nil {
		return err
	}
	scope, err := savedScope(ctx, tgt, groupName)
	if err != nil {
		return err
	}
	if err := installSource(ctx, src, objectName, schemas, scope); err != nil {
		return err
	}
	return installTarget(ctx, tgt, groupName, objectName, mode)
}

// CanCapture reports, as an error with a hint, why conn's role may not create
// the event triggers DDL capture needs. PostgreSQL (15, 16) lets only a
// superuser create an event trigger; there is no grantable privilege for it.
func CanCapture(ctx context.Context, src *pgx.Conn) error {
	var super bool
	if err := src.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		return fmt.Errorf("check whether the source user may create event triggers: %w", err)
	}
	if !super {
		return hint.New("DDL capture needs a superuser on the source: only a superuser may create the event trigger that records schema changes",
			"connect to the source as a superuser, or run start_sync with --ddl off and apply schema changes to the target yourself before the rows that need them")
	}
	return nil
}

// Uninstall removes a group's DDL capture from both sides: event triggers,
// functions and log tables. The log table leaves the publication with it.
// src may be nil (source unreachable): only the target is cleaned then.
func Uninstall(ctx context.Context, src, tgt *pgx.Conn, objectName string) error {
	n := namesOf(objectName)
	if src != nil {
		stmts := []string{
			"DROP EVENT TRIGGER IF EXISTS " + pgx.Identifier{n.evEnd}.Sanitize(),
			"DROP EVENT TRIGGER IF EXISTS " + pgx.Identifier{n.evDrop}.Sanitize(),
			"DROP EVENT TRIGGER IF EXISTS " + pgx.Identifier{n.evStart}.Sanitize(),
		}
		if err := execIfSchema(ctx, src, "source", append(stmts, dropObjects(n)...)); err != nil {
			return err
		}
	}
	if tgt != nil {
		return execIfSchema(ctx, tgt, "target", dropObjects(n))
	}
	return nil
}

func dropObjects(n names) []string {
	return []string{
		"DROP TABLE IF EXISTS " + q(n.log),
		"DROP TABLE IF EXISTS " + q(n.resolved),
		"DROP FUNCTION IF EXISTS " + q(n.capture) + "()",
		"DROP FUNCTION IF EXISTS " + q(n.dropped) + "()",
		"DROP FUNCTION IF EXISTS " + q(n.pick) + "(text, text)", // before per-group cursors
		"DROP FUNCTION IF EXISTS " + q(n.pick) + "(text, text, boolean)",
		"DROP FUNCTION IF EXISTS " + q(n.before) + "()",
		"DROP FUNCTION IF EXISTS " + q(n.gone) + "(oid, oid, text, text, text[])",
		"DROP FUNCTION IF EXISTS " + q(n.ours) + "(oid, oid, text)",
		"DROP FUNCTION IF EXISTS " + q(n.apply) + "()",
		"DROP FUNCTION IF EXISTS " + q(n.verdict) + "(text, text, jsonb)",
		"DROP FUNCTION IF EXISTS " + q(n.log+"_pub") + "(oid)",
		"DROP FUNCTION IF EXISTS " + q(n.log+"_ready") + "()",
		"DROP SEQUENCE IF EXISTS " + q(n.log+"_id"),
	}
}

// UninstallAll removes every group's DDL capture from conn's side (cleanup
// --everything): the pgvecrep_* event triggers whose function is
// pgvecrep's, and the ddl_* tables, sequences and functions in the pgvecrep
// schema. It reports how many event triggers it dropped.
func UninstallAll(ctx context.Context, conn *pgx.Conn) (int, error) {
	triggers, err := strs(ctx, conn, `SELECT quote_ident(e.evtname) FROM pg_event_trigger e JOIN pg_proc p ON p.oid = e.evtfoid
		JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1 AND e.evtname LIKE 'pgvecrep\_%'`, group.Schema)
	if err != nil {
		return 0, fmt.Errorf("list pgvecrep event triggers: %w", err)
	}
	objects, err := strs(ctx, conn, `SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE IF EXISTS ' ELSE 'TABLE IF EXISTS ' END || c.oid::regclass::text
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname LIKE 'ddl\_%' AND c.relkind IN ('r', 'S')
		UNION ALL SELECT 'FUNCTION IF EXISTS ' || p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = $1 AND p.proname LIKE 'ddl\_%'`, group.Schema)
	if err != nil {
		return 0, fmt.Errorf("list pgvecrep DDL objects: %w", err)
	}
	for _, t := range triggers {
		objects = append([]string{"EVENT TRIGGER IF EXISTS " + t}, objects...)
	}
	for _, o := range objects {
		if _, err := conn.Exec(ctx, "DROP "+o+" CASCADE"); err != nil {
			return 0, fmt.Errorf("drop %s: %w", strings.ToLower(o), err)
		}
	}
	return len(triggers), nil
}

// execIfSchema runs stmts when the pgvecrep schema exists on conn's side
// (event triggers are dropped first in stmts, and exist only with it).
func execIfSchema(ctx context.Context, conn *pgx.Conn, side string, stmts []string) error {
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, group.Schema).Scan(&exists); err != nil {
		return fmt.Errorf("remove DDL capture on the %s: %w", side, err)
	}
	if !exists {
		return nil
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("remove DDL capture on the %s: %w", side, err)
		}
	}
	return nil
}

// execAll runs stmts in one transaction: a side gets all of its half of
// the DDL capture, or none of it. The rollback ignores ctx's cancel, so
// that the connection stays usable for the undo that follows one.
func execAll(ctx context.Context, conn *pgx.Conn, stmts []string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	for _, s := range stmts {
		if _, err := tx.Exec(ctx, s); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

// errNotInstalled says the group has no DDL capture.
var errNotInstalled = errors.New("the group records no DDL")
