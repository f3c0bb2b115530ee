// Package vector knows the vector extensions pgvecrep treats as first-class —
// pgvector (vector), pgvecto.rs (vectors) and VectorChord (vchord) — their
// types and index access methods, and how to build and query their indexes.
package vector

import (
	"fmt"
	"strings"
)

// Extension describes one vector extension.
type Extension struct {
	Name    string   // extension name in pg_extension
	Project string   // what users call it
	Types   []string // column types it provides
}

// Extensions are the vector extensions pgvecrep knows by name.
var Extensions = []Extension{
	{Name: "vector", Project: "pgvector", Types: []string{"vector", "halfvec", "sparsevec"}},
	{Name: "vectors", Project: "pgvecto.rs", Types: []string{"vector", "vecf16", "svector", "bvector"}},
	{Name: "vchord", Project: "VectorChord", Types: nil},
}

// Known reports whether ext is a vector extension pgvecrep knows.
func Known(ext string) bool {
	for _, e := range Extensions {
		if e.Name == ext {
			return true
		}
	}
	return false
}

// builtinAMs are PostgreSQL's own index access methods. Any other index AM is
// provided by an extension and is treated as a vector index: those are the
// expensive graph or cluster builds that must run after the data is in.
var builtinAMs = map[string]bool{"btree": true, "hash": true, "gist": true, "gin": true, "spgist": true, "brin": true}

// IsVectorAM reports whether an index access method is a vector (extension) one:
// hnsw, ivfflat, vectors, vchordrq, ...
func IsVectorAM(am string) bool { return am != "" && !builtinAMs[am] }

// BuildSettings are the session settings used for a vector index build.
type BuildSettings struct {
	MaintenanceWorkMem string // e.g. "1GB"
	ParallelWorkers    int    // max_parallel_maintenance_workers
}

// SQL is the SET statements for a build session.
func (b BuildSettings) SQL() []string {
	var s []string
	if b.MaintenanceWorkMem != "" {
		s = append(s, fmt.Sprintf("SET maintenance_work_mem = '%s'", strings.ReplaceAll(b.MaintenanceWorkMem, "'", "")))
	}
	if b.ParallelWorkers >= 0 {
		s = append(s, fmt.Sprintf("SET max_parallel_maintenance_workers = %d", b.ParallelWorkers))
	}
	return s
}

// WholeTableWorkersSQL, run in a build session with the table ($1, a
// regclass) as argument, lets the next vector build on it use its
// parallel workers when the whole table, TOAST included, is at least
// min_parallel_table_scan_size; ResetWorkersSQL undoes it.
//
// PostgreSQL plans a build's workers from the size of the table's main
// heap alone, but a vector of more than ~500 dimensions is stored out of
// line, so a table of 50k x 768-d vectors has a 3 MB heap and its HNSW
// build gets no worker, while the build is all distance computations over
// 150 MB of vectors. Measured on 2 cores with max_parallel_maintenance_workers
// 2: 28-33 s with the planner's count, 16-19 s with 2 workers. The size
// test keeps small tables serial: a parallel HNSW build first maps its
// share of maintenance_work_mem, which cost ~0.4 s a build with 1GB where
// a 200-row serial build took 22 ms. A table's own parallel_workers
// storage parameter still wins.
const (
	WholeTableWorkersSQL = `SELECT set_config('min_parallel_table_scan_size', '0', false)
WHERE pg_table_size($1::regclass) >= pg_size_bytes(current_setting('min_parallel_table_scan_size'))`
	ResetWorkersSQL = "RESET min_parallel_table_scan_size"
)

// FormatBytes prints a byte count as PostgreSQL's size units (for SET).
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%dMB", n>>20)
	default:
		return fmt.Sprintf("%dkB", max(n>>10, 64))
	}
}
