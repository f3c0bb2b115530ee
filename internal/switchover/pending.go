package switchover

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// Pending is what the group's DDL capture left for a pgvecrep process to
// finish, which the target lacks until then: the apply worker can neither
// build a vector index without stalling nor subscribe a new table.
// Switching over before it is done leaves the new primary without it, and
// nothing finishes it afterwards from a source that is gone.
type Pending struct {
	// Indexes are vector indexes created on the source and not built on
	// the target yet.
	Indexes []string
	// NewTables are tables created on the source whose rows have not been
	// copied: the subscription does not have them yet.
	NewTables []string
	// Unreplicated are tables created on the source with no key: not
	// replicated, so the new primary would have them empty.
	Unreplicated []string
	// Recorded counts the schema changes --track-ddl recorded and no one
	// applied.
	Recorded int
}

// Empty reports whether nothing is pending.
func (p Pending) Empty() bool {
	return len(p.Indexes) == 0 && len(p.NewTables) == 0 && len(p.Unreplicated) == 0 && p.Recorded == 0
}

// pending reads what the group's DDL capture has not finished (nothing
// when the group has no DDL capture).
func (s *run) pending(ctx context.Context) (Pending, error) {
	st, err := ddl.GetStatus(ctx, s.src, s.tgt, s.g)
	if err != nil || st == nil {
		return Pending{}, err
	}
	return Pending{Indexes: st.DeferredIndexes, NewTables: st.NewTables, Unreplicated: st.Unreplicated, Recorded: st.Recorded}, nil
}

// items names each pending thing in a phrase.
func (p Pending) items() []string {
	var out []string
	if len(p.Indexes) > 0 {
		out = append(out, "vector index(es) not built on the target: "+strings.Join(p.Indexes, ", "))
	}
	if len(p.NewTables) > 0 {
		out = append(out, "new table(s) whose rows are not copied to the target: "+strings.Join(p.NewTables, ", "))
	}
	if len(p.Unreplicated) > 0 {
		out = append(out, "table(s) created without a primary key or replica identity, not replicated: "+strings.Join(p.Unreplicated, ", "))
	}
	if p.Recorded > 0 {
		out = append(out, fmt.Sprintf("%d schema change(s) recorded with --track-ddl and not applied on the target", p.Recorded))
	}
	return out
}

// refuse is the error for pending work without --force.
func (p Pending) refuse(group string) error {
	return hint.Wrap(fmt.Errorf("group %s has work the target does not have yet: %s", group, strings.Join(p.items(), "; ")),
		fmt.Sprintf("finish it with pgvecrep apply_ddl_change -g %s, then run the switchover again (--force switches over without it)", group))
}

// Missing says, one line each, what the new primary lacks after a switchover
// with --force, and what to do about it.
func (p Pending) Missing(group string) []string {
	var out []string
	for _, ix := range p.Indexes {
		out = append(out, fmt.Sprintf("vector index %s: not built; build it on the new primary with pgvecrep apply_ddl_change -g %s", ix, group))
	}
	for _, t := range p.Unreplicated {
		out = append(out, fmt.Sprintf("table %s: no key, not replicated, and not frozen on the old source; copy its rows from there yourself (e.g. pg_dump --data-only -t %s)", t, t))
	}
	for _, t := range p.NewTables {
		out = append(out, fmt.Sprintf("table %s: created but empty, and not frozen on the old source; copy its rows from there yourself (e.g. pg_dump --data-only -t %s)", t, t))
	}
	if p.Recorded > 0 {
		out = append(out, fmt.Sprintf("%d schema change(s) recorded with --track-ddl: not applied; pgvecrep list_ddl_changes -g %s shows them, pgvecrep apply_ddl_change -g %s applies them",
			p.Recorded, group, group))
	}
	return out
}

// checkPending refuses a switchover while DDL work is pending, unless
// --force, where it keeps what is missing for the result. It runs before
// the freeze (final false), so a refusal costs nothing, and again once the
// target has drained (final true), which is what counts: an index made
// while the switchover waited for the lag has arrived by then.
func (s *run) checkPending(ctx context.Context, res *Result, final bool) error {
	if !final && s.opts.Force {
		return nil
	}
	p, err := s.pending(ctx)
	if err != nil || p.Empty() {
		return err
	}
	if !s.opts.Force {
		return p.refuse(s.g.Name)
	}
	res.Missing = p.Missing(s.g.Name)
	for _, item := range p.items() {
		s.say(event.Note, "--force: going ahead without %s", item)
	}
	return nil
}
