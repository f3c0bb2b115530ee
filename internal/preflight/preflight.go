// Package preflight checks, before anything is created, that a source and a
// target database are ready for logical replication: server settings,
// privileges, replica identity, extensions, pg_dump, and the target's tables.
//
// Every check runs and every finding is reported at once, each with a hint,
// so a user fixes everything in one round instead of one error per run. The
// checks are read-only: both connections run with
// default_transaction_read_only, so a bug here cannot create or change
// anything on either side.
package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"
	"golang.org/x/term"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/pg"
)

// Options say what to check.
type Options struct {
	SourceURL, TargetURL string
	// Filter selects the source tables to replicate.
	Filter catalog.Filter
	// CopySchema means missing target tables will be created from the
	// source's schema (with pg_dump), so their absence is fine.
	CopySchema bool
	// SpecialUserRole is a role that stands in for superuser, e.g.
	// rds_superuser on managed services.
	SpecialUserRole string
	// PgDump is the pg_dump to check; "" finds one (see FindPgDump).
	PgDump string
	// Emptied are target tables (quoted names) the command empties before
	// its copy, so rows in them are fine: start_sync --truncate-target
	// checks first and truncates only once every check passed.
	Emptied []string
	// Group is the group the checks are for (start_sync), whose own
	// publication and tables are not another group's; "" for config_check.
	Group string
	// ReplicaIdentityFull means start_sync sets REPLICA IDENTITY FULL on
	// the selected tables that have no key and no replica identity, so
	// they are fine whatever their updates and deletes (see keyless.go).
	ReplicaIdentityFull bool
	// ApplyStreams is how many apply streams start_sync creates
	// (--apply-workers): each is a slot and a WAL sender on the source and
	// an apply worker on the target. 0 counts as 1.
	ApplyStreams int
}

// Statuses of a finding.
const (
	StatusOK    = "ok"
	StatusWarn  = "warn"
	StatusError = "error"
)

// Finding is the outcome of one check: what was found and, for a warning or
// an error, what to do about it.
type Finding struct {
	Check  string `json:"check"`
	Status string `json:"status"` // ok, warn or error
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`
}

// Report is every finding of a run, in check order.
type Report struct {
	Findings []Finding
	// Tables are the source tables the filter selected, so that the command
	// that runs after the checks need not list them again.
	Tables []catalog.Table
}

// OK reports whether no finding is an error; warnings do not stop a sync.
func (r Report) OK() bool { return r.Problems() == 0 }

// Problems is the number of error findings.
func (r Report) Problems() int { return r.count(StatusError) }

// Warnings is the number of warning findings.
func (r Report) Warnings() int { return r.count(StatusWarn) }

func (r Report) count(status string) int {
	n := 0
	for _, f := range r.Findings {
		if f.Status == status {
			n++
		}
	}
	return n
}

// Column widths of WriteTable when the width is not limited (not a
// terminal): long details and hints wrap onto more lines instead of pushing
// the hint column off the screen.
const (
	detailWidth = 72
	hintWidth   = 64
	// minColumn is the narrowest detail or hint column worth drawing side
	// by side; below it each hint goes on its own line.
	minColumn = 30
)

// WriteTable prints the findings as aligned columns for a person to read,
// fitted to the terminal when w is one (see WriteTableWidth).
func (r Report) WriteTable(w io.Writer) error {
	width := 0
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil {
			width = cols
		}
	}
	return r.WriteTableWidth(w, width)
}

// WriteTableWidth prints the findings in at most width columns (0: no
// limit). A row wider than the terminal wraps wherever the terminal breaks
// it, mid-word, and the columns below it no longer line up; so when detail
// and hint do not both fit side by side, the hint goes on its own indented
// line under its detail, and every line is wrapped at spaces to fit.
func (r Report) WriteTableWidth(w io.Writer, width int) error {
	checkW := len("CHECK")
	for _, f := range r.Findings {
		checkW = max(checkW, len(f.Check))
	}
	lead := checkW + 2 + len("STATUS") + 2
	detailW, hintW := detailWidth, hintWidth
	if width > 0 {
		room := width - 1 - lead - 2
		detailW = min(detailWidth, room*55/100)
		hintW = min(hintWidth, room-detailW)
		if detailW < minColumn || hintW < minColumn {
			return r.writeStacked(w, checkW, max(width-1-lead, minColumn))
		}
	}
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL\tHINT")
	for _, f := range r.Findings {
		detail, hint := wrap(f.Detail, detailW), wrap(f.Hint, hintW)
		for i := 0; i < max(len(detail), len(hint), 1); i++ {
			check, status := "", ""
			if i == 0 {
				check, status = f.Check, f.Status
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", check, status, line(detail, i), line(hint, i))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeTrimmed(w, buf.String())
}

// writeStacked prints CHECK, STATUS and DETAIL as columns and each hint on
// lines of its own, indented under the detail it belongs to.
func (r Report) writeStacked(w io.Writer, checkW, detailW int) error {
	var b strings.Builder
	indent := strings.Repeat(" ", checkW+2+len("STATUS")+2)
	fmt.Fprintf(&b, "%-*s  %-6s  %s\n", checkW, "CHECK", "STATUS", "DETAIL")
	for _, f := range r.Findings {
		for i, l := range append(wrap(f.Detail, detailW), "") {
			if i == 0 {
				fmt.Fprintf(&b, "%-*s  %-6s  %s\n", checkW, f.Check, f.Status, l)
			} else if l != "" {
				b.WriteString(indent + l + "\n")
			}
		}
		for i, l := range wrap(f.Hint, detailW-len("hint: ")) {
			if i == 0 {
				l = "hint: " + l
			} else {
				l = "      " + l
			}
			b.WriteString(indent + l + "\n")
		}
	}
	return writeTrimmed(w, b.String())
}

// writeTrimmed writes s line by line without trailing spaces.
func writeTrimmed(w io.Writer, s string) error {
	for _, l := range strings.SplitAfter(s, "\n") {
		if l == "" {
			continue
		}
		if _, err := io.WriteString(w, strings.TrimRight(l, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// wrap breaks s into lines of at most width characters at spaces. Tabs and
// newlines become spaces. A word longer than width is split: it cannot fit
// whole, and a line wider than the column breaks the table.
func wrap(s string, width int) []string {
	var lines []string
	cur := ""
	for _, word := range strings.Fields(s) {
		for r := []rune(word); len(r) > width; r = []rune(word) {
			if cur != "" {
				lines = append(lines, cur)
				cur = ""
			}
			lines = append(lines, string(r[:width]))
			word = string(r[width:])
		}
		if cur != "" && len([]rune(cur))+1+len([]rune(word)) > width {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += word
	}
	if cur != "" {
		lines = append(lines, cur)
	}
	return lines
}

func line(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return ""
}

// jsonReport is the machine-readable form of a Report.
type jsonReport struct {
	OK       bool      `json:"ok"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
	Tables   []string  `json:"tables"`
	Findings []Finding `json:"findings"`
}

// WriteJSON prints the report as one JSON object: ok, errors, warnings,
// tables (qualified names as a person writes them) and findings.
func (r Report) WriteJSON(w io.Writer) error {
	out := jsonReport{OK: r.OK(), Errors: r.Problems(), Warnings: r.Warnings(),
		Tables: []string{}, Findings: r.Findings}
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	for _, t := range r.Tables {
		out.Tables = append(out.Tables, t.Name.String())
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// checker holds what the checks share during one run.
type checker struct {
	o        Options
	src, tgt *pgx.Conn
	sf, tf   pg.Facts
	report   Report
	owners   map[string]owner // target tables that are a group's replica
	emptied  map[string]bool  // Options.Emptied
}

// Run checks both sides and reports every finding. Its error is only for
// what prevents checking at all — a connection that fails, a server that
// cannot be read — and carries a hint; everything else is a finding.
func Run(ctx context.Context, o Options) (Report, error) {
	src, err := connect(ctx, pg.Source, o.SourceURL)
	if err != nil {
		return Report{}, err
	}
	defer src.Close(context.WithoutCancel(ctx))
	tgt, err := connect(ctx, pg.Target, o.TargetURL)
	if err != nil {
		return Report{}, err
	}
	defer tgt.Close(context.WithoutCancel(ctx))
	c := &checker{o: o, src: src, tgt: tgt, emptied: map[string]bool{}}
	for _, t := range o.Emptied {
		c.emptied[t] = true
	}
	if c.sf, err = pg.LoadFacts(ctx, src); err != nil {
		return Report{}, hint.Wrap(fmt.Errorf("check source: %w", err), "check that the source user may read server settings")
	}
	if c.tf, err = pg.LoadFacts(ctx, tgt); err != nil {
		return Report{}, hint.Wrap(fmt.Errorf("check target: %w", err), "check that the target user may read server settings")
	}
	checks := []func(context.Context){
		c.databases, c.walLevel, c.applyWorkers, c.sourceCapacity, c.targetCapacity, c.privileges,
		c.tables, c.otherGroups, c.tablePrivileges, c.replicaIdentity, c.extensions, c.pgDump, c.targetTables,
		c.tempTables, c.largeObjects, c.rowSecurity, c.reverse,
	}
	for _, check := range checks {
		check(ctx)
		if err := ctx.Err(); err != nil {
			return c.report, err
		}
	}
	return c.report, nil
}

// connect opens a read-only session for role: the checks never write.
func connect(ctx context.Context, role pg.Role, url string) (*pgx.Conn, error) {
	cfg, err := pg.ParseConfig(role, url)
	if err != nil {
		return nil, err
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "pgvecrep config_check"
	}
	return pg.ConnectConfig(ctx, role, cfg)
}

func (c *checker) add(f Finding) { c.report.Findings = append(c.report.Findings, f) }

func (c *checker) ok(check, format string, args ...any) {
	c.add(Finding{Check: check, Status: StatusOK, Detail: fmt.Sprintf(format, args...)})
}

// broken records a check that could not run, e.g. a query the user may not run.
func (c *checker) broken(check string, err error) {
	h := hint.Of(err)
	if h == "" {
		h = "check the connecting user's privileges and run pgvecrep config_check again"
	}
	c.add(Finding{Check: check, Status: StatusError, Detail: err.Error(), Hint: h})
}
