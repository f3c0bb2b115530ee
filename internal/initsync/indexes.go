package initsync

import (
	"context"
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
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
// finished data). Definitions are saved before anything is dropped, so a
// crash in between loses none.
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
		fks, err := foreignKeysTouching(ctx, s.tgt, oids)
		if err != nil {
			return err
		}
		for _, fk := range fks {
			deferred = append(deferred, group.Deferred{Table: fk.Table.Quoted(), Name: fk.Name, Kind: postdata.Foreign, Definition: fk.Def})
			drops = append(drops, fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT IF EXISTS %s", fk.Table.Quoted(), pgx.Identifier{fk.Name}.Sanitize()))
		}
	}
	idxs, err := catalog.Indexes(ctx, s.tgt, oids)
	if err != nil {
		return err
	}
	for _, ix := range idxs {
		if all || ix.Vector() {
			deferred = append(deferred, toDeferred(ix))
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
	s.p.Printf("deferred %d index(es) and constraint(s) until the data is in (vector indexes: %s)", len(deferred), vectorNames(deferred))
	return nil
}

func toDeferred(ix catalog.Index) group.Deferred {
	kind := "index"
	switch {
	case ix.Vector():
		kind = "vector"
	case ix.ConType == "p":
		kind = "primary"
	case ix.ConType == "u":
		kind = "unique"
	}
	name := ix.Name
	if ix.Constraint != "" {
		name = ix.Constraint
	}
	return group.Deferred{Table: ix.Table.Quoted(), Name: name, Kind: kind, Definition: ix.Def, Bytes: ix.Bytes}
}

// ordered puts keys first (foreign keys and some indexes depend on them),
// then indexes largest first, then foreign keys.
func ordered(ds []group.Deferred) []group.Deferred {
	rank := map[string]int{"primary": 0, "unique": 1, "vector": 2, "index": 2, "foreign": 3}
	out := append([]group.Deferred(nil), ds...)
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Kind] != rank[out[j].Kind] {
			return rank[out[i].Kind] < rank[out[j].Kind]
		}
		return out[i].Bytes > out[j].Bytes
	})
	return out
}

// buildDeferred builds the deferred objects: keys first, then indexes
// (vector ones and the largest first, several at once within the memory
// budget), then foreign keys, printing each build's phase and percent.
// Each finished object is marked built, so a rerun after a crash skips it.
func (s *syncer) buildDeferred(ctx context.Context) error {
	pending, err := group.PendingDeferred(ctx, s.tgt, s.opts.Group)
	if err != nil || len(pending) == 0 {
		return err
	}
	objs := make([]postdata.Object, len(pending))
	byName := map[string]group.Deferred{}
	for i, d := range pending {
		table, err := pg.ParseName(d.Table, "public")
		if err != nil {
			return fmt.Errorf("deferred %s %s: %w", d.Kind, d.Name, err)
		}
		objs[i] = postdata.Object{Table: table, Name: d.Name, Kind: d.Kind, Def: d.Definition, Bytes: d.Bytes}
		byName[objs[i].String()] = d
	}
	budget, parallel, err := s.buildBudget(ctx, len(objs))
	if err != nil {
		return err
	}
	s.p.Printf("building %d index(es) and constraint(s): memory budget %s (--index-memory), %d at a time",
		len(objs), vector.FormatBytes(budget), parallel)
	return postdata.Build(ctx, objs, postdata.Options{
		Target:       s.opts.Target,
		Parallel:     parallel,
		MemoryBudget: budget,
		Progress:     s.buildProgress,
		OnBuilt: func(o postdata.Object) error {
			return group.MarkBuilt(ctx, s.tgt, s.opts.Group, byName[o.String()])
		},
	})
}

func (s *syncer) buildProgress(e postdata.BuildEvent) {
	key := "build " + e.Object.String()
	switch {
	case e.Done:
		s.p.Clear(key)
		s.p.Printf("built %s in %s", e.Object, progress.Elapsed(e.Elapsed))
	default:
		s.p.Status(key, "%s", progress.Step(progress.IndexLabel(e.Object.Kind, e.Object.Name, e.Object.Def, e.Object.Table.String()), progress.IndexPhase(e.Phase), e.Percent, e.Elapsed))
	}
}

// buildBudget picks the memory budget (--index-memory, else chosen from the
// target's maintenance_work_mem) and how many builds share it.
func (s *syncer) buildBudget(ctx context.Context, objects int) (int64, int, error) {
	budget := s.opts.IndexMemory
	if budget == 0 {
		var err error
		if budget, err = postdata.DefaultBudget(ctx, s.tgt); err != nil {
			return 0, 0, err
		}
	}
	// Each build runs a leader and parallel workers; one build per two
	// copy jobs keeps the cores busy without thrashing.
	parallel := max(1, min(objects, s.opts.Jobs/2))
	return budget, parallel, nil
}
