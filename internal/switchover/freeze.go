package switchover

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// The write freeze is a statement-level trigger on every replicated table
// that raises an error for INSERT, UPDATE, DELETE and TRUNCATE. Unlike
// revoking privileges from one role (what pg_easy_replicate does), it stops
// every role, owners and superusers included, and it is undone by dropping the
// triggers. With --roles, the trigger fires only for those roles.
//
// The freeze stays in place after a successful switchover: a write that lands
// on the old source afterwards would never reach the target, so it must fail
// loudly instead. `pgvecrep cleanup --restore-source-writes` lifts it.

// FreezeSchema holds the freeze function on the source.
const FreezeSchema = "pgvecrep"

// TriggerName is the freeze trigger's name on each table.
const TriggerName = "pgvecrep_write_freeze"

const freezeFunc = `
CREATE SCHEMA IF NOT EXISTS pgvecrep;
CREATE OR REPLACE FUNCTION pgvecrep.write_freeze() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_NARGS = 0 OR session_user::text = ANY (TG_ARGV) OR current_user::text = ANY (TG_ARGV) THEN
        RAISE EXCEPTION 'pgvecrep: writes to %.% are frozen: this database has been switched over to its replica',
            TG_TABLE_SCHEMA, TG_TABLE_NAME
            USING ERRCODE = '25006',
                  HINT = 'write to the new primary; pgvecrep cleanup --restore-source-writes lifts the freeze';
    END IF;
    RETURN NULL;
END
$fn$;`

// Freeze installs the freeze on tables (quoted names) for roles (all roles
// when empty) and ends the sessions that could still be writing. It retries
// when an open transaction holds a table's lock.
func Freeze(ctx context.Context, src *pgx.Conn, tables, roles []string) error {
	if _, err := src.Exec(ctx, freezeFunc); err != nil {
		return fmt.Errorf("create the write-freeze function on the source: %w", err)
	}
	var last error
	for attempt := 0; attempt < 5; attempt++ {
		if err := terminateWriters(ctx, src, tables, roles); err != nil {
			return err
		}
		if last = installTriggers(ctx, src, tables, roles); last == nil {
			return nil
		}
		if pg.Code(last) != "55P03" { // lock_not_available
			return last
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("freeze writes on the source: tables stayed locked by other sessions: %w", last)
}

func installTriggers(ctx context.Context, src *pgx.Conn, tables, roles []string) error {
	args := make([]string, len(roles))
	for i, r := range roles {
		args[i] = pg.Literal(r)
	}
	tx, err := src.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '2s'"); err != nil {
		return err
	}
	for _, t := range tables {
		sql := fmt.Sprintf(`CREATE OR REPLACE TRIGGER %s BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s
			FOR EACH STATEMENT EXECUTE FUNCTION pgvecrep.write_freeze(%s)`, TriggerName, t, strings.Join(args, ", "))
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("freeze writes on %s: %w", t, err)
		}
	}
	return tx.Commit(ctx)
}

// terminateWriters ends every other client session in this database whose
// role can write to one of the tables (or whose role is listed), so no
// transaction that began before the freeze can commit after it.
func terminateWriters(ctx context.Context, src *pgx.Conn, tables, roles []string) error {
	_, err := src.Exec(ctx, `
SELECT pg_terminate_backend(a.pid)
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend' AND a.usesysid IS NOT NULL
  AND CASE WHEN cardinality($2::text[]) > 0 THEN a.usename = ANY ($2)
      ELSE EXISTS (SELECT 1 FROM unnest($1::text[]) t
                   WHERE has_table_privilege(a.usesysid, t::regclass, 'INSERT, UPDATE, DELETE, TRUNCATE')) END`,
		tables, roles)
	if err != nil {
		return fmt.Errorf("end writing sessions on the source: %w", err)
	}
	return nil
}

// Unfreeze removes the freeze triggers from every table that has one, and
// the freeze function. Safe to run when nothing is frozen.
func Unfreeze(ctx context.Context, src *pgx.Conn) (int, error) {
	rows, err := src.Query(ctx, `SELECT format('%I.%I', n.nspname, c.relname) FROM pg_trigger tg
		JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE tg.tgname = $1`, TriggerName)
	if err != nil {
		return 0, fmt.Errorf("find write freezes on the source: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	for _, t := range tables {
		if _, err := src.Exec(ctx, fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", TriggerName, t)); err != nil {
			return 0, fmt.Errorf("lift the write freeze on %s: %w", t, err)
		}
	}
	if _, err := src.Exec(ctx, `DROP FUNCTION IF EXISTS pgvecrep.write_freeze();
		DO $$ BEGIN
		  IF NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_namespace n ON d.refobjid = n.oid WHERE n.nspname = 'pgvecrep'
		                 AND d.refclassid = 'pg_namespace'::regclass) THEN
		    DROP SCHEMA IF EXISTS pgvecrep;
		  END IF;
		END $$;`); err != nil {
		return 0, fmt.Errorf("drop the write-freeze function: %w", err)
	}
	return len(tables), nil
}
