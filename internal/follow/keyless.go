package follow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// A table without a primary key or replica identity index (REPLICA
// IDENTITY FULL, or an insert-only table) has no key to walk in chunks, and
// no order either side would agree on. Such a table is checked whole, in
// one step of the verifier: its row count and two order-free sums of a
// 64-bit hash of each row (hashtextextended with two seeds), which need
// no sort, no collation and no memory beyond the scan. A scan of the whole
// table is only bounded when the table is: above Options.KeylessRows rows
// (counted on the source up to that bound) it is skipped, and follow says
// so once.
//
// Without a key there is no "rows up to the largest key when the pass
// began" either, so a writer makes the sides differ at any moment. A check
// therefore counts only when the table held still on the source around it:
// the source's sums, the lag drained past the source's WAL position, the
// target's sums, the source's sums again. When the source's two sums
// agree, nothing the target applied after that position touched the table,
// and the target's sums must equal them. A table that changes during every
// check is busy: it is not judged this pass.

// keylessRange is the range a keyless table's mismatch is recorded under.
const keylessRange = "whole table"

const keylessSumQuery = `SELECT count(*)::text || ':' || coalesce(sum(hashtextextended(r::text, 0)::numeric), 0)::text
	|| ':' || coalesce(sum(hashtextextended(r::text, 1)::numeric), 0)::text FROM (SELECT ROW(%s) AS r FROM %s) s`

// keylessSum is the count and order-free hash sums of table's rows,
// columns named as on the source.
func keylessSum(ctx context.Context, conn *pgx.Conn, t pg.Name, cols []string) (string, error) {
	var s string
	if err := conn.QueryRow(ctx, fmt.Sprintf(keylessSumQuery, strings.Join(cols, ", "), t.Quoted())).Scan(&s); err != nil {
		return "", fmt.Errorf("checksum %s: %w", t, err)
	}
	return s, nil
}

// checkKeyless checks table t whole: up to 1+recheckTimes quiet rounds
// (see above), reported when it differs in every one.
func (v *Verifier) checkKeyless(ctx context.Context, src, tgt *pgx.Conn, g group.Group, t pg.Name) error {
	limit := v.f.opt.KeylessRows
	if limit <= 0 {
		v.skip(t, fmt.Sprintf("verify: %s has no primary key or replica identity index and --verify-keyless-rows is 0: not verified while streaming (pgvecrep verify compares it)", t))
		return nil
	}
	var n int64
	if err := src.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM (SELECT FROM %s LIMIT %d) s", t.Quoted(), limit+1)).Scan(&n); err != nil {
		return fmt.Errorf("count the rows of %s: %w", t, err)
	}
	if n > int64(limit) {
		v.skip(t, fmt.Sprintf("verify: %s has no primary key or replica identity index and more than %d rows (--verify-keyless-rows): "+
			"a check would read it whole on both sides, so it is not verified while streaming (pgvecrep verify compares it)", t, limit))
		return nil
	}
	cols, err := columns(ctx, src, t)
	if err != nil {
		return err
	}
	for i := 0; i <= recheckTimes; i++ {
		same, quiet, err := keylessRound(ctx, src, tgt, g, t, cols)
		if err != nil {
			return err
		}
		if !quiet {
			v.f.log.Debug("verify: keyless table changed during its check; next pass", "group", g.Name, "table", t.String())
			return nil
		}
		if same {
			v.count(true)
			return v.record(ctx, tgt, g, group.Mismatch{Table: t, Kind: group.MismatchRows, Range: keylessRange}, true)
		}
	}
	v.count(false)
	msg := fmt.Sprintf("the rows of %s (no key: compared whole, by count and hash) differ between source and target after the lag drained", t)
	return v.record(ctx, tgt, g, group.Mismatch{Table: t, Kind: group.MismatchRows, Range: keylessRange, Message: msg}, false)
}

// keylessRound is one check of a keyless table: same when the target's
// sums equal the source's, quiet when the source's did not change during
// the check (only then does same mean anything).
func keylessRound(ctx context.Context, src, tgt *pgx.Conn, g group.Group, t pg.Name, cols []string) (same, quiet bool, err error) {
	before, err := keylessSum(ctx, src, t, cols)
	if err != nil {
		return false, false, err
	}
	var lsn string
	if err := src.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&lsn); err != nil {
		return false, false, fmt.Errorf("read the source's WAL position: %w", err)
	}
	if err := replication.WaitApplied(ctx, src, g.StreamNames(), lsn, time.Now().Add(2*time.Minute), time.Second); err != nil {
		return false, false, err
	}
	target, err := keylessSum(ctx, tgt, t, cols)
	if err != nil {
		return false, false, err
	}
	after, err := keylessSum(ctx, src, t, cols)
	if err != nil {
		return false, false, err
	}
	return target == before, after == before, nil
}

// skip reports once per follow run that table t is not verified, and why.
func (v *Verifier) skip(t pg.Name, why string) {
	v.mu.Lock()
	told := v.skipped[t.String()] == why
	v.skipped[t.String()] = why
	v.mu.Unlock()
	if !told {
		v.f.emit(Event{Kind: "skip", Table: t.String(), Message: why})
	}
}
