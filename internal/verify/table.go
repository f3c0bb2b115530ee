package verify

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// table is what verify knows about one table, read from the source.
type table struct {
	name    pg.Name
	oid     uint32 // on the source
	cols    []string
	key     []keyColumn // primary key, else replica identity index; nil when neither
	problem string      // why the table cannot be compared (missing on the target, ...)
}

// keyColumn is one column of the key, with its type as SQL so that a bound
// read as text can be cast back.
type keyColumn struct {
	name, typ string
}

// keyQuery lists the key columns of the primary key, or else of the replica
// identity index: the columns logical replication itself matches rows by.
const keyQuery = `
SELECT a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indexrelid = (SELECT x.indexrelid FROM pg_index x
                      WHERE x.indrelid = $1 AND (x.indisprimary OR x.indisreplident)
                      ORDER BY x.indisprimary DESC LIMIT 1)
  AND k.ord <= i.indnkeyatts
ORDER BY k.ord`

func newTable(ctx context.Context, src *pgx.Conn, ct catalog.Table) (*table, error) {
	t := &table{name: ct.Name, oid: ct.OID}
	for _, c := range ct.Columns {
		t.cols = append(t.cols, c.Name)
	}
	rows, err := src.Query(ctx, keyQuery, ct.OID)
	if err != nil {
		return nil, fmt.Errorf("read key of %s: %w", ct.Name, err)
	}
	t.key, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyColumn, error) {
		var k keyColumn
		err := r.Scan(&k.name, &k.typ)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("read key of %s: %w", ct.Name, err)
	}
	return t, nil
}

// checkTarget records why the target's table cannot be compared, if it cannot.
// Columns only the target has are ignored: what is compared is what the
// source has.
func (t *table) checkTarget(onTgt map[pg.Name]catalog.Table) {
	tt, ok := onTgt[t.name]
	if !ok {
		t.problem = "table missing on the target"
		return
	}
	has := map[string]bool{}
	for _, c := range tt.Columns {
		has[c.Name] = true
	}
	var missing []string
	for _, c := range t.cols {
		if !has[c] {
			missing = append(missing, pg.QuoteIfNeeded(c))
		}
	}
	if len(missing) > 0 {
		t.problem = "columns missing on the target: " + strings.Join(missing, ", ")
	}
}

func (t *table) keyNames() []string {
	out := make([]string, len(t.key))
	for i, k := range t.key {
		out[i] = k.name
	}
	return out
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// keyList is the key columns as SQL: a, b.
func (t *table) keyList() string {
	q := make([]string, len(t.key))
	for i, k := range t.key {
		q[i] = ident(k.name)
	}
	return strings.Join(q, ", ")
}

// keyExpr is the key as one comparable value: a, or ROW(a, b), whose
// comparison orders rows exactly as ORDER BY a, b does.
func (t *table) keyExpr() string {
	if len(t.key) == 1 {
		return ident(t.key[0].name)
	}
	return "ROW(" + t.keyList() + ")"
}

// keyText is the key as the report shows it: 42, or (42,"a b") for a
// composite key (PostgreSQL's record text, unambiguous for any value).
func (t *table) keyText() string { return t.keyExpr() + "::text" }

// rowText is the row as text over the source's columns in the source's
// order, so a target with its columns in another order still compares equal.
func (t *table) rowText() string {
	q := make([]string, len(t.cols))
	for i, c := range t.cols {
		q[i] = ident(c)
	}
	return "ROW(" + strings.Join(q, ", ") + ")::text"
}

// keyParams appends a bound as parameters, each cast from text to its
// column's type, and returns the SQL that refers to them.
func (t *table) keyParams(args *[]any, bound []string) string {
	q := make([]string, len(t.key))
	for i, k := range t.key {
		*args = append(*args, bound[i])
		q[i] = "$" + strconv.Itoa(len(*args)) + "::text::" + k.typ
	}
	if len(q) == 1 {
		return q[0]
	}
	return "ROW(" + strings.Join(q, ", ") + ")"
}

// chunk is a key range (lo, hi]; a nil bound is open. The first and last
// chunks are open so that rows the target has beyond the source's keys are
// still counted.
type chunk struct {
	lo, hi   []string
	src, tgt checksum
}

// checksum is an order-independent digest of a set of rows: the count and
// the sum of each row's hash. Order-independent so that a chunk needs no
// sort, and so that two servers that collate text differently still agree.
type checksum struct {
	rows int64
	sum  string // numeric, as text
}

func (t *table) where(c chunk) (string, []any) {
	var conds []string
	var args []any
	if c.lo != nil {
		conds = append(conds, t.keyExpr()+" > "+t.keyParams(&args, c.lo))
	}
	if c.hi != nil {
		conds = append(conds, t.keyExpr()+" <= "+t.keyParams(&args, c.hi))
	}
	if len(conds) == 0 {
		return "true", nil
	}
	return strings.Join(conds, " AND "), args
}

// boundaries splits the source's key space into chunks of about n rows. A
// table without a key is one chunk.
func boundaries(ctx context.Context, src *pgx.Conn, t *table, n int) ([]chunk, error) {
	if len(t.key) == 0 {
		return []chunk{{}}, nil
	}
	texts := make([]string, len(t.key))
	for i, k := range t.key {
		texts[i] = ident(k.name) + "::text"
	}
	sql := fmt.Sprintf(`SELECT k FROM (SELECT ARRAY[%s] AS k, row_number() OVER (ORDER BY %s) AS n FROM %s) s
WHERE n %% $1 = 0 ORDER BY n`, strings.Join(texts, ", "), t.keyList(), t.name.Quoted())
	var bounds [][]string
	err := readTx(ctx, src, false, "", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, sql, n)
		if err != nil {
			return err
		}
		bounds, err = pgx.CollectRows(rows, pgx.RowTo[[]string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("split %s into chunks: %w", t.name, err)
	}
	chunks := make([]chunk, 0, len(bounds)+1)
	var lo []string
	for _, b := range bounds {
		chunks = append(chunks, chunk{lo: lo, hi: b})
		lo = b
	}
	return append(chunks, chunk{lo: lo}), nil
}

// sums reads the checksums of the chunks in which, all from one snapshot,
// into the source's or the target's side of each chunk.
func sums(ctx context.Context, conn *pgx.Conn, t *table, chunks []chunk, which []int, source bool) error {
	return readTx(ctx, conn, true, "", func(tx pgx.Tx) error {
		for _, i := range which {
			where, args := t.where(chunks[i])
			sql := fmt.Sprintf(`SELECT count(*), coalesce(sum(('x' || left(md5(%s), 16))::bit(64)::bigint), 0)::text
FROM %s WHERE %s`, t.rowText(), t.name.Quoted(), where)
			var c checksum
			if err := tx.QueryRow(ctx, sql, args...).Scan(&c.rows, &c.sum); err != nil {
				return err
			}
			if source {
				chunks[i].src = c
			} else {
				chunks[i].tgt = c
			}
		}
		return nil
	})
}
