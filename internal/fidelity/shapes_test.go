package fidelity

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// column is one column kind: its declaration, the value row i gets (an SQL
// expression of i alone; empty for generated columns), the types it needs,
// and whether its value is stored out of line (TOAST), which the workload
// then updates both ways: the column itself, and another one leaving it
// unchanged.
type column struct {
	name, decl, value string
	types             []string
	toast             bool
}

// Column kinds. Values depend on i only, so a row can be made again by any
// statement that knows its number.
var (
	colJSON      = column{name: "doc", decl: "doc jsonb", value: "jsonb_build_object('i', i, 'a', ARRAY[i, i + 1], 's', 'x' || i)"}
	colArrays    = column{name: "tags", decl: "tags text[], nums int[]", value: "ARRAY['t' || i, 'u'], ARRAY[i, -i]"}
	colEnum      = column{name: "mood", decl: "mood mood", value: "(ARRAY['sad', 'ok', 'happy'])[i % 3 + 1]::mood", types: []string{`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`}}
	colComposite = column{name: "pair", decl: "pair pair", value: "ROW(i, 'p' || i)::pair", types: []string{`CREATE TYPE pair AS (a int, b text)`}}
	colDomain    = column{name: "pos", decl: "pos posint", value: "i % 100 + 1", types: []string{`CREATE DOMAIN posint AS int CHECK (VALUE > 0)`}}
	colNumeric   = column{name: "amount", decl: "amount numeric", value: "CASE i % 4 WHEN 0 THEN 'NaN' WHEN 1 THEN 'Infinity' WHEN 2 THEN '-Infinity' ELSE (i / 7.0)::text END::numeric"}
	colTime      = column{name: "at", decl: "at timestamptz", value: "CASE i % 3 WHEN 0 THEN 'infinity' WHEN 1 THEN '-infinity' ELSE '2024-01-01'::timestamptz + i * interval '1 hour' END::timestamptz"}
	colBytea     = column{name: "blob", decl: "blob bytea", value: "decode((SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 200) WHERE i > 0), 'hex')", toast: true}
	colGenerated = column{name: "twice", decl: "twice bigint GENERATED ALWAYS AS (id * 2) STORED"}
	colIdentity  = column{name: "ident", decl: "ident bigint GENERATED ALWAYS AS IDENTITY"}
	colVec       = column{name: "v", decl: "v vector(3)", value: "CASE WHEN i % 6 = 0 THEN NULL ELSE ('[' || i || ',' || (i % 7) || ',1]')::vector END"}
	colHalf      = column{name: "h", decl: "h halfvec(8)", value: "('[' || (i % 50) || ',1,2,3,4,5,6,7]')::halfvec"}
	colSparse    = column{name: "s", decl: "s sparsevec(10)", value: "('{1:' || i || ',5:2}/10')::sparsevec"}
	colBit       = column{name: "b", decl: "b bit(16)", value: "(i % 65536)::bit(16)"}
	colBig       = column{name: "big", decl: "big vector(1536)", value: vecValue(1536), toast: true}
	colHuge      = column{name: "huge", decl: "huge vector(3072)", value: vecValue(3072), toast: true}
)

// vecValue is a random vector of dims dimensions, NULL for every fifth row.
func vecValue(dims int) string {
	return fmt.Sprintf("CASE WHEN i %% 5 = 0 THEN NULL ELSE (SELECT array_agg(random()) FROM generate_series(1, %d) WHERE i > 0)::real[]::vector END", dims)
}

// Key kinds.
const (
	keyPrimary   = "primary key"
	keyComposite = "composite key"
	keyFull      = "no key, replica identity full"
	keyIndex     = "replica identity using index"
	keyNone      = "no key, insert-only" // replicated with a warning: updates and deletes would fail on the source
)

// Partitioning kinds.
const (
	partRange   = "range"
	partList    = "list with a default partition"
	partHash    = "hash"
	partMulti   = "multi-level"
	partDefault = "range with a default partition"
)

// table is one generated table shape.
type table struct {
	name     string
	key      string
	part     string
	inherits bool // a child table that INHERITS from name, with a column of its own
	cols     []column
	// after are statements run once the seed rows are in, with %[1]s for
	// the table's name: indexes, constraints (NOT VALID ones that the seed
	// rows violate), comments, statistics targets, CLUSTER ON.
	after []string
	// refd says another table's foreign key references this one, so the
	// workload never truncates it.
	refd bool
	// keep is a condition the rows the workload updates must meet: old
	// rows that a NOT VALID check rejects cannot be updated, on the source
	// either.
	keep string
}

// children are the tables that hold a shape's rows: its partitions, or the
// table and its inheritance child.
func (t table) children() []string {
	switch {
	case t.inherits:
		return []string{t.name, t.name + "_child"}
	case t.part == partMulti:
		return []string{t.name + "_p1a", t.name + "_p1b", t.name + "_p2"}
	case t.part == partList:
		return []string{t.name + "_p0", t.name + "_p1", t.name + "_pd"}
	case t.part == partHash:
		return []string{t.name + "_h0", t.name + "_h1", t.name + "_h2"}
	case t.part != "":
		return []string{t.name + "_p1", t.name + "_p2"}
	}
	return []string{t.name}
}

// describe is a one-line summary for the test log.
func (t table) describe() string {
	var parts []string
	parts = append(parts, t.key)
	if t.part != "" {
		parts = append(parts, "partitioned by "+t.part)
	}
	if t.inherits {
		parts = append(parts, "with an INHERITS child")
	}
	for _, c := range t.cols {
		parts = append(parts, c.name)
	}
	return t.name + ": " + strings.Join(parts, ", ")
}

// ddl creates the table (and its partitions or child) on the source.
func (t table) ddl() []string {
	cols := []string{"id bigint NOT NULL", "note text"}
	if t.key == keyComposite {
		cols = append(cols, "k int NOT NULL")
	}
	if t.part == partList {
		cols = append(cols, "region int NOT NULL")
	}
	for _, c := range t.cols {
		cols = append(cols, c.decl)
	}
	switch t.key {
	case keyPrimary:
		if t.part == partList {
			cols = append(cols, "PRIMARY KEY (id, region)")
		} else {
			cols = append(cols, "PRIMARY KEY (id)")
		}
	case keyComposite:
		cols = append(cols, "PRIMARY KEY (id, k)")
	}
	create := fmt.Sprintf("CREATE TABLE %s (%s)", t.name, strings.Join(cols, ", "))
	out := []string{create + t.partitionClause()}
	out = append(out, t.partitions()...)
	switch t.key {
	case keyFull:
		out = append(out, fmt.Sprintf("ALTER TABLE %s REPLICA IDENTITY FULL", t.name))
	case keyIndex:
		out = append(out, fmt.Sprintf("CREATE UNIQUE INDEX %[1]s_ri ON %[1]s (id)", t.name),
			fmt.Sprintf("ALTER TABLE %[1]s REPLICA IDENTITY USING INDEX %[1]s_ri", t.name))
	}
	if t.inherits {
		out = append(out, fmt.Sprintf("CREATE TABLE %[1]s_child (extra int, PRIMARY KEY (id)) INHERITS (%[1]s)", t.name))
	}
	return out
}

func (t table) partitionClause() string {
	switch t.part {
	case partRange, partDefault, partMulti:
		return " PARTITION BY RANGE (id)"
	case partList:
		return " PARTITION BY LIST (region)"
	case partHash:
		return " PARTITION BY HASH (id)"
	}
	return ""
}

func (t table) partitions() []string {
	n := t.name
	switch t.part {
	case partRange:
		return []string{
			fmt.Sprintf("CREATE TABLE %[1]s_p1 PARTITION OF %[1]s FOR VALUES FROM (MINVALUE) TO (1000)", n),
			fmt.Sprintf("CREATE TABLE %[1]s_p2 PARTITION OF %[1]s FOR VALUES FROM (1000) TO (MAXVALUE)", n)}
	case partDefault:
		return []string{
			fmt.Sprintf("CREATE TABLE %[1]s_p1 PARTITION OF %[1]s FOR VALUES FROM (MINVALUE) TO (1000)", n),
			fmt.Sprintf("CREATE TABLE %[1]s_p2 PARTITION OF %[1]s DEFAULT", n)}
	case partList:
		return []string{
			fmt.Sprintf("CREATE TABLE %[1]s_p0 PARTITION OF %[1]s FOR VALUES IN (0)", n),
			fmt.Sprintf("CREATE TABLE %[1]s_p1 PARTITION OF %[1]s FOR VALUES IN (1)", n),
			fmt.Sprintf("CREATE TABLE %[1]s_pd PARTITION OF %[1]s DEFAULT", n)}
	case partHash:
		return []string{
			fmt.Sprintf("CREATE TABLE %[1]s_h0 PARTITION OF %[1]s FOR VALUES WITH (MODULUS 3, REMAINDER 0)", n),
			fmt.Sprintf("CREATE TABLE %[1]s_h1 PARTITION OF %[1]s FOR VALUES WITH (MODULUS 3, REMAINDER 1)", n),
			fmt.Sprintf("CREATE TABLE %[1]s_h2 PARTITION OF %[1]s FOR VALUES WITH (MODULUS 3, REMAINDER 2)", n)}
	case partMulti:
		return []string{
			fmt.Sprintf("CREATE TABLE %[1]s_p1 PARTITION OF %[1]s FOR VALUES FROM (MINVALUE) TO (1000) PARTITION BY HASH (id)", n),
			fmt.Sprintf("CREATE TABLE %[1]s_p1a PARTITION OF %[1]s_p1 FOR VALUES WITH (MODULUS 2, REMAINDER 0)", n),
			fmt.Sprintf("CREATE TABLE %[1]s_p1b PARTITION OF %[1]s_p1 FOR VALUES WITH (MODULUS 2, REMAINDER 1)", n),
			fmt.Sprintf("CREATE TABLE %[1]s_p2 PARTITION OF %[1]s FOR VALUES FROM (1000) TO (MAXVALUE)", n)}
	}
	return nil
}

// insert writes rows from..to (row numbers, which are also the ids).
func (t table) insert(into string, from, to int) string {
	names := []string{"id", "note"}
	values := []string{"i", "'n' || i"}
	if t.key == keyComposite {
		names, values = append(names, "k"), append(values, "i % 2")
	}
	if t.part == partList {
		names, values = append(names, "region"), append(values, "i % 3")
	}
	for _, c := range t.cols {
		if c.value == "" {
			continue
		}
		names = append(names, strings.Split(strings.ReplaceAll(colNames(c), " ", ""), ",")...)
		values = append(values, c.value)
	}
	if into != t.name { // the inheritance child's own column
		names, values = append(names, "extra"), append(values, "i % 9")
	}
	return fmt.Sprintf("INSERT INTO %s (%s) SELECT %s FROM generate_series(%d, %d) i",
		into, strings.Join(names, ", "), strings.Join(values, ", "), from, to)
}

// colNames are the names a column kind declares (colArrays declares two).
func colNames(c column) string {
	var names []string
	for _, d := range strings.Split(c.decl, ",") {
		names = append(names, strings.Fields(d)[0])
	}
	return strings.Join(names, ",")
}

// fixedMatrix is the matrix `make test` runs: every shape the issue names,
// each on a table of its own so a failure names the shape.
func fixedMatrix() []table {
	return []table{
		{name: "t_pk", key: keyPrimary, cols: []column{colJSON, colArrays}, refd: true},
		{name: "t_composite", key: keyComposite, cols: []column{colEnum, colComposite}},
		{name: "t_full", key: keyFull, cols: []column{colDomain, colNumeric, colTime}},
		{name: "t_ri", key: keyIndex, cols: []column{colBytea},
			after: []string{`COMMENT ON INDEX %[1]s_ri IS 'the replica identity'`}},
		{name: "t_gen", key: keyPrimary, cols: []column{colGenerated, colIdentity}},
		{name: "t_log", key: keyNone, cols: []column{colJSON, colTime}},
		{name: "t_range", key: keyPrimary, part: partRange, cols: []column{colVec}},
		{name: "t_list", key: keyPrimary, part: partList},
		{name: "t_hash", key: keyPrimary, part: partHash},
		{name: "t_multi", key: keyPrimary, part: partMulti},
		{name: "t_default", key: keyPrimary, part: partDefault},
		{name: "t_inh", key: keyPrimary, inherits: true},
		{name: "t_vec", key: keyPrimary, cols: []column{colVec, colHalf, colSparse, colBit},
			after: []string{`CREATE INDEX %[1]s_v_hnsw ON %[1]s USING hnsw (v vector_l2_ops)`,
				`CREATE INDEX %[1]s_h_hnsw ON %[1]s USING hnsw (h halfvec_cosine_ops)`,
				`CREATE INDEX %[1]s_b_hnsw ON %[1]s USING hnsw (b bit_hamming_ops)`}},
		{name: "t_big", key: keyPrimary, cols: []column{colBig},
			after: []string{`CREATE INDEX %[1]s_half ON %[1]s USING hnsw ((big::halfvec(1536)) halfvec_cosine_ops)`,
				`CREATE INDEX %[1]s_bq ON %[1]s USING hnsw ((binary_quantize(big)::bit(1536)) bit_hamming_ops)`,
				`ALTER INDEX %[1]s_half ALTER COLUMN 1 SET STATISTICS 500`}},
		{name: "t_huge", key: keyPrimary, cols: []column{colHuge},
			after: []string{`CREATE INDEX %[1]s_half ON %[1]s USING hnsw ((huge::halfvec(3072)) halfvec_l2_ops)`}},
		{name: "t_idx", key: keyPrimary, cols: []column{{name: "span", decl: "span int4range", value: "int4range(i * 10, i * 10 + 5)"}},
			after: []string{`CREATE INDEX %[1]s_partial ON %[1]s (note) WHERE note LIKE 'n1%%'`,
				`CREATE INDEX %[1]s_incl ON %[1]s (id) INCLUDE (note)`,
				`CREATE INDEX %[1]s_lower ON %[1]s (lower(note))`,
				`ALTER INDEX %[1]s_lower ALTER COLUMN 1 SET STATISTICS 300`,
				`ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_span_excl EXCLUDE USING gist (span WITH &&)`,
				`COMMENT ON CONSTRAINT %[1]s_span_excl ON %[1]s IS 'no overlapping spans'`,
				`ALTER TABLE %[1]s CLUSTER ON %[1]s_incl`,
				`COMMENT ON TABLE %[1]s IS 'indexes of every kind'`}},
		{name: "t_cons", key: keyPrimary,
			cols: []column{{name: "u", decl: "u int", value: "i"},
				{name: "parent", decl: "parent bigint", value: "CASE WHEN i % 2000 > 1 THEN i - 1 END"},
				{name: "legacy", decl: "legacy int", value: "CASE WHEN i < 1000 THEN 1 END"},
				{name: "ref", decl: "ref bigint", value: "CASE WHEN i < 1000 THEN 999999 END"}},
			after: []string{`ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_u UNIQUE (u) DEFERRABLE INITIALLY DEFERRED`,
				`ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_parent FOREIGN KEY (parent) REFERENCES %[1]s (id) ON UPDATE CASCADE ON DELETE CASCADE`,
				`ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_legacy CHECK (legacy IS NULL) NOT VALID`,
				`ALTER TABLE %[1]s ADD CONSTRAINT %[1]s_ref FOREIGN KEY (ref) REFERENCES t_pk (id) MATCH FULL NOT VALID`,
				`COMMENT ON CONSTRAINT %[1]s_parent ON %[1]s IS 'the row before'`},
			keep: "legacy IS NULL"},
	}
}

// randomMatrix draws n tables of random shapes from rng.
func randomMatrix(rng *rand.Rand, n int) []table {
	kinds := []column{colJSON, colArrays, colEnum, colComposite, colDomain, colNumeric, colTime, colBytea,
		colGenerated, colIdentity, colVec, colHalf, colSparse, colBit, colBig}
	keys := []string{keyPrimary, keyComposite, keyFull, keyIndex, keyNone}
	parts := []string{"", "", "", partRange, partList, partHash, partMulti, partDefault}
	var out []table
	for i := range n {
		t := table{name: fmt.Sprintf("r%d", i), key: keys[rng.IntN(len(keys))]}
		if t.key == keyPrimary {
			t.part = parts[rng.IntN(len(parts))]
			t.inherits = t.part == "" && rng.IntN(6) == 0
		}
		for _, k := range rng.Perm(len(kinds))[:rng.IntN(4)] {
			t.cols = append(t.cols, kinds[k])
		}
		t.after = randomAfter(rng, t)
		out = append(out, t)
	}
	return out
}

// randomAfter draws indexes and properties for t's columns.
func randomAfter(rng *rand.Rand, t table) []string {
	var out []string
	for _, c := range t.cols {
		if rng.IntN(2) == 0 {
			continue
		}
		switch c.name {
		case "v":
			out = append(out, `CREATE INDEX ON %[1]s USING hnsw (v vector_cosine_ops)`)
		case "big":
			out = append(out, `CREATE INDEX ON %[1]s USING hnsw ((big::halfvec(1536)) halfvec_l2_ops)`)
		case "doc":
			out = append(out, `CREATE INDEX ON %[1]s USING gin (doc)`)
		case "at":
			out = append(out, `CREATE INDEX ON %[1]s (at) WHERE at > '2024-01-01'`)
		}
	}
	if t.part == "" && !t.inherits && rng.IntN(3) == 0 {
		out = append(out, `CREATE INDEX %[1]s_note ON %[1]s (note)`, `COMMENT ON INDEX %[1]s_note IS 'random'`)
	}
	return out
}
