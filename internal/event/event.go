// Package event is what an operation reports about itself: one small value
// per step (a table copied, an index built, a slot dropped) instead of prose
// written to a writer. The operation says what happened; its consumers
// decide how it looks: the terminal renderer (package progress) draws lines
// and live bars, [Log] writes one slog record per event (JSON lines with
// --log-format json), and metrics or notify can read the same fields.
//
// An event is either a step's outcome or, with Progress set, an update of a
// step still running (a copy's bytes so far, a build's phase). A renderer
// may redraw progress events in place and drop them once the same step's
// outcome arrives: Key names the step both share.
package event

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Phase is the part of an operation an event belongs to.
type Phase string

// Phases. They name what a person or a log query would filter on.
const (
	Setup   Phase = "setup"   // objects created before the data moves: publication, slot, subscription, DDL capture, deferred indexes
	Copy    Phase = "copy"    // the initial copy
	Index   Phase = "index"   // index and constraint builds after the copy
	Analyze Phase = "analyze" // ANALYZE (or VACUUM ANALYZE) of the replicated tables
	Wait    Phase = "wait"    // waiting for the target to catch up: switchover's lag and drain
	Freeze  Phase = "freeze"  // writes on the source frozen for a switchover, or allowed again
	Detach  Phase = "detach"  // subscription, slot or publication dropped
	Finish  Phase = "finish"  // what a cut-over does on the new primary: sequences, materialized views
	Done    Phase = "done"    // the operation finished; Duration is how long it took
	Undo    Phase = "undo"    // undoing what an operation created: restores, a rollback
	Note    Phase = "note"    // something the user should know that changes nothing
)

// Event is one step of an operation, or one update of a step still running.
// Zero fields are left out of every rendering.
type Event struct {
	Phase Phase
	// Table is the table the step is about, qualified as pg.Name prints it.
	Table string
	// Index is the index or constraint the step is about.
	Index string
	// Rows and Bytes are what the step moved (so far, on a progress event).
	Rows, Bytes int64
	// Duration is how long the step took (has run, on a progress event).
	Duration time.Duration
	// Message is the line a person reads. A tab in it separates a label
	// that may be shortened from the part that matters most (see
	// progress.Fit).
	Message string
	// Progress marks an update of a running step rather than its outcome.
	Progress bool
}

// An outcome with no message ends its step's live line and says nothing
// else: consumers that draw no live lines ignore it.

// Key names the step an event is about, so a progress event and the
// outcome that ends it share one: the phase, the table and the index. A
// step about no table and no index (a copy's total) sorts after the others.
func (e Event) Key() string {
	if e.Table == "" && e.Index == "" {
		return "~" + string(e.Phase)
	}
	return string(e.Phase) + " " + e.Table + " " + e.Index
}

// Sink receives events. Implementations must be safe for concurrent use:
// copies and builds report from their own goroutines.
type Sink interface {
	Emit(Event)
}

// Discard drops every event.
var Discard Sink = discard{}

type discard struct{}

func (discard) Emit(Event) {}

// Live reports whether s redraws progress events in place (a terminal). An
// emitter that produces progress faster than a person reads sends every
// update to a live sink, and one every few seconds to the others, so logs
// and pipes stay readable.
func Live(s Sink) bool {
	l, ok := s.(interface{ Live() bool })
	return ok && l.Live()
}

// Log is the slog consumer: one record per event at info level, with the
// message as the record's message and the other fields as snake_case
// attributes (phase, table, index, rows, bytes, seconds, progress), zero
// ones left out. With a JSON handler that is one JSON object per line.
type Log struct {
	L *slog.Logger
}

// Emit logs e.
func (l Log) Emit(e Event) {
	if e.Message == "" {
		return
	}
	attrs := make([]slog.Attr, 0, 7)
	attrs = append(attrs, slog.String("phase", string(e.Phase)))
	if e.Table != "" {
		attrs = append(attrs, slog.String("table", e.Table))
	}
	if e.Index != "" {
		attrs = append(attrs, slog.String("index", e.Index))
	}
	if e.Rows != 0 {
		attrs = append(attrs, slog.Int64("rows", e.Rows))
	}
	if e.Bytes != 0 {
		attrs = append(attrs, slog.Int64("bytes", e.Bytes))
	}
	if e.Duration != 0 {
		attrs = append(attrs, slog.Float64("seconds", e.Duration.Seconds()))
	}
	if e.Progress {
		attrs = append(attrs, slog.Bool("progress", true))
	}
	msg := strings.ReplaceAll(e.Message, "\t", "  ")
	l.L.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
}
