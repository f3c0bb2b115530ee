package initsync

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/postdata"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// deferIndexes records and drops the target's indexes and constraints on
// the replicated tables before the copy: only the vector indexes (native
// mode), or everything including keys and foreign keys (fast mode, where
// rows go into bare heaps and each structure is built once over the
// finished data). In both modes the check constraints added NOT VALID go
// too, as pg_dump puts them after the data: the source may hold rows that
// violate them, and either mode's COPY would fail on the first. Definitions
// are saved before anything is dropped, so a crash in between loses none;
// with them, the statements that restore what the definitions cannot say
// (replica identity, comments...; see catalog.Index.Restore).
func (s *syncer) deferIndexes(ctx context.Context, all bool) error {
	tgtTables, err := catalog.Lookup(ctx, s.tgt, catalog.NamesOf(s.opts.Tables))
	if err != nil {
		return err
	}
	var oids []uint32
	for _, t := range tgtTables {
		oids = append(oids, t.OID)
	}
	var deferred []group.Deferred
	var drops []string
	if all {
		fks, err := catalog.ForeignKeys(ctx, s.tgt, oids)
		if err != nil {
			return err
		}
		for _, fk := range fks {
			s.noteOutsideKey(fk)
			deferred = append(deferred, postdata.FromForeignKey(fk))
			drops = append(drops, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", fk.Table.Quoted(), pgx.Identifier{fk.Name}.Sanitize()))
		}
	}
	checks, checkDrops, err := deferChecks(ctx, s.tgt, oids)
	if err != nil {
		return err
	}
	deferred, drops = append(deferred, checks...), append(drops, checkDrops...)
	idxs, err := catalog.Indexes(ctx, s.tgt, oids)
	if err != nil {
		return err
	}
	for _, ix := range idxs {
		if all || ix.Vector() {
			deferred = append(deferred, postdata.FromIndex(ix))
			drops = append(drops, ix.DropSQL())
		}
	}
	if len(deferred) == 0 {
		return nil
	}
	if err := group.SaveDeferred(ctx, s.tgt, s.opts.Group, deferred); err != nil {
		return err
	}
	for i, sql := range drops {
		if _, err := s.tgt.Exec(ctx, sql); err != nil {
			return fmt.Errorf("drop %s %s before the copy: %w", deferred[i].Kind, deferred[i].Name, err)
		}
	}
	s.say(event.Setup, "deferred %d index(es) and constraint(s) until the data is in (vector indexes: %s)", len(deferred), vectorNames(deferred))
	return nil
}

// deferChecks lists the NOT VALID check constraints of the tables (oids),
// to save, and the statements that drop them.
func deferChecks(ctx context.Context, tgt *pgx.Conn, oids []uint32) ([]group.Deferred, []string, error) {
	checks, err := catalog.NotValidChecks(ctx, tgt, oids)
	if err != nil {
		return nil, nil, err
	}
	var deferred []group.Deferred
	var drops []string
	for _, c := range checks {
		deferred = append(deferred, postdata.FromCheck(c))
		drops = append(drops, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", c.Table.Quoted(), pgx.Identifier{c.Name}.Sanitize()))
	}
	return deferred, drops, nil
}

// Foreign keys that reference a table the group does not replicate would
// fail validation after the copy: the referenced rows are not on the target
// (or not all of them). Such a key is built NOT VALID instead, which keeps it
// checking new writes, and the output says how to validate it once the
// referenced table is complete. Failing start_sync over it would leave the
// user nothing to run but dropping the key. Only the build is NOT VALID: the
// saved definition stays as it was, so undoing a run (on emptied tables)
// puts the key back validated.

// noteOutsideKey prints the note for a key that will be built NOT VALID.
func (s *syncer) noteOutsideKey(fk catalog.ForeignKey) {
	if s.replicates(fk.References) {
		return
	}
	name := pgx.Identifier{fk.Name}.Sanitize()
	s.ev.Emit(event.Event{Phase: event.Note, Table: fk.Table.String(), Index: fk.Name, Message: fmt.Sprintf(
		"note: foreign key %s on %s references %s, which group %s does not replicate; it is built NOT VALID. "+
			"Once %s holds every referenced row on the target, run there: ALTER TABLE %s VALIDATE CONSTRAINT %s",
		name, fk.Table, fk.References, s.opts.Group, fk.References, fk.Table.Quoted(), name)})
}

// replicates reports whether the group copies table t.
func (s *syncer) replicates(t pg.Name) bool {
	for _, r := range s.opts.Tables {
		if r.Name == t {
			return true
		}
	}
	return false
}

// notValid is a foreign key's definition without validation.
func notValid(def string) string {
	if strings.HasSuffix(strings.ToUpper(def), " NOT VALID") {
		return def
	}
	return def + " NOT VALID"
}

// buildDeferred builds the deferred objects once every table is copied
// (the native path). The fast path starts them table by table instead
// (see fastCopy).
func (s *syncer) buildDeferred(ctx context.Context) error {
	build, _, err := s.prepareBuilds(ctx)
	if err != nil {
		return err
	}
	s.announceBuilds()
	return build(ctx, nil)
}

// prepareBuilds reads the deferred objects not built yet and returns the
// function that builds them: each as soon as its table is named on copied
// (nil: all tables are copied) and what it needs is built, several at once
// within the memory budget, printing each build's phase and percent. Each
// finished object is marked built, so a rerun after a crash skips it. It
// also returns the tables with a vector index to build.
func (s *syncer) prepareBuilds(ctx context.Context) (func(context.Context, <-chan pg.Name) error, map[pg.Name]bool, error) {
	pending, err := group.PendingDeferred(ctx, s.tgt, s.opts.Group)
	if err != nil {
		return nil, nil, err
	}
	objs, vectors := s.buildObjects(s.heldBack(pending))
	budget, parallel, err := s.buildBudget(ctx, len(objs))
	if err != nil {
		return nil, nil, err
	}
	if len(objs) > 0 {
		s.buildsPlan = fmt.Sprintf("building %d index(es) and constraint(s): memory budget %s (--index-memory), %d at a time",
			len(objs), vector.FormatBytes(budget), parallel)
	}
	return func(ctx context.Context, copied <-chan pg.Name) error {
		return postdata.Build(ctx, objs, postdata.Options{
			Target: s.opts.Target, Parallel: parallel, MemoryBudget: budget, Copied: copied, Progress: s.buildProgress,
			OnBuilt: func(o postdata.Object) error {
				return s.meta(func() error { return group.MarkBuilt(ctx, s.tgt, s.opts.Group, o) })
			},
		})
	}, vectors, nil
}

// buildObjects readies the saved objects (pending) for the build. Their
// size for ordering is their table's size on the source (the target's empty
// indexes say nothing), and a foreign key to a table the group does not
// replicate is built NOT VALID. It also returns the tables with a vector
// index to build.
func (s *syncer) buildObjects(pending []postdata.Object) ([]postdata.Object, map[pg.Name]bool) {
	size := map[pg.Name]int64{}
	for _, t := range s.opts.Tables {
		size[t.Name] = t.Bytes
	}
	vectors := map[pg.Name]bool{}
	for i := range pending {
		o := &pending[i]
		o.Bytes = max(o.Bytes, size[o.Table])
		if o.Kind == group.ForeignKey && o.References != (pg.Name{}) && !s.replicates(o.References) {
			o.Def = notValid(o.Def)
		}
		if o.Kind == group.VectorIndex {
			vectors[o.Table] = true
		}
	}
	return pending, vectors
}

func (s *syncer) buildProgress(e postdata.BuildEvent) {
	ev := event.Event{Phase: event.Index, Table: e.Object.Table.String(), Index: e.Object.Name, Duration: e.Elapsed}
	if e.Done {
		ev.Message = fmt.Sprintf("built %s in %s", e.Object, progress.Elapsed(e.Elapsed))
	} else {
		ev.Progress = true
		ev.Message = progress.Step(progress.IndexLabel(e.Object.Kind, e.Object.Name, e.Object.Def, e.Object.Table.String()), progress.IndexPhase(e.Phase), e.Percent, e.Elapsed)
		if !s.moved(ev) {
			return
		}
	}
	s.ev.Emit(ev)
}

// buildBudget picks the memory budget (--index-memory, else chosen from the
// target's maintenance_work_mem) and how many builds share it: each build
// runs a leader and up to max_parallel_maintenance_workers workers, so the
// cores (--jobs) fit jobs / (1 + workers) builds at once.
func (s *syncer) buildBudget(ctx context.Context, objects int) (int64, int, error) {
	budget := s.opts.IndexMemory
	if budget == 0 {
		var err error
		if budget, err = postdata.DefaultBudget(ctx, s.tgt); err != nil {
			return 0, 0, err
		}
	}
	var workers int
	if err := s.tgt.QueryRow(ctx, "SELECT current_setting('max_parallel_maintenance_workers')::int").Scan(&workers); err != nil {
		return 0, 0, fmt.Errorf("read max_parallel_maintenance_workers: %w", err)
	}
	parallel := max(1, min(objects, s.cores()/(1+max(workers, 0))))
	return budget, parallel, nil
}

// announceBuilds prints the build plan once, when the first builds may
// start: after the copy on the native path, after the first table's copy on
// the fast one.
func (s *syncer) announceBuilds() {
	if s.buildsPlan != "" {
		s.say(event.Index, "%s", s.buildsPlan)
		s.buildsPlan = ""
	}
}

// moved reports whether a progress event says something its step's last
// one did not. A terminal redraws every poll in place; elsewhere (a log, a
// pipe, JSON lines) a build's unchanged line is said once.
func (s *syncer) moved(e event.Event) bool {
	if event.Live(s.ev) {
		return true
	}
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	if s.said == nil {
		s.said = map[string]string{}
	}
	if s.said[e.Key()] == e.Message {
		return false
	}
	s.said[e.Key()] = e.Message
	return true
}

// meta runs f on the metadata connection, which the copy's and the
// builds' goroutines share.
func (s *syncer) meta(f func() error) error {
	s.metaMu.Lock()
	defer s.metaMu.Unlock()
	return f()
}
