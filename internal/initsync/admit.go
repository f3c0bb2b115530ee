package initsync

import (
	"context"
	"fmt"
	"strings"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Admit is start_sync's admission rule, decided from the group's phase
// alone, so that it can run before anything is read or changed (the
// command refuses at once) and again under the group's lock (Start, where
// another pgvecrep may have moved the group meanwhile):
//
//   - a streaming group is refused: it is running already;
//   - a stopped, switched-over or failed-over group's target tables hold
//     the replica a person may still be using, and starting again empties
//     them and copies everything anew, so that takes truncate, and Admit
//     returns the tables to empty;
//   - a group a run left half-done (copying, indexing, failed) is admitted:
//     Start recovers it first;
//   - a bootstrapped group is admitted.
func Admit(g group.Group, truncate bool) ([]pg.Name, error) {
	switch g.Phase {
	case group.Streaming:
		return nil, hint.New(fmt.Sprintf("group %s is already streaming", g.Name),
			fmt.Sprintf("watch it with pgvecrep stats -g %s; to copy it anew, stop it (pgvecrep stop_sync -g %s) and start it again with --truncate-target", g.Name, g.Name))
	case group.Stopped, group.SwitchedOver, group.FailedOver:
	default:
		return nil, nil
	}
	if truncate {
		return g.Tables, nil
	}
	what := "is stopped"
	h := fmt.Sprintf("to do that, run pgvecrep start_sync -g %s --truncate-target", g.Name)
	if g.Phase != group.Stopped {
		what = "was " + strings.ReplaceAll(string(g.Phase), "_", " ") + ": the target has been the primary since, and writes made there will be lost"
		// No ready command here: after a cut-over, copying the old source
		// over the new primary is almost never what anyone wants.
		h = "the target is the primary for these tables now; only if every write made there since may be thrown away, add --truncate-target"
	}
	return nil, hint.Wrap(fmt.Errorf("group %s %s; starting it again empties its %s on the target and copies everything anew from the source",
		g.Name, what, plural(len(g.Tables), "table")), h)
}

// empty empties a restarted group's tables (Admit) on the target, in one
// statement so foreign keys among them do not stand in the way, and moves
// the group back to bootstrapped, where start_sync begins.
func (s *syncer) empty(ctx context.Context, tables []pg.Name) error {
	if len(tables) == 0 {
		return nil
	}
	quoted := catalog.QuotedNames(tables)
	if _, err := s.tgt.Exec(ctx, "TRUNCATE "+strings.Join(quoted, ", ")); err != nil {
		return hint.Wrap(fmt.Errorf("empty group %s's tables on the target: %w", s.opts.Group, err),
			"a table outside the group may reference them with a foreign key; drop it or leave the table out")
	}
	s.say(event.Setup, "emptied %s on the target: %s", plural(len(tables), "table"), strings.Join(quoted, ", "))
	return group.SetPhase(ctx, s.tgt, s.opts.Group, group.Bootstrapped)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
