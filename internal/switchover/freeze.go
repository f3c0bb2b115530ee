package switchover

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/retry"
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

// freezeFunction is the freeze function on the source, in the pgvecrep
// schema (group.Schema), quoted; freezeProcedure is its signature, for
// to_regprocedure.
var (
	freezeFunction  = pgx.Identifier{group.Schema, "write_freeze"}.Sanitize()
	freezeProcedure = pg.Literal(freezeFunction + "()")
)

// TriggerPrefix starts the name of every freeze trigger. Each group's
// trigger has a name of its own (TriggerName), so lifting one group's freeze
// never lifts another's, even on a table both replicate. A trigger named
// exactly TriggerPrefix was made by a pgvecrep before group-scoped freezes;
// only Unfreeze (every group) removes it.
const TriggerPrefix = "pgvecrep_write_freeze"

// TriggerName is the freeze trigger's name on each table of group: the
// prefix and a hash of the group name, which fits the 63 bytes of a trigger
// name whatever the group is called. The trigger's comment names the group.
func TriggerName(group string) string {
	sum := sha256.Sum256([]byte(group))
	return TriggerPrefix + "_" + hex.EncodeToString(sum[:4])
}

// freezeFunc fails a write the way a read-only server does: PostgreSQL's
// own message and SQLSTATE 25006 (read_only_sql_transaction), so code written
// for pg_easy_replicate, which revokes privileges and waits for the error
// "cannot execute INSERT in a read-only transaction" to retry on the new
// primary, and applications that match the message rather than the code,
// see what they expect. pgvecrep's explanation, and the group whose freeze
// it is (from the trigger's comment), go in DETAIL and HINT.
var freezeFunc = `
CREATE OR REPLACE FUNCTION ` + freezeFunction + `() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
    grp text;
BEGIN
    IF TG_NARGS = 0 OR session_user::text = ANY (TG_ARGV) OR current_user::text = ANY (TG_ARGV) THEN
        SELECT substring(d.description FROM '^pgvecrep write freeze of group (.*)$') INTO grp
        FROM pg_trigger t JOIN pg_description d ON d.objoid = t.oid AND d.classoid = 'pg_trigger'::regclass
        WHERE t.tgrelid = TG_RELID AND t.tgname = TG_NAME;
        RAISE EXCEPTION 'cannot execute % in a read-only transaction', TG_OP
            USING ERRCODE = '25006',
                  DETAIL = format('pgvecrep froze writes to %I.%I%s for the switchover to its replica: '
                                  'a write made here would never reach the new primary.',
                                  TG_TABLE_SCHEMA, TG_TABLE_NAME, coalesce(' for group ' || grp, '')),
                  HINT = format('Write to the new primary. To lift the freeze: pgvecrep cleanup%s --restore-source-writes',
                                coalesce(' -g ' || grp, ''));
    END IF;
    RETURN NULL;
END
$fn$;`

// Freeze installs group's freeze on tables for roles (all roles when empty)
// and ends the sessions that could still be writing. It retries when an open
// transaction holds a table's lock.
func Freeze(ctx context.Context, src *pgx.Conn, groupName string, tables []pg.Name, roles []string) error {
	if err := group.EnsureOwnSchema(ctx, src, "source"); err != nil {
		return err
	}
	if _, err := src.Exec(ctx, freezeFunc); err != nil {
		return fmt.Errorf("create the write-freeze function on the source: %w", err)
	}
	err := retry.Do(ctx, freezeRetry, func(ctx context.Context) error {
		if err := terminateWriters(ctx, src, tables, roles); err != nil {
			return err
		}
		return installTriggers(ctx, src, groupName, tables, roles)
	})
	if freezeRetry.Retryable(err) {
		return fmt.Errorf("freeze writes on the source: tables stayed locked by other sessions: %w", err)
	}
	return err
}

// freezeRetry tries the freeze again only when a table's lock was not
// granted within installTriggers' lock_timeout (55P03 lock_not_available):
// a session that began before terminateWriters may still hold it, and the
// next attempt ends that session first. Five attempts, 200ms apart.
var freezeRetry = retry.Policy{Attempts: 5, Pause: 200 * time.Millisecond, MaxPause: 200 * time.Millisecond,
	Retryable: retry.Codes("55P03")}

func installTriggers(ctx context.Context, src *pgx.Conn, groupName string, tables []pg.Name, roles []string) error {
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
	trigger := pgx.Identifier{TriggerName(groupName)}.Sanitize()
	comment := pg.Literal("pgvecrep write freeze of group " + groupName)
	for _, t := range tables {
		sql := fmt.Sprintf(`CREATE OR REPLACE TRIGGER %s BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s
			FOR EACH STATEMENT EXECUTE FUNCTION %s(%s)`, trigger, t.Quoted(), freezeFunction, strings.Join(args, ", "))
		if _, err := tx.Exec(ctx, sql); err != nil {
			return fmt.Errorf("freeze writes on %s: %w", t, err)
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("COMMENT ON TRIGGER %s ON %s IS %s", trigger, t.Quoted(), comment)); err != nil {
			return fmt.Errorf("freeze writes on %s: %w", t, err)
		}
	}
	return tx.Commit(ctx)
}

// terminateWriters ends every other client session in this database whose
// role can write to one of the tables (or whose role is listed), so no
// transaction that began before the freeze can commit after it.
//
// A source role that is not a superuser may end only the sessions of roles
// it belongs to, or of any non-superuser with pg_signal_backend; asking for
// another (a superuser's psql, a cloud provider's agent) is an error that
// would stop the switchover. Those sessions are left running, which the
// freeze does not need to be safe: installTriggers takes a lock that waits
// for every transaction that has written to a table, and the trigger stops
// their next write.
func terminateWriters(ctx context.Context, src *pgx.Conn, tables []pg.Name, roles []string) error {
	_, err := src.Exec(ctx, `
SELECT pg_terminate_backend(a.pid)
FROM pg_stat_activity a
WHERE a.datname = current_database() AND a.pid <> pg_backend_pid()
  AND a.backend_type = 'client backend' AND a.usesysid IS NOT NULL
  AND ((SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
       OR (NOT (SELECT rolsuper FROM pg_roles WHERE oid = a.usesysid)
           AND (pg_has_role(a.usesysid, 'MEMBER') OR pg_has_role('pg_signal_backend', 'MEMBER'))))
  AND CASE WHEN cardinality($2::text[]) > 0 THEN a.usename = ANY ($2)
      ELSE EXISTS (SELECT 1 FROM unnest($1::text[]) t
                   WHERE has_table_privilege(a.usesysid, t::regclass, 'INSERT, UPDATE, DELETE, TRUNCATE')) END`,
		catalog.QuotedNames(tables), roles)
	if err != nil {
		return fmt.Errorf("end writing sessions on the source: %w", err)
	}
	return nil
}

// frozenTablesQuery lists the tables with a freeze trigger whose name
// matches $1 (a LIKE pattern), and the trigger's name.
const frozenTablesQuery = `SELECT format('%I.%I', n.nspname, c.relname), tg.tgname::text FROM pg_trigger tg
	JOIN pg_class c ON c.oid = tg.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE tg.tgname::text LIKE $1`

// UnfreezeGroup removes group's freeze triggers, and the freeze function
// when no other group's trigger still uses it, and reports on how many
// tables it lifted the freeze. Other groups stay frozen. Safe to run when
// nothing is frozen.
func UnfreezeGroup(ctx context.Context, src *pgx.Conn, groupName string) (int, error) {
	return unfreeze(ctx, src, TriggerName(groupName))
}

// Unfreeze removes every group's freeze triggers (and those of pgvecrep
// versions before group-scoped freezes), and the freeze function: for
// cleanup --everything. Safe to run when nothing is frozen.
func Unfreeze(ctx context.Context, src *pgx.Conn) (int, error) {
	return unfreeze(ctx, src, TriggerPrefix+"%")
}

func unfreeze(ctx context.Context, src *pgx.Conn, pattern string) (int, error) {
	rows, err := src.Query(ctx, frozenTablesQuery, pattern)
	if err != nil {
		return 0, fmt.Errorf("find write freezes on the source: %w", err)
	}
	type frozen struct{ Table, Trigger string }
	found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[frozen])
	if err != nil {
		return 0, fmt.Errorf("find write freezes on the source: %w", err)
	}
	tables := map[string]bool{}
	for _, f := range found {
		sql := fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s", pgx.Identifier{f.Trigger}.Sanitize(), f.Table)
		if _, err := src.Exec(ctx, sql); err != nil {
			return 0, fmt.Errorf("lift the write freeze on %s: %w", f.Table, err)
		}
		tables[f.Table] = true
	}
	if err := dropFreezeFunction(ctx, src); err != nil {
		return 0, err
	}
	return len(tables), nil
}

// dropFreezeFunction drops the freeze function once no trigger uses it, and
// the pgvecrep schema once it is empty; both stay while a group is frozen.
func dropFreezeFunction(ctx context.Context, src *pgx.Conn) error {
	if _, err := src.Exec(ctx, `DO $$ BEGIN
		  IF to_regprocedure(`+freezeProcedure+`) IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_trigger
		         WHERE tgfoid = to_regprocedure(`+freezeProcedure+`)) THEN
		    DROP FUNCTION `+freezeFunction+`();
		  END IF;
		  IF NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_namespace n ON d.refobjid = n.oid WHERE n.nspname = `+pg.Literal(group.Schema)+`
		                 AND d.refclassid = 'pg_namespace'::regclass) THEN
		    DROP SCHEMA IF EXISTS `+pgx.Identifier{group.Schema}.Sanitize()+`;
		  END IF;
		END $$;`); err != nil {
		return fmt.Errorf("drop the write-freeze function: %w", err)
	}
	return nil
}

// followingQuery lists the reverse subscriptions in the connection's
// database: the one named $1, or every group's when $1 is empty.
const followingQuery = `SELECT subname::text FROM pg_subscription
	WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())
	  AND CASE WHEN $1 = '' THEN subname LIKE 'pgvecrep\_%\_rev' ELSE subname = $1 END
	ORDER BY 1`

// ReverseFollowing lists the reverse subscriptions through which src, an
// old primary, follows a new one: groupName's, or every group's when it
// is empty.
func ReverseFollowing(ctx context.Context, src *pgx.Conn, groupName string) ([]string, error) {
	name := ""
	if groupName != "" {
		name = group.ReverseName(groupName)
	}
	rows, err := src.Query(ctx, followingQuery, name)
	if err != nil {
		return nil, fmt.Errorf("look up reverse subscriptions on the source: %w", err)
	}
	subs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("look up reverse subscriptions on the source: %w", err)
	}
	return subs, nil
}

// RestoreSourceWrites lifts switchover's write freeze on the source (the
// old primary): groupName's, or every group's when it is empty, and
// reports on how many tables. It refuses while a reverse stream runs into
// the source, unless force: applications writing there again would
// insert rows the stream then brings with the same keys from the new
// primary, and the reverse apply stalls on each collision (or overwrites
// an update), so the two primaries diverge. Ending the way back first
// (stop_sync) or going back through it (switchback) is what the refusal
// points to. following names the reverse subscriptions that were still
// running, for a forced run to warn about.
func RestoreSourceWrites(ctx context.Context, src *pgx.Conn, groupName string, force bool) (n int, following []string, err error) {
	if following, err = ReverseFollowing(ctx, src, groupName); err != nil {
		return 0, nil, err
	}
	if len(following) > 0 && !force {
		return 0, following, refuseRestore(groupName, following)
	}
	if groupName != "" {
		n, err = UnfreezeGroup(ctx, src, groupName)
	} else {
		n, err = Unfreeze(ctx, src)
	}
	return n, following, err
}

func refuseRestore(groupName string, following []string) error {
	subs := strings.Join(following, ", ")
	err := fmt.Errorf("the source still follows the target through reverse subscription %s: writes on the source now would collide with the rows that stream brings from the target", subs)
	g := groupName
	if g == "" {
		g = "GROUP" // each subscription is named pgvecrep_<group>_rev
	}
	return hint.Wrap(err, fmt.Sprintf("to stay on the target: pgvecrep cleanup -g %[1]s --restore-source-writes ends its way back and lifts its freeze; to return to the source: pgvecrep switchback -g %[1]s; --force lifts the freeze anyway", g))
}
