package initsync

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/copier"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// The fast path, so called because it copies with binary COPY instead of the
// subscription's own table sync and builds the indexes over finished data
// instead of row by row:
//
//  1. the slot is created on a replication connection that exports its
//     snapshot; that connection stays open until the copy ends, because the
//     snapshot lives only as long as it does;
//  2. the target's tables lose their keys, indexes and foreign keys (saved in
//     the metadata first);
//  3. copy workers import the snapshot and stream binary COPY from the source
//     straight into COPY on the target;
//  4. keys, indexes and foreign keys are built over the finished data, each
//     table's as soon as its own copy ends;
//  5. the subscription attaches to the slot without copying: the slot starts
//     decoding exactly at the snapshot's LSN, so every change after the
//     snapshot is streamed once and none before it.

func vectorNames(ds []group.Deferred) string {
	var names []string
	for _, d := range ds {
		if d.Kind == group.VectorIndex {
			names = append(names, d.Name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// fastCopy creates the slot with an exported snapshot and copies every table
// under it with parallel COPY streams. It builds the deferred keys and
// indexes at the same time: a table's start as soon as its own copy ends,
// while the other tables are still copying.
func (s *syncer) fastCopy(ctx context.Context) error {
	if err := s.exportSnapshot(ctx); err != nil {
		return err
	}
	defer s.closeSlot()
	format, why, err := s.copyFormat(ctx)
	if err != nil {
		return err
	}
	if why != "" {
		s.say(event.Copy, "copying in text format: %s", why)
	}
	build, vectors, err := s.prepareBuilds(ctx)
	if err != nil {
		return err
	}
	jobs, err := s.planCopy(ctx, vectors)
	if err != nil {
		return err
	}
	for _, t := range s.opts.Tables {
		if err := group.SetTableState(ctx, s.tgt, s.opts.Group, group.TableState{Table: t.Name, State: "copying"}); err != nil {
			return err
		}
	}
	if err := s.hook("copying"); err != nil {
		return err
	}
	cp := newCopyProgress(s, jobs)
	defer s.ev.Emit(event.Event{Phase: event.Copy}) // the total's live line ends with the copy, also a failed one
	copied := make(chan pg.Name, len(s.opts.Tables))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return build(gctx, copied) })
	g.Go(func() error { return s.recordCopies(gctx, cp.copied, copied) })
	g.Go(func() error { return s.copyTables(gctx, jobs, format, cp) })
	return g.Wait()
}

// planCopy splits the tables into copy jobs, vector tables first, and
// decides where each job writes on the target and what runs around it.
func (s *syncer) planCopy(ctx context.Context, vectors map[pg.Name]bool) ([]copier.Job, error) {
	jobs := vectorTablesFirst(s.opts.Tables, vectors, s.cores())
	jobs, err := routeLeaves(ctx, s.tgt, s.opts.Tables, jobs)
	if err != nil {
		return nil, err
	}
	return s.guardJobs(ctx, jobs)
}

// minVectorPiece is the least a vector table's copy is split into: below
// it another COPY costs more than it saves.
const minVectorPiece = 8 << 20

// vectorTablesFirst plans the copy so the vector indexes can start as
// early as possible, the largest first: an HNSW build takes far longer
// than copying its table, and it can only start once that table is in.
// The tables with a vector index to build come first, largest first, each
// split into a range per stream, so every stream copies the largest one
// and it is in, and its index building, before the next one is; the other
// tables follow as copier.Plan orders them.
func vectorTablesFirst(tables []catalog.Table, vectors map[pg.Name]bool, streams int) []copier.Job {
	var vec, rest []catalog.Table
	for _, t := range tables {
		if vectors[t.Name] {
			vec = append(vec, t)
		} else {
			rest = append(rest, t)
		}
	}
	sort.SliceStable(vec, func(i, j int) bool { return vec[i].Bytes > vec[j].Bytes })
	var jobs []copier.Job
	for _, t := range vec {
		parts := max(1, min(int64(streams), t.Bytes/minVectorPiece))
		jobs = append(jobs, copier.Plan([]catalog.Table{t}, streams, (t.Bytes+parts-1)/parts)...)
	}
	return append(jobs, copier.Plan(rest, streams, 0)...)
}

// exportSnapshot creates the group's slot on a connection that exports its
// snapshot, and records the slot's consistent LSN.
func (s *syncer) exportSnapshot(ctx context.Context) error {
	slot, err := replication.CreateSlot(ctx, s.opts.Source, s.name)
	if err != nil {
		return err
	}
	s.slot = slot
	s.say(event.Setup, "created replication slot %s on the source at %s (snapshot %s)", s.name, slot.ConsistentLSN, slot.SnapshotName)
	// The other streams' slots are copies of this one, made while its
	// snapshot is held: the same consistent point, so every stream starts
	// exactly where the copy's snapshot ends.
	for _, name := range s.streams()[1:] {
		if err := replication.CopySlot(ctx, s.src, s.name, name); err != nil {
			return err
		}
		s.say(event.Setup, "created replication slot %s on the source at %s (a copy of %s)", name, slot.ConsistentLSN, s.name)
	}
	return group.SetSnapshotLSN(ctx, s.tgt, s.opts.Group, slot.ConsistentLSN)
}

// copyTables runs the copy, then ends the exported snapshot (every worker
// has imported it by then) and closes done, which tells recordCopies that
// every table is in. On failure done stays open: the tables are not.
func (s *syncer) copyTables(ctx context.Context, jobs []copier.Job, format string, cp *copyProgress) error {
	res, err := copier.Run(ctx, jobs, copier.Options{
		Source: s.opts.Source, Target: s.opts.Target, Snapshot: s.slot.SnapshotName,
		Jobs: s.opts.Jobs, Format: format, SkipTriggers: s.targetSuper, Progress: cp.event,
	})
	if err != nil {
		return err
	}
	s.closeSlot()
	s.ev.Emit(event.Event{Phase: event.Copy, Rows: res.Rows, Bytes: res.Bytes, Duration: res.Elapsed,
		Message: fmt.Sprintf("copied %d rows (%s) in %s, %s/s", res.Rows, progress.Bytes(res.Bytes),
			progress.Elapsed(res.Elapsed), progress.Bytes(int64(float64(res.Bytes)/max(res.Elapsed.Seconds(), 0.001))))})
	close(cp.copied)
	return nil
}

// recordCopies records each table on the group as it is copied and then
// hands it to the builds. Once the last table is recorded the group enters
// the indexing phase, before that table's builds may start, so a run killed
// while anything is built after the copy is found in phase indexing.
func (s *syncer) recordCopies(ctx context.Context, done <-chan tableCopy, copied chan<- pg.Name) error {
	left := len(s.opts.Tables)
	for {
		var tc tableCopy
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case tc, ok = <-done:
		}
		if !ok {
			close(copied)
			if left > 0 {
				return fmt.Errorf("copy ended with %d table(s) not copied", left)
			}
			return nil
		}
		ts := group.TableState{Table: tc.table, State: "copied", RowsCopied: tc.rows, BytesCopied: tc.bytes}
		if err := s.meta(func() error { return group.SetTableState(ctx, s.tgt, s.opts.Group, ts) }); err != nil {
			return fmt.Errorf("record copy of %s: %w", tc.table, err)
		}
		if left--; left == 0 {
			if err := s.indexing(ctx); err != nil {
				return err
			}
		}
		s.announceBuilds()
		copied <- tc.table
	}
}

func (s *syncer) closeSlot() {
	if s.slot != nil {
		_ = s.slot.Close(context.Background())
		s.slot = nil
	}
}

// copyFormat picks binary unless an extension providing a column type has a
// different version on the two sides: binary COPY sends a type's internal
// representation, which only the same version is sure to read back.
func (s *syncer) copyFormat(ctx context.Context) (format, why string, err error) {
	srcExt, err := catalog.Extensions(ctx, s.src)
	if err != nil {
		return "", "", err
	}
	tgtExt, err := catalog.Extensions(ctx, s.tgt)
	if err != nil {
		return "", "", err
	}
	tgtVer := map[string]string{}
	for _, e := range tgtExt {
		tgtVer[e.Name] = e.Version
	}
	used := map[string]bool{}
	for _, t := range s.opts.Tables {
		for _, c := range t.Columns {
			if c.TypeExt != "" {
				used[c.TypeExt] = true
			}
		}
	}
	for _, e := range srcExt {
		if used[e.Name] && tgtVer[e.Name] != e.Version {
			return "text", fmt.Sprintf("extension %s is %s on the source and %s on the target, and binary values are only safe between equal versions",
				e.Name, e.Version, orNone(tgtVer[e.Name])), nil
		}
	}
	return "binary", "", nil
}

func orNone(s string) string {
	if s == "" {
		return "not installed"
	}
	return s
}

// attachSubscription analyzes the copied tables and creates the
// subscription on the existing slot, without a copy.
func (s *syncer) attachSubscription(ctx context.Context) error {
	start := time.Now()
	if err := postdata.Analyze(ctx, s.opts.Target, catalog.NamesOf(s.opts.Tables), s.cores()); err != nil {
		return err
	}
	s.ev.Emit(event.Event{Phase: event.Analyze, Duration: time.Since(start),
		Message: fmt.Sprintf("analyzed %d table(s) in %s", len(s.opts.Tables), progress.Elapsed(time.Since(start)))})
	if err := s.createSubscription(ctx, false); err != nil {
		return err
	}
	return nil
}

// cores is how many target sessions pgvecrep may keep busy at once: --jobs,
// else the machine's CPUs.
func (s *syncer) cores() int {
	if s.opts.Jobs > 0 {
		return s.opts.Jobs
	}
	return runtime.NumCPU()
}

// superuser reports whether pgvecrep's target user is a superuser (needed to
// keep user triggers from firing for copied rows).
func superuser(ctx context.Context, conn *pgx.Conn) bool {
	f, err := pg.LoadFacts(ctx, conn)
	return err == nil && f.Superuser
}
