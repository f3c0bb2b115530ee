// Package verify compares a replication target with its source: the
// tables' schemas (see compareSchemas), row counts, checksums over
// primary-key ranges narrowed down to the keys that differ, and
// nearest-neighbour parity for every vector index.
//
// Replication is asynchronous, so a difference seen once is only a suspect: a
// change may be in flight. Every read of the target follows a read of the
// source and a wait until the subscription has applied the source's WAL up to
// that point (see drainer), and a suspect is reported only when it is still
// there after the lag has drained again. What remains is divergence a replica
// will not heal by itself.
//
// Exact nearest neighbours are data, so they must be identical on both sides;
// approximate ones come from each side's own index graph, so verify measures
// each index's recall against its own side's exact answer instead of
// comparing the two.
package verify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Options say what to verify and how hard to look.
type Options struct {
	// Tables are the tables to compare; they must exist on the source.
	Tables []pg.Name
	// Sample is the number of query vectors drawn per vector index; 0 means
	// 20, a negative value skips the nearest-neighbour checks.
	Sample int
	// Subscription is the target's subscription; verify waits for its lag to
	// drain before each read of the target. Empty (or not found) means the
	// target is not replicating any more (after a switchover): no waiting.
	Subscription string
	// MoreSlots are the slots of a group's other apply streams (package
	// parallel), each of which must have caught up too.
	MoreSlots []string
	// ChunkRows is how many source rows one checksum covers; 0 means 10,000.
	// Smaller chunks make a re-check and the narrowing to keys cheaper.
	ChunkRows int
	// DrainTimeout bounds each wait for the lag to drain; 0 means 60s. A
	// timeout is not an error: verify compares anyway and says so in a note.
	DrainTimeout time.Duration
	// Progress, when set, is told what verify is doing as it goes (a table
	// started and finished, an index's nearest-neighbour check), in
	// printf form, so a person waiting on a large table sees it move. It is
	// never called concurrently with itself, also with several Jobs.
	Progress func(format string, args ...any)
	// Jobs is how many tables (or tables' vector indexes) are checked at
	// once; less than 1 means 1, which compares them one after another on
	// the connections given to Run. More workers connect through Source and
	// Target, each with its own pair of sessions.
	Jobs int
	// Source and Target are the configs extra workers connect with; both
	// are required when Jobs is above 1.
	Source, Target *pgx.ConnConfig
	// Schema compares the tables' definitions as well: columns, keys,
	// indexes, triggers, policies, comments and the sequences they use.
	Schema bool
	// SchemaOnly compares the definitions alone: no rows, no nearest
	// neighbours, and so no wait for the subscription. It implies Schema.
	SchemaOnly bool
	// Replicated is every table of the group, of which Tables may be a
	// part; a foreign key to a table outside it is NOT VALID on the target
	// by design. Empty means Tables.
	Replicated []pg.Name
}

const (
	defaultSample    = 20
	defaultChunkRows = 10000
	defaultDrain     = 60 * time.Second
	// chunkRechecks is how many times a mismatched chunk is read again after
	// the lag drained before its rows are compared one by one.
	chunkRechecks = 1
	// diffRounds is how many row-by-row comparisons a key must fail, each
	// after its own drain, to be reported: under a steady stream of writes a
	// key in flight once is rarely in flight again.
	diffRounds = 2
	// maxKeys caps the keys listed per table; the count is always complete.
	maxKeys = 100
	// maxKeylessRows caps the rows of a table without a key whose rows
	// are compared one by one (see narrow): without a key to split by,
	// every row's hash is held in memory, about 100 bytes each per read.
	maxKeylessRows = 1 << 20
)

// What verify checks of a table without a primary key or replica identity
// index, as its report says. Without a key there are no ranges to split
// by: the whole table is one checksum (the count, and the sum of each
// row's md5 over all its columns, so the order of the rows does not
// matter), read again after the lag drains like any range; when it still
// differs, the rows are compared as a multiset of whole rows, each
// distinct row with how many times it occurs, in the same drained rounds
// as keyed rows (see narrow), so a row in flight is not divergence.
const (
	keylessNote = "no primary key or replica identity index: compared the whole table's row count and checksum " +
		"(each row's md5 over all its columns), re-read after the lag drained; differing rows are compared as whole rows, " +
		"in the same re-checked rounds as keyed rows"
	keylessTooLarge = "no primary key or replica identity index: the whole table's checksum still differs after the lag drained; " +
		"the table has too many rows to compare whole rows without a key: add a primary key to have the differing rows named"
)

func (o Options) withDefaults() Options {
	if o.Sample == 0 {
		o.Sample = defaultSample
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = defaultChunkRows
	}
	if o.DrainTimeout <= 0 {
		o.DrainTimeout = defaultDrain
	}
	return o
}

// run is one verification: the two connections and what it found so far.
type run struct {
	src, tgt *pgx.Conn
	opts     Options
	drain    *drainer
	// mu serialises opts.Progress between the workers, which share it.
	mu *sync.Mutex
	// afterSourceRead, when set (by tests), runs after each read of the
	// source and before the drain that precedes the matching target read.
	afterSourceRead func(pass string)
}

// Run compares the tables in opts on src and tgt. Differences are results,
// not errors: the error is for what stopped the comparison (a connection
// lost, a table missing on the source, ctx cancelled).
func Run(ctx context.Context, src, tgt *pgx.Conn, opts Options) (Report, error) {
	return (&run{src: src, tgt: tgt, opts: opts.withDefaults()}).run(ctx)
}

// run compares the schemas (when asked), then the tables on up to
// opts.Jobs workers: the rows first, then the vector indexes, as one worker
// would. The schemas get no wait for the subscription: logical replication
// does not carry DDL (pgvecrep's DDL tracking applies it apart, see
// list_ddl_changes), so waiting would not make a difference there go away. Each result has its slot fixed
// by the table's position, so the report reads the same whatever order the
// workers finish in.
func (r *run) run(ctx context.Context) (Report, error) {
	if len(r.opts.Tables) == 0 {
		return Report{}, hint.New("no tables to verify", "name the tables, or verify a group that has started syncing")
	}
	if r.opts.Jobs > 1 && (r.opts.Source == nil || r.opts.Target == nil) {
		return Report{}, errors.New("verify with several jobs: the source and target connection configs are required")
	}
	if r.mu == nil {
		r.mu = &sync.Mutex{}
	}
	var rep Report
	if r.opts.Schema || r.opts.SchemaOnly {
		replicated := r.opts.Replicated
		if len(replicated) == 0 {
			replicated = r.opts.Tables
		}
		var err error
		if rep.Schema, err = r.compareSchemas(ctx, r.opts.Tables, replicated); err != nil {
			return Report{}, err
		}
	}
	if r.opts.SchemaOnly {
		return rep, nil
	}
	if err := r.checkData(ctx, &rep); err != nil {
		return Report{}, err
	}
	return rep, nil
}

// checkData compares the rows, then the nearest neighbours, into rep.
func (r *run) checkData(ctx context.Context, rep *Report) error {
	d, err := newDrainer(ctx, r.src, r.tgt, r.opts.Subscription, r.opts.DrainTimeout)
	if err != nil {
		return err
	}
	d.more = r.opts.MoreSlots
	r.drain = d
	tables, err := loadTables(ctx, r.src, r.tgt, r.opts.Tables)
	if err != nil {
		return err
	}
	ws := newWorkers(r, len(tables))
	defer ws.closeAll(context.WithoutCancel(ctx))
	if rep.Tables, err = ws.checkTables(ctx, tables); err != nil {
		return err
	}
	if r.opts.Sample > 0 {
		if rep.ANN, err = ws.checkANN(ctx, tables); err != nil {
			return err
		}
	}
	rep.Notes = d.notes()
	return nil
}

// timedCheck compares table i of n, with a progress line before and after.
func (r *run) timedCheck(ctx context.Context, t *table, i, n int) (TableResult, error) {
	start := time.Now()
	r.progress("comparing %s (table %d of %d)", t.name, i+1, n)
	res, err := r.checkTable(ctx, t)
	if err != nil {
		return res, err
	}
	r.progress("compared %s: %d rows on the source, %d on the target, %d of %d checksum ranges differ (%.1f s)",
		t.name, res.SourceRows, res.TargetRows, res.MismatchedChunks, res.Chunks, time.Since(start).Seconds())
	return res, nil
}

// progress reports a step through opts.Progress, when set.
func (r *run) progress(format string, args ...any) {
	if r.opts.Progress != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.opts.Progress(format, args...)
	}
}

// checkTable compares one table. A failed query on either side becomes the
// table's error so the other tables still get compared; only a cancelled ctx
// or a lost connection stops everything.
func (r *run) checkTable(ctx context.Context, t *table) (TableResult, error) {
	res := TableResult{Table: t.name.String(), Key: t.keyNames()}
	if t.problem != "" {
		res.Error = t.problem
		return res, nil
	}
	err := r.compareTable(ctx, t, &res)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if err != nil && (r.src.IsClosed() || r.tgt.IsClosed()) {
		return res, err
	}
	if err != nil {
		res.Error = err.Error()
	}
	return res, nil
}

func (r *run) compareTable(ctx context.Context, t *table, res *TableResult) error {
	chunks, err := boundaries(ctx, r.src, t, r.opts.ChunkRows)
	if err != nil {
		return err
	}
	all := make([]int, len(chunks))
	for i := range all {
		all[i] = i
	}
	if err := r.sumPass(ctx, t, chunks, all, "first"); err != nil {
		return err
	}
	suspects := mismatched(chunks, all)
	res.Rechecked = len(suspects)
	for i := 0; i < chunkRechecks && len(suspects) > 0; i++ {
		if err := r.sumPass(ctx, t, chunks, suspects, "recheck"); err != nil {
			return err
		}
		suspects = mismatched(chunks, suspects)
	}
	if len(t.key) == 0 {
		res.Note = keylessNote
	}
	switch {
	case len(suspects) > 0 && (len(t.key) > 0 || chunks[0].src.rows <= maxKeylessRows):
		if suspects, err = r.narrow(ctx, t, chunks, suspects, res); err != nil {
			return err
		}
	case len(suspects) > 0:
		res.Note = keylessTooLarge
	}
	res.Chunks = len(chunks)
	res.MismatchedChunks = len(suspects)
	for _, c := range chunks {
		res.SourceRows += c.src.rows
		res.TargetRows += c.tgt.rows
	}
	return nil
}

// sumPass reads the checksums of some chunks: the source first, then, once
// the target has applied everything the source had committed by then, the
// target. A difference left after that is a change made during the pass, or
// divergence.
func (r *run) sumPass(ctx context.Context, t *table, chunks []chunk, which []int, pass string) error {
	if err := sums(ctx, r.src, t, chunks, which, true); err != nil {
		return fmt.Errorf("checksum %s on the source: %w", t.name, err)
	}
	if r.afterSourceRead != nil {
		r.afterSourceRead(pass)
	}
	if err := r.drain.wait(ctx); err != nil {
		return err
	}
	if err := sums(ctx, r.tgt, t, chunks, which, false); err != nil {
		return fmt.Errorf("checksum %s on the target: %w", t.name, err)
	}
	return nil
}

// mismatched returns the chunks among which whose checksums differ.
func mismatched(chunks []chunk, which []int) []int {
	var out []int
	for _, i := range which {
		if chunks[i].src != chunks[i].tgt {
			out = append(out, i)
		}
	}
	return out
}

// readTx runs f in a read-only transaction whose output settings are pinned,
// so that the text of a value (and so its hash) does not depend on either
// server's configuration: time zones, date and interval styles, float digits.
func readTx(ctx context.Context, conn *pgx.Conn, repeatable bool, settings string, f func(pgx.Tx) error) error {
	opts := pgx.TxOptions{AccessMode: pgx.ReadOnly}
	if repeatable {
		opts.IsoLevel = pgx.RepeatableRead
	}
	tx, err := conn.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, textSettings+settings); err != nil {
		return fmt.Errorf("set session: %w", err)
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

const textSettings = `SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD';
SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 1;
SET LOCAL bytea_output = 'hex'; SET LOCAL lc_monetary = 'C';`

// errNoSource is the hint-carrying error for a table the source lacks.
func errNoSource(n pg.Name) error {
	return hint.Wrap(fmt.Errorf("table %s: %w", n, errors.New("not found on the source")),
		"check the name and schema; name tables as schema.table, quoting odd names")
}

// loadTables reads what verify needs about each table: its columns and key
// on the source, and whether the target has the table and those columns.
func loadTables(ctx context.Context, src, tgt *pgx.Conn, names []pg.Name) ([]*table, error) {
	onSrc, err := catalog.Lookup(ctx, src, names)
	if err != nil {
		return nil, fmt.Errorf("look up tables on the source: %w", err)
	}
	onTgt, err := catalog.Lookup(ctx, tgt, names)
	if err != nil {
		return nil, fmt.Errorf("look up tables on the target: %w", err)
	}
	var out []*table
	seen := map[pg.Name]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		st, ok := onSrc[n]
		if !ok {
			return nil, errNoSource(n)
		}
		t, err := newTable(ctx, src, st)
		if err != nil {
			return nil, err
		}
		t.checkTarget(onTgt)
		out = append(out, t)
	}
	return out, nil
}
