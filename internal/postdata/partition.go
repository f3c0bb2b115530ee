package postdata

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// A vector index on a partitioned table is one CREATE INDEX on the parent,
// which builds the index of every leaf partition in turn. Run as it is,
// each leaf build gets the parent's settings: the parent has no size of its
// own, so no leaf gets the workers its whole table calls for (a leaf of
// 768-d vectors keeps them in TOAST and gets none, ~2x slower) and no HNSW
// leaf gets memory sized to its graph. So the leaves are built first, one
// statement each, largest first, each sized by its own table; the parent's
// CREATE INDEX then finds an equal index on every leaf and attaches it
// instead of building it (PostgreSQL does that for any matching index not
// attached elsewhere), in one short transaction.
//
// Nothing is left half-done by a kill: a leaf index that was built is a
// plain, valid index. A rerun of Build skips a leaf that has an equal valid
// index already; a restore on emptied tables (RestoreDeferred) runs the
// parent's CREATE INDEX, which attaches them, and dropping the parent index
// drops them with it.

// leafBuild is one leaf partition's CREATE INDEX.
type leafBuild struct {
	table string // the leaf, qualified and quoted as pg_get_indexdef prints it
	def   string
}

// leafBuilds lists the leaf builds of a vector index on a partitioned
// table, largest leaf first, without the leaves that have an equal valid
// index already. It is empty for any other table, and for a definition
// whose ON clause it cannot read (the parent's CREATE INDEX then builds
// every leaf itself, as before).
func leafBuilds(ctx context.Context, conn *pgx.Conn, o Object) ([]leafBuild, error) {
	var parent string
	var partitioned bool
	err := conn.QueryRow(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind = 'p'
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::regclass`, o.Table.Quoted()).Scan(&parent, &partitioned)
	if err != nil {
		return nil, fmt.Errorf("look up the table: %w", err)
	}
	_, tail, ok := strings.Cut(o.Def, " ON "+parent+" ")
	if !partitioned || !ok || !strings.HasPrefix(tail, "USING ") {
		return nil, nil
	}
	leaves, err := pg.Strings(ctx, conn, leavesQuery, o.Table.Quoted())
	if err != nil {
		return nil, fmt.Errorf("list the partitions: %w", err)
	}
	var out []leafBuild
	for _, l := range leaves {
		if _, valid, err := equalIndex(ctx, conn, l, " ON ", tail); err != nil {
			return nil, err
		} else if !valid {
			out = append(out, leafBuild{table: l, def: "CREATE INDEX ON " + l + " " + tail})
		}
	}
	return out, nil
}

// leavesQuery lists a partitioned table's leaf partitions that hold rows
// (foreign partitions get no index), largest first. Only the leaves the
// user may index: CREATE INDEX on a leaf needs its owner's rights, where
// the parent's recursive CREATE INDEX needs only the parent's (partitions
// made by another role are left to it).
const leavesQuery = `
SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
FROM pg_partition_tree($1::regclass) p
JOIN pg_class c ON c.oid = p.relid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE p.isleaf AND c.relkind = 'r' AND pg_has_role(c.relowner, 'USAGE')
ORDER BY pg_table_size(c.oid) DESC, 1`
