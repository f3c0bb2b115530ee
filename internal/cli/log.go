package cli

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/progress"
)

// globalFlags reads the flags that come before the command and sets up
// env.Log from them; it returns the arguments from the command on. They are
// read by hand, not by a FlagSet, because a FlagSet would take "-h" and
// "--version" too, which are commands here.
func (env *Env) globalFlags(args []string) ([]string, error) {
	// pg_easy_replicate logs every statement when DEBUG is set to anything.
	verbose, format, n := env.Getenv("DEBUG") != "", "text", len(args)
loop:
	for len(args) > 0 {
		switch a := args[0]; {
		case a == "--verbose" || a == "-verbose":
			verbose, args = true, args[1:]
		case a == "--log-format" || a == "-log-format":
			if len(args) < 2 {
				return nil, &exitError{code: 2, err: hint.New("--log-format needs a value", "use --log-format text or --log-format json")}
			}
			format, args = args[1], args[2:]
		case strings.HasPrefix(a, "--log-format=") || strings.HasPrefix(a, "-log-format="):
			format, args = a[strings.IndexByte(a, '=')+1:], args[1:]
		default:
			break loop
		}
	}
	env.jsonEvents = format == "json"
	if len(args) == n && !verbose && env.Log != nil {
		return args, nil // the caller's logger (tests) stands
	}
	log, err := newLogger(env.Stderr, format, verbose)
	env.Log = log
	return args, err
}

// newLogger makes the diagnostics logger: text for a person at a terminal,
// JSON lines for a log collector; debug level (each SQL statement) only with
// --verbose.
func newLogger(w io.Writer, format string, verbose bool) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if verbose {
		opts.Level = slog.LevelDebug
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, &exitError{code: 2, err: hint.New(fmt.Sprintf("unknown --log-format %q", format), "use --log-format text or --log-format json")}
}

// logger is env.Log, or an info-level text logger on stderr when the Env was
// built without one (tests, the demo's inner commands).
func (env *Env) logger() *slog.Logger {
	if env.Log == nil {
		env.Log = slog.New(slog.NewTextHandler(env.Stderr, nil))
	}
	return env.Log
}

// events is where a command reports what it does (package event): the
// terminal renderer on stdout (live lines on a terminal, timestamped lines
// elsewhere), or, with --log-format json, one JSON object per event on
// stdout, where the command's output goes, so that a pipe gets nothing but
// JSON lines. Diagnostics (--verbose SQL tracing, warnings, the final
// error) stay on stderr either way.
func (env *Env) events() event.Sink {
	if env.sink == nil {
		if env.jsonEvents {
			env.sink = event.Log{L: slog.New(slog.NewJSONHandler(env.Stdout, nil))}
		} else {
			env.sink = progress.NewAuto(env.Stdout)
		}
	}
	return env.sink
}

// lines is the command's own event stream: each event a plain line on
// stdout, or a JSON event with --log-format json (say).
type lines struct{ env *Env }

// Emit says e.
func (l lines) Emit(e event.Event) { l.env.say(e) }

// say reports one of the command's own steps: a plain line on stdout, or a
// JSON event with --log-format json.
func (env *Env) say(e event.Event) {
	if env.jsonEvents {
		env.events().Emit(e)
		return
	}
	if e.Message != "" { // an empty one only ends a live line
		fmt.Fprintln(env.Stdout, e.Message)
	}
}
