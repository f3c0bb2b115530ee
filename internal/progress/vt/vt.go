// Package vt is a small virtual terminal for tests: it interprets what
// pgvecrep writes to a terminal — printable characters with autowrap at the
// last column, \r, \n, cursor up (CSI n A), cursor home (CSI H), erase
// below (CSI J), erase the screen (CSI 2 J) and erase line (CSI K) — into
// rows of text, so a test can assert on the screen a person would see
// rather than on bytes. OSC strings are recorded so a test
// can tell when what it wrote so far has arrived. The rows are the whole
// scrollback; cursor up stops at the top of the visible height, as on a real
// terminal. Resize rewraps the lines, as most terminals do.
package vt

import (
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Screen is one terminal's screen; write the terminal's output to it.
type Screen struct {
	mu            sync.Mutex
	width, height int
	rows          [][]rune
	wrapped       []bool // the row continues on the next one
	cx, cy        int
	pending       bool // the last column was written: the next character wraps
	buf           []byte
	osc           string
}

// New is an empty screen of width columns and height rows.
func New(width, height int) *Screen {
	return &Screen{width: width, height: height, rows: [][]rune{nil}, wrapped: []bool{false}}
}

// Write interprets p.
func (s *Screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for len(s.buf) > 0 {
		n := s.step()
		if n == 0 {
			break // an incomplete sequence: wait for more
		}
		s.buf = s.buf[n:]
	}
	return len(p), nil
}

// step consumes one character or escape sequence from s.buf and returns how
// many bytes it took, 0 when the buffer ends inside one.
func (s *Screen) step() int {
	b := s.buf
	switch b[0] {
	case '\r':
		s.cx, s.pending = 0, false
		return 1
	case '\n':
		s.down()
		s.pending = false
		return 1
	case 0x1b:
		return s.escape()
	}
	if !utf8.FullRune(b) {
		return 0
	}
	r, n := utf8.DecodeRune(b)
	s.put(r)
	return n
}

func (s *Screen) escape() int {
	b := s.buf
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case ']': // OSC, ended by BEL
		end := strings.IndexByte(string(b), 0x07)
		if end < 0 {
			return 0
		}
		s.osc = string(b[2:end])
		return end + 1
	case '[':
		i := 2
		for i < len(b) && (b[i] >= '0' && b[i] <= '9' || b[i] == ';') {
			i++
		}
		if i == len(b) {
			return 0
		}
		n, err := strconv.Atoi(string(b[2:i]))
		if err != nil {
			n = 0
		}
		s.csi(b[i], n)
		return i + 1
	}
	return 2
}

func (s *Screen) csi(final byte, n int) {
	switch final {
	case 'A':
		top := max(0, len(s.rows)-s.height)
		s.cy = max(top, s.cy-max(n, 1))
		s.pending = false
	case 'H': // to the top left of the visible screen; a row and column are not kept
		s.cy, s.cx, s.pending = max(0, len(s.rows)-s.height), 0, false
	case 'J':
		from := s.cy
		if n == 2 { // the whole visible screen, as stats --watch clears it
			from = max(0, len(s.rows)-s.height)
		} else {
			s.rows[s.cy] = s.line(s.cy)[:min(s.cx, len(s.rows[s.cy]))]
			s.wrapped[s.cy] = false
			from++
		}
		for i := from; i < len(s.rows); i++ {
			s.rows[i], s.wrapped[i] = nil, false
		}
	case 'K':
		s.rows[s.cy] = s.line(s.cy)[:min(s.cx, len(s.rows[s.cy]))]
	}
}

func (s *Screen) line(y int) []rune { return s.rows[y] }

func (s *Screen) down() {
	s.cy++
	if s.cy == len(s.rows) {
		s.rows = append(s.rows, nil)
		s.wrapped = append(s.wrapped, false)
	}
}

func (s *Screen) put(r rune) {
	if s.pending {
		s.wrapped[s.cy] = true
		s.down()
		s.cx, s.pending = 0, false
	}
	for len(s.rows[s.cy]) <= s.cx {
		s.rows[s.cy] = append(s.rows[s.cy], ' ')
	}
	s.rows[s.cy][s.cx] = r
	if s.cx == s.width-1 {
		s.pending = true
	} else {
		s.cx++
	}
}

// Resize rewraps every line at the new width. The cursor must be at the
// start of an empty row (where the printer leaves it); it stays below the
// last line.
func (s *Screen) Resize(width int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lines [][]rune
	var cur []rune
	for y := 0; y < s.cy; y++ {
		cur = append(cur, s.rows[y]...)
		if !s.wrapped[y] {
			lines = append(lines, cur)
			cur = nil
		}
	}
	s.rows, s.wrapped, s.width = nil, nil, width
	for _, l := range lines {
		for len(l) > width {
			s.rows, s.wrapped = append(s.rows, l[:width]), append(s.wrapped, true)
			l = l[width:]
		}
		s.rows, s.wrapped = append(s.rows, l), append(s.wrapped, false)
	}
	s.rows, s.wrapped = append(s.rows, nil), append(s.wrapped, false)
	s.cy, s.cx, s.pending = len(s.rows)-1, 0, false
}

// Text is every row, trailing spaces and trailing empty rows removed.
func (s *Screen) Text() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.rows {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// LastOSC is the last OSC string written (ESC ] text BEL).
func (s *Screen) LastOSC() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.osc
}
