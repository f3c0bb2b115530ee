package verify

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// The ways a row can differ, as seen from the target.
const (
	kindMissing   = "missing"   // on the source, not on the target
	kindExtra     = "extra"     // on the target, not on the source
	kindDifferent = "different" // on both, with different contents
)

// narrow compares the rows of the suspect chunks one by one, diffRounds
// times with a drain before each read of the target, and keeps the keys that
// differ every time. Each round brackets the target's read between two reads
// of the source: the target, drained, stands somewhere between them, so a
// row that matches either source read is a change in flight, not divergence.
// Without the second read a row changed twice by a writer (an update, then
// a delete a moment later) looked divergent in both rounds. It fills res with them and returns the chunks that
// still hold a divergent key.
func (r *run) narrow(ctx context.Context, t *table, chunks []chunk, suspects []int, res *TableResult) ([]int, error) {
	var kept []map[string]string // per suspect: key -> kind
	for round := 0; round < diffRounds; round++ {
		src, tgt, after, err := r.rowPass(ctx, t, chunks, suspects)
		if err != nil {
			return nil, err
		}
		now := make([]map[string]string, len(suspects))
		for j, i := range suspects {
			now[j] = settled(diffRows(src[j], tgt[j]), tgt[j], after[j])
			chunks[i].src.rows, chunks[i].tgt.rows = t.rowCount(src[j]), t.rowCount(tgt[j])
		}
		if round == 0 {
			kept = now
		} else {
			kept = intersect(kept, now)
		}
		if empty(kept) {
			break
		}
	}
	var still []int
	for j, i := range suspects {
		if len(kept[j]) > 0 {
			still = append(still, i)
		}
	}
	if len(t.key) == 0 {
		reportKeyless(res, kept)
	} else {
		report(res, kept)
	}
	return still, nil
}

// rowPass reads each suspect chunk's rows as key -> hash: the source, then
// the target after the drain, then the source again.
func (r *run) rowPass(ctx context.Context, t *table, chunks []chunk, suspects []int) (src, tgt, after []map[string]string, err error) {
	if src, err = rowHashes(ctx, r.src, t, chunks, suspects); err != nil {
		return nil, nil, nil, fmt.Errorf("compare rows of %s on the source: %w", t.name, err)
	}
	if r.afterSourceRead != nil {
		r.afterSourceRead("rows")
	}
	if err := r.drain.wait(ctx); err != nil {
		return nil, nil, nil, err
	}
	if tgt, err = rowHashes(ctx, r.tgt, t, chunks, suspects); err != nil {
		return nil, nil, nil, fmt.Errorf("compare rows of %s on the target: %w", t.name, err)
	}
	if after, err = rowHashes(ctx, r.src, t, chunks, suspects); err != nil {
		return nil, nil, nil, fmt.Errorf("compare rows of %s on the source: %w", t.name, err)
	}
	return src, tgt, after, nil
}

// settled drops from diff the keys whose target row (or its absence) is
// what the source holds in after, its read made once the target was read:
// the target had simply applied a change the first source read predates.
func settled(diff, tgt, after map[string]string) map[string]string {
	for k := range diff {
		th, inTgt := tgt[k]
		ah, inAfter := after[k]
		if inTgt == inAfter && th == ah {
			delete(diff, k)
		}
	}
	return diff
}

// rowHashes reads each chunk as key -> the row's md5. A table without a
// key reads as the row's md5 -> how many times that row occurs: a
// multiset, which diffRows and settled compare the same way.
func rowHashes(ctx context.Context, conn *pgx.Conn, t *table, chunks []chunk, which []int) ([]map[string]string, error) {
	out := make([]map[string]string, len(which))
	err := readTx(ctx, conn, true, "", func(tx pgx.Tx) error {
		for j, i := range which {
			where, args := t.where(chunks[i])
			sql := fmt.Sprintf("SELECT %s, md5(%s) FROM %s WHERE %s", t.keyText(), t.rowText(), t.name.Quoted(), where)
			if len(t.key) == 0 {
				sql = fmt.Sprintf("SELECT md5(%s), count(*)::text FROM %s WHERE %s GROUP BY 1", t.rowText(), t.name.Quoted(), where)
			}
			rows, err := tx.Query(ctx, sql, args...)
			if err != nil {
				return err
			}
			m := map[string]string{}
			var k, h string
			if _, err := pgx.ForEachRow(rows, []any{&k, &h}, func() error { m[k] = h; return nil }); err != nil {
				return err
			}
			out[j] = m
		}
		return nil
	})
	return out, err
}

// diffRows returns the keys whose rows differ, with how.
func diffRows(src, tgt map[string]string) map[string]string {
	out := map[string]string{}
	for k, h := range src {
		switch th, ok := tgt[k]; {
		case !ok:
			out[k] = kindMissing
		case th != h:
			out[k] = kindDifferent
		}
	}
	for k := range tgt {
		if _, ok := src[k]; !ok {
			out[k] = kindExtra
		}
	}
	return out
}

// intersect keeps the keys that differ in both rounds, as the later round
// sees them.
func intersect(before, now []map[string]string) []map[string]string {
	out := make([]map[string]string, len(now))
	for j := range now {
		out[j] = map[string]string{}
		for k, kind := range now[j] {
			if _, ok := before[j][k]; ok {
				out[j][k] = kind
			}
		}
	}
	return out
}

func empty(ms []map[string]string) bool {
	for _, m := range ms {
		if len(m) > 0 {
			return false
		}
	}
	return true
}

// report lists the divergent keys in key order, up to maxKeys in all.
func report(res *TableResult, kept []map[string]string) {
	type diff struct{ key, kind string }
	var all []diff
	for _, m := range kept {
		for k, kind := range m {
			all = append(all, diff{k, kind})
		}
	}
	slices.SortFunc(all, func(a, b diff) int { return compareKeys(a.key, b.key) })
	res.DivergentRows = len(all)
	for i, d := range all {
		if i == maxKeys {
			res.Truncated = true
			break
		}
		switch d.kind {
		case kindMissing:
			res.Missing = append(res.Missing, d.key)
		case kindExtra:
			res.Extra = append(res.Extra, d.key)
		default:
			res.Different = append(res.Different, d.key)
		}
	}
}

// reportKeyless counts the rows of a table without a key that differ: a
// row (its whole contents) missing on the target, extra there, or there a
// different number of times. Such rows have no key to be named by.
func reportKeyless(res *TableResult, kept []map[string]string) {
	for _, m := range kept {
		res.DivergentRows += len(m)
	}
	if res.DivergentRows > 0 {
		res.Note = fmt.Sprintf("no primary key or replica identity index: %d distinct row(s) are missing on the target, "+
			"extra there, or there a different number of times, after the lag drained twice; rows without a key cannot be named", res.DivergentRows)
	}
}

// rowCount is how many rows a chunk's row hashes stand for: one per key,
// or for a table without a key the sum of each row's occurrences.
func (t *table) rowCount(m map[string]string) int64 {
	if len(t.key) > 0 {
		return int64(len(m))
	}
	var n int64
	for _, c := range m {
		k, _ := strconv.ParseInt(c, 10, 64)
		n += k
	}
	return n
}

// compareKeys orders integer keys as numbers and anything else as text, so
// a report lists 9 before 10.
func compareKeys(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		return cmp.Compare(x, y)
	}
	return cmp.Compare(a, b)
}
