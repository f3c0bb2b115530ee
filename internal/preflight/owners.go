package preflight

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// owner is the pgvecrep group a target table belongs to, and its phase.
type owner struct{ group, phase string }

// ownersQuery reads which group holds which target table. Groups that never
// copied (bootstrapped) or whose copy was undone (failed) hold nothing a
// person would miss.
const ownersQuery = `SELECT g.name, g.phase, t FROM pgvecrep.groups g, unnest(g.tables) t
	WHERE g.phase NOT IN ('bootstrapped', 'failed')`

// tableOwners maps a target table's quoted name to the group whose replica
// it is. A target without pgvecrep's metadata has none.
func tableOwners(ctx context.Context, tgt *pgx.Conn) (map[string]owner, error) {
	var exists bool
	if err := tgt.QueryRow(ctx, `SELECT to_regclass('pgvecrep.groups') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	rows, err := tgt.Query(ctx, ownersQuery)
	if err != nil {
		return nil, err
	}
	out := map[string]owner{}
	var name, phase, table string
	_, err = pgx.ForEachRow(rows, []any{&name, &phase, &table}, func() error {
		out[table] = owner{name, phase}
		return nil
	})
	return out, err
}

// notEmptyHint says what to do about a target table that has rows. Emptying
// it is the usual answer, but never for a table that is some group's
// replica: that is the user's data, live or kept after a stop.
func notEmptyHint(quoted string, o owner, owned bool) string {
	switch {
	case !owned:
		return fmt.Sprintf("run TRUNCATE %s on the target (the initial copy fills it), or leave the table out with -e", quoted)
	case o.phase == "streaming" || o.phase == "copying" || o.phase == "indexing":
		return fmt.Sprintf("it is the replica of group %s (%s); leave it out with -e, or see pgvecrep stats -g %s", o.group, o.phase, o.group)
	}
	return fmt.Sprintf("it holds the data of group %s (%s); to copy it anew run pgvecrep start_sync -g %s --truncate-target, or leave it out with -e", o.group, o.phase, o.group)
}
