package progress

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/pgvecrep/pgvecrep/internal/event"
)

// On a terminal the Printer keeps a block of live lines at the bottom of the
// screen — one per running copy or index build, plus a total — and redraws
// it in place; permanent lines (Printf) scroll above it. Elsewhere (a pipe,
// a log file, CI) Status prints a timestamped line whenever a line's text
// changes, and Clear prints nothing.
//
// Redrawing in place means moving the cursor up over the block and erasing
// it, which only works if every live line took exactly one row: a line
// wider than the terminal wraps, the cursor stops short, and the rows above
// stay on screen as stale copies. So each live line is cut to the width the
// terminal has at the moment it is drawn (asked again on every redraw, so a
// resize takes effect at the next one), one column short of it, because a
// line that fills the last column leaves some terminals waiting to wrap.

// fallbackWidth is used when the terminal does not say how wide it is.
const fallbackWidth = 80

// NewAuto prints to w, drawing live lines in place when w is a terminal.
func NewAuto(w io.Writer) *Printer {
	p := New(w)
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.live = map[string]string{}
		fd := int(f.Fd())
		p.width = func() int {
			if w, _, err := term.GetSize(fd); err == nil && w > 0 {
				return w
			}
			return fallbackWidth
		}
		register(p)
	}
	return p
}

// Status sets the live line for key (a table's copy, an index build). A tab
// separates a label from the part that matters most (a bar, an ETA): when
// the line is too wide, the label is shortened first.
func (p *Printer) Status(key, format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	if p.live == nil {
		p.Changed(key, "%s", strings.ReplaceAll(fmt.Sprintf(format, args...), "\t", "  "))
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
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
	if _, ok := p.live[key]; !ok || p.stopped {
		return
	}
	delete(p.live, key)
	p.redraw("")
}

// redraw erases the live block, prints line (if any) above it, and draws the
// live lines again, sorted by key, each cut to the terminal's width. Callers
// hold p.mu.
func (p *Printer) redraw(line string) {
	var b strings.Builder
	width := p.width()
	p.erase(&b, width)
	b.WriteString(line)
	keys := make([]string, 0, len(p.live))
	for k := range p.live {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		l := Fit("  "+p.live[k], width-1)
		b.WriteString(l + "\n")
		p.shown = append(p.shown, len([]rune(l)))
	}
	p.drawn = time.Now()
	io.WriteString(p.w, b.String())
}

// erase moves the cursor to the first row of the live block and erases
// from there down. A line drawn at a wider width takes more than one row if
// the terminal has since narrowed and rewrapped it, so the rows are counted
// at the current width.
func (p *Printer) erase(b *strings.Builder, width int) {
	rows := 0
	for _, n := range p.shown {
		rows += max(1, (n+width-1)/width)
	}
	if rows > 0 {
		fmt.Fprintf(b, "\r\033[%dA\033[J", rows)
	}
	p.shown = p.shown[:0]
}

// stop erases the live block and draws no more: later Status and Clear
// calls do nothing, and Printf prints plain lines.
func (p *Printer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	var b strings.Builder
	p.erase(&b, p.width())
	io.WriteString(p.w, b.String())
	p.stopped = true
}

// Fit cuts s to at most width characters. When s holds a tab, the text
// before it is a label that gives way first (ending in "…"), so the text
// after it — a bar, a percentage, an ETA — stays whole as long as it fits;
// the tab itself becomes two spaces.
func Fit(s string, width int) string {
	width = max(width, 1)
	label, rest, tabbed := strings.Cut(s, "\t")
	if !tabbed {
		return cut(s, width)
	}
	room := width - len([]rune(rest)) - 2
	if room < 4 {
		return cut(label+"  "+rest, width)
	}
	return cut(label, room) + "  " + rest
}

// cut shortens s to width characters, marking the cut with "…".
func cut(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	if width <= 1 {
		return string(r[:width])
	}
	return string(r[:width-1]) + "…"
}

// Live reports whether live lines are drawn in place (a terminal).
func (p *Printer) Live() bool { return p != nil && p.live != nil }

// printers are the live printers of this process, so that Interrupt can
// reach the ones a package deep inside a command made for itself.
var printers struct {
	sync.Mutex
	all []*Printer
}

func register(p *Printer) {
	printers.Lock()
	defer printers.Unlock()
	printers.all = append(printers.all, p)
}

// Interrupt erases every live block and stops drawing them, for good. It is
// called when the user presses Ctrl-C: the command's workers stop without
// clearing their lines, and the rollback that follows prints plain lines,
// which must not be followed by a block of bars for work that is no longer
// running. From then on the printers also say "interrupted (Ctrl-C)" where
// an error they print says "context canceled": the run's packages report
// the cancelled context, and the user knows what cancelled it.
func Interrupt() {
	interrupted.Store(true)
	printers.Lock()
	all := printers.all
	printers.all = nil
	printers.Unlock()
	for _, p := range all {
		p.stop()
	}
}

// Emit renders an event (package event) on the terminal: a progress event
// becomes the live line of its step (Status), any other event clears that
// line and prints its message as a permanent line (Printf).
func (p *Printer) Emit(e event.Event) {
	if p == nil {
		return
	}
	if e.Progress {
		p.Status(e.Key(), "%s", e.Message)
		return
	}
	p.Clear(e.Key())
	if e.Message != "" {
		p.Printf("%s", e.Message)
	}
}
