package ddl

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// targetColumns are the target's own columns of the log table: what became
// of each entry there. The source's log has none of them.
const targetColumns = `,
    status       text NOT NULL DEFAULT '',
    applied_at   timestamptz`

// Entry statuses on the target.
const (
	StatusApplied  = "applied"  // run by the apply worker
	StatusRecorded = "recorded" // track mode: waits for apply_ddl_change
	StatusDeferred = "deferred" // vector index: waits for a concurrent build
	StatusBuilt    = "built"    // deferred index built concurrently
	StatusResolved = "resolved" // applied or skipped by hand (apply_ddl_change)
	StatusPending  = "pending"  // on the source only: not reached the target yet
)

// applyFunc is the trigger on the target's copy of the log table. It runs in
// the apply worker, in the transaction that applies the source's, so the
// statement takes effect exactly between the changes before and after it.
// An error here fails that transaction; the apply worker retries it from the
// same place, so nothing is lost while the group is stalled, and an entry
// resolved by hand (apply_ddl_change) is skipped on the next try.
//
// Placeholders: 1 function, 2 resolved table, 3 verdict function, 4 mode
// literal, 5 group name literal.
const applyFunc = `
CREATE FUNCTION %[1]s() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
    saved text;
    verdict text;
BEGIN
    IF EXISTS (SELECT 1 FROM %[2]s r WHERE r.id = NEW.id) THEN
        NEW.status := 'resolved';
        NEW.applied_at := now();
        RETURN NEW;
    END IF;
    IF %[4]s = 'track' THEN
        NEW.status := 'recorded';
        RETURN NEW;
    END IF;
    IF NEW.kind = 'manual' THEN
        RAISE EXCEPTION 'pgvecrep: DDL change %% cannot be replayed on the target (%%): %%', NEW.id, NEW.note, NEW.statement
            USING HINT = format('make the same change on the target by hand, then run: pgvecrep apply_ddl_change -g %%s -i %%s --skip', %[5]s, NEW.id);
    END IF;
    verdict := %[3]s(NEW.tag, NEW.object, NEW.columns);
    IF verdict IS NOT NULL THEN
        RAISE EXCEPTION 'pgvecrep: DDL change %% is not applied automatically: %%', NEW.id, verdict
            USING HINT = format('change the target by hand (e.g. drop the index, apply the statement, rebuild it), then run: pgvecrep apply_ddl_change -g %%s -i %%s --skip', %[5]s, NEW.id);
    END IF;
    IF NEW.deferred THEN
        NEW.status := 'deferred';
        RETURN NEW;
    END IF;
    saved := current_setting('search_path');
    PERFORM set_config('search_path', NEW.search_path, true);
    EXECUTE NEW.statement;
    PERFORM set_config('search_path', saved, true);
    NEW.status := 'applied';
    NEW.applied_at := now();
    RETURN NEW;
END
$f$`

// verdictFunc says why an entry must not run inside the apply worker, or
// NULL. Today: a type change of a column that a vector index covers (a
// dimension change, say). ALTER TABLE rebuilds every index on a column
// whose type changes, so an HNSW index would be rebuilt inside the apply
// worker, and the cast between dimensions needs a USING the user chooses.
// It compares the table's columns on the target with the source's columns
// after the change, so it needs no parsing of the statement. Types are
// compared without their schema: an extension may live in another schema
// on each side.
const verdictFunc = `
CREATE FUNCTION %[1]s(tag text, obj text, cols jsonb) RETURNS text LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp AS $f$
SELECT format('it changes column %%I of %%s from %%s to %%s, and vector index %%s covers that column: '
              'the change would rebuild the index inside the apply worker and stall replication for the whole build',
              a.attname, obj, format_type(a.atttypid, a.atttypmod), c->>'type', i.indexrelid::regclass)
FROM jsonb_array_elements(cols) c
JOIN pg_attribute a ON a.attrelid = to_regclass(obj) AND a.attname = c->>'name' AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_index i ON i.indrelid = a.attrelid AND a.attnum = ANY (i.indkey)
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
WHERE tag = 'ALTER TABLE' AND cols IS NOT NULL
  AND regexp_replace(format_type(a.atttypid, a.atttypmod), '^[^.(]*\.', '') <> regexp_replace(c->>'type', '^[^.(]*\.', '')
  AND am.amname NOT IN (%[2]s)
LIMIT 1
$f$`

// installTarget creates the target's half: the log table the subscription
// writes, the table of entries resolved by hand, and the apply trigger,
// enabled for replication sessions only. The target's tables have no index:
// they stay small, the subscription only inserts into them, and start_sync
// builds no index on the target before its own deferred builds (which
// progress reporting, and whoever watches pg_stat_progress_create_index,
// would otherwise mistake them for).
func installTarget(ctx context.Context, tgt *pgx.Conn, groupName, objectName, mode string) error {
	n := namesOf(objectName)
	stmts := []string{
		"CREATE TABLE " + q(n.log) + " (" + strings.Replace(logColumns, "PRIMARY KEY", "NOT NULL", 1) + targetColumns + ")",
		"COMMENT ON TABLE " + q(n.log) + " IS " + pg.Literal("DDL replicated from the source's publication "+objectName+" by pgvecrep"),
		"CREATE TABLE " + q(n.resolved) + " (id bigint NOT NULL, resolved_at timestamptz NOT NULL DEFAULT now(), how text NOT NULL)",
		fmt.Sprintf(verdictFunc, q(n.verdict), vector.BuiltinAMsSQL()),
		fmt.Sprintf(applyFunc, q(n.apply), q(n.resolved), q(n.verdict), pg.Literal(mode), pg.Literal(groupName)),
		fmt.Sprintf("CREATE TRIGGER apply BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %s()", q(n.log), q(n.apply)),
		fmt.Sprintf("ALTER TABLE %s ENABLE REPLICA TRIGGER apply", q(n.log)),
	}
	if err := execAll(ctx, tgt, stmts); err != nil {
		return fmt.Errorf("install DDL apply on the target: %w", err)
	}
	return nil
}
