// Package vector knows the vector extensions pgvecrep treats as first-class —
// pgvector (vector), pgvecto.rs (vectors) and VectorChord (vchord) — their
// types and index access methods, and how to build and query their indexes.
package vector

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
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

// BuiltinAMs are PostgreSQL's own index access methods. Any other index AM is
// provided by an extension and is treated as a vector index: those are the
// expensive graph or cluster builds that must run after the data is in.
var BuiltinAMs = []string{"btree", "hash", "gist", "gin", "spgist", "brin"}

// IsVectorAM reports whether an index access method is a vector (extension) one:
// hnsw, ivfflat, vectors, vchordrq, ...
func IsVectorAM(am string) bool { return am != "" && !slices.Contains(BuiltinAMs, am) }

// BuiltinAMsSQL is BuiltinAMs as a list of SQL literals, for an
// "amname NOT IN (...)" inside a function body, where the list cannot be a
// parameter: the DDL capture on the source and the apply on the target judge
// an index with the same list as IsVectorAM.
func BuiltinAMsSQL() string {
	q := make([]string, len(BuiltinAMs))
	for i, am := range BuiltinAMs {
		q[i] = "'" + am + "'"
	}
	return strings.Join(q, ", ")
}

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

// hnswM reads an HNSW index definition's m; pgvector's default is 16.
var hnswM = regexp.MustCompile(`(?i)[(,\s]m\s*=\s*'?(\d+)`)

// HNSWMemory is the maintenance_work_mem an HNSW build of def needs to keep
// its whole graph in memory, with a margin, for a table of tableBytes
// (TOAST included) and about rows rows, run with up to workers parallel
// workers; 0 when def is not an HNSW index or rows is unknown.
//
// A parallel HNSW build maps its whole maintenance_work_mem as shared
// memory before it starts: measured on a 200-row 768-d table, 383-415 ms
// per CREATE INDEX at 1GB, 112 ms at 256MB, 43 ms at 64MB. Giving a build
// what its graph needs instead of the whole share saves that time. The
// graph holds each vector and its neighbour lists: measured from pgvector's
// "no longer fits" notice at m = 16, 1274 bytes a row at 128-d and 4004 at
// 768-d, the vector's bytes plus 0.8-0.9 KB. The estimate is the table's
// bytes (at least the vectors) plus 48m+256 bytes a row, plus a quarter;
// an underestimate would only make pgvector finish the build on disk,
// slowly. It is never under 32MB per participant, below which PostgreSQL
// plans fewer workers.
func HNSWMemory(def string, tableBytes, rows int64, workers int) int64 {
	if rows <= 0 || !strings.Contains(strings.ToLower(def), " using hnsw") {
		return 0
	}
	m := int64(16)
	if g := hnswM.FindStringSubmatch(def); g != nil {
		if v, err := strconv.ParseInt(g[1], 10, 64); err == nil && v > 0 {
			m = v
		}
	}
	est := (tableBytes + rows*(48*m+256)) * 5 / 4
	return max(est, int64(1+max(workers, 0))*32<<20)
}

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
