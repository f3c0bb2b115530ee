package catalog

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// Extension is an installed or available extension.
type Extension struct {
	Name    string
	Version string
}

// Extensions lists the installed extensions (plpgsql excluded).
func Extensions(ctx context.Context, conn *pgx.Conn) ([]Extension, error) {
	rows, err := conn.Query(ctx, `SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY extname`)
	if err != nil {
		return nil, fmt.Errorf("list extensions: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Extension])
}

// AvailableVersions lists every version of every extension the server could
// install, as name -> versions.
func AvailableVersions(ctx context.Context, conn *pgx.Conn) (map[string][]string, error) {
	rows, err := conn.Query(ctx, `SELECT name, version FROM pg_available_extension_versions`)
	if err != nil {
		return nil, fmt.Errorf("list available extensions: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var n, v string
		if err := rows.Scan(&n, &v); err != nil {
			return nil, err
		}
		out[n] = append(out[n], v)
	}
	return out, rows.Err()
}

// Index is an index or an index-backed constraint on a table, with the SQL to
// create it again.
type Index struct {
	Table      pg.Name
	Name       string // index name (schema is Table.Schema)
	AM         string
	Constraint string // constraint name when the index backs a PK/unique/exclusion constraint
	ConType    string // p, u, x or ""
	Def        string // CREATE INDEX ... or ALTER TABLE ... ADD CONSTRAINT ...
	Bytes      int64
	// Partitioned says the index is on a partitioned table: its Def reads
	// CREATE INDEX ... ON ONLY, which makes an index of the parent alone
	// (invalid until every partition's index is attached).
	Partitioned bool
}

// Vector reports whether the index is built by a vector (extension) access method.
func (i Index) Vector() bool { return vector.IsVectorAM(i.AM) }

// DropSQL removes the index (or its constraint).
func (i Index) DropSQL() string {
	if i.Constraint != "" {
		return fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", i.Table.Quoted(), pgx.Identifier{i.Constraint}.Sanitize())
	}
	return "DROP INDEX IF EXISTS " + pgx.Identifier{i.Table.Schema, i.Name}.Sanitize()
}

const indexesQuery = `
SELECT n.nspname, t.relname, ic.relname, am.amname,
       coalesce(k.conname, ''), coalesce(k.contype::text, ''),
       CASE WHEN k.oid IS NULL THEN pg_get_indexdef(i.indexrelid)
            ELSE format('ALTER TABLE %I.%I ADD CONSTRAINT %I ', n.nspname, t.relname, k.conname)
                 || pg_get_constraintdef(k.oid) END,
       pg_relation_size(i.indexrelid), t.relkind = 'p'
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')
WHERE i.indrelid = ANY($1)
ORDER BY pg_relation_size(i.indexrelid) DESC, ic.relname`

// Indexes lists the indexes on the given tables (by OID), largest first.
func Indexes(ctx context.Context, conn *pgx.Conn, oids []uint32) ([]Index, error) {
	rows, err := conn.Query(ctx, indexesQuery, oids)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Index, error) {
		var ix Index
		err := r.Scan(&ix.Table.Schema, &ix.Table.Name, &ix.Name, &ix.AM, &ix.Constraint, &ix.ConType, &ix.Def, &ix.Bytes, &ix.Partitioned)
		return ix, err
	})
}

// ForeignKey is a foreign key constraint with the SQL to add it again.
type ForeignKey struct {
	Table      pg.Name // the table the constraint is declared on
	Name       string
	Def        string
	References pg.Name // the table whose key it references
}

// ForeignKeys lists the foreign keys declared on the given tables or
// referencing them. Only the keys a user declared: the copies PostgreSQL
// keeps on partitions (conparentid set) come and go with their parent. Whoever drops a table's keys must drop both kinds: a
// primary key cannot be dropped while a foreign key references it, and
// adding a foreign key back checks the rows of both tables.
func ForeignKeys(ctx context.Context, conn *pgx.Conn, oids []uint32) ([]ForeignKey, error) {
	rows, err := conn.Query(ctx, `
SELECT n.nspname, t.relname, k.conname,
       format('ALTER TABLE %I.%I ADD CONSTRAINT %I ', n.nspname, t.relname, k.conname) || pg_get_constraintdef(k.oid),
       rn.nspname, r.relname
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE k.contype = 'f' AND k.conparentid = 0 AND (k.conrelid = ANY($1) OR k.confrelid = ANY($1)) ORDER BY 1, 2, 3`, oids)
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ForeignKey, error) {
		var fk ForeignKey
		err := r.Scan(&fk.Table.Schema, &fk.Table.Name, &fk.Name, &fk.Def, &fk.References.Schema, &fk.References.Name)
		return fk, err
	})
}

// OIDs returns the tables' OIDs.
func OIDs(ts []Table) []uint32 {
	out := make([]uint32, len(ts))
	for i, t := range ts {
		out[i] = t.OID
	}
	return out
}
