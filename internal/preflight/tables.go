package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// tables selects the source tables; the table checks after it use them.
func (c *checker) tables(ctx context.Context) {
	ts, err := catalog.Tables(ctx, c.src, c.o.Filter)
	if err != nil {
		c.broken("tables", fmt.Errorf("select source tables: %w", err))
		return
	}
	ts = c.withoutUnlogged(ts)
	c.report.Tables = ts
	if len(ts) == 0 {
		c.add(Finding{Check: "tables", Status: StatusError,
			Detail: fmt.Sprintf("no tables selected on the source (%s)", describeFilter(c.o.Filter)),
			Hint:   "create the tables on the source, or select others with -s SCHEMA, -t TABLES or -e TABLES"})
		return
	}
	c.ok("tables", "%s selected: %s", plural(len(ts), "table"), nameList(catalog.NamesOf(ts), 10))
}

// describeFilter says in flag terms what the filter selected.
func describeFilter(f catalog.Filter) string {
	schema := f.Schema
	if schema == "" {
		schema = "public"
	}
	parts := []string{"schema " + pg.QuoteIfNeeded(schema)}
	if len(f.Include) > 0 {
		parts = append(parts, "-t "+strings.Join(f.Include, ","))
	}
	if len(f.Exclude) > 0 {
		parts = append(parts, "-e "+strings.Join(f.Exclude, ","))
	}
	return strings.Join(parts, ", ")
}

// replicaIdentity: once a table is published, UPDATE and DELETE on it fail on
// the source unless it has a primary key or a replica identity. A table
// without either is a warning or an error by the evidence (see keyless.go).
func (c *checker) replicaIdentity(ctx context.Context) {
	if len(c.report.Tables) == 0 {
		return
	}
	keyless := 0
	for _, t := range c.report.Tables {
		if t.Replicable() {
			continue
		}
		keyless++
		c.add(c.keyless(ctx, t))
	}
	if keyless == 0 {
		c.ok("replica_identity", "every selected table has a primary key or a replica identity")
	}
}

// identityProblem says what a table lacks for its updates and deletes to
// be replicated.
func identityProblem(t catalog.Table) string {
	switch t.ReplicaIdentity {
	case "n":
		return fmt.Sprintf("table %s has REPLICA IDENTITY NOTHING", t.Name)
	case "i":
		return fmt.Sprintf("table %s has REPLICA IDENTITY USING INDEX, but the index is missing or invalid", t.Name)
	}
	return fmt.Sprintf("table %s has no primary key and no replica identity", t.Name)
}

// targetTables: each selected table must be absent on the target (and
// --copy-schema creates it) or present, empty, and with the source's columns.
func (c *checker) targetTables(ctx context.Context) {
	ts := c.report.Tables
	if len(ts) == 0 {
		return
	}
	found, err := catalog.Lookup(ctx, c.tgt, catalog.NamesOf(ts))
	if err != nil {
		c.broken("target_tables", fmt.Errorf("look up tables on the target: %w", err))
		return
	}
	if c.owners, err = tableOwners(ctx, c.tgt); err != nil {
		c.broken("target_tables", fmt.Errorf("read pgvecrep's groups on the target: %w", err))
		return
	}
	var missing []pg.Name
	bad := 0
	for _, s := range ts {
		t, ok := found[s.Name]
		if !ok {
			missing = append(missing, s.Name)
			continue
		}
		fs := c.targetTable(ctx, s, t)
		bad += len(fs)
		c.report.Findings = append(c.report.Findings, fs...)
	}
	if len(missing) > 0 {
		c.missingTables(missing)
	}
	if present := len(ts) - len(missing); bad == 0 && present > 0 {
		c.ok("target_tables", "%s on the target: empty, with the source's columns", plural(present, "table"))
	}
}

// missingTables is fine with --copy-schema and an error for each table without.
func (c *checker) missingTables(missing []pg.Name) {
	if c.o.CopySchema {
		c.ok("target_tables", "%s missing on the target, --copy-schema will create them: %s",
			plural(len(missing), "table"), nameList(missing, 10))
		return
	}
	for _, n := range missing {
		c.add(Finding{Check: "target_tables", Status: StatusError,
			Detail: fmt.Sprintf("table %s missing on target", n),
			Hint:   "create it on the target, or use --copy-schema to copy the source's schema"})
	}
}

// targetTable compares one table present on both sides.
func (c *checker) targetTable(ctx context.Context, src, tgt catalog.Table) []Finding {
	var out []Finding
	if diffs := columnDiff(src, tgt); len(diffs) > 0 {
		out = append(out, Finding{Check: "target_tables", Status: StatusError,
			Detail: fmt.Sprintf("table %s differs on the target: %s", tgt.Name, strings.Join(diffs, "; ")),
			Hint:   "make the target table's columns match the source's, or drop it on the target and use --copy-schema"})
	}
	var hasRows bool
	err := c.tgt.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+tgt.Name.Quoted()+" LIMIT 1)").Scan(&hasRows)
	switch {
	case err != nil:
		out = append(out, Finding{Check: "target_tables", Status: StatusError,
			Detail: fmt.Sprintf("read table %s on the target: %v", tgt.Name, err),
			Hint:   "grant the target user SELECT on it, or connect as a superuser"})
	case hasRows && !c.emptied[tgt.Name.Quoted()]:
		o, owned := c.owners[tgt.Name.Quoted()]
		out = append(out, Finding{Check: "target_tables", Status: StatusError,
			Detail: fmt.Sprintf("table %s on the target is not empty", tgt.Name),
			Hint:   notEmptyHint(tgt.Name.Quoted(), o, owned)})
	}
	return out
}

// columnDiff lists how the target's columns differ from the source's, by
// name and format_type (so vector(10) and vector(12) differ).
func columnDiff(src, tgt catalog.Table) []string {
	srcType, tgtType := typesByName(src.Columns), typesByName(tgt.Columns)
	var out []string
	for _, col := range src.Columns {
		typ, ok := tgtType[col.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("column %s %s is missing on the target", pg.QuoteIfNeeded(col.Name), col.Type))
		case typ != col.Type:
			out = append(out, fmt.Sprintf("column %s is %s on the target but %s on the source", pg.QuoteIfNeeded(col.Name), typ, col.Type))
		}
	}
	for _, col := range tgt.Columns {
		if _, ok := srcType[col.Name]; !ok {
			out = append(out, fmt.Sprintf("column %s %s exists only on the target", pg.QuoteIfNeeded(col.Name), col.Type))
		}
	}
	return out
}

func typesByName(cols []catalog.Column) map[string]string {
	m := make(map[string]string, len(cols))
	for _, c := range cols {
		m[c.Name] = c.Type
	}
	return m
}

// nameList prints up to limit names, then how many more there are.
func nameList(names []pg.Name, limit int) string {
	var parts []string
	for i, n := range names {
		if i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(names)-limit))
			break
		}
		parts = append(parts, n.String())
	}
	return strings.Join(parts, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
