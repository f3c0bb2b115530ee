package follow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// chunk is a key range (lo, hi] of one table; nil lo is the table's start,
// nil hi its end. Keys travel as text and are cast back to the key's types
// in SQL, so any primary key works, of one column or several.
type chunk struct {
	lo, hi []string
}

// String spells the range as the log and the metrics show it.
func (c chunk) String() string {
	lo, hi := "-inf", "+inf"
	if c.lo != nil {
		lo = strings.Join(c.lo, ",")
	}
	if c.hi != nil {
		hi = strings.Join(c.hi, ",")
	}
	return "(" + lo + ", " + hi + "]"
}

// cursor walks one table's primary key in chunks, up to the largest key
// the table had when the pass began: rows a writer appends after that wait
// for the next pass, so the last chunk is not a moving target.
type cursor struct {
	table       pg.Name
	keys, types []string // the key's quoted columns and their types
	cols        []string // every column, quoted, in the source's order
	lo, last    []string
	rows        int
	bad         []string // the ranges this pass found different
}

// keyQuery reads the columns of the table's primary key or, without one,
// of its replica identity index (unique, not partial, its columns NOT
// NULL: a key as good for chunks).
const keyQuery = `SELECT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod)
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
WHERE i.indexrelid = (SELECT k.indexrelid FROM pg_index k WHERE k.indrelid = $1::regclass AND (k.indisprimary OR k.indisreplident)
                      ORDER BY k.indisprimary DESC LIMIT 1)
ORDER BY array_position(i.indkey::int2[], a.attnum)`

// errNoKey says a table has neither a primary key nor a replica identity
// index: it is verified whole (see keyless.go), or not at all.
var errNoKey = errors.New("no primary key or replica identity index")

const colsQuery = `SELECT quote_ident(attname) FROM pg_attribute
WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`

// newCursor reads table's key and columns and where its key ends now.
func newCursor(ctx context.Context, src *pgx.Conn, t pg.Name, rows int) (*cursor, error) {
	c := &cursor{table: t, rows: rows}
	r, err := src.Query(ctx, keyQuery, t.String())
	if err != nil {
		return nil, fmt.Errorf("read the key of %s: %w", t, err)
	}
	var k, typ string
	if _, err := pgx.ForEachRow(r, []any{&k, &typ}, func() error {
		c.keys, c.types = append(c.keys, k), append(c.types, typ)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read the key of %s: %w", t, err)
	}
	if len(c.keys) == 0 {
		return nil, fmt.Errorf("%s: %w", t, errNoKey)
	}
	if c.cols, err = columns(ctx, src, t); err != nil {
		return nil, err
	}
	desc := make([]string, len(c.keys))
	for i, k := range c.keys {
		desc[i] = k + " DESC"
	}
	c.last, err = c.keyRow(ctx, src, "SELECT "+c.keyText()+" FROM "+t.String()+" ORDER BY "+strings.Join(desc, ", ")+" LIMIT 1")
	return c, err
}

// columns reads table's columns, quoted, in the source's order.
func columns(ctx context.Context, src *pgx.Conn, t pg.Name) ([]string, error) {
	r, err := src.Query(ctx, colsQuery, t.String())
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", t, err)
	}
	cols, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read the columns of %s: %w", t, err)
	}
	return cols, nil
}

// next returns the cursor's next chunk, and whether it is the table's last.
func (c *cursor) next(ctx context.Context, src *pgx.Conn) (chunk, bool, error) {
	if c.last == nil {
		return chunk{}, true, nil // empty when the pass began: check it is still empty
	}
	where, args := c.where(chunk{lo: c.lo, hi: c.last})
	hi, err := c.keyRow(ctx, src, fmt.Sprintf("SELECT %s FROM %s WHERE %s ORDER BY %s OFFSET %d LIMIT 1",
		c.keyText(), c.table, where, strings.Join(c.keys, ", "), c.rows-1), args...)
	if err != nil {
		return chunk{}, false, err
	}
	done := hi == nil || slices.Equal(hi, c.last)
	if hi == nil {
		hi = c.last
	}
	ch := chunk{lo: c.lo, hi: hi}
	c.lo = hi
	return ch, done, nil
}

// keyRow runs a query of the key's columns as text; nil when no row.
func (c *cursor) keyRow(ctx context.Context, conn *pgx.Conn, sql string, args ...any) ([]string, error) {
	vals := make([]string, len(c.keys))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	err := conn.QueryRow(ctx, sql, args...).Scan(ptrs...)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the keys of %s: %w", c.table, err)
	}
	return vals, nil
}

// keyText selects the key as text, under names of its own: an output
// column named like the key would make ORDER BY sort the text.
func (c *cursor) keyText() string {
	out := make([]string, len(c.keys))
	for i, k := range c.keys {
		out[i] = fmt.Sprintf("%s::text AS pgvecrep_k%d", k, i)
	}
	return strings.Join(out, ", ")
}

// where is the condition of chunk ch, with its parameters.
func (c *cursor) where(ch chunk) (string, []any) {
	conds := []string{"true"}
	var args []any
	bound := func(op string, vals []string) {
		ps := make([]string, len(vals))
		for i, v := range vals {
			args = append(args, v)
			ps[i] = fmt.Sprintf("$%d::text::%s", len(args), c.types[i])
		}
		conds = append(conds, fmt.Sprintf("(%s) %s (%s)", strings.Join(c.keys, ", "), op, strings.Join(ps, ", ")))
	}
	if ch.lo != nil {
		bound(">", ch.lo)
	}
	if ch.hi != nil {
		bound("<=", ch.hi)
	}
	return strings.Join(conds, " AND "), args
}

// sum is the chunk's row count and an md5 of its rows in key order; the
// columns are the source's, named, so a column order that differs on the
// target does not count as a difference.
func (c *cursor) sum(ctx context.Context, conn *pgx.Conn, ch chunk) (string, error) {
	where, args := c.where(ch)
	sql := fmt.Sprintf("SELECT count(*)::text || ':' || coalesce(md5(string_agg(ROW(%s)::text, ',' ORDER BY %s)), '') FROM %s WHERE %s",
		strings.Join(c.cols, ", "), strings.Join(c.keys, ", "), c.table, where)
	var s string
	if err := conn.QueryRow(ctx, sql, args...).Scan(&s); err != nil {
		return "", fmt.Errorf("checksum %s %s: %w", c.table, ch, err)
	}
	return s, nil
}

// same compares the chunk on both sides, the source first.
func (c *cursor) same(ctx context.Context, src, tgt *pgx.Conn, ch chunk) (bool, error) {
	a, err := c.sum(ctx, src, ch)
	if err != nil {
		return false, err
	}
	b, err := c.sum(ctx, tgt, ch)
	if err != nil {
		return false, err
	}
	return a == b, nil
}
