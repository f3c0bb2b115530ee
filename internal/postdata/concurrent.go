package postdata

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// ConcurrentlyByLeaf builds index, a vector index on a partitioned table
// (def as pg_get_indexdef prints it: CREATE INDEX ... ON ONLY parent ...),
// without blocking writes, where CREATE INDEX CONCURRENTLY refuses a
// partitioned table. It is PostgreSQL's documented way: the parent's index
// is created ON ONLY (catalog only, invalid), each leaf's index is built
// with CREATE INDEX CONCURRENTLY, sized by its own table (see
// PrepareVectorBuild), and attached; a sub-partitioned child gets its own
// ON ONLY index the same way. The parent's index turns valid when its last
// child is attached.
//
// Run again after a failure, it goes on where it stopped: indexes already
// attached stay, an equal valid index on a leaf is attached rather than
// built again, and an invalid one left by a failed concurrent build is
// dropped first.
func ConcurrentlyByLeaf(ctx context.Context, conn *pgx.Conn, index, def string, budget int64) error {
	table := vector.IndexTable(def)
	if table == "" || !strings.Contains(def, " ON ONLY ") {
		return fmt.Errorf("build index %s: cannot read the table of %q", index, def)
	}
	if _, err := conn.Exec(ctx, strings.Replace(def, "CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1)); err != nil {
		return fmt.Errorf("create index %s on the partitioned table %s: %w", index, table, err)
	}
	// The children's indexes are compared with the parent's as this
	// session prints them: pg_get_indexdef qualifies an operator class
	// by the search_path, and def was printed under another one.
	var printed string
	if err := conn.QueryRow(ctx, "SELECT pg_get_indexdef($1::regclass)", index).Scan(&printed); err != nil {
		return fmt.Errorf("read index %s back: %w", index, err)
	}
	_, tail, ok := strings.Cut(printed, " ON ONLY "+table+" ")
	if !ok || !strings.HasPrefix(tail, "USING ") {
		return fmt.Errorf("build index %s: cannot read the table of %q", index, printed)
	}
	return attachChildren(ctx, conn, index, table, tail, budget)
}

// partition is a direct partition of a partitioned table.
type partition struct {
	Table       string // quoted as pg_get_indexdef prints it
	Partitioned bool
	Attached    string // its index attached to the parent's, if any
}

// childrenQuery lists the direct partitions of $1 that can hold an index,
// largest first, each with its index attached to $2, if any.
const childrenQuery = `
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind = 'p',
       coalesce((SELECT quote_ident(xn.nspname) || '.' || quote_ident(x.relname)
                 FROM pg_inherits h JOIN pg_index i ON i.indexrelid = h.inhrelid
                 JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_namespace xn ON xn.oid = x.relnamespace
                 WHERE h.inhparent = $2::regclass AND i.indrelid = c.oid), '')
FROM pg_inherits p JOIN pg_class c ON c.oid = p.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE p.inhparent = $1::regclass AND c.relkind IN ('r', 'p')
ORDER BY pg_table_size(c.oid) DESC, 1`

// attachChildren gives every partition of table an index built like tail
// and attaches it to parentIndex.
func attachChildren(ctx context.Context, conn *pgx.Conn, parentIndex, table, tail string, budget int64) error {
	rows, err := conn.Query(ctx, childrenQuery, table, parentIndex)
	if err != nil {
		return fmt.Errorf("list the partitions of %s: %w", table, err)
	}
	children, err := pgx.CollectRows(rows, pgx.RowToStructByPos[partition])
	if err != nil {
		return fmt.Errorf("list the partitions of %s: %w", table, err)
	}
	for _, c := range children {
		if c.Attached != "" && !c.Partitioned {
			continue
		}
		idx := c.Attached
		if idx == "" {
			if idx, err = childIndex(ctx, conn, c, tail, budget); err != nil {
				return err
			}
		}
		if c.Partitioned {
			if err := attachChildren(ctx, conn, idx, c.Table, tail, budget); err != nil {
				return err
			}
		}
		if c.Attached == "" {
			if _, err := conn.Exec(ctx, "ALTER INDEX "+parentIndex+" ATTACH PARTITION "+idx); err != nil {
				return fmt.Errorf("attach index %s of %s to %s: %w", idx, c.Table, parentIndex, err)
			}
		}
	}
	return nil
}

// childIndex returns c's index built like tail: an equal one that is
// there already, or one made now (ON ONLY for a partitioned child, with
// CREATE INDEX CONCURRENTLY for a leaf).
func childIndex(ctx context.Context, conn *pgx.Conn, c partition, tail string, budget int64) (string, error) {
	on := " ON "
	if c.Partitioned {
		on = " ON ONLY "
	}
	build := "CREATE INDEX CONCURRENTLY" + on + c.Table + " " + tail
	if c.Partitioned {
		build = "CREATE INDEX" + on + c.Table + " " + tail
	}
	built := false
	for {
		name, valid, err := equalIndex(ctx, conn, c.Table, on, tail)
		switch {
		case err != nil:
			return "", err
		case name != "" && (valid || c.Partitioned):
			return name, nil
		case name != "" && !built:
			// Left invalid by a concurrent build that failed.
			if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+name); err != nil {
				return "", fmt.Errorf("drop the invalid index %s: %w", name, err)
			}
			continue
		case built:
			return "", fmt.Errorf("index of %s: built, but not found valid", c.Table)
		}
		if err := buildChild(ctx, conn, c, build, budget); err != nil {
			return "", err
		}
		built = true
	}
}

// buildChild runs one child's CREATE INDEX, a leaf's sized by its table.
func buildChild(ctx context.Context, conn *pgx.Conn, c partition, build string, budget int64) error {
	if !c.Partitioned {
		undo, err := PrepareVectorBuild(ctx, conn, c.Table, build, budget)
		defer undo()
		if err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, build); err != nil {
		e := fmt.Errorf("build the index of %s: %w", c.Table, err)
		if pg.Code(err) == "42501" {
			return hint.Wrap(e, "a partition's own index needs its owner's rights: run pgvecrep as the owner of "+c.Table+
				" (or a member of its owner role), or build it yourself and run apply_ddl_change again, which attaches it")
		}
		return e
	}
	return nil
}

// equalIndex finds an index on table, attached to no parent, that builds
// what tail builds: valid ones first.
func equalIndex(ctx context.Context, conn *pgx.Conn, table, on, tail string) (name string, valid bool, err error) {
	rows, err := conn.Query(ctx, `
SELECT quote_ident(n.nspname) || '.' || quote_ident(x.relname), pg_get_indexdef(i.indexrelid), i.indisvalid
FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid JOIN pg_namespace n ON n.oid = x.relnamespace
WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
ORDER BY i.indisvalid DESC, x.oid`, table)
	if err != nil {
		return "", false, fmt.Errorf("list the indexes of %s: %w", table, err)
	}
	type index struct {
		Name, Def string
		Valid     bool
	}
	idxs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[index])
	if err != nil {
		return "", false, fmt.Errorf("list the indexes of %s: %w", table, err)
	}
	for _, ix := range idxs {
		if sameIndex(ix.Def, on+table, tail) {
			return ix.Name, ix.Valid, nil
		}
	}
	return "", false, nil
}

// sameIndex reports whether def (as pg_get_indexdef prints it) is a plain
// CREATE INDEX on onTable (" ON t" or " ON ONLY t") that builds what tail
// builds (the same method, keys, options and predicate), whatever its name.
func sameIndex(def, onTable, tail string) bool {
	return strings.HasPrefix(def, "CREATE INDEX ") && strings.HasSuffix(def, onTable+" "+tail)
}
