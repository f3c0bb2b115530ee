package switchover

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Sequence is a sequence a replicated table uses: owned by one of its columns
// (serial), behind an identity column, or named in a column default.
// Logical replication does not carry sequence values, so they are set on the
// target at the cut-over.
type Sequence struct {
	Name   string // quoted qualified name
	Table  string // quoted qualified table name
	Column string
}

const sequencesQuery = `
SELECT DISTINCT format('%I.%I', sn.nspname, s.relname), format('%I.%I', tn.nspname, t.relname), a.attname::text
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
WHERE t.oid = ANY ($1::regclass[])
ORDER BY 1, 2, 3`

// Sequences lists the sequences the tables (quoted names) use.
func Sequences(ctx context.Context, conn *pgx.Conn, tables []string) ([]Sequence, error) {
	rows, err := conn.Query(ctx, sequencesQuery, tables)
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

// CopySequences sets every sequence on the target to the source's current
// value: the source's sequence is the truth (pg_easy_replicate uses
// MAX(column) on the target, which hands out ids the source already gave to
// rows that were deleted, or that sit in other tables sharing the sequence).
func CopySequences(ctx context.Context, src, tgt *pgx.Conn, seqs []Sequence) ([]string, error) {
	var done []string
	seen := map[string]bool{}
	for _, s := range seqs {
		if seen[s.Name] {
			continue
		}
		seen[s.Name] = true
		v, err := ReadSequence(ctx, src, s.Name)
		if err != nil {
			return done, err
		}
		if _, err := tgt.Exec(ctx, "SELECT setval($1::regclass, $2, $3)", s.Name, v.Last, v.IsCalled); err != nil {
			return done, fmt.Errorf("set sequence %s on the target: %w", s.Name, err)
		}
		done = append(done, fmt.Sprintf("%s = %d", s.Name, v.Last))
	}
	return done, nil
}

// AdvanceFromData sets each sequence on the target past the largest value its
// column holds, plus gap: the failover rule, when the source's sequences can
// no longer be read. The gap leaves room for ids the source handed out in
// transactions that never reached the target.
func AdvanceFromData(ctx context.Context, tgt *pgx.Conn, seqs []Sequence, gap int64) ([]string, error) {
	var done []string
	for _, s := range seqs {
		var maxVal *int64
		sql := fmt.Sprintf("SELECT max(%s)::bigint FROM %s", pgx.Identifier{s.Column}.Sanitize(), s.Table)
		if err := tgt.QueryRow(ctx, sql).Scan(&maxVal); err != nil {
			return done, fmt.Errorf("read max(%s) of %s: %w", s.Column, s.Table, err)
		}
		cur, err := ReadSequence(ctx, tgt, s.Name)
		if err != nil {
			return done, err
		}
		next := cur.Last
		if maxVal != nil && *maxVal+gap > next {
			next = *maxVal + gap
		}
		if _, err := tgt.Exec(ctx, "SELECT setval($1::regclass, $2, true)", s.Name, next); err != nil {
			return done, fmt.Errorf("set sequence %s on the target: %w", s.Name, err)
		}
		done = append(done, fmt.Sprintf("%s = %d", s.Name, next))
	}
	return done, nil
}
