package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

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
