package preflight

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriteTableWidth: at any terminal width every line fits, and every
// word of every detail and hint is printed whole.
func TestWriteTableWidth(t *testing.T) {
	r := Report{Findings: []Finding{
		{Check: "wal_level", Status: StatusOK, Detail: "source wal_level is logical"},
		{Check: "target_tables", Status: StatusError, Detail: "table public.docs on the target is not empty",
			Hint: `it holds the data of group g1 (stopped); to copy it anew run pgvecrep start_sync -g g1 --truncate-target, or leave it out with -e`},
		{Check: "replica_identity", Status: StatusError,
			Detail: "table public.events has no primary key and no replica identity: its updates and deletes cannot be replicated",
			Hint:   `add a primary key to public.events, or run ALTER TABLE "public"."events" REPLICA IDENTITY FULL on the source`},
	}}
	for _, width := range []int{60, 80, 120, 200} {
		var b bytes.Buffer
		if err := r.WriteTableWidth(&b, width); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if n := len([]rune(l)); n >= width {
				t.Errorf("at %d columns a line of %d: %q", width, n, l)
			}
		}
		words := map[string]bool{}
		for _, w := range strings.Fields(out) {
			words[w] = true
		}
		for _, f := range r.Findings {
			for _, w := range strings.Fields(f.Detail + " " + f.Hint) {
				if !words[w] {
					t.Errorf("at %d columns the word %q is broken or missing:\n%s", width, w, out)
				}
			}
		}
		stacked := strings.Contains(out, "hint: ")
		if stacked != (width < 120) {
			t.Errorf("at %d columns stacked = %v:\n%s", width, stacked, out)
		}
		if testing.Verbose() {
			t.Logf("%d columns:\n%s", width, out)
		}
	}
}
