package verify

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// SchemaResult is the comparison of the tables' definitions on the two
// sides (see compareSchemas).
type SchemaResult struct {
	// Tables is how many tables had their schemas compared.
	Tables int `json:"tables"`
	// Differences diverge: each makes verify exit 1.
	Differences []SchemaDiff `json:"differences"`
	// Expected are differences pgvecrep makes on purpose, each with its
	// reason; they are notes, not divergence.
	Expected []SchemaDiff `json:"expected"`
}

// SchemaDiff is one aspect of one object that differs, as a person reads
// it: "index app.tags_sku_tag: replica identity: source yes, target no".
type SchemaDiff struct {
	// Kind is table, column, constraint, index, trigger, policy or sequence.
	Kind string `json:"kind"`
	// Object is the qualified name: schema.table for a table, schema.name
	// for an index or a sequence, schema.table.name for the rest.
	Object string `json:"object"`
	// Aspect is what differs: "exists" for an object one side lacks, else
	// one of its kind's aspects (type, definition, valid, comment, ...).
	Aspect string `json:"aspect"`
	Source string `json:"source"`
	Target string `json:"target"`
	// Reason says why an expected difference is expected.
	Reason string `json:"reason,omitempty"`
}

func (d SchemaDiff) String() string {
	return fmt.Sprintf("%s %s: %s: source %s, target %s", d.Kind, d.Object, d.Aspect, d.Source, d.Target)
}

// OK reports whether nothing in the schemas diverges; nil (not compared)
// is OK.
func (s *SchemaResult) OK() bool { return s == nil || len(s.Differences) == 0 }

// schemaObject is one object as read from one side's catalog.
type schemaObject struct {
	kind                string
	schema, table, name string   // table is "" for a sequence, name is "" for a table
	vals                []string // one per aspect of the kind's category
	refs                *pg.Name // a foreign key's referenced table
}

type objectKey struct{ kind, schema, table, name string }

func (o schemaObject) key() objectKey { return objectKey{o.kind, o.schema, o.table, o.name} }

// label is the object's qualified name as SchemaDiff.Object has it.
func (o schemaObject) label() string {
	switch o.kind {
	case "table":
		return pg.Name{Schema: o.schema, Name: o.table}.String()
	case "index", "sequence":
		return pg.Name{Schema: o.schema, Name: o.name}.String()
	}
	return pg.Name{Schema: o.schema, Name: o.table}.String() + "." + pg.QuoteIfNeeded(o.name)
}

// diffSchemas compares the objects read on each side. A table one side
// lacks is one difference, not one per column, index and key: its objects
// are left out. replicated tells which tables the group replicates, for
// the foreign keys pgvecrep builds NOT VALID on purpose.
func diffSchemas(src, tgt []schemaObject, replicated map[pg.Name]bool) *SchemaResult {
	res := &SchemaResult{Differences: []SchemaDiff{}, Expected: []SchemaDiff{}}
	onSrc, onTgt := byKey(src), byKey(tgt)
	absent := map[pg.Name]bool{} // tables on one side only
	for _, side := range [][2]map[objectKey]schemaObject{{onSrc, onTgt}, {onTgt, onSrc}} {
		for k := range side[0] {
			if _, ok := side[1][k]; !ok && k.kind == "table" {
				absent[pg.Name{Schema: k.schema, Name: k.table}] = true
			}
		}
	}
	for _, k := range sortedKeys(onSrc, onTgt) {
		if k.kind != "table" && absent[pg.Name{Schema: k.schema, Name: k.table}] {
			continue
		}
		s, inSrc := onSrc[k]
		t, inTgt := onTgt[k]
		switch {
		case !inTgt:
			res.Differences = append(res.Differences, exists(s, "yes", "no"))
		case !inSrc:
			res.Differences = append(res.Differences, exists(t, "no", "yes"))
		default:
			compareObject(res, s, t, replicated)
		}
	}
	return res
}

func exists(o schemaObject, src, tgt string) SchemaDiff {
	return SchemaDiff{Kind: o.kind, Object: o.label(), Aspect: "exists", Source: src, Target: tgt}
}

// compareObject adds each aspect that differs between s and t to res.
func compareObject(res *SchemaResult, s, t schemaObject, replicated map[pg.Name]bool) {
	aspects := aspectsOf(s.kind)
	for i, a := range aspects {
		if s.vals[i] == t.vals[i] {
			continue
		}
		d := SchemaDiff{Kind: s.kind, Object: s.label(), Aspect: a, Source: shown(s.vals[i]), Target: shown(t.vals[i])}
		if reason := expectedReason(s, d, replicated); reason != "" {
			d.Reason = reason
			res.Expected = append(res.Expected, d)
			continue
		}
		res.Differences = append(res.Differences, d)
	}
}

// expectedReason says why d is a difference start_sync makes on purpose, or
// returns "". The one such difference: a foreign key that references a
// table the group does not replicate is built NOT VALID on the target,
// because the referenced rows are not there to validate against (see
// initsync's noteOutsideKey).
func expectedReason(s schemaObject, d SchemaDiff, replicated map[pg.Name]bool) string {
	if s.kind != "constraint" || s.refs == nil || d.Aspect != "valid" || d.Source != "yes" || d.Target != "no" || replicated[*s.refs] {
		return ""
	}
	tbl := pg.Name{Schema: s.schema, Name: s.table}
	return fmt.Sprintf("it references %s, which the group does not replicate, so start_sync built it NOT VALID; "+
		"once %s holds every referenced row on the target, run there: ALTER TABLE %s VALIDATE CONSTRAINT %s",
		s.refs, s.refs, tbl.Quoted(), pgx.Identifier{s.name}.Sanitize())
}

// shown is a value as a difference prints it.
func shown(v string) string {
	if v == "" {
		return "none"
	}
	return v
}

func aspectsOf(kind string) []string {
	for _, c := range categories {
		if c.kind == kind {
			return c.aspects
		}
	}
	panic(fmt.Sprintf("verify: no schema category %q", kind))
}

func byKey(objs []schemaObject) map[objectKey]schemaObject {
	m := make(map[objectKey]schemaObject, len(objs))
	for _, o := range objs {
		m[o.key()] = o
	}
	return m
}

// sortedKeys is every key of a and b, in report order: a table's
// differences together (by schema and table), within a table by kind as
// categories lists them, then by name.
func sortedKeys(a, b map[objectKey]schemaObject) []objectKey {
	rank := map[string]int{}
	for i, c := range categories {
		rank[c.kind] = i
	}
	var keys []objectKey
	for _, m := range []map[objectKey]schemaObject{a, b} {
		for k := range m {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y objectKey) int {
		return cmp.Or(cmp.Compare(x.schema, y.schema), cmp.Compare(x.table, y.table),
			cmp.Compare(rank[x.kind], rank[y.kind]), cmp.Compare(x.name, y.name))
	})
	return slices.Compact(keys)
}
