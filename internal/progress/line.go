package progress

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/group"
)

// Bar draws a fraction as a fixed-width bar with a percentage.
func Bar(done, total int64) string {
	const width = 24
	frac := 0.0
	if total > 0 {
		frac = min(float64(done)/float64(total), 1)
	}
	n := int(frac * width)
	return fmt.Sprintf("[%s%s] %3.0f%%", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100)
}

// Step is the live line of one step whose progress is a percentage, e.g.
// an index build: the label, the phase, a short bar, the time it has run
// and, once there is a percentage to go on, the time it has left:
//
//	index items_emb_hnsw (hnsw) public.items  loading tuples [####····] 39%  0:10, ~0:16 left
//
// pct is 0-100; 0 means not known yet (the bar is left out). The ETA assumes
// the rest of the phase goes as fast as what is done. The label is separated
// by a tab, so Fit shortens it before the clock.
func Step(label, phase string, pct float64, elapsed time.Duration) string {
	var b strings.Builder
	b.WriteString(label + "\t")
	if phase != "" {
		b.WriteString(phase + " ")
	}
	if pct > 0 {
		const width = 8
		n := min(int(pct/100*width), width)
		fmt.Fprintf(&b, "[%s%s] %.0f%%  ", strings.Repeat("#", n), strings.Repeat("·", width-n), min(pct, 100))
	}
	b.WriteString(Clock(elapsed))
	if pct > 0 && pct < 100 {
		left := time.Duration(float64(elapsed) * (100 - pct) / pct)
		fmt.Fprintf(&b, ", ~%s left", Clock(left))
	}
	return b.String()
}

// usingMethod finds the access method in CREATE INDEX ... USING method.
var usingMethod = regexp.MustCompile(`(?i)\bUSING\s+([a-z_][a-z0-9_]*)`)

// IndexLabel names an index or constraint build for a live line, short:
// "index items_emb_hnsw (hnsw) public.items", "primary key docs_pkey
// public.docs". def is the statement, from which the access method is
// read. Unlike Kind.Noun it is short: the line has little room.
func IndexLabel(kind group.Kind, name, def, table string) string {
	what := map[group.Kind]string{group.PrimaryKey: "primary key", group.UniqueKey: "unique", group.ForeignKey: "foreign key"}[kind]
	if what == "" {
		what = "index"
	}
	if m := usingMethod.FindStringSubmatch(def); m != nil && what == "index" {
		return fmt.Sprintf("%s %s (%s) %s", what, name, strings.ToLower(m[1]), table)
	}
	return fmt.Sprintf("%s %s %s", what, name, table)
}

// IndexPhase shortens a pg_stat_progress_create_index phase for a live
// line: "building index: loading tuples" says "building index" twice. The
// phase may follow the partition a leaf-by-leaf build is on.
func IndexPhase(phase string) string {
	return strings.Replace(phase, "building index: ", "", 1)
}
