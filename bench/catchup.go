package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// catchupResult compares two ways of applying one backlog, with engine
// objects only: (i) into the table with its HNSW index, row by row, the
// engine's one worker; (ii) drop the index, apply, CREATE INDEX
// CONCURRENTLY.
type catchupResult struct {
	writeOut
	BacklogBytes int64   `json:"backlog_wal_bytes"`
	Indexed      float64 `json:"indexed_s"`        // (i)
	Deferred     float64 `json:"deferred_apply_s"` // (ii)'s apply
	Build        float64 `json:"deferred_build_s"` // (ii)'s CREATE INDEX CONCURRENTLY
	// ApplyErrors are the target's log lines of apply workers that failed
	// (and were restarted) while either way applied.
	ApplyErrors []string `json:"apply_errors,omitempty"`
	Error       string   `json:"error,omitempty"`
}

func (c catchupResult) deferredTotal() float64 { return c.Deferred + c.Build }

const (
	catchupIndexed  = "catchup_indexed"
	catchupDeferred = "catchup_deferred"
)

// catchup builds one backlog for both ways at once: one source (a copy of
// the template), one publication, two slots made before any write, two
// target databases loaded alike, each with a disabled subscription onto
// its slot. The writes of the apply scenarios run with nothing applying;
// both slots then hold the same changes. (i) is timed from ENABLE until
// its slot has confirmed the source's position after the writes; then
// (ii), alone on the machine: DROP INDEX, ENABLE, the same wait, CREATE
// INDEX CONCURRENTLY.
func (b *bench) catchup(ctx context.Context, t table) catchupResult {
	var c catchupResult
	fmt.Fprintf(b.out, "  vector-aware catch-up: one backlog, applied with the index and without it ...\n")
	srcDB := "src_catchup"
	tgts := []string{"tgt_" + catchupIndexed, "tgt_" + catchupDeferred}
	err := b.catchupRun(ctx, t, srcDB, tgts, &c)
	if err != nil {
		c.Error = err.Error()
		fmt.Fprintf(b.out, "      FAILED: %s\n", indent(c.Error, "      "))
	}
	for _, tgtDB := range tgts {
		if err := b.c.detach(ctx, srcDB, tgtDB); err != nil && c.Error == "" {
			c.Error = fmt.Sprintf("clean up: %v", err)
		}
		if !b.o.keep {
			_ = b.c.tgt.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+ident(tgtDB)+" WITH (FORCE)")
		}
	}
	if !b.o.keep {
		_ = b.c.src.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+ident(srcDB)+" WITH (FORCE)")
	}
	return c
}

func (b *bench) catchupRun(ctx context.Context, t table, srcDB string, tgts []string, c *catchupResult) error {
	if err := b.fromTemplate(ctx, srcDB); err != nil {
		return err
	}
	slots := []string{catchupIndexed, catchupDeferred}
	if err := b.engineObjects(ctx, t, srcDB, tgts, slots, false); err != nil {
		return err
	}
	src, err := b.c.src.Connect(ctx, srcDB)
	if err != nil {
		return err
	}
	defer src.Close(context.WithoutCancel(ctx))
	w, err := b.writes(ctx, src, srcDB, func(float64, int64) error { return nil })
	c.writeOut = w
	if err != nil {
		return err
	}
	if err := src.QueryRow(ctx, slotsBehind, w.lsn, slots).Scan(new(int64), new(int64), &c.BacklogBytes); err != nil {
		return fmt.Errorf("read the slots' positions: %w", err)
	}
	fmt.Fprintf(b.out, "      backlog: %d inserted + %d updated rows, %s of WAL\n", w.Inserted, w.Updated, mib(c.BacklogBytes))
	if c.Indexed, _, err = b.catchupApply(ctx, srcDB, tgts[0], slots[0], w.lsn, w.commit, "", "", &c.ApplyErrors); err != nil {
		return fmt.Errorf("(i) with the index: %w", err)
	}
	fmt.Fprintf(b.out, "      (i) with the index: %.1f s\n", c.Indexed)
	cic := "CREATE INDEX CONCURRENTLY" + strings.TrimPrefix(t.Indexes[0], "CREATE INDEX")
	c.Deferred, c.Build, err = b.catchupApply(ctx, srcDB, tgts[1], slots[1], w.lsn, w.commit, "DROP INDEX items_embedding_idx", cic, &c.ApplyErrors)
	if err != nil {
		return fmt.Errorf("(ii) without the index: %w", err)
	}
	fmt.Fprintf(b.out, "      (ii) without it: apply %.1f s + CREATE INDEX CONCURRENTLY %.1f s = %.1f s\n", c.Deferred, c.Build, c.deferredTotal())
	return nil
}

// catchupApply runs before (unless ""), enables the subscription of slot
// on tgtDB and waits until it has applied the writes (stream.caughtUp with
// lsn and commit): the apply's
// seconds, from before's start. Then it runs after (unless ""), whose
// seconds are build, and checks the target's rows and indexes.
func (b *bench) catchupApply(ctx context.Context, srcDB, tgtDB, slot, lsn, commit, before, after string, errs *[]string) (apply, build float64, err error) {
	if err := b.launcherPause(ctx); err != nil {
		return 0, 0, err
	}
	st, err := b.openStream(ctx, srcDB, tgtDB, []string{slot})
	if err != nil {
		return 0, 0, err
	}
	defer st.close(ctx)
	start := time.Now()
	if before != "" {
		if _, err := st.tgt.Exec(ctx, before); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", before, err)
		}
	}
	if _, err := st.tgt.Exec(ctx, "ALTER SUBSCRIPTION "+ident(slot)+" ENABLE"); err != nil {
		return 0, 0, fmt.Errorf("enable subscription %s: %w", slot, err)
	}
	b.lastSub = time.Now()
	_, err = st.caughtUp(ctx, lsn, commit)
	*errs = append(*errs, st.Errors...)
	if err != nil {
		return 0, 0, err
	}
	apply = secs(time.Since(start))
	if after != "" {
		start = time.Now()
		if _, err := st.tgt.Exec(ctx, after); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", after, err)
		}
		build = secs(time.Since(start))
	}
	return apply, build, st.same(ctx)
}
