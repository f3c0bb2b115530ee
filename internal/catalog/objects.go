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
	// Restore is what Def cannot say, to run once Def has built the index
	// again (see restore.go): replica identity, CLUSTER ON, comments,
	// statistics targets, a tablespace Def has no place for, and the names
	// and settings of a partitioned index's partition indexes.
	Restore []string
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

// indexesQuery lists the indexes with their definitions and the facts the
// definitions leave out (indexFacts, in the order its scan reads them).
const indexesQuery = `
SELECT n.nspname, t.relname, ic.relname, am.amname,
       coalesce(k.conname, ''), coalesce(k.contype::text, ''),
       CASE WHEN k.oid IS NULL THEN pg_get_indexdef(i.indexrelid)
            ELSE format('ALTER TABLE %I.%I ADD CONSTRAINT %I ', n.nspname, t.relname, k.conname)
                 || pg_get_constraintdef(k.oid) END,
       pg_relation_size(i.indexrelid), t.relkind = 'p',
       i.indexrelid, i.indisreplident, i.indisclustered, coalesce(ts.spcname::text, ''),
       ARRAY(SELECT format('%I=%L', split_part(o, '=', 1), substr(o, strpos(o, '=') + 1))
             FROM unnest(ic.reloptions) o),
       coalesce(pg_get_expr(i.indpred, i.indrelid), ''),
       coalesce(k.condeferrable, false), coalesce(k.condeferred, false),
       coalesce(quote_literal(obj_description(i.indexrelid, 'pg_class')), ''),
       coalesce(quote_literal(obj_description(k.oid, 'pg_constraint')), ''),
       ARRAY(SELECT a.attnum::int4 FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0 ORDER BY a.attnum),
       ARRAY(SELECT a.attstattarget::int4 FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0 ORDER BY a.attnum)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace
LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x')
WHERE i.indrelid = ANY($1)
ORDER BY pg_relation_size(i.indexrelid) DESC, ic.relname`

// Indexes lists the indexes on the given tables (by OID), largest first,
// each with the statements that restore what its definition leaves out.
func Indexes(ctx context.Context, conn *pgx.Conn, oids []uint32) ([]Index, error) {
	rows, err := conn.Query(ctx, indexesQuery, oids)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	facts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (indexFacts, error) {
		var f indexFacts
		ix := &f.Index
		err := r.Scan(&ix.Table.Schema, &ix.Table.Name, &ix.Name, &ix.AM, &ix.Constraint, &ix.ConType, &ix.Def, &ix.Bytes, &ix.Partitioned,
			&f.oid, &f.replIdent, &f.clustered, &f.tablespace, &f.options, &f.predicate, &f.deferrable, &f.deferred,
			&f.comment, &f.conComment, &f.statColumns, &f.statTargets)
		return f, err
	})
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	parts, err := partitionIndexes(ctx, conn, facts)
	if err != nil {
		return nil, err
	}
	out := make([]Index, len(facts))
	for i, f := range facts {
		out[i] = f.withRestore(parts[f.oid])
	}
	return out, nil
}

// ForeignKey is a foreign key constraint with the SQL to add it again.
type ForeignKey struct {
	Table      pg.Name // the table the constraint is declared on
	Name       string
	Def        string   // ends in NOT VALID for a key added NOT VALID
	References pg.Name  // the table whose key it references
	Restore    []string // its comment, which Def cannot carry
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
       rn.nspname, r.relname, coalesce(quote_literal(obj_description(k.oid, 'pg_constraint')), '')
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class r ON r.oid = k.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE k.contype = 'f' AND k.conparentid = 0 AND (k.conrelid = ANY($1) OR k.confrelid = ANY($1)) ORDER BY 1, 2, 3`, oids)
	if err != nil {
		return nil, fmt.Errorf("list foreign keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (ForeignKey, error) {
		var fk ForeignKey
		var comment string
		err := r.Scan(&fk.Table.Schema, &fk.Table.Name, &fk.Name, &fk.Def, &fk.References.Schema, &fk.References.Name, &comment)
		fk.Restore = constraintComment(fk.Table, fk.Name, comment, nil)
		return fk, err
	})
}

// Check is a CHECK constraint added NOT VALID: the rows already there may
// violate it, so a copy into a table that has it fails where the source
// holds such rows. Like pg_dump, whoever copies adds it after the data.
type Check struct {
	Table   pg.Name
	Name    string
	Def     string   // ALTER TABLE ... ADD CONSTRAINT ... NOT VALID
	Restore []string // its comment, which Def cannot carry
}

// notValidChecksQuery lists the NOT VALID check constraints declared on the
// tables ($1) or on their partitions, at any depth. Only those declared
// there (conislocal) and nowhere above (coninhcount = 0): the copies a
// partition inherits come and go with the parent's.
const notValidChecksQuery = `
SELECT n.nspname, t.relname, k.conname,
       format('ALTER TABLE %I.%I ADD CONSTRAINT %I ', n.nspname, t.relname, k.conname) || pg_get_constraintdef(k.oid),
       coalesce(quote_literal(obj_description(k.oid, 'pg_constraint')), '')
FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE k.contype = 'c' AND NOT k.convalidated AND k.conislocal AND k.coninhcount = 0
  AND (k.conrelid = ANY($1) OR k.conrelid IN (
       SELECT p.relid FROM unnest($1::oid[]) AS r(oid) CROSS JOIN LATERAL pg_partition_tree(r.oid) p))
ORDER BY 1, 2, 3`

// NotValidChecks lists the check constraints added NOT VALID on the given
// tables and their partitions.
func NotValidChecks(ctx context.Context, conn *pgx.Conn, oids []uint32) ([]Check, error) {
	rows, err := conn.Query(ctx, notValidChecksQuery, oids)
	if err != nil {
		return nil, fmt.Errorf("list NOT VALID check constraints: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Check, error) {
		var c Check
		var comment string
		err := r.Scan(&c.Table.Schema, &c.Table.Name, &c.Name, &c.Def, &comment)
		c.Restore = constraintComment(c.Table, c.Name, comment, nil)
		return c, err
	})
}
