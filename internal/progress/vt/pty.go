package vt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/creack/pty"
)

// Term is a pseudo-terminal whose output lands on a Screen: give TTY to the
// code under test (or to a child process as its stdout and stderr).
type Term struct {
	TTY    *os.File
	Screen *Screen
	master *os.File
	height int
	syncs  int
}

// Open starts a pseudo-terminal of width columns and height rows.
func Open(width, height int) (*Term, error) {
	master, tty, err := pty.Open()
	if err != nil {
		return nil, err
	}
	if err := pty.Setsize(tty, &pty.Winsize{Cols: uint16(width), Rows: uint16(height)}); err != nil {
		return nil, errors.Join(err, master.Close(), tty.Close())
	}
	t := &Term{TTY: tty, Screen: New(width, height), master: master, height: height}
	// The copy ends when Close closes master; its error then is that.
	go func() { _, _ = io.Copy(t.Screen, master) }()
	return t, nil
}

// Sync waits until everything written to TTY so far is on the screen and
// returns the screen's rows.
func (t *Term) Sync() ([]string, error) {
	t.syncs++
	mark := fmt.Sprintf("vt sync %d", t.syncs)
	if _, err := fmt.Fprintf(t.TTY, "\033]%s\007", mark); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for t.Screen.LastOSC() != mark {
		if time.Now().After(deadline) {
			return t.Screen.Text(), fmt.Errorf("the terminal's output did not arrive")
		}
		time.Sleep(time.Millisecond)
	}
	return t.Screen.Text(), nil
}

// Resize changes the terminal's width once what was written has arrived;
// the screen rewraps its lines.
func (t *Term) Resize(width int) error {
	if _, err := t.Sync(); err != nil {
		return err
	}
	if err := pty.Setsize(t.TTY, &pty.Winsize{Cols: uint16(width), Rows: uint16(t.height)}); err != nil {
		return err
	}
	t.Screen.Resize(width)
	return nil
}

// Close closes both ends; a test has nothing to do with their errors.
func (t *Term) Close() {
	_ = t.TTY.Close()
	_ = t.master.Close()
}
