package parallel

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// The guard's two functions on the source, in the pgvecrep schema.
//
// rekey re-reads the new row through a composite value, which PostgreSQL
// builds with every TOASTed value fetched whole; the UPDATE then writes
// those values anew and the WAL carries them, so the key's new stream gets
// them in its INSERT.
const guardFunctions = `
CREATE OR REPLACE FUNCTION pgvecrep.parallel_rekey() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	EXECUTE 'SELECT ($1).*' INTO NEW USING NEW;
	RETURN NEW;
END $f$;
CREATE OR REPLACE FUNCTION pgvecrep.parallel_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	RAISE EXCEPTION 'pgvecrep: TRUNCATE of %.% is refused: group % applies its rows in % parallel streams, which cannot keep a TRUNCATE in order with the rows around it',
		TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1]
		USING ERRCODE = '55000',
		HINT = 'DELETE FROM the table replicates in order; or stop parallel apply: pgvecrep stop_sync -g ' || TG_ARGV[0] || ', then start_sync without --apply-workers';
END $f$;`

// triggerNames are the guard's triggers on a spread table of the group
// whose objects are called object. The re-key trigger's name starts with
// "zz" so it fires after the table's own BEFORE UPDATE triggers (they fire
// in name order), which may change the key.
func triggerNames(object string) (rekey, truncate string) {
	return "zz_" + object + "_rekey", object + "_no_truncate"
}

// Guard installs the guard on every spread table of p on the source: it
// must be in place before the slots exist, so that no change the streams
// decode lacks it. It runs in one transaction; a failure leaves nothing.
func Guard(ctx context.Context, src *pgx.Conn, groupName, object string, p Plan) error {
	if len(p.Spread) == 0 {
		return nil
	}
	if err := group.EnsureOwnSchema(ctx, src, "source"); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, src, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, guardFunctions); err != nil {
			return fmt.Errorf("create the parallel apply guard functions on the source: %w", err)
		}
		rekey, trunc := triggerNames(object)
		for _, s := range p.Spread {
			changed := make([]string, len(s.Key))
			for i, c := range s.Key {
				changed[i] = fmt.Sprintf("OLD.%s IS DISTINCT FROM NEW.%s", c, c)
			}
			t := s.Table.Quoted()
			sql := fmt.Sprintf(`CREATE TRIGGER %s BEFORE UPDATE ON %s FOR EACH ROW WHEN (%s) EXECUTE FUNCTION pgvecrep.parallel_rekey();
				ALTER TABLE %s ENABLE ALWAYS TRIGGER %s;
				CREATE TRIGGER %s BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION pgvecrep.parallel_no_truncate(%s, '%d');
				ALTER TABLE %s ENABLE ALWAYS TRIGGER %s;`,
				ident(rekey), t, strings.Join(changed, " OR "), t, ident(rekey),
				ident(trunc), t, pg.Literal(groupName), p.Streams, t, ident(trunc))
			if _, err := tx.Exec(ctx, sql); err != nil {
				err = fmt.Errorf("install the parallel apply guard on %s on the source: %w", s.Table, err)
				if pg.Code(err) == "42501" {
					return hint.Wrap(err, "the guard is a trigger on each spread table, which only the table's owner may create: connect to the source as the owner, or leave out --apply-workers")
				}
				return err
			}
		}
		return nil
	})
}

// Unguard removes the guard's triggers from tables on the source, where
// there are any; the functions stay (other groups may use them, and they
// do nothing alone).
func Unguard(ctx context.Context, src *pgx.Conn, object string, tables []pg.Name) error {
	for _, sql := range UnguardSQL(object, tables) {
		if _, err := src.Exec(ctx, sql); err != nil && pg.Code(err) != "42P01" {
			return fmt.Errorf("remove the parallel apply guard on the source: %w", err)
		}
	}
	return nil
}

// UnguardSQL is what removes the guard from tables: run by Unguard, or
// printed for the user when the source is unreachable.
func UnguardSQL(object string, tables []pg.Name) []string {
	rekey, trunc := triggerNames(object)
	var out []string
	for _, t := range tables {
		out = append(out, fmt.Sprintf("DROP TRIGGER IF EXISTS %s ON %s; DROP TRIGGER IF EXISTS %s ON %s;",
			ident(rekey), t.Quoted(), ident(trunc), t.Quoted()))
	}
	return out
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// Detach takes every apply stream of g down (subscription on the target,
// slot and publication on the source, see replication.Detach), the extra
// streams first, then removes the guard. src may be nil when the source is
// unreachable: then LeftoverSQL is what the user must run there.
func Detach(ctx context.Context, src, tgt *pgx.Conn, g group.Group, p replication.Printer) error {
	names := g.StreamNames()
	for i := len(names) - 1; i >= 0; i-- {
		if err := replication.Detach(ctx, src, tgt, names[i], p); err != nil {
			return err
		}
	}
	if src == nil || g.Streams <= 1 {
		return nil
	}
	return Unguard(ctx, src, g.ObjectName, g.Tables)
}

// LeftoverSQL is what removes g's slots, publications and guard on the
// source after a command had to leave them there (the source was
// unreachable): each slot keeps WAL until it is dropped.
func LeftoverSQL(g group.Group) string {
	var out []string
	for _, n := range g.StreamNames() {
		out = append(out, replication.DropSQL(n, n))
	}
	if g.Streams > 1 {
		out = append(out, UnguardSQL(g.ObjectName, g.Tables)...)
	}
	return strings.Join(out, " ")
}

// unguardAllQuery finds every guard trigger on the source, of any group.
const unguardAllQuery = `SELECT format('DROP TRIGGER %I ON %I.%I', t.tgname, n.nspname, c.relname)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_proc f ON f.oid = t.tgfoid JOIN pg_namespace fn ON fn.oid = f.pronamespace
WHERE fn.nspname = 'pgvecrep' AND f.proname IN ('parallel_rekey', 'parallel_no_truncate')`

// UnguardAll removes every group's guard triggers on the source (cleanup
// --everything), and reports how many it dropped.
func UnguardAll(ctx context.Context, src *pgx.Conn) (int, error) {
	rows, err := src.Query(ctx, unguardAllQuery)
	if err != nil {
		return 0, fmt.Errorf("find parallel apply guards on the source: %w", err)
	}
	drops, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("find parallel apply guards on the source: %w", err)
	}
	for _, d := range drops {
		if _, err := src.Exec(ctx, d); err != nil {
			return 0, fmt.Errorf("remove a parallel apply guard on the source: %w", err)
		}
	}
	return len(drops), nil
}
