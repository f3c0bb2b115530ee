package initsync

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/vector"
)

// deferVectorIndexes records and drops the target's vector indexes on the
// replicated tables.
func (s *syncer) deferVectorIndexes(ctx context.Context) error {
	tgtTables, err := catalog.Lookup(ctx, s.tgt, catalog.NamesOf(s.opts.Tables))
	if err != nil {
		return err
	}
	var oids []uint32
	for _, t := range tgtTables {
		oids = append(oids, t.OID)
	}
	idxs, err := catalog.Indexes(ctx, s.tgt, oids)
	if err != nil {
		return err
	}
	var deferred []group.Deferred
	var drops []string
	for _, ix := range idxs {
		if !ix.Vector() {
			continue
		}
		deferred = append(deferred, toDeferred(ix))
		drops = append(drops, ix.DropSQL())
	}
	if len(deferred) == 0 {
		return nil
	}
	// Saved before dropped: a crash in between keeps every definition.
	if err := group.SaveDeferred(ctx, s.tgt, s.opts.Group, deferred); err != nil {
		return err
	}
	for i, sql := range drops {
		if _, err := s.tgt.Exec(ctx, sql); err != nil {
			return fmt.Errorf("drop index %s before the copy: %w", deferred[i].Name, err)
		}
		s.p.Printf("deferred vector index %s on %s until the data is in", deferred[i].Name, deferred[i].Table)
	}
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
	case ix.ConType == "x":
		kind = "exclusion"
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
	rank := map[string]int{"primary": 0, "unique": 1, "exclusion": 1, "vector": 2, "index": 2, "foreign": 3}
	out := append([]group.Deferred(nil), ds...)
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Kind] != rank[out[j].Kind] {
			return rank[out[i].Kind] < rank[out[j].Kind]
		}
		return out[i].Bytes > out[j].Bytes
	})
	return out
}

// buildDeferred builds the deferred objects one at a time with generous build
// settings, printing each build's progress.
func (s *syncer) buildDeferred(ctx context.Context) error {
	pending, err := group.PendingDeferred(ctx, s.tgt, s.opts.Group)
	if err != nil || len(pending) == 0 {
		return err
	}
	settings, err := s.buildSettings(ctx)
	if err != nil {
		return err
	}
	s.p.Printf("building %d deferred index(es) with maintenance_work_mem=%s, max_parallel_maintenance_workers=%d",
		len(pending), settings.MaintenanceWorkMem, settings.ParallelWorkers)
	conn, err := pg.ConnectConfig(ctx, pg.Target, s.opts.Target)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, sql := range settings.SQL() {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("apply build settings: %w", err)
		}
	}
	for _, d := range ordered(pending) {
		start := time.Now()
		s.p.Printf("building %s %s on %s", d.Kind, d.Name, d.Table)
		if err := s.buildOne(ctx, conn.PgConn().PID(), func() error {
			_, err := conn.Exec(ctx, d.Definition)
			if alreadyExists(err) {
				return nil
			}
			return err
		}); err != nil {
			return fmt.Errorf("build %s %s on %s: %w", d.Kind, d.Name, d.Table, err)
		}
		if err := group.MarkBuilt(ctx, s.tgt, s.opts.Group, d); err != nil {
			return err
		}
		s.p.Printf("built %s %s in %s", d.Kind, d.Name, progress.Elapsed(time.Since(start)))
	}
	return nil
}

// buildOne runs build while polling pg_stat_progress_create_index for the
// building backend, printing phase and percent as they change.
func (s *syncer) buildOne(ctx context.Context, pid uint32, build func() error) error {
	done := make(chan error, 1)
	go func() { done <- build() }()
	tick := time.NewTicker(s.opts.PollInterval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			var phase string
			var pct float64
			err := s.tgt.QueryRow(ctx, `SELECT phase, CASE WHEN blocks_total > 0 THEN 100.0 * blocks_done / blocks_total
				WHEN tuples_total > 0 THEN 100.0 * tuples_done / tuples_total ELSE 0 END
				FROM pg_stat_progress_create_index WHERE pid = $1`, int32(pid)).Scan(&phase, &pct)
			if err == nil {
				s.p.Changed(fmt.Sprint("build", pid), "  %s: %.0f%%", phase, pct)
			}
		}
	}
}

// buildSettings picks maintenance_work_mem and parallel workers for builds:
// the larger of the target's setting and the requested or default budget.
func (s *syncer) buildSettings(ctx context.Context) (vector.BuildSettings, error) {
	facts, err := pg.LoadFacts(ctx, s.tgt)
	if err != nil {
		return vector.BuildSettings{}, err
	}
	mem := s.opts.IndexMemory
	if mem == 0 {
		mem = DefaultIndexMemory
	}
	mem = max(mem, facts.MaintenanceWorkMem)
	workers := max(facts.MaxParallelMaint, 2)
	return vector.BuildSettings{MaintenanceWorkMem: vector.FormatBytes(mem), ParallelWorkers: workers}, nil
}

// DefaultIndexMemory is maintenance_work_mem for a build when the user says
// nothing: enough for an HNSW graph of a few hundred thousand 768-d vectors
// to stay in memory, which is what makes the build fast.
const DefaultIndexMemory = 1 << 30
