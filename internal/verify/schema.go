package verify

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// The schema comparison reads each side's catalog with one query per kind
// of object and turns every object into a key (kind, schema, table, name)
// and a fixed list of aspects, each a normalized one-line value; the diff
// then compares aspect by aspect. It does not diff pg_dump's output, for
// three reasons:
//
//   - pg_dump's text depends on the server it reads: an 18 server has
//     NOT NULL as named constraints, a 15 one has none, and a server may
//     carry column options of its own (a patched 15 sets one on every
//     column), so the same schema dumps differently across the versions
//     pgvecrep upgrades between; the catalog lets verify compare what a
//     constraint means (attnotnull on both, the validity of an 18 NOT NULL
//     constraint where there is one) rather than how one server spells it,
//     and read only the properties listed in categories.
//   - pg_dump leaves out what verify must see: an invalid index is not
//     dumped at all, nor a sequence a default uses but no column owns, and
//     an object's validity or replica-identity role is buried in statements
//     that follow it.
//   - it needs a pg_dump at least as new as both servers, one process per
//     table and side, and a password in the child's environment, for what
//     seven queries in one snapshot per side answer.
//
// The price is that a property PostgreSQL adds later is compared only once
// a query reads it. The deparsing functions (pg_get_indexdef,
// pg_get_constraintdef, pg_get_triggerdef, pg_get_expr, format_type) keep
// most of that in view anyway: whatever they print is compared.
//
// Sequences' current values are not read: replication does not carry them,
// so they legitimately differ until switchover copies them.

// schemaSettings makes the deparsing functions schema-qualify every name
// outside pg_catalog, the same way on both sides whatever the role's
// search_path.
const schemaSettings = "SET LOCAL search_path = pg_catalog;"

// tablesCTE resolves the compared tables ($1 schemas, $2 names) on one side;
// a table missing there has no row. $3 is pgvecrep's own schema, whose
// objects (its metadata, the switchover's write-freeze triggers, the DDL
// log and its sequence) are not the application's schema and are never
// compared.
const tablesCTE = `WITH t AS (
  SELECT c.oid, n.nspname, c.relname
  FROM unnest($1::text[], $2::text[]) AS u(s, r)
  JOIN pg_namespace n ON n.nspname = u.s AND n.nspname <> $3
  JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = u.r AND c.relkind IN ('r', 'p'))
`

// category is one kind of object: its query returns schema, table, name,
// the referenced table of a foreign key (NULL otherwise) and an array of
// values, one per aspect. normalize, when set, rewrites the values of one
// object before they are compared.
type category struct {
	kind      string
	aspects   []string
	query     string
	normalize func(vals []string)
}

// categories lists the kinds in the order differences are reported.
var categories = []category{
	{kind: "table", query: tableQuery,
		aspects: []string{"kind", "replica identity", "row-level security", "forced row-level security", "partition key", "partition bound", "comment"}},
	{kind: "column", query: columnQuery,
		aspects: []string{"type", "not null", "default", "generated", "identity", "collation", "comment"}},
	{kind: "constraint", query: constraintQuery, normalize: normalizeConstraint,
		aspects: []string{"definition", "valid", "comment"}},
	{kind: "index", query: indexQuery,
		aspects: []string{"definition", "valid", "replica identity", "clustered", "tablespace", "comment"}},
	{kind: "trigger", query: triggerQuery,
		aspects: []string{"definition", "enabled", "comment"}},
	{kind: "policy", query: policyQuery,
		aspects: []string{"command", "mode", "roles", "using", "with check", "comment"}},
	{kind: "sequence", query: sequenceQuery,
		aspects: []string{"type", "start", "increment", "minimum", "maximum", "cache", "cycle", "owned by", "comment"}},
}

const tableQuery = tablesCTE + `
SELECT t.nspname, t.relname, '', NULL::text[], ARRAY[
  CASE c.relkind WHEN 'p' THEN 'partitioned table' ELSE 'table' END,
  CASE c.relreplident WHEN 'd' THEN 'default' WHEN 'n' THEN 'nothing' WHEN 'f' THEN 'full' ELSE 'index' END,
  CASE WHEN c.relrowsecurity THEN 'enabled' ELSE 'disabled' END,
  CASE WHEN c.relforcerowsecurity THEN 'yes' ELSE 'no' END,
  coalesce(pg_get_partkeydef(c.oid), ''),
  coalesce(pg_get_expr(c.relpartbound, c.oid), ''),
  coalesce(obj_description(c.oid, 'pg_class'), '')]
FROM t JOIN pg_class c ON c.oid = t.oid`

// columnQuery reads NOT NULL from attnotnull, which both 15 and 18 set; an
// 18 server also records it as a pg_constraint row (contype 'n'), which
// may be NOT VALID: only that validity is taken from there, so a 15 side
// (no such rows) and an 18 side agree on a valid NOT NULL.
const columnQuery = tablesCTE + `
SELECT t.nspname, t.relname, a.attname, NULL::text[], ARRAY[
  format_type(a.atttypid, a.atttypmod),
  CASE WHEN NOT a.attnotnull THEN 'no' WHEN nn.convalidated IS FALSE THEN 'yes, not valid' ELSE 'yes' END,
  CASE WHEN a.attgenerated = '' THEN coalesce(pg_get_expr(d.adbin, d.adrelid), '') ELSE '' END,
  CASE a.attgenerated WHEN 's' THEN 'stored: ' WHEN 'v' THEN 'virtual: ' ELSE '' END
    || CASE WHEN a.attgenerated <> '' THEN coalesce(pg_get_expr(d.adbin, d.adrelid), '') ELSE '' END,
  CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' ELSE '' END,
  CASE WHEN a.attcollation <> ty.typcollation AND co.oid IS NOT NULL THEN
    CASE WHEN cn.nspname = 'pg_catalog' THEN quote_ident(co.collname)
         ELSE quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END
  ELSE '' END,
  coalesce(col_description(a.attrelid, a.attnum), '')]
FROM t
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
LEFT JOIN LATERAL (SELECT k.convalidated FROM pg_constraint k
                   WHERE k.conrelid = a.attrelid AND k.contype = 'n' AND k.conkey[1] = a.attnum
                   ORDER BY k.convalidated LIMIT 1) nn ON true`

// constraintQuery leaves out NOT NULL constraints (18's contype 'n', read
// as the columns' "not null") and constraint triggers (contype 't', read
// as triggers).
const constraintQuery = tablesCTE + `
SELECT t.nspname, t.relname, k.conname,
  CASE WHEN k.contype = 'f' THEN ARRAY[rn.nspname::text, rc.relname::text] END,
  ARRAY[pg_get_constraintdef(k.oid), CASE WHEN k.convalidated THEN 'yes' ELSE 'no' END,
        coalesce(obj_description(k.oid, 'pg_constraint'), '')]
FROM t
JOIN pg_constraint k ON k.conrelid = t.oid AND k.contype NOT IN ('n', 't')
LEFT JOIN pg_class rc ON rc.oid = k.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace`

const indexQuery = tablesCTE + `
SELECT t.nspname, t.relname, ic.relname, NULL::text[], ARRAY[
  pg_get_indexdef(i.indexrelid),
  CASE WHEN i.indisvalid THEN 'yes' ELSE 'no' END,
  CASE WHEN i.indisreplident THEN 'yes' ELSE 'no' END,
  CASE WHEN i.indisclustered THEN 'yes' ELSE 'no' END,
  coalesce(ts.spcname, 'default'),
  coalesce(obj_description(i.indexrelid, 'pg_class'), '')]
FROM t
JOIN pg_index i ON i.indrelid = t.oid
JOIN pg_class ic ON ic.oid = i.indexrelid
LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace`

// triggerQuery leaves out internal triggers (those of foreign keys, read
// as constraints) and pgvecrep's own (a function in its schema).
const triggerQuery = tablesCTE + `
SELECT t.nspname, t.relname, g.tgname, NULL::text[], ARRAY[
  pg_get_triggerdef(g.oid),
  CASE g.tgenabled WHEN 'O' THEN 'origin' WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always' END,
  coalesce(obj_description(g.oid, 'pg_trigger'), '')]
FROM t
JOIN pg_trigger g ON g.tgrelid = t.oid AND NOT g.tgisinternal
JOIN pg_proc p ON p.oid = g.tgfoid
JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE pn.nspname <> $3`

const policyQuery = tablesCTE + `
SELECT t.nspname, t.relname, p.polname, NULL::text[], ARRAY[
  CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
  CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
  array_to_string(ARRAY(SELECT CASE WHEN r.x = 0 THEN 'public' ELSE coalesce(quote_ident(ro.rolname), r.x::text) END
                        FROM unnest(p.polroles) AS r(x) LEFT JOIN pg_roles ro ON ro.oid = r.x ORDER BY 1), ', '),
  coalesce(pg_get_expr(p.polqual, p.polrelid), ''),
  coalesce(pg_get_expr(p.polwithcheck, p.polrelid), ''),
  coalesce(obj_description(p.oid, 'pg_policy'), '')]
FROM t JOIN pg_policy p ON p.polrelid = t.oid`

// sequenceQuery finds the sequences the tables own (serial, identity) or
// use in a column default (nextval('s')), and reads their definitions
// only: never last_value.
const sequenceQuery = tablesCTE + `, s AS (
  SELECT d.objid AS seq FROM pg_depend d JOIN t ON d.refobjid = t.oid
  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
  UNION
  SELECT d.refobjid FROM pg_depend d JOIN pg_attrdef ad ON d.objid = ad.oid JOIN t ON ad.adrelid = t.oid
  WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass)
SELECT n.nspname, '', c.relname, NULL::text[], ARRAY[
  format_type(q.seqtypid, NULL), q.seqstart::text, q.seqincrement::text, q.seqmin::text, q.seqmax::text,
  q.seqcache::text, CASE WHEN q.seqcycle THEN 'yes' ELSE 'no' END,
  coalesce((SELECT quote_ident(tn.nspname) || '.' || quote_ident(tc.relname) || '.' || quote_ident(a.attname)
            FROM pg_depend d2
            JOIN pg_class tc ON tc.oid = d2.refobjid
            JOIN pg_namespace tn ON tn.oid = tc.relnamespace
            JOIN pg_attribute a ON a.attrelid = d2.refobjid AND a.attnum = d2.refobjsubid
            WHERE d2.classid = 'pg_class'::regclass AND d2.objid = c.oid AND d2.refclassid = 'pg_class'::regclass
              AND d2.deptype IN ('a', 'i') LIMIT 1), ''),
  coalesce(obj_description(c.oid, 'pg_class'), '')]
FROM s
JOIN pg_class c ON c.oid = s.seq AND c.relkind = 'S'
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_sequence q ON q.seqrelid = c.oid
WHERE n.nspname <> $3`

// readSchema reads every category's objects for tables on one side, in
// one repeatable-read snapshot.
func readSchema(ctx context.Context, conn *pgx.Conn, tables []pg.Name) ([]schemaObject, error) {
	schemas, names := make([]string, len(tables)), make([]string, len(tables))
	for i, t := range tables {
		schemas[i], names[i] = t.Schema, t.Name
	}
	var out []schemaObject
	err := readTx(ctx, conn, true, schemaSettings, func(tx pgx.Tx) error {
		for _, c := range categories {
			objs, err := readCategory(ctx, tx, c, schemas, names)
			if err != nil {
				return fmt.Errorf("read %ss: %w", c.kind, err)
			}
			out = append(out, objs...)
		}
		return nil
	})
	return out, err
}

func readCategory(ctx context.Context, tx pgx.Tx, c category, schemas, names []string) ([]schemaObject, error) {
	rows, err := tx.Query(ctx, c.query, schemas, names, group.Schema)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (schemaObject, error) {
		o := schemaObject{kind: c.kind}
		var ref []string
		if err := r.Scan(&o.schema, &o.table, &o.name, &ref, &o.vals); err != nil {
			return o, err
		}
		if len(ref) == 2 {
			o.refs = &pg.Name{Schema: ref[0], Name: ref[1]}
		}
		if len(o.vals) != len(c.aspects) {
			return o, fmt.Errorf("%s %s: %d values for %d aspects", c.kind, o.label(), len(o.vals), len(c.aspects))
		}
		if c.normalize != nil {
			c.normalize(o.vals)
		}
		return o, nil
	})
}

// normalizeConstraint drops NOT VALID from a definition: validity is an
// aspect of its own, so a key validated on one side reads as "valid: source
// yes, target no" rather than as two definitions to tell apart by eye.
func normalizeConstraint(vals []string) {
	vals[0] = strings.TrimSuffix(strings.TrimSpace(vals[0]), " NOT VALID")
}

// compareSchemas compares the definitions of tables on src and tgt.
// replicated is every table of the group, for telling a foreign key that
// points outside the group (NOT VALID on the target by design) from one
// that lost its validation.
func (r *run) compareSchemas(ctx context.Context, tables, replicated []pg.Name) (*SchemaResult, error) {
	r.progress("comparing the schemas of %d table(s)", len(tables))
	onSrc, err := readSchema(ctx, r.src, tables)
	if err != nil {
		return nil, fmt.Errorf("read the schema on the source: %w", err)
	}
	onTgt, err := readSchema(ctx, r.tgt, tables)
	if err != nil {
		return nil, fmt.Errorf("read the schema on the target: %w", err)
	}
	in := map[pg.Name]bool{}
	for _, t := range replicated {
		in[t] = true
	}
	res := diffSchemas(onSrc, onTgt, in)
	res.Tables = len(tables)
	r.progress("compared the schemas: %d difference(s), %d expected", len(res.Differences), len(res.Expected))
	return res, nil
}
