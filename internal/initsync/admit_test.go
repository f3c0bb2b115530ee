package initsync

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// TestAdmit is the restart rule phase by phase: which groups start, which
// need --truncate-target (and then return their tables to empty), and that
// every refusal carries a hint naming what to run or add.
func TestAdmit(t *testing.T) {
	tables := []pg.Name{{Schema: "public", Name: "docs"}}
	for _, tc := range []struct {
		phase    group.Phase
		truncate bool
		empty    bool   // returns the tables to empty
		refused  string // part of the error; "" admits
		hint     string // part of the hint
	}{
		{phase: group.Bootstrapped},
		{phase: group.Bootstrapped, truncate: true},
		{phase: group.Copying},
		{phase: group.Indexing},
		{phase: group.Failed},
		{phase: group.Streaming, refused: "is already streaming", hint: "pgvecrep stop_sync -g g1"},
		{phase: group.Streaming, truncate: true, refused: "is already streaming", hint: "--truncate-target"},
		{phase: group.Stopped, refused: "g1 is stopped; starting it again empties its 1 table", hint: "pgvecrep start_sync -g g1 --truncate-target"},
		{phase: group.Stopped, truncate: true, empty: true},
		{phase: group.SwitchedOver, refused: "was switched over", hint: "add --truncate-target"},
		{phase: group.SwitchedOver, truncate: true, empty: true},
		{phase: group.FailedOver, refused: "was failed over", hint: "add --truncate-target"},
		{phase: group.FailedOver, truncate: true, empty: true},
	} {
		g := group.Group{Name: "g1", Phase: tc.phase, Tables: tables}
		got, err := Admit(g, tc.truncate)
		what := string(tc.phase)
		if tc.truncate {
			what += " --truncate-target"
		}
		switch {
		case tc.refused == "" && err != nil:
			t.Errorf("%s: refused: %v", what, err)
		case tc.refused != "" && (err == nil || !strings.Contains(err.Error(), tc.refused) || !strings.Contains(hint.Of(err), tc.hint)):
			t.Errorf("%s: got %v (hint %q), want an error with %q and a hint with %q", what, err, hint.Of(err), tc.refused, tc.hint)
		case tc.empty != slices.Equal(got, tables):
			t.Errorf("%s: tables to empty %v", what, got)
		}
	}
}
