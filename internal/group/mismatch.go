package group

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Mismatch is a difference between source and target that follow's
// continuous verifier found and that persisted after the lag had drained
// past it: a row the target lost, gained or changed behind replication's
// back. It lives in the metadata so stats, the metrics and a restarted
// follow all see it, and it goes away when a later pass finds its range
// healthy (see ClearMismatch, ClearMismatchesExcept).
type Mismatch struct {
	Table pg.Name
	Kind  string // MismatchRows or MismatchNeighbours
	// Range is the key range "(lo, hi]" of a chunk, or the nearest-neighbour
	// sample that differed ("10 nearest by emb <-> to key (77)"), or
	// "whole table" for a table without a key.
	Range     string
	Message   string
	FirstSeen time.Time
	LastSeen  time.Time
}

// Kinds of mismatch: what the verifier compared.
const (
	// MismatchRows is a chunk of rows (count and checksum), or a whole
	// keyless table.
	MismatchRows = "rows"
	// MismatchNeighbours is a nearest-neighbour sample.
	MismatchNeighbours = "neighbours"
)

// addMismatchTable is the migration that adds the table. The metadata of an
// earlier version that has not been migrated yet gets it when follow first
// records a mismatch (ensureMismatchTable); readers find none until then.
const addMismatchTable = `CREATE TABLE IF NOT EXISTS pgvecrep.verify_mismatches (
    group_name  text NOT NULL REFERENCES pgvecrep.groups (name) ON DELETE CASCADE,
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    key_range   text NOT NULL,
    kind        text NOT NULL,
    message     text NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_name, schema_name, table_name, key_range)
)`

const mismatchTableQuery = `SELECT to_regclass('pgvecrep.verify_mismatches') IS NOT NULL`

func hasMismatchTable(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var ok bool
	if err := conn.QueryRow(ctx, mismatchTableQuery).Scan(&ok); err != nil {
		return false, fmt.Errorf("look up %s.verify_mismatches: %w", Schema, err)
	}
	return ok, nil
}

// ensureMismatchTable creates the table in metadata bootstrapped before it
// existed. One catalog query when it is there.
func ensureMismatchTable(ctx context.Context, conn *pgx.Conn) error {
	if ok, err := hasMismatchTable(ctx, conn); err != nil || ok {
		return err
	}
	if _, err := conn.Exec(ctx, addMismatchTable); err != nil {
		return fmt.Errorf("upgrade metadata: create %s.verify_mismatches: %w", Schema, err)
	}
	return nil
}

// OpenMismatch records m on group, or, when it is recorded already, that it
// was seen again now (its message too: the latest says most). It reports
// whether m is new.
func OpenMismatch(ctx context.Context, conn *pgx.Conn, group string, m Mismatch) (bool, error) {
	if err := ensureMismatchTable(ctx, conn); err != nil {
		return false, err
	}
	var inserted bool
	err := conn.QueryRow(ctx, `INSERT INTO pgvecrep.verify_mismatches (group_name, schema_name, table_name, key_range, kind, message)
		VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (group_name, schema_name, table_name, key_range)
		DO UPDATE SET kind = EXCLUDED.kind, message = EXCLUDED.message, last_seen = now()
		RETURNING xmax = 0`,
		group, m.Table.Schema, m.Table.Name, m.Range, m.Kind, m.Message).Scan(&inserted)
	if err != nil {
		return false, fmt.Errorf("record the mismatch of %s %s: %w", m.Table, m.Range, err)
	}
	return inserted, nil
}

// ClearMismatch forgets the mismatch of table and rng, found healthy since;
// it reports whether there was one.
func ClearMismatch(ctx context.Context, conn *pgx.Conn, group string, table pg.Name, rng string) (bool, error) {
	if ok, err := hasMismatchTable(ctx, conn); err != nil || !ok {
		return false, err
	}
	tag, err := conn.Exec(ctx, `DELETE FROM pgvecrep.verify_mismatches
		WHERE group_name = $1 AND schema_name = $2 AND table_name = $3 AND key_range = $4`, group, table.Schema, table.Name, rng)
	if err != nil {
		return false, fmt.Errorf("clear the mismatch of %s %s: %w", table, rng, err)
	}
	return tag.RowsAffected() > 0, nil
}

// ClearMismatchesExcept forgets table's mismatches of kind whose range is
// not in keep, and returns the ranges it forgot. The verifier calls it when a pass
// over the table ends, keep being what that pass found different: chunk
// boundaries move as the source's rows change, so a range recorded in an
// earlier pass may never be checked as such again, and the pass that just
// covered the whole table is the judge of what still differs.
func ClearMismatchesExcept(ctx context.Context, conn *pgx.Conn, group string, table pg.Name, kind string, keep []string) ([]string, error) {
	if ok, err := hasMismatchTable(ctx, conn); err != nil || !ok {
		return nil, err
	}
	rows, err := conn.Query(ctx, `DELETE FROM pgvecrep.verify_mismatches
		WHERE group_name = $1 AND schema_name = $2 AND table_name = $3 AND kind = $4 AND NOT key_range = ANY ($5::text[])
		RETURNING key_range`, group, table.Schema, table.Name, kind, nonNil(keep))
	if err != nil {
		return nil, fmt.Errorf("clear the mismatches of %s: %w", table, err)
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("clear the mismatches of %s: %w", table, err)
	}
	return gone, nil
}

// ClearMismatchesOutside forgets the mismatches of tables that are no
// longer among group's tables (dropped on the source, renamed).
func ClearMismatchesOutside(ctx context.Context, conn *pgx.Conn, group string, tables []pg.Name) error {
	if ok, err := hasMismatchTable(ctx, conn); err != nil || !ok {
		return err
	}
	schemas, names := split(tables)
	_, err := conn.Exec(ctx, `DELETE FROM pgvecrep.verify_mismatches m WHERE group_name = $1
		AND NOT EXISTS (SELECT 1 FROM unnest($2::text[], $3::text[]) u(s, n) WHERE u.s = m.schema_name AND u.n = m.table_name)`,
		group, nonNil(schemas), nonNil(names))
	if err != nil {
		return fmt.Errorf("clear the mismatches of tables group %q left: %w", group, err)
	}
	return nil
}

// Mismatches lists group's open mismatches, by table and range; none in
// metadata that has never had one.
func Mismatches(ctx context.Context, conn *pgx.Conn, group string) ([]Mismatch, error) {
	if ok, err := hasMismatchTable(ctx, conn); err != nil || !ok {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT schema_name, table_name, kind, key_range, message, first_seen, last_seen
		FROM pgvecrep.verify_mismatches WHERE group_name = $1 ORDER BY schema_name, table_name, first_seen, key_range`, group)
	if err != nil {
		return nil, fmt.Errorf("read the verify mismatches of group %q: %w", group, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Mismatch, error) {
		var m Mismatch
		err := r.Scan(&m.Table.Schema, &m.Table.Name, &m.Kind, &m.Range, &m.Message, &m.FirstSeen, &m.LastSeen)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the verify mismatches of group %q: %w", group, err)
	}
	return out, nil
}
