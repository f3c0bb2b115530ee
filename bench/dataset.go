package main

import (
	"bufio"
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// dataset is one benchmark workload: tables, their indexes and their rows.
type dataset struct {
	Name   string // flag name: headline, 768, multi, app, parts
	Title  string // what it is, for the report
	Tables []table
	// SkipIndexFirst, when set, is why scenario 1 does not run on it.
	SkipIndexFirst string
}

// table is one table of a dataset: its columns, primary key and indexes,
// which is what every target starts with.
type table struct {
	Name    string
	Columns string   // column definitions
	Key     string   // primary key column list
	Indexes []string // CREATE INDEX statements
	Rows    int
	// Dim is the vector dimension of column embedding; 0 for a table filled by Fill.
	Dim int
	// Fill inserts the rows of a non-vector table; $1 is the row count, $2
	// FillArg when it is set.
	Fill    string
	FillArg int
	// FKs are ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY statements;
	// RefTables names the table each one references.
	FKs       []string
	RefTables []string
	// Parts, when over 0, range-partitions the table on id into that many
	// leaves of equal id ranges (leafNames), the key and indexes declared
	// on the parent.
	Parts int
}

// createSQL creates the table with its key, indexes and foreign keys, as a
// user would have it on a target before replication starts.
func (t table) createSQL() []string {
	sql := []string{fmt.Sprintf("CREATE TABLE %s (%s, PRIMARY KEY (%s))", ident(t.Name), t.Columns, t.Key) + t.partitionSQL()}
	return append(append(sql, t.Indexes...), t.FKs...)
}

// bareSQL creates the table with its columns only: no key, no index.
func (t table) bareSQL() string {
	return fmt.Sprintf("CREATE TABLE %s (%s)", ident(t.Name), t.Columns) + t.partitionSQL()
}

// partitionSQL ends a CREATE TABLE with t's partitioning and creates its
// leaves; "" for a plain table.
func (t table) partitionSQL() string {
	if t.Parts == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" PARTITION BY RANGE (id)")
	for i, leaf := range t.leafNames() {
		from, to := "MINVALUE", "MAXVALUE"
		if i > 0 {
			from = strconv.Itoa(1 + i*t.Rows/t.Parts)
		}
		if i < t.Parts-1 {
			to = strconv.Itoa(1 + (i+1)*t.Rows/t.Parts)
		}
		fmt.Fprintf(&b, "; CREATE TABLE %s PARTITION OF %s FOR VALUES FROM (%s) TO (%s)", ident(leaf), ident(t.Name), from, to)
	}
	return b.String()
}

// leafNames are t's leaf partitions (t_p1 ...), or t itself when it is
// not partitioned: the tables that hold its rows.
func (t table) leafNames() []string {
	if t.Parts == 0 {
		return []string{t.Name}
	}
	names := make([]string, t.Parts)
	for i := range names {
		names[i] = fmt.Sprintf("%s_p%d", t.Name, i+1)
	}
	return names
}

// keySQL adds the primary key to a bare table.
func (t table) keySQL() string {
	return fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (%s)", ident(t.Name), t.Key)
}

// hasVectorIndex reports whether one of t's indexes is a vector index.
func (t table) hasVectorIndex() bool {
	for _, ix := range t.Indexes {
		if isVectorIndex(ix) {
			return true
		}
	}
	return false
}

func isVectorIndex(sql string) bool {
	return strings.Contains(sql, "USING hnsw") || strings.Contains(sql, "USING ivfflat")
}

// tableRows is the row count of the dataset's table or leaf partition
// name; 0 if none.
func (d dataset) tableRows(name string) int {
	for _, t := range d.Tables {
		if t.Name == name {
			return t.Rows
		}
		for _, leaf := range t.leafNames() {
			if leaf == name {
				return t.Rows / t.Parts
			}
		}
	}
	return 0
}

// vectorIndexTable is the table of one of the datasets' vector CREATE
// INDEX statements ("CREATE INDEX i ON t USING hnsw ..."), or "" for any
// other statement.
func vectorIndexTable(sql string) string {
	_, rest, ok := strings.Cut(sql, " ON ")
	table, _, using := strings.Cut(rest, " USING ")
	if !ok || !using || !isVectorIndex(sql) {
		return ""
	}
	return table
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// rows is the dataset's total row count.
func (d dataset) rows() int {
	n := 0
	for _, t := range d.Tables {
		n += t.Rows
	}
	return n
}

// eventsFill is a deterministic 1M-row-class non-vector table: no vector,
// several types, a text column wide enough to make the table the largest.
const eventsFill = `
INSERT INTO events (id, user_id, kind, payload, created_at)
SELECT i, ((i::bigint * 7919) % 50000)::int, (ARRAY['view', 'click', 'cart', 'buy'])[1 + i % 4],
       md5(i::text) || md5((i * 31)::text), timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second'
FROM generate_series(1, $1::int) AS i`

// narrowFill is the narrow row shape of ordinary application tables: two
// ints, ~20 bytes of text and a timestamp, ~60 bytes a row on disk.
const narrowFill = `
INSERT INTO %s (id, account_id, note, created_at)
SELECT i, (i::bigint * 7919 %% 100000)::int, substr(md5(i::text), 1, 20),
       timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second'
FROM generate_series(1, $1::int) AS i`

// narrowTable is a table of narrow rows, filled by narrowFill.
func narrowTable(name string, rows int, indexes ...string) table {
	return table{
		Name:    name,
		Columns: "id int NOT NULL, account_id int NOT NULL, note text NOT NULL, created_at timestamptz NOT NULL",
		Key:     "id",
		Indexes: indexes,
		Rows:    rows,
		Fill:    fmt.Sprintf(narrowFill, ident(name)),
	}
}

// ordersFill references events (ids 1..events, $2) from every order.
const ordersFill = `
INSERT INTO orders (id, event_id, customer_id, status, amount, created_at)
SELECT i, 1 + (i::bigint * 104729 % $2::int)::int, (i::bigint * 31 % 200000)::int,
       (ARRAY['new', 'paid', 'shipped', 'returned'])[1 + i % 4], (i % 100000) / 100.0,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '7 seconds'
FROM generate_series(1, $1::int) AS i`

// appDataset is a typical application database: a big narrow table, an
// orders table with three btree indexes and a foreign key into it, and two
// embedding tables.
func appDataset(events, orders, items, docs int) dataset {
	return dataset{
		Name: "app",
		Title: fmt.Sprintf("%s narrow rows + %s orders (3 btree, FK) + %s x 128-d HNSW + %s x 768-d HNSW cosine",
			count(events), count(orders), count(items), count(docs)),
		Tables: []table{
			narrowTable("events", events),
			{
				Name:    "orders",
				Columns: "id bigint NOT NULL, event_id int NOT NULL, customer_id int NOT NULL, status text NOT NULL, amount numeric(10,2) NOT NULL, created_at timestamptz NOT NULL",
				Key:     "id",
				Indexes: []string{
					"CREATE INDEX orders_event_id_idx ON orders (event_id)",
					"CREATE INDEX orders_customer_id_idx ON orders (customer_id, created_at)",
					"CREATE INDEX orders_created_at_idx ON orders (created_at)",
				},
				FKs:       []string{"ALTER TABLE orders ADD CONSTRAINT orders_event_id_fkey FOREIGN KEY (event_id) REFERENCES events (id)"},
				RefTables: []string{"events"},
				Rows:      orders,
				Fill:      ordersFill,
				FillArg:   events,
			},
			vectorTable("items", items, 128, "CREATE INDEX items_embedding_idx ON items USING hnsw (embedding vector_l2_ops)"),
			vectorTable("docs", docs, 768, "CREATE INDEX docs_embedding_idx ON docs USING hnsw (embedding vector_cosine_ops)"),
		},
		SkipIndexFirst: "index first is not run on app (its HNSW tables alone take it past half an hour here)",
	}
}

func vectorTable(name string, rows, dim int, index string) table {
	return table{
		Name:    name,
		Columns: fmt.Sprintf("id bigint NOT NULL, embedding vector(%d)", dim),
		Key:     "id",
		Indexes: []string{index},
		Rows:    rows,
		Dim:     dim,
	}
}

// datasets are the workloads, full size or the quick run's small ones.
func datasets(quick bool) []dataset {
	n := func(full, small int) int {
		if quick {
			return small
		}
		return full
	}
	// Quick sizes keep the whole quick run under two minutes on two busy
	// cores: index first grows an HNSW graph row by row, ~2 ms a row at 128-d.
	head := n(100_000, 5_000)
	wide := n(20_000, 1_000)
	events, hnsw, ivf := n(1_000_000, 100_000), n(50_000, 3_000), n(50_000, 3_000)
	app := appDataset(n(5_000_000, 100_000), n(1_000_000, 20_000), n(200_000, 3_000), n(50_000, 1_000))
	return []dataset{
		{Name: "headline", Title: fmt.Sprintf("%s x 128-d, HNSW vector_l2_ops", count(head)), Tables: []table{
			vectorTable("items", head, 128, "CREATE INDEX items_embedding_idx ON items USING hnsw (embedding vector_l2_ops)"),
		}},
		{Name: "768", Title: fmt.Sprintf("%s x 768-d, HNSW vector_cosine_ops", count(wide)), Tables: []table{
			vectorTable("docs", wide, 768, "CREATE INDEX docs_embedding_idx ON docs USING hnsw (embedding vector_cosine_ops)"),
		}},
		{Name: "multi", Title: fmt.Sprintf("%s-row non-vector table + %s x 64-d HNSW + %s x 128-d IVFFlat",
			count(events), count(hnsw), count(ivf)), Tables: []table{
			{
				Name:    "events",
				Columns: "id bigint NOT NULL, user_id int NOT NULL, kind text NOT NULL, payload text, created_at timestamptz NOT NULL",
				Key:     "id",
				Indexes: []string{"CREATE INDEX events_user_id_idx ON events (user_id, created_at)"},
				Rows:    events,
				Fill:    eventsFill,
			},
			vectorTable("images", hnsw, 64, "CREATE INDEX images_embedding_idx ON images USING hnsw (embedding vector_l2_ops)"),
			vectorTable("products", ivf, 128,
				"CREATE INDEX products_embedding_idx ON products USING ivfflat (embedding vector_l2_ops) WITH (lists = 100)"),
		}},
		app,
		partsDataset(n(4, 4), n(10_000, 500)),
	}
}

// partsDataset is one partitioned table of 768-d embeddings (one tenant or
// month a partition, say) with an HNSW index declared on the parent.
func partsDataset(parts, perPart int) dataset {
	t := vectorTable("chunks", parts*perPart, 768, "CREATE INDEX chunks_embedding_idx ON chunks USING hnsw (embedding vector_cosine_ops)")
	t.Parts = parts
	return dataset{
		Name:   "parts",
		Title:  fmt.Sprintf("%d partitions x %s x 768-d, HNSW vector_cosine_ops on the parent", parts, count(perPart)),
		Tables: []table{t},
		SkipIndexFirst: "index first is not run on parts (768-d vectors grown row by row take minutes here; " +
			"the 768 dataset measures that way)",
	}
}

// count prints a row count people read at a glance: 100k, 1M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return strconv.Itoa(n)
}

// load creates the dataset's tables on the source with their primary keys
// and fills them, then vacuums and analyzes them, so every scenario reads
// the same settled heap. The source gets no secondary or vector index: no
// scenario reads one, and building them would only lengthen the run.
//
// With full, the source also gets the indexes and foreign keys, built after
// the fill: for tools such as pgcopydb that take them from the source.
func load(ctx context.Context, conn *pgx.Conn, d dataset, seed uint64, full bool) error {
	if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		return fmt.Errorf("create extension vector on the source: %w", err)
	}
	for _, t := range d.Tables {
		if err := execAll(ctx, conn, t.createSQL()[:1]); err != nil {
			return fmt.Errorf("create source table %s: %w", t.Name, err)
		}
		if err := fill(ctx, conn, t, seed); err != nil {
			return fmt.Errorf("fill source table %s: %w", t.Name, err)
		}
		if full {
			if err := execAll(ctx, conn, t.createSQL()[1:]); err != nil {
				return fmt.Errorf("index source table %s: %w", t.Name, err)
			}
		}
		if _, err := conn.Exec(ctx, "VACUUM (FREEZE, ANALYZE) "+ident(t.Name)); err != nil {
			return fmt.Errorf("vacuum source table %s: %w", t.Name, err)
		}
	}
	return nil
}

func fill(ctx context.Context, conn *pgx.Conn, t table, seed uint64) error {
	if t.Dim == 0 {
		args := []any{t.Rows}
		if t.FillArg > 0 {
			args = append(args, t.FillArg)
		}
		_, err := conn.Exec(ctx, t.Fill, args...)
		return err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeVectors(pw, t, seed)) }()
	_, err := conn.PgConn().CopyFrom(ctx, pr, fmt.Sprintf("COPY %s (id, embedding) FROM STDIN", ident(t.Name)))
	pr.Close() // unblocks the writer when the COPY stopped early
	return err
}

// writeVectors writes t's rows in COPY text format: ids 1..Rows and vectors
// of uniform components in [-1, 1), from a generator seeded by the seed and
// the table's name, so every run loads the same data.
func writeVectors(w io.Writer, t table, seed uint64) error {
	h := fnv.New64a()
	h.Write([]byte(t.Name))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	bw := bufio.NewWriterSize(w, 1<<20)
	var line []byte
	for id := 1; id <= t.Rows; id++ {
		line = strconv.AppendInt(line[:0], int64(id), 10)
		line = append(line, "\t["...)
		for i := range t.Dim {
			if i > 0 {
				line = append(line, ',')
			}
			line = strconv.AppendFloat(line, rng.Float64()*2-1, 'f', 5, 64)
		}
		line = append(line, "]\n"...)
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func execAll(ctx context.Context, conn *pgx.Conn, sqls []string) error {
	for _, sql := range sqls {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", firstLine(sql), err)
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}
