package vt

import (
	"strings"
	"testing"
)

// TestClearScreen: cursor home and erase-the-screen redraw in place, as
// stats --watch does, so only the last drawing is on the screen. (\r\n:
// the pseudo-terminal's line discipline turns a program's \n into that.)
func TestClearScreen(t *testing.T) {
	s := New(20, 5)
	for _, frame := range []string{"one\r\nalpha\r\nbeta\r\n", "two\r\ngamma\r\n"} {
		if _, err := s.Write([]byte("\033[H\033[2J" + frame)); err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(s.Text(), "|"); got != "two|gamma" {
		t.Errorf("screen %q, want only the second drawing", got)
	}
}
