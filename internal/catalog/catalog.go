// Package catalog reads what a database holds that replication cares about:
// tables and their columns, keys, replica identity, indexes and constraints,
// sequences, and extensions.
//
// The same queries run on source and target, so preflight can compare the two
// and initsync can save and rebuild the target's indexes.
package catalog

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// Table is one replicable table.
type Table struct {
	OID     uint32
	Name    pg.Name
	Columns []Column
	// Parts are a partitioned table's leaf partitions (at any depth), where
	// its rows are; empty for any other table. Bytes, EstRows and Pages of
	// a partitioned table are the sums of its leaves'.
	Parts           []Part
	HasPK           bool
	ReplicaIdentity string // d (default: primary key), f (full), i (index), n (nothing)
	HasIdentityIdx  bool   // REPLICA IDENTITY USING INDEX points at a valid index
	Bytes           int64  // pg_table_size
	EstRows         int64  // reltuples, -1 when never analyzed
	Pages           int64  // relpages
	Partitioned     bool
	// Unlogged tables cannot be published (their changes are not in the
	// WAL), so replication skips them.
	Unlogged bool
}

// Column is one column of a table.
type Column struct {
	Name      string
	Type      string // format_type, e.g. vector(10), numeric(10,2)
	TypeName  string // the type's own name: vector, int4
	TypeExt   string // extension providing the type, "" for built-in/user types
	NotNull   bool
	Generated bool
}

// Part is one leaf partition of a partitioned table.
type Part struct {
	OID     uint32
	Name    pg.Name
	Bytes   int64
	EstRows int64
	Pages   int64
}

// Replicable reports whether UPDATE and DELETE can be replicated: a primary
// key, or REPLICA IDENTITY FULL, or USING INDEX on a valid index.
func (t Table) Replicable() bool {
	switch t.ReplicaIdentity {
	case "f":
		return true
	case "i":
		return t.HasIdentityIdx
	case "d":
		return t.HasPK
	}
	return false
}

// VectorColumns are the columns whose type comes from a vector extension.
func (t Table) VectorColumns() []Column {
	var out []Column
	for _, c := range t.Columns {
		if vector.Known(c.TypeExt) {
			out = append(out, c)
		}
	}
	return out
}

// Filter selects tables the way pg_easy_replicate does: a schema (default
// public), optionally only some tables (-t) or all but some (-e).
type Filter struct {
	Schema  string
	Include []string
	Exclude []string
}

// Names resolves the filter's table lists into qualified names.
func (f Filter) names(list []string) ([]pg.Name, error) {
	var out []pg.Name
	for _, s := range list {
		for _, part := range splitList(s) {
			n, err := pg.ParseName(part, f.schema())
			if err != nil {
				return nil, hint.Wrap(err, `name tables as table or schema.table, quoting odd names: -t 'public."My Table"'`)
			}
			out = append(out, n)
		}
	}
	return out, nil
}

func (f Filter) schema() string {
	if f.Schema == "" {
		return "public"
	}
	return f.Schema
}

// SplitOutsideQuotes splits s at the commas that are not inside double
// quotes, as every flag that takes a list of names reads it.
func SplitOutsideQuotes(s string) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			inQuote = !inQuote
		case s[i] == ',' && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// splitList is SplitOutsideQuotes with each part trimmed and a trailing
// empty part (a list that ends in a comma) left out.
func splitList(s string) []string {
	parts := SplitOutsideQuotes(s)
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	if n := len(parts); n > 1 && parts[n-1] == "" {
		parts = parts[:n-1]
	}
	return parts
}

// userTablesFrom is the FROM and WHERE of every query over the tables a
// group may replicate: ordinary and partitioned roots, outside the system
// schemas, pgvecrep's and extensions'.
const userTablesFrom = `
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pgvecrep')
  AND n.nspname NOT LIKE 'pg\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname`

const tablesQuery = `
SELECT c.oid, n.nspname, c.relname, c.relkind = 'p',
       EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p'),
       c.relreplident::text,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident AND i.indisvalid),
       pg_table_size(c.oid), c.reltuples::bigint, c.relpages::bigint, c.relpersistence = 'u'` + userTablesFrom

// UserTableNames lists the names of the tables Tables chooses from, without
// reading their columns: enough to expand a list of schemas into tables.
func UserTableNames(ctx context.Context, conn *pgx.Conn) ([]pg.Name, error) {
	rows, err := conn.Query(ctx, "SELECT n.nspname, c.relname"+userTablesFrom)
	if err != nil {
		return nil, fmt.Errorf("list the tables: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (pg.Name, error) {
		var n pg.Name
		err := r.Scan(&n.Schema, &n.Name)
		return n, err
	})
}

const columnsQuery = `
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), t.typname,
       coalesce((SELECT e.extname FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                 WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'), ''),
       a.attnotnull, a.attgenerated <> ''
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum`

// Tables lists the tables the filter selects, with their columns. With
// Include, every named table must exist: a typo is an error, not a no-op.
func Tables(ctx context.Context, conn *pgx.Conn, f Filter) ([]Table, error) {
	all, err := allTables(ctx, conn)
	if err != nil {
		return nil, err
	}
	include, err := f.names(f.Include)
	if err != nil {
		return nil, err
	}
	exclude, err := f.names(f.Exclude)
	if err != nil {
		return nil, err
	}
	byName := map[pg.Name]Table{}
	for _, t := range all {
		byName[t.Name] = t
	}
	var out []Table
	if len(include) > 0 {
		for _, n := range include {
			t, ok := byName[n]
			if !ok {
				return nil, hint.New(fmt.Sprintf("table %s not found on the %s", n, "database"),
					"check the name and schema; list tables with \\dt in psql, and qualify them as schema.table")
			}
			out = append(out, t)
		}
	} else {
		for _, t := range all {
			if t.Name.Schema == f.schema() {
				out = append(out, t)
			}
		}
	}
	out = without(out, exclude)
	if err := loadColumns(ctx, conn, out); err != nil {
		return nil, err
	}
	if err := loadParts(ctx, conn, out); err != nil {
		return nil, err
	}
	return out, nil
}

func without(ts []Table, exclude []pg.Name) []Table {
	skip := map[pg.Name]bool{}
	for _, n := range exclude {
		skip[n] = true
	}
	out := ts[:0:0]
	seen := map[pg.Name]bool{}
	for _, t := range ts {
		if !skip[t.Name] && !seen[t.Name] {
			seen[t.Name] = true
			out = append(out, t)
		}
	}
	return out
}

func allTables(ctx context.Context, conn *pgx.Conn) ([]Table, error) {
	rows, err := conn.Query(ctx, tablesQuery)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Table, error) {
		var t Table
		err := r.Scan(&t.OID, &t.Name.Schema, &t.Name.Name, &t.Partitioned, &t.HasPK,
			&t.ReplicaIdentity, &t.HasIdentityIdx, &t.Bytes, &t.EstRows, &t.Pages, &t.Unlogged)
		return t, err
	})
}

func loadColumns(ctx context.Context, conn *pgx.Conn, ts []Table) error {
	if len(ts) == 0 {
		return nil
	}
	idx := map[uint32]*Table{}
	oids := make([]uint32, len(ts))
	for i := range ts {
		idx[ts[i].OID] = &ts[i]
		oids[i] = ts[i].OID
	}
	rows, err := conn.Query(ctx, columnsQuery, oids)
	if err != nil {
		return fmt.Errorf("list columns: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var oid uint32
		var c Column
		if err := rows.Scan(&oid, &c.Name, &c.Type, &c.TypeName, &c.TypeExt, &c.NotNull, &c.Generated); err != nil {
			return err
		}
		idx[oid].Columns = append(idx[oid].Columns, c)
	}
	return rows.Err()
}

// partsQuery lists the leaf partitions of partitioned tables, at any depth.
// Only plain tables: a foreign-table partition holds no rows here, and
// logical replication does not write into one.
const partsQuery = `
SELECT p.relid::oid, c.oid, n.nspname, c.relname, pg_table_size(c.oid), c.reltuples::bigint, c.relpages::bigint
FROM unnest($1::oid[]) AS p(relid)
CROSS JOIN LATERAL pg_partition_tree(p.relid) pt
JOIN pg_class c ON c.oid = pt.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE pt.isleaf AND c.relkind = 'r'
ORDER BY n.nspname, c.relname`

// loadParts fills in the leaves of the partitioned tables among ts and
// sizes each partitioned table by its leaves (its own relation is empty).
func loadParts(ctx context.Context, conn *pgx.Conn, ts []Table) error {
	idx := map[uint32]*Table{}
	var oids []uint32
	for i := range ts {
		if ts[i].Partitioned {
			idx[ts[i].OID] = &ts[i]
			oids = append(oids, ts[i].OID)
		}
	}
	if len(oids) == 0 {
		return nil
	}
	rows, err := conn.Query(ctx, partsQuery, oids)
	if err != nil {
		return fmt.Errorf("list partitions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var root uint32
		var p Part
		if err := rows.Scan(&root, &p.OID, &p.Name.Schema, &p.Name.Name, &p.Bytes, &p.EstRows, &p.Pages); err != nil {
			return err
		}
		t := idx[root]
		if len(t.Parts) == 0 {
			t.Bytes, t.EstRows, t.Pages = 0, 0, 0
		}
		t.Parts = append(t.Parts, p)
		t.Bytes += p.Bytes
		t.EstRows += max(p.EstRows, 0)
		t.Pages += max(p.Pages, 0)
	}
	return rows.Err()
}

// Lookup finds tables by name on another database (the target), with columns.
// Missing tables are simply absent from the result.
func Lookup(ctx context.Context, conn *pgx.Conn, names []pg.Name) (map[pg.Name]Table, error) {
	all, err := allTables(ctx, conn)
	if err != nil {
		return nil, err
	}
	want := map[pg.Name]bool{}
	for _, n := range names {
		want[n] = true
	}
	var found []Table
	for _, t := range all {
		if want[t.Name] {
			found = append(found, t)
		}
	}
	if err := loadColumns(ctx, conn, found); err != nil {
		return nil, err
	}
	if err := loadParts(ctx, conn, found); err != nil {
		return nil, err
	}
	out := map[pg.Name]Table{}
	for _, t := range found {
		out[t.Name] = t
	}
	return out, nil
}

// NamesOf returns the tables' names.
func NamesOf(ts []Table) []pg.Name {
	out := make([]pg.Name, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

// QuotedNames is names as SQL, each quoted by pg.Name.Quoted, for a
// statement's list (FOR TABLE, TRUNCATE) or a regclass[] parameter.
func QuotedNames(names []pg.Name) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n.Quoted()
	}
	return out
}
