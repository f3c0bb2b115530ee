package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// owner is the pgvecrep group a target table belongs to, and its phase.
type owner struct{ group, phase string }

// ownersQuery reads which group holds which target table, by the table's
// identity as the metadata stores it (schema and name as data). Groups that
// never copied (bootstrapped) or whose copy was undone (failed) hold nothing
// a person would miss.
const ownersQuery = `SELECT g.name, g.phase, t.schema_name, t.table_name
	FROM pgvecrep.groups g JOIN pgvecrep.tables t ON t.group_name = g.name
	WHERE g.phase NOT IN ('bootstrapped', 'failed')`

// metadataQuery says whether the target has pgvecrep's metadata in the
// current layout; an older layout is migrated by the first command that
// opens the group, and until then holds no table identity preflight trusts.
const metadataQuery = `SELECT EXISTS (SELECT 1 FROM pg_attribute
	WHERE attrelid = to_regclass('pgvecrep.tables') AND attname = 'schema_name' AND NOT attisdropped)
	AND to_regclass('pgvecrep.groups') IS NOT NULL`

// tableOwners maps a target table's quoted name to the group whose replica
// it is. A target without pgvecrep's metadata has none.
func tableOwners(ctx context.Context, tgt *pgx.Conn) (map[string]owner, error) {
	var exists bool
	if err := tgt.QueryRow(ctx, metadataQuery).Scan(&exists); err != nil || !exists {
		return nil, err
	}
	rows, err := tgt.Query(ctx, ownersQuery)
	if err != nil {
		return nil, err
	}
	out := map[string]owner{}
	var o owner
	var t pg.Name
	_, err = pgx.ForEachRow(rows, []any{&o.group, &o.phase, &t.Schema, &t.Name}, func() error {
		out[t.Quoted()] = o
		return nil
	})
	return out, err
}

// notEmptyHint says what to do about a target table that has rows. Emptying
// it is the usual answer, but never for a table that is some group's
// replica: that is the user's data, live or kept after a stop. After a
// switchover or failover it is the primary's data, which writes may have
// changed since: nothing to copy anew over it.
func notEmptyHint(quoted string, o owner, owned bool) string {
	switch {
	case !owned:
		return fmt.Sprintf("run TRUNCATE %s on the target (the initial copy fills it), or leave the table out with -e", quoted)
	case active(o.phase):
		return fmt.Sprintf("it is the replica of group %s (%s); leave it out with -e, or see pgvecrep stats -g %s", o.group, o.phase, o.group)
	case o.phase == string(group.SwitchedOver) || o.phase == string(group.FailedOver):
		return fmt.Sprintf("it is the data of group %s, which was %s: the target is the primary for it now; leave the table out with -e",
			o.group, strings.ReplaceAll(o.phase, "_", " "))
	}
	return fmt.Sprintf("it holds the data of group %s (%s); to copy it anew run pgvecrep start_sync -g %s --truncate-target, or leave it out with -e", o.group, o.phase, o.group)
}
