package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

const (
	// topK is how many neighbours each query compares.
	topK = 10
	// annRounds is how many times a query must return different exact
	// neighbours, each time after the lag drained, to count as a mismatch.
	// A single write can move a row in or out of a top-k, so a query is a
	// suspect far more often than a row is.
	annRounds = 3
)

// distanceOps maps the operator classes verify can query to their distance
// operator. Others (sparsevec, bit, other extensions) are skipped with a note.
var distanceOps = map[string]string{
	"vector_l2_ops":      "<->",
	"vector_ip_ops":      "<#>",
	"vector_cosine_ops":  "<=>",
	"vector_l1_ops":      "<+>",
	"halfvec_l2_ops":     "<->",
	"halfvec_ip_ops":     "<#>",
	"halfvec_cosine_ops": "<=>",
	"halfvec_l1_ops":     "<+>",
}

// vindex is one vector index and what it takes to query it. expr and pred are
// SQL as the server itself prints them (pg_get_indexdef, pg_get_expr), so
// they are quoted already and work for expression and partial indexes too.
type vindex struct {
	name, am string
	expr     string // the indexed column or expression
	typ      string // the operator class's input type: vector, halfvec
	opclass  string
	keys     int
	pred     string // "" unless partial
}

const vectorIndexesQuery = `
SELECT ic.relname, am.amname, pg_get_indexdef(i.indexrelid, 1, true),
       format_type(oc.opcintype, NULL), oc.opcname, i.indnkeyatts,
       coalesce(pg_get_expr(i.indpred, i.indrelid, true), '')
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_am am ON am.oid = ic.relam
JOIN pg_opclass oc ON oc.oid = i.indclass[0]
WHERE i.indrelid = $1::text::regclass AND i.indisvalid
ORDER BY ic.relname`

// vectorIndexes lists a table's valid vector indexes.
func vectorIndexes(ctx context.Context, conn *pgx.Conn, t *table) ([]vindex, error) {
	rows, err := conn.Query(ctx, vectorIndexesQuery, t.name.Quoted())
	if err != nil {
		return nil, fmt.Errorf("list vector indexes of %s: %w", t.name, err)
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (vindex, error) {
		var v vindex
		err := r.Scan(&v.name, &v.am, &v.expr, &v.typ, &v.opclass, &v.keys, &v.pred)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("list vector indexes of %s: %w", t.name, err)
	}
	var out []vindex
	for _, v := range all {
		if vector.IsVectorAM(v.am) {
			out = append(out, v)
		}
	}
	return out, nil
}

// twin finds the target's counterpart of a source index: the same name, or
// else an index on the same expression with the same operator class.
func twin(v vindex, onTgt []vindex) (vindex, bool) {
	for _, w := range onTgt {
		if w.name == v.name {
			return w, true
		}
	}
	for _, w := range onTgt {
		if w.expr == v.expr && w.opclass == v.opclass && w.pred == v.pred {
			return w, true
		}
	}
	return vindex{}, false
}

// checkANN checks every vector index of one table, unless the table could
// not be compared at all.
func (r *run) checkANN(ctx context.Context, t *table) ([]ANNResult, error) {
	if t.problem != "" {
		return nil, nil
	}
	onSrc, err := vectorIndexes(ctx, r.src, t)
	if err != nil || len(onSrc) == 0 {
		return nil, err
	}
	onTgt, err := vectorIndexes(ctx, r.tgt, t)
	if err != nil {
		return nil, err
	}
	var out []ANNResult
	for _, v := range onSrc {
		r.progress("checking nearest neighbours on %s of %s (%d query vectors)", v.name, t.name, r.opts.Sample)
		res, err := r.checkIndex(ctx, t, v, onTgt)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			res.Error = err.Error()
		}
		out = append(out, res)
	}
	return out, nil
}

func (r *run) checkIndex(ctx context.Context, t *table, v vindex, onTgt []vindex) (ANNResult, error) {
	res := ANNResult{Table: t.name.String(), Index: v.name, Expr: v.expr, Opclass: v.opclass,
		Operator: distanceOps[v.opclass], Limit: topK}
	switch {
	case res.Operator == "":
		res.Skipped = fmt.Sprintf("operator class %s is not checked (only l2, inner product, cosine and l1 on vector and halfvec)", v.opclass)
	case v.keys != 1:
		res.Skipped = "multi-column index"
	case len(t.key) == 0:
		res.Skipped = "no primary key to name neighbours by"
	}
	if res.Skipped != "" {
		return res, nil
	}
	q := annQuery{t: t, v: v, op: res.Operator}
	queries, err := q.sample(ctx, r.src, r.opts.Sample)
	if err != nil || len(queries) == 0 {
		if err == nil {
			res.Skipped = "no rows with a vector to query with"
		}
		return res, err
	}
	res.Queries = len(queries)
	srcExact, tgtExact, err := r.exactParity(ctx, q, queries, &res)
	if err != nil {
		return res, err
	}
	if res.RecallSource, err = q.recall(ctx, r.src, v.name, queries, srcExact); err != nil {
		return res, fmt.Errorf("measure recall on the source: %w", err)
	}
	w, ok := twin(v, onTgt)
	if !ok {
		res.Note = "no matching index on the target"
		return res, nil
	}
	res.TargetIndex = w.name
	tq := annQuery{t: t, v: w, op: res.Operator}
	if res.RecallTarget, err = tq.recall(ctx, r.tgt, w.name, queries, tgtExact); err != nil {
		return res, fmt.Errorf("measure recall on the target: %w", err)
	}
	return res, nil
}

// exactParity compares the exact top-k of every query on both sides. Lists
// that differ are read again after the lag drained; only those that still
// differ count. As with rows (see narrow), each target read is bracketed
// by two source reads: a target list equal to either is a change in flight.
func (r *run) exactParity(ctx context.Context, q annQuery, queries []string, res *ANNResult) (src, tgt [][]neighbour, err error) {
	which := make([]int, len(queries))
	for i := range which {
		which[i] = i
	}
	src = make([][]neighbour, len(queries))
	tgt = make([][]neighbour, len(queries))
	after := make([][]neighbour, len(queries))
	for round := 0; round < annRounds && len(which) > 0; round++ {
		if err := r.exactPass(ctx, q, queries, which, src, tgt); err != nil {
			return nil, nil, err
		}
		var differ []int
		for _, i := range which {
			if !sameNeighbours(src[i], tgt[i]) {
				differ = append(differ, i)
			}
		}
		if len(differ) > 0 {
			if err := q.exact(ctx, r.src, queries, differ, after); err != nil {
				return nil, nil, fmt.Errorf("exact neighbours on the source: %w", err)
			}
			differ = inFlightDropped(differ, after, tgt)
		}
		which = differ
	}
	res.ExactMismatches = len(which)
	res.ExactOK = len(which) == 0
	for _, i := range which[:min(len(which), 3)] {
		res.Examples = append(res.Examples, fmt.Sprintf("query %d: source %v, target %v", i+1, keysOf(src[i]), keysOf(tgt[i])))
	}
	return src, tgt, nil
}

// inFlightDropped keeps the queries whose target list matches neither the
// first source read (already compared) nor after, the source read made once
// the target was read: a match with after is a change the target applied
// after the first read, not divergence.
func inFlightDropped(differ []int, after, tgt [][]neighbour) []int {
	return slices.DeleteFunc(differ, func(i int) bool { return sameNeighbours(after[i], tgt[i]) })
}

func (r *run) exactPass(ctx context.Context, q annQuery, queries []string, which []int, src, tgt [][]neighbour) error {
	if err := q.exact(ctx, r.src, queries, which, src); err != nil {
		return fmt.Errorf("exact neighbours on the source: %w", err)
	}
	if r.afterSourceRead != nil {
		r.afterSourceRead("exact")
	}
	if err := r.drain.wait(ctx); err != nil {
		return err
	}
	if err := q.exact(ctx, r.tgt, queries, which, tgt); err != nil {
		return fmt.Errorf("exact neighbours on the target: %w", err)
	}
	return nil
}

// annQuery builds the nearest-neighbour queries on one index.
type annQuery struct {
	t  *table
	v  vindex
	op string
}

func (q annQuery) from() string {
	s := " FROM " + q.t.name.Quoted()
	if q.v.pred != "" {
		s += " WHERE " + q.v.pred
	}
	return s
}

func (q annQuery) distance() string {
	return fmt.Sprintf("(%s) %s $1::text::%s", q.v.expr, q.op, q.v.typ)
}

// sample draws n query vectors from the source, the same ones every run:
// rows ordered by a hash of their key, which spreads them over the table.
func (q annQuery) sample(ctx context.Context, src *pgx.Conn, n int) ([]string, error) {
	notNull := "(" + q.v.expr + ") IS NOT NULL"
	if q.v.pred != "" {
		notNull += " AND (" + q.v.pred + ")"
	}
	sql := fmt.Sprintf("SELECT (%s)::text FROM %s WHERE %s ORDER BY md5(%s), %s LIMIT $1",
		q.v.expr, q.t.name.Quoted(), notNull, q.t.keyText(), q.t.keyList())
	var out []string
	err := readTx(ctx, src, false, "", func(tx pgx.Tx) error {
		var err error
		out, err = pg.Strings(ctx, tx, sql, n)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sample query vectors from %s: %w", q.t.name, err)
	}
	return out, nil
}

// neighbour is one row of a top-k answer.
type neighbour struct {
	key  string
	dist float64
}

// noIndex makes the planner compute distances for every row: the exact answer.
const noIndex = `SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off;
SET LOCAL enable_indexonlyscan = off;`

// exact reads the exact top-k of the queries in which, ordered by distance
// and then by key, so that ties come out in the same order on both sides.
func (q annQuery) exact(ctx context.Context, conn *pgx.Conn, queries []string, which []int, out [][]neighbour) error {
	sql := fmt.Sprintf("SELECT %s AS pgvecrep_key, %s AS pgvecrep_distance%s ORDER BY 2, %s LIMIT %d",
		q.t.keyText(), q.distance(), q.from(), q.t.keyList(), topK)
	return readTx(ctx, conn, true, noIndex, func(tx pgx.Tx) error {
		for _, i := range which {
			rows, err := tx.Query(ctx, sql, queries[i])
			if err != nil {
				return err
			}
			out[i], err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (neighbour, error) {
				var n neighbour
				var d *float64
				err := r.Scan(&n.key, &d)
				if d == nil {
					n.dist = math.NaN()
				} else {
					n.dist = *d
				}
				return n, err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// recall is the mean share of the exact top-k that the index returns,
// querying it as an application would (with that side's own settings, but
// never letting the planner fall back to a scan on a small table). It is nil
// when the planner will not use the index at all.
func (q annQuery) recall(ctx context.Context, conn *pgx.Conn, index string, queries []string, exact [][]neighbour) (*float64, error) {
	sql := fmt.Sprintf("SELECT %s AS pgvecrep_key%s ORDER BY %s LIMIT %d", q.t.keyText(), q.from(), q.distance(), topK)
	var total float64
	var n int
	used := false
	err := readTx(ctx, conn, false, "SET LOCAL enable_seqscan = off;", func(tx pgx.Tx) error {
		var err error
		if used, err = usesIndex(ctx, tx, sql, queries[0], index); err != nil || !used {
			return err
		}
		for i, v := range queries {
			if len(exact[i]) == 0 {
				continue
			}
			got, err := pg.Strings(ctx, tx, sql, v)
			if err != nil {
				return err
			}
			total += overlap(got, exact[i])
			n++
		}
		return nil
	})
	if err != nil || !used || n == 0 {
		return nil, err
	}
	mean := total / float64(n)
	return &mean, nil
}

// usesIndex reports whether the plan of sql scans the named index.
func usesIndex(ctx context.Context, tx pgx.Tx, sql, arg, index string) (bool, error) {
	var plan string
	if err := tx.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql, arg).Scan(&plan); err != nil {
		return false, fmt.Errorf("explain: %w", err)
	}
	var doc any
	if err := json.Unmarshal([]byte(plan), &doc); err != nil {
		return false, fmt.Errorf("read plan: %w", err)
	}
	return planUses(doc, index), nil
}

func planUses(node any, index string) bool {
	switch n := node.(type) {
	case map[string]any:
		if name, _ := n["Index Name"].(string); name == index {
			return true
		}
		for _, v := range n {
			if planUses(v, index) {
				return true
			}
		}
	case []any:
		for _, v := range n {
			if planUses(v, index) {
				return true
			}
		}
	}
	return false
}

func overlap(got []string, exact []neighbour) float64 {
	want := map[string]bool{}
	for _, n := range exact {
		want[n.key] = true
	}
	hit := 0
	for _, k := range got {
		if want[k] {
			hit++
			delete(want, k)
		}
	}
	return float64(hit) / float64(len(exact))
}

// sameNeighbours reports whether two exact top-k lists agree. Distances must
// match position by position; keys too, except where the distances tie: two
// servers whose CPUs round a float sum differently may order near-equal
// distances differently, or let a different one of several rows tied at the
// k-th distance into the list.
func sameNeighbours(a, b []neighbour) bool {
	if len(a) != len(b) {
		return false
	}
	dist := map[string]float64{}
	for i := range a {
		if !closeTo(a[i].dist, b[i].dist) {
			return false
		}
		dist[b[i].key] = b[i].dist
	}
	for i, n := range a {
		if n.key == b[i].key {
			continue
		}
		d, ok := dist[n.key]
		switch {
		case ok && closeTo(d, n.dist):
		case !ok && closeTo(n.dist, a[len(a)-1].dist):
		default:
			return false
		}
	}
	return true
}

func closeTo(x, y float64) bool {
	if math.IsNaN(x) || math.IsNaN(y) {
		return math.IsNaN(x) && math.IsNaN(y)
	}
	return math.Abs(x-y) <= 1e-5*math.Max(1, math.Max(math.Abs(x), math.Abs(y)))
}

func keysOf(ns []neighbour) string {
	k := make([]string, len(ns))
	for i, n := range ns {
		k[i] = n.key
	}
	return "[" + strings.Join(k, " ") + "]"
}
