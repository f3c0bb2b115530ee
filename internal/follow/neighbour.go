package follow

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// neighbourK is how many nearest neighbours a sample compares.
const neighbourK = 10

// probe is one indexed vector column of a group table, the subject of the
// verifier's nearest-neighbour samples. Its query vectors are the column's
// own values on the source, taken row after row in key order (after is the
// last row's key): every row is a query once in a walk over the table, so
// a row whose vector the target lost or changed is found within one walk,
// whatever its place, which a random query would find only by luck.
type probe struct {
	c        *cursor // the table's key and its where clauses
	col, typ string  // the column, quoted, and its type
	op       string  // the distance operator of the index's opclass
	after    []string
}

// String names the probe as the log and the metrics show it.
func (p *probe) String() string { return p.col + " " + p.op }

// probeQuery lists the columns of table that an HNSW or IVFFlat index
// orders by (the index's first column, not an expression), with the
// opclass that names the distance.
const probeQuery = `SELECT DISTINCT quote_ident(a.attname), format_type(a.atttypid, a.atttypmod), o.opcname
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
JOIN pg_opclass o ON o.oid = i.indclass[0]
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = $1::regclass AND am.amname IN ('hnsw', 'ivfflat') AND i.indisvalid ORDER BY 1, 3`

// distanceOps maps an opclass's suffix to pgvector's distance operator.
var distanceOps = []struct{ suffix, op string }{
	{"_l2_ops", "<->"}, {"_cosine_ops", "<=>"}, {"_ip_ops", "<#>"},
	{"_l1_ops", "<+>"}, {"_hamming_ops", "<~>"}, {"_jaccard_ops", "<%>"},
}

func distanceOp(opclass string) string {
	for _, d := range distanceOps {
		if strings.HasSuffix(opclass, d.suffix) {
			return d.op
		}
	}
	return ""
}

// findProbes returns the probes of tables, read from the source.
func findProbes(ctx context.Context, src *pgx.Conn, tables []pg.Name) ([]*probe, error) {
	var out []*probe
	for _, t := range tables {
		c, err := newCursor(ctx, src, t, 1)
		if err != nil {
			continue // no key, or gone: its chunks say so already
		}
		r, err := src.Query(ctx, probeQuery, t.String())
		if err != nil {
			return nil, fmt.Errorf("read the vector indexes of %s: %w", t, err)
		}
		var col, typ, opc string
		if _, err := pgx.ForEachRow(r, []any{&col, &typ, &opc}, func() error {
			if op := distanceOp(opc); op != "" {
				out = append(out, &probe{c: c, col: col, typ: typ, op: op})
			}
			return nil
		}); err != nil {
			return nil, fmt.Errorf("read the vector indexes of %s: %w", t, err)
		}
	}
	return out, nil
}

// query returns the next query vector (as text) and its row's key, going
// back to the table's start after its last row; ok is false when the
// column has no value at all.
func (p *probe) query(ctx context.Context, src *pgx.Conn) (vec string, key []string, ok bool, err error) {
	for _, from := range [][]string{p.after, nil} {
		where, args := p.c.where(chunk{lo: from})
		sql := fmt.Sprintf("SELECT %s::text, %s FROM %s WHERE %s AND %s IS NOT NULL ORDER BY %s LIMIT 1",
			p.col, p.c.keyText(), p.c.table, where, p.col, strings.Join(p.c.keys, ", "))
		vals := make([]string, 1+len(p.c.keys))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		err = src.QueryRow(ctx, sql, args...).Scan(ptrs...)
		if err == nil {
			return vals[0], vals[1:], true, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return "", nil, false, fmt.Errorf("read a query vector of %s.%s: %w", p.c.table, p.col, err)
		}
		if from == nil {
			break
		}
	}
	return "", nil, false, nil
}

// nearest returns the keys of the neighbourK rows nearest to vec, exactly:
// index scans are off for the transaction, so both sides scan every row
// and an approximate index (or its absence on the target) plays no part.
// Ties are broken by the key, so equal rows give equal lists.
func (p *probe) nearest(ctx context.Context, conn *pgx.Conn, vec string) (string, error) {
	sql := fmt.Sprintf("SELECT ROW(%s)::text FROM %s WHERE %s IS NOT NULL ORDER BY %s %s $1::text::%s, %s LIMIT %d",
		strings.Join(p.c.keys, ", "), p.c.table, p.col, p.col, p.op, p.typ, strings.Join(p.c.keys, ", "), neighbourK)
	var keys []string
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off"); err != nil {
			return err
		}
		var err error
		keys, err = pg.Strings(ctx, tx, sql, vec)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("nearest neighbours in %s.%s: %w", p.c.table, p.col, err)
	}
	return strings.Join(keys, " "), nil
}

// same compares the nearest neighbours of vec on both sides.
func (p *probe) same(ctx context.Context, src, tgt *pgx.Conn, vec string) (bool, error) {
	a, err := p.nearest(ctx, src, vec)
	if err != nil {
		return false, err
	}
	b, err := p.nearest(ctx, tgt, vec)
	if err != nil {
		return false, err
	}
	return a == b, nil
}

// maybeSample takes a nearest-neighbour sample once every
// opt.NeighbourEvery chunks: an exact top-k is a scan of the whole table on
// both sides, so it runs far less often than a chunk, which reads
// ChunkRows rows by the key.
func (v *Verifier) maybeSample(ctx context.Context, src, tgt *pgx.Conn, g group.Group) error {
	if v.f.opt.NeighbourEvery <= 0 {
		return nil
	}
	if v.sinceProbe++; v.sinceProbe < v.f.opt.NeighbourEvery {
		return nil
	}
	v.sinceProbe = 0
	if v.probeNext >= len(v.probes) {
		ps, err := findProbes(ctx, src, g.Tables)
		if err != nil {
			return err
		}
		v.probes, v.probeNext = keepWalks(v.probes, ps), 0
		if len(ps) == 0 {
			return nil
		}
	}
	p := v.probes[v.probeNext]
	v.probeNext++
	return v.sample(ctx, src, tgt, g, p)
}

// keepWalks carries each probe's place in its walk from old to new, the
// same table's column and distance, so a walk does not start over at
// every reload of the probes.
func keepWalks(old, new []*probe) []*probe {
	after := map[string][]string{}
	for _, p := range old {
		after[p.c.table.String()+" "+p.String()] = p.after
	}
	for _, p := range new {
		p.after = after[p.c.table.String()+" "+p.String()]
	}
	return new
}

// sample compares the nearest neighbours of p's next query vector on both
// sides, again after the lag drains when they differ, and reports them
// when they still differ, naming the query's row.
func (v *Verifier) sample(ctx context.Context, src, tgt *pgx.Conn, g group.Group, p *probe) error {
	vec, key, ok, err := p.query(ctx, src)
	if err != nil || !ok {
		return err
	}
	p.after = key
	same, err := v.settled(ctx, src, g, func() (bool, error) { return p.same(ctx, src, tgt, vec) })
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.nnChecked++
	if !same {
		v.nnMismatch++
	}
	v.mu.Unlock()
	what := fmt.Sprintf("%d nearest by %s to key (%s)", neighbourK, p, strings.Join(key, ","))
	msg := fmt.Sprintf("the %s of %s differ between source and target after the lag drained", what, p.c.table)
	return v.record(ctx, tgt, g, group.Mismatch{Table: p.c.table, Kind: group.MismatchNeighbours, Range: what, Message: msg}, same)
}
