// Package parallel spreads a group's changes across several apply streams,
// so the target indexes vectors with N apply workers instead of one.
//
// Why streams of the engine's own, not an apply engine of pgvecrep's: a
// stream is a publication, a slot and a subscription, each applied by
// PostgreSQL's own worker, so the group keeps streaming with no pgvecrep
// process running, and everything that waits for, measures or takes down a
// group (switchover, stats, stop_sync, cleanup) works on N streams by
// doing for each what it did for one. An apply engine on the replication
// protocol would decode the WAL once instead of N times and could keep a
// TRUNCATE in order, but it would be a daemon that must never stop, with
// its own crash recovery and flush tracking; the engine's workers have
// both already.
//
// How rows are split: a table is spread when it has a vector index (where
// each applied row costs an index insert of milliseconds) and its key
// allows it (see Decide). Its row filter in stream k is
// (hash(key) & 2147483647) % N = k, built from the key columns' own
// built-in hash functions, which row filters accept. Every change of one
// key value travels in one stream, in source order; a key update moves the
// row: PostgreSQL publishes it as a DELETE in the old key's stream and an
// INSERT in the new key's. Every other table stays whole in stream 0.
//
// What the split costs and how each cost is met:
//   - a key update's INSERT carries a TOASTed column the UPDATE left
//     unchanged only as "unchanged", which the target's apply turns into
//     NULL (measured: a 1536-d vector is lost). A trigger on the source
//     (Guard) re-reads such a row's values whenever its key changes, so the
//     WAL holds them whole;
//   - a TRUNCATE would run in one stream while the others are ahead of or
//     behind it, wiping rows applied after it or keeping rows written before
//     it: the same guard refuses TRUNCATE of a spread table on the source,
//     with a hint (DELETE replicates in order);
//   - a unique index besides the key could make two streams wait for each
//     other for good (rows swapping values): such tables are not spread;
//   - every stream's walsender decodes the whole WAL on the source;
//   - a source transaction that touched rows in two streams commits on the
//     target in two parts: while the target catches up, one part can be
//     visible before the other. Switchover waits for every stream, so after
//     it the target is whole.
package parallel

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// Max is the most apply streams a group may have.
const Max = 16

// Spread is a table whose rows are split across the streams.
type Spread struct {
	Table pg.Name
	// Key is the replica identity's columns, quoted, in index order.
	Key []string
	// Hash is, per key column, the built-in hash function of its type.
	Hash []string
}

// Kept is a table with a vector index that stays whole in stream 0, and why.
type Kept struct {
	Table pg.Name
	Why   string
}

// Plan is how a group's tables are spread across Streams streams.
type Plan struct {
	Streams int
	Spread  []Spread
	Kept    []Kept
}

// Filter is the row filter of table s in stream k of n.
func (s Spread) Filter(k, n int) string {
	terms := make([]string, len(s.Key))
	for i := range s.Key {
		terms[i] = fmt.Sprintf("%s(%s)", s.Hash[i], s.Key[i])
	}
	return fmt.Sprintf("((%s) & 2147483647) %% %d = %d", strings.Join(terms, " # "), n, k)
}

// Filters are the row filters of stream k, by table.
func (p Plan) Filters(k int) map[pg.Name]string {
	if p.Streams <= 1 {
		return nil
	}
	m := make(map[pg.Name]string, len(p.Spread))
	for _, s := range p.Spread {
		m[s.Table] = s.Filter(k, p.Streams)
	}
	return m
}

// Tables are the tables of stream k: every table for stream 0, the spread
// ones for the others.
func (p Plan) Tables(k int, all []pg.Name) []pg.Name {
	if k == 0 {
		return all
	}
	out := make([]pg.Name, len(p.Spread))
	for i, s := range p.Spread {
		out[i] = s.Table
	}
	return out
}

// Decide plans n streams over tables, reading the source's catalog. A table
// is spread when it has a vector index, is not partitioned, has a key
// (primary key or REPLICA IDENTITY USING INDEX) whose column types all have
// a built-in hash function, and no other unique index or exclusion
// constraint. n <= 1 spreads nothing.
func Decide(ctx context.Context, src *pgx.Conn, tables []catalog.Table, n int) (Plan, error) {
	p := Plan{Streams: max(n, 1)}
	if p.Streams == 1 {
		return p, nil
	}
	if v := replication.ServerMajor(src); v < 15 {
		return p, hint.New(fmt.Sprintf("--apply-workers %d needs row filters, which the source's PostgreSQL %d does not have (15 and later do)", n, v),
			"leave --apply-workers out: one stream works on every version")
	}
	for _, t := range tables {
		s, why, err := judge(ctx, src, t)
		if err != nil {
			return p, err
		}
		switch {
		case why == "" && s != nil:
			p.Spread = append(p.Spread, *s)
		case why != "":
			p.Kept = append(p.Kept, Kept{Table: t.Name, Why: why})
		}
	}
	return p, nil
}

const vectorIndexQuery = `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	JOIN pg_am am ON am.oid = c.relam WHERE i.indrelid = $1 AND am.amname <> ALL ($2))`

// otherUniqueQuery names the unique indexes and exclusion constraints of a
// table other than its replica identity's.
const otherUniqueQuery = `SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_index i
	JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
	WHERE i.indrelid = $1 AND (i.indisunique OR i.indisexclusion)
	  AND NOT (CASE t.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE false END)`

// keyQuery lists the replica identity's columns with the built-in hash
// function of each one's type (of a domain's base type; a type binary
// coercible to one with a hash opclass, as varchar to text, takes its).
const keyQuery = `SELECT quote_ident(a.attname), coalesce(h.fn, '')
FROM pg_class t JOIN pg_index i ON i.indrelid = t.oid
JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY k(attnum, ord) ON true
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN LATERAL (
	SELECT p.amproc::regproc::text AS fn FROM pg_opclass oc
	JOIN pg_amproc p ON p.amprocfamily = oc.opcfamily AND p.amprocnum = 1
	 AND p.amproclefttype = oc.opcintype AND p.amprocrighttype = oc.opcintype
	WHERE oc.opcmethod = (SELECT oid FROM pg_am WHERE amname = 'hash') AND oc.opcdefault
	  AND p.amproc::oid < 16384
	  AND (oc.opcintype = coalesce(nullif(ty.typbasetype, 0), ty.oid)
	       OR EXISTS (SELECT 1 FROM pg_cast WHERE castsource = coalesce(nullif(ty.typbasetype, 0), ty.oid)
	                  AND casttarget = oc.opcintype AND castmethod = 'b'))
	ORDER BY oc.opcintype = coalesce(nullif(ty.typbasetype, 0), ty.oid) DESC LIMIT 1) h ON true
WHERE t.oid = $1 AND (CASE t.relreplident WHEN 'd' THEN i.indisprimary WHEN 'i' THEN i.indisreplident ELSE false END)
ORDER BY k.ord`

// judge decides one table: (nil, "") for a table without a vector index,
// which simply stays in stream 0; a reason for a vector table kept whole.
func judge(ctx context.Context, src *pgx.Conn, t catalog.Table) (*Spread, string, error) {
	var vec bool
	if err := src.QueryRow(ctx, vectorIndexQuery, t.OID, vector.BuiltinAMs).Scan(&vec); err != nil {
		return nil, "", fmt.Errorf("look for vector indexes on %s: %w", t.Name, err)
	}
	if !vec {
		return nil, "", nil
	}
	if t.Partitioned {
		return nil, "partitioned: its changes are published through the parent", nil
	}
	var others *string
	if err := src.QueryRow(ctx, otherUniqueQuery, t.OID).Scan(&others); err != nil {
		return nil, "", fmt.Errorf("look for unique indexes on %s: %w", t.Name, err)
	}
	if others != nil {
		return nil, fmt.Sprintf("unique index or exclusion constraint besides the key (%s): two streams could each wait for the other's row for good", *others), nil
	}
	rows, err := src.Query(ctx, keyQuery, t.OID)
	if err != nil {
		return nil, "", fmt.Errorf("read the key of %s: %w", t.Name, err)
	}
	s := &Spread{Table: t.Name}
	var col, fn string
	_, err = pgx.ForEachRow(rows, []any{&col, &fn}, func() error {
		s.Key, s.Hash = append(s.Key, col), append(s.Hash, fn)
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("read the key of %s: %w", t.Name, err)
	}
	if len(s.Key) == 0 {
		return nil, "no primary key or replica identity index to split its rows by", nil
	}
	for i, h := range s.Hash {
		if h == "" {
			return nil, fmt.Sprintf("key column %s has no built-in hash function a row filter may call", s.Key[i]), nil
		}
	}
	return s, "", nil
}
