// Package progress prints what long work is doing: timestamped lines, one per
// event, and on a terminal a block of live lines (bars for running copies,
// phases and percentages for index builds) redrawn in place. When the output
// is not a terminal, live lines become plain timestamped lines, so logs, CI
// output and pipes stay readable.
package progress

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Printer writes progress lines. Safe for concurrent use; a nil Printer prints nothing.
type Printer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  map[string]string

	live  map[string]string // live lines by key; nil when not drawing in place
	shown int               // live lines currently on screen
	drawn time.Time
}

// New prints to w.
func New(w io.Writer) *Printer {
	return &Printer{w: w, start: time.Now(), last: map[string]string{}}
}

// Printf prints one line with the time since the printer started.
func (p *Printer) Printf(format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("[%s] %s\n", Elapsed(time.Since(p.start)), fmt.Sprintf(format, args...))
	if p.live != nil {
		p.redraw(line)
		return
	}
	io.WriteString(p.w, line)
}

// Changed prints a line for key only when its text differs from the last one
// printed for that key, so polling loops print what moved and nothing else.
func (p *Printer) Changed(key, format string, args ...any) {
	if p == nil || p.w == nil {
		return
	}
	text := fmt.Sprintf(format, args...)
	p.mu.Lock()
	same := p.last[key] == text
	p.last[key] = text
	p.mu.Unlock()
	if !same {
		p.Printf("%s", text)
	}
}

// Elapsed formats a duration as m:ss.s.
func Elapsed(d time.Duration) string {
	m := int(d / time.Minute)
	s := (d % time.Minute).Seconds()
	return fmt.Sprintf("%d:%04.1f", m, s)
}

// Bytes formats a byte count for people.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
