package progress

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"
)

// On a terminal the Printer keeps a block of live lines at the bottom of the
// screen — one per running copy or index build, plus a total — and redraws
// it in place; permanent lines (Printf) scroll above it. Elsewhere (a pipe,
// a log file, CI) Status prints a timestamped line whenever a line's text
// changes, and Clear prints nothing.

// NewAuto prints to w, drawing live lines in place when w is a terminal.
func NewAuto(w io.Writer) *Printer {
	p := New(w)
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.live = map[string]string{}
	}
	return p
}

// Status sets the live line for key (a table's copy, an index build).
func (p *Printer) Status(key, format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	if p.live == nil {
		p.Changed(key, format, args...)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live[key] = fmt.Sprintf(format, args...)
	if time.Since(p.drawn) > 100*time.Millisecond {
		p.redraw("")
	}
}

// Clear removes the live line for key.
func (p *Printer) Clear(key string) {
	if p == nil || p.live == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.live, key)
	p.redraw("")
}

// redraw erases the live block, prints line (if any) above it, and draws the
// live lines again, sorted by key. Callers hold p.mu.
func (p *Printer) redraw(line string) {
	var b strings.Builder
	if p.shown > 0 {
		fmt.Fprintf(&b, "\033[%dA\033[J", p.shown)
	}
	b.WriteString(line)
	keys := make([]string, 0, len(p.live))
	for k := range p.live {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString("  " + p.live[k] + "\n")
	}
	p.shown = len(keys)
	p.drawn = time.Now()
	io.WriteString(p.w, b.String())
}

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

// Live reports whether live lines are drawn in place (a terminal).
func (p *Printer) Live() bool { return p != nil && p.live != nil }
