package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Report is what a verification found.
type Report struct {
	Tables []TableResult `json:"tables"`
	ANN    []ANNResult   `json:"ann"`
	// Schema is the comparison of the tables' definitions; nil when it was
	// not asked for (Options.Schema).
	Schema *SchemaResult `json:"schema,omitempty"`
	// Notes are caveats that apply to the whole run (no subscription to wait
	// for, a lag that did not drain).
	Notes []string `json:"notes,omitempty"`
}

// TableResult is one table's comparison.
type TableResult struct {
	Table string   `json:"table"`
	Key   []string `json:"key"` // the columns rows are matched by; empty without a key
	// SourceRows and TargetRows add up the chunks as last read on each side.
	SourceRows int64 `json:"source_rows"`
	TargetRows int64 `json:"target_rows"`
	Chunks     int   `json:"chunks"`
	// Rechecked counts the chunks that differed on the first pass and were
	// read again after the lag drained; MismatchedChunks those that still hold
	// divergent rows.
	Rechecked        int `json:"rechecked_chunks"`
	MismatchedChunks int `json:"mismatched_chunks"`
	// Missing, Extra and Different list keys (42, or (42,"a b") for a
	// composite key), up to 100 in all; DivergentRows is the full count.
	Missing       []string `json:"missing_on_target,omitempty"`
	Extra         []string `json:"extra_on_target,omitempty"`
	Different     []string `json:"different,omitempty"`
	DivergentRows int      `json:"divergent_rows"`
	Truncated     bool     `json:"truncated,omitempty"`
	Note          string   `json:"note,omitempty"`
	// Error is why the table could not be compared; it counts as divergence.
	Error string `json:"error,omitempty"`
}

// OK reports whether the table holds the same rows on both sides.
func (t TableResult) OK() bool { return t.Error == "" && t.MismatchedChunks == 0 }

// ANNResult is one vector index's nearest-neighbour check: the exact top-k
// must be identical on both sides; recall is each side's index against its
// own exact answer, for information (index graphs differ between replicas).
type ANNResult struct {
	Table       string `json:"table"`
	Index       string `json:"index"`
	TargetIndex string `json:"target_index,omitempty"`
	Expr        string `json:"expression"`
	Opclass     string `json:"opclass"`
	Operator    string `json:"operator,omitempty"`
	Queries     int    `json:"queries"`
	Limit       int    `json:"limit"`
	// ExactMismatches counts the queries whose exact top-k differ on the two
	// sides (after a re-check); Examples shows a few.
	ExactMismatches int      `json:"exact_mismatches"`
	ExactOK         bool     `json:"exact_ok"`
	Examples        []string `json:"examples,omitempty"`
	// RecallSource and RecallTarget are nil when not measured (no matching
	// index on the target, or a planner that will not use it).
	RecallSource *float64 `json:"recall_source"`
	RecallTarget *float64 `json:"recall_target"`
	Skipped      string   `json:"skipped,omitempty"`
	Note         string   `json:"note,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// OK reports whether the exact nearest neighbours agree (a skipped index is
// not a failure: it was not checked, and says why).
func (a ANNResult) OK() bool { return a.Error == "" && (a.Skipped != "" || a.ExactOK) }

// OK reports whether nothing diverges.
func (r Report) OK() bool {
	if !r.Schema.OK() {
		return false
	}
	for _, t := range r.Tables {
		if !t.OK() {
			return false
		}
	}
	for _, a := range r.ANN {
		if !a.OK() {
			return false
		}
	}
	return true
}

// WriteJSON writes the report as one JSON document with "ok" at the top.
func (r Report) WriteJSON(w io.Writer) error {
	doc := struct {
		OK bool `json:"ok"`
		Report
	}{r.OK(), r}
	if doc.Tables == nil {
		doc.Tables = []TableResult{}
	}
	if doc.ANN == nil {
		doc.ANN = []ANNResult{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

// WriteTable writes the report for a person: one line per table and per
// index, the schema differences, then the keys that differ, the notes and a
// verdict.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(r.Tables) > 0 {
		fmt.Fprintln(tw, "TABLE\tKEY\tSOURCE ROWS\tTARGET ROWS\tCHUNKS\tMISMATCHED\tRESULT")
	}
	for _, t := range r.Tables {
		keys := make([]string, len(t.Key))
		for i, k := range t.Key {
			keys[i] = pg.QuoteIfNeeded(k)
		}
		key := orDash(strings.Join(keys, ","))
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", t.Table, key, t.SourceRows, t.TargetRows,
			t.Chunks, t.MismatchedChunks, t.verdict())
	}
	if len(r.ANN) > 0 {
		fmt.Fprintf(tw, "\nINDEX\tTABLE\tOPERATOR\tQUERIES\tEXACT TOP-%d\tRECALL SOURCE\tRECALL TARGET\n", topK)
		for _, a := range r.ANN {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\n", a.Index, a.Table, orDash(a.Operator), a.Queries,
				a.verdict(), recall(a.RecallSource), recall(a.RecallTarget))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	r.Schema.write(w, len(r.Tables) > 0)
	r.writeDetails(w)
	verdict := "verify: ok, source and target agree"
	if !r.OK() {
		verdict = "verify: DIVERGENT, see above"
	}
	_, err := fmt.Fprintf(w, "\n%s\n", verdict)
	return err
}

func (r Report) writeDetails(w io.Writer) {
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	for _, t := range r.Tables {
		for _, l := range []struct {
			what string
			keys []string
		}{{"missing on the target", t.Missing}, {"extra on the target", t.Extra}, {"different", t.Different}} {
			if len(l.keys) > 0 {
				add("%s: %s: %s", t.Table, l.what, strings.Join(l.keys, ", "))
			}
		}
		if t.Truncated {
			add("%s: %d rows differ in all; only the first %d are listed", t.Table, t.DivergentRows, maxKeys)
		}
		if t.Note != "" {
			add("%s: %s", t.Table, t.Note)
		}
	}
	for _, a := range r.ANN {
		for _, s := range []string{a.Skipped, a.Note, a.Error} {
			if s != "" {
				add("%s: %s", a.Index, s)
			}
		}
		for _, e := range a.Examples {
			add("%s: %s", a.Index, e)
		}
	}
	if r.Schema != nil {
		for _, d := range r.Schema.Expected {
			add("note: expected: %s: %s", d, d.Reason)
		}
	}
	for _, n := range r.Notes {
		add("note: %s", n)
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "\n%s\n", strings.Join(lines, "\n"))
	}
}

// write prints the schema comparison: a summary line, then one line per
// difference. after says whether the data tables came first (a blank line
// then separates the two).
func (s *SchemaResult) write(w io.Writer, after bool) {
	if s == nil {
		return
	}
	if after {
		fmt.Fprintln(w)
	}
	switch n := len(s.Differences); n {
	case 0:
		fmt.Fprintf(w, "SCHEMA of %d table(s): identical\n", s.Tables)
	default:
		fmt.Fprintf(w, "SCHEMA of %d table(s): %d difference(s)\n", s.Tables, n)
	}
	for _, d := range s.Differences {
		fmt.Fprintln(w, d)
	}
}

func (t TableResult) verdict() string {
	switch {
	case t.Error != "":
		return "ERROR: " + t.Error
	case t.OK():
		return "ok"
	case t.DivergentRows > 0:
		var parts []string
		for _, p := range []struct {
			n    int
			what string
		}{{len(t.Missing), "missing"}, {len(t.Extra), "extra"}, {len(t.Different), "different"}} {
			if p.n > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
			}
		}
		if t.Truncated {
			parts = append(parts, fmt.Sprintf("%d rows in all", t.DivergentRows))
		}
		if len(parts) == 0 { // a table without a key: rows are counted, not named
			parts = append(parts, fmt.Sprintf("%d distinct rows differ", t.DivergentRows))
		}
		return "DIVERGENT: " + strings.Join(parts, ", ")
	}
	return "DIVERGENT: checksum differs"
}

func (a ANNResult) verdict() string {
	switch {
	case a.Error != "":
		return "ERROR"
	case a.Skipped != "":
		return "skipped"
	case a.ExactOK:
		return "identical"
	}
	return fmt.Sprintf("DIFFER %d/%d", a.ExactMismatches, a.Queries)
}

func recall(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("%.3f", *r)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
