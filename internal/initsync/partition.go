package initsync

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/copier"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Partitioned tables. The group replicates the partitioned table (the root)
// and the publication publishes through it (publish_via_partition_root), so
// streaming needs only the same root on the target, which routes each row to
// its own partition, and stats and verify speak of the tables the user named.
// The fast copy still reads leaf by leaf (copier.Plan), because the rows and
// the ctid ranges that split a large table are the leaves'; the indexes
// declared on the root are built as partitioned indexes (postdata.FromIndex).

// anyPartitioned reports whether a partitioned table is among ts: its
// publication then publishes through the partitioned table.
func anyPartitioned(ts []catalog.Table) bool {
	for _, t := range ts {
		if t.Partitioned {
			return true
		}
	}
	return false
}

// routeLeaves decides where each leaf's rows go on the target. A leaf the
// target has too, under the same root, is written directly: no routing per
// row, and COPY into a partition still checks the partition's bounds, so a
// target partitioned differently fails loudly rather than taking rows that
// are not its own. A leaf the target lacks (partitioned another way, or a
// partition added on the source since bootstrap) goes through the root,
// which routes each row wherever the target's layout puts it.
func routeLeaves(ctx context.Context, tgt *pgx.Conn, tables []catalog.Table, jobs []copier.Job) ([]copier.Job, error) {
	var roots []pg.Name
	for _, t := range tables {
		if t.Partitioned {
			roots = append(roots, t.Name)
		}
	}
	if len(roots) == 0 {
		return jobs, nil
	}
	onTarget, err := catalog.Lookup(ctx, tgt, roots)
	if err != nil {
		return nil, err
	}
	has := map[[2]pg.Name]bool{}
	for root, t := range onTarget {
		for _, p := range t.Parts {
			has[[2]pg.Name{root, p.Name}] = true
		}
	}
	for i, j := range jobs {
		if j.Part != (pg.Name{}) && !has[[2]pg.Name{j.Table, j.Part}] {
			jobs[i].Into = pg.Name{}
		}
	}
	return jobs, nil
}
