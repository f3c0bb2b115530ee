// Package postdata builds a target's indexes and constraints after its data
// is in, and analyzes the tables.
//
// Building after the copy is what makes the fast path fast: an index that
// exists while rows arrive is updated once per row, which for an HNSW graph
// costs about 9x a build over the finished table, and an IVFFlat index
// created on an empty table keeps centroids that fit no data, a loss of
// recall (0.18 at 10 has been reported), not only of speed.
//
// The order is fixed by what depends on what. Primary keys and unique
// constraints come first, because foreign keys need the key they reference;
// check constraints added NOT VALID (which the copy could not have taken)
// come with them, as they too lock their table whole for a moment.
// Secondary indexes come next, vector ones first and largest first: they are
// the long builds, and starting them early keeps one slow build from being
// the only thing running at the end. Foreign keys come last, so checking them
// can use every index. Build does not wait for a whole kind to finish: each
// object starts as soon as its own table's data and the objects it needs are
// there (schedule.go), and the builds running at a time share a
// maintenance_work_mem budget.
//
// A definition does not say everything: an object's restore statements
// (Object.Restore, from package catalog) put back its replica identity,
// CLUSTER ON, comments and the like right after it is built, and before it
// is recorded as built, so a rerun after a crash runs them again.
package postdata

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Object is one index or constraint to build: a deferred object as the
// group records it (group.Deferred), so what start_sync saves before the
// copy is what Build builds after it, with no conversion between them. Its
// Kind (group.Kind) decides the build order. A check constraint (added NOT
// VALID) needs no other object, and is scheduled like a key: adding it
// locks its table whole for a moment, which it had better do before the
// index builds.
type Object = group.Deferred

// isConstraint reports whether the object is a table constraint (built
// with ALTER TABLE) rather than a bare index.
func isConstraint(o Object) bool {
	return strings.HasPrefix(strings.ToUpper(strings.TrimSpace(o.Def)), "ALTER TABLE")
}

// addedNotValid reports whether the object is a constraint added without
// checking the rows already there (ADD CONSTRAINT ... NOT VALID).
func addedNotValid(o Object) bool {
	return isConstraint(o) && strings.HasSuffix(strings.ToUpper(strings.TrimSpace(o.Def)), " NOT VALID")
}

// FromIndex is the Object that rebuilds a catalog index or index-backed
// constraint. The constraint type is looked at before the access method: a
// primary key or unique constraint must be classed as a key whatever builds
// it, because foreign keys wait for keys and the definition is an ALTER
// TABLE. (No vector access method can back one today; the order makes the
// answer not depend on that.)
func FromIndex(ix catalog.Index) Object {
	o := Object{Table: ix.Table, Name: ix.Name, Kind: group.PlainIndex, Def: ix.Def, Bytes: ix.Bytes, Restore: ix.Restore}
	if ix.Constraint != "" {
		o.Name = ix.Constraint
	} else if ix.Partitioned {
		o.Def = partitionedIndexDef(ix.Def)
	}
	switch {
	case ix.ConType == "p":
		o.Kind = group.PrimaryKey
	case ix.ConType == "u":
		o.Kind = group.UniqueKey
	case ix.Vector():
		o.Kind = group.VectorIndex
	}
	return o
}

// partitionedIndexDef turns the definition PostgreSQL gives for an index on
// a partitioned table (CREATE INDEX ... ON ONLY parent) into a plain CREATE
// INDEX on the parent, which builds the index on every partition and
// attaches it, in one statement. One statement is one transaction: a build
// that is interrupted leaves nothing, so "exists and valid" still means
// built, and a rerun after kill -9 simply builds it again. (ON ONLY plus one
// build per partition and ATTACH PARTITION would let the partitions' builds
// run side by side, but leave an invalid parent index behind a crash that
// the rerun would have to finish by hand.) Constraints (ALTER TABLE ... ADD)
// recurse into partitions already.
func partitionedIndexDef(def string) string {
	return strings.Replace(def, " ON ONLY ", " ON ", 1)
}

// FromForeignKey is the Object that adds a catalog foreign key again.
func FromForeignKey(fk catalog.ForeignKey) Object {
	return Object{Table: fk.Table, Name: fk.Name, Kind: group.ForeignKey, Def: fk.Def, References: fk.References, Restore: fk.Restore}
}

// FromCheck is the Object that adds a NOT VALID check constraint again
// (its definition ends in NOT VALID, so it is added as it was).
func FromCheck(c catalog.Check) Object {
	return Object{Table: c.Table, Name: c.Name, Kind: group.CheckConstraint, Def: c.Def, Restore: c.Restore}
}

// rank is each kind's place in the build order: keys (and NOT VALID
// checks, which lock like them), then vector indexes, then other indexes,
// then foreign keys (see the package comment).
var rank = map[group.Kind]int{group.PrimaryKey: 0, group.UniqueKey: 0, group.CheckConstraint: 0,
	group.VectorIndex: 1, group.PlainIndex: 2, group.ForeignKey: 3}

// Less is the build order: by kind (keys, vector indexes, other indexes,
// foreign keys), then largest first. Every builder uses it: Build's
// schedule, and the restore after a failed run.
func Less(a, b Object) bool {
	if ra, rb := rank[a.Kind], rank[b.Kind]; ra != rb {
		return ra < rb
	}
	return a.Bytes > b.Bytes
}

// Sort puts objs in build order (Less), keeping the given order among equals.
func Sort(objs []Object) {
	sort.SliceStable(objs, func(i, j int) bool { return Less(objs[i], objs[j]) })
}

// check rejects kinds Build does not know.
func check(objs []Object) error {
	for _, o := range objs {
		if _, ok := rank[o.Kind]; !ok {
			return fmt.Errorf("build %s: unknown kind %q", o, o.Kind)
		}
	}
	return nil
}

// Options configure Build.
type Options struct {
	Target *pgx.ConnConfig
	// Parallel is how many builds run at once; 0 means 1.
	Parallel int
	// MemoryBudget is the maintenance_work_mem shared by the builds running
	// at a time (see memory); 0 keeps the server's.
	MemoryBudget int64
	// Copied, when set, names each table once its data is complete; an
	// object waits for its table (a foreign key, for both of its tables).
	// Closing it means every table is complete. Nil: all are already.
	Copied <-chan pg.Name
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
