// Package cli is pgvecrep's command line: one file per command, each turning
// flags into calls and results into output. Command output goes to stdout
// (--json for machines), errors to stderr as one line plus a hint.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// command is one pgvecrep subcommand.
type command struct {
	name    string // canonical, with underscores as the tutorial types it
	summary string
	usage   string // the arguments line, e.g. "-g GROUP [--copy-schema]"
	help    string // the long explanation, with an example
	run     func(ctx context.Context, env *Env, args []string) error
	hidden  bool
}

var commands = map[string]*command{}

// register adds a command; each command file calls it from init.
func register(c *command) { commands[c.name] = c }

// Env is what every command gets: output streams and the process environment.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Log is for diagnostics on stderr (--verbose, --log-format); command
	// output and progress do not go through it. Nil logs at info level as text.
	Log *slog.Logger

	// jsonEvents is --log-format json: a command's events (package event)
	// are JSON lines on stdout instead of lines for a person.
	jsonEvents bool
	sink       event.Sink // the command's events, made at first use (events)

	abandon abandonNote
	// parsed is the running command's flags once parsed: an interrupt's
	// hint repeats them, and errors are read knowing the URLs.
	parsed *flags
}

// exitError carries a specific exit code (1 for "checks failed", 2 for usage).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errSilent is returned by commands that already printed their failure.
var errSilent = errors.New("")

// Run runs pgvecrep with args and returns the process exit code. It owns
// SIGINT and SIGTERM while it runs: the first stops the command, which undoes
// what it started; the second returns at once (see runInterruptible).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env := &Env{Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	sig, stop := notifySignals()
	defer stop()
	return env.runInterruptible(ctx, sig, args)
}

// RunEnv runs pgvecrep as Run does, with getenv for the process
// environment and without taking the process's signals: for a program that
// runs commands inside its own process, as the tests do.
func RunEnv(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	env := &Env{Stdout: stdout, Stderr: stderr, Getenv: getenv}
	return env.run(ctx, args)
}

func (env *Env) run(ctx context.Context, args []string) int {
	args, err := env.globalFlags(args)
	if err != nil {
		return env.report(err)
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				_ = c.run(ctx, env, []string{"--help"}) // --help prints and returns flag.ErrHelp
				return 0
			}
		}
		printUsage(env.Stdout)
		return 0
	}
	if args[0] == "version" || args[0] == "--version" {
		fmt.Fprintln(env.Stdout, "pgvecrep", version())
		return 0
	}
	c := lookup(args[0])
	if c == nil {
		return env.report(unknownCommand(args[0]))
	}
	start := time.Now()
	err = c.run(ctx, env, args[1:])
	env.logger().LogAttrs(ctx, slog.LevelDebug, "command finished", slog.String("command", c.name),
		slog.Duration("duration", time.Since(start)), slog.Bool("ok", err == nil))
	return env.report(err)
}

// report prints err as one line plus its hint and picks the exit code.
func (env *Env) report(err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
	}
	if errors.Is(err, errSilent) {
		return code
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(env.Stderr, "pgvecrep: interrupted (Ctrl-C)")
		if next := env.afterInterrupt(); next != "" {
			fmt.Fprintf(env.Stderr, "hint: %s\n", next)
		} else if env.parsed != nil {
			fmt.Fprintf(env.Stderr, "hint: start again with: %s\n", env.parsed.again())
		}
		return interruptedCode
	}
	if env.parsed != nil {
		err = env.parsed.explainPassword(err)
	}
	fmt.Fprintf(env.Stderr, "pgvecrep: %s\n", oneLine(err.Error()))
	if h := hint.Of(err); h != "" {
		fmt.Fprintf(env.Stderr, "hint: %s\n", h)
	}
	return code
}

// oneLine puts an error on one line, and drops a part that repeats the one
// before it ("...: connection refused: connection refused"): wrapped driver
// errors often carry their cause twice.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
	parts := strings.Split(s, ": ")
	out := parts[:1]
	for _, p := range parts[1:] {
		if p != out[len(out)-1] {
			out = append(out, p)
		}
	}
	return strings.Join(out, ": ")
}

// unknownCommand names the command nearest to a mistyped one.
func unknownCommand(name string) error {
	h := "run pgvecrep --help for the list of commands"
	names := []string{"version", "help"}
	for n := range commands {
		names = append(names, n)
	}
	if s := closest(strings.ReplaceAll(name, "-", "_"), names); s != "" {
		h = fmt.Sprintf("did you mean pgvecrep %s? (%s)", s, h)
	}
	return &exitError{code: 2, err: hint.New(fmt.Sprintf("unknown command %q", name), h)}
}

// Version, when set at link time (-ldflags "-X
// github.com/pgvecrep/pgvecrep/internal/cli.Version=v1.2.3"), is what
// pgvecrep version prints first; without it the module version go build
// records is used.
var Version = ""

// version is the version, commit and commit time go build stamps into the
// binary by itself (runtime/debug.ReadBuildInfo): a plain go build from a
// git checkout says which commit it is, and whether files were changed.
func version() string {
	v := Version
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return orDevel(v)
	}
	if v == "" {
		v = info.Main.Version
	}
	var rev, at, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return fmt.Sprintf("%s (%s)", orDevel(v), info.GoVersion)
	}
	if modified == "true" {
		rev += ", modified"
	}
	return fmt.Sprintf("%s (commit %s, %s, %s)", orDevel(v), rev, at, info.GoVersion)
}

func orDevel(v string) string {
	if v == "" {
		return "(devel)"
	}
	return v
}

func lookup(name string) *command {
	name = strings.ReplaceAll(name, "-", "_")
	if c, ok := commands[name]; ok {
		return c
	}
	return nil
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `pgvecrep sets up, runs, watches, verifies and cuts over PostgreSQL logical
replication between two databases, with vector columns and indexes
(pgvector, pgvecto.rs, VectorChord) as first-class citizens.

Usage: pgvecrep [--verbose] [--log-format text|json] COMMAND [flags]

Commands:
`)
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if !c.hidden {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool { return order(names[i]) < order(names[j]) })
	for _, n := range names {
		fmt.Fprintf(w, "  %-16s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "  %-16s %s\n", "version", "print pgvecrep's version")
	fmt.Fprint(w, `
Connections come from SOURCE_DB_URL and TARGET_DB_URL (or --source-url and
--target-url); SECONDARY_SOURCE_DB_URL is the source's address as the target
sees it, when that differs. libpq variables, ~/.pgpass and sslmode work.
Hyphenated names (config-check, start-sync, ...) work too.

Global flags, before the command: --verbose (or DEBUG set to anything in the
environment) logs every SQL statement pgvecrep runs (passwords removed) to
stderr; --log-format json writes logs as JSON lines instead of text, and
makes start_sync (and bootstrap, stop_sync, cleanup, switchover) report
each step as one JSON object per line on stdout (phase, table, index, rows,
bytes, seconds, msg).
PG_EASY_REPLICATE_STATEMENT_TIMEOUT (e.g. 5s) bounds pgvecrep's own short
queries; copies, index builds and VACUUM are never cut off by it.

Flags are spelled --flag-name or --flag_name; pg_easy_replicate's command
lines work as they are (see README, "Coming from pg_easy_replicate").

Run 'pgvecrep COMMAND --help' for a command's flags and an example.
`)
}

var commandOrder = []string{"config_check", "bootstrap", "start_sync", "follow", "stats", "notify", "metrics", "verify", "switchover", "failover", "stop_sync", "cleanup", "list_ddl_changes", "apply_ddl_change", "demo"}

func order(name string) int {
	for i, n := range commandOrder {
		if n == name {
			return i
		}
	}
	return len(commandOrder)
}

func printHelp(w io.Writer, c *command, f *flags) {
	fmt.Fprintf(w, "Usage: pgvecrep %s %s\n\n%s\n", c.name, c.usage, strings.TrimSpace(c.help))
	if f != nil {
		fmt.Fprintln(w, "\nFlags:")
		printFlags(w, f)
	}
}
