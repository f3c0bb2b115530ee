// Package postdata builds a target's indexes and constraints after its data
// is in, and analyzes the tables.
//
// Building after the copy is what makes the fast path fast: an index that
// exists while rows arrive is updated once per row, which for an HNSW graph
// costs about 9x a build over the finished table, and an IVFFlat index
// created on an empty table keeps centroids that fit no data (DESIGN.md).
//
// The order is fixed by what depends on what. Primary keys and unique
// constraints come first, because foreign keys need the key they reference.
// Secondary indexes come next, vector ones first and largest first: they are
// the long builds, and starting them early keeps one slow build from being
// the only thing running at the end. Foreign keys come last, so checking them
// can use every index. Within a stage several builds run at once, sharing a
// maintenance_work_mem budget.
package postdata

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Kinds of Object, which decide the build order.
const (
	Primary = "primary" // primary key constraint
	Unique  = "unique"  // unique constraint
	Index   = "index"   // any other index or index-backed constraint (exclusion)
	Vector  = "vector"  // index by a vector access method (hnsw, ivfflat, ...)
	Foreign = "foreign" // foreign key constraint
)

// Object is one index or constraint to build.
type Object struct {
	Table pg.Name
	Name  string // index name, or constraint name for constraints
	Kind  string
	Def   string // CREATE INDEX ... or ALTER TABLE ... ADD CONSTRAINT ...
	Bytes int64  // size on the source, for ordering
}

// String names the object for errors and progress: vector index "x" on public.t.
func (o Object) String() string {
	what := map[string]string{Primary: "primary key", Unique: "unique constraint", Index: "index",
		Vector: "vector index", Foreign: "foreign key"}[o.Kind]
	return fmt.Sprintf("%s %s on %s", what, pgx.Identifier{o.Name}.Sanitize(), o.Table)
}

// constraint reports whether the object is a table constraint (built with
// ALTER TABLE) rather than a bare index.
func (o Object) constraint() bool {
	return strings.HasPrefix(strings.ToUpper(strings.TrimSpace(o.Def)), "ALTER TABLE")
}

// FromIndex is the Object that rebuilds a catalog index or index-backed constraint.
func FromIndex(ix catalog.Index) Object {
	o := Object{Table: ix.Table, Name: ix.Name, Kind: Index, Def: ix.Def, Bytes: ix.Bytes}
	if ix.Constraint != "" {
		o.Name = ix.Constraint
	}
	switch {
	case ix.ConType == "p":
		o.Kind = Primary
	case ix.ConType == "u":
		o.Kind = Unique
	case ix.Vector():
		o.Kind = Vector
	}
	return o
}

// FromForeignKey is the Object that adds a catalog foreign key again.
func FromForeignKey(fk catalog.ForeignKey) Object {
	return Object{Table: fk.Table, Name: fk.Name, Kind: Foreign, Def: fk.Def}
}

// stages splits objects into the build stages, each in build order.
func stages(objs []Object) ([][]Object, error) {
	var keys, indexes, fks []Object
	for _, o := range objs {
		switch o.Kind {
		case Primary, Unique:
			keys = append(keys, o)
		case Index, Vector:
			indexes = append(indexes, o)
		case Foreign:
			fks = append(fks, o)
		default:
			return nil, fmt.Errorf("build %s: unknown kind %q", o, o.Kind)
		}
	}
	bySize := func(s []Object) func(i, j int) bool {
		return func(i, j int) bool {
			if vi, vj := s[i].Kind == Vector, s[j].Kind == Vector; vi != vj {
				return vi
			}
			return s[i].Bytes > s[j].Bytes
		}
	}
	sort.SliceStable(keys, bySize(keys))
	sort.SliceStable(indexes, bySize(indexes))
	var out [][]Object
	for _, s := range [][]Object{keys, indexes, fks} {
		if len(s) > 0 {
			out = append(out, s)
		}
	}
	return out, nil
}

// Options configure Build.
type Options struct {
	Target *pgx.ConnConfig
	// Parallel is how many builds run at once; 0 means 1.
	Parallel int
	// MemoryBudget is the maintenance_work_mem shared by the concurrent
	// builds of a stage (each gets budget / builds); 0 keeps the server's.
	MemoryBudget int64
	// Workers is max_parallel_maintenance_workers for each build: 0 keeps
	// the server's setting, a negative value disables parallel workers.
	Workers int
	// Progress, when set, receives an event when a build starts, about
	// twice a second while pg_stat_progress_create_index shows it, and
	// when it is done. Progress and OnBuilt calls never overlap.
	Progress func(BuildEvent)
	// OnBuilt is called after each object is built (or found already
	// built); an error stops Build. Used to record progress for a resume.
	OnBuilt func(Object) error
}

// BuildEvent reports a build's progress.
type BuildEvent struct {
	Object  Object
	Phase   string  // pg_stat_progress_create_index.phase, or starting/done/already built
	Percent float64 // 0-100, from tuples or blocks done in the current phase
	Done    bool
	Elapsed time.Duration
}
