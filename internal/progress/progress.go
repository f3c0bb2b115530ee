// Package progress prints what long work is doing: timestamped lines, one per
// event, and on a terminal a block of live lines (bars for running copies,
// phases, elapsed time and ETA for index builds) redrawn in place and cut to
// the terminal's width. When the output is not a terminal, live lines become
// plain timestamped lines, so logs, CI output and pipes stay readable.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Printer writes progress lines. Safe for concurrent use; a nil Printer prints nothing.
type Printer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
	last  map[string]string

	live    map[string]string // live lines by key; nil when not drawing in place
	width   func() int        // the terminal's width now
	shown   []int             // characters of each live line on screen
	drawn   time.Time
	stopped bool // Interrupt was called: no more live lines
}

// interrupted is set by Interrupt.
var interrupted atomic.Bool

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
	text := fmt.Sprintf(format, args...)
	if interrupted.Load() {
		text = strings.ReplaceAll(text, "context canceled", "interrupted (Ctrl-C)")
	}
	line := fmt.Sprintf("[%s] %s\n", Elapsed(time.Since(p.start)), text)
	if p.live != nil && !p.stopped {
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

// Clock formats a duration as m:ss, or h:mm:ss from an hour on: the
// resolution a person waiting on a long step reads.
func Clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Seconds formats a total wait for a closing line: 27.1 s, 4 min 12 s.
func Seconds(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	d = d.Round(time.Second)
	if d < time.Hour {
		return fmt.Sprintf("%d min %d s", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
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
