package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
)

// interruptedCode is the exit code of a run stopped by SIGINT or SIGTERM,
// the shell's 128 + SIGINT.
const interruptedCode = 130

// runInterruptible runs a command with pgvecrep's two-stage interrupt.
//
// The first SIGINT or SIGTERM cancels ctx: the command stops and undoes what
// it started (start_sync drops its slot and subscription and restores the
// indexes it deferred; switchover lifts its write freeze) on a context of its
// own, printing each step, and then returns. A rollback waits on the servers
// and can take a while; a user who presses Ctrl-C again does not want to
// wait, so the second signal returns at once, after saying what may be left
// behind and how to remove it. The command's goroutine is abandoned then:
// the process is about to exit, and its connections close with it.
func (env *Env) runInterruptible(ctx context.Context, sig <-chan os.Signal, args []string) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan int, 1)
	go func() { done <- env.run(ctx, args) }()
	select {
	case code := <-done:
		return code
	case <-sig:
	}
	// The live progress block goes first: its bars are for work that is
	// stopping, and the rollback's lines must not be drawn above them.
	progress.Interrupt()
	cancel()
	// A command that changes nothing (stats --watch, metrics) registers no
	// leftovers: it just stops, and there is nothing to say it undoes.
	if env.leftBehind() != "" {
		fmt.Fprintln(env.Stderr, "pgvecrep: interrupted (Ctrl-C); stopping and undoing what this run started (Ctrl-C again to quit at once)")
	}
	select {
	case code := <-done:
		return code
	case <-sig:
	}
	fmt.Fprintln(env.Stderr, "pgvecrep: interrupted again (Ctrl-C); quitting before the rollback finished")
	if msg := env.leftBehind(); msg != "" {
		fmt.Fprintln(env.Stderr, msg)
	}
	return interruptedCode
}

// notifySignals delivers SIGINT and SIGTERM to the returned channel until
// stop is called; while it is registered they no longer kill the process.
func notifySignals() (sig <-chan os.Signal, stop func()) {
	c := make(chan os.Signal, 2)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	return c, func() { signal.Stop(c) }
}

// abandonNote is what a command says it leaves behind if a second interrupt
// stops its rollback, and what to run once its rollback finished. The
// command's goroutine sets it while the signal handling reads it, hence the
// lock.
type abandonNote struct {
	mu    sync.Mutex
	msg   string
	after string
}

// onAbandon records what to tell the user if the command is abandoned during
// its rollback: what may be left and the command that removes it.
func (env *Env) onAbandon(msg string) {
	env.abandon.mu.Lock()
	defer env.abandon.mu.Unlock()
	env.abandon.msg = msg
}

// onInterrupt records the line printed after an interrupted command's
// rollback finished: what was undone, and the command that starts again.
func (env *Env) onInterrupt(msg string) {
	env.abandon.mu.Lock()
	defer env.abandon.mu.Unlock()
	env.abandon.after = msg
}

func (env *Env) afterInterrupt() string {
	env.abandon.mu.Lock()
	defer env.abandon.mu.Unlock()
	return env.abandon.after
}

func (env *Env) leftBehind() string {
	env.abandon.mu.Lock()
	defer env.abandon.mu.Unlock()
	return env.abandon.msg
}

// again is the command line that runs this command again as it was typed:
// -g first, then every flag the user gave, in its canonical spelling. A URL
// flag that holds a password is left out (the line is printed, and a
// password never is), and so are pg_easy_replicate's flags that do nothing.
func (f *flags) again() string {
	args := []string{"pgvecrep", f.cmd.name}
	if f.given("group-name") {
		args = append(args, f.spell("group-name"), shellQuote(f.Lookup("group-name").Value.String()))
	}
	seen := map[string]bool{"group-name": true}
	f.Visit(func(fl *flag.Flag) {
		long := f.longName(fl.Name)
		if seen[long] || f.notes[long] != "" {
			return
		}
		seen[long] = true
		v := fl.Value.String()
		switch {
		case (long == "source-url" || long == "target-url") && pg.HasPassword(v):
		case isBoolFlag(fl) && v == "true":
			args = append(args, f.spell(long))
		case isBoolFlag(fl):
			args = append(args, f.spell(long)+"="+v)
		default:
			args = append(args, f.spell(long), shellQuote(v))
		}
	})
	return strings.Join(args, " ")
}

// shellQuote quotes s for a POSIX shell when it needs it, so a printed
// command can be pasted as it is.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r == ',' || r == '/' || r == ':' || r == '=' || r == '@' ||
			r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
