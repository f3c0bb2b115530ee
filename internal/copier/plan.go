package copier

import (
	"fmt"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Job is one COPY: a whole table or one ctid range of it, or of one leaf
// partition of a partitioned table.
type Job struct {
	// Table is the replicated table the job belongs to (the root, for a
	// partition): what progress and results are counted against.
	Table pg.Name
	// Part is the leaf partition the job reads when Table is partitioned.
	// Each leaf is copied on its own, split by ctid when large, because a
	// ctid range means something only inside one relation. Zero otherwise.
	Part pg.Name
	// Into is the relation written on the target; zero means Table, where
	// a partitioned table routes each row to its partition.
	Into pg.Name
	// Wrap, when set, runs the job's COPY on the target in a transaction
	// of its own between Wrap.Before and Wrap.After: statements that change
	// how the table takes rows for the copy only (see initsync), undone
	// before the commit so no other session ever sees the change, and
	// rolled back with the copy when anything fails.
	Wrap *Wrap
	// Columns are the column names (unquoted) copied, in the same order on
	// both sides. Generated columns are left out: the target computes them
	// and refuses values for them. Empty copies every column, which is only
	// right for a table without generated columns.
	Columns []string
	// Where is a ctid range predicate for a part of a split table, or "".
	Where string
	// Bytes is the job's share of the table's size, for ordering and progress.
	Bytes int64
	// Inherited reads the table's children too. Plan sets it for partitioned
	// tables, whose rows live in their partitions; for any other table the
	// copy reads ONLY that table, because inheritance children are tables of
	// their own in the set and would otherwise be copied twice.
	Inherited bool
}

// Wrap is what runs around a job's COPY on the target, in its transaction.
type Wrap struct {
	Before, After []string
}

// String names the job for errors and logs: the table, the partition, and
// the range when split.
func (j Job) String() string {
	s := j.Table.String()
	if j.Part != (pg.Name{}) {
		s += " (" + j.Part.String() + ")"
	}
	if j.Where != "" {
		s += " [" + j.Where + "]"
	}
	return s
}

// source is the relation the job reads.
func (j Job) source() pg.Name {
	if j.Part != (pg.Name{}) {
		return j.Part
	}
	return j.Table
}

// Dest is the relation the job writes on the target.
func (j Job) Dest() pg.Name {
	if j.Into != (pg.Name{}) {
		return j.Into
	}
	return j.Table
}

// columnList is the quoted column list, or "*" for every column.
func (j Job) columnList() string {
	if len(j.Columns) == 0 {
		return "*"
	}
	q := make([]string, len(j.Columns))
	for i, c := range j.Columns {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

// copyOutSQL reads the job's rows on the source. It always goes through a
// SELECT: that is what takes a WHERE on ctid (a TID Range Scan since
// PostgreSQL 14) and reads partitioned tables, which plain COPY TO refuses.
func (j Job) copyOutSQL(format string) string {
	only := "ONLY "
	if j.Inherited && j.Part == (pg.Name{}) {
		only = ""
	}
	sql := fmt.Sprintf("COPY (SELECT %s FROM %s%s", j.columnList(), only, j.source().Quoted())
	if j.Where != "" {
		sql += " WHERE " + j.Where
	}
	return sql + ") TO STDOUT (FORMAT " + format + ")"
}

// copyInSQL writes the job's rows on the target.
func (j Job) copyInSQL(format string) string {
	cols := ""
	if len(j.Columns) > 0 {
		cols = " (" + j.columnList() + ")"
	}
	return fmt.Sprintf("COPY %s%s FROM STDIN (FORMAT %s)", j.Dest().Quoted(), cols, format)
}

const (
	// blockSize is PostgreSQL's default page size, used to guess a table's
	// heap pages from its size when relpages is unknown (never analyzed).
	blockSize = 8192
	// minAutoSplit keeps Plan from splitting small tables when it chooses the
	// split size itself: below this a second COPY costs more than it saves.
	minAutoSplit = 64 << 20
)

// Plan turns tables into copy jobs, largest first, so the longest copies
// start first and the small ones fill the gaps at the end.
//
// A table larger than splitBytes is split into ctid ranges of about
// splitBytes each, by heap pages, so several workers can copy it at once.
// With splitBytes <= 0 the split size is the total size divided by jobs (at
// least 64MB): no single piece then holds up the end of the copy. The last
// range of a table is open-ended, so rows on pages added after relpages was
// last counted are still copied. A partitioned table is copied leaf by
// leaf, each leaf planned like a table of its own and written into the
// same leaf on the target (see Job.Into for writing through the root).
func Plan(tables []catalog.Table, jobs int, splitBytes int64) []Job {
	if splitBytes <= 0 {
		splitBytes = autoSplit(tables, jobs)
	}
	var out []Job
	for _, t := range tables {
		out = append(out, split(t, splitBytes)...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Bytes > out[j].Bytes })
	return out
}

func autoSplit(tables []catalog.Table, jobs int) int64 {
	var total int64
	for _, t := range tables {
		total += t.Bytes
	}
	return max(total/int64(max(jobs, 1)), minAutoSplit)
}

// copyColumns are the table's columns a COPY can write: all but generated ones.
func copyColumns(t catalog.Table) []string {
	cols := make([]string, 0, len(t.Columns))
	for _, c := range t.Columns {
		if !c.Generated {
			cols = append(cols, c.Name)
		}
	}
	return cols
}

func split(t catalog.Table, splitBytes int64) []Job {
	if t.Partitioned && len(t.Parts) > 0 {
		var out []Job
		for _, p := range t.Parts {
			leaf := catalog.Table{Name: p.Name, Columns: t.Columns, Bytes: p.Bytes, Pages: p.Pages}
			for _, j := range split(leaf, splitBytes) {
				j.Table, j.Part, j.Into = t.Name, p.Name, p.Name
				out = append(out, j)
			}
		}
		return out
	}
	whole := Job{Table: t.Name, Columns: copyColumns(t), Bytes: t.Bytes, Inherited: t.Partitioned}
	pages := t.Pages
	if pages <= 0 {
		pages = t.Bytes / blockSize
	}
	parts := min((t.Bytes+splitBytes-1)/splitBytes, pages)
	if t.Partitioned || t.Bytes <= splitBytes || parts < 2 {
		return []Job{whole}
	}
	out := make([]Job, parts)
	for i := range parts {
		from, to := pages*i/parts, pages*(i+1)/parts
		j := whole
		j.Bytes = t.Bytes / parts
		switch {
		case i == 0:
			j.Where = fmt.Sprintf("ctid < '(%d,0)'::tid", to)
		case i == parts-1:
			j.Where = fmt.Sprintf("ctid >= '(%d,0)'::tid", from)
		default:
			j.Where = fmt.Sprintf("ctid >= '(%d,0)'::tid AND ctid < '(%d,0)'::tid", from, to)
		}
		out[i] = j
	}
	return out
}
