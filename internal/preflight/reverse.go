package preflight

import (
	"context"
	"strings"

	"github.com/pgvecrep/pgvecrep/internal/switchover"
)

// reverse says whether a switchover will be able to leave a way back (the
// source following the target afterwards, for switchback): the target must
// publish (wal_level, a slot, a WAL sender, the right to make slots) and
// the source's role must subscribe. Only a warning: the switchover goes on
// without a way back when it cannot have one.
func (c *checker) reverse(ctx context.Context) {
	needs, err := switchover.ReverseNeeds(ctx, c.src, c.tgt)
	if err != nil {
		c.broken("reverse", err)
		return
	}
	if len(needs) == 0 {
		c.ok("reverse", "a switchover can leave a way back: the target can publish and the source's role can subscribe (pgvecrep switchback)")
		return
	}
	c.add(Finding{Check: "reverse", Status: StatusWarn,
		Detail: "a switchover would leave no way back (switchback): " + strings.Join(needs, "; "),
		Hint:   "change what is named to keep the way back open, or switch over with --no-reverse"})
}
