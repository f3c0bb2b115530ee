package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// What a rebuilt object lacks.
//
// pg_get_indexdef and pg_get_constraintdef print what CREATE INDEX and ADD
// CONSTRAINT need, not all the catalog holds about the object. An index
// dropped and built again from them comes back without its replica identity
// mark (pg_index.indisreplident: the table keeps REPLICA IDENTITY USING
// INDEX with no index to use, and the apply worker stops at the first
// UPDATE), its CLUSTER ON mark, its comment and its constraint's, the
// statistics targets of its expression columns, its tablespace, a key's
// storage options (WITH ...), and on a partitioned table the names and
// marks of the partitions' indexes, which the parent's CREATE INDEX makes
// afresh. pg_dump restores them the same way: separate statements after the
// object.
//
// Where a definition has a place for a property (the tablespace, a key's
// storage options), it goes there, so the index is built once where it
// belongs. Everything else becomes a restore statement, run after the
// build. Each can run again with the same result: a build that crashed
// after them and before it was recorded runs them again.

// indexFacts is an Index with the catalog facts its definition leaves out,
// as indexesQuery reads them.
type indexFacts struct {
	Index
	oid                  uint32
	replIdent, clustered bool
	tablespace           string   // "" for the database's default
	options              []string // reloptions, as name='value'
	predicate            string   // pg_get_expr of a partial index's predicate
	deferrable, deferred bool
	// comment and conComment are the index's and its constraint's
	// comments, as quoted literals; "" for none.
	comment, conComment      string
	statColumns, statTargets []int32 // SET STATISTICS targets, by index column
}

// withRestore is the Index with its storage placed in Def, where it fits,
// and the statements that restore the rest (parts: a partitioned index's
// partition indexes).
func (f indexFacts) withRestore(parts []partIndex) Index {
	ix := f.Index
	def, placed := f.placeStorage()
	ix.Def = def
	name := ix.Name
	if ix.Constraint != "" {
		name = ix.Constraint // a constraint's index is named after it
	}
	index := pgx.Identifier{ix.Table.Schema, name}.Sanitize()
	var r []string
	if !placed && f.tablespace != "" {
		r = append(r, "ALTER INDEX "+index+" SET TABLESPACE "+ident(f.tablespace))
	}
	if !placed && len(f.options) > 0 && ix.Constraint != "" && !strings.Contains(def, " WITH (") {
		r = append(r, "ALTER INDEX "+index+" SET ("+strings.Join(f.options, ", ")+")")
	}
	if f.comment != "" {
		r = append(r, "COMMENT ON INDEX "+index+" IS "+f.comment)
	}
	r = constraintComment(ix.Table, ix.Constraint, f.conComment, r)
	for i, col := range f.statColumns {
		r = append(r, fmt.Sprintf("ALTER INDEX %s ALTER COLUMN %d SET STATISTICS %d", index, col, f.statTargets[i]))
	}
	r = append(r, marks(ix.Table, name, f.replIdent, f.clustered && !ix.Partitioned)...)
	for _, p := range parts {
		r = append(r, p.restore(index)...)
	}
	ix.Restore = r
	return ix
}

// placeStorage puts the tablespace, and a key's storage options (which
// pg_get_constraintdef leaves out), into the definition where CREATE INDEX
// and ADD CONSTRAINT take them: before the predicate and the DEFERRABLE
// clauses the definition ends with. placed is false when there was
// something to place and it found no place: the definition of an index on
// a partitioned table (ON ONLY, rewritten later by postdata), or one that
// does not end as the catalog says it should. Restore statements then set
// what is missing.
func (f indexFacts) placeStorage() (def string, placed bool) {
	var tail, storage string
	if f.ConType == "" {
		if f.predicate != "" {
			tail = " WHERE " + f.predicate
		}
		if f.tablespace != "" {
			storage = " TABLESPACE " + ident(f.tablespace)
		}
	} else {
		if f.predicate != "" {
			tail = " WHERE (" + f.predicate + ")"
		}
		if f.deferrable {
			tail += " DEFERRABLE"
		}
		if f.deferred {
			tail += " INITIALLY DEFERRED"
		}
		if len(f.options) > 0 && f.ConType != "x" && !strings.Contains(f.Def, " WITH (") {
			storage = " WITH (" + strings.Join(f.options, ", ") + ")"
		}
		if f.tablespace != "" {
			storage += " USING INDEX TABLESPACE " + ident(f.tablespace)
		}
	}
	switch {
	case storage == "":
		return f.Def, true
	case f.Partitioned && f.ConType == "", !strings.HasSuffix(f.Def, tail):
		return f.Def, false
	}
	return f.Def[:len(f.Def)-len(tail)] + storage + tail, true
}

// marks restores an index's replica identity and CLUSTER ON marks. A
// partitioned table takes a replica identity but refuses CLUSTER ON (its
// index cannot have been marked; withRestore makes sure).
func marks(table pg.Name, index string, replIdent, clustered bool) []string {
	var r []string
	if replIdent {
		r = append(r, "ALTER TABLE "+table.Quoted()+" REPLICA IDENTITY USING INDEX "+ident(index))
	}
	if clustered {
		r = append(r, "ALTER TABLE "+table.Quoted()+" CLUSTER ON "+ident(index))
	}
	return r
}

// constraintComment appends to r the statement that puts back a
// constraint's comment (a quoted literal; "" for none).
func constraintComment(table pg.Name, constraint, comment string, r []string) []string {
	if constraint == "" || comment == "" {
		return r
	}
	return append(r, "COMMENT ON CONSTRAINT "+ident(constraint)+" ON "+table.Quoted()+" IS "+comment)
}

// partIndex is the index a partition (at any depth) holds under a
// partitioned index.
type partIndex struct {
	parent               uint32 // the partitioned index at the top
	table                pg.Name
	name                 string
	replIdent, clustered bool
	tablespace           string
	comment              string // a quoted literal; "" for none
}

// partIndexesQuery lists the indexes under partitioned indexes ($1), each
// level's before the next one's (its parent's first).
const partIndexesQuery = `
SELECT r.idx, n.nspname, t.relname, x.relname, i.indisreplident, i.indisclustered,
       coalesce(ts.spcname::text, ''), coalesce(quote_literal(obj_description(i.indexrelid, 'pg_class')), '')
FROM unnest($1::oid[]) AS r(idx)
CROSS JOIN LATERAL pg_partition_tree(r.idx) p
JOIN pg_index i ON i.indexrelid = p.relid
JOIN pg_class x ON x.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
LEFT JOIN pg_tablespace ts ON ts.oid = x.reltablespace
WHERE p.level > 0
ORDER BY r.idx, p.level, n.nspname, t.relname`

// partitionIndexes reads the partition indexes under the partitioned
// indexes among facts, by the partitioned index's OID.
func partitionIndexes(ctx context.Context, conn *pgx.Conn, facts []indexFacts) (map[uint32][]partIndex, error) {
	var oids []uint32
	for _, f := range facts {
		if f.Partitioned {
			oids = append(oids, f.oid)
		}
	}
	if len(oids) == 0 {
		return nil, nil
	}
	rows, err := conn.Query(ctx, partIndexesQuery, oids)
	if err != nil {
		return nil, fmt.Errorf("list the partitions' indexes: %w", err)
	}
	parts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (partIndex, error) {
		var p partIndex
		err := r.Scan(&p.parent, &p.table.Schema, &p.table.Name, &p.name, &p.replIdent, &p.clustered, &p.tablespace, &p.comment)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("list the partitions' indexes: %w", err)
	}
	out := map[uint32][]partIndex{}
	for _, p := range parts {
		out[p.parent] = append(out[p.parent], p)
	}
	return out, nil
}

// restore gives the partition's index its name again, then its settings.
// parent is the partitioned index at the top, quoted.
func (p partIndex) restore(parent string) []string {
	index := pgx.Identifier{p.table.Schema, p.name}.Sanitize()
	r := []string{p.renameSQL(parent)}
	if p.tablespace != "" {
		r = append(r, "ALTER INDEX "+index+" SET TABLESPACE "+ident(p.tablespace))
	}
	if p.comment != "" {
		r = append(r, "COMMENT ON INDEX "+index+" IS "+p.comment)
	}
	return append(r, marks(p.table, p.name, p.replIdent, p.clustered)...)
}

// renameSQL renames the index the parent's CREATE INDEX made on the
// partition (or attached there) to the name it had; no-op when it has it.
func (p partIndex) renameSQL(parent string) string {
	index := pgx.Identifier{p.table.Schema, p.name}.Sanitize()
	body := fmt.Sprintf(`DECLARE i regclass;
BEGIN
  SELECT x.indexrelid INTO i FROM pg_partition_tree(%s::regclass) p JOIN pg_index x ON x.indexrelid = p.relid
  WHERE x.indrelid = %s::regclass;
  IF i IS NOT NULL AND i IS DISTINCT FROM to_regclass(%s) THEN
    EXECUTE format('ALTER INDEX %%s RENAME TO %%I', i, %s);
  END IF;
END`, literal(parent), literal(p.table.Quoted()), literal(index), literal(p.name))
	tag := "$rename$"
	for n := 0; strings.Contains(body, tag); n++ {
		tag = fmt.Sprintf("$rename%d$", n)
	}
	return "DO " + tag + body + tag
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// literal quotes s as an SQL string literal, the way quote_literal does:
// an escape string literal (E'...') when s holds a backslash, so the
// result does not depend on standard_conforming_strings.
func literal(s string) string {
	q := "'" + strings.ReplaceAll(s, "'", "''") + "'"
	if strings.Contains(s, `\`) {
		return "E" + strings.ReplaceAll(q, `\`, `\\`)
	}
	return q
}
