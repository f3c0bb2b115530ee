// Package initsync starts a group's replication: publication and slot on the
// source, the initial copy, the index builds that are deferred until the data
// is in, and the subscription that streams changes from then on.
//
// Why indexes wait: an HNSW graph built row by row while the copy inserts is
// about nine times slower than one built over the finished table, and an
// IVFFlat index built on an empty table keeps meaningless centroids. So the
// target's vector indexes are dropped before the copy (their definitions saved
// in the metadata first, so a crash never loses one) and built again once
// every table is ready.
//
// Failure leaves nothing behind: what this run created is removed, the
// dropped indexes are recreated, the copied rows are truncated (preflight made
// sure the target tables were empty), and the error is recorded on the group.
package initsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/ddl"
	"github.com/pgvecrep/pgvecrep/internal/event"
	"github.com/pgvecrep/pgvecrep/internal/group"
	"github.com/pgvecrep/pgvecrep/internal/hint"
	"github.com/pgvecrep/pgvecrep/internal/parallel"
	"github.com/pgvecrep/pgvecrep/internal/pg"
	"github.com/pgvecrep/pgvecrep/internal/progress"
	"github.com/pgvecrep/pgvecrep/internal/replication"
)

// Copy modes.
const (
	Native = "native" // the engine's own copy (copy_data = true)
	Fast   = "fast"   // exported snapshot + parallel binary COPY
)

// Options describe one start_sync run.
type Options struct {
	Group string
	// Source is how pgvecrep reaches the source (for its own connections).
	Source *pgx.ConnConfig
	// Target is how pgvecrep reaches the target (for build workers).
	Target *pgx.ConnConfig
	// SubscriptionConnInfo is how the target reaches the source; it holds a
	// password and never appears in output.
	SubscriptionConnInfo string
	Tables               []catalog.Table
	CopyMode             string
	// Events receives what the run does, step by step (package event);
	// when nil, they are rendered on Out (package progress).
	Events event.Sink
	Out    io.Writer
	// IndexMemory is maintenance_work_mem for index builds, in bytes; 0 = default.
	IndexMemory int64
	// Jobs is the number of parallel copy workers (fast); concurrent index
	// builds are half of it.
	Jobs int
	// PollInterval is how often progress is polled; 0 = 1s.
	PollInterval time.Duration
	// DDL is how schema changes on the source reach the target: ddl.Auto,
	// ddl.Track or ddl.Off ("" is off). See package ddl. A run that fails
	// removes the capture it installed.
	DDL string
	// DDLScope is what the group's DDL capture follows, recorded for the
	// group when set (see ddl.Scope).
	DDLScope ddl.Scope
	// Truncate lets a stopped, switched-over or failed-over group start
	// again: its tables on the target are emptied and copied anew (see
	// Admit).
	Truncate bool
	// Selection, when set, is recorded for the group once it is claimed,
	// so the next start_sync can reuse it (group.SaveSelection).
	Selection *group.Selection
	// ReplicaIdentityFull sets REPLICA IDENTITY FULL on both sides on the
	// tables without a key before anything is created (see
	// ReplicaIdentityFull).
	ReplicaIdentityFull bool
	// ApplyStreams is how many apply streams the group gets (package
	// parallel): 0 or 1 is one, the engine's single apply worker.
	ApplyStreams int
	// hook, when set (tests), runs at named points and may fail the run.
	Hook func(point string) error
}

// Start runs start_sync for a group that bootstrap has recorded, from
// admission to streaming: it claims the group and admits it by Admit's rule
// under the lock (recovering a group an earlier run left half-done),
// records the selection and the DDL scope, sets REPLICA IDENTITY FULL where
// asked, empties a restarted group's tables, then copies, builds and
// attaches the subscription. A run that fails after that removes what it
// created, the DDL capture included, on working sessions, and records the
// error on the group. src and tgt stay usable afterwards; tgt holds the
// group's advisory lock until it closes.
func Start(ctx context.Context, src, tgt *pgx.Conn, opts Options) error {
	s := &syncer{src: src, tgt: tgt, opts: opts, ev: sinkOf(opts)}
	s.opts.Source = tagged(opts.Source, opts.Group)
	s.opts.Target = tagged(opts.Target, opts.Group)
	if s.opts.PollInterval == 0 {
		s.opts.PollInterval = time.Second
	}
	g, empty, err := s.claim(ctx)
	if err != nil {
		return err
	}
	s.name = g.ObjectName
	if err := s.prepare(ctx, empty); err != nil {
		return err
	}
	if err := s.run(ctx); err != nil {
		s.rollback(err)
		return err
	}
	return nil
}

// syncer is one run's state, including what it has created so far, which is
// what rollback removes.
type syncer struct {
	src, tgt *pgx.Conn
	opts     Options
	ev       event.Sink
	name     string // publication, slot and subscription name (stream 0)
	plan     parallel.Plan

	slot        *replication.Slot // the fast path's exporting connection, open during the copy
	targetSuper bool
	// buildsPlan is the build plan's line, printed when builds may start.
	buildsPlan string
	// metaMu serializes the metadata writes on tgt of the copy and the
	// builds, which run at the same time on the fast path.
	metaMu sync.Mutex
	// relLines are the native copy's last line per table, so a table's
	// state is reported when it changes.
	relLines map[string]string
	// said are the last progress lines of the builds, by step (moved).
	said map[string]string
}

// prepare does what comes before anything is created, once the group is
// claimed: it records the selection and the DDL scope, sets REPLICA
// IDENTITY FULL where asked, and empties a restarted group's tables. A
// failure here leaves nothing to roll back.
func (s *syncer) prepare(ctx context.Context, empty []pg.Name) error {
	if s.opts.Selection != nil {
		if err := group.SaveSelection(ctx, s.tgt, s.opts.Group, *s.opts.Selection); err != nil {
			return err
		}
	}
	if s.opts.DDLScope != "" {
		if err := ddl.SaveScope(ctx, s.tgt, s.opts.Group, s.opts.DDLScope); err != nil {
			return err
		}
	}
	if s.opts.ReplicaIdentityFull {
		if err := s.identityFull(ctx); err != nil {
			return err
		}
	}
	return s.empty(ctx, empty)
}

// sinkOf is where a run's events go: Events, else the terminal renderer
// on Out.
func sinkOf(opts Options) event.Sink {
	if opts.Events != nil {
		return opts.Events
	}
	return progress.NewAuto(opts.Out)
}

// say emits a step's outcome that is about no one table.
func (s *syncer) say(phase event.Phase, format string, args ...any) {
	s.ev.Emit(event.Event{Phase: phase, Message: fmt.Sprintf(format, args...)})
}

func (s *syncer) hook(point string) error {
	if s.opts.Hook == nil {
		return nil
	}
	return s.opts.Hook(point)
}

// claim locks the group and decides, under the lock, what to do with its
// current state by the rule of Admit: a new group starts; a stopped or
// switched-over one starts again only with Truncate, and claim returns its
// tables to empty; a group left half-done by a killed pgvecrep is cleaned
// (recovered) and started again; a streaming one is refused.
func (s *syncer) claim(ctx context.Context) (group.Group, []pg.Name, error) {
	g, err := group.Get(ctx, s.tgt, s.opts.Group)
	if err != nil {
		return g, nil, err
	}
	if err := group.Claim(ctx, s.tgt, g.Name); err != nil {
		return g, nil, err
	}
	empty, err := Admit(g, s.opts.Truncate)
	if err != nil || !(g.Phase.Busy() || g.Phase == group.Failed) {
		return g, empty, err
	}
	s.say(event.Undo, "group %s was left in phase %s by an earlier run; cleaning it up first", g.Name, g.Phase)
	for _, conn := range []*pgx.Conn{s.src, s.tgt} {
		if err := endOrphans(ctx, conn, g.Name); err != nil {
			return g, nil, err
		}
	}
	if err := Teardown(ctx, s.src, s.tgt, g, s.ev); err != nil {
		return g, nil, fmt.Errorf("clean up broken group %q: %w", g.Name, err)
	}
	return g, nil, nil
}

// AppName is the application_name of the worker sessions (copy, index
// builds) of a group's start_sync. When the process that owned them dies,
// the server may keep running their last statement (a CREATE INDEX, say)
// for a long time; the next run finds them by this name and ends them.
func AppName(group string) string { return "pgvecrep start_sync " + group }

func tagged(cfg *pgx.ConnConfig, group string) *pgx.ConnConfig {
	if cfg == nil {
		return nil
	}
	c := cfg.Copy()
	if c.RuntimeParams == nil {
		c.RuntimeParams = map[string]string{}
	}
	c.RuntimeParams["application_name"] = AppName(group)
	return c
}

// endOrphans terminates the sessions a dead start_sync of the group left on
// one side. Only called with the group's lock held, so none of them belongs
// to a live process.
func endOrphans(ctx context.Context, conn *pgx.Conn, group string) error {
	_, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = $1 AND pid <> pg_backend_pid()`, AppName(group))
	if err != nil {
		return fmt.Errorf("end sessions left by an earlier run: %w", err)
	}
	return nil
}

// Recover cleans up a group that an earlier start_sync left half-done
// (killed, or failed without finishing its own cleanup): slot, publication
// and subscription are dropped, partly copied rows truncated, and deferred
// indexes restored. It runs before the preflight checks, which would
// otherwise find the half-filled target tables not empty. It reports whether
// there was anything to recover.
func Recover(ctx context.Context, src, tgt *pgx.Conn, name string, events event.Sink) (bool, error) {
	g, err := group.Get(ctx, tgt, name)
	if err != nil {
		return false, err
	}
	if !g.Phase.Busy() && g.Phase != group.Failed {
		return false, nil
	}
	if events == nil {
		events = event.Discard
	}
	s := &syncer{src: src, tgt: tgt, opts: Options{Group: name}, ev: events}
	if _, _, err := s.claim(ctx); err != nil {
		return false, err
	}
	return true, group.SetPhase(ctx, tgt, name, group.Bootstrapped)
}

func (s *syncer) run(ctx context.Context) error {
	mode := s.opts.CopyMode
	if mode == "" {
		mode = Fast
	}
	if mode != Native && mode != Fast {
		return hint.New(fmt.Sprintf("unknown copy mode %q", mode), "use --copy-mode fast (the default) or --copy-mode native")
	}
	if err := replication.Probe(ctx, s.tgt, s.opts.SubscriptionConnInfo); err != nil {
		return err // before anything is created or copied
	}
	tables := catalog.NamesOf(s.opts.Tables)
	if err := group.Start(ctx, s.tgt, s.opts.Group, tables, mode); err != nil {
		return err
	}
	s.say(event.Setup, "group %s: %d table(s), copy mode %s", s.opts.Group, len(tables), mode)
	if err := s.copy(ctx, mode); err != nil {
		return err
	}
	if mode == Native {
		if err := s.indexing(ctx); err != nil {
			return err
		}
		if err := s.buildDeferred(ctx); err != nil {
			return err
		}
	}
	if err := s.hook("after-indexes"); err != nil {
		return err
	}
	if mode == Fast {
		if err := s.attachSubscription(ctx); err != nil {
			return err
		}
	}
	if err := group.SetPhase(ctx, s.tgt, s.opts.Group, group.Streaming); err != nil {
		return err
	}
	s.say(event.Setup, "group %s is streaming", s.opts.Group)
	return nil
}

// indexing enters the indexing phase: every table is copied.
func (s *syncer) indexing(ctx context.Context) error {
	if err := s.meta(func() error { return group.SetPhase(ctx, s.tgt, s.opts.Group, group.Indexing) }); err != nil {
		return err
	}
	return s.hook("before-indexes")
}

// copy defers the target's indexes, creates the publication, and copies the
// data the way the mode says; the fast path builds the deferred objects as
// the tables are copied.
func (s *syncer) copy(ctx context.Context, mode string) error {
	if mode == Fast {
		s.targetSuper = superuser(ctx, s.tgt)
	}
	if err := s.deferIndexes(ctx, mode == Fast); err != nil {
		return err
	}
	if err := s.planStreams(ctx); err != nil {
		return err
	}
	if err := s.createPublication(ctx); err != nil {
		return err
	}
	if err := s.installDDL(ctx); err != nil {
		return err
	}
	if err := s.hook("after-publication"); err != nil {
		return err
	}
	if mode == Fast {
		return s.fastCopy(ctx)
	}
	return s.nativeCopy(ctx)
}

// streams are the names of the group's apply streams, stream 0 first.
func (s *syncer) streams() []string {
	return group.Group{ObjectName: s.name, Streams: s.plan.Streams}.StreamNames()
}

// planStreams decides which tables parallel apply spreads, records the
// number of streams before any exists (so a crash is cleaned up whole),
// and guards the spread tables on the source (package parallel).
func (s *syncer) planStreams(ctx context.Context) error {
	p, err := parallel.Decide(ctx, s.src, s.opts.Tables, s.opts.ApplyStreams)
	if err != nil {
		return err
	}
	s.plan = p
	if err := s.meta(func() error { return group.SetStreams(ctx, s.tgt, s.opts.Group, p.Streams) }); err != nil {
		return err
	}
	if p.Streams == 1 {
		return nil
	}
	for _, k := range p.Kept {
		s.say(event.Setup, "%s stays whole in stream 0: %s", k.Table, k.Why)
	}
	if len(p.Spread) == 0 {
		s.say(event.Setup, "no table can be spread across %d apply streams; the other streams carry nothing", p.Streams)
	}
	if err := parallel.Guard(ctx, s.src, s.opts.Group, s.name, p); err != nil {
		return err
	}
	s.say(event.Setup, "%d apply streams: %d table(s) spread by a hash of their key (TRUNCATE of them is refused on the source meanwhile)", p.Streams, len(p.Spread))
	return nil
}

func (s *syncer) createPublication(ctx context.Context) error {
	all := catalog.NamesOf(s.opts.Tables)
	for k, name := range s.streams() {
		opts := replication.PublicationOptions{ViaRoot: k == 0 && anyPartitioned(s.opts.Tables), Filters: s.plan.Filters(k)}
		if err := replication.CreatePublicationWith(ctx, s.src, name, s.plan.Tables(k, all), opts); err != nil {
			if pg.Code(err) == "42710" {
				return hint.Wrap(fmt.Errorf("create publication %s on the source: it already exists", name),
					fmt.Sprintf("another run left it behind; run pgvecrep stop_sync -g %s", s.opts.Group))
			}
			return err
		}
		s.say(event.Setup, "created publication %s on the source", name)
	}
	return nil
}

// createSlot makes the group's logical slots on the source before the
// subscriptions exist (see package replication for why).
func (s *syncer) createSlot(ctx context.Context) error {
	for _, name := range s.streams() {
		if err := replication.CreateSlotNoSnapshot(ctx, s.src, name); err != nil {
			return err
		}
		s.say(event.Setup, "created replication slot %s on the source", name)
	}
	return nil
}

// createSubscription makes the subscription on the target, attached to the
// slot made before it. copyData selects the engine's own initial copy.
func (s *syncer) createSubscription(ctx context.Context, copyData bool) error {
	textOnly := false
	if copyData { // the engine copies: binary only where fast mode would use it
		format, _, err := s.copyFormat(ctx)
		if err != nil {
			return err
		}
		textOnly = format == "text"
	}
	for _, name := range s.streams() {
		sub := replication.Subscription{Name: name, Publication: name, Slot: name,
			ConnInfo: s.opts.SubscriptionConnInfo, CopyData: copyData, Log: s.ev,
			Failover: replication.ServerMajor(s.src) >= 17, TextOnly: textOnly}
		if err := replication.CreateSubscription(ctx, s.tgt, sub); err != nil {
			return err
		}
		s.say(event.Setup, "created subscription %s on the target", name)
	}
	return nil
}

// rollback removes what this run created, the DDL capture included, and
// records the error, on sessions that work: reconnect replaces the ones
// the failure closed. It runs on a fresh context: the run's own may be the
// reason for the failure.
func (s *syncer) rollback(cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s.closeSlot()
	s.say(event.Undo, "start_sync failed: %v; removing what it created", cause)
	done, err := s.reconnect(ctx)
	defer done()
	if err != nil {
		s.say(event.Undo, "cleanup after failure: %v", err)
		return
	}
	g := group.Group{Name: s.opts.Group, ObjectName: s.name, Streams: s.plan.Streams, Tables: catalog.NamesOf(s.opts.Tables)}
	if err := Teardown(ctx, s.src, s.tgt, g, s.ev); err != nil {
		s.say(event.Undo, "cleanup after failure: %v", err)
	}
	if s.opts.DDL != "" && s.opts.DDL != ddl.Off {
		if err := ddl.Uninstall(ctx, s.src, s.tgt, s.name); err != nil {
			s.say(event.Undo, "remove the DDL capture after failure: %v (pgvecrep cleanup -g %s removes it)", err, s.opts.Group)
		}
	}
	msg := cause.Error()
	if errors.Is(cause, context.Canceled) {
		msg = "interrupted"
	}
	if err := group.Fail(ctx, s.tgt, s.opts.Group, errors.New(msg)); err != nil {
		s.say(event.Undo, "record failure: %v", err)
	}
}
