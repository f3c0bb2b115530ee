package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/group"
)

// owner is the pgvecrep group a target table belongs to, and its phase.
type owner struct{ group, phase string }

// tableOwners maps a target table's quoted name to the group whose replica
// it is (group.Holdings). A target without pgvecrep's metadata has none.
func tableOwners(ctx context.Context, tgt *pgx.Conn) (map[string]owner, error) {
	held, err := group.Holdings(ctx, tgt)
	if err != nil {
		return nil, err
	}
	out := make(map[string]owner, len(held))
	for _, h := range held {
		out[h.Table.Quoted()] = owner{group: h.Group, phase: string(h.Phase)}
	}
	return out, nil
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
