package switchover

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Sequence is a sequence in the replicated schemas, or one a replicated
// table uses from elsewhere. Table and Column name the column it feeds: owned
// by the column (serial), behind an identity column, or named in a column
// default. They are empty for a sequence no replicated column uses: an
// application may call nextval on it directly (pg_easy_replicate #97 misses
// those). Logical replication does not carry sequence values, so all of them
// are set on the target at the cut-over.
type Sequence struct {
	Name   string // quoted qualified name
	Table  string // quoted qualified table name; "" when no replicated column uses it
	Column string
}

// Free reports whether no replicated column uses the sequence.
func (s Sequence) Free() bool { return s.Table == "" }

// sequencesQuery lists, first, the sequences the tables' columns use, then
// every other sequence in the tables' schemas that no extension owns.
const sequencesQuery = `
WITH tied AS (
SELECT DISTINCT s.oid, format('%I.%I', sn.nspname, s.relname) AS seq, format('%I.%I', tn.nspname, t.relname) AS tbl, a.attname::text AS col
FROM pg_class t
JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_depend d ON (
       -- owned (serial) and identity sequences depend on the column
       (d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
        AND d.refobjid = t.oid AND d.refobjsubid = a.attnum AND d.deptype IN ('a', 'i'))
    OR -- a column default that calls nextval() depends on the sequence
       (d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
        AND d.objid = (SELECT ad.oid FROM pg_attrdef ad WHERE ad.adrelid = t.oid AND ad.adnum = a.attnum)))
JOIN pg_class s ON s.oid = CASE WHEN d.classid = 'pg_class'::regclass THEN d.objid ELSE d.refobjid END AND s.relkind = 'S'
JOIN pg_namespace sn ON sn.oid = s.relnamespace
WHERE t.oid = ANY ($1::regclass[]))
SELECT seq, tbl, col FROM (
SELECT seq, tbl, col FROM tied
UNION ALL
SELECT format('%I.%I', n.nspname, s.relname), '', ''
FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
WHERE s.relkind = 'S'
  AND s.relnamespace IN (SELECT relnamespace FROM pg_class WHERE oid = ANY ($1::regclass[]))
  AND s.oid NOT IN (SELECT oid FROM tied)
  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass
                  AND e.objid = s.oid AND e.deptype = 'e')) l
ORDER BY tbl = '', seq, tbl, col`

// Sequences lists the sequences of the tables and of their schemas: the ones
// the columns use first, then the free ones.
func Sequences(ctx context.Context, conn *pgx.Conn, tables []pg.Name) ([]Sequence, error) {
	rows, err := conn.Query(ctx, sequencesQuery, catalog.QuotedNames(tables))
	if err != nil {
		return nil, fmt.Errorf("list sequences: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Sequence])
}

// SeqValue is a sequence's state as setval takes it.
type SeqValue struct {
	Last     int64
	IsCalled bool
}

// ReadSequence reads a sequence's current state.
func ReadSequence(ctx context.Context, conn *pgx.Conn, seq string) (SeqValue, error) {
	var v SeqValue
	err := conn.QueryRow(ctx, "SELECT last_value, is_called FROM "+seq).Scan(&v.Last, &v.IsCalled)
	if err != nil {
		return v, fmt.Errorf("read sequence %s: %w", seq, err)
	}
	return v, nil
}

// missingOnTarget returns which of the sequences the target lacks.
func missingOnTarget(ctx context.Context, tgt *pgx.Conn, names []string) (map[string]bool, error) {
	list, err := pg.Strings(ctx, tgt, `SELECT n FROM unnest($1::text[]) n WHERE to_regclass(n) IS NULL`, names)
	if err != nil {
		return nil, fmt.Errorf("look up sequences on the target: %w", err)
	}
	out := map[string]bool{}
	for _, n := range list {
		out[n] = true
	}
	return out, nil
}

// CopySequences sets every sequence on the target to the source's current
// value: the source's sequence is the truth (pg_easy_replicate uses
// MAX(column) on the target, which hands out ids the source already gave to
// rows that were deleted, or that sit in other tables sharing the sequence).
// A free sequence the target lacks is skipped with a note, since it may
// belong to tables outside the group; one a replicated column uses must
// exist. Reads and writes go in one round trip each: this runs while the
// source's writes are frozen.
func CopySequences(ctx context.Context, src, tgt *pgx.Conn, seqs []Sequence) ([]string, error) {
	seqs = distinct(seqs)
	names := make([]string, len(seqs))
	for i, s := range seqs {
		names[i] = s.Name
	}
	missing, err := missingOnTarget(ctx, tgt, names)
	if err != nil {
		return nil, err
	}
	var todo []Sequence
	var done []string
	for _, s := range seqs {
		if missing[s.Name] && s.Free() {
			done = append(done, s.Name+": not on the target, skipped")
			continue
		}
		todo = append(todo, s)
	}
	values, err := readSequences(ctx, src, todo)
	if err != nil {
		return nil, err
	}
	b := &pgx.Batch{}
	for i, s := range todo {
		b.Queue("SELECT setval($1::regclass, $2, $3)", s.Name, values[i].Last, values[i].IsCalled)
	}
	res := tgt.SendBatch(ctx, b)
	defer res.Close()
	for i, s := range todo {
		if _, err := res.Exec(); err != nil {
			return nil, fmt.Errorf("set sequence %s on the target: %w", s.Name, err)
		}
		done = append(done, fmt.Sprintf("%s = %d", s.Name, values[i].Last))
	}
	return done, res.Close()
}

// readSequences reads the sequences' states in one round trip.
func readSequences(ctx context.Context, conn *pgx.Conn, seqs []Sequence) ([]SeqValue, error) {
	b := &pgx.Batch{}
	for _, s := range seqs {
		b.Queue("SELECT last_value, is_called FROM " + s.Name)
	}
	res := conn.SendBatch(ctx, b)
	defer res.Close()
	out := make([]SeqValue, len(seqs))
	for i, s := range seqs {
		if err := res.QueryRow().Scan(&out[i].Last, &out[i].IsCalled); err != nil {
			return nil, fmt.Errorf("read sequence %s: %w", s.Name, err)
		}
	}
	return out, res.Close()
}

// distinct keeps the first entry of each sequence: one shared by several
// columns is set once.
func distinct(seqs []Sequence) []Sequence {
	seen := map[string]bool{}
	var out []Sequence
	for _, s := range seqs {
		if !seen[s.Name] {
			seen[s.Name] = true
			out = append(out, s)
		}
	}
	return out
}

// AdvanceFromData is the failover rule, when the source's sequences can no
// longer be read. A sequence a column uses is set past the largest value the
// column holds plus gap, or kept where it is if that is further. A free
// sequence has no data to go by: the target's own value (the last one copied
// from the source, if any) plus gap is all the target knows, and the line
// says so. The gap leaves room for ids the source handed out in transactions
// that never reached the target.
func AdvanceFromData(ctx context.Context, tgt *pgx.Conn, seqs []Sequence, gap int64) ([]string, error) {
	var done []string
	for _, s := range seqs {
		cur, err := ReadSequence(ctx, tgt, s.Name)
		if err != nil {
			return done, err
		}
		next, note := cur.Last+gap, " (used by no replicated column: the target's last known value + gap; check it before the application uses it)"
		if !s.Free() {
			if next, err = pastColumn(ctx, tgt, s, cur.Last, gap); err != nil {
				return done, err
			}
			note = ""
		}
		if _, err := tgt.Exec(ctx, "SELECT setval($1::regclass, $2, true)", s.Name, next); err != nil {
			return done, fmt.Errorf("set sequence %s on the target: %w", s.Name, err)
		}
		done = append(done, fmt.Sprintf("%s = %d%s", s.Name, next, note))
	}
	return done, nil
}

// pastColumn is max(column) + gap, or cur when that is further.
func pastColumn(ctx context.Context, tgt *pgx.Conn, s Sequence, cur, gap int64) (int64, error) {
	var maxVal *int64
	sql := fmt.Sprintf("SELECT max(%s)::bigint FROM %s", pgx.Identifier{s.Column}.Sanitize(), s.Table)
	if err := tgt.QueryRow(ctx, sql).Scan(&maxVal); err != nil {
		return 0, fmt.Errorf("read max(%s) of %s: %w", s.Column, s.Table, err)
	}
	if maxVal != nil && *maxVal+gap > cur {
		return *maxVal + gap, nil
	}
	return cur, nil
}
